// The HTTP client: submit, wait for finality, balance, and verified finality (node/openapi.yaml).
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { decodeAddress } from "./address.js";
import { BlockResponse, CommitCertificate, TransferResponse, verifyCommittedTransfer } from "./certificate.js";
import { Genesis } from "./genesis.js";
import { Key } from "./keys.js";
import { verifyAccountProof } from "./state.js";
import { SignedTransfer, Transfer, binaryBatchBody, parseU64 } from "./transfer.js";

/** An error answer of the node: {"error": {"code", "message"}} with its HTTP status. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(`${status} ${code}: ${message}`);
  }
}

/** The transfer will not be applied: rejected in a block, or dropped before ordering. */
export class TransferFailed extends Error {
  constructor(readonly status: string, readonly detail: unknown) {
    super(`transfer ${status}: ${JSON.stringify(detail)}`);
  }
}

export interface Account {
  address: string;
  balance: bigint;
  nonce: bigint;
  next_nonce: bigint;
  height: number;
}

export class Client {
  constructor(readonly baseUrl = "http://127.0.0.1:26700", readonly timeoutMs = 10_000) {}

  /** `body` goes as JSON, a Uint8Array as application/octet-stream (the binary batch form). */
  private async request(method: string, path: string, body?: unknown): Promise<string> {
    const binary = body instanceof Uint8Array;
    const response = await fetch(this.baseUrl.replace(/\/$/, "") + path, {
      method,
      headers:
        body === undefined ? {} : { "Content-Type": binary ? "application/octet-stream" : "application/json" },
      body: body === undefined ? undefined : binary ? new Blob([body as Uint8Array<ArrayBuffer>]) : JSON.stringify(body),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await response.text();
    if (!response.ok) {
      let error: { code: string; message: string } | undefined;
      try {
        error = JSON.parse(text).error;
      } catch {
        error = undefined;
      }
      throw new ApiError(response.status, error?.code ?? "http_error", error?.message ?? text);
    }
    return text;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private async json(method: string, path: string, body?: unknown): Promise<any> {
    return JSON.parse(await this.request(method, path, body));
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  status(): Promise<any> {
    return this.json("GET", "/v1/status");
  }

  async genesis(): Promise<Genesis> {
    return Genesis.fromToml(await this.request("GET", "/v1/genesis"));
  }

  /** The account (the zero account for an address never used); u64 fields as bigints. */
  async account(address: string): Promise<Account> {
    const a = await this.json("GET", `/v1/accounts/${address}`);
    return { ...a, balance: parseU64(a.balance), nonce: parseU64(a.nonce), next_nonce: parseU64(a.next_nonce) };
  }

  async balance(address: string): Promise<bigint> {
    return (await this.account(address)).balance;
  }

  /** Submits; resolves to the transfer id (202), rejects with ApiError on refusal. */
  async submit(signed: SignedTransfer): Promise<Uint8Array> {
    return hexToBytes((await this.json("POST", "/v1/transfers", signed.toJson())).id);
  }

  /** Submits a batch (the binary form unless `binary` is false); one result per transfer, in
   * order. Rejects with ApiError when the whole batch is refused (its size, its encoding). */
  async submitBatch(
    transfers: SignedTransfer[],
    binary = true,
  ): Promise<{ id: Uint8Array; error: { code: string; message: string } | null }[]> {
    const body = binary ? binaryBatchBody(transfers) : { transfers: transfers.map((t) => t.toJson()) };
    const answer = await this.json("POST", "/v1/transfers/batch", body);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return answer.results.map((r: any) => ({ id: hexToBytes(r.id), error: r.error ?? null }));
  }

  /** Signs a transfer from `key` with its next nonce, and submits it. */
  async transfer(key: Key, to: string, amount: bigint, chainId: string, memo: string | null = null): Promise<SignedTransfer> {
    const nonce = (await this.account(key.address)).next_nonce;
    const signed = new Transfer(chainId, key.publicKey, decodeAddress(to), amount, nonce, memo).sign(key);
    await this.submit(signed);
    return signed;
  }

  getTransfer(id: Uint8Array): Promise<TransferResponse> {
    return this.json("GET", `/v1/transfers/${bytesToHex(id)}`);
  }

  block(height: number): Promise<BlockResponse> {
    return this.json("GET", `/v1/blocks/${height}`);
  }

  /** Waits until the transfer is in a block; resolves to GET /v1/transfers/{id} if applied,
   * rejects with TransferFailed if rejected or dropped. */
  async wait(id: Uint8Array, timeoutMs = 30_000, pollMs = 100): Promise<TransferResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const answer = await this.getTransfer(id);
      if (answer.status === "committed") return answer;
      if (answer.status === "rejected") throw new TransferFailed("rejected", answer.committed.receipt);
      if (answer.status === "dropped") throw new TransferFailed("dropped", answer.dropped);
      if (Date.now() > deadline) throw new Error(`transfer ${bytesToHex(id)} still ${answer.status}`);
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  /** Fetches the transfer and its block and verifies the commit certificate locally against
   * `genesis` (which the caller trusts, e.g. by its hash). */
  /** Fetches the account's proof at the stable checkpoint and verifies it locally against
   * `genesis` (PROTOCOL.md §6); returns the proven height, balance, nonce and state root. */
  async verifiedAccount(address: string, genesis: Genesis): Promise<ReturnType<typeof verifyAccountProof>> {
    const a = await this.json("GET", `/v1/accounts/${address}?proof=true`);
    return verifyAccountProof(genesis.validators, decodeAddress(address), a.proof);
  }

  async verifyFinal(id: Uint8Array, genesis: Genesis): Promise<CommitCertificate> {
    const answer = await this.getTransfer(id);
    if (!answer.committed) throw new TransferFailed(answer.status, "not in a block yet");
    const block = await this.block(Number(answer.committed.height));
    return verifyCommittedTransfer(genesis.validators, id, answer, block);
  }
}
