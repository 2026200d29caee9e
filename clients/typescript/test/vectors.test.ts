// The client against docs/test-vectors.json, which the node generates from its own code.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { bytesToHex, concatBytes, hexToBytes } from "@noble/hashes/utils.js";
import {
  AddressError, CONSENSUS_TAG, CommitCertificate, DecodeError, Genesis, Key, ProofError, Reader, SignedTransfer,
  TRANSFER_TAG, Transfer, batchDigest, binaryBatchBody, blockHash, commitSignedBytes, decodeAddress, encodeAddress, parseKeyFile,
  quorum, receiptsDigest, renderKeyFile, varint, verifyCertifiedBlock, verifyCommittedTransfer,
  CheckpointCertificate, checkpointSignedBytes, leafHash, pathOf, stateRoot, verifyAccountProof, verifyMerkleProof,
} from "../src/index.js";

// dist/test/ -> the repository root is four levels up from the compiled file.
const here = dirname(fileURLToPath(import.meta.url));
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const V: any = JSON.parse(readFileSync(join(here, "../../../../docs/test-vectors.json"), "utf8"));
const KEYS = new Map<string, Key>(V.keys.map((k: { seed: string; public_key: string }) => [k.public_key, new Key(hexToBytes(k.seed))]));
const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x));

describe("primitives", () => {
  it("domain tags", () => {
    assert.equal(bytesToHex(TRANSFER_TAG), V.domain_tags.transfer);
    assert.equal(bytesToHex(CONSENSUS_TAG), V.domain_tags.consensus);
  });
  it("varints round-trip and overlong forms are refused", () => {
    for (const [value, hex] of [[0n, "00"], [127n, "7f"], [128n, "8001"], [300n, "ac02"], [(1n << 64n) - 1n, "ffffffffffffffffff01"]] as const) {
      assert.equal(bytesToHex(varint(value)), hex);
      assert.equal(new Reader(hexToBytes(hex)).varint(), value);
    }
    assert.throws(() => new Reader(hexToBytes("8100")).varint(), DecodeError);
    assert.throws(() => new Reader(hexToBytes("ffffffffffffffffff02")).varint(), DecodeError);
  });
  it("keys and addresses", () => {
    for (const k of V.keys) {
      const key = new Key(hexToBytes(k.seed));
      assert.equal(bytesToHex(key.publicKey), k.public_key);
      assert.equal(key.address, k.address);
    }
  });
  it("key files round-trip and bad ones are refused", () => {
    const key = new Key(Uint8Array.from({ length: 32 }, (_, i) => i));
    assert.equal(bytesToHex(parseKeyFile(renderKeyFile(key)).seed), bytesToHex(key.seed));
    const wrongAddress = renderKeyFile(key).replace(key.address, new Key(new Uint8Array(32)).address);
    for (const text of ["", "ed25519-secret-key: 12", wrongAddress, "hello\n"]) assert.throws(() => parseKeyFile(text));
  });
});

describe("addresses", () => {
  it("valid addresses decode to their keys", () => {
    for (const v of V.addresses.valid) {
      assert.equal(bytesToHex(decodeAddress(v.address)), v.public_key);
      assert.equal(encodeAddress(hexToBytes(v.public_key)), v.address.toLowerCase());
    }
  });
  it("invalid addresses are refused for the same reason", () => {
    for (const v of V.addresses.invalid) {
      assert.throws(() => decodeAddress(v.address), (e: unknown) => e instanceof AddressError && e.kind === v.error, v.name);
    }
  });
});

