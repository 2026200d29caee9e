"""Transfers: signing bytes, id, signature, request bytes and the JSON form (docs/PROTOCOL.md §3)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import address
from .encoding import U64_MAX, byte_string, option, sha256, text, varint
from .keys import TRANSFER_TAG, Key, verify

VERSION = 1
MAX_MEMO_BYTES = 256
_CHAIN_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")


def parse_u64(value: object) -> int:
    """A u64 from the JSON the node writes (a decimal string) or a JSON integer."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a u64")
    if isinstance(value, str):
        if not _DECIMAL.fullmatch(value):
            raise ValueError(f"{value!r} is not a canonical decimal u64")
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= U64_MAX:
        raise ValueError(f"{value!r} is not a u64")
    return value


@dataclass(frozen=True)
class Transfer:
    """A payment of `amount` minor units from `sender` to `recipient` (32-byte public keys)."""

    chain_id: str
    sender: bytes
    recipient: bytes
    amount: int
    nonce: int
    memo: str | None = None

    def check(self) -> None:
        """The node's stateless checks other than the signature (chain id against the genesis is
        the caller's)."""
        if not _CHAIN_ID.fullmatch(self.chain_id):
            raise ValueError("a chain id is 1..=64 characters of [A-Za-z0-9._-]")
        if not 1 <= self.amount <= U64_MAX:
            raise ValueError("amount must be from 1 to 2^64-1")
        if not 1 <= self.nonce <= U64_MAX:
            raise ValueError("nonce must be from 1 to 2^64-1 (a sender's first is 1)")
        if self.sender == self.recipient:
            raise ValueError("sender and recipient are the same account")
        if self.memo is not None and len(self.memo.encode("utf-8")) > MAX_MEMO_BYTES:
            raise ValueError(f"memo is longer than {MAX_MEMO_BYTES} bytes")

    def signing_bytes(self) -> bytes:
        memo = None if self.memo is None else text(self.memo)
        return (
            bytes([VERSION])
            + text(self.chain_id)
            + byte_string(self.sender)
            + byte_string(self.recipient)
            + varint(self.amount)
            + varint(self.nonce)
            + option(memo)
        )

    def id(self) -> bytes:
        """The transfer id: SHA-256 of the signing bytes."""
        return sha256(self.signing_bytes())

    def sign(self, key: Key) -> "SignedTransfer":
        if key.public_key != self.sender:
            raise ValueError("the key is not the sender's")
        self.check()
        return SignedTransfer(self, key.sign(TRANSFER_TAG, self.signing_bytes()))

    def to_json(self) -> dict:
        return {
            "chain_id": self.chain_id,
            "from": address.encode(self.sender),
            "to": address.encode(self.recipient),
            "amount": str(self.amount),
            "nonce": str(self.nonce),
            "memo": self.memo,
        }

    @classmethod
    def from_json(cls, value: dict) -> "Transfer":
        return cls(
            chain_id=value["chain_id"],
            sender=address.decode(value["from"]),
            recipient=address.decode(value["to"]),
            amount=parse_u64(value["amount"]),
            nonce=parse_u64(value["nonce"]),
            memo=value.get("memo"),
        )


@dataclass(frozen=True)
class SignedTransfer:
    transfer: Transfer
    signature: bytes

    def id(self) -> bytes:
        return self.transfer.id()

    def to_bytes(self) -> bytes:
        """The request payload consensus orders: signing bytes || 40 || signature."""
        return self.transfer.signing_bytes() + byte_string(self.signature)

    def request_digest(self) -> bytes:
        return sha256(self.to_bytes())

    def verify_signature(self) -> bool:
        return verify(
            self.transfer.sender, TRANSFER_TAG, self.transfer.signing_bytes(), self.signature
        )

    def to_json(self) -> dict:
        return {"transfer": self.transfer.to_json(), "signature": self.signature.hex()}

    @classmethod
    def from_json(cls, value: dict) -> "SignedTransfer":
        signature = bytes.fromhex(value["signature"])
        if len(signature) != 64:
            raise ValueError("a signature is 64 bytes")
        return cls(Transfer.from_json(value["transfer"]), signature)


def binary_batch_body(transfers: list[SignedTransfer]) -> bytes:
    """The binary form of a batch submission (docs/PROTOCOL.md §3.4): each transfer's canonical
    bytes behind their length, a big-endian u16."""
    body = bytearray()
    for signed in transfers:
        payload = signed.to_bytes()
        body += len(payload).to_bytes(2, "big") + payload
    return bytes(body)
