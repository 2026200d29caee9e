// The genesis and its hash (docs/PROTOCOL.md §7): the hash is of the binary encoding, not the TOML.
import { concatBytes } from "@noble/hashes/utils.js";
import { parse } from "smol-toml";
import { decodeAddress } from "./address.js";
import { byteString, sha256, text, varint } from "./encoding.js";

export class Genesis {
  constructor(
    readonly chainId: string,
    /** Public keys; the position is the replica id. */
    readonly validators: Uint8Array[],
    /** Network hints per validator (part of the hash). */
    readonly validatorAddresses: string[][],
    readonly balances: [Uint8Array, bigint][],
  ) {}

  static fromToml(toml: string): Genesis {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const doc = parse(toml, { integersAsBigInt: true }) as any;
    const validators = (doc.validators ?? []) as { public_key: string; addresses?: string[] }[];
    const balances = (doc.balances ?? []) as { account: string; amount: number | bigint }[];
    return new Genesis(
      doc.chain_id,
      validators.map((v) => decodeAddress(v.public_key)),
      validators.map((v) => v.addresses ?? []),
      balances.map((b) => [decodeAddress(b.account), BigInt(b.amount)]),
    );
  }

  toBytes(): Uint8Array {
    return concatBytes(
      Uint8Array.of(1),
      text(this.chainId),
      varint(this.validators.length),
      ...this.validators.map((key, i) =>
        concatBytes(byteString(key), varint(this.validatorAddresses[i].length), ...this.validatorAddresses[i].map(text)),
      ),
      varint(this.balances.length),
      ...this.balances.map(([account, amount]) => concatBytes(byteString(account), varint(amount))),
    );
  }

  hash(): Uint8Array {
    return sha256(this.toBytes());
  }
}
