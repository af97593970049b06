"""The data behind the HTML report (pure): a row per connection, a timeline, and the detail
(ladder and graph data) of the connections most worth a look.

:class:`ReportCollector` sees every segment and every finished connection of a run:

* every connection becomes one **row** of a columnar table (plain lists, one per column,
  endpoints as indexes into a string table), about 60 bytes of JSON each, so the report of a
  100,000-connection capture stays a few MB;
* connection starts and failures feed one **timeline** (capture time, every file) of at
  most :data:`TIMELINE_BINS` bins of a round width, built at the end from the start ts of
  each connection and spanning from the first start to the last connection's end;
* the **detail** of a connection (its ladder, drawn as ``show`` draws it, and its graph data,
  :func:`~tcpflow_analyzer.graphdata.build_graph_data`) is kept for at most ``max_detail``
  connections holding at most ``segment_budget`` recorded segments between them.  Which
  ones: the most telling first (:func:`interest`: error anomalies, then failures, then
  warnings, then notes, then the most bytes), ties to the lower id.  A connection records at most
  ``max_segments`` segments (its ladder and graphs then say they stop there).

Memory is bounded by the retained detail (``segment_budget`` records; in one pass also the
records of the active connections, at most ``live_budget`` of them when a second replay is
possible) plus the rows (a few small values per connection).  No file, clock or terminal
here.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Any

from .anomalies import Severity, severity
from .graphdata import GraphCollector, build_graph_data
from .ladder import ConnectionTrace, Selection, build_ladder
from .report import FlowReport, summarize
from .segment import Segment
from .tracker import Connection

#: Most connections whose ladder and graphs the report carries.
DEFAULT_MAX_DETAIL = 300
#: Most recorded segments among the connections with detail.
DEFAULT_SEGMENT_BUDGET = 200_000
#: Most segments recorded for one connection.
DEFAULT_MAX_SEGMENTS = 20_000
#: Most segments of still-active connections a one-pass run records before it gives up
#: and leaves the detail to a second replay (about 250 bytes each).
DEFAULT_LIVE_BUDGET = 400_000
#: Bins of the timeline of connection starts and failures.
TIMELINE_BINS = 240
#: Outcomes counted as failures on the timeline.
FAILED_OUTCOMES = frozenset({"refused", "no_synack", "handshake_incomplete", "reset"})
_SEV_RANK = {Severity.INFO: 0, Severity.NOTE: 1, Severity.WARNING: 2, Severity.ERROR: 3}
_SEV_NAMES = ("info", "note", "warning", "error")
#: Row columns, in order (the JavaScript reads them by these names).
COLUMNS = ("id", "file", "orig", "resp", "start", "duration", "outcome", "state", "history",
           "pkts_orig", "pkts_resp", "bytes_orig", "bytes_resp", "hs_rtt", "anomalies",
           "severity", "detail")


def worst_severity(report: FlowReport) -> int:
    """0 info .. 3 error: the worst anomaly severity of a connection (0 without any)."""
    return max((_SEV_RANK[severity(name)] for name in report["anomalies"]), default=0)


def interest(report: FlowReport) -> tuple[int, int, int, int, int]:
    """How much a connection deserves its detail in the report (larger first): an error
    anomaly, a failure, a warning, a note, then the bytes it carried."""
    sev = worst_severity(report) if report["anomalies"] else -1
    failed = report["outcome"] in FAILED_OUTCOMES
    data = report["bytes"]["orig"] + report["bytes"]["resp"]
    return (int(sev >= 3), int(failed), int(sev >= 2), int(sev >= 1), data)


@dataclass
class _Rows:
    """The columnar connection table, endpoints interned into ``strings``."""

    strings: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    cols: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in COLUMNS})

    def intern(self, text: str) -> int:
        i = self.index.get(text)
        if i is None:
            i = self.index[text] = len(self.strings)
            self.strings.append(text)
        return i


def _endpoint(e: dict[str, Any]) -> str:
    ip = e["ip"]
    return f"[{ip}]:{e['port']}" if ":" in ip else f"{ip}:{e['port']}"


class ReportCollector:
    """Collects rows, timeline and detail for :func:`build_report_data` (see the module
    docstring).  Pass :meth:`on_flow` as the analyzer's ``on_flow`` and call
    :meth:`start_file` before each capture file.

    Two ways to get the detail.  **One pass** (``record=True``): every active connection
    is recorded through :meth:`on_segment` and the least telling are dropped as connections
    finish; recording costs far less than a replay.  With ``live_budget`` (a capture that
    can be read again), once the active connections hold more than that many records the
    collector drops them all and stops recording (:attr:`needs_detail_pass`), so memory
    stays bounded on a capture of many long connections.  **Two passes** (``record=False``,
    or after giving up): the first pass makes the rows and chooses the connections by
    :func:`interest`; then :meth:`start_detail_pass` and a second replay with
    :meth:`on_segment` records only those.  Both ways size a connection by its packet count
    (at most ``max_segments``), so they choose the same connections and give the same
    report.
    """

    def __init__(self, *, max_detail: int = DEFAULT_MAX_DETAIL,
                 segment_budget: int = DEFAULT_SEGMENT_BUDGET,
                 max_segments: int = DEFAULT_MAX_SEGMENTS, record: bool = True,
                 live_budget: int | None = None) -> None:
        self.graphs = GraphCollector()
        self.max_detail = max_detail
        self.segment_budget = segment_budget
        self.max_segments = max_segments
        self.record = record and max_detail > 0
        self.live_budget = live_budget
        #: True once a one-pass run gave up recording: the detail needs a second replay
        self.needs_detail_pass = max_detail > 0 and not self.record
        self._live = 0  # records held for connections still active (one pass)
        self.rows = _Rows()
        self.files: list[str] = []
        self._file = -1
        self._starts: list[list[float]] = []  # per file: start ts of each connection
        self._fails: list[list[float]] = []   # per file: start ts of each failed one
        # (interest, -id, segments, trace or None): a min-heap, the least telling on top
        self._kept: list[tuple[tuple[int, ...], int, int, ConnectionTrace | None]] = []
        self._kept_segments = 0
        self._detail_pass = False
        self.truncated: set[int] = set()
        self.detail_dropped = 0
        self.summary: dict[str, Any] = summarize([])

    def start_file(self, name: str) -> None:
        """The next frames and flows come from capture file ``name``."""
        if self._detail_pass:
            return
        self.files.append(name)
        self._file += 1
        self._starts.append([])
        self._fails.append([])

    def chosen_ids(self) -> frozenset[int]:
        """The ids of the connections whose detail the report carries (so far)."""
        return frozenset(-neg for _, neg, _, _ in self._kept)

    def start_detail_pass(self) -> None:
        """Record the chosen connections' segments on the next replay of the captures."""
        self._detail_pass = True
        self.graphs = GraphCollector(Selection(conn_ids=self.chosen_ids()))

    def on_segment(self, conn: Connection, seg: Segment, from_a: bool, processed: bool) -> None:
        """Record one segment for the connection's detail (up to ``max_segments``)."""
        if not self.record and not self._detail_pass:
            return
        records = self.graphs.ladder._records.get(conn.id)
        if records is not None and len(records) >= self.max_segments:
            self.truncated.add(conn.id)
            return
        self.graphs.on_segment(conn, seg, from_a, processed)
        if self.record:
            self._live += 1
            if self.live_budget is not None and self._live > self.live_budget:
                self._stop_recording()

    def _stop_recording(self) -> None:
        """Too many records held for active connections: drop every record (the kept
        connections' too) and leave the detail to a second replay (see the class docstring)."""
        self.record = False
        self.needs_detail_pass = True
        self.graphs = GraphCollector()
        self._live = 0
        self.truncated.clear()
        # the heap's order never reaches the trace (ids are unique): it stays a heap
        self._kept = [(i, neg, size, None) for i, neg, size, _ in self._kept]

    def on_flow(self, report: FlowReport) -> None:
        """Add a finished connection's row; keep its detail if it is among the most telling."""
        if self._detail_pass:
            self.graphs.on_flow(report)
            self.graphs.ladder.all_ids.clear()
            return
        self._add_row(report)
        _merge_summary(self.summary, summarize([report]))
        if self.max_detail <= 0:
            return
        trace = None
        if self.record:
            self.graphs.on_flow(report)
            self.graphs.ladder.all_ids.clear()  # the ids are in the rows already
            traces = self.graphs.ladder.traces
            if not traces:
                return
            trace = traces.pop()
            self._live -= trace.n_records
        size = min(report["packets"]["orig"] + report["packets"]["resp"], self.max_segments)
        cid = report["id"]
        heapq.heappush(self._kept, (interest(report), -cid, size, trace))
        self._kept_segments += size
        while len(self._kept) > self.max_detail or (
                self._kept_segments > self.segment_budget and len(self._kept) > 1):
            _, neg_id, dropped, _ = heapq.heappop(self._kept)
            self._kept_segments -= dropped
            self.graphs.extras.pop(-neg_id, None)
            self.truncated.discard(-neg_id)
            self.detail_dropped += 1

    def _add_row(self, r: FlowReport) -> None:
        rows = self.rows
        c = rows.cols
        c["id"].append(r["id"])
        c["file"].append(max(self._file, 0))
        c["orig"].append(rows.intern(_endpoint(r["orig"])))
        c["resp"].append(rows.intern(_endpoint(r["resp"])))
        c["start"].append(r["start_ts"])
        c["duration"].append(r["duration_s"])
        c["outcome"].append(rows.intern(r["outcome"]))
        zeek = r.get("zeek") or {}
        c["state"].append(rows.intern(zeek.get("conn_state") or ""))
        c["history"].append(zeek.get("history") or "")
        c["pkts_orig"].append(r["packets"]["orig"])
        c["pkts_resp"].append(r["packets"]["resp"])
        c["bytes_orig"].append(r["bytes"]["orig"])
        c["bytes_resp"].append(r["bytes"]["resp"])
        rtt = ((r.get("handshake") or {}).get("rtt_s") or {}).get("total")
        c["hs_rtt"].append(rtt)
        c["anomalies"].append(" ".join(f"{k}:{v}" for k, v in sorted(r["anomalies"].items())))
        c["severity"].append(worst_severity(r) if r["anomalies"] else -1)
        c["detail"].append(0)
        if self._starts:
            self._starts[self._file].append(r["start_ts"])
            if r["outcome"] in FAILED_OUTCOMES:
                self._fails[self._file].append(r["start_ts"])

    def kept_traces(self) -> list[ConnectionTrace]:
        """The connections whose detail the report carries, in id order."""
        if self._detail_pass:
            return self.graphs.traces
        return sorted((t for _, _, _, t in self._kept if t is not None),
                      key=lambda t: t.report["id"])


