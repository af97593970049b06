"""The data behind a connection's graphs (pure): time-sequence, throughput, RTT, window.

Built from a replay of the connection's frames, the way ``show`` builds its ladder:
:class:`GraphCollector` wraps :class:`~tcpflow_analyzer.ladder.LadderCollector` (one
:class:`~tcpflow_analyzer.ladder.SegmentRecord` per segment, paired with the finished
report) and adds, per segment, what the ladder does not need: SACK blocks, and each
Karn-valid RTT sample the sequence analysis takes (read right after the segment that
completed it, so the samples are exactly those counted in ``measurements.*.rtt``).
:func:`build_graph_data` then turns one trace into plain data (lists of numbers, JSON-ready),
which :mod:`.render.graphs` draws with matplotlib and :mod:`.render.htmlreport` hands to
uPlot in the browser.  Golden tests compare this data, not pixels.

Conventions: ``t`` is seconds since the connection's first segment; sequence numbers are
relative to each side's ISN (as in ``show``) unless ``raw_seq``; a direction is named by
its *sender* (``orig`` = data orig sent, the ACKs and windows resp advertised for it).
A RST's window field advertises nothing: its ACK point has no window edge (``None``) and
the window graph has no point at it.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from .anomalies import severity
from .ladder import ConnectionTrace, LadderCollector, Selection, _Numbering
from .segment import FIN, RST, SYN, Segment
from .seqnum import unwrap
from .tracker import Connection

#: Segment marks, most telling first: a segment drawn with the first that applies.
MARKS = ("lost_segment", "spurious_retransmission", "fast_retransmission", "retransmission",
         "out_of_order", "duplicate_segment", "zero_window_probe", "window_full",
         "keep_alive", "bad_checksum")
GRAPH_KINDS = ("tseq", "throughput", "rtt", "window")


class GraphCollector:
    """Records the selected connections' segments for their graphs (see the module
    docstring).  Pass :meth:`on_segment` to ``Analyzer.feed`` and :meth:`on_flow` as the
    analyzer's ``on_flow``; afterwards :attr:`traces` and :attr:`extras`."""

    def __init__(self, selection: Selection | None = None) -> None:
        self.ladder = LadderCollector(selection)
        #: conn id -> {"sack": [(frame, blocks)], "rtt": [(frame, ts, sender_is_a, s)]}
        self.extras: dict[int, dict[str, list[Any]]] = {}
        self._rtt_n: dict[int, tuple[int, int]] = {}

    @property
    def traces(self) -> list[ConnectionTrace]:
        """The finished, selected connections (id order)."""
        return self.ladder.sorted_traces()

    @property
    def all_ids(self) -> list[int]:
        """Every connection id seen."""
        return self.ladder.all_ids

    def on_segment(self, conn: Connection, seg: Segment, from_a: bool, processed: bool) -> None:
        """Record one segment (called after the tracker processed it)."""
        ladder = self.ladder
        ladder.on_segment(conn, seg, from_a, processed)
        cid = conn.id
        if cid not in ladder._records or cid in ladder._unrecorded:
            return  # not selected, or past the ladder's MAX_CONN_RECORDS
        extra = self.extras.get(cid)
        if extra is None:
            if cid not in ladder._records:
                return
            extra = self.extras[cid] = {"sack": [], "rtt": []}
        if seg.sack:
            extra["sack"].append((seg.frame, seg.sack))
        sa = conn.seq
        fa = getattr(sa, "_a", None)
        fb = getattr(sa, "_b", None)
        if fa is None or fb is None:
            return
        before = self._rtt_n.get(cid, (0, 0))
        now = (fa.rtt_n, fb.rtt_n)
        if now != before:
            self._rtt_n[cid] = now
            for is_a, flow, n0, n1 in ((True, fa, before[0], now[0]),
                                       (False, fb, before[1], now[1])):
                if n1 > n0:
                    extra["rtt"].append((seg.frame, seg.ts, is_a, seg.ts - flow.rtt_ts))

    def on_flow(self, report: dict[str, Any]) -> None:
        """Pair a finished connection's report with its records."""
        not_drawn = self.ladder.not_drawn
        self.ladder.on_flow(report)
        self._rtt_n.pop(report["id"], None)
        if self.ladder.not_drawn != not_drawn:  # past the ladder's caps: no graph either
            self.extras.pop(report["id"], None)


def _r6(x: float) -> float:
    return round(x, 6)


def _window_shifts(report: dict[str, Any]) -> dict[str, int]:
    ws = (report.get("measurements") or {}).get("window_scale") or {}
    if ws.get("status") != "negotiated":
        return {"orig": 0, "resp": 0}
    return {"orig": int(ws.get("orig") or 0), "resp": int(ws.get("resp") or 0)}


def _marks(report: dict[str, Any]) -> dict[int, str]:
    """frame -> the most telling segment mark from the report's anomaly events."""
    rank = {m: i for i, m in enumerate(MARKS)}
    out: dict[int, str] = {}
    for ev in report["anomaly_events"]:
        name = ev["name"]
        if name in rank and (ev["frame"] not in out or rank[name] < rank[out[ev["frame"]]]):
            out[ev["frame"]] = name
    return out


def _throughput(points: list[tuple[float, int]], window_s: float) -> list[list[float]]:
    """Bytes/s over a sliding window ending at each data segment."""
    out: list[list[float]] = []
    q: deque[tuple[float, int]] = deque()
    total = 0
    for t, n in points:
        q.append((t, n))
        total += n
        while q and q[0][0] <= t - window_s:
            total -= q.popleft()[1]
        out.append([_r6(t), round(total / window_s, 1)])
    return out


