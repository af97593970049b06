"""The tseq graph data against tcptrace's time-sequence graphs (its xplot files).

``tcptrace -S`` writes one ``*_tsg.xpl`` per direction of every connection: segments as
vertical lines (``darrow``/``uarrow``/``line``, red with an ``R`` for a retransmission), the
receiver's ACK line (green) and advertised-window line (yellow, ACK + scaled window) as
steps.  For every sample capture, the synthetic ones and the real kernel captures
(``samples/kernel-*``, ``samples/anomalies/kernel-*``), each direction of each connection
must agree with :func:`~tcpflow_analyzer.graphdata.build_graph_data` (``raw_seq``) point
for point: times to the microsecond, sequence numbers exactly.

The two tools define a few points differently; the comparison allows exactly these, and
each says who is right:

1. **FIN on a data segment**: tcptrace draws the data and, apart, a one-byte box for the
   FIN; we draw one segment covering both (its sequence space is one range, RFC 9293
   §3.4).  Same numbers, so the pieces are merged before comparing.
2. **Data on a SYN** (TCP Fast Open, SYN with data): tcptrace draws the SYN as ISN..ISN+1
   and drops its payload; we draw ISN..ISN+1+len, the sequence space the segment really
   occupies.  We are right.
3. **Wrapped sequence numbers**: tcptrace prints every value mod 2**32, so its line jumps
   back to 0 at the wrap; our raw numbers run on past 2**32 along the same line.  Compared
   mod 2**32; both are the same numbers.
4. **The first ACK** (normally the SYN-ACK's) only starts tcptrace's ACK and window lines
   (no point is drawn at it); we plot it.  So we have exactly one ACK point more, the first.
5. **ACK of a RST**: tcptrace leaves RST segments out of its ACK line; we plot the ACK of
   a RST+ACK (the field is valid there, RFC 9293 §3.10.7).  Our ACK points at RSTs are left
   out of the ACK comparison.  The *window* of a RST both tools leave out (it advertises
   nothing; Linux sends 0): our window edge there is ``None``, so the window lines are
   compared whole, RSTs included.
6. **Retransmission marks**: tcptrace marks ``R`` on any segment whose sequence numbers it
   saw before.  We name the cause instead: a keep-alive probe (``keep_alive``, RFC 9293
   §3.8.4) or a copy the network made (``duplicate_segment``, same IP ID) is not a
   retransmission by the sender, and we are right; and we also mark a retransmission whose
   first copy was lost before the capture point (``lost_segment`` left a gap), which
   tcptrace cannot see.  So: every ``R`` is one of our retransmission, keep-alive or
   duplicate marks, and each of our retransmission marks without an ``R`` carries bytes no
   earlier captured segment carried.
7. **Connection identity**: where one 4-tuple carries several connections (port reuse,
   a stray SYN-ACK answered by a RST), tcptrace splits them by its own rules, not by the
   RFC states; those 4-tuples are left to the identity tests.

Everything else is equal: every segment's time and sequence range, and the value of the ACK
and window lines (ACK + window << the negotiated scale, unscaled on a SYN) after every ACK.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tcpflow_analyzer.graphdata import GraphCollector, build_graph_data
from tcpflow_analyzer.pipeline import analyze_captures
from tcpflow_analyzer.segment import RST
from tcpflow_analyzer.tracker import TrackerConfig

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = sorted(str(p.relative_to(ROOT)) for p in (
    [*ROOT.glob("samples/*.pcap"), *ROOT.glob("samples/*.pcapng"),
     *ROOT.glob("samples/anomalies/*.pcap")]))
MOD = 1 << 32
US = 1.5e-6  # both tools print microseconds
RETRANSMISSIONS = {"retransmission", "fast_retransmission", "spurious_retransmission"}
NOT_BY_THE_SENDER = {"keep_alive", "duplicate_segment"}
#: every 4-tuple of these carries several connections (difference 7), tcptrace draws
#: nothing of a lone RST, and it does not decode 802.1ad (QinQ) frames ("no traced TCP
#: packets"; we do)
NOTHING_COMPARABLE = {"samples/anomalies/challenge-ack.pcap", "samples/lone-rst.pcap",
                      "samples/time-wait-reuse.pcap", "samples/vlan-qinq.pcap"}

pytestmark = pytest.mark.skipif(shutil.which("tcptrace") is None,
                                reason="tcptrace is not installed (tests/setup_oracles.py)")


def _endpoint(text: str, port: str) -> tuple[str, int]:
    return str(ipaddress.ip_address(text)), int(port)


def parse_xpl(text: str) -> dict[str, Any]:
    """One tcptrace time-sequence graph: its direction, segments, ACK and window lines
    and the times of its R marks."""
    lines = text.splitlines()
    m = re.match(r"(.*):(\d+)_==>_(.*):(\d+) ", lines[2])
    assert m is not None, lines[2]
    out: dict[str, Any] = {"key": (_endpoint(m[1], m[2]), _endpoint(m[3], m[4])),
                           "segments": [], "ack": [], "win": [], "R": []}
    colour = ""
    for i, line in enumerate(lines):
        w = line.split()
        if len(w) == 1 and w[0].isalpha():
            colour = w[0]
        elif w and w[0] == "line":
            x1, y1, x2, y2 = float(w[1]), int(w[2]), float(w[3]), int(w[4])
            if colour == "green":
                out["ack"].append((x1, y1, x2, y2))
            elif colour == "yellow":
                out["win"].append((x1, y1, x2, y2))
            elif colour != "purple" and x1 == x2 and y1 != y2:  # purple: SACK blocks
                out["segments"].append((x1, y1, y2))
        elif w and w[0] == "atext" and i + 1 < len(lines) and lines[i + 1] == "R":
            out["R"].append(float(w[1]))
    return out


def steps(pieces: list[tuple[float, int, float, int]]) -> list[tuple[float, int]]:
    """(time, value from then on) of a step line drawn as horizontal + vertical pieces."""
    at: dict[float, int] = {}
    for _x1, y1, x2, y2 in pieces:
        at[x2] = y2 if y1 != y2 else at.get(x2, y1)
    return sorted(at.items())


def merged(segments: list[tuple[float, int, int]]) -> list[tuple[float, int, int]]:
    """tcptrace's FIN box joined to the data segment it rides on (difference 1)."""
    out: list[tuple[float, int, int]] = []
    for x, lo, hi in sorted(segments):
        if out and abs(out[-1][0] - x) < US and out[-1][2] == lo and hi == (lo + 1) % MOD:
            out[-1] = (out[-1][0], out[-1][1], hi)
        else:
            out.append((x, lo, hi))
    return out


