"""Ed25519 keys, domain-separated signatures, and key files (docs/PROTOCOL.md §1.3, §2.2)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import nacl.exceptions
import nacl.signing

from . import address

TRANSFER_TAG = b"bftledger/transfer/v1\x00"
CONSENSUS_TAG = b"bftledger/consensus/v1\x00"

_KEY_LINE = "ed25519-secret-key:"
_ADDRESS_LINE = "# address:"
MAX_KEY_FILE_BYTES = 4096


class KeyFileError(ValueError):
    """A key file that cannot be used."""


class Key:
    """A secret key (its 32-byte seed) with its public key and address."""

    def __init__(self, seed: bytes):
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        self._signing = nacl.signing.SigningKey(seed)

    @classmethod
    def generate(cls) -> "Key":
        return cls(os.urandom(32))

    @property
    def seed(self) -> bytes:
        return bytes(self._signing)

    @property
    def public_key(self) -> bytes:
        return bytes(self._signing.verify_key)

    @property
    def address(self) -> str:
        return address.encode(self.public_key)

    def sign(self, tag: bytes, message: bytes) -> bytes:
        """The 64-byte signature of tag || message."""
        return self._signing.sign(tag + message).signature


def verify(public_key: bytes, tag: bytes, message: bytes, signature: bytes) -> bool:
    """Whether `signature` is valid for tag || message under `public_key` (libsodium's strict
    verification; see docs/PROTOCOL.md §1.3 for how it relates to the node's rule)."""
    if len(signature) != 64 or len(public_key) != 32:
        return False
    try:
        nacl.signing.VerifyKey(public_key).verify(tag + message, signature)
        return True
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False


def render_key_file(key: Key) -> str:
    return (
        "# bftledger secret key. Keep it private: anyone holding this file can sign as its owner.\n"
        f"{_ADDRESS_LINE} {key.address}\n"
        f"{_KEY_LINE} {key.seed.hex()}\n"
    )


def parse_key_file(text: str) -> Key:
    key: Key | None = None
    claimed: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith(_ADDRESS_LINE):
            claimed = line[len(_ADDRESS_LINE) :].strip()
        elif not line or line.startswith("#"):
            continue
        elif line.startswith(_KEY_LINE):
            if key is not None:
                raise KeyFileError(f"line {number}: a second '{_KEY_LINE}' line")
            seed_hex = line[len(_KEY_LINE) :].strip()
            try:
                seed = bytes.fromhex(seed_hex)
            except ValueError:
                seed = b""
            if len(seed) != 32:
                raise KeyFileError(f"line {number}: the key must be 64 hex characters")
            key = Key(seed)
        else:
            raise KeyFileError(f"line {number}: expected a comment or '{_KEY_LINE} <hex>'")
    if key is None:
        raise KeyFileError(f"no '{_KEY_LINE}' line")
    if claimed is not None and claimed != key.address:
        raise KeyFileError(f"its address line says {claimed}, the key's address is {key.address}")
    return key


def load_key_file(path: str | Path) -> Key:
    """Reads a key file, refusing one that group or others may access (as the node's CLI does)."""
    path = Path(path)
    info = path.stat()
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"{path} is accessible by other users; run: chmod 600 {path}")
    if info.st_size > MAX_KEY_FILE_BYTES:
        raise KeyFileError(f"{path} is larger than {MAX_KEY_FILE_BYTES} bytes")
    return parse_key_file(path.read_text(encoding="utf-8"))


def write_key_file(path: str | Path, key: Key) -> None:
    """Writes a new key file with mode 0600; never replaces an existing file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(render_key_file(key))
        f.flush()
        os.fsync(f.fileno())
