#!/usr/bin/env python3
"""Jepsen-style chaos on a real local testnet: a bank workload, a seeded nemesis, a history check.

Run it through testnet/chaos.sh (which builds the binary, installs faketime and the Python client,
and runs this with the client's virtualenv). What it does:

1. Creates a fresh N-validator testnet (`bftledger testnet init`) in its own directory and ports,
   and starts every node itself, each under libfaketime with a clock offset of 0 (so a clock jump
   later is a write to a file, not a restart) and one node's data on a size-limited tmpfs (so the
   disk can fill up).
2. Runs a bank workload: one client thread per funded account, each signing transfers to the other
   accounts with consecutive nonces, submitting to random nodes, resubmitting the same signed
   transfer elsewhere when a node is down or lets it go, and recording every acknowledgement
   (a node answering that the transfer is in a block, with its height and receipt).
3. Meanwhile a nemesis, seeded, injects faults one at a time and heals each: kill -9 and restart
   (primary included), SIGSTOP/SIGCONT pauses, network partitions (one node cut off: a minority;
   two nodes cut off: no side has a quorum), clock jumps and skew on one node (realtime only, as
   NTP or an operator would move it; the monotonic clock never jumps), a full data disk, and a
   twin (a second process started with a validator's key and an empty disk: process-level
   equivocation, the one Byzantine replica the run allows), on an empty disk or on a copy of the
   validator's disk.
4. Heals everything, waits until every node is ready at one height, and checks the history:
   every node serves the same block at every height, each block's commit certificate verifies
   against the genesis and its hash chains to the previous block; no transfer is in two blocks;
   every sender's applied nonces are 1, 2, 3, ... without gap; every acknowledged transfer is in
   the chain at the height and with the receipt it was acknowledged with; replaying the applied
   transfers from the genesis gives every node's balances, and the supply is conserved; no node
   exited except by the nemesis's hand.

It prints the seed, the fault schedule as it happens, and one JSON summary as its last line; the
exit code is 0 only if nothing was violated. A failed run keeps the testnet directory (logs,
data); --keep keeps it always.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
from pathlib import Path

from bftledger_client import (
    ApiError,
    Client,
    Genesis,
    ProofError,
    SignedTransfer,
    Transfer,
    load_key_file,
    verify_certified_block,
)

FAULT_KINDS = ("kill", "pause", "partition", "split", "clock", "disk", "twin")
#: Seconds a fault is held before it is healed (drawn uniformly in this range).
HOLD_S = (2.0, 8.0)
#: Seconds between one fault's heal and the next fault (drawn uniformly).
GAP_S = (1.0, 4.0)
#: Size of the tmpfs holding the disk-fault node's data, in MiB (above the store's 256 MiB
#: reserve, `MIN_FREE_DISK_BYTES`, so the node starts with room).
DISK_MIB = 1024
#: What a node says when it stops on a full disk (ledger's StoreError::DiskFull).
DISK_FULL_MESSAGE = "the store keeps for RocksDB: free space on it"
#: Seconds the cluster has, after the last heal, to be ready at one height (the liveness bound).
CONVERGE_S = 120
#: Seconds a client waits for a submitted transfer's outcome before it resubmits it elsewhere.
RESUBMIT_S = 5.0
#: The validator whose data sits on the small disk and who gets the disk faults.
LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Violations:
    """Everything the run found wrong, thread-safe."""

    def __init__(self) -> None:
        self.items: list[dict] = []
        self.lock = threading.Lock()

    def add(self, kind: str, detail: str) -> None:
        with self.lock:
            self.items.append({"kind": kind, "detail": detail})
        log(f"VIOLATION {kind}: {detail}")


class Cluster:
    """The validators' processes: start, kill, pause, partition, clock, disk, twin."""

    def __init__(self, args, directory: Path, violations: Violations) -> None:
        self.bin = args.bin
        self.dir = directory
        self.n = args.nodes
        self.p2p_base = args.p2p_port_base
        self.api_base = args.api_port_base
        self.violations = violations
        self.procs: dict[int, subprocess.Popen] = {}
        self.twin: subprocess.Popen | None = None
        #: Nodes the nemesis stopped on purpose (their exit is not a crash).
        self.expected_down: set[int] = set()
        self.disk_node = args.disk_node
        self.disk_mount: Path | None = None
        #: Whether the nemesis holds the disk full now, and how often the node stopped on it.
        self.disk_full = False
        self.stopped_on_full_disk = 0
        self.partitioned = False
        #: This run's iptables chain: named by its ports, so two runs on one machine never
        #: heal each other's partitions.
        self.chain = f"BFTLEDGER_CHAOS_{self.p2p_base}"
        self.lock = threading.Lock()

    # ---- set-up ----------------------------------------------------------------------------

    def create(self, accounts: int) -> None:
        subprocess.run(
            [self.bin, "testnet", "init", "--validators", str(self.n), "--dir", str(self.dir),
             "--accounts", str(accounts), "--p2p-port-base", str(self.p2p_base),
             "--api-port-base", str(self.api_base)],
            check=True, stdout=subprocess.DEVNULL)
        for i in range(self.n):
            (self.node_dir(i) / "faketime.rc").write_text("+0\n")
        if self.disk_node is not None:
            mount = self.node_dir(self.disk_node) / "disk"
            mount.mkdir()
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MIB}m", "tmpfs", str(mount)],
                           check=True)
            self.disk_mount = mount
            config = self.node_dir(self.disk_node) / "config.toml"
            text = config.read_text()
            assert 'data_dir = "data"' in text, "testnet init writes data_dir = \"data\""
            config.write_text(text.replace('data_dir = "data"', 'data_dir = "disk/data"'))

    def node_dir(self, i: int) -> Path:
        return self.dir / f"node{i}"

    def api(self, i: int) -> str:
        return f"http://127.0.0.1:{self.api_base + i}"

    def env(self, i: int) -> dict:
        env = dict(os.environ)
        env.update({
            "LD_PRELOAD": LIBFAKETIME,
            "FAKETIME_TIMESTAMP_FILE": str(self.node_dir(i) / "faketime.rc"),
            "FAKETIME_CACHE_DURATION": "1",
            # Real clock faults move the wall clock; CLOCK_MONOTONIC never jumps.
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        })
        return env

    def start(self, i: int) -> None:
        with self.lock:
            out = open(self.node_dir(i) / "node.log", "ab")
            self.procs[i] = subprocess.Popen(
                [self.bin, "node", "--config", str(self.node_dir(i) / "config.toml")],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env(i), start_new_session=True)
            (self.node_dir(i) / "node.pid").write_text(f"{self.procs[i].pid}\n")
            self.expected_down.discard(i)

    def alive(self, i: int) -> bool:
        proc = self.procs.get(i)
        return proc is not None and proc.poll() is None

    def kill(self, i: int) -> None:
        with self.lock:
            self.expected_down.add(i)
            proc = self.procs.get(i)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    def signal(self, i: int, sig: int) -> None:
        proc = self.procs.get(i)
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)

    def check_exits(self) -> None:
        """Records a violation for every node that exited without the nemesis's hand."""
        with self.lock:
            for i, proc in self.procs.items():
                code = proc.poll()
                if code is not None and i not in self.expected_down:
                    tail = self.log_tail(i)
                    if i == self.disk_node and DISK_FULL_MESSAGE in tail and self.disk_full:
                        # What the node must do on a full disk: stop with a message saying so
                        # (its supervisor starts it again once there is room; the nemesis does).
                        log(f"node{i} stopped on the full disk, as it must (exit {code})")
                        self.stopped_on_full_disk += 1
                        self.expected_down.add(i)
                        continue
                    self.violations.add("node_exited", f"node{i} exited with {code} on its own; its log ends:\n{tail}")
                    self.expected_down.add(i)  # report once

    def log_tail(self, i: int, lines: int = 15) -> str:
        try:
            return "\n".join((self.node_dir(i) / "node.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def ready(self, i: int) -> dict | None:
        try:
            status = Client(self.api(i), timeout_s=2.0).status()
            return status if status.get("ready") else None
        except (OSError, ApiError, ValueError):
            return None

    def primary(self, fallback: int) -> int:
        """The primary as the first ready node reports it, else `fallback`."""
        for i in range(self.n):
            status = self.ready(i)
            if status is not None:
                return int(status["primary"]) % self.n
        return fallback

    # ---- faults ------------------------------------------------------------------------------

    def partition(self, nodes: list[int]) -> None:
        """Drops all TCP traffic to and from the p2p ports of `nodes` (their APIs keep answering)."""
        subprocess.run(["iptables", "-N", self.chain], stderr=subprocess.DEVNULL)
        if subprocess.run(["iptables", "-C", "OUTPUT", "-j", self.chain], stderr=subprocess.DEVNULL).returncode:
            subprocess.run(["iptables", "-I", "OUTPUT", "-j", self.chain], check=True)
        for i in nodes:
            for direction in ("--sport", "--dport"):
                subprocess.run(["iptables", "-A", self.chain, "-o", "lo", "-p", "tcp", direction,
                                str(self.p2p_base + i), "-j", "DROP"], check=True)
        self.partitioned = True

    def heal_partitions(self) -> None:
        subprocess.run(["iptables", "-D", "OUTPUT", "-j", self.chain], stderr=subprocess.DEVNULL)
        subprocess.run(["iptables", "-F", self.chain], stderr=subprocess.DEVNULL)
        subprocess.run(["iptables", "-X", self.chain], stderr=subprocess.DEVNULL)
        self.partitioned = False

    def set_clock(self, i: int, offset_s: int) -> None:
        (self.node_dir(i) / "faketime.rc").write_text(f"{offset_s:+d}\n")

    def fill_disk(self, leave_mib: int = 0) -> Path:
        """Fills the disk node's tmpfs up to `leave_mib` MiB of free space (0: completely)."""
        assert self.disk_mount is not None
        filler = self.disk_mount / "chaos-filler"
        stats = os.statvfs(self.disk_mount)
        free = stats.f_bavail * stats.f_frsize - (leave_mib << 20)
        with open(filler, "wb") as f:
            chunk = b"\0" * (1 << 20)
            try:
                for _ in range(max(free, 0) // len(chunk) + (leave_mib == 0)):
                    f.write(chunk)
            except OSError:
                pass  # ENOSPC: the disk is full, which is the point
        return filler

    def data_path(self, i: int) -> Path:
        return self.node_dir(i) / ("disk/data" if i == self.disk_node else "data")

    def start_twin(self, i: int, copy_disk: bool) -> Path:
        """A second process with validator i's key and config and its own ports, on an empty disk
        or on a copy of node i's disk (taken while node i is stopped, as a VM snapshot would be:
        the twin starts with the same votes and then diverges)."""
        twin = self.dir / f"twin{i}"
        shutil.rmtree(twin, ignore_errors=True)
        twin.mkdir()
        if copy_disk and self.alive(i):
            self.signal(i, signal.SIGSTOP)
            try:
                shutil.copytree(self.data_path(i), twin / "data")
            finally:
                self.signal(i, signal.SIGCONT)
        shutil.copy(self.node_dir(i) / "validator.key", twin / "validator.key")
        os.chmod(twin / "validator.key", 0o600)
        text = (self.node_dir(i) / "config.toml").read_text()
        text = text.replace('data_dir = "disk/data"', 'data_dir = "data"')
        text = text.replace(f"/tcp/{self.p2p_base + i}\"]", f"/tcp/{self.p2p_base + self.n + 10}\"]")
        text = text.replace(f"127.0.0.1:{self.api_base + i}\"", f"127.0.0.1:{self.api_base + self.n + 10}\"")
        (twin / "config.toml").write_text(text)
        out = open(twin / "node.log", "ab")
        self.twin = subprocess.Popen([self.bin, "node", "--config", str(twin / "config.toml")],
                                     stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        return twin

    def stop_twin(self) -> None:
        if self.twin is not None and self.twin.poll() is None:
            self.twin.send_signal(signal.SIGKILL)
            self.twin.wait()
        self.twin = None

    def shutdown(self) -> None:
        self.stop_twin()
        for i in list(self.procs):
            self.signal(i, signal.SIGCONT)
            self.expected_down.add(i)
            self.signal(i, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.heal_partitions()
        if self.disk_mount is not None:
            subprocess.run(["umount", "-l", str(self.disk_mount)], stderr=subprocess.DEVNULL)


class Nemesis(threading.Thread):
    """Injects one fault at a time, drawn from the seeded generator, and heals it."""

    def __init__(self, cluster: Cluster, rng: random.Random, kinds: list[str], until: float, schedule: list) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.rng = rng
        self.kinds = kinds
        self.until = until
        self.schedule = schedule
        self.deck: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while time.monotonic() < self.until:
                time.sleep(self.rng.uniform(*GAP_S))
                if time.monotonic() >= self.until:
                    break
                self.one_fault()
        except BaseException as e:  # reported by the main thread
            self.error = e

    def record(self, kind: str, node, detail: str = "", starts: str | None = None) -> None:
        """Logs one nemesis step; `starts` names the fault kind when the step injects a fault
        (the summary counts those), None when it heals one."""
        entry = {"t": round(time.monotonic() - START, 1), "fault": kind, "node": node, "detail": detail}
        if starts is not None:
            entry["starts"] = starts
        self.schedule.append(entry)
        log(f"nemesis: {kind} node={node} {detail}")

    def one_fault(self) -> None:
        c = self.cluster
        if not self.deck:
            # Every kind once per round, in a seeded order: a short run still sees each kind.
            self.deck = list(self.kinds)
            self.rng.shuffle(self.deck)
        kind = self.deck.pop()
        hold = self.rng.uniform(*HOLD_S)
        node = self.rng.randrange(c.n)
        if self.rng.random() < 0.5:
            # Half of the faults hit the primary of the moment, whose loss costs a view change.
            node = c.primary(fallback=node)
        if kind == "kill":
            self.record("kill -9", node, starts="kill")
            c.kill(node)
            time.sleep(hold)
            self.record("restart", node)
            c.start(node)
        elif kind == "pause":
            self.record("SIGSTOP", node, f"{hold:.1f}s", starts="pause")
            c.signal(node, signal.SIGSTOP)
            time.sleep(hold)
            c.signal(node, signal.SIGCONT)
            self.record("SIGCONT", node)
        elif kind == "partition":
            self.record("partition (minority of one)", node, f"{hold:.1f}s", starts="partition")
            c.partition([node])
            time.sleep(hold)
            c.heal_partitions()
            self.record("heal", node)
        elif kind == "split":
            nodes = self.rng.sample(range(c.n), 2)
            self.record("partition (two cut off: no side has a quorum)", nodes, f"{hold:.1f}s", starts="split")
            c.partition(nodes)
            time.sleep(hold)
            c.heal_partitions()
            self.record("heal", nodes)
        elif kind == "clock":
            offset = self.rng.choice([-86400, -3600, -300, 300, 3600, 86400 * 30])
            self.record("clock jump", node, f"{offset:+d}s", starts="clock")
            c.set_clock(node, offset)
            time.sleep(hold)
            if self.rng.random() < 0.5:
                skew = self.rng.choice([-7, -2, 2, 7])
                self.record("clock skew kept", node, f"{skew:+d}s")
                c.set_clock(node, skew)
            else:
                self.record("clock restored", node)
                c.set_clock(node, 0)
        elif kind == "disk":
            if c.disk_mount is None:
                return
            node = c.disk_node
            # RocksDB writes into WAL space it reserved ahead, so a running node may not notice a
            # full disk for a while; a restart on a full disk needs new files at once.
            # Three variants: low (between the node's 512 MiB threshold and the store's 256 MiB
            # reserve: it must refuse clients and stay up), full, and full across a restart.
            variant = self.rng.choice(["low", "full", "full+restart"])
            restart = variant == "full+restart"
            how = {"low": "disk low (384 MiB left)", "full": "disk full",
                   "full+restart": "disk full, node restarted on it"}[variant]
            self.record(how, node, f"{hold:.1f}s", starts="disk")
            c.disk_full = variant != "low"
            filler = c.fill_disk(leave_mib=384 if variant == "low" else 0)
            if restart:
                c.kill(node)
                c.start(node)
            time.sleep(hold)
            if variant == "low":
                status = c.ready(node)
                if status is not None:
                    c.violations.add("disk_low_ignored", f"node{node} reports ready with 384 MiB free on its disk")
            c.check_exits()
            filler.unlink()
            c.disk_full = False
            self.record("disk space back", node)
            if not c.alive(node):
                self.record("restart (as a supervisor would)", node)
                c.start(node)
        elif kind == "twin":
            copy_disk = self.rng.random() < 0.5
            disk = "a copy of its disk" if copy_disk else "an empty disk"
            self.record(f"twin started (validator key in a second process, {disk})", node, f"{hold:.1f}s", starts="twin")
            c.start_twin(node, copy_disk)
            time.sleep(max(hold, 5.0))
            c.stop_twin()
            self.record("twin killed", node)


class Account:
    def __init__(self, index: int, key) -> None:
        self.index = index
        self.key = key


class Workload(threading.Thread):
    """One client: transfers from its own account to the others, one at a time, retrying the
    same signed transfer until some node says it is in a block."""

    def __init__(self, cluster: Cluster, me: Account, others: list[Account], chain_id: str,
                 rng: random.Random, until: float, acks: list, lock: threading.Lock) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.me = me
        self.others = others
        self.chain_id = chain_id
        self.rng = rng
        self.until = until
        self.acks = acks
        self.lock = lock
        self.submitted = 0
        self.unresolved: list[str] = []

    def client(self) -> Client:
        return Client(self.cluster.api(self.rng.randrange(self.cluster.n)), timeout_s=3.0)

    def next_nonce(self) -> int | None:
        try:
            return self.client().account(self.me.key.address)["next_nonce"]
        except (OSError, ApiError, ValueError):
            return None

    def run(self) -> None:
        nonce = None
        while time.monotonic() < self.until:
            if nonce is None:
                nonce = self.next_nonce()
                if nonce is None:
                    time.sleep(0.2)
                    continue
            to = self.rng.choice(self.others)
            signed = Transfer(self.chain_id, self.me.key.public_key, to.key.public_key,
                              self.rng.randint(1, 1000), nonce).sign(self.me.key)
            self.submitted += 1
            outcome = self.drive(signed)
            if outcome is None:
                # Never answered within the run: it may still commit; the check looks it up.
                self.unresolved.append(signed.id().hex())
                return
            nonce = nonce + 1 if outcome in ("committed", "rejected") else None

    def drive(self, signed) -> str | None:
        """Submits `signed` until a node reports it in a block (returns its status), or the run
        ends (None). A transfer a node lets go of, or a node that does not answer, gets the same
        signed transfer again at another node: its id is the same, so it cannot apply twice."""
        tid = signed.id()
        while time.monotonic() < self.until:
            client = self.client()
            try:
                client.submit(signed)
            except ApiError as e:
                if e.code == "nonce_used":
                    # Ours committed already (we missed the answer), or the nonce went to
                    # another transfer: the status tells which; else re-read the nonce.
                    status = self.status(client, tid)
                    return status if status in ("committed", "rejected") else "resync"
                if e.status >= 500 or e.code in ("overloaded", "not_ready", "nonce_gap"):
                    time.sleep(0.3)
                    continue
                if e.status == 409:
                    time.sleep(0.2)
                    continue
                raise
            except (OSError, urllib.error.URLError):
                time.sleep(0.2)
                continue
            deadline = time.monotonic() + RESUBMIT_S
            while time.monotonic() < min(deadline, self.until):
                status = self.status(client, tid)
                if status in ("committed", "rejected"):
                    return status
                if status in ("dropped", "unreachable"):
                    break
                time.sleep(0.05)
        return None

    def status(self, client: Client, tid: bytes) -> str:
        try:
            answer = client.get_transfer(tid)
        except ApiError as e:
            return "unknown" if e.status == 404 else "unreachable"
        except (OSError, ValueError):
            return "unreachable"
        status = answer["status"]
        if status in ("committed", "rejected"):
            committed = answer["committed"]
            with self.lock:
                self.acks.append({
                    "id": tid.hex(), "node": client.base_url, "status": status,
                    "height": int(committed["height"]), "receipt": committed["receipt"],
                    "block_hash": committed["block_hash"],
                })
        return status


def converge(cluster: Cluster, violations: Violations) -> int | None:
    """Waits until every node is ready at one height that stays put; returns it."""
    deadline = time.monotonic() + CONVERGE_S
    stable_since = None
    last = None
    while time.monotonic() < deadline:
        statuses = [cluster.ready(i) for i in range(cluster.n)]
        if all(statuses):
            heights = {int(s["height"]) for s in statuses}
            roots = {s["state_root"] for s in statuses}
            if len(heights) == 1 and len(roots) == 1:
                height = heights.pop()
                if last == height and stable_since and time.monotonic() - stable_since > 3:
                    return height
                if last != height:
                    last, stable_since = height, time.monotonic()
        time.sleep(0.5)
    detail = []
    for i in range(cluster.n):
        status = cluster.ready(i)
        detail.append(f"node{i}: " + (f"ready at {status['height']}" if status else "not ready"))
    violations.add("not_converged", f"not every node ready at one height within {CONVERGE_S}s: " + "; ".join(detail))
    return None


def check_history(cluster: Cluster, genesis: Genesis, accounts: list[Account], height: int,
                  acks: list, violations: Violations) -> dict:
    """Fetches every node's blocks 1..height and accounts, and checks them (`check_fetched`)."""
    clients = [Client(cluster.api(i), timeout_s=10.0) for i in range(cluster.n)]
    served: list[dict[int, dict]] = []
    for i, client in enumerate(clients):
        blocks = {}
        for h in range(1, height + 1):
            try:
                blocks[h] = client.block(h)
            except (ApiError, OSError, ValueError) as e:
                violations.add("bad_block", f"node{i} block {h}: {e}")
        served.append(blocks)
    balances: list[dict[bytes, tuple[int, int] | None]] = []
    for i, client in enumerate(clients):
        table = {}
        for a in accounts:
            try:
                account = client.account(a.key.address)
                table[a.key.public_key] = (account["balance"], account["next_nonce"])
            except (ApiError, OSError, ValueError) as e:
                violations.add("unreadable_account", f"node{i} {a.key.address}: {e}")
                table[a.key.public_key] = None
        balances.append(table)
    return check_fetched(genesis, [a.key.public_key for a in accounts], height, served, balances, acks, violations)


def check_fetched(genesis: Genesis, keys: list[bytes], height: int, served: list[dict[int, dict]],
                  balances_served: list[dict], acks: list, violations: Violations) -> dict:
    """The history check over what the nodes served: `served[i][h]` is node i's answer to
    GET /v1/blocks/h, `balances_served[i][key]` its (balance, next nonce) of an account."""
    chain: dict[int, dict] = {}
    hashes_at: dict[int, str] = {}
    for h in range(1, height + 1):
        hashes = set()
        for i, blocks in enumerate(served):
            answer = blocks.get(h)
            if answer is None:
                continue
            try:
                verify_certified_block(genesis.validators, answer)
            except (ProofError, ValueError, KeyError) as e:
                violations.add("bad_block", f"node{i} block {h}: {e}")
                continue
            hashes.add(answer["hash"])
            if h not in chain:
                chain[h] = answer["block"]
                hashes_at[h] = answer["hash"]
        if len(hashes) > 1:
            violations.add("fork", f"nodes serve different blocks at height {h}: {sorted(hashes)}")
        if h > 1 and h in chain and h - 1 in hashes_at and chain[h]["prev_hash"] != hashes_at[h - 1]:
            violations.add("broken_chain", f"block {h}'s prev_hash is not block {h - 1}'s hash")
    # Transfers, receipts, nonces, balances, from the chain (equal on every node, above).
    balances = dict(zip(keys, initial_balances(genesis, keys)))
    supply = sum(balances.values())
    # A transfer may be ordered more than once (a client resubmits it elsewhere while its first
    # copy is in flight, or a Byzantine primary re-proposes it); the ledger applies it at most
    # once and rejects the copies as replays. Its status is the applied inclusion, else the
    # first (the store indexes it that way).
    seen: dict[str, tuple[int, object]] = {}
    applied_at: dict[str, int] = {}
    next_nonce = {k: 1 for k in balances}
    applied = rejected = replays = 0
    for h, block in sorted(chain.items()):
        for t, receipt in zip(block["transfers"], block["receipts"]):
            signed = SignedTransfer.from_json(t)
            tid = signed.id().hex()
            if receipt == "Applied":
                if tid in applied_at:
                    violations.add("applied_twice", f"transfer {tid} is applied in blocks {applied_at[tid]} and {h}")
                applied_at[tid] = h
                seen[tid] = (h, receipt)
            else:
                seen.setdefault(tid, (h, receipt))
                replays += tid in applied_at and is_replay(receipt)
                if tid in applied_at and not is_replay(receipt):
                    violations.add("bad_duplicate", f"transfer {tid}, applied at {applied_at[tid]}, is rejected at {h} with {receipt}, not as a replay")
            sender, recipient = signed.transfer.sender, signed.transfer.recipient
            if receipt == "Applied":
                applied += 1
                if sender not in balances or recipient not in balances:
                    violations.add("stranger", f"transfer {tid} moves money outside the workload's accounts")
                    continue
                if signed.transfer.nonce != next_nonce[sender]:
                    violations.add("nonce_gap", f"{sender.hex()} applied nonce {signed.transfer.nonce}, expected {next_nonce[sender]} (block {h})")
                next_nonce[sender] = signed.transfer.nonce + 1
                balances[sender] -= signed.transfer.amount
                balances[recipient] += signed.transfer.amount
                if balances[sender] < 0:
                    violations.add("overdraft", f"{sender.hex()} below zero at block {h}")
            else:
                rejected += 1
    for ack in acks:
        found = seen.get(ack["id"])
        if found is None:
            violations.add("lost_ack", f"transfer {ack['id']} was acknowledged by {ack['node']} at height {ack['height']} but is in no block")
        elif found[0] != ack["height"] or found[1] != ack["receipt"]:
            violations.add("changed_ack", f"transfer {ack['id']}: acknowledged at {ack['height']} with {ack['receipt']}, chain has {found}")
        elif hashes_at.get(found[0]) != ack["block_hash"]:
            violations.add("changed_ack", f"transfer {ack['id']}: acknowledged in block {ack['block_hash']}, the chain's block {found[0]} is {hashes_at.get(found[0])}")
    if sum(balances.values()) != supply:
        violations.add("supply", f"replayed supply {sum(balances.values())} != genesis {supply}")
    for i, table in enumerate(balances_served):
        for key, got in table.items():
            want = (balances[key], next_nonce[key])
            if got is not None and got != want:
                violations.add("state_mismatch", f"node{i} serves {key.hex()} as (balance, next nonce) {got}; the replayed chain gives {want}")
    return {"blocks": height, "transfers_in_chain": len(seen), "applied": applied, "rejected": rejected,
            "copies_rejected_as_replays": replays}


def is_replay(receipt: object) -> bool:
    return isinstance(receipt, dict) and "NonceReplayed" in receipt.get("Rejected", {})


def initial_balances(genesis: Genesis, keys: list[bytes]) -> list[int]:
    table = dict(genesis.balances)
    return [table.get(k, 0) for k in keys]


def stop_on_signal(signum, _frame) -> None:
    """SIGTERM and SIGINT end the run through its clean-up (nodes stopped, partitions healed,
    tmpfs unmounted); a background job ignores SIGINT, so SIGTERM is the way to stop one."""
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGINT, stop_on_signal)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", required=True, help="the bftledger binary")
    parser.add_argument("--seed", type=int, default=None, help="the nemesis's and workload's seed (default: random, printed)")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of faults and load (default 120)")
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--clients", type=int, default=6, help="client threads, one funded account each (default 6)")
    parser.add_argument("--faults", default=",".join(FAULT_KINDS), help=f"comma-separated subset of {','.join(FAULT_KINDS)}")
    parser.add_argument("--dir", default=None, help="testnet directory (default: a fresh one under /tmp)")
    parser.add_argument("--p2p-port-base", type=int, default=29600)
    parser.add_argument("--api-port-base", type=int, default=29700)
    parser.add_argument("--keep", action="store_true", help="keep the testnet directory even if the run passes")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("chaos: partitions (iptables) and the full disk (tmpfs mount) need root", file=sys.stderr)
        return 2
    kinds = [k for k in args.faults.split(",") if k]
    unknown = sorted(set(kinds) - set(FAULT_KINDS))
    if unknown:
        print(f"chaos: unknown fault kinds {unknown}; known: {','.join(FAULT_KINDS)}", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    args.disk_node = rng.randrange(args.nodes) if "disk" in kinds else None
    directory = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bftledger-chaos."))
    if directory.exists():
        shutil.rmtree(directory)
    log(f"chaos: seed {seed}, {args.duration:.0f}s, faults {','.join(kinds)}, testnet in {directory}")
    log(f"replay: testnet/chaos.sh --seed {seed} --duration {args.duration:.0f} --faults {','.join(kinds)}")

    violations = Violations()
    cluster = Cluster(args, directory, violations)
    schedule: list = []
    acks: list = []
    summary: dict = {"seed": seed, "duration_s": args.duration, "faults": kinds, "dir": str(directory)}
    try:
        cluster.create(accounts=args.clients)
        for i in range(args.nodes):
            cluster.start(i)
        deadline = time.monotonic() + 60
        while not all(cluster.ready(i) for i in range(args.nodes)):
            cluster.check_exits()
            if time.monotonic() > deadline:
                raise RuntimeError("the testnet was not ready within 60 s of its start")
            time.sleep(0.5)
        genesis = Genesis.from_toml((directory / "genesis.toml").read_text())
        accounts = [Account(i, load_key_file(directory / "accounts" / f"account-{i}.key")) for i in range(args.clients)]

        global START
        START = time.monotonic()
        until = START + args.duration
        lock = threading.Lock()
        clients = [Workload(cluster, a, [b for b in accounts if b is not a], genesis.chain_id,
                            random.Random(rng.randrange(2**64)), until, acks, lock) for a in accounts]
        nemesis = Nemesis(cluster, random.Random(rng.randrange(2**64)), kinds, until, schedule)
        for t in clients:
            t.start()
        nemesis.start()
        while time.monotonic() < until:
            cluster.check_exits()
            time.sleep(0.5)
        nemesis.join()
        for t in clients:
            t.join(timeout=RESUBMIT_S + 10)
        if nemesis.error is not None:
            raise nemesis.error

        log("healing everything: partitions, pauses, twin, clocks, disk, dead nodes")
        cluster.heal_partitions()
        cluster.stop_twin()
        for i in range(args.nodes):
            cluster.signal(i, signal.SIGCONT)
            cluster.set_clock(i, 0)
        cluster.check_exits()
        for i in range(args.nodes):
            if not cluster.alive(i):
                cluster.start(i)
        height = converge(cluster, violations)
        cluster.check_exits()
        if height is not None:
            summary.update(check_history(cluster, genesis, accounts, height, acks, violations))
        summary["submitted"] = sum(t.submitted for t in clients)
        summary["acknowledged"] = len({a["id"] for a in acks})
        summary["faults_injected"] = {k: sum(1 for s in schedule if s.get("starts") == k) for k in kinds}
        summary["stopped_on_full_disk"] = cluster.stopped_on_full_disk
    except Exception as e:  # a broken run is a failure, with the reason
        violations.add("harness", f"{type(e).__name__}: {e}")
    finally:
        cluster.shutdown()
    summary["schedule"] = schedule
    summary["violations"] = violations.items
    summary["ok"] = not violations.items
    if summary["ok"] and not args.keep:
        shutil.rmtree(directory, ignore_errors=True)
    else:
        log(f"testnet kept in {directory} (logs: node*/node.log)")
    print(json.dumps(summary))
    return 0 if summary["ok"] else 1


START = time.monotonic()

if __name__ == "__main__":
    sys.exit(main())
