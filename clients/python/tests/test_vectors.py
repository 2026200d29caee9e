"""The client against docs/test-vectors.json, which the node generates from its own code."""

from __future__ import annotations

import json
import unittest
from pathlib import Path

from bftledger_client import (
    AddressError,
    CommitCertificate,
    Genesis,
    Key,
    ProofError,
    SignedTransfer,
    Transfer,
    batch_digest,
    binary_batch_body,
    block_hash,
    decode_address,
    encode_address,
    parse_key_file,
    quorum,
    receipts_digest,
    render_key_file,
    verify_certified_block,
    verify_committed_transfer,
)
from bftledger_client.certificate import commit_signed_bytes
from bftledger_client.state import (
    CheckpointCertificate,
    checkpoint_signed_bytes,
    leaf_hash,
    path_of,
    state_root,
    verify_account_proof,
    verify_merkle_proof,
)
from bftledger_client.encoding import Reader, DecodeError, varint
from bftledger_client.keys import CONSENSUS_TAG, TRANSFER_TAG

VECTORS_PATH = Path(__file__).resolve().parents[3] / "docs" / "test-vectors.json"
VECTORS = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
KEYS = {bytes.fromhex(k["public_key"]): Key(bytes.fromhex(k["seed"])) for k in VECTORS["keys"]}


class Primitives(unittest.TestCase):
    def test_domain_tags(self):
        self.assertEqual(TRANSFER_TAG.hex(), VECTORS["domain_tags"]["transfer"])
        self.assertEqual(CONSENSUS_TAG.hex(), VECTORS["domain_tags"]["consensus"])

    def test_varints_round_trip_and_refuse_overlong_forms(self):
        for value, encoded in [(0, "00"), (127, "7f"), (128, "8001"), (300, "ac02"),
                               (2**64 - 1, "ffffffffffffffffff01")]:
            self.assertEqual(varint(value).hex(), encoded)
            self.assertEqual(Reader(bytes.fromhex(encoded)).varint(), value)
        with self.assertRaises(DecodeError):
            Reader(bytes.fromhex("8100")).varint()
        with self.assertRaises(DecodeError):
            Reader(bytes.fromhex("ffffffffffffffffff02")).varint()

    def test_keys_and_addresses(self):
        for k in VECTORS["keys"]:
            key = Key(bytes.fromhex(k["seed"]))
            self.assertEqual(key.public_key.hex(), k["public_key"])
            self.assertEqual(key.address, k["address"])

    def test_key_file_round_trip_and_refusals(self):
        key = Key(bytes(range(32)))
        self.assertEqual(parse_key_file(render_key_file(key)).seed, key.seed)
        wrong_address = render_key_file(key).replace(key.address, Key(bytes(32)).address)
        for text in ["", "ed25519-secret-key: 12", wrong_address, "hello\n"]:
            with self.assertRaises(ValueError):
                parse_key_file(text)


class Addresses(unittest.TestCase):
    def test_valid_addresses_decode_to_their_keys(self):
        for v in VECTORS["addresses"]["valid"]:
            self.assertEqual(decode_address(v["address"]).hex(), v["public_key"])
            self.assertEqual(encode_address(bytes.fromhex(v["public_key"])), v["address"].lower())

    def test_invalid_addresses_are_refused_for_the_same_reason(self):
        for v in VECTORS["addresses"]["invalid"]:
            with self.subTest(v["name"]):
                with self.assertRaises(AddressError) as caught:
                    decode_address(v["address"])
                self.assertEqual(caught.exception.kind, v["error"])


class Transfers(unittest.TestCase):
    def test_every_derived_value_matches(self):
        for v in VECTORS["transfers"]:
            with self.subTest(v["name"]):
                t = Transfer.from_json(v["transfer"])
                self.assertEqual(t.to_json(), v["transfer"])
                self.assertEqual(t.signing_bytes().hex(), v["signing_bytes"])
                self.assertEqual((TRANSFER_TAG + t.signing_bytes()).hex(), v["signed_message"])
                self.assertEqual(t.id().hex(), v["id"])
                signed = t.sign(KEYS[t.sender])
                self.assertEqual(signed.signature.hex(), v["signature"])
                self.assertEqual(signed.to_json(), v["body"])
                self.assertEqual(signed.to_bytes().hex(), v["signed_transfer_bytes"])
                self.assertEqual(signed.request_digest().hex(), v["request_digest"])
                self.assertTrue(signed.verify_signature())

    def test_the_binary_batch_body_matches(self):
        signed = [SignedTransfer.from_json(v["body"]) for v in VECTORS["transfers"]]
        self.assertEqual(
            VECTORS["binary_batch"]["transfers"], [v["name"] for v in VECTORS["transfers"]]
        )
        self.assertEqual(binary_batch_body(signed).hex(), VECTORS["binary_batch"]["body"])

    def test_a_changed_field_breaks_the_signature(self):
        signed = SignedTransfer.from_json(VECTORS["transfers"][0]["body"])
        body = signed.to_json()
        body["transfer"]["amount"] = str(int(body["transfer"]["amount"]) + 1)
        self.assertFalse(SignedTransfer.from_json(body).verify_signature())

    def test_amounts_are_read_from_strings_and_numbers_only_in_canonical_form(self):
        body = VECTORS["transfers"][0]["transfer"]
        as_number = dict(body, amount=int(body["amount"]))
        self.assertEqual(Transfer.from_json(as_number), Transfer.from_json(body))
        for bad in ["0250", "-1", "2.5", "18446744073709551616", True]:
            with self.assertRaises(ValueError):
                Transfer.from_json(dict(body, amount=bad))

    def test_zero_nonce_and_zero_amount_are_refused_before_signing(self):
        t = Transfer.from_json(VECTORS["transfers"][0]["transfer"])
        key = KEYS[t.sender]
        for bad in [dict(nonce=0), dict(amount=0)]:
            with self.assertRaises(ValueError):
                Transfer(**{**t.__dict__, **bad}).sign(key)


