// The canonical binary encoding (docs/PROTOCOL.md §1.1) and the two digest constructions (§1.2).
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { concatBytes, utf8ToBytes } from "@noble/hashes/utils.js";

export const U64_MAX = (1n << 64n) - 1n;

/** Bytes that are not the canonical encoding of the expected value. */
export class DecodeError extends Error {}

/** Unsigned LEB128, shortest form (postcard's varint). */
export function varint(value: bigint | number): Uint8Array {
  let v = BigInt(value);
  if (v < 0n || v > U64_MAX) throw new RangeError(`${value} is not a u64`);
  const out: number[] = [];
  for (;;) {
    const low = Number(v & 0x7fn);
    v >>= 7n;
    if (v === 0n) {
      out.push(low);
      return Uint8Array.from(out);
    }
    out.push(low | 0x80);
  }
}

/** A length-prefixed byte string: a key is 20 || key, a signature 40 || signature. */
export function byteString(data: Uint8Array): Uint8Array {
  return concatBytes(varint(data.length), data);
}

/** A length-prefixed UTF-8 string. */
export function text(value: string): Uint8Array {
  return byteString(utf8ToBytes(value));
}

/** 00 when absent, 01 || value when present. */
export function option(encoded: Uint8Array | null): Uint8Array {
  return encoded === null ? Uint8Array.of(0) : concatBytes(Uint8Array.of(1), encoded);
}

/** H(x). */
export function sha256(data: Uint8Array): Uint8Array {
  return nobleSha256(data);
}

/** u64be(x). */
export function u64be(value: bigint | number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value));
  return out;
}

/** Hparts: SHA-256 over each part prefixed with its length as 8 bytes big-endian. */
export function hparts(...parts: Uint8Array[]): Uint8Array {
  return sha256(concatBytes(...parts.flatMap((p) => [u64be(p.length), p])));
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Reads a canonical encoding front to back; every read refuses what the node refuses. */
export class Reader {
  private pos = 0;
  constructor(private readonly data: Uint8Array) {}

  varint(bits = 64): bigint {
    const start = this.pos;
    let value = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.data.length) throw new DecodeError("input ends inside a varint");
      const byte = this.data[this.pos++];
      value |= BigInt(byte & 0x7f) << shift;
      shift += 7n;
      if (!(byte & 0x80)) break;
      if (shift >= BigInt(bits + 7)) throw new DecodeError("varint too long");
    }
    if (value >> BigInt(bits)) throw new DecodeError(`varint above u${bits}`);
    if (!equalBytes(varint(value), this.data.subarray(start, this.pos)))
      throw new DecodeError("varint not in its shortest form");
    return value;
  }

  fixedBytes(length: number): Uint8Array {
    const declared = this.varint();
    if (declared !== BigInt(length))
      throw new DecodeError(`expected ${length} bytes, the encoding says ${declared}`);
    return this.raw(length);
  }

  raw(length: number): Uint8Array {
    if (this.pos + length > this.data.length) throw new DecodeError("input ends early");
    const out = this.data.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  byte(): number {
    return this.raw(1)[0];
  }

  finish(): void {
    if (this.pos !== this.data.length)
      throw new DecodeError(`${this.data.length - this.pos} trailing bytes`);
  }
}
