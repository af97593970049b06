"""How big the HTML report gets and how fast it opens, on a capture with many connections.

    python bench/report_bench.py                        # 100,000 short connections
    python bench/report_bench.py --capture big.pcap     # an existing capture, as is

Without ``--capture`` it writes ``$TMPDIR/tcpflow-report-bench/short-N.pcap``: N short
HTTP-like connections (handshake, a 100-byte request, a 300-byte response, FIN close; 8
packets each), one every 200 µs from 2,000 client addresses to one server, 3 % refused
with a RST and 2 % left unanswered (SYN only); the addresses are only written to the file.
Then it runs ``tcpflow-analyzer report`` (wall and CPU time, peak RSS) and, for scale,
``tcpflow-analyzer analyze -f json`` on the same capture (the report's CPU time over
analyze's is the figure to watch: wall time on a shared machine says little), and loads the
report in
headless Chromium from ``file://`` with the network off (``tests/browser.py``), timing
navigation to the page saying it is ready (table drawn, timeline and the first connection's
graphs drawn), and checks there was no console error.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dpkt

ROOT = Path(__file__).resolve().parents[1]


def _ip(i: int) -> bytes:
    return bytes((10, 1 + (i >> 16) % 200, (i >> 8) & 255, i & 255))


def write_capture(path: Path, n: int) -> None:
    """N short connections (see the module docstring)."""
    server = bytes((10, 250, 0, 1))
    with path.open("wb") as fh:
        w = dpkt.pcap.Writer(fh, linktype=dpkt.pcap.DLT_EN10MB)
        ts = 1_700_000_000.0

        def put(t: float, src: bytes, dst: bytes, sport: int, dport: int, flags: int,
                seq: int, ack: int, data: bytes = b"") -> None:
            tcp = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags,
                               win=65535, data=data)
            if flags & dpkt.tcp.TH_SYN:
                tcp.opts = b"\x02\x04\x05\xb4"
                tcp.off = 6
            ip = dpkt.ip.IP(src=src, dst=dst, p=6, ttl=64, data=tcp)
            ip.len = len(ip)
            eth = dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, data=ip)
            w.writepkt(bytes(eth), t)

        S, A, P, F, R = (dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK, dpkt.tcp.TH_PUSH, dpkt.tcp.TH_FIN,
                         dpkt.tcp.TH_RST)
        for i in range(n):
            t = ts + i * 0.0002
            c = _ip(i % 2000)
            cp = 20000 + (i // 2000) % 40000
            ci, si = (i * 7919) & 0xFFFFFFFF, (i * 104729) & 0xFFFFFFFF
            put(t, c, server, cp, 80, S, ci, 0)
            if i % 100 < 3:
                put(t + 0.0001, server, c, 80, cp, R | A, 0, ci + 1)
                continue
            if i % 100 < 5:
                continue
            rtt = 0.002
            put(t + rtt / 2, server, c, 80, cp, S | A, si, ci + 1)
            put(t + rtt, c, server, cp, 80, A, ci + 1, si + 1)
            put(t + rtt + 1e-5, c, server, cp, 80, P | A, ci + 1, si + 1, b"G" * 100)
            put(t + 1.5 * rtt, server, c, 80, cp, P | A, si + 1, ci + 101, b"H" * 300)
            put(t + 2 * rtt, c, server, cp, 80, F | A, ci + 101, si + 301)
            put(t + 2.5 * rtt, server, c, 80, cp, F | A, si + 301, ci + 102)
            put(t + 3 * rtt, c, server, cp, 80, A, ci + 102, si + 302)


def _timed(args: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall s, CPU s (user + system) and peak RSS MB of one child process."""
    import threading

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.Popen(args, env=env)
    peak = [0.0]

    def watch() -> None:  # ru_maxrss of RUSAGE_CHILDREN is the largest child so far
        while proc.poll() is None:
            try:
                with open(f"/proc/{proc.pid}/status") as fh:
                    for line in fh:
                        if line.startswith("VmHWM:"):
                            peak[0] = max(peak[0], int(line.split()[1]) / 1024)
            except OSError:
                pass
            time.sleep(0.05)

    th = threading.Thread(target=watch, daemon=True)
    th.start()
    if proc.wait() != 0:
        raise SystemExit(f"{' '.join(args[2:4])} failed")
    th.join()
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, peak[0]


def main() -> int:
    """Generate (or take) the capture, make the report, open it in Chromium."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--connections", type=int, default=100_000)
    ap.add_argument("--capture", type=Path)
    ap.add_argument("--report", type=Path)
    ap.add_argument("--no-analyze", action="store_true", help="do not time analyze")
    ap.add_argument("--no-browser", action="store_true", help="do not load the report")
    args = ap.parse_args()
    work = Path(tempfile.gettempdir()) / "tcpflow-report-bench"
    work.mkdir(exist_ok=True)
    cap = args.capture or work / f"short-{args.connections}.pcap"
    if not cap.exists():
        t = time.perf_counter()
        write_capture(cap, args.connections)
        print(f"wrote {cap} ({cap.stat().st_size / 1e6:.1f} MB) in "
              f"{time.perf_counter() - t:.1f} s", flush=True)
    out = args.report or work / (cap.stem + ".html")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    tool = [sys.executable, "-m", "tcpflow_analyzer"]
    wall, cpu, rss = _timed([*tool, "report", str(cap), "-o", str(out)], env)
    print(f"report: {out.stat().st_size / 1e6:.2f} MB in {wall:.1f} s (CPU {cpu:.1f} s), "
          f"peak RSS {rss:.0f} MB")
    if not args.no_analyze:
        json_out = work / (cap.stem + ".json")
        a_wall, a_cpu, a_rss = _timed([*tool, "analyze", str(cap), "-f", "json", "-o",
                                       str(json_out)], env)
        json_out.unlink()
        print(f"analyze -f json: {a_wall:.1f} s (CPU {a_cpu:.1f} s), peak RSS {a_rss:.0f} MB;"
              f" report / analyze CPU time: {cpu / a_cpu:.2f}x")
    if args.no_browser:
        return 0
    sys.path.insert(0, str(ROOT))
    from tests.browser import chromium, load_page

    if chromium() is None:
        print("chromium is not installed: no load time")
        return 0
    res = load_page(out.as_uri(), {
        "rows": "document.querySelectorAll('#conn-body tr').length",
        "count": "document.getElementById('conn-count').textContent",
        "charts": "document.querySelectorAll('canvas').length",
        "sort_ms": "(() => { const t = performance.now();"
                   " document.querySelector('#conn-head th[data-col=\"duration\"]').click();"
                   " return Math.round(performance.now() - t); })()",
    })
    print(f"chromium: ready {res.load_s:.2f} s after navigation; {res.values['count']}; "
          f"{res.values['charts']} canvases; sorting all rows by duration "
          f"{res.values['sort_ms']} ms; errors {res.errors or 'none'}; "
          f"requests {res.requests or 'none'}")
    return 1 if res.errors or res.requests else 0


if __name__ == "__main__":
    sys.exit(main())