class Blocks(unittest.TestCase):
    def setUp(self):
        self.b = VECTORS["block"]
        self.genesis = Genesis.from_toml(self.b["genesis"]["toml"])

    def test_genesis_hash_is_of_the_binary_encoding(self):
        self.assertEqual(self.genesis.to_bytes().hex(), self.b["genesis"]["bytes"])
        self.assertEqual(self.genesis.hash().hex(), self.b["genesis"]["hash"])
        self.assertEqual(self.b["response"]["block"]["prev_hash"], self.b["genesis"]["hash"])

    def test_block_digests_and_hash(self):
        block = self.b["response"]["block"]
        transfers = [SignedTransfer.from_json(t) for t in block["transfers"]]
        self.assertEqual([t.request_digest().hex() for t in transfers], self.b["request_digests"])
        self.assertEqual(batch_digest(transfers).hex(), self.b["batch_digest"])
        self.assertEqual(receipts_digest(block["receipts"]).hex(), self.b["receipts_digest"])
        self.assertEqual(block_hash(block).hex(), self.b["hash"])
        self.assertEqual(self.b["response"]["hash"], self.b["hash"])

    def test_commit_certificate(self):
        cert_vector = self.b["certificate"]
        cert = CommitCertificate.decode(bytes.fromhex(cert_vector["bytes"]))
        self.assertEqual((cert.view, cert.seq, cert.digest.hex()),
                         (cert_vector["view"], cert_vector["seq"], cert_vector["digest"]))
        self.assertEqual(quorum(len(self.genesis.validators)), self.b["quorum"])
        for (replica_id, signature), c in zip(cert.commits, cert_vector["commits"]):
            self.assertEqual(replica_id, c["replica_id"])
            self.assertEqual(signature.hex(), c["signature"])
            signed = commit_signed_bytes(replica_id, cert.view, cert.seq, cert.digest)
            self.assertEqual(signed.hex(), c["signed_bytes"])
            self.assertEqual(encode_address(self.genesis.validators[replica_id]), c["validator"])
        cert.verify(self.genesis.validators)
        verify_certified_block(self.genesis.validators, self.b["response"])

    def test_every_transfer_of_the_block_verifies_as_final(self):
        block = self.b["response"]["block"]
        for position, t in enumerate(block["transfers"]):
            answer = self._transfer_answer(position)
            tid = SignedTransfer.from_json(t).id()
            verify_committed_transfer(self.genesis.validators, tid, answer, self.b["response"])

    def _transfer_answer(self, position: int) -> dict:
        block = self.b["response"]["block"]
        return {
            "id": SignedTransfer.from_json(block["transfers"][position]).id().hex(),
            "status": "committed",
            "committed": {
                "transfer": block["transfers"][position],
                "height": block["height"],
                "position": position,
                "receipt": block["receipts"][position],
                "block_hash": self.b["hash"],
                "batch_digest": block["batch_digest"],
                "certificate": self.b["response"]["certificate"],
            },
        }

    def test_tampering_is_caught(self):
        import copy

        validators = self.genesis.validators
        tid = SignedTransfer.from_json(self.b["response"]["block"]["transfers"][0]).id()

        def refused(response, answer=None, validators=validators):
            with self.assertRaises(ProofError):
                verify_committed_transfer(validators, tid, answer or self._transfer_answer(0), response)

        r = copy.deepcopy(self.b["response"])
        r["block"]["transfers"][0]["transfer"]["amount"] = "251"
        refused(r)
        r = copy.deepcopy(self.b["response"])
        r["block"]["receipts"][0] = {"Rejected": {"Invalid": "ZeroNonce"}}
        refused(r)
        r = copy.deepcopy(self.b["response"])
        r["block"]["state_root"] = "00" * 32
        refused(r)
        # Too few signers: drop the last commit.
        cert = CommitCertificate.decode(bytes.fromhex(self.b["response"]["certificate"]))
        short = bytes.fromhex(self.b["response"]["certificate"])
        short = short[: 1 + len(varint(cert.view)) + len(varint(cert.seq)) + 33]
        short += varint(2) + b"".join(varint(i) + b"\x40" + s for i, s in cert.commits[:2])
        r = copy.deepcopy(self.b["response"])
        r["certificate"] = short.hex()
        refused(r)
        # Another validator set: the certificate's signers are not its validators.
        refused(copy.deepcopy(self.b["response"]), validators=list(reversed(validators)))
        # A receipt claimed for the transfer that the block does not hold.
        answer = self._transfer_answer(0)
        answer["committed"]["receipt"] = {"Rejected": {"NonceGap": {"expected": "1", "got": "2"}}}
        refused(copy.deepcopy(self.b["response"]), answer)


