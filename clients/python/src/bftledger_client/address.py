"""Addresses: an Ed25519 public key in bech32m with the prefix `bft` (docs/PROTOCOL.md §2.1).

bech32m is BIP-350; the checksum constant is what distinguishes it from BIP-173 bech32.
"""

from __future__ import annotations

from .points import key_problem

PREFIX = "bft"
_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32M_CONST = 0x2BC830A3


class AddressError(ValueError):
    """Text that is not an address; `kind` is checksum, wrong_prefix, wrong_length,
    non_zero_padding, weak_key or not_a_point, as in docs/test-vectors.json."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def _polymod(values: list[int]) -> int:
    generator = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            checksum ^= generator[i] if (top >> i) & 1 else 0
    return checksum


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _regroup(data: bytes | list[int], source: int, target: int, pad: bool) -> list[int]:
    """Regroups `source`-bit values into `target`-bit values, most significant bits first; the
    last incomplete group is zero-padded (`pad`) or dropped."""
    accumulator, bits, out = 0, 0, []
    limit = (1 << target) - 1
    for value in data:
        accumulator = (accumulator << source) | value
        bits += source
        while bits >= target:
            bits -= target
            out.append((accumulator >> bits) & limit)
    if pad and bits:
        out.append((accumulator << (target - bits)) & limit)
    return out


def encode(key: bytes, hrp: str = PREFIX) -> str:
    """The bech32m text of `key` (lower case)."""
    data = _regroup(key, 8, 5, pad=True)
    values = _hrp_expand(hrp) + data
    polymod = _polymod(values + [0] * 6) ^ _BECH32M_CONST
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[d] for d in data + checksum)


def decode(address: str) -> bytes:
    """The public key an address names; raises AddressError like the node refuses it."""
    text = address.strip()
    if text.lower() != text and text.upper() != text:
        raise AddressError("checksum", "mixed case")
    text = text.lower()
    separator = text.rfind("1")
    if separator < 1 or separator + 7 > len(text) or len(text) > 1023:
        raise AddressError("checksum", "no bech32m separator or too short")
    hrp, rest = text[:separator], text[separator + 1 :]
    if any(c not in _CHARSET for c in rest) or any(not 33 <= ord(c) <= 126 for c in hrp):
        raise AddressError("checksum", "characters outside the bech32 alphabet")
    data = [_CHARSET.index(c) for c in rest]
    if _polymod(_hrp_expand(hrp) + data) != _BECH32M_CONST:
        raise AddressError("checksum", "checksum mismatch (a typo?) or not bech32m")
    if hrp != PREFIX:
        raise AddressError("wrong_prefix", f"prefix {hrp!r}, expected {PREFIX!r}")
    groups = data[:-6]
    payload = _regroup(groups, 5, 8, pad=False)
    if len(payload) != 32:
        raise AddressError("wrong_length", f"{len(payload)} bytes, a key is 32")
    padding_bits = len(groups) * 5 % 8
    if padding_bits > 4 or groups[-1] & ((1 << padding_bits) - 1):
        raise AddressError("non_zero_padding", "non-zero padding bits: not the address of a key as written")
    key = bytes(payload)
    problem = key_problem(key)
    if problem:
        raise AddressError(problem, "not a usable Ed25519 public key")
    return key
