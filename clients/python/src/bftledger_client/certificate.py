"""Commit certificates and the local check that a transfer is final (docs/PROTOCOL.md §5.1)."""

from __future__ import annotations

from dataclasses import dataclass

from .block import batch_digest, block_hash, receipt_bytes
from .encoding import Reader, varint
from .keys import CONSENSUS_TAG, verify
from .transfer import SignedTransfer

COMMIT_KIND = 2
CERTIFICATE_VERSION = 1


class ProofError(ValueError):
    """A certificate or a proof that does not verify; the message says which rule failed."""


def quorum(n: int) -> int:
    """Signatures a certificate needs among n validators: ceil((n + f + 1) / 2), f = (n - 1) // 3."""
    f = (n - 1) // 3
    return (n + f + 1 + 1) // 2


def commit_signed_bytes(replica_id: int, view: int, seq: int, digest: bytes) -> bytes:
    """What validator `replica_id` signs (after the consensus tag) for COMMIT(view, seq, digest)."""
    return varint(replica_id) + bytes([COMMIT_KIND]) + varint(view) + varint(seq) + b"\x20" + digest


@dataclass(frozen=True)
class CommitCertificate:
    view: int
    seq: int
    digest: bytes
    commits: list[tuple[int, bytes]]

    @classmethod
    def decode(cls, data: bytes) -> "CommitCertificate":
        r = Reader(data)
        if r.byte() != CERTIFICATE_VERSION:
            raise ProofError("unknown certificate version")
        view, seq, digest = r.varint(), r.varint(), r.fixed_bytes(32)
        commits = [(r.varint(32), r.fixed_bytes(64)) for _ in range(r.varint())]
        r.finish()
        return cls(view, seq, digest, commits)

    def verify(self, validators: list[bytes]) -> None:
        """Raises ProofError unless a quorum of distinct validators signed, and every signature
        is valid (as the node requires)."""
        verify_quorum(
            validators,
            self.commits,
            lambda replica_id: commit_signed_bytes(replica_id, self.view, self.seq, self.digest),
        )


def verify_quorum(validators: list[bytes], signatures: list[tuple[int, bytes]], signed_bytes) -> None:
    """Raises ProofError unless `signatures` come from a quorum of distinct validators and every
    one verifies over `consensus tag || signed_bytes(replica_id)` (the rule of every certificate)."""
    seen: set[int] = set()
    for replica_id, _ in signatures:
        if replica_id >= len(validators):
            raise ProofError(f"replica {replica_id} is not a validator")
        if replica_id in seen:
            raise ProofError(f"replica {replica_id} signed twice")
        seen.add(replica_id)
    need = quorum(len(validators))
    if len(signatures) < need:
        raise ProofError(f"{len(signatures)} signers, {need} needed")
    for replica_id, signature in signatures:
        if not verify(validators[replica_id], CONSENSUS_TAG, signed_bytes(replica_id), signature):
            raise ProofError(f"signature of replica {replica_id} does not verify")


def verify_certified_block(validators: list[bytes], block_response: dict) -> CommitCertificate:
    """Checks a GET /v1/blocks/{height} answer: certificate, height, batch digest, block hash."""
    block = block_response["block"]
    cert = CommitCertificate.decode(bytes.fromhex(block_response["certificate"]))
    cert.verify(validators)
    if cert.seq != int(block["height"]):
        raise ProofError(f"the certificate is for seq {cert.seq}, the block is at {block['height']}")
    transfers = [SignedTransfer.from_json(t) for t in block["transfers"]]
    computed = batch_digest(transfers)
    if computed != cert.digest or bytes.fromhex(block["batch_digest"]) != cert.digest:
        raise ProofError("the block's transfers are not the certified batch")
    if block_hash(block).hex() != block_response["hash"]:
        raise ProofError("the served block hash is not the hash of the served block")
    return cert


def verify_committed_transfer(
    validators: list[bytes], transfer_id: bytes, transfer_response: dict, block_response: dict
) -> CommitCertificate:
    """Checks that the transfer `transfer_id` is final: GET /v1/transfers/{id} and
    GET /v1/blocks/{height} answers against the genesis validators (rules 1-6 of §5.1)."""
    committed = transfer_response.get("committed")
    if not committed:
        raise ProofError(f"transfer is {transfer_response.get('status')}, not in a block")
    cert = verify_certified_block(validators, block_response)
    block = block_response["block"]
    if int(committed["height"]) != int(block["height"]):
        raise ProofError("the transfer's height is not the block's")
    if committed["block_hash"] != block_response["hash"]:
        raise ProofError("the transfer's block hash is not the block's")
    position = int(committed["position"])
    if not 0 <= position < len(block["transfers"]):
        raise ProofError(f"no transfer at position {position}")
    in_block = SignedTransfer.from_json(block["transfers"][position])
    if in_block.id() != transfer_id or SignedTransfer.from_json(committed["transfer"]) != in_block:
        raise ProofError(f"the block does not hold this transfer at position {position}")
    if receipt_bytes(block["receipts"][position]) != receipt_bytes(committed["receipt"]):
        raise ProofError("the block holds another receipt for this transfer")
    return cert