class StateTree(unittest.TestCase):
    """The state root and account proofs of PROTOCOL.md §6, written from the text alone."""

    def setUp(self):
        self.t = VECTORS["state_tree"]
        self.b = VECTORS["block"]
        self.genesis = Genesis.from_toml(self.b["genesis"]["toml"])

    def test_root_and_leaves(self):
        records = [(bytes.fromhex(a["public_key"]), int(a["balance"]), int(a["nonce"])) for a in self.t["accounts"]]
        for (k, b, n), a in zip(records, self.t["accounts"]):
            self.assertEqual(path_of(k).hex(), a["path"])
            self.assertEqual(leaf_hash(k, b, n).hex(), a["leaf_hash"])
        self.assertEqual(state_root(records).hex(), self.t["state_root"])
        self.assertEqual(state_root([]).hex(), self.t["empty_state_root"])
        # An account whose record is (0, 0) is not stored: it does not change the root.
        self.assertEqual(state_root(records + [(b"\x07" * 32, 0, 0)]).hex(), self.t["state_root"])

    def test_every_kind_of_merkle_proof_verifies_and_tampering_fails(self):
        root = bytes.fromhex(self.t["state_root"])
        kinds = set()
        for p in self.t["proofs"]:
            key = bytes.fromhex(p["public_key"])
            siblings = [bytes.fromhex(s) for s in p["siblings"]]
            balance, nonce = int(p["balance"]), int(p["nonce"])
            verify_merkle_proof(root, key, balance, nonce, siblings, p["terminal"])
            kinds.add(p["terminal"]["kind"])
            with self.assertRaises(ProofError):
                verify_merkle_proof(root, key, balance + 1, nonce, siblings, p["terminal"])
            with self.assertRaises(ProofError):
                bad = [siblings[0][:-1] + bytes([siblings[0][-1] ^ 1])] + siblings[1:]
                verify_merkle_proof(root, key, balance, nonce, bad, p["terminal"])
        self.assertEqual(kinds, {"account", "empty", "other_account"})

    def test_the_account_proof_at_a_checkpoint_verifies(self):
        import copy

        v = self.b["account_proof"]
        key = decode_address(v["address"])
        cert = CheckpointCertificate.decode(bytes.fromhex(v["proof"]["checkpoint_certificate"]))
        for (replica_id, _), signed in zip(cert.signatures, v["checkpoint_signed_bytes"]):
            self.assertEqual(checkpoint_signed_bytes(replica_id, cert.seq, cert.digest).hex(), signed)
        verified = verify_account_proof(self.genesis.validators, key, v["proof"])
        self.assertEqual((verified.height, verified.balance), (1, int(v["proof"]["balance"])))

        def refused(proof, validators=self.genesis.validators):
            with self.assertRaises(ValueError):
                verify_account_proof(validators, key, proof)

        p = copy.deepcopy(v["proof"])
        p["balance"] = str(int(p["balance"]) + 1)
        refused(p)
        p = copy.deepcopy(v["proof"])
        p["header"]["state_root"] = "00" * 32
        refused(p)
        p = copy.deepcopy(v["proof"])
        p["height"] = 2
        refused(p)
        refused(copy.deepcopy(v["proof"]), validators=list(reversed(self.genesis.validators)))
        # Two of the three signatures: below the quorum.
        short = CheckpointCertificate(cert.seq, cert.digest, cert.signatures[:2])
        p = copy.deepcopy(v["proof"])
        p["checkpoint_certificate"] = (
            b"\x01" + varint(short.seq) + b"\x20" + short.digest + varint(2)
            + b"".join(varint(i) + b"\x40" + s for i, s in short.signatures)
        ).hex()
        refused(p)


if __name__ == "__main__":
    unittest.main()
