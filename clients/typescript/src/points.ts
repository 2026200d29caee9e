// Which 32-byte strings the node accepts as Ed25519 public keys (docs/PROTOCOL.md §2.1).
import { ed25519 } from "@noble/curves/ed25519.js";

/** Why 32 bytes are not an acceptable public key ("not_a_point", "weak_key"), or null. */
export function keyProblem(key: Uint8Array): "not_a_point" | "weak_key" | null {
  let point;
  try {
    // Strict (RFC 8032) decoding: y < p, no sign bit on x = 0, a point on the curve.
    point = ed25519.Point.fromBytes(key, false);
  } catch {
    return "not_a_point";
  }
  return point.isSmallOrder() ? "weak_key" : null;
}
