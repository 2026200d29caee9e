"""Receipts, batch digests and block hashes (docs/PROTOCOL.md §3.5, §4)."""

from __future__ import annotations

from .encoding import hparts, sha256, varint
from .transfer import SignedTransfer, parse_u64

RECEIPTS_TAG = b"bftledger/block/receipts/v1"
HEADER_TAG = b"bftledger/block/header/v1"

_TRANSFER_ERRORS = ["BadSignature", "WrongChainId", "ZeroAmount", "SelfTransfer", "MemoTooLong", "ZeroNonce"]
_REASONS = {
    "NonceReplayed": (1, ("last_used", "got")),
    "NonceGap": (2, ("expected", "got")),
    "InsufficientFunds": (3, ("balance", "amount")),
    "RecipientOverflow": (4, ("balance", "amount")),
}


def receipt_bytes(receipt: object) -> bytes:
    """The binary receipt for its JSON form ("Applied" or {"Rejected": reason})."""
    if receipt == "Applied":
        return b"\x00"
    if not isinstance(receipt, dict) or list(receipt) != ["Rejected"]:
        raise ValueError(f"not a receipt: {receipt!r}")
    reason = receipt["Rejected"]
    if not isinstance(reason, dict) or len(reason) != 1:
        raise ValueError(f"not a rejection reason: {reason!r}")
    (name, fields), = reason.items()
    if name == "Invalid":
        return b"\x01\x00" + _transfer_error_bytes(fields)
    if name not in _REASONS:
        raise ValueError(f"unknown rejection reason {name!r}")
    index, names = _REASONS[name]
    return b"\x01" + bytes([index]) + b"".join(varint(parse_u64(fields[n])) for n in names)


def _transfer_error_bytes(error: object) -> bytes:
    if isinstance(error, str) and error in _TRANSFER_ERRORS and error != "MemoTooLong":
        return bytes([_TRANSFER_ERRORS.index(error)])
    if isinstance(error, dict) and list(error) == ["MemoTooLong"]:
        fields = error["MemoTooLong"]
        return bytes([4]) + varint(int(fields["len_bytes"])) + varint(int(fields["max_bytes"]))
    raise ValueError(f"unknown transfer error {error!r}")


def receipts_digest(receipts: list) -> bytes:
    encoded = varint(len(receipts)) + b"".join(receipt_bytes(r) for r in receipts)
    return hparts(RECEIPTS_TAG, encoded)


def batch_digest(transfers: list[SignedTransfer]) -> bytes:
    """The consensus digest of the batch of these transfers, in order."""
    return hparts(*(sha256(t.to_bytes()) for t in transfers))


def header_hash(height: int, prev_hash: bytes, batch: bytes, receipts: bytes, state_root: bytes) -> bytes:
    return hparts(HEADER_TAG, height.to_bytes(8, "big"), prev_hash, batch, receipts, state_root)


def block_hash(block: dict) -> bytes:
    """The hash of a block in its JSON form (`block` of GET /v1/blocks/{height})."""
    return header_hash(
        int(block["height"]),
        bytes.fromhex(block["prev_hash"]),
        bytes.fromhex(block["batch_digest"]),
        receipts_digest(block["receipts"]),
        bytes.fromhex(block["state_root"]),
    )