describe("transfers", () => {
  it("every derived value matches", () => {
    for (const v of V.transfers) {
      const t = Transfer.fromJson(v.transfer);
      assert.deepEqual(t.toJson(), v.transfer);
      assert.equal(bytesToHex(t.signingBytes()), v.signing_bytes);
      assert.equal(bytesToHex(concatBytes(TRANSFER_TAG, t.signingBytes())), v.signed_message);
      assert.equal(bytesToHex(t.id()), v.id);
      const signed = t.sign(KEYS.get(bytesToHex(t.sender))!);
      assert.equal(bytesToHex(signed.signature), v.signature);
      assert.deepEqual(signed.toJson(), v.body);
      assert.equal(bytesToHex(signed.toBytes()), v.signed_transfer_bytes);
      assert.equal(bytesToHex(signed.requestDigest()), v.request_digest);
      assert.ok(signed.verifySignature());
    }
  });
  it("the binary batch body matches", () => {
    const signed = V.transfers.map((v: { body: never }) => SignedTransfer.fromJson(v.body));
    assert.deepEqual(V.binary_batch.transfers, V.transfers.map((v: { name: string }) => v.name));
    assert.equal(bytesToHex(binaryBatchBody(signed)), V.binary_batch.body);
  });
  it("a changed field breaks the signature", () => {
    const body = clone(V.transfers[0].body);
    body.transfer.amount = (BigInt(body.transfer.amount) + 1n).toString();
    assert.equal(SignedTransfer.fromJson(body).verifySignature(), false);
  });
  it("amounts are read from canonical strings or safe integers only", () => {
    const body = V.transfers[0].transfer;
    assert.deepEqual(Transfer.fromJson({ ...body, amount: Number(body.amount) }).toJson(), body);
    for (const bad of ["0250", "-1", "2.5", "18446744073709551616", true, 2 ** 60])
      assert.throws(() => Transfer.fromJson({ ...body, amount: bad }));
  });
  it("zero nonce and zero amount are refused before signing", () => {
    const t = Transfer.fromJson(V.transfers[0].transfer);
    const key = KEYS.get(bytesToHex(t.sender))!;
    assert.throws(() => new Transfer(t.chainId, t.sender, t.recipient, t.amount, 0n).sign(key));
    assert.throws(() => new Transfer(t.chainId, t.sender, t.recipient, 0n, t.nonce).sign(key));
  });
});

describe("blocks and certificates", () => {
  const b = V.block;
  const genesis = Genesis.fromToml(b.genesis.toml);
  const answer = (position: number) => {
    const block = b.response.block;
    return {
      status: "committed",
      committed: {
        transfer: block.transfers[position],
        height: block.height,
        position,
        receipt: block.receipts[position],
        block_hash: b.hash,
        batch_digest: block.batch_digest,
        certificate: b.response.certificate,
      },
    };
  };
  const idOf = (position: number) => SignedTransfer.fromJson(b.response.block.transfers[position]).id();

  it("the genesis hash is of the binary encoding", () => {
    assert.equal(bytesToHex(genesis.toBytes()), b.genesis.bytes);
    assert.equal(bytesToHex(genesis.hash()), b.genesis.hash);
    assert.equal(b.response.block.prev_hash, b.genesis.hash);
  });
  it("block digests and hash", () => {
    const block = b.response.block;
    const transfers = block.transfers.map(SignedTransfer.fromJson);
    assert.deepEqual(transfers.map((t: SignedTransfer) => bytesToHex(t.requestDigest())), b.request_digests);
    assert.equal(bytesToHex(batchDigest(transfers)), b.batch_digest);
    assert.equal(bytesToHex(receiptsDigest(block.receipts)), b.receipts_digest);
    assert.equal(bytesToHex(blockHash(block)), b.hash);
  });
  it("the commit certificate", () => {
    const cert = CommitCertificate.decode(hexToBytes(b.certificate.bytes));
    assert.equal(cert.view, BigInt(b.certificate.view));
    assert.equal(cert.seq, BigInt(b.certificate.seq));
    assert.equal(bytesToHex(cert.digest), b.certificate.digest);
    assert.equal(quorum(genesis.validators.length), b.quorum);
    cert.commits.forEach(([id, signature], i) => {
      const c = b.certificate.commits[i];
      assert.equal(id, c.replica_id);
      assert.equal(bytesToHex(signature), c.signature);
      assert.equal(bytesToHex(commitSignedBytes(id, cert.view, cert.seq, cert.digest)), c.signed_bytes);
      assert.equal(encodeAddress(genesis.validators[id]), c.validator);
    });
    cert.verify(genesis.validators);
    verifyCertifiedBlock(genesis.validators, b.response);
  });
  it("every transfer of the block verifies as final", () => {
    b.response.block.transfers.forEach((_: unknown, position: number) =>
      verifyCommittedTransfer(genesis.validators, idOf(position), answer(position), b.response));
  });
  it("tampering is caught", () => {
    const refused = (response: unknown, a = answer(0), validators = genesis.validators) =>
      assert.throws(() => verifyCommittedTransfer(validators, idOf(0), a, response as never), ProofError);
    let r = clone(b.response);
    r.block.transfers[0].transfer.amount = "251";
    refused(r);
    r = clone(b.response);
    r.block.receipts[0] = { Rejected: { Invalid: "ZeroNonce" } };
    refused(r);
    r = clone(b.response);
    r.block.state_root = "00".repeat(32);
    refused(r);
    const cert = CommitCertificate.decode(hexToBytes(b.response.certificate));
    const short = concatBytes(
      Uint8Array.of(1), varint(cert.view), varint(cert.seq), Uint8Array.of(0x20), cert.digest, varint(2),
      ...cert.commits.slice(0, 2).map(([id, s]) => concatBytes(varint(id), Uint8Array.of(0x40), s)),
    );
    r = clone(b.response);
    r.certificate = bytesToHex(short);
    refused(r);
    refused(clone(b.response), answer(0), [...genesis.validators].reverse());
    const a = answer(0);
    (a.committed as { receipt: unknown }).receipt = { Rejected: { NonceGap: { expected: "1", got: "2" } } };
    refused(clone(b.response), a);
  });
});

