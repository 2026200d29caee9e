"""The chaos checker against made-up histories: it must pass an honest one and name each lie.

Run by `testnet/chaos.sh --self-test` (scripts/test.sh does, before its chaos run). Every history
here is signed for real (validator keys, client keys, commit certificates), so a check that fails
on it fails for the reason the test names, not on a broken signature.
"""

from __future__ import annotations

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import chaos  # noqa: E402
from bftledger_client import Genesis, Key, Transfer, batch_digest, block_hash  # noqa: E402
from bftledger_client.certificate import CERTIFICATE_VERSION, commit_signed_bytes  # noqa: E402
from bftledger_client.encoding import varint  # noqa: E402
from bftledger_client.keys import CONSENSUS_TAG  # noqa: E402

CHAIN_ID = "chaos-test"
BALANCE = 1_000


class History:
    """A chain built block by block, signed by 4 validators, served by 4 nodes."""

    def __init__(self) -> None:
        self.validators = [Key.generate() for _ in range(4)]
        self.alice, self.bob = Key.generate(), Key.generate()
        self.genesis = Genesis(CHAIN_ID, [v.public_key for v in self.validators], [[] for _ in range(4)],
                               [(self.alice.public_key, BALANCE), (self.bob.public_key, BALANCE)])
        self.blocks: dict[int, dict] = {}
        self.acks: list[dict] = []

    def transfer(self, sender: Key, recipient: Key, amount: int, nonce: int):
        return Transfer(CHAIN_ID, sender.public_key, recipient.public_key, amount, nonce).sign(sender)

    def block(self, transfers: list, receipts: list, signers: list[Key] | None = None) -> dict:
        height = len(self.blocks) + 1
        prev = self.blocks[height - 1]["hash"] if height > 1 else "00" * 32
        digest = batch_digest(transfers)
        block = {
            "height": height, "prev_hash": prev, "batch_digest": digest.hex(),
            "transfers": [t.to_json() for t in transfers], "receipts": receipts,
            "state_root": os.urandom(32).hex(),
        }
        signers = signers or self.validators[:3]
        cert = bytes([CERTIFICATE_VERSION]) + varint(0) + varint(height) + b"\x20" + digest + varint(len(signers))
        for position, key in enumerate(signers):
            # A stranger signs in the name of the validator at its position.
            known = [i for i, v in enumerate(self.validators) if v.public_key == key.public_key]
            replica = known[0] if known else position
            cert += varint(replica) + b"\x40" + key.sign(CONSENSUS_TAG, commit_signed_bytes(replica, 0, height, digest))
        answer = {"hash": block_hash(block).hex(), "block": block, "certificate": cert.hex()}
        self.blocks[height] = answer
        return answer

    def ack(self, signed, height: int, receipt="Applied") -> None:
        self.acks.append({"id": signed.id().hex(), "node": "test", "status": "committed", "height": height,
                          "receipt": receipt, "block_hash": self.blocks[height]["hash"]})

    def check(self, served=None, balances=None) -> list[str]:
        violations = chaos.Violations()
        served = served or [dict(self.blocks) for _ in range(4)]
        keys = [self.alice.public_key, self.bob.public_key]
        chaos.check_fetched(self.genesis, keys, len(self.blocks), served, balances or [], self.acks, violations)
        return sorted({v["kind"] for v in violations.items})


def honest() -> History:
    h = History()
    t1 = h.transfer(h.alice, h.bob, 10, 1)
    t2 = h.transfer(h.bob, h.alice, 3, 1)
    h.block([t1, t2], ["Applied", "Applied"])
    h.ack(t1, 1)
    t3 = h.transfer(h.alice, h.bob, 5, 2)
    h.block([t3], ["Applied"])
    h.ack(t3, 2)
    return h


class CheckerTest(unittest.TestCase):
    def setUp(self) -> None:
        chaos.log = lambda message: None  # quiet

    def test_an_honest_history_passes(self):
        h = honest()
        served = {h.alice.public_key: (BALANCE - 12, 3), h.bob.public_key: (BALANCE + 12, 2)}
        self.assertEqual(h.check(balances=[served] * 4), [])

    def test_a_lost_acknowledgement_is_named(self):
        h = honest()
        ghost = h.transfer(h.bob, h.alice, 1, 2)
        h.acks.append({"id": ghost.id().hex(), "node": "test", "status": "committed", "height": 2,
                       "receipt": "Applied", "block_hash": h.blocks[2]["hash"]})
        self.assertEqual(h.check(), ["lost_ack"])

    def test_an_acknowledged_receipt_that_changed_is_named(self):
        h = honest()
        h.acks[0]["receipt"] = {"Rejected": {"NonceGap": {"expected": "1", "got": "2"}}}
        self.assertEqual(h.check(), ["changed_ack"])

    def test_two_nodes_serving_different_blocks_is_a_fork(self):
        h = honest()
        other = History.__new__(History)
        other.__dict__.update(h.__dict__)
        other.blocks = {1: h.blocks[1]}
        other.block([h.transfer(h.alice, h.bob, 6, 2)], ["Applied"])
        served = [dict(h.blocks), dict(h.blocks), dict(other.blocks), dict(h.blocks)]
        self.assertIn("fork", h.check(served=served))

    def test_a_transfer_applied_twice_is_named(self):
        h = History()
        t1 = h.transfer(h.alice, h.bob, 10, 1)
        h.block([t1], ["Applied"])
        h.block([t1], ["Applied"])
        self.assertIn("applied_twice", h.check())

    def test_a_copy_rejected_as_a_replay_is_fine(self):
        h = History()
        t1 = h.transfer(h.alice, h.bob, 10, 1)
        h.block([t1], ["Applied"])
        h.ack(t1, 1)
        h.block([t1], [{"Rejected": {"NonceReplayed": {"last_used": "1", "got": "1"}}}])
        self.assertEqual(h.check(), [])

    def test_a_nonce_gap_is_named(self):
        h = History()
        h.block([h.transfer(h.alice, h.bob, 10, 1), h.transfer(h.alice, h.bob, 10, 3)], ["Applied", "Applied"])
        self.assertEqual(h.check(), ["nonce_gap"])

    def test_a_balance_that_is_not_the_replayed_chain_is_named(self):
        h = honest()
        served = {h.alice.public_key: (BALANCE - 12, 3), h.bob.public_key: (BALANCE + 13, 2)}
        self.assertEqual(h.check(balances=[served] * 4), ["state_mismatch"])

    def test_an_overdraft_is_named(self):
        h = History()
        h.block([h.transfer(h.alice, h.bob, BALANCE + 1, 1)], ["Applied"])
        self.assertIn("overdraft", h.check())

    def test_a_block_certified_by_strangers_is_refused(self):
        h = History()
        strangers = [Key.generate() for _ in range(3)]
        h.block([h.transfer(h.alice, h.bob, 10, 1)], ["Applied"], signers=strangers)
        self.assertEqual(h.check(), ["bad_block"])

    def test_a_block_that_does_not_chain_is_named(self):
        h = honest()
        h.blocks[2]["block"]["prev_hash"] = "11" * 32
        h.blocks[2]["hash"] = block_hash(h.blocks[2]["block"]).hex()
        h.acks = []
        self.assertEqual(h.check(), ["broken_chain"])


if __name__ == "__main__":
    unittest.main()