def build_graph_data(trace: ConnectionTrace, extras: dict[str, list[Any]] | None = None,
                     *, raw_seq: bool = False) -> dict[str, Any]:
    """The graph data of one connection, as plain data (see the module docstring)."""
    report = trace.report
    oa = trace.orig_is_a
    extras = extras or {"sack": [], "rtt": []}
    records = trace.records
    numbering = _Numbering(records, raw_seq)
    shifts = _window_shifts(report)
    marks = _marks(report)
    sacks = dict(extras["sack"])
    t0 = records[0].ts if records else report["start_ts"]
    duration = (records[-1].ts - t0) if records else 0.0
    dirs: dict[str, dict[str, Any]] = {
        role: {"segments": [], "acks": [], "sack": [], "rtt": [], "window": [],
               "zero_window": [], "throughput": []} for role in ("orig", "resp")}
    top: dict[str, int | None] = {"orig": None, "resp": None}  # highest seq sent
    acked: dict[str, int | None] = {"orig": None, "resp": None}  # peer's latest ack
    zero_since: dict[str, float | None] = {"orig": None, "resp": None}
    data_pts: dict[str, list[tuple[float, int]]] = {"orig": [], "resp": []}
    for rec in records:
        role = "orig" if rec.from_a == oa else "resp"
        peer = "resp" if role == "orig" else "orig"
        t = _r6(rec.ts - t0)
        seq = numbering.seq(rec)
        ack = numbering.ack(rec)
        if not rec.processed:
            dirs[role]["segments"].append([t, seq, seq + rec.plen, rec.frame, "bad_checksum"])
            continue
        ctl = rec.flags & (SYN | FIN | RST)
        end = seq + rec.plen + (1 if rec.flags & SYN else 0) + (1 if rec.flags & FIN else 0)
        if rec.plen or ctl:
            mark = marks.get(rec.frame)
            if mark is None:
                mark = ("syn" if rec.flags & SYN else "rst" if rec.flags & RST
                        else "fin" if rec.flags & FIN else "data")
            dirs[role]["segments"].append([t, seq, end, rec.frame, mark])
            if top[role] is None or end > (top[role] or 0):
                top[role] = end
            if rec.plen:
                data_pts[role].append((rec.ts - t0, rec.plen))
        if ack is not None:
            # this segment acknowledges peer's data and advertises a window for it; a RST
            # advertises none (RFC 9293 §3.10.7 gives its window field no meaning, Linux
            # sends 0): its ACK stays on the ACK line, its window is left out (tcptrace too)
            rst = bool(rec.flags & RST)
            shift = 0 if rec.flags & SYN else shifts[role]
            win = rec.win << shift
            dirs[peer]["acks"].append([t, ack, None if rst else ack + win, rec.frame])
            if acked[peer] is None or ack > (acked[peer] or 0):
                acked[peer] = ack
            for left, right in sacks.get(rec.frame, ()):
                base = numbering.base[not rec.from_a]
                if raw_seq or base is None:
                    lo, hi = left, right
                else:
                    lo = unwrap(left, (base + ack) & 0xFFFFFFFF) - base
                    hi = unwrap(right, (base + ack) & 0xFFFFFFFF) - base
                dirs[peer]["sack"].append([t, lo, hi, rec.frame])
            if win == 0 and not rec.flags & (SYN | RST):
                if zero_since[peer] is None:
                    zero_since[peer] = t
            elif zero_since[peer] is not None:
                dirs[peer]["zero_window"].append([zero_since[peer], t])
                zero_since[peer] = None
            if not rst:
                flight = 0
                if top[peer] is not None and acked[peer] is not None:
                    flight = max(0, (top[peer] or 0) - (acked[peer] or 0))
                dirs[peer]["window"].append([t, win, flight, rec.frame])
        if rec.plen and acked[role] is not None and dirs[role]["window"]:
            # the sender's bytes in flight grew: a point on its window graph
            last = dirs[role]["window"][-1]
            flight = max(0, (top[role] or 0) - (acked[role] or 0))
            dirs[role]["window"].append([t, last[1], flight, rec.frame])
    for role in ("orig", "resp"):
        if zero_since[role] is not None:
            dirs[role]["zero_window"].append([zero_since[role], _r6(duration)])
        window_s = max(duration / 50, 0.001)
        dirs[role]["throughput"] = _throughput(data_pts[role], window_s)
        dirs[role]["throughput_window_s"] = _r6(window_s)
    for frame, ts, is_a, sample in extras["rtt"]:
        role = "orig" if is_a == oa else "resp"
        dirs[role]["rtt"].append([_r6(ts - t0), _r6(sample), frame])
    return {
        "conn_id": report["id"],
        "orig": _endpoint(report["orig"]),
        "resp": _endpoint(report["resp"]),
        "start_ts": report["start_ts"],
        "duration_s": _r6(duration),
        "seq_numbers": "raw" if raw_seq else "relative",
        "window_shift": shifts,
        "directions": dirs,
    }


def _endpoint(e: dict[str, Any]) -> str:
    ip = e["ip"]
    return f"[{ip}]:{e['port']}" if ":" in ip else f"{ip}:{e['port']}"


def mark_severity(mark: str) -> str:
    """``info``/``note``/``warning``/``error`` of a segment mark (control marks: info)."""
    if mark in ("data", "syn", "fin"):
        return "info"
    if mark == "rst":
        return "warning"
    return severity(mark).value