def tcptrace_graphs(capture: str, tmp: Path) -> list[dict[str, Any]]:
    subprocess.run(["tcptrace", "-S", "-n", str(ROOT / capture)], cwd=tmp,
                   capture_output=True, check=True, timeout=60)
    return [parse_xpl(p.read_text()) for p in sorted(tmp.glob("*_tsg.xpl"))]


def our_graphs(capture: str) -> dict[tuple[Any, Any], list[dict[str, Any]]]:
    """(sender, receiver) -> the direction's raw and relative graph data and its t0, one
    entry per connection of that 4-tuple."""
    col = GraphCollector()
    analyze_captures([str(ROOT / capture)], TrackerConfig(), col.on_flow,
                     on_segment=col.on_segment)
    out: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    for tr in col.traces:
        extras = col.extras.get(tr.report["id"])
        raw = build_graph_data(tr, extras, raw_seq=True)["directions"]
        rel = build_graph_data(tr, extras)["directions"]
        o, r = tr.report["orig"], tr.report["resp"]
        ends = {"orig": (o["ip"], o["port"]), "resp": (r["ip"], r["port"])}
        rsts = {rec.frame for rec in tr.records if rec.flags & RST}
        for role, peer in (("orig", "resp"), ("resp", "orig")):
            out.setdefault((ends[role], ends[peer]), []).append(
                {"raw": raw[role], "rel": rel[role], "t0": tr.records[0].ts, "rsts": rsts})
    return out


def _near(t: float, times: list[float]) -> int | None:
    best = min(range(len(times)), key=lambda i: abs(times[i] - t), default=None)
    return best if best is not None and abs(times[best] - t) < US else None


