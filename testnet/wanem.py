#!/usr/bin/env python3
"""The WAN emulator of the namespace testnet (testnet/netns.sh): a userspace IP router.

Why userspace: `tc netem` is the usual tool, but kernels built without CONFIG_NET_SCH_NETEM
(the CI machine's among them) have no qdisc that delays packets. This router owns one TUN device
per host ("link"); netns.sh moves each device into its network namespace. Every IP packet a host
sends arrives here and is written to the destination host's device (multicast and broadcast to
every other host, which carries mDNS) after the delays of both links, so traffic never leaves the
machine: there is no device but these, no route but the hosts' own /24.

Each link has a profile (one-way delay, jitter, loss, rate cap), applied once per link crossed:
host -> host crosses two links, so a profile's round-trip time is 4 x its per-link delay. Packets
of one (source, destination) pair are never reordered (jitter delays later packets too, as on a
real path where a queue, not the packet, varies). A rate cap serializes each link's uplink and
downlink; a packet that would wait more than QUEUE_LIMIT_S behind it is dropped (tail drop, as a
router's buffer). Unshaped links (the load generator's) add no delay.

    wanem.py --state DIR --link NAME=IP[:shaped] ...
SIGHUP re-reads DIR/profile (a line: `NAME [RATE_MBIT]`); counters go to DIR/wanem.stats every
STATS_INTERVAL_S and on SIGUSR1. It exits on SIGTERM, which removes every device it created.
"""

import argparse
import fcntl
import heapq
import ipaddress
import os
import random
import selectors
import signal
import struct
import sys
import time

# One-way delay per link in ms, jitter (standard deviation) per link in ms, loss probability per
# link crossed. Host to host crosses two links: lan RTT 0.2 ms; region RTT 10 ms with 1% jitter
# (of the RTT); global RTT 100 ms, about 1.4 ms of jitter per one-way path and 0.1% loss per path.
PROFILES = {
    "lan": {"delay_ms": 0.05, "jitter_ms": 0.0, "loss": 0.0},
    "region": {"delay_ms": 2.5, "jitter_ms": 0.05, "loss": 0.0},
    "global": {"delay_ms": 25.0, "jitter_ms": 1.0, "loss": 0.0005},
}
#: A packet that would queue longer than this behind a rate cap is dropped, in seconds.
QUEUE_LIMIT_S = 0.2
#: MTU of every link, in bytes (netns.sh sets the devices to it): jumbo frames, so that the
#: emulator handles fewer packets per byte.
MTU_BYTES = 9000
#: How often the counters are written, in seconds.
STATS_INTERVAL_S = 5.0
#: A packet due within this is delivered now, in seconds: the wait's clock (epoll) counts whole
#: milliseconds, so waiting for less would round up to 1 ms per hop and make `lan` a 4 ms RTT.
EARLY_S = 0.0005
#: Packets read from one device before the others get a turn.
READ_BURST = 64

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


