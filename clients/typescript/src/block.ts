// Receipts, batch digests and block hashes (docs/PROTOCOL.md §3.5, §4).
import { concatBytes, hexToBytes, utf8ToBytes } from "@noble/hashes/utils.js";
import { hparts, u64be, varint } from "./encoding.js";
import { SignedTransfer, SignedTransferJson, parseU64 } from "./transfer.js";

const RECEIPTS_TAG = utf8ToBytes("bftledger/block/receipts/v1");
const HEADER_TAG = utf8ToBytes("bftledger/block/header/v1");

const TRANSFER_ERRORS = ["BadSignature", "WrongChainId", "ZeroAmount", "SelfTransfer", "MemoTooLong", "ZeroNonce"];
const REASONS: Record<string, [number, string[]]> = {
  NonceReplayed: [1, ["last_used", "got"]],
  NonceGap: [2, ["expected", "got"]],
  InsufficientFunds: [3, ["balance", "amount"]],
  RecipientOverflow: [4, ["balance", "amount"]],
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** The binary receipt for its JSON form ("Applied" or {"Rejected": reason}). */
export function receiptBytes(receipt: Json): Uint8Array {
  if (receipt === "Applied") return Uint8Array.of(0);
  const reason = receipt?.Rejected;
  if (typeof reason !== "object" || reason === null || Object.keys(receipt).length !== 1)
    throw new Error(`not a receipt: ${JSON.stringify(receipt)}`);
  const names = Object.keys(reason);
  if (names.length !== 1) throw new Error(`not a rejection reason: ${JSON.stringify(reason)}`);
  const [name] = names;
  const fields = reason[name];
  if (name === "Invalid") return concatBytes(Uint8Array.of(1, 0), transferErrorBytes(fields));
  if (!(name in REASONS)) throw new Error(`unknown rejection reason ${name}`);
  const [index, fieldNames] = REASONS[name];
  return concatBytes(Uint8Array.of(1, index), ...fieldNames.map((f) => varint(parseU64(fields[f]))));
}

function transferErrorBytes(error: Json): Uint8Array {
  if (typeof error === "string" && error !== "MemoTooLong" && TRANSFER_ERRORS.includes(error))
    return Uint8Array.of(TRANSFER_ERRORS.indexOf(error));
  if (error && typeof error === "object" && "MemoTooLong" in error) {
    const f = error.MemoTooLong;
    return concatBytes(Uint8Array.of(4), varint(f.len_bytes), varint(f.max_bytes));
  }
  throw new Error(`unknown transfer error ${JSON.stringify(error)}`);
}

export function receiptsDigest(receipts: Json[]): Uint8Array {
  return hparts(RECEIPTS_TAG, concatBytes(varint(receipts.length), ...receipts.map(receiptBytes)));
}

/** The consensus digest of the batch of these transfers, in order. */
export function batchDigest(transfers: SignedTransfer[]): Uint8Array {
  return hparts(...transfers.map((t) => t.requestDigest()));
}

export interface BlockJson {
  height: number;
  batch_digest: string;
  prev_hash: string;
  transfers: SignedTransferJson[];
  receipts: Json[];
  state_root: string;
}

/** The block hash over a header's fields (§4.2). */
export function headerHash(
  height: number, prevHash: Uint8Array, batchDigest: Uint8Array, receiptsDigest: Uint8Array, stateRoot: Uint8Array,
): Uint8Array {
  return hparts(HEADER_TAG, u64be(height), prevHash, batchDigest, receiptsDigest, stateRoot);
}

/** The hash of a block in its JSON form (`block` of GET /v1/blocks/{height}). */
export function blockHash(block: BlockJson): Uint8Array {
  return headerHash(
    block.height,
    hexToBytes(block.prev_hash),
    hexToBytes(block.batch_digest),
    receiptsDigest(block.receipts),
    hexToBytes(block.state_root),
  );
}
