"""The genesis and its hash (docs/PROTOCOL.md §7): the hash is of the binary encoding, not the TOML."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass

from . import address
from .encoding import byte_string, sha256, text, varint


@dataclass(frozen=True)
class Genesis:
    chain_id: str
    validators: list[bytes]  # public keys; position = replica id
    validator_addresses: list[list[str]]  # network hints, part of the hash
    balances: list[tuple[bytes, int]]

    @classmethod
    def from_toml(cls, toml_text: str) -> "Genesis":
        doc = tomllib.loads(toml_text)
        validators = doc.get("validators", [])
        return cls(
            chain_id=doc["chain_id"],
            validators=[address.decode(v["public_key"]) for v in validators],
            validator_addresses=[list(v.get("addresses", [])) for v in validators],
            balances=[(address.decode(b["account"]), int(b["amount"])) for b in doc.get("balances", [])],
        )

    def to_bytes(self) -> bytes:
        out = bytearray([1])
        out += text(self.chain_id)
        out += varint(len(self.validators))
        for key, hints in zip(self.validators, self.validator_addresses):
            out += byte_string(key) + varint(len(hints)) + b"".join(text(h) for h in hints)
        out += varint(len(self.balances))
        for account, amount in self.balances:
            out += byte_string(account) + varint(amount)
        return bytes(out)

    def hash(self) -> bytes:
        return sha256(self.to_bytes())