class Link:
    """One host's TUN device and its shaping state."""

    def __init__(self, name, ip, shaped):
        self.name, self.ip, self.shaped = name, ip, shaped
        self.fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
        fcntl.ioctl(self.fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
        self.up_free = 0.0  # when the uplink (host -> router) is free again
        self.down_free = 0.0  # when the downlink (router -> host) is free again
        self.profile = PROFILES["lan"]
        self.rate_bps = 0.0


class Router:
    def __init__(self, state_dir, specs):
        self.state_dir = state_dir
        self.links = [Link(*spec) for spec in specs]
        self.by_ip = {link.ip: link for link in self.links}
        self.queue = []  # (deliver at, sequence, link, packet)
        self.sequence = 0
        self.last_delivery = {}  # (source ip, destination link name) -> time of last delivery
        self.counts = {"forwarded": 0, "lost": 0, "queue_full": 0, "unroutable": 0, "bytes": 0}
        self.reload = True
        self.dump = False
        self.running = True
        self.rng = random.Random()

    def load_profile(self):
        try:
            words = open(os.path.join(self.state_dir, "profile")).read().split()
        except FileNotFoundError:
            words = ["lan"]
        name = words[0] if words else "lan"
        profile = PROFILES.get(name)
        if profile is None:
            print(f"wanem: unknown profile {name!r}; keeping the current one", file=sys.stderr)
            return
        rate_mbit = float(words[1]) if len(words) > 1 else 0.0
        for link in self.links:
            if link.shaped:
                link.profile, link.rate_bps = profile, rate_mbit * 1e6
        print(f"wanem: profile {name}, rate cap {rate_mbit or 'none'} Mbit/s", flush=True)

    def write_stats(self):
        path = os.path.join(self.state_dir, "wanem.stats")
        with open(path + ".tmp", "w") as f:
            f.write(" ".join(f"{k}={v}" for k, v in self.counts.items()) + "\n")
        os.replace(path + ".tmp", path)

    def one_way_s(self, link):
        p = link.profile
        delay = p["delay_ms"] + (self.rng.gauss(0.0, p["jitter_ms"]) if p["jitter_ms"] else 0.0)
        return max(delay, 0.0) / 1000.0

    def route(self, source, packet, now):
        if len(packet) < 20 or packet[0] >> 4 != 4:
            return  # IPv6 (router solicitations and the like) is not routed
        destination = ipaddress.IPv4Address(packet[16:20])
        if destination.is_multicast or str(destination).endswith(".255"):
            targets = [link for link in self.links if link is not source]
        else:
            target = self.by_ip.get(str(destination))
            if target is None:
                self.counts["unroutable"] += 1
                return
            targets = [target]
        size_bits = len(packet) * 8
        # Uplink: serialized behind the source's earlier packets.
        sent = now
        if source.rate_bps:
            if source.up_free - now > QUEUE_LIMIT_S:
                self.counts["queue_full"] += 1
                return
            sent = max(now, source.up_free) + size_bits / source.rate_bps
            source.up_free = sent
        if source.profile["loss"] and self.rng.random() < source.profile["loss"]:
            self.counts["lost"] += 1
            return
        for target in targets:
            if target.profile["loss"] and self.rng.random() < target.profile["loss"]:
                self.counts["lost"] += 1
                continue
            at = sent + self.one_way_s(source) + self.one_way_s(target)
            if target.rate_bps:
                if target.down_free - at > QUEUE_LIMIT_S:
                    self.counts["queue_full"] += 1
                    continue
                at = max(at, target.down_free) + size_bits / target.rate_bps
                target.down_free = at
            key = (source.ip, target.name)
            at = max(at, self.last_delivery.get(key, 0.0))
            self.last_delivery[key] = at
            self.sequence += 1
            heapq.heappush(self.queue, (at, self.sequence, target, packet))

    def deliver_due(self, now):
        while self.queue and self.queue[0][0] <= now + EARLY_S:
            _, _, target, packet = heapq.heappop(self.queue)
            try:
                os.write(target.fd, packet)
                self.counts["forwarded"] += 1
                self.counts["bytes"] += len(packet)
            except OSError:
                self.counts["unroutable"] += 1  # the device is down (host being set up)

    def run(self):
        selector = selectors.DefaultSelector()
        for link in self.links:
            selector.register(link.fd, selectors.EVENT_READ, link)
        open(os.path.join(self.state_dir, "wanem.ready"), "w").close()
        next_stats = time.monotonic()
        while self.running:
            if self.reload:
                self.reload = False
                self.load_profile()
            now = time.monotonic()
            if self.dump or now >= next_stats:
                self.dump = False
                self.write_stats()
                next_stats = now + STATS_INTERVAL_S
            timeout = 0.5  # signals are acted on within this, in seconds
            if self.queue:
                timeout = max(0.0, min(timeout, self.queue[0][0] - EARLY_S - now))
            for key, _ in selector.select(timeout):
                link = key.data
                for _ in range(READ_BURST):
                    try:
                        packet = os.read(link.fd, MTU_BYTES + 64)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break  # the device is down (its namespace is being set up)
                    self.route(link, packet, time.monotonic())
            self.deliver_due(time.monotonic())
        self.write_stats()


def parse_link(text):
    name, _, rest = text.partition("=")
    ip, _, flag = rest.partition(":")
    if not name or len(name) > 15 or not ip or flag not in ("", "shaped"):
        raise argparse.ArgumentTypeError(f"--link {text!r}: want NAME=IP[:shaped], NAME <= 15 chars")
    ipaddress.IPv4Address(ip)
    return name, ip, flag == "shaped"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--state", required=True, help="directory: profile, wanem.ready, wanem.stats")
    parser.add_argument("--link", type=parse_link, action="append", required=True)
    args = parser.parse_args()
    router = Router(args.state, args.link)

    def stop(*_):
        router.running = False

    def reload(*_):
        router.reload = True

    def dump(*_):
        router.dump = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, reload)
    signal.signal(signal.SIGUSR1, dump)
    router.run()


if __name__ == "__main__":
    main()
