"""bftledger client, written from docs/PROTOCOL.md: keys and addresses, signed transfers,
submission and finality, and local verification of commit certificates and account proofs
against a genesis."""

from .address import AddressError
from .address import decode as decode_address
from .address import encode as encode_address
from .block import batch_digest, block_hash, receipts_digest
from .certificate import CommitCertificate, ProofError, quorum, verify_certified_block, verify_committed_transfer
from .client import ApiError, Client, TransferFailed
from .genesis import Genesis
from .keys import Key, KeyFileError, load_key_file, parse_key_file, render_key_file, write_key_file
from .state import CheckpointCertificate, VerifiedAccount, state_root, verify_account_proof
from .transfer import SignedTransfer, Transfer, binary_batch_body, parse_u64

__all__ = [
    "AddressError", "ApiError", "CheckpointCertificate", "Client", "CommitCertificate", "Genesis",
    "Key", "KeyFileError", "VerifiedAccount", "state_root", "verify_account_proof",
    "ProofError", "SignedTransfer", "Transfer", "TransferFailed", "batch_digest",
    "binary_batch_body", "block_hash",
    "decode_address", "encode_address", "load_key_file", "parse_key_file", "parse_u64", "quorum",
    "receipts_digest", "render_key_file", "verify_certified_block", "verify_committed_transfer",
    "write_key_file",
]
