// The state root and account proofs (docs/PROTOCOL.md §6): the root recomputed from accounts, and
// the local check of GET /v1/accounts/{address}?proof=true against a genesis.
import { concatBytes, hexToBytes, utf8ToBytes } from "@noble/hashes/utils.js";
import { headerHash } from "./block.js";
import { Reader, equalBytes, sha256, u64be, varint } from "./encoding.js";
import { ProofError, verifyQuorum } from "./certificate.js";
import { parseU64 } from "./transfer.js";

const LEAF_TAG = utf8ToBytes("bftledger/state/leaf/v2");
const NODE_TAG = utf8ToBytes("bftledger/state/node/v2");
const EMPTY = new Uint8Array(32);
const PATH_BITS = 256;
const CHECKPOINT_KIND = 3;

/** Where an account sits in the tree: SHA-256 of its public key. */
export function pathOf(key: Uint8Array): Uint8Array {
  return sha256(key);
}

/** Bit `depth` of a path, the most significant bit of byte 0 first. */
function bit(path: Uint8Array, depth: number): number {
  return (path[depth >> 3] >> (7 - (depth & 7))) & 1;
}

export function leafHash(key: Uint8Array, balance: bigint, nonce: bigint): Uint8Array {
  return sha256(concatBytes(LEAF_TAG, key, u64be(balance), u64be(nonce)));
}

function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(concatBytes(NODE_TAG, left, right));
}

const compare = (a: Uint8Array, b: Uint8Array): number => {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
};

/** The state root of [public key, balance, nonce] records; (0, 0) records are not stored. */
export function stateRoot(accounts: [Uint8Array, bigint, bigint][]): Uint8Array {
  const leaves = accounts
    .filter(([, b, n]) => b !== 0n || n !== 0n)
    .map(([k, b, n]) => [pathOf(k), leafHash(k, b, n)] as const)
    .sort((x, y) => compare(x[0], y[0]));
  const subtree = (depth: number, items: (readonly [Uint8Array, Uint8Array])[]): Uint8Array => {
    if (items.length === 0) return EMPTY;
    if (items.length === 1) return items[0][1];
    let split = items.findIndex(([p]) => bit(p, depth) === 1);
    if (split < 0) split = items.length;
    return nodeHash(subtree(depth + 1, items.slice(0, split)), subtree(depth + 1, items.slice(split)));
  };
  return subtree(0, leaves);
}

export interface Terminal {
  kind: "account" | "empty" | "other_account";
  key?: string;
  balance?: string;
  nonce?: string;
}

/** Throws ProofError unless under `root` account `key` has (balance, nonce), where (0, 0) means
 * the account does not exist (rules 3 and 4 of §6). */
export function verifyMerkleProof(
  root: Uint8Array, key: Uint8Array, balance: bigint, nonce: bigint, siblings: Uint8Array[], terminal: Terminal,
): void {
  if (siblings.length > PATH_BITS) throw new ProofError(`${siblings.length} siblings; a path has ${PATH_BITS} bits`);
  const path = pathOf(key);
  const absent = balance === 0n && nonce === 0n;
  let h: Uint8Array;
  if (terminal.kind === "account" && !absent) h = leafHash(key, balance, nonce);
  else if (terminal.kind === "empty" && absent) h = EMPTY;
  else if (terminal.kind === "other_account" && absent) {
    const other = hexToBytes(terminal.key ?? "");
    const ob = parseU64(terminal.balance), on = parseU64(terminal.nonce);
    const otherPath = pathOf(other);
    const misplaced = other.length !== 32 || equalBytes(other, key) || (ob === 0n && on === 0n)
      || siblings.some((_, d) => bit(otherPath, d) !== bit(path, d));
    if (misplaced) throw new ProofError("the other account cannot sit where the proof puts it");
    h = leafHash(other, ob, on);
  } else throw new ProofError(`terminal ${terminal.kind} does not fit the claimed record`);
  for (let d = siblings.length - 1; d >= 0; d--) h = bit(path, d) ? nodeHash(siblings[d], h) : nodeHash(h, siblings[d]);
  if (!equalBytes(h, root)) throw new ProofError("the proof does not lead to the state root");
}

/** What validator `replicaId` signs (after the consensus tag) for CHECKPOINT(seq, digest). */
export function checkpointSignedBytes(replicaId: number, seq: bigint, blockHash: Uint8Array): Uint8Array {
  return concatBytes(varint(replicaId), Uint8Array.of(CHECKPOINT_KIND), varint(seq), Uint8Array.of(0x20), blockHash);
}

export class CheckpointCertificate {
  constructor(readonly seq: bigint, readonly digest: Uint8Array, readonly signatures: [number, Uint8Array][]) {}

  static decode(data: Uint8Array): CheckpointCertificate {
    const r = new Reader(data);
    if (r.byte() !== 1) throw new ProofError("unknown checkpoint certificate version");
    const seq = r.varint();
    const digest = r.fixedBytes(32);
    const count = Number(r.varint());
    const signatures: [number, Uint8Array][] = [];
    for (let i = 0; i < count; i++) signatures.push([Number(r.varint(32)), r.fixedBytes(64)]);
    r.finish();
    return new CheckpointCertificate(seq, digest, signatures);
  }

  /** Throws ProofError unless a quorum of distinct validators signed and every signature is valid. */
  verify(validators: Uint8Array[]): void {
    verifyQuorum(validators, this.signatures, (id) => checkpointSignedBytes(id, this.seq, this.digest));
  }
}

export interface AccountProofJson {
  height: number;
  balance: string;
  nonce: string;
  header: { height: number; prev_hash: string; batch_digest: string; receipts_digest: string; state_root: string };
  checkpoint_certificate: string;
  siblings: string[];
  terminal: Terminal;
}

/** Checks the `proof` field of GET /v1/accounts/{address}?proof=true for public key `key`
 * against the genesis validators (rules 1-4 of §6); returns what it proves. */
export function verifyAccountProof(
  validators: Uint8Array[], key: Uint8Array, proof: AccountProofJson,
): { height: number; balance: bigint; nonce: bigint; stateRoot: Uint8Array } {
  const cert = CheckpointCertificate.decode(hexToBytes(proof.checkpoint_certificate));
  const header = proof.header;
  if (cert.seq === 0n) throw new ProofError("a certificate for height 0 proves nothing");
  if (cert.seq !== BigInt(proof.height) || BigInt(header.height) !== BigInt(proof.height))
    throw new ProofError(`heights disagree: ${proof.height}, certificate ${cert.seq}, header ${header.height}`);
  cert.verify(validators);
  const root = hexToBytes(header.state_root);
  const served = headerHash(
    header.height, hexToBytes(header.prev_hash), hexToBytes(header.batch_digest), hexToBytes(header.receipts_digest), root,
  );
  if (!equalBytes(served, cert.digest)) throw new ProofError("the validators signed another block than the served header");
  const balance = parseU64(proof.balance), nonce = parseU64(proof.nonce);
  verifyMerkleProof(root, key, balance, nonce, proof.siblings.map((s) => hexToBytes(s)), proof.terminal);
  return { height: proof.height, balance, nonce, stateRoot: root };
}
