#!/usr/bin/env python3
"""Find the highest packet rate ``sniff`` keeps up with, without kernel drops.

Everything happens inside a private network namespace (``tfs-bench-<pid>``, removed at the
end even on failure), on its loopback interface, so no other traffic is captured and no
packet leaves the machine.  For each offered rate:

1. ``sniff -i lo`` starts in the namespace with a deliberately small kernel buffer
   (``-B``, 2 MiB by default: a fraction of a second of traffic), so a capture that
   falls behind shows up as drops within seconds instead of hiding in a big buffer.
2. A generator (this script with ``--generate``) opens several TCP connections with
   ``TCP_NODELAY`` and makes small writes, paced to the target rate in *packets*: it reads
   the namespace's ``Tcp: OutSegs`` + ``RetransSegs`` counters (``/proc/net/snmp`` is per
   namespace) to steer, and reports the exact number of TCP segments the kernel sent,
   handshakes, closes and retransmissions included.
3. ``sniff`` is stopped with SIGINT; its JSON report gives the frames it analysed and the
   kernel's ``PACKET_STATISTICS`` (received, dropped).

``sniff`` runs with its default ``--checksums auto``: on loopback the kernel leaves TCP
checksums to "offload" (the field holds only the pseudo-header sum), which the decoder
recognises as "not verified" after summing the segment.  ``--checksums off`` measures the
engine without checksum arithmetic.

A trial passes when the kernel dropped nothing and ``sniff`` analysed exactly as many
frames as the kernel sent segments; a rate passes when all ``--repeat`` trials pass, and
counts as the lowest rate those trials actually offered.  The answer is the highest
passing rate (the search stops after ``--fails`` failed rates in a row).

Usage (root)::

    python bench/sniff_bench.py                         # rates 20k..150k, 10 s each
    python bench/sniff_bench.py --rates 40000,60000 --duration 5 --write
    python bench/sniff_bench.py --rates 100000,120000,140000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_RATES = [
    20_000,
    30_000,
    40_000,
    50_000,
    60_000,
    70_000,
    80_000,
    90_000,
    100_000,
    110_000,
    120_000,
    135_000,
    150_000,
]


# -- generator (runs inside the namespace) -------------------------------------------------
def out_segs() -> int:
    """This network namespace's count of TCP segments sent: ``Tcp: OutSegs`` plus
    ``RetransSegs`` (OutSegs leaves retransmissions out, and under load the kernel does
    retransmit now and then, e.g. tail loss probes)."""
    with open("/proc/net/snmp") as fh:
        lines = [ln.split() for ln in fh if ln.startswith("Tcp:")]
    names, values = lines[0], lines[1]
    return int(values[names.index("OutSegs")]) + int(values[names.index("RetransSegs")])


def generate(rate: int, duration: float, conns: int, size: int) -> dict[str, float]:
    """Offer ``rate`` TCP packets/s on 127.0.0.1 for ``duration`` seconds; returns counts."""
    before = out_segs()
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(conns)
    clients, servers = [], []
    for _ in range(conns):
        c = socket.create_connection(srv.getsockname())
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        a, _ = srv.accept()
        a.setblocking(False)
        clients.append(c)
        servers.append(a)
    msg = b"x" * size
    per_write = 2.0  # packets per write (data + ACK), refined from OutSegs as we go
    writes = 0
    start = time.monotonic()
    base = out_segs()
    mark_t, mark_segs, mark_writes = start, base, 0
    while True:
        now = time.monotonic()
        elapsed = now - start
        if elapsed >= duration:
            break
        if now - mark_t >= 0.05:
            segs = out_segs()
            if writes > mark_writes:
                per_write = 0.7 * per_write + 0.3 * max(
                    1.0, (segs - mark_segs) / (writes - mark_writes)
                )
            mark_t, mark_segs, mark_writes = now, segs, writes
        sent_est = mark_segs - base + (writes - mark_writes) * per_write
        behind = rate * elapsed - sent_est
        if behind < per_write:
            time.sleep(min(0.001, (per_write - behind) / rate))
            continue
        burst = min(int(behind / per_write), 64 * conns)
        for i in range(max(1, burst)):
            clients[i % conns].send(msg)
        writes += max(1, burst)
        for a in servers:
            try:
                while a.recv(65536):
                    pass
            except BlockingIOError:
                pass
    elapsed = time.monotonic() - start
    sent_during = out_segs() - base
    for c in clients:
        c.close()
    for a in servers:
        a.close()
    srv.close()
    time.sleep(0.3)  # let the closing handshakes finish
    return {
        "writes": writes,
        "elapsed_s": elapsed,
        "segments": out_segs() - before,
        "segments_during": sent_during,
        "rate": sent_during / elapsed,
    }


# -- driver (root namespace) ---------------------------------------------------------------
@dataclass
class Result:
    """One measured rate."""

    target: int
    offered: float
    sent: int
    analysed: int
    received: int
    dropped: int

    @property
    def ok(self) -> bool:
        """No kernel drops, and every segment the kernel sent was analysed."""
        return self.dropped == 0 and self.analysed == self.sent


def _ns(ns: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


def measure(ns: str, target: int, args: argparse.Namespace, work: Path) -> Result:
    """Run sniff and the generator once at ``target`` packets/s."""
    report = work / f"report-{target}.json"
    cmd = [
        sys.executable,
        "-m",
        "tcpflow_analyzer",
        "sniff",
        "-i",
        "lo",
        "-B",
        str(args.buffer),
        "--checksums",
        args.checksums,
        "--format",
        "json",
        "-o",
        str(report),
    ]
    if args.write:
        cmd += ["-w", str(work / f"capture-{target}.pcap")]
    if args.no_ring:
        cmd.append("--no-ring")
    with open(work / "events.ndjson", "w") as events:
        sniff = subprocess.Popen(_ns(ns, *cmd), stdout=events, stderr=subprocess.PIPE, cwd=REPO)
        try:
            assert sniff.stderr is not None
            line = b""
            deadline = time.monotonic() + 20
            while b"listening on" not in line:
                if time.monotonic() > deadline or sniff.poll() is not None:
                    raise RuntimeError(
                        f"sniff did not start: {line.decode()}{sniff.stderr.read().decode()}"
                    )
                ready, _, _ = select.select([sniff.stderr], [], [], 0.5)
                if ready:
                    line = sniff.stderr.readline()
            gen = subprocess.run(
                _ns(
                    ns,
                    sys.executable,
                    __file__,
                    "--generate",
                    "--rate",
                    str(target),
                    "--duration",
                    str(args.duration),
                    "--conns",
                    str(args.conns),
                    "--size",
                    str(args.size),
                ),
                capture_output=True,
                text=True,
                check=True,
                cwd=REPO,
            )
            counts = json.loads(gen.stdout)
            time.sleep(0.3)
            sniff.send_signal(signal.SIGINT)
            _out, err = sniff.communicate(timeout=120)
        finally:
            if sniff.poll() is None:
                sniff.kill()
                sniff.wait()
    if sniff.returncode != 0:
        raise RuntimeError(f"sniff failed ({sniff.returncode}): {err.decode()}")
    cap = json.loads(report.read_text())["capture"]
    return Result(
        target=target,
        offered=counts["rate"],
        sent=counts["segments"],
        analysed=cap["frames"],
        received=cap["live"]["kernel"]["received"],
        dropped=cap["live"]["kernel"]["dropped"],
    )


def main() -> int:
    """Parse arguments; either generate load (inside the namespace) or drive the search."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", help="comma-separated packets/s to try, in order")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per rate")
    ap.add_argument("--conns", type=int, default=8, help="TCP connections carrying the load")
    ap.add_argument("--size", type=int, default=16, help="bytes per write")
    ap.add_argument("--buffer", type=int, default=2, help="sniff -B (MiB)")
    ap.add_argument(
        "--checksums",
        default="auto",
        choices=("off", "auto", "strict"),
        help="sniff --checksums (default auto, as sniff itself)",
    )
    ap.add_argument("--write", action="store_true", help="also write a pcap with -w")
    ap.add_argument("--no-ring", action="store_true", help="pass --no-ring to sniff")
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="trials per rate; a rate passes only if every trial passes",
    )
    ap.add_argument("--fails", type=int, default=2, help="stop after this many failed rates")
    ap.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--rate", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate:
        print(json.dumps(generate(args.rate, args.duration, args.conns, args.size)))
        return 0
    if os.geteuid() != 0:
        print("sniff_bench: needs root (network namespaces and packet sockets)", file=sys.stderr)
        return 2
    rates = [int(r) for r in args.rates.split(",")] if args.rates else DEFAULT_RATES
    ns = f"tfs-bench-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    best: Result | None = None
    fails = 0
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        print(
            f"cpus={os.cpu_count()} duration={args.duration}s conns={args.conns} "
            f"write={args.size}B buffer={args.buffer}MiB checksums={args.checksums} "
            f"-w={args.write} ring={not args.no_ring} repeat={args.repeat}"
        )
        print(f"{'target':>8} {'offered':>9} {'sent':>9} {'analysed':>9} {'dropped':>8}  result")
        with tempfile.TemporaryDirectory(prefix="tfs-bench-") as tmp:
            for target in rates:
                trials = []
                for _ in range(args.repeat):
                    r = measure(ns, target, args, Path(tmp))
                    trials.append(r)
                    print(
                        f"{r.target:>8} {r.offered:>9.0f} {r.sent:>9} {r.analysed:>9} "
                        f"{r.dropped:>8}  {'ok' if r.ok else 'FAIL'}",
                        flush=True,
                    )
                    if not r.ok:
                        break
                if all(r.ok for r in trials):
                    fails = 0
                    low = min(trials, key=lambda r: r.offered)  # the rate every trial held
                    if best is None or low.offered > best.offered:
                        best = low
                else:
                    fails += 1
                    if fails >= args.fails:
                        break
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
    if best is None:
        print("no rate passed")
        return 1
    print(
        f"highest rate without drops: {best.offered:,.0f} packets/s "
        f"({best.sent:,} packets in {args.duration:g} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
