// Transfers: signing bytes, id, signature, request bytes and the JSON form (docs/PROTOCOL.md §3).
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from "@noble/hashes/utils.js";
import { decodeAddress, encodeAddress } from "./address.js";
import { U64_MAX, byteString, option, sha256, text, varint } from "./encoding.js";
import { Key, TRANSFER_TAG, verify } from "./keys.js";

export const MAX_MEMO_BYTES = 256;

/** A u64 from the JSON the node writes (a canonical decimal string) or a JSON integer. */
export function parseU64(value: unknown): bigint {
  let v: bigint;
  if (typeof value === "string" && /^(0|[1-9][0-9]{0,19})$/.test(value)) v = BigInt(value);
  else if (typeof value === "number" && Number.isSafeInteger(value)) v = BigInt(value);
  else if (typeof value === "bigint") v = value;
  else throw new RangeError(`${String(value)} is not a u64`);
  if (v < 0n || v > U64_MAX) throw new RangeError(`${String(value)} is not a u64`);
  return v;
}

export interface TransferJson {
  chain_id: string;
  from: string;
  to: string;
  amount: string;
  nonce: string;
  memo: string | null;
}

export interface SignedTransferJson {
  transfer: TransferJson;
  signature: string;
}

/** A payment of `amount` minor units from `sender` to `recipient` (32-byte public keys). */
export class Transfer {
  constructor(
    readonly chainId: string,
    readonly sender: Uint8Array,
    readonly recipient: Uint8Array,
    readonly amount: bigint,
    readonly nonce: bigint,
    readonly memo: string | null = null,
  ) {}

  /** The node's stateless checks other than the signature. */
  check(): void {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(this.chainId))
      throw new RangeError("a chain id is 1..=64 characters of [A-Za-z0-9._-]");
    if (this.amount < 1n || this.amount > U64_MAX) throw new RangeError("amount must be from 1 to 2^64-1");
    if (this.nonce < 1n || this.nonce > U64_MAX)
      throw new RangeError("nonce must be from 1 to 2^64-1 (a sender's first is 1)");
    if (bytesToHex(this.sender) === bytesToHex(this.recipient))
      throw new RangeError("sender and recipient are the same account");
    if (this.memo !== null && utf8ToBytes(this.memo).length > MAX_MEMO_BYTES)
      throw new RangeError(`memo is longer than ${MAX_MEMO_BYTES} bytes`);
  }

  signingBytes(): Uint8Array {
    return concatBytes(
      Uint8Array.of(1),
      text(this.chainId),
      byteString(this.sender),
      byteString(this.recipient),
      varint(this.amount),
      varint(this.nonce),
      option(this.memo === null ? null : text(this.memo)),
    );
  }

  /** The transfer id: SHA-256 of the signing bytes. */
  id(): Uint8Array {
    return sha256(this.signingBytes());
  }

  sign(key: Key): SignedTransfer {
    if (bytesToHex(key.publicKey) !== bytesToHex(this.sender)) throw new Error("the key is not the sender's");
    this.check();
    return new SignedTransfer(this, key.sign(TRANSFER_TAG, this.signingBytes()));
  }

  toJson(): TransferJson {
    return {
      chain_id: this.chainId,
      from: encodeAddress(this.sender),
      to: encodeAddress(this.recipient),
      amount: this.amount.toString(),
      nonce: this.nonce.toString(),
      memo: this.memo,
    };
  }

  static fromJson(v: TransferJson): Transfer {
    return new Transfer(
      v.chain_id,
      decodeAddress(v.from),
      decodeAddress(v.to),
      parseU64(v.amount),
      parseU64(v.nonce),
      v.memo ?? null,
    );
  }
}

export class SignedTransfer {
  constructor(readonly transfer: Transfer, readonly signature: Uint8Array) {}

  id(): Uint8Array {
    return this.transfer.id();
  }

  /** The request payload consensus orders: signing bytes || 40 || signature. */
  toBytes(): Uint8Array {
    return concatBytes(this.transfer.signingBytes(), byteString(this.signature));
  }

  requestDigest(): Uint8Array {
    return sha256(this.toBytes());
  }

  verifySignature(): boolean {
    return verify(this.transfer.sender, TRANSFER_TAG, this.transfer.signingBytes(), this.signature);
  }

  toJson(): SignedTransferJson {
    return { transfer: this.transfer.toJson(), signature: bytesToHex(this.signature) };
  }

  static fromJson(v: SignedTransferJson): SignedTransfer {
    if (!/^[0-9a-f]{128}$/i.test(v.signature)) throw new RangeError("a signature is 128 hex characters");
    return new SignedTransfer(Transfer.fromJson(v.transfer), hexToBytes(v.signature.toLowerCase()));
  }
}

/** The binary form of a batch submission (docs/PROTOCOL.md §3.4): each transfer's canonical
 * bytes behind their length, a big-endian u16. */
export function binaryBatchBody(transfers: SignedTransfer[]): Uint8Array {
  const records = transfers.map((t) => {
    const bytes = t.toBytes();
    return concatBytes(new Uint8Array([bytes.length >> 8, bytes.length & 0xff]), bytes);
  });
  return concatBytes(...records);
}
