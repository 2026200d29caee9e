// Ed25519 keys, domain tags and acceptable public keys (docs/PROTOCOL.md §1.3, §2.1, §2.2).
import { ed25519 } from "@noble/curves/ed25519.js";
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from "@noble/hashes/utils.js";
import { encodeAddress } from "./address.js";
import { keyProblem } from "./points.js";

export const TRANSFER_TAG = utf8ToBytes("bftledger/transfer/v1\0");
export const CONSENSUS_TAG = utf8ToBytes("bftledger/consensus/v1\0");

/** The node's verification rule (§1.3): canonical key and R, neither of small order, S < ℓ,
 * the cofactored equation; over tag || message. */
export function verify(publicKey: Uint8Array, tag: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  if (keyProblem(signature.subarray(0, 32)) !== null) return false;
  try {
    return ed25519.verify(signature, concatBytes(tag, message), publicKey, { zip215: false });
  } catch {
    return false;
  }
}

/** A secret key (its 32-byte seed) with its public key and address. */
export class Key {
  readonly publicKey: Uint8Array;
  constructor(readonly seed: Uint8Array) {
    if (seed.length !== 32) throw new RangeError("an Ed25519 seed is 32 bytes");
    this.publicKey = ed25519.getPublicKey(seed);
  }

  static generate(): Key {
    return new Key(ed25519.utils.randomSecretKey());
  }

  get address(): string {
    return encodeAddress(this.publicKey);
  }

  /** The 64-byte signature of tag || message. */
  sign(tag: Uint8Array, message: Uint8Array): Uint8Array {
    return ed25519.sign(concatBytes(tag, message), this.seed);
  }
}

export class KeyFileError extends Error {}

const KEY_LINE = "ed25519-secret-key:";
const ADDRESS_LINE = "# address:";

export function renderKeyFile(key: Key): string {
  return (
    "# bftledger secret key. Keep it private: anyone holding this file can sign as its owner.\n" +
    `${ADDRESS_LINE} ${key.address}\n${KEY_LINE} ${bytesToHex(key.seed)}\n`
  );
}

export function parseKeyFile(text: string): Key {
  let key: Key | null = null;
  let claimed: string | null = null;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line.startsWith(ADDRESS_LINE)) claimed = line.slice(ADDRESS_LINE.length).trim();
    else if (line === "" || line.startsWith("#")) return;
    else if (line.startsWith(KEY_LINE)) {
      if (key !== null) throw new KeyFileError(`line ${i + 1}: a second '${KEY_LINE}' line`);
      const seedHex = line.slice(KEY_LINE.length).trim();
      if (!/^[0-9a-fA-F]{64}$/.test(seedHex))
        throw new KeyFileError(`line ${i + 1}: the key must be 64 hex characters`);
      key = new Key(hexToBytes(seedHex.toLowerCase()));
    } else throw new KeyFileError(`line ${i + 1}: expected a comment or '${KEY_LINE} <hex>'`);
  });
  if (key === null) throw new KeyFileError(`no '${KEY_LINE}' line`);
  const found: Key = key;
  if (claimed !== null && claimed !== found.address)
    throw new KeyFileError(`its address line says ${claimed}, the key's address is ${found.address}`);
  return found;
}
