"""The canonical binary encoding (docs/PROTOCOL.md §1.1) and the two digest constructions (§1.2)."""

from __future__ import annotations

import hashlib

U64_MAX = (1 << 64) - 1


class DecodeError(ValueError):
    """Bytes that are not the canonical encoding of the expected value."""


def varint(value: int) -> bytes:
    """Unsigned LEB128, shortest form (postcard's varint)."""
    if not 0 <= value <= U64_MAX:
        raise ValueError(f"{value} is not a u64")
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def byte_string(data: bytes) -> bytes:
    """A length-prefixed byte string: a key is 20 || key, a signature 40 || signature."""
    return varint(len(data)) + data


def text(value: str) -> bytes:
    """A length-prefixed UTF-8 string."""
    return byte_string(value.encode("utf-8"))


def option(encoded: bytes | None) -> bytes:
    """00 when absent, 01 || value when present."""
    return b"\x00" if encoded is None else b"\x01" + encoded


def sha256(data: bytes) -> bytes:
    """H(x)."""
    return hashlib.sha256(data).digest()


def hparts(*parts: bytes) -> bytes:
    """Hparts: SHA-256 over each part prefixed with its length as 8 bytes big-endian."""
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.digest()


class Reader:
    """Reads a canonical encoding front to back; every read refuses what the node refuses."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def varint(self, bits: int = 64) -> int:
        value, shift, start = 0, 0, self.pos
        while True:
            if self.pos >= len(self.data):
                raise DecodeError("input ends inside a varint")
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
            if shift >= bits + 7:
                raise DecodeError("varint too long")
        if value >> bits:
            raise DecodeError(f"varint above u{bits}")
        if varint(value) != self.data[start : self.pos]:
            raise DecodeError("varint not in its shortest form")
        return value

    def fixed_bytes(self, length: int) -> bytes:
        """A byte string whose length prefix must be `length`."""
        declared = self.varint()
        if declared != length:
            raise DecodeError(f"expected {length} bytes, the encoding says {declared}")
        return self.raw(length)

    def raw(self, length: int) -> bytes:
        if self.pos + length > len(self.data):
            raise DecodeError("input ends early")
        out = self.data[self.pos : self.pos + length]
        self.pos += length
        return out

    def byte(self) -> int:
        return self.raw(1)[0]

    def finish(self) -> None:
        if self.pos != len(self.data):
            raise DecodeError(f"{len(self.data) - self.pos} trailing bytes")
