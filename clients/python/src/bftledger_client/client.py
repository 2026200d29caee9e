"""The HTTP client: submit, wait for finality, balance, and verified finality (node/openapi.yaml)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from . import address
from .certificate import verify_committed_transfer
from .state import verify_account_proof
from .genesis import Genesis
from .keys import Key
from .transfer import SignedTransfer, Transfer, binary_batch_body, parse_u64


class ApiError(Exception):
    """An error answer of the node: `{"error": {"code", "message"}}` with its HTTP status."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class TransferFailed(Exception):
    """The transfer will not be applied: rejected in a block, or dropped before ordering."""

    def __init__(self, status: str, detail: object):
        super().__init__(f"transfer {status}: {detail}")
        self.status, self.detail = status, detail


class Client:
    def __init__(self, base_url: str = "http://127.0.0.1:26700", timeout_s: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def _request(
        self, method: str, path: str, body: object = None, raw: bytes | None = None
    ) -> tuple[int, bytes]:
        """`body` goes as JSON; `raw` as application/octet-stream (the binary batch form)."""
        if raw is not None:
            data, content_type = raw, "application/octet-stream"
        else:
            data, content_type = (
                None if body is None else json.dumps(body).encode("utf-8")
            ), "application/json"
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                error = json.loads(raw)["error"]
            except (ValueError, KeyError, TypeError):
                raise ApiError(e.code, "http_error", raw.decode("utf-8", "replace")) from None
            raise ApiError(e.code, error["code"], error["message"]) from None

    def _json(self, method: str, path: str, body: object = None) -> dict:
        return json.loads(self._request(method, path, body)[1])

    def status(self) -> dict:
        return self._json("GET", "/v1/status")

    def genesis(self) -> Genesis:
        return Genesis.from_toml(self._request("GET", "/v1/genesis")[1].decode("utf-8"))

    def account(self, address: str) -> dict:
        """The account, with `balance`, `nonce` and `next_nonce` as ints (the zero account for an
        address never used)."""
        account = self._json("GET", f"/v1/accounts/{address}")
        for field in ("balance", "nonce", "next_nonce"):
            account[field] = parse_u64(account[field])
        return account

    def balance(self, address: str) -> int:
        return self.account(address)["balance"]

    def submit(self, signed: SignedTransfer) -> bytes:
        """Submits; returns the transfer id (202), raises ApiError on refusal."""
        answer = self._json("POST", "/v1/transfers", signed.to_json())
        return bytes.fromhex(answer["id"])

    def submit_batch(self, transfers: list[SignedTransfer], binary: bool = True) -> list[dict]:
        """Submits a batch (the binary form unless `binary` is false); one result per transfer,
        in order: `{"id": bytes, "error": None or {"code", "message"}}`. Raises ApiError when the
        whole batch is refused (its size, its encoding)."""
        if binary:
            _, raw = self._request("POST", "/v1/transfers/batch", raw=binary_batch_body(transfers))
        else:
            body = {"transfers": [t.to_json() for t in transfers]}
            _, raw = self._request("POST", "/v1/transfers/batch", body)
        return [
            {"id": bytes.fromhex(r["id"]), "error": r.get("error")}
            for r in json.loads(raw)["results"]
        ]

    def transfer(
        self, key: Key, to_address: str, amount: int, chain_id: str, memo: str | None = None
    ) -> SignedTransfer:
        """Signs a transfer from `key` with its next nonce, and submits it."""
        nonce = self.account(key.address)["next_nonce"]
        t = Transfer(chain_id, key.public_key, address.decode(to_address), amount, nonce, memo)
        signed = t.sign(key)
        self.submit(signed)
        return signed

    def get_transfer(self, transfer_id: bytes) -> dict:
        return self._json("GET", f"/v1/transfers/{transfer_id.hex()}")

    def block(self, height: int) -> dict:
        return self._json("GET", f"/v1/blocks/{height}")

    def wait(self, transfer_id: bytes, timeout_s: float = 30.0, poll_s: float = 0.1) -> dict:
        """Waits until the transfer is in a block; returns the answer of GET /v1/transfers/{id}
        if it was applied, raises TransferFailed if it was rejected or dropped."""
        deadline = time.monotonic() + timeout_s
        while True:
            answer = self.get_transfer(transfer_id)
            if answer["status"] == "committed":
                return answer
            if answer["status"] == "rejected":
                raise TransferFailed("rejected", answer["committed"]["receipt"])
            if answer["status"] == "dropped":
                raise TransferFailed("dropped", answer.get("dropped"))
            if time.monotonic() > deadline:
                raise TimeoutError(f"transfer {transfer_id.hex()} still {answer['status']}")
            time.sleep(poll_s)

    def verified_account(self, account: str, genesis: Genesis):
        """Fetches the account's proof at the stable checkpoint and verifies it locally against
        `genesis` (PROTOCOL.md §6); returns a VerifiedAccount (height, balance, nonce, root)."""
        answer = self._json("GET", f"/v1/accounts/{account}?proof=true")
        return verify_account_proof(genesis.validators, address.decode(account), answer["proof"])

    def verify_final(self, transfer_id: bytes, genesis: Genesis):
        """Fetches the transfer and its block and verifies its commit certificate locally against
        `genesis` (which the caller trusts, e.g. by its hash); returns the certificate."""
        answer = self.get_transfer(transfer_id)
        if not answer.get("committed"):
            raise TransferFailed(answer["status"], "not in a block yet")
        block = self.block(int(answer["committed"]["height"]))
        return verify_committed_transfer(genesis.validators, transfer_id, answer, block)
