// bftledger client, written from docs/PROTOCOL.md: keys and addresses, signed transfers,
// submission and finality, and local verification of commit certificates and account proofs
// against a genesis.
export { AddressError, decodeAddress, encodeAddress } from "./address.js";
export { batchDigest, blockHash, headerHash, receiptBytes, receiptsDigest } from "./block.js";
export type { BlockJson } from "./block.js";
export {
  CommitCertificate, ProofError, commitSignedBytes, quorum, verifyCertifiedBlock, verifyCommittedTransfer,
} from "./certificate.js";
export type { BlockResponse } from "./certificate.js";
export { ApiError, Client, TransferFailed } from "./client.js";
export type { Account } from "./client.js";
export { DecodeError, Reader, varint } from "./encoding.js";
export { Genesis } from "./genesis.js";
export { CONSENSUS_TAG, Key, KeyFileError, TRANSFER_TAG, parseKeyFile, renderKeyFile, verify } from "./keys.js";
export {
  CheckpointCertificate, checkpointSignedBytes, leafHash, pathOf, stateRoot, verifyAccountProof, verifyMerkleProof,
} from "./state.js";
export type { AccountProofJson, Terminal } from "./state.js";
export { SignedTransfer, Transfer, binaryBatchBody, parseU64 } from "./transfer.js";
export type { SignedTransferJson, TransferJson } from "./transfer.js";
