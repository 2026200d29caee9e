// Addresses: an Ed25519 public key in bech32m (BIP-350) with the prefix `bft` (docs/PROTOCOL.md §2.1).
import { keyProblem } from "./points.js";

export const PREFIX = "bft";
const CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const BECH32M_CONST = 0x2bc830a3;

/** Text that is not an address; `kind` as in docs/test-vectors.json. */
export class AddressError extends Error {
  constructor(readonly kind: string, message: string) {
    super(message);
  }
}

function polymod(values: number[]): number {
  const generator = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
  let checksum = 1;
  for (const value of values) {
    const top = checksum >>> 25;
    checksum = (((checksum & 0x1ffffff) << 5) ^ value) >>> 0;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) checksum = (checksum ^ generator[i]) >>> 0;
  }
  return checksum;
}

function hrpExpand(hrp: string): number[] {
  const codes = [...hrp].map((c) => c.charCodeAt(0));
  return [...codes.map((c) => c >> 5), 0, ...codes.map((c) => c & 31)];
}

/** Regroups `from`-bit values into `to`-bit values, most significant first; the last
 * incomplete group is zero-padded (`pad`) or dropped. */
function regroup(data: Iterable<number>, from: number, to: number, pad: boolean): number[] {
  let acc = 0;
  let bits = 0;
  const out: number[] = [];
  const limit = (1 << to) - 1;
  for (const value of data) {
    acc = ((acc << from) | value) & 0xffffff;
    bits += from;
    while (bits >= to) {
      bits -= to;
      out.push((acc >> bits) & limit);
    }
  }
  if (pad && bits) out.push((acc << (to - bits)) & limit);
  return out;
}

/** The bech32m text of a key (lower case). */
export function encodeAddress(key: Uint8Array, hrp = PREFIX): string {
  const data = regroup(key, 8, 5, true);
  const mod = polymod([...hrpExpand(hrp), ...data, 0, 0, 0, 0, 0, 0]) ^ BECH32M_CONST;
  const checksum = [0, 1, 2, 3, 4, 5].map((i) => (mod >>> (5 * (5 - i))) & 31);
  return hrp + "1" + [...data, ...checksum].map((d) => CHARSET[d]).join("");
}

/** The public key an address names; throws AddressError as the node refuses it. */
export function decodeAddress(address: string): Uint8Array {
  let text = address.trim();
  if (text.toLowerCase() !== text && text.toUpperCase() !== text)
    throw new AddressError("checksum", "mixed case");
  text = text.toLowerCase();
  const separator = text.lastIndexOf("1");
  if (separator < 1 || separator + 7 > text.length || text.length > 1023)
    throw new AddressError("checksum", "no bech32m separator or too short");
  const hrp = text.slice(0, separator);
  const rest = text.slice(separator + 1);
  if ([...rest].some((c) => !CHARSET.includes(c)) || [...hrp].some((c) => c < "!" || c > "~"))
    throw new AddressError("checksum", "characters outside the bech32 alphabet");
  const data = [...rest].map((c) => CHARSET.indexOf(c));
  if (polymod([...hrpExpand(hrp), ...data]) !== BECH32M_CONST)
    throw new AddressError("checksum", "checksum mismatch (a typo?) or not bech32m");
  if (hrp !== PREFIX) throw new AddressError("wrong_prefix", `prefix '${hrp}', expected '${PREFIX}'`);
  const groups = data.slice(0, -6);
  const payload = regroup(groups, 5, 8, false);
  if (payload.length !== 32) throw new AddressError("wrong_length", `${payload.length} bytes, a key is 32`);
  const paddingBits = (groups.length * 5) % 8;
  if (paddingBits > 4 || groups[groups.length - 1] & ((1 << paddingBits) - 1))
    throw new AddressError("non_zero_padding", "non-zero padding bits: not the address of a key as written");
  const key = Uint8Array.from(payload);
  const problem = keyProblem(key);
  if (problem !== null) throw new AddressError(problem, "not a usable Ed25519 public key");
  return key;
}