def _merge_summary(total: dict[str, Any], one: dict[str, Any]) -> None:
    """Add one connection's :func:`~tcpflow_analyzer.report.summarize` into ``total``."""
    for key, value in one.items():
        if isinstance(value, dict):
            part = total[key]
            for k, v in value.items():
                part[k] = part.get(k, 0) + v
        else:
            total[key] += value


def _bin_width(span_s: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that cuts ``span_s`` into at most
    TIMELINE_BINS bins (1 ms for a zero span: one bin)."""
    if span_s <= 0:
        return 1e-3
    raw = span_s / TIMELINE_BINS
    exp = math.floor(math.log10(raw))
    for step in (1, 2, 5, 10):
        width = step * 10.0 ** exp
        if width >= raw * (1 - 1e-9):
            return float(f"{width:.12g}")
    return 10.0 ** (exp + 1)  # pragma: no cover - the loop's 10 always fits


def _timeline(starts: list[float], fails: list[float], end: float) -> dict[str, Any]:
    """Connection starts and failures counted in at most TIMELINE_BINS equal bins of a
    round width, from the first start to ``end`` (the last connection's last segment), so
    the time axis spans the capture's connections, not just their starts."""
    if not starts:
        return {"t0": None, "bin_s": 0.0, "span_s": 0.0, "starts": [], "failures": []}
    lo = min(starts)
    span = max(end, max(starts)) - lo
    width = _bin_width(span)
    bins = max(1, min(TIMELINE_BINS, math.ceil(span / width * (1 - 1e-12))))
    s = [0] * bins
    f = [0] * bins
    for ts in starts:
        s[min(int((ts - lo) / width), bins - 1)] += 1
    for ts in fails:
        f[min(int((ts - lo) / width), bins - 1)] += 1
    # 12 significant digits: 189 bins of 0.1 s span 18.9 s, not 18.900000000000002
    return {"t0": lo, "bin_s": width, "span_s": float(f"{max(span, bins * width):.12g}"),
            "starts": s, "failures": f}


def build_report_data(collector: ReportCollector, capture: dict[str, Any],
                      listeners: list[dict[str, Any]],
                      *, time_wait_s: float | None = None) -> dict[str, Any]:
    """Everything the HTML report shows, as plain data.

    ``detail`` maps a connection id to its ladder (the :class:`~tcpflow_analyzer.ladder.Ladder`
    model ``show`` draws) and its graph data; the rows say which ids have one (column
    ``detail``).
    """
    rows = collector.rows
    position = {cid: i for i, cid in enumerate(rows.cols["id"])}
    detail: dict[int, dict[str, Any]] = {}
    for trace in collector.kept_traces():
        cid = trace.report["id"]
        ladder = build_ladder(trace, time_wait_s=time_wait_s)
        graph = build_graph_data(trace, collector.graphs.extras.get(cid))
        truncated = cid in collector.truncated
        detail[cid] = {"ladder": ladder, "graph": graph,
                       "truncated_at": collector.max_segments if truncated else None,
                       "file": trace.report.get("file")}
        if cid in position:
            rows.cols["detail"][position[cid]] = 1
    return {
        "capture": capture,
        "summary": {k: dict(sorted(v.items())) if isinstance(v, dict) else v
                    for k, v in collector.summary.items()},
        "listeners": listeners,
        "files": collector.files,
        "timeline": _timeline([t for ts in collector._starts for t in ts],
                              [t for ts in collector._fails for t in ts],
                              max(map(sum, zip(rows.cols["start"], rows.cols["duration"],
                                               strict=True)), default=0.0)),
        "columns": list(COLUMNS),
        "strings": rows.strings,
        "rows": rows.cols,
        "severity_names": list(_SEV_NAMES),
        "detail": detail,
        "detail_limits": {"max_detail": collector.max_detail,
                          "segment_budget": collector.segment_budget,
                          "max_segments": collector.max_segments,
                          "dropped": collector.detail_dropped},
    }
