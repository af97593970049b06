#!/usr/bin/env python3
"""Peak RSS of ``analyze`` in every output format, side by side with tcptrace, in one run.

For each capture (the 1M- and 4M-packet benchmark captures; a SYN flood of one million
unanswered SYNs from as many source ports and 4,096 source addresses; ``held``: 262,144
connections, the default active-connection cap, all open at once, see
``gen_adversarial.py held-open``; ``offload``: 100,000 source addresses whose every
checksum is wrong, see ``gen_adversarial.py offload``) it runs
``tcptrace -l -n CAP`` and ``tcpflow-analyzer analyze CAP -f FMT -o /dev/null`` for every
format, each in its own process, and prints wall time, packets/s and peak RSS
(``ru_maxrss`` of the measured process alone; see ``run.py``'s launcher).

Usage::

    python bench/format_memory.py                       # all captures, all formats
    python bench/format_memory.py --captures 1m,flood --formats json,ndjson
    python bench/format_memory.py --captures held,offload --no-tcptrace
    python bench/format_memory.py --capture-1m PATH --capture-4m PATH

The benchmark captures are made by ``run.py``'s generator when missing (``--packets``
1,000,000 and 4,000,000, seed 1) and cached as ``run.py`` caches them; the flood and the
two ``gen_adversarial.py`` captures are written once to ``$TMPDIR/tcpflow-bench/``
(``syn-flood-1m.pcap``, ``held-open-262144.pcap``, ``offload-100000.pcap``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import sys
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import gen_adversarial  # noqa: E402  (sibling module)
import run as bench_run  # noqa: E402  (sibling module)
from gen_capture import _ones_sum  # noqa: E402

FORMATS = ("ndjson", "json", "csv", "zeek", "terminal")
CAPTURES = ("1m", "4m", "flood", "held", "offload")


def write_syn_flood(path: Path, n: int = 1_000_000) -> None:
    """``n`` SYNs to 198.51.100.80:80, 20 µs apart, from 4,096 addresses in 10.0.0.0/8 and
    ports 1024..; none is answered, so every one is a half-open attempt held until its
    handshake timeout (or the active-connection cap) ends it."""
    dst = bytes([198, 51, 100, 80])
    eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    rec = struct.Struct("<IIII")
    tmp = path.with_suffix(".part")
    with open(tmp, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        out: list[bytes] = []
        for i in range(n):
            src = bytes([10, 0, (i % 4096) >> 8, (i % 4096) & 0xFF])
            sport = 1024 + (i // 4096) % 64000
            seq = (i * 2654435761) & 0xFFFFFFFF
            tcp = struct.pack("!HHIIBBHHH", sport, 80, seq, 0, 5 << 4, 0x02, 64240, 0, 0)
            pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
            tcp = tcp[:16] + struct.pack("!H", -_ones_sum(pseudo + tcp) % 0xFFFF) + tcp[18:]
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), i & 0xFFFF, 0x4000, 64, 6,
                             0, src, dst)
            ip = ip[:10] + struct.pack("!H", -_ones_sum(ip) % 0xFFFF) + ip[12:]
            frame = eth + ip + tcp
            us = i * 20
            out.append(rec.pack(1_700_000_000 + us // 1_000_000, us % 1_000_000,
                                len(frame), len(frame)) + frame)
            if len(out) >= 65536:
                fh.write(b"".join(out))
                out.clear()
        fh.write(b"".join(out))
    tmp.replace(path)


def bench_capture(packets: int) -> Path:
    """The cached benchmark capture of ``packets`` packets (seed 1), made when missing."""
    args = bench_run.parse_args(["--packets", str(packets), "--keep"])
    path, _count, _temp = bench_run.prepare_capture(args)
    return path


def cached_capture(name: str) -> Path:
    """``$TMPDIR/tcpflow-bench/`` capture ``name`` (flood, held or offload), written when
    missing."""
    d = Path(tempfile.gettempdir()) / "tcpflow-bench"
    d.mkdir(parents=True, exist_ok=True)
    file = {"flood": "syn-flood-1m.pcap", "held": "held-open-262144.pcap",
            "offload": "offload-100000.pcap"}[name]
    path = d / file
    if not path.exists():
        print(f"writing {path} ...", file=sys.stderr)
        if name == "flood":
            write_syn_flood(path)
        elif name == "held":
            gen_adversarial.write(path, gen_adversarial.held_open(262_144))
        else:
            gen_adversarial.write(path, gen_adversarial.offload_hosts(100_000))
    return path


def measure(cmd: list[str], timeout: float) -> tuple[float | None, int | None, str]:
    wall, code, rss, _out, err = bench_run.run_once(cmd, False, timeout)
    if code != 0:
        return None, None, bench_run.summarise_stderr(err, code)
    return wall, rss, ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--captures", default=",".join(CAPTURES),
                    help="comma-separated subset of " + ",".join(CAPTURES))
    ap.add_argument("--formats", default=",".join(FORMATS))
    ap.add_argument("--capture-1m", type=Path)
    ap.add_argument("--capture-4m", type=Path)
    ap.add_argument("--timeout", type=float, default=1800.0)
    ap.add_argument("--no-tcptrace", action="store_true")
    args = ap.parse_args(argv)
    which = [c for c in args.captures.split(",") if c]
    formats = [f for f in args.formats.split(",") if f]
    bad = [c for c in which if c not in CAPTURES] + [f for f in formats if f not in FORMATS]
    if bad:
        ap.error(f"unknown capture or format: {', '.join(bad)}")
    paths = {}
    for c in which:
        if c == "1m":
            paths[c] = args.capture_1m or bench_capture(1_000_000)
        elif c == "4m":
            paths[c] = args.capture_4m or bench_capture(4_000_000)
        else:
            paths[c] = cached_capture(c)
    ours = [sys.executable, "-m", "tcpflow_analyzer"]
    print(f"{'capture':<8} {'packets':>10} {'tool':<26} {'wall s':>8} {'packets/s':>11} "
          f"{'peak RSS MB':>12}")
    for c in which:
        path = paths[c]
        packets = bench_run.count_packets(path)
        bench_run.warm_page_cache(path)
        rows: list[tuple[str, list[str]]] = []
        if not args.no_tcptrace and shutil.which("tcptrace"):
            rows.append(("tcptrace -l -n", ["tcptrace", "-l", "-n", str(path)]))
        rows += [(f"analyze -f {fmt}", [*ours, "analyze", str(path), "-f", fmt, "-o",
                                        os.devnull]) for fmt in formats]
        for label, cmd in rows:
            wall, rss, err = measure(cmd, args.timeout)
            if wall is None or rss is None:
                print(f"{c:<8} {packets or 0:>10,} {label:<26} failed: {err}")
                continue
            pps = f"{packets / wall:,.0f}" if packets and wall else "-"
            print(f"{c:<8} {packets or 0:>10,} {label:<26} {wall:>8.1f} {pps:>11} "
                  f"{rss / 1024:>12,.0f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
