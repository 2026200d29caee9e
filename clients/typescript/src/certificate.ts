// Commit certificates and the local check that a transfer is final (docs/PROTOCOL.md §5.1).
import { bytesToHex, concatBytes, hexToBytes } from "@noble/hashes/utils.js";
import { BlockJson, batchDigest, blockHash, receiptBytes } from "./block.js";
import { Reader, equalBytes, varint } from "./encoding.js";
import { CONSENSUS_TAG, verify } from "./keys.js";
import { SignedTransfer } from "./transfer.js";

const COMMIT_KIND = 2;

/** A certificate or a proof that does not verify; the message says which rule failed. */
export class ProofError extends Error {}

/** Signatures a certificate needs among n validators: ceil((n + f + 1) / 2), f = floor((n - 1) / 3). */
export function quorum(n: number): number {
  const f = Math.floor((n - 1) / 3);
  return Math.ceil((n + f + 1) / 2);
}

/** What validator `replicaId` signs (after the consensus tag) for COMMIT(view, seq, digest). */
export function commitSignedBytes(replicaId: number, view: bigint, seq: bigint, digest: Uint8Array): Uint8Array {
  return concatBytes(varint(replicaId), Uint8Array.of(COMMIT_KIND), varint(view), varint(seq), Uint8Array.of(0x20), digest);
}

export class CommitCertificate {
  constructor(
    readonly view: bigint,
    readonly seq: bigint,
    readonly digest: Uint8Array,
    readonly commits: [number, Uint8Array][],
  ) {}

  static decode(data: Uint8Array): CommitCertificate {
    const r = new Reader(data);
    if (r.byte() !== 1) throw new ProofError("unknown certificate version");
    const view = r.varint();
    const seq = r.varint();
    const digest = r.fixedBytes(32);
    const count = Number(r.varint());
    const commits: [number, Uint8Array][] = [];
    for (let i = 0; i < count; i++) commits.push([Number(r.varint(32)), r.fixedBytes(64)]);
    r.finish();
    return new CommitCertificate(view, seq, digest, commits);
  }

  /** Throws ProofError unless a quorum of distinct validators signed and every signature is
   * valid (as the node requires). */
  verify(validators: Uint8Array[]): void {
    verifyQuorum(validators, this.commits, (id) => commitSignedBytes(id, this.view, this.seq, this.digest));
  }
}

/** Throws ProofError unless `signatures` come from a quorum of distinct validators and every one
 * verifies over `consensus tag || signedBytes(replicaId)` (the rule of every certificate). */
export function verifyQuorum(
  validators: Uint8Array[], signatures: [number, Uint8Array][], signedBytes: (replicaId: number) => Uint8Array,
): void {
  const seen = new Set<number>();
  for (const [id] of signatures) {
    if (id >= validators.length) throw new ProofError(`replica ${id} is not a validator`);
    if (seen.has(id)) throw new ProofError(`replica ${id} signed twice`);
    seen.add(id);
  }
  const need = quorum(validators.length);
  if (signatures.length < need) throw new ProofError(`${signatures.length} signers, ${need} needed`);
  for (const [id, signature] of signatures) {
    if (!verify(validators[id], CONSENSUS_TAG, signedBytes(id), signature))
      throw new ProofError(`signature of replica ${id} does not verify`);
  }
}

export interface BlockResponse {
  hash: string;
  block: BlockJson;
  certificate: string;
}

/** Checks a GET /v1/blocks/{height} answer: certificate, height, batch digest, block hash. */
export function verifyCertifiedBlock(validators: Uint8Array[], response: BlockResponse): CommitCertificate {
  const block = response.block;
  const cert = CommitCertificate.decode(hexToBytes(response.certificate));
  cert.verify(validators);
  if (cert.seq !== BigInt(block.height))
    throw new ProofError(`the certificate is for seq ${cert.seq}, the block is at ${block.height}`);
  const computed = batchDigest(block.transfers.map(SignedTransfer.fromJson));
  if (!equalBytes(computed, cert.digest) || block.batch_digest !== bytesToHex(cert.digest))
    throw new ProofError("the block's transfers are not the certified batch");
  if (bytesToHex(blockHash(block)) !== response.hash)
    throw new ProofError("the served block hash is not the hash of the served block");
  return cert;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TransferResponse = any;

/** Checks that transfer `transferId` is final: GET /v1/transfers/{id} and GET /v1/blocks/{height}
 * answers against the genesis validators (rules 1-6 of §5.1). */
export function verifyCommittedTransfer(
  validators: Uint8Array[],
  transferId: Uint8Array,
  answer: TransferResponse,
  blockResponse: BlockResponse,
): CommitCertificate {
  const committed = answer?.committed;
  if (!committed) throw new ProofError(`transfer is ${answer?.status}, not in a block`);
  const cert = verifyCertifiedBlock(validators, blockResponse);
  const block = blockResponse.block;
  if (Number(committed.height) !== block.height) throw new ProofError("the transfer's height is not the block's");
  if (committed.block_hash !== blockResponse.hash) throw new ProofError("the transfer's block hash is not the block's");
  const position = Number(committed.position);
  if (!(position >= 0 && position < block.transfers.length)) throw new ProofError(`no transfer at position ${position}`);
  const inBlock = SignedTransfer.fromJson(block.transfers[position]);
  const claimed = SignedTransfer.fromJson(committed.transfer);
  if (!equalBytes(inBlock.id(), transferId) || !equalBytes(inBlock.toBytes(), claimed.toBytes()))
    throw new ProofError(`the block does not hold this transfer at position ${position}`);
  if (!equalBytes(receiptBytes(block.receipts[position]), receiptBytes(committed.receipt)))
    throw new ProofError("the block holds another receipt for this transfer");
  return cert;
}
