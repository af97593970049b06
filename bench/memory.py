#!/usr/bin/env python3
"""Memory per active connection: the engine's objects divided by the connections it holds.

Two measurements, both with ``tracemalloc`` (only what the engine allocates while it is fed
counts: the frames are built or read before tracing starts), each with and without the
anomaly detector (``tracker._SEQ_FACTORY = False`` switches it off):

* **held** (the default, issue 13's figure): ``--held`` connections (100,000) opened and
  left open at once -- a three-way handshake with MSS / SACK-permitted / timestamp /
  window-scale options, one request and one response with their ACKs, so that each
  direction has a handshake and a data RTT sample, IPv4 ID, TSval and an advertised window:
  the steady state of an open connection, nothing pending.  Five frames each, built in
  memory (valid checksums), a few microseconds apart so that no timer expires.  Bytes per
  held connection = everything the analyzer holds (flow table entry, tracker, Zeek model,
  detector) / connections held.  Run for both engines: this process for the engine it
  loaded, and a child process with ``TCPFLOW_ANALYZER_PURE=1`` for the interpreted one (or
  the other way round), so one run prints both.
* **capture** (``--capture PATH``): the first ``--packets`` frames of a real capture (the
  benchmark one by default with ``--packets``), divided by the connections held at that
  moment.  Connections there carry more history (retransmissions, closes in progress).

``--top K`` also lists, for the run with the detector, the K source lines whose allocations
the engine still holds, in bytes and blocks per held connection (tracemalloc's snapshot
grouped by line, then by module): where the memory of a held connection goes.  Compiled,
tracemalloc charges everything a typed module allocates to the Python line that called it
(the flow table's ``Connection(...)``), so ``--sizes`` lists instead the objects one held
connection owns, each with its size (``sys.getsizeof``: C fields, header and, for the
objects the cyclic GC tracks, its 16-byte header).

Usage::

    python bench/memory.py [--held N] [--engine both|this] [--capture PATH] [--packets N]
                           [--top K] [--sizes]

Without ``--capture`` it uses (or makes) the capture ``bench/run.py`` uses.  For the
memory at the active-connection cap, give it the capture of ``gen_adversarial.py
held-open`` cut at the end of its data phase (6 frames per connection), when every
connection is held::

    python bench/gen_adversarial.py held-open held.pcap --connections 32768
    python bench/memory.py --capture held.pcap --packets 196608 --top 20
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))
sys.path.insert(0, str(BENCH_DIR))

import gen_capture  # noqa: E402  (sibling module)
import run as bench_run  # noqa: E402  (sibling module)

import tcpflow_analyzer.tracker as tracker  # noqa: E402
from tcpflow_analyzer import _engine  # noqa: E402
from tcpflow_analyzer.pipeline import Analyzer  # noqa: E402
from tcpflow_analyzer.sources.pcapfile import Frame, open_capture  # noqa: E402
from tcpflow_analyzer.tracker import TrackerConfig  # noqa: E402

_SYN, _ACK, _PSH, _FIN = 0x02, 0x10, 0x08, 0x01
_ETH = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00"
_SERVER = bytes((10, 255, 0, 1))



def _frame(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int,
           win: int, ip_id: int, opts: bytes, payload: bytes) -> bytes:
    """One Ethernet/IPv4/TCP frame with correct checksums."""
    thl = 20 + len(opts)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (thl // 4) << 4, flags, win, 0, 0)
    tcp += opts + payload
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    c = -gen_capture._ones_sum(pseudo + tcp) % 0xFFFF  # the ones'-complement checksum
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), ip_id, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", -gen_capture._ones_sum(ip) % 0xFFFF) + ip[12:]
    return _ETH + ip + tcp


def _ts_opt(tsval: int, tsecr: int) -> bytes:
    """NOP, NOP, timestamps (12 bytes)."""
    return b"\x01\x01\x08\x0a" + struct.pack("!II", tsval, tsecr)


def held_frames(n: int) -> list[Frame]:
    """Five frames per connection for ``n`` connections left open (see the module doc)."""
    frames: list[Frame] = []
    frame = 0
    ts = 1_700_000_000.0
    syn_opts = b"\x02\x04\x05\xb4\x04\x02"  # MSS 1460, SACK permitted
    req = b"GET / HTTP/1.1\r\nHost: example\r\n\r\n"
    resp = b"HTTP/1.1 200 OK\r\nContent-Length: 400\r\n\r\n" + b"x" * 400
    for i in range(n):
        cli = bytes((10, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF))
        sport = 1024 + (i * 7919) % 60000
        c_isn = (i * 2654435761 + 0xF0000000) & 0xFFFFFFFF  # some near 2**32: wrap-around
        s_isn = (i * 40503 * 65537 + 12345) & 0xFFFFFFFF
        c_id = (i * 31) & 0xFFFF
        s_id = (i * 17 + 5) & 0xFFFF
        tv = i & 0xFFFFFF
        segs = (
            (True, c_isn, 0, _SYN, 64240, syn_opts + _ts_opt(tv, 0)[2:] + b"\x01\x03\x03\x07", b""),
            (False, s_isn, c_isn + 1, _SYN | _ACK, 65160,
             syn_opts + _ts_opt(tv + 7, tv)[2:] + b"\x01\x03\x03\x07", b""),
            (True, c_isn + 1, s_isn + 1, _ACK | _PSH, 502, _ts_opt(tv + 1, tv + 7),
             req),
            (False, s_isn + 1, c_isn + 1 + len(req), _ACK | _PSH, 509,
             _ts_opt(tv + 8, tv + 1), resp),
            (True, c_isn + 1 + len(req), s_isn + 1 + len(resp), _ACK, 501,
             _ts_opt(tv + 2, tv + 8), b""),
        )
        for k, (from_cli, seq, ack, flags, win, opts, payload) in enumerate(segs):
            frame += 1
            ts += 0.00001
            src, dst, sp, dp = (cli, _SERVER, sport, 443) if from_cli else (
                _SERVER, cli, 443, sport)
            ip_id = (c_id + k) & 0xFFFF if from_cli else (s_id + k) & 0xFFFF
            data = _frame(src, dst, sp, dp, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, flags, win,
                          ip_id, opts, payload)
            frames.append((frame, ts, 1, data))
    return frames


def per_connection(
    frames: list[Frame], detector: bool, top: int = 0
) -> tuple[int, float, list[str]]:
    """(connections held, bytes per held connection, the ``top`` allocation sites) after
    feeding ``frames``."""
    saved = tracker._SEQ_FACTORY
    if not detector:
        tracker._SEQ_FACTORY = False  # the tracker then runs without the anomaly detector
    try:
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        analyzer = Analyzer(TrackerConfig(), lambda _flow: None)
        analyzer.feed(frames)
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - base
        snapshot = tracemalloc.take_snapshot() if top else None
        tracemalloc.stop()
        held = len(analyzer.table.active)
        return held, used / max(held, 1), _top_lines(snapshot, top, max(held, 1))
    finally:
        tracker._SEQ_FACTORY = saved


def _top_lines(snapshot: tracemalloc.Snapshot | None, top: int, held: int) -> list[str]:
    if snapshot is None:
        return []
    snapshot = snapshot.filter_traces([tracemalloc.Filter(True, "*tcpflow_analyzer*")])
    root = str(BENCH_DIR.parent) + "/"
    lines = []
    for key in ("lineno", "filename"):
        lines.append(f"  held by {'line' if key == 'lineno' else 'module'}:")
        for st in snapshot.statistics(key)[:top]:
            frame = st.traceback[0]
            where = frame.filename.replace(root, "")
            if key == "lineno":
                where += f":{frame.lineno}"
            lines.append(f"    {st.size / held:8.1f} B {st.count / held:6.2f} blocks  {where}")
    return lines


def owned_objects(frames: list[Frame]) -> list[tuple[str, int]]:
    """(what, bytes) of the objects that the last connection of ``frames`` alone holds, with
    the detector: its structs, its containers, and its share of the flow table (the index:
    a dict keyed by 5-tuples interpreted, the FlowIndex's slots compiled; ``active``)."""
    analyzer = Analyzer(TrackerConfig(), lambda _flow: None)
    analyzer.feed(frames)
    table = analyzer.table
    conns = list(itertools.islice(reversed(table.active.values()), 2))
    conn, other = conns[0], conns[-1]  # what ``other`` holds too is shared, not counted
    out: list[tuple[str, int]] = [("Connection (record + orchestrator)", sys.getsizeof(conn))]
    for name in ("a", "b"):
        ep = getattr(conn, name)
        out.append((f"Endpoint {name}", sys.getsizeof(ep)))
        more = getattr(ep, "_more", None)
        if more is not None:
            out.append((f"  {name}._more (EndpointMore: the rarely set fields)",
                        sys.getsizeof(more)))
        for field in ("addr", "_syn_more", "_synack_more", "_fin_more", "opts", "rst_frames",
                      "ooo"):
            v = getattr(ep, field, None)
            if v is not None and v != () and all(
                    v is not getattr(getattr(other, n), field, None) for n in ("a", "b")):
                out.append((f"  {name}.{field}", sys.getsizeof(v)))
    seq = conn.seq
    if seq is not None:
        out.append(("SeqAnalysis", sys.getsizeof(seq)))
        for name in ("_a", "_b"):
            flow = getattr(seq, name)
            out.append((f"  _Flow {name}", sys.getsizeof(flow)))
            more = getattr(flow, "more", None)
            if more is not None:
                out.append((f"    {name}.more (_FlowMore: the rarely set fields)",
                            sys.getsizeof(more)))
            for field in ("rtt", "holes", "retx", "rst", "oow"):
                v = getattr(more if more is not None else flow, field, None)
                if v is not None:
                    out.append((f"    {name}.{field}", sys.getsizeof(v)))
    if conn._x is not None:
        out.append(("  conn._x (ConnExtra: the rarely set fields)", sys.getsizeof(conn._x)))
    for field in ("_tr", "history", "vlan_b", "_anomalies", "_events", "_resets",
                  "_time_wait", "z_expire_more", "z_base", "z_rows", "port_reuse"):
        v = getattr(conn, field)
        if v is not None and v != "" and v != () and v is not getattr(other, field):
            out.append((f"  conn.{field}", sys.getsizeof(v)))
    # the flow table's own share: the index entry (a dict keyed by 5-tuples interpreted,
    # the FlowIndex's 12-byte slots compiled) and the entry of ``active`` (keyed by id)
    index = table.index
    n_index = max(len(index), 1)
    if isinstance(index, dict):
        key = next(k for k, v in reversed(index.items()) if v is conn)
        key_other = next(k for k, v in reversed(index.items()) if v is other)
        out.append(("flow-table key tuple", sys.getsizeof(key)))
        out.extend((f"  port {key[i]} in the key", sys.getsizeof(key[i])) for i in (1, 3)
                   if type(key[i]) is int and key[i] > 256
                   and all(key[i] is not x for x in key_other))
        out.append((f"index dict: its share of the table ({len(index):,} keys)",
                    round(sys.getsizeof(index) / n_index)))
    else:
        out.append((f"FlowIndex: its share of {index.slots:,} slots of 12 B "
                    f"({len(index):,} keys)", round(12 * index.slots / n_index)))
    active = table.active
    out.append((f"active dict: its share of the table ({len(active):,} connections)",
                round(sys.getsizeof(active) / max(len(active), 1))))
    if conn.id > 256:
        out.append(("  the connection id (an int) keying it", sys.getsizeof(conn.id)))
    return out


def _report(frames: list[Frame], what: str, top: int = 0, sizes: bool = False) -> None:
    engine = _engine.engine()
    for detector in (False, True):
        held, per, sites = per_connection(frames, detector, top if detector else 0)
        label = "tracker + anomaly detector" if detector else "tracker only"
        print(f"{engine:8s} {label:27s} {held:7,d} connections held: {per:7.0f} bytes each "
              f"({what})", flush=True)
        for line in sites:
            print(line)
    if sizes:
        print(f"  objects one held connection owns ({engine}; shared ones, such as states, "
              "options, the address of a host seen before, not counted):")
        total = 0
        for name, size in owned_objects(frames[-5000:]):
            total += size
            print(f"    {size:6d} B  {name}")
        print(f"    {total:6d} B  in all")


def main() -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--held", type=int, default=100_000,
                    help="open connections to hold (default 100,000)")
    ap.add_argument("--engine", choices=("both", "this"), default="both",
                    help="both: also run the other engine in a child process")
    ap.add_argument("--capture", type=Path, default=None,
                    help="measure on the first --packets frames of this capture instead")
    ap.add_argument("--packets", type=int, default=None,
                    help="with or without --capture: the benchmark capture's first N frames")
    ap.add_argument("--top", type=int, default=0,
                    help="list the K allocation sites holding most (with the detector)")
    ap.add_argument("--sizes", action="store_true",
                    help="list the objects one held connection owns, with their sizes")
    args = ap.parse_args()
    if args.capture is not None or args.packets is not None:
        capture = args.capture
        if capture is None:
            capture, _count, _temporary = bench_run.prepare_capture(bench_run.parse_args([]))
        reader = open_capture(str(capture))
        frames = list(itertools.islice(reader, args.packets or 300_000))
        reader.close()
        what = f"after {len(frames):,} packets of {capture.name}"
    else:
        frames = held_frames(args.held)
        what = f"{args.held:,} held open, 5 packets each"
    _report(frames, what, args.top, args.sizes)
    if args.engine == "both":
        env = dict(os.environ)
        if _engine.engine() == "compiled":
            env[_engine.PURE_ENV] = "1"
        else:
            env.pop(_engine.PURE_ENV, None)
        cmd = [sys.executable, __file__, "--engine", "this", *sys.argv[1:]]
        child = subprocess.run(cmd, env=env, check=False)
        if child.returncode:
            return child.returncode
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