describe("state root and account proofs", () => {
  const t = V.state_tree;
  const b = V.block;
  const genesis = Genesis.fromToml(b.genesis.toml);
  it("root and leaves", () => {
    const records = t.accounts.map((a: { public_key: string; balance: string; nonce: string }) =>
      [hexToBytes(a.public_key), BigInt(a.balance), BigInt(a.nonce)] as [Uint8Array, bigint, bigint]);
    records.forEach(([k, bal, n]: [Uint8Array, bigint, bigint], i: number) => {
      assert.equal(bytesToHex(pathOf(k)), t.accounts[i].path);
      assert.equal(bytesToHex(leafHash(k, bal, n)), t.accounts[i].leaf_hash);
    });
    assert.equal(bytesToHex(stateRoot(records)), t.state_root);
    assert.equal(bytesToHex(stateRoot([])), t.empty_state_root);
    assert.equal(bytesToHex(stateRoot([...records, [new Uint8Array(32).fill(7), 0n, 0n]])), t.state_root);
  });
  it("every kind of Merkle proof verifies and tampering fails", () => {
    const root = hexToBytes(t.state_root);
    const kinds = new Set<string>();
    for (const p of t.proofs) {
      const key = hexToBytes(p.public_key);
      const siblings = p.siblings.map((s: string) => hexToBytes(s));
      const [bal, n] = [BigInt(p.balance), BigInt(p.nonce)];
      verifyMerkleProof(root, key, bal, n, siblings, p.terminal);
      kinds.add(p.terminal.kind);
      assert.throws(() => verifyMerkleProof(root, key, bal + 1n, n, siblings, p.terminal), ProofError);
      const bad = siblings.map((s: Uint8Array) => s.slice());
      bad[0][31] ^= 1;
      assert.throws(() => verifyMerkleProof(root, key, bal, n, bad, p.terminal), ProofError);
    }
    assert.deepEqual([...kinds].sort(), ["account", "empty", "other_account"]);
  });
  it("the account proof at a checkpoint verifies and tampering fails", () => {
    const v = b.account_proof;
    const key = decodeAddress(v.address);
    const cert = CheckpointCertificate.decode(hexToBytes(v.proof.checkpoint_certificate));
    cert.signatures.forEach(([id], i) =>
      assert.equal(bytesToHex(checkpointSignedBytes(id, cert.seq, cert.digest)), v.checkpoint_signed_bytes[i]));
    const verified = verifyAccountProof(genesis.validators, key, v.proof);
    assert.equal(verified.height, 1);
    assert.equal(verified.balance, BigInt(v.proof.balance));
    const refused = (p: unknown, validators = genesis.validators) =>
      assert.throws(() => verifyAccountProof(validators, key, p as typeof v.proof));
    let p = clone(v.proof);
    p.balance = (BigInt(p.balance) + 1n).toString();
    refused(p);
    p = clone(v.proof);
    p.header.state_root = "00".repeat(32);
    refused(p);
    p = clone(v.proof);
    p.height = 2;
    refused(p);
    refused(clone(v.proof), [...genesis.validators].reverse());
    const short = concatBytes(
      Uint8Array.of(1), varint(cert.seq), Uint8Array.of(0x20), cert.digest, varint(2),
      ...cert.signatures.slice(0, 2).flatMap(([id, s]) => [varint(id), Uint8Array.of(0x40), s]),
    );
    p = clone(v.proof);
    p.checkpoint_certificate = bytesToHex(short);
    refused(p);
  });
});
