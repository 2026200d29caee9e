"""Which 32-byte strings the node accepts as Ed25519 public keys (docs/PROTOCOL.md §2.1).

Accepted: a canonical encoding (y < p, and no sign bit on x = 0) of a curve point that is not of
small order. Checked here with plain integer arithmetic (RFC 8032 §5.1.3 decoding), since a
signature library's notion of a valid key may be stricter (prime-order subgroup only) or looser.
"""

from __future__ import annotations

P = 2**255 - 19
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _recover_x(y: int, sign: int) -> int | None:
    """The x with the given sign bit on the curve at y, or None if there is none."""
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    x2 = u * pow(v, P - 2, P) % P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        return None
    if x & 1 != sign:
        x = P - x
    return x


def _double(point: tuple[int, int]) -> tuple[int, int]:
    x, y = point
    # Affine twisted Edwards addition (a = -1) of a point with itself.
    denominator_x = (1 + D * x * x * y * y) % P
    denominator_y = (1 - D * x * x * y * y) % P
    x3 = (2 * x * y) * pow(denominator_x, P - 2, P) % P
    y3 = (y * y + x * x) * pow(denominator_y, P - 2, P) % P
    return x3, y3


def key_problem(key: bytes) -> str | None:
    """Why `key` is refused ("not_a_point" or "weak_key"), or None if it is acceptable."""
    if len(key) != 32:
        return "not_a_point"
    y = int.from_bytes(key, "little") & ((1 << 255) - 1)
    sign = key[31] >> 7
    if y >= P:
        return "not_a_point"
    x = _recover_x(y, sign)
    if x is None:
        return "not_a_point"
    point = (x, y)
    for _ in range(3):
        point = _double(point)
    if point == (0, 1):
        return "weak_key"
    return None
