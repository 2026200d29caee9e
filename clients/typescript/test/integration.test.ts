// The client against a real local testnet (run by clients/typescript/test.sh --integration).
// Needs BFTLEDGER_NODE (a node's API URL) and BFTLEDGER_TESTNET_DIR (what `bftledger testnet init`
// wrote: genesis.toml and funded accounts/account-*.key); skipped without them.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { bytesToHex } from "@noble/hashes/utils.js";
import { ApiError, Client, Genesis, Key, ProofError, Transfer, parseKeyFile } from "../src/index.js";

const NODE = process.env.BFTLEDGER_NODE;
const DIR = process.env.BFTLEDGER_TESTNET_DIR;

describe("against a testnet", { skip: !(NODE && DIR) && "set BFTLEDGER_NODE and BFTLEDGER_TESTNET_DIR" }, () => {
  const client = new Client(NODE);
  const genesis = DIR ? Genesis.fromToml(readFileSync(join(DIR, "genesis.toml"), "utf8")) : undefined!;
  const sender = DIR ? parseKeyFile(readFileSync(join(DIR, "accounts", "account-1.key"), "utf8")) : undefined!;

  it("the node is on the genesis we hold", async () => {
    assert.equal((await client.status()).genesis_hash, bytesToHex(genesis.hash()));
    assert.equal(bytesToHex((await client.genesis()).hash()), bytesToHex(genesis.hash()));
  });

  it("a signed transfer commits and its certificate verifies locally", async () => {
    const recipient = Key.generate();
    assert.equal((await client.account(recipient.address)).next_nonce, 1n);
    const before = await client.balance(sender.address);
    const signed = await client.transfer(sender, recipient.address, 9n, genesis.chainId, "ts");
    const answer = await client.wait(signed.id());
    assert.equal(answer.committed.receipt, "Applied");
    const cert = await client.verifyFinal(signed.id(), genesis);
    assert.ok(cert.commits.length >= 3);
    assert.equal(await client.balance(recipient.address), 9n);
    assert.equal(await client.balance(sender.address), before - 9n);
    const stranger = new Genesis(genesis.chainId, genesis.validators.map(() => Key.generate().publicKey),
      genesis.validatorAddresses, genesis.balances);
    await assert.rejects(client.verifyFinal(signed.id(), stranger), ProofError);
  });

  it("a balance verifies at the stable checkpoint", async () => {
    const recipient = Key.generate();
    // Enough blocks for a checkpoint to become stable (one every 16 blocks by default).
    for (let i = 0; i < 17; i++) {
      const signed = await client.transfer(sender, recipient.address, 1n, genesis.chainId);
      await client.wait(signed.id());
    }
    const deadline = Date.now() + 30_000;
    let verified;
    for (;;) {
      try {
        verified = await client.verifiedAccount(recipient.address, genesis);
        break;
      } catch (e) {
        if (!(e instanceof ApiError) || e.code !== "proof_unavailable" || Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    assert.ok(verified.height >= 16);
    assert.ok(verified.balance <= 17n); // at the checkpoint, which may trail the transfers
    const stranger = new Genesis(genesis.chainId, genesis.validators.map(() => Key.generate().publicKey),
      genesis.validatorAddresses, genesis.balances);
    await assert.rejects(client.verifiedAccount(recipient.address, stranger), ProofError);
  });

  it("a binary batch commits and each item gets its verdict", async () => {
    const batchSender = parseKeyFile(readFileSync(join(DIR!, "accounts", "account-2.key"), "utf8"));
    const recipient = Key.generate();
    const nonce = (await client.account(batchSender.address)).next_nonce;
    const [first, second] = [nonce, nonce + 1n].map((n) =>
      new Transfer(genesis.chainId, batchSender.publicKey, recipient.publicKey, 4n, n).sign(batchSender));
    const results = await client.submitBatch([first, first, second]);
    assert.deepEqual(results.map((r) => bytesToHex(r.id)), [first, first, second].map((t) => bytesToHex(t.id())));
    assert.deepEqual(results.map((r) => r.error?.code ?? null), [null, "duplicate", null]);
    assert.equal((await client.wait(second.id())).committed.receipt, "Applied");
    assert.equal(await client.balance(recipient.address), 8n);
    // The JSON form gets the same verdicts: both nonces are used now.
    const again = await client.submitBatch([first, second], false);
    assert.deepEqual(again.map((r) => r.error?.code), ["already_committed", "already_committed"]);
  });

  it("refusals come back as typed errors", async () => {
    const recipient = Key.generate();
    const wrongChain = new Transfer("another-chain", sender.publicKey, recipient.publicKey, 1n,
      (await client.account(sender.address)).next_nonce);
    await assert.rejects(client.submit(wrongChain.sign(sender)),
      (e: unknown) => e instanceof ApiError && e.status === 400 && e.code === "wrong_chain_id");
  });
});
