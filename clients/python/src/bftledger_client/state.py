"""The state root and account proofs (docs/PROTOCOL.md §6): the root recomputed from accounts,
and the local check of GET /v1/accounts/{address}?proof=true against a genesis."""

from __future__ import annotations

from dataclasses import dataclass

from .block import header_hash
from .certificate import ProofError, verify_quorum
from .encoding import Reader, sha256, varint
from .transfer import parse_u64

LEAF_TAG = b"bftledger/state/leaf/v2"
NODE_TAG = b"bftledger/state/node/v2"
EMPTY = bytes(32)
PATH_BITS = 256
CHECKPOINT_KIND = 3
CHECKPOINT_CERTIFICATE_VERSION = 1


def path_of(key: bytes) -> bytes:
    """Where an account sits in the tree: SHA-256 of its public key."""
    return sha256(key)


def bit(path: bytes, depth: int) -> int:
    """Bit `depth` of a path, the most significant bit of byte 0 first."""
    return (path[depth // 8] >> (7 - depth % 8)) & 1


def leaf_hash(key: bytes, balance: int, nonce: int) -> bytes:
    return sha256(LEAF_TAG + key + balance.to_bytes(8, "big") + nonce.to_bytes(8, "big"))


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(NODE_TAG + left + right)


def state_root(accounts: list[tuple[bytes, int, int]]) -> bytes:
    """The state root of (public key, balance, nonce) records; (0, 0) records are not stored."""
    leaves = sorted(
        (path_of(k), leaf_hash(k, b, n)) for k, b, n in accounts if (b, n) != (0, 0)
    )

    def subtree(depth: int, items: list[tuple[bytes, bytes]]) -> bytes:
        if not items:
            return EMPTY
        if len(items) == 1:
            return items[0][1]
        split = next((i for i, (p, _) in enumerate(items) if bit(p, depth)), len(items))
        return node_hash(subtree(depth + 1, items[:split]), subtree(depth + 1, items[split:]))

    return subtree(0, leaves)


def verify_merkle_proof(root: bytes, key: bytes, balance: int, nonce: int, siblings: list[bytes], terminal: dict) -> None:
    """Raises ProofError unless under `root` account `key` has (balance, nonce), where (0, 0)
    means the account does not exist (rules 3 and 4 of §6)."""
    if len(siblings) > PATH_BITS:
        raise ProofError(f"{len(siblings)} siblings; a path has {PATH_BITS} bits")
    path = path_of(key)
    absent = (balance, nonce) == (0, 0)
    kind = terminal.get("kind")
    if kind == "account" and not absent:
        h = leaf_hash(key, balance, nonce)
    elif kind == "empty" and absent:
        h = EMPTY
    elif kind == "other_account" and absent:
        other = bytes.fromhex(terminal["key"])
        other_balance, other_nonce = parse_u64(terminal["balance"]), parse_u64(terminal["nonce"])
        other_path = path_of(other)
        if (
            len(other) != 32
            or other == key
            or (other_balance, other_nonce) == (0, 0)
            or any(bit(other_path, d) != bit(path, d) for d in range(len(siblings)))
        ):
            raise ProofError("the other account cannot sit where the proof puts it")
        h = leaf_hash(other, other_balance, other_nonce)
    else:
        raise ProofError(f"terminal {kind!r} does not fit the claimed record")
    for depth in range(len(siblings) - 1, -1, -1):
        sibling = siblings[depth]
        h = node_hash(sibling, h) if bit(path, depth) else node_hash(h, sibling)
    if h != root:
        raise ProofError("the proof does not lead to the state root")


def checkpoint_signed_bytes(replica_id: int, seq: int, block_hash: bytes) -> bytes:
    """What validator `replica_id` signs (after the consensus tag) for CHECKPOINT(seq, digest)."""
    return varint(replica_id) + bytes([CHECKPOINT_KIND]) + varint(seq) + b"\x20" + block_hash


@dataclass(frozen=True)
class CheckpointCertificate:
    seq: int
    digest: bytes
    signatures: list[tuple[int, bytes]]

    @classmethod
    def decode(cls, data: bytes) -> "CheckpointCertificate":
        r = Reader(data)
        if r.byte() != CHECKPOINT_CERTIFICATE_VERSION:
            raise ProofError("unknown checkpoint certificate version")
        seq, digest = r.varint(), r.fixed_bytes(32)
        signatures = [(r.varint(32), r.fixed_bytes(64)) for _ in range(r.varint())]
        r.finish()
        return cls(seq, digest, signatures)

    def verify(self, validators: list[bytes]) -> None:
        """Raises ProofError unless a quorum of distinct validators signed and every signature
        is valid."""
        verify_quorum(
            validators,
            self.signatures,
            lambda replica_id: checkpoint_signed_bytes(replica_id, self.seq, self.digest),
        )


@dataclass(frozen=True)
class VerifiedAccount:
    height: int
    balance: int
    nonce: int
    state_root: bytes


def verify_account_proof(validators: list[bytes], key: bytes, proof: dict) -> VerifiedAccount:
    """Checks the `proof` field of GET /v1/accounts/{address}?proof=true for public key `key`
    against the genesis validators (rules 1-4 of §6); returns what it proves."""
    cert = CheckpointCertificate.decode(bytes.fromhex(proof["checkpoint_certificate"]))
    header = proof["header"]
    height = int(proof["height"])
    if cert.seq == 0:
        raise ProofError("a certificate for height 0 proves nothing")
    if not cert.seq == height == int(header["height"]):
        raise ProofError(f"heights disagree: {height}, certificate {cert.seq}, header {header['height']}")
    cert.verify(validators)
    root = bytes.fromhex(header["state_root"])
    served = header_hash(
        int(header["height"]),
        bytes.fromhex(header["prev_hash"]),
        bytes.fromhex(header["batch_digest"]),
        bytes.fromhex(header["receipts_digest"]),
        root,
    )
    if served != cert.digest:
        raise ProofError("the validators signed another block than the served header")
    balance, nonce = parse_u64(proof["balance"]), parse_u64(proof["nonce"])
    siblings = [bytes.fromhex(s) for s in proof["siblings"]]
    verify_merkle_proof(root, key, balance, nonce, siblings, proof["terminal"])
    return VerifiedAccount(height, balance, nonce, root)