def compare(theirs: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    """Every disagreement beyond the documented differences, as text."""
    bad: list[str] = []
    t0 = ours["t0"]
    d, rel = ours["raw"], ours["rel"]
    # -- segments (differences 1-3)
    tt = merged(theirs["segments"])
    us = sorted((t0 + s[0], s[1] % MOD, s[2] % MOD, s[4]) for s in d["segments"]
                if s[1] != s[2])
    if len(tt) != len(us):
        bad.append(f"{len(tt)} segments drawn by tcptrace, {len(us)} by us")
    isn = min((s[1] for s in d["segments"] if s[4] == "syn"), default=None)
    for a, b in zip(tt, us, strict=False):
        same = abs(a[0] - b[0]) < US and a[1] == b[1]
        end_ok = a[2] == b[2] or (b[3] == "syn" and a[1] == isn % MOD
                                  and a[2] == (a[1] + 1) % MOD)
        if not (same and end_ok):
            bad.append(f"segment {a} (tcptrace) vs {b[:3]} (ours)")
    # -- ACK and window lines (differences 4 and 5)
    acks = {"ack": [a for a in d["acks"] if a[3] not in ours["rsts"]],
            "win": [a for a in d["acks"] if a[2] is not None]}
    for name, col in (("ack", 1), ("win", 2)):
        series = steps(theirs[name])
        last = {t0 + a[0]: a[col] % MOD for a in acks[name]}  # the value after each ACK
        if len(series) != max(len(last) - 1, 0):
            bad.append(f"{name}: {len(series)} points by tcptrace, {len(last)} by us")
        times = sorted(last)
        for x, value in series:
            i = _near(x, times)
            if i is None or last[times[i]] != value:
                bad.append(f"{name} at {x:.6f}: tcptrace {value}, ours "
                           f"{last[times[i]] if i is not None else 'none'}")
    # -- retransmission marks (difference 6)
    marked = [t0 + s[0] for s in d["segments"] if s[4] in RETRANSMISSIONS | NOT_BY_THE_SENDER]
    bad.extend(f"R at {x:.6f} (tcptrace) is no retransmission of ours"
               for x in theirs["R"] if _near(x, marked) is None)
    seen: list[tuple[int, int]] = []  # the byte ranges captured so far
    for s in rel["segments"]:
        if s[4] in RETRANSMISSIONS and _near(t0 + s[0], theirs["R"]) is None \
                and _covered(s[1], s[2], seen):
            bad.append(f"our {s[4]} at {t0 + s[0]:.6f} re-sends captured bytes, no R")
        seen.append((s[1], s[2]))
    return bad


def _covered(lo: int, hi: int, ranges: list[tuple[int, int]]) -> bool:
    """Whether [lo, hi) lies inside the union of ``ranges``."""
    for a, b in sorted(ranges):
        if a <= lo < b:
            lo = b
        if lo >= hi:
            return True
    return lo >= hi


@pytest.mark.parametrize("capture", CAPTURES)
def test_tseq_data_matches_tcptrace_time_sequence_graphs(capture: str, tmp_path: Path) -> None:
    theirs = tcptrace_graphs(capture, tmp_path)
    ours = our_graphs(capture)
    keys = [g["key"] for g in theirs]
    compared = 0
    for g in theirs:
        mine = ours.get(g["key"], [])
        if len(mine) != 1 or keys.count(g["key"]) != 1:
            continue  # several connections on one 4-tuple (difference 7)
        if not g["segments"] and not g["ack"]:
            continue  # tcptrace drew nothing for this direction (a lone RST)
        problems = compare(g, mine[0])
        assert not problems, (capture, g["key"], problems[:6])
        compared += 1
    assert compared or capture in NOTHING_COMPARABLE, f"nothing of {capture} was compared"


def test_the_comparison_sees_a_wrong_window() -> None:
    """The comparison is not blind: a window line off by one byte is reported."""
    xpl = ("timeval double\ntitle\n10.0.0.1:1_==>_10.0.0.2:2 (time sequence graph)\n"
           "green\nline 1.000000 101 1.000100 101\nline 1.000100 101 1.000100 201\n"
           "yellow\nline 1.000000 1101 1.000100 1101\nline 1.000100 1101 1.000100 1202\n"
           "white\ndarrow 1.000050 101\nuarrow 1.000050 201\n"
           "line 1.000050 101 1.000050 201\n")
    theirs = parse_xpl(xpl)
    acks = [[0.0, 101, 1101, 2], [0.0001, 201, 1201, 4]]
    direction = {"segments": [[0.00005, 101, 201, 3, "data"]], "acks": acks}
    rel = {"segments": [[0.00005, 0, 100, 3, "data"]],
           "acks": [[0.0, 0, 1000, 2], [0.0001, 100, 1100, 4]]}
    problems = compare(theirs, {"raw": direction, "rel": rel, "t0": 1.0, "rsts": set()})
    assert problems == ["win at 1.000100: tcptrace 1202, ours 1201"]
