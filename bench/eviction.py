#!/usr/bin/env python3
"""Connections reported against connections in the capture, far above the active-connection cap.

Writes a capture of ``--connections`` interleaved long connections (default 500,000): every
one opens (SYN, SYN-ACK, ACK) before any carries data, then each sends 10 bytes and has
them acknowledged, ``--rounds`` times, then (``--close``) closes with FIN, FIN, ACK; packets
20 µs apart, so no connection is idle long enough to expire.  It then analyses the capture
with the active-connection cap at ``--max-active`` (default 10,000: 50 connections per slot
of the cap), in its own process, and prints the connections reported against the truth,
how many of them were cut short by the cap, and the peak RSS of that process
(``ru_maxrss``).  Run it against another tree's code with ``PYTHONPATH=/that/tree``.

Usage::

    python bench/eviction.py                                # 500,000 connections, cap 10,000
    python bench/eviction.py --connections 100000 --max-active 2000 --close
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from gen_capture import _ones_sum  # noqa: E402

ORIG_ISN = 1_000_000
RESP_ISN = 5_000_000
SYN, FIN, ACK, PSH = 0x02, 0x01, 0x10, 0x08

CHILD = r"""
import json, resource, sys, time
from collections import Counter
from tcpflow_analyzer.pipeline import analyze_captures
from tcpflow_analyzer.tracker import TrackerConfig
path, cap = sys.argv[1], int(sys.argv[2])
seen = Counter()
n = cut = 0
status = Counter()
def on_flow(f):
    global n, cut
    n += 1
    seen[(f["orig"]["ip"], f["orig"]["port"])] += 1
    cut += "cut_short_by_cap" in f["anomalies"]
    status[f["handshake"]["status"]] += 1
t0 = time.perf_counter()
st = analyze_captures([path], TrackerConfig(max_active=cap), on_flow)
print(json.dumps({
    "reported": n, "distinct": len(seen), "cut_short": cut,
    "handshake": dict(status), "wall_s": round(time.perf_counter() - t0, 1),
    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    "warnings": [w for w in st.warnings if "active at once" in w]}))
"""


def write_capture(path: Path, conns: int, rounds: int, close: bool) -> int:
    """The interleaved capture; returns its packet count."""
    eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    rec = struct.Struct("<IIII")
    dst = bytes([198, 51, 100, 80])
    count = 0
    out: list[bytes] = []
    fh = open(path, "wb")
    fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))

    def frame(i: int, from_orig: bool, seq: int, ack: int, flags: int, plen: int = 0) -> None:
        nonlocal count
        src = bytes([10, (i >> 16) & 255, (i >> 8) & 255, i & 255])
        sport = 1024 + i % 60000
        s, d, sp, dp = (src, dst, sport, 80) if from_orig else (dst, src, 80, sport)
        payload = b"x" * plen
        tcp = struct.pack("!HHIIBBHHH", sp, dp, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4,
                          flags, 64240, 0, 0) + payload
        pseudo = s + d + struct.pack("!BBH", 0, 6, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", -_ones_sum(pseudo + tcp) % 0xFFFF) + tcp[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), count & 0xFFFF, 0x4000, 64,
                         6, 0, s, d)
        ip = ip[:10] + struct.pack("!H", -_ones_sum(ip) % 0xFFFF) + ip[12:]
        f = eth + ip + tcp
        us = count * 20
        out.append(rec.pack(1_700_000_000 + us // 1_000_000, us % 1_000_000, len(f), len(f))
                   + f)
        count += 1
        if len(out) >= 65536:
            fh.write(b"".join(out))
            out.clear()

    for i in range(conns):
        frame(i, True, ORIG_ISN, 0, SYN)
        frame(i, False, RESP_ISN, ORIG_ISN + 1, SYN | ACK)
        frame(i, True, ORIG_ISN + 1, RESP_ISN + 1, ACK)
    for r in range(rounds):
        for i in range(conns):
            frame(i, True, ORIG_ISN + 1 + 10 * r, RESP_ISN + 1, ACK | PSH, 10)
            frame(i, False, RESP_ISN + 1, ORIG_ISN + 11 + 10 * r, ACK)
    if close:
        seq = ORIG_ISN + 1 + 10 * rounds
        for i in range(conns):
            frame(i, True, seq, RESP_ISN + 1, FIN | ACK)
            frame(i, False, RESP_ISN + 1, seq + 1, FIN | ACK)
            frame(i, True, seq + 1, RESP_ISN + 2, ACK)
    fh.write(b"".join(out))
    fh.close()
    return count


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--connections", type=int, default=500_000)
    ap.add_argument("--max-active", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--close", action="store_true")
    ap.add_argument("--capture", type=Path, help="where to write the capture (kept)")
    args = ap.parse_args(argv)
    path = args.capture or Path(tempfile.mkdtemp()) / "interleaved.pcap"
    t0 = time.perf_counter()
    packets = write_capture(path, args.connections, args.rounds, args.close)
    print(f"capture: {args.connections:,} connections, {packets:,} packets, "
          f"{path.stat().st_size / 1e6:.0f} MB, written in {time.perf_counter() - t0:.0f} s")
    try:
        # run from the capture's directory: ``-c`` puts the working directory first on
        # sys.path, which must not shadow PYTHONPATH's tree
        res = subprocess.run([sys.executable, "-c", CHILD, str(path), str(args.max_active)],
                             capture_output=True, text=True, check=True, cwd=path.parent)
    finally:
        if args.capture is None:
            path.unlink()
            path.parent.rmdir()
    r = json.loads(res.stdout)
    print(f"cap {args.max_active:,}: reported {r['reported']:,} connections "
          f"({r['distinct']:,} distinct 4-tuples) for {args.connections:,} real ones; "
          f"{r['cut_short']:,} cut short by the cap; handshakes {r['handshake']}")
    print(f"analysis {r['wall_s']} s, peak RSS {r['peak_rss_mb']} MB "
          f"(PYTHONPATH={os.environ.get('PYTHONPATH', '')})")
    for w in r["warnings"]:
        print("warning:", w)
    return 0 if r["reported"] == args.connections else 1


if __name__ == "__main__":
    sys.exit(main())
