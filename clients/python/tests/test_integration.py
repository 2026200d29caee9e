"""The client against a real local testnet (run by clients/python/test.sh --integration).

Needs BFTLEDGER_NODE (a node's API URL) and BFTLEDGER_TESTNET_DIR (the directory `bftledger
testnet init` wrote: genesis.toml and funded accounts/account-*.key); skipped without them.
"""

from __future__ import annotations

import os
import time
import unittest
from pathlib import Path

from bftledger_client import ApiError, Client, Genesis, Key, ProofError, Transfer, load_key_file

NODE = os.environ.get("BFTLEDGER_NODE")
TESTNET = os.environ.get("BFTLEDGER_TESTNET_DIR")


@unittest.skipUnless(NODE and TESTNET, "set BFTLEDGER_NODE and BFTLEDGER_TESTNET_DIR to run")
class AgainstATestnet(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = Client(NODE)
        cls.dir = Path(TESTNET)
        # The genesis we trust is the file we hold; the node must serve the same chain.
        cls.genesis = Genesis.from_toml((cls.dir / "genesis.toml").read_text(encoding="utf-8"))
        cls.sender = load_key_file(cls.dir / "accounts" / "account-0.key")

    def test_the_node_is_on_the_genesis_we_hold(self):
        status = self.client.status()
        self.assertEqual(status["genesis_hash"], self.genesis.hash().hex())
        self.assertEqual(self.client.genesis().hash(), self.genesis.hash())

    def test_a_signed_transfer_commits_and_its_certificate_verifies_locally(self):
        recipient = Key.generate()
        self.assertEqual(self.client.account(recipient.address)["next_nonce"], 1)
        before = self.client.balance(self.sender.address)
        signed = self.client.transfer(self.sender, recipient.address, 7, self.genesis.chain_id, memo="py")
        answer = self.client.wait(signed.id())
        self.assertEqual(answer["committed"]["receipt"], "Applied")
        cert = self.client.verify_final(signed.id(), self.genesis)
        self.assertGreaterEqual(len(cert.commits), 3)
        self.assertEqual(self.client.balance(recipient.address), 7)
        self.assertEqual(self.client.balance(self.sender.address), before - 7)
        # Against another validator set the same proof fails.
        stranger = Genesis(
            self.genesis.chain_id, [Key.generate().public_key for _ in self.genesis.validators],
            self.genesis.validator_addresses, self.genesis.balances,
        )
        with self.assertRaises(ProofError):
            self.client.verify_final(signed.id(), stranger)

    def test_a_balance_verifies_at_the_stable_checkpoint(self):
        recipient = Key.generate()
        # Enough blocks for a checkpoint to become stable (one every 16 blocks by default).
        for _ in range(17):
            self.client.wait(self.client.transfer(self.sender, recipient.address, 1, self.genesis.chain_id).id())
        deadline = time.time() + 30
        while True:
            try:
                verified = self.client.verified_account(recipient.address, self.genesis)
                break
            except ApiError as e:
                if e.code != "proof_unavailable" or time.time() > deadline:
                    raise
                time.sleep(0.5)
        self.assertGreaterEqual(verified.height, 16)
        self.assertLessEqual(verified.balance, 17)  # at the checkpoint, which may trail the transfers
        stranger = Genesis(
            self.genesis.chain_id, [Key.generate().public_key for _ in self.genesis.validators],
            self.genesis.validator_addresses, self.genesis.balances,
        )
        with self.assertRaises(ProofError):
            self.client.verified_account(recipient.address, stranger)

    def test_refusals_come_back_as_typed_errors(self):
        recipient = Key.generate()
        nonce = self.client.account(self.sender.address)["next_nonce"]
        self.assertGreater(nonce, 1, "account-0 has sent a transfer (testnet/local.sh up sends one)")
        used = Transfer(self.genesis.chain_id, self.sender.public_key, recipient.public_key, 1, nonce - 1)
        with self.assertRaises(ApiError) as caught:
            self.client.submit(used.sign(self.sender))
        self.assertEqual((caught.exception.status, caught.exception.code), (409, "nonce_used"))
        wrong_chain = Transfer("another-chain", self.sender.public_key, recipient.public_key, 1, nonce)
        with self.assertRaises(ApiError) as caught:
            self.client.submit(wrong_chain.sign(self.sender))
        self.assertEqual((caught.exception.status, caught.exception.code), (400, "wrong_chain_id"))

    def test_a_binary_batch_commits_and_each_item_gets_its_verdict(self):
        sender = load_key_file(self.dir / "accounts" / "account-1.key")
        recipient = Key.generate()
        nonce = self.client.account(sender.address)["next_nonce"]
        first, second = (
            Transfer(self.genesis.chain_id, sender.public_key, recipient.public_key, 3, n).sign(sender)
            for n in (nonce, nonce + 1)
        )
        results = self.client.submit_batch([first, first, second])
        self.assertEqual([r["id"] for r in results], [first.id(), first.id(), second.id()])
        self.assertIsNone(results[0]["error"])
        self.assertEqual(results[1]["error"]["code"], "duplicate")
        self.assertIsNone(results[2]["error"])
        self.assertEqual(self.client.wait(second.id())["committed"]["receipt"], "Applied")
        self.assertEqual(self.client.balance(recipient.address), 6)
        # The JSON form gets the same verdicts: both nonces are used now.
        again = self.client.submit_batch([first, second], binary=False)
        self.assertEqual([r["error"]["code"] for r in again], ["already_committed"] * 2)


if __name__ == "__main__":
    unittest.main()
