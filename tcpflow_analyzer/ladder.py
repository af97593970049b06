"""The ladder model: one connection drawn the way the textbooks draw it (pure).

A ladder diagram has two vertical lines, orig on the left and resp on the right, one arrow
per segment, and the state each endpoint enters written beside the arrow on its side.  This
module builds that picture as plain data; :mod:`.render.ladder` draws it and
:mod:`.cmd_show` wires it to a capture.

* :class:`LadderCollector` is the pair of callbacks ``Analyzer.feed`` and
  ``Analyzer(on_flow=...)`` need: it copies what the tracker did at every segment of the
  selected connections into :class:`SegmentRecord` values and pairs them with the finished
  connection's report in a :class:`ConnectionTrace`.  It reads the tracker; it never
  changes it.
* :func:`build_ladder` turns a trace into a :class:`Ladder`: one :class:`Arrow` per segment
  (flags, relative or raw seq/ack, length, time since the previous segment, the states
  entered on each side, :class:`Note` values for anomalies, RST judgements, TIME-WAIT and
  4-tuple reuse), long plain data phases folded into a :class:`Fold`, and a plain-language
  verdict.  Roles are applied at the end, from the final report, because a connection
  picked up mid-stream may have flipped them on the way.

Nothing here touches a file, the clock, the environment, rich or typer.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from .anomalies import severity
from .report import FlowReport
from .segment import ACK, FIN, PSH, RST, SYN, Segment, flags_names
from .seqnum import seq_add, seq_diff, unwrap
from .tracker import Connection

#: Routine findings of a data phase: a fold counts them ("3 retransmissions") instead of
#: breaking; anything else (a gap in the capture, a zero window, a reset...) is drawn.
FOLDABLE_ANOMALIES = (
    "retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order",
    "duplicate_segment", "duplicate_ack", "sack", "dsack", "window_update", "keep_alive",
    "keep_alive_ack",
)

#: Default fold threshold: runs of more than this many plain data/ACK segments fold.
DEFAULT_FOLD = 6

#: Pairs of (orig, resp) states in which a run of plain segments may fold: the data phase,
#: a mid-stream pick-up (PARTIAL is assumed synchronized) and the data phase of a
#: half-close (one side in FIN-WAIT-2, the other in CLOSE-WAIT).
_DATA_STATES = frozenset({"ESTABLISHED", "PARTIAL", "FIN-WAIT-2", "CLOSE-WAIT"})
_PLAIN_FLAGS = ACK | PSH
_TRANSITION_CAP = 64  # the tracker stops recording transitions after this many
#: Caps of :class:`LadderCollector` (memory bounded whatever the capture holds): segments
#: recorded for one connection, segments held in finished traces, finished traces, and ids
#: listed in ``all_ids`` (the count and range of ids stay exact).
MAX_CONN_RECORDS = 100_000
MAX_HELD_RECORDS = 1_000_000
MAX_TRACES = 10_000
MAX_LISTED_IDS = 65_536


# -- what the collector records ------------------------------------------------------------
class SegmentRecord(NamedTuple):
    """One TCP segment of a connection, as the ladder needs it (immutable).  A named tuple,
    not a frozen dataclass: one is built per recorded segment, and a frozen dataclass's
    ``__init__`` (one ``object.__setattr__`` per field) cost the report a tenth of its time.

    Fields: ``frame``, ``ts`` (capture seconds), ``from_a`` (sent by the connection's
    endpoint *a*, the sender of its first segment), ``flags`` (int bitmask), ``seq`` /
    ``ack`` (raw 32-bit), ``plen`` (payload bytes), ``win`` (raw window), ``processed``
    (False when the segment was dropped for a bad checksum and never reached the state
    machines), ``states_a`` / ``states_b`` (the states endpoint a / b entered while this
    segment was processed, in order; usually empty) and ``reset`` (for a RST: the tracker's
    judgement, keys ``by_a``, ``sender_state``, ``receiver_state``, ``validity``,
    ``situation``; else None).
    """

    frame: int
    ts: float
    from_a: bool
    flags: int
    seq: int
    ack: int
    plen: int
    win: int
    processed: bool = True
    states_a: tuple[str, ...] = ()
    states_b: tuple[str, ...] = ()
    reset: dict[str, Any] | None = None


class ConnectionTrace:
    """Everything recorded about one finished connection.

    Fields: ``report`` (its :func:`~tcpflow_analyzer.report.build_flow_report` dict),
    ``records`` (its segments in capture order, :class:`SegmentRecord`) and ``orig_is_a``
    (whether endpoint *a* of the records ended up as the originator).

    The collector records plain tuples, named only when ``records`` is first read: the
    garbage collector stops tracking a plain tuple of numbers and strings, never a named
    one, and the report holds hundreds of thousands of records while it chooses (every
    full collection walked them all: a third of the report's recording time).
    """

    __slots__ = ("_named", "_raw", "orig_is_a", "report")

    def __init__(self, *, report: FlowReport, records: tuple[tuple[Any, ...], ...],
                 orig_is_a: bool) -> None:
        self.report = report
        self.orig_is_a = orig_is_a
        self._raw = records
        self._named: tuple[SegmentRecord, ...] | None = None

    @property
    def records(self) -> tuple[SegmentRecord, ...]:
        """The segments in capture order."""
        named = self._named
        if named is None:
            make = SegmentRecord._make
            named = self._named = tuple(make(r) for r in self._raw)
            self._raw = ()
        return named

    @property
    def n_records(self) -> int:
        """How many segments were recorded (without naming them)."""
        return len(self._named) if self._named is not None else len(self._raw)

    def __repr__(self) -> str:
        return (f"ConnectionTrace(id={self.report.get('id')}, records={self.n_records}, "
                f"orig_is_a={self.orig_is_a})")


# -- selecting connections -----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TupleSpec:
    """A 4-tuple given as ``A:P-B:P`` (IPv6 in brackets); it matches either direction.

    Fields: ``a_addr`` / ``b_addr`` (packed address bytes) and ``a_port`` / ``b_port``.
    """

    a_addr: bytes
    a_port: int
    b_addr: bytes
    b_port: int

    def matches(self, x_addr: bytes, x_port: int, y_addr: bytes, y_port: int) -> bool:
        """Whether the endpoints (x, y) are this tuple's, in either order."""
        one = (self.a_addr, self.a_port)
        two = (self.b_addr, self.b_port)
        x = (x_addr, x_port)
        y = (y_addr, y_port)
        return (x == one and y == two) or (x == two and y == one)


_ENDPOINT = r"(\[[^\]]*\]|[^\[\]:\s-]+):(\d{1,5})"
_TUPLE_RE = re.compile(rf"^{_ENDPOINT}-{_ENDPOINT}$")
TUPLE_EXAMPLE = "192.0.2.1:40000-198.51.100.2:80 or [2001:db8::1]:40000-[2001:db8::2]:80"


def _parse_addr(text: str) -> bytes:
    bracketed = text.startswith("[")
    inner = text[1:-1] if bracketed else text
    try:
        addr = ipaddress.ip_address(inner)
    except ValueError:
        raise ValueError(f"{inner!r} is not an IP address") from None
    if addr.version == 6 and not bracketed:
        raise ValueError("IPv6 addresses must be in brackets")
    if addr.version == 4 and bracketed:
        raise ValueError(f"only IPv6 addresses go in brackets, not {inner}")
    return addr.packed


def parse_tuple(text: str) -> TupleSpec:
    """Parse ``A:P-B:P`` (``[v6]:P`` for IPv6); raise ValueError with a one-line reason."""
    m = _TUPLE_RE.match(text.strip())
    if m is None:
        if re.sub(r"\[[^\]]*\]", "", text).count(":") > 2:
            raise ValueError(f"{text!r}: IPv6 addresses must be in brackets, e.g. "
                             "[2001:db8::1]:40000-[2001:db8::2]:80")
        raise ValueError(f"{text!r} is not ADDR:PORT-ADDR:PORT (e.g. {TUPLE_EXAMPLE})")
    a_text, a_port, b_text, b_port = m.groups()
    ports = (int(a_port), int(b_port))
    for p in ports:
        if p > 65535:
            raise ValueError(f"{text!r}: port {p} is out of range (0-65535)")
    try:
        a, b = _parse_addr(a_text), _parse_addr(b_text)
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from None
    if len(a) != len(b):
        raise ValueError(f"{text!r}: mixes an IPv4 and an IPv6 address")
    return TupleSpec(a, ports[0], b, ports[1])


@dataclass(frozen=True, slots=True)
class Selection:
    """Which connections to draw: any whose id is in ``conn_ids`` or whose 4-tuple is one
    of ``tuples``; everything when both are empty."""

    conn_ids: frozenset[int] = frozenset()
    tuples: tuple[TupleSpec, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when the selection takes every connection."""
        return not self.conn_ids and not self.tuples

    def matches(self, conn_id: int, a_addr: bytes, a_port: int, b_addr: bytes,
                b_port: int) -> bool:
        """Whether one connection (id and its two endpoints) is selected."""
        if self.is_empty or conn_id in self.conn_ids:
            return True
        return any(t.matches(a_addr, a_port, b_addr, b_port) for t in self.tuples)


# -- the collector ---------------------------------------------------------------------------
class LadderCollector:
    """Records the segments of the selected connections while the analyzer runs.

    Pass :meth:`on_segment` to ``Analyzer.feed`` and :meth:`on_flow` as the
    analyzer's ``on_flow``.  Afterwards :attr:`traces` holds one :class:`ConnectionTrace`
    per selected connection (in id order once :meth:`sorted_traces` is called) and
    :attr:`all_ids` the id of every connection in the capture.
    """

    def __init__(self, selection: Selection | None = None) -> None:
        self.selection = selection or Selection()
        self.traces: list[ConnectionTrace] = []
        self.all_ids: list[int] = []
        #: conn id -> its records so far, plain tuples in SegmentRecord's field order
        self._records: dict[int, list[tuple[Any, ...]]] = {}
        self._selected: dict[int, bool] = {}
        self._ntrans: dict[int, int] = {}
        self._states: dict[int, tuple[Any, Any]] = {}  # (a, b) states at the last segment
        self._orig_is_a: dict[int, bool] = {}
        self.n_conns = 0  # connections seen (all_ids lists the first MAX_LISTED_IDS)
        self.id_range: tuple[int, int] | None = None
        self.found_ids: set[int] = set()  # the selection's ids that exist
        self._unrecorded: dict[int, int] = {}  # active connection -> segments past the cap
        self.cut_traces: list[tuple[int, int, int]] = []  # (id, drawn, not drawn), first 10
        self.n_cut_traces = 0
        self.not_drawn = 0  # selected connections past MAX_TRACES / MAX_HELD_RECORDS
        self._held = 0  # records in self.traces (recounted when over the cap)

    def on_segment(self, conn: Connection, seg: Segment, from_a: bool, processed: bool) -> None:
        """Record one segment (called after the tracker processed it)."""
        cid = conn.id
        records = self._records.get(cid)
        if records is None:
            if cid in self._selected:
                return  # not selected
            a, b = conn.a, conn.b
            chosen = self.selection.matches(cid, a.addr, a.port, b.addr, b.port)
            self._selected[cid] = chosen
            if not chosen:
                return
            records = self._records[cid] = []
            self._states[cid] = (a.initial, b.initial)
        now_a = conn.a.state
        now_b = conn.b.state
        before = self._states[cid]
        states_a: tuple[str, ...] = ()
        states_b: tuple[str, ...] = ()
        if now_a is not before[0] or now_b is not before[1]:
            # Only a segment that moved an endpoint can have recorded transitions (no
            # endpoint returns to the state it had within one segment;
            # tests/test_report_speed.py checks that on every sample and corpus trace), so
            # the tracker's transition list, rebuilt at each read, is read only here.
            transitions = conn.transitions
            start = self._ntrans.get(cid, 0)
            new = transitions[start:]
            self._ntrans[cid] = len(transitions)
            if new:
                states_a = tuple(t[4].value for t in new if t[2])
                states_b = tuple(t[4].value for t in new if not t[2])
            elif len(transitions) >= _TRANSITION_CAP:
                # The tracker's transition list is full: fall back to comparing states.
                states_a = (now_a.value,) if now_a is not before[0] else ()
                states_b = (now_b.value,) if now_b is not before[1] else ()
            self._states[cid] = (now_a, now_b)
        reset = None
        if seg.flags & RST and processed and conn.resets and conn.resets[-1]["frame"] == seg.frame:
            r = conn.resets[-1]
            reset = {k: r[k] for k in ("by_a", "sender_state", "receiver_state", "validity",
                                       "situation")}
        self._orig_is_a[cid] = conn.orig_is_a
        if len(records) >= MAX_CONN_RECORDS:
            self._unrecorded[cid] = self._unrecorded.get(cid, 0) + 1
            return
        # a plain tuple (see ConnectionTrace), in SegmentRecord's field order
        records.append((seg.frame, seg.ts, from_a, seg.flags, seg.seq, seg.ack, seg.plen,
                        seg.win, processed, states_a, states_b, reset))

    def on_flow(self, report: FlowReport) -> None:
        """Pair a finished connection's report with its recorded segments."""
        cid = report["id"]
        self._seen(cid)
        self._selected.pop(cid, None)
        records = self._records.pop(cid, None)
        if records is None:
            return
        unrecorded = self._unrecorded.pop(cid, 0)
        if unrecorded:
            self.n_cut_traces += 1
            if len(self.cut_traces) < 10:
                self.cut_traces.append((cid, len(records), unrecorded))
        if not self._room(len(records)):
            self.not_drawn += 1
            for d in (self._ntrans, self._states, self._orig_is_a):
                d.pop(cid, None)
            return
        self.traces.append(ConnectionTrace(
            report=report, records=tuple(records), orig_is_a=self._orig_is_a.pop(cid, True)))
        for d in (self._selected, self._ntrans, self._states):
            d.pop(cid, None)

    def _seen(self, cid: int) -> None:
        self.n_conns += 1
        if len(self.all_ids) < MAX_LISTED_IDS:
            self.all_ids.append(cid)
        r = self.id_range
        self.id_range = (cid, cid) if r is None else (min(r[0], cid), max(r[1], cid))
        if cid in self.selection.conn_ids:
            self.found_ids.add(cid)

    def _room(self, n: int) -> bool:
        """Whether one more finished trace of ``n`` records may be held.  (A caller that
        takes traces away, as the report does, keeps this true: the count is redone before
        refusing.)"""
        if len(self.traces) >= MAX_TRACES:
            return False
        if self._held + n > MAX_HELD_RECORDS:
            self._held = sum(t.n_records for t in self.traces)
            if self._held + n > MAX_HELD_RECORDS:
                return False
        self._held += n
        return True

    def warnings(self) -> list[str]:
        """What the caps left out of the drawing, one line each."""
        out = []
        if self.n_cut_traces:
            named = ", ".join(f"#{c} after {d:,} ({u:,} more)" for c, d, u in self.cut_traces)
            more = self.n_cut_traces - len(self.cut_traces)
            out.append(f"{self.n_cut_traces} connections drawn only up to {MAX_CONN_RECORDS:,} "
                       f"segments each: {named}" + (f" and {more} more" if more else ""))
        if self.not_drawn:
            out.append(f"{self.not_drawn} selected connections not drawn: the drawing holds at "
                       f"most {MAX_TRACES:,} connections and {MAX_HELD_RECORDS:,} segments "
                       "(choose some with --conn or --tuple)")
        return out

    def sorted_traces(self) -> list[ConnectionTrace]:
        """The recorded connections in id order."""
        return sorted(self.traces, key=lambda t: t.report["id"])


# -- the model -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class Note:
    """A remark attached to an arrow.

    Fields: ``kind`` (``anomaly``, ``reset``, ``time_wait`` or ``reuse``), ``code`` (the
    anomaly code, or the kind), ``text`` (one line, plain language) and ``severity``
    (``info``, ``note``, ``warning`` or ``error``, as in :mod:`.anomalies`).
    """

    kind: str
    code: str
    text: str
    severity: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Arrow:
    """One segment crossing the ladder.

    Fields: ``frame``, ``ts``, ``dt_s`` (seconds since the connection's previous segment, 0
    for the first), ``sender`` (``orig`` or ``resp``), ``flags``, ``seq`` (as displayed:
    relative or raw), ``ack`` (as displayed, None without the ACK flag), ``raw_seq`` /
    ``raw_ack``, ``plen``, ``dropped`` (bad checksum: the receiver discards it),
    ``orig_states`` / ``resp_states`` (states entered on each side at this segment) and
    ``notes``.
    """

    frame: int
    ts: float
    dt_s: float
    sender: str
    flags: int
    seq: int
    ack: int | None
    raw_seq: int
    raw_ack: int
    plen: int
    dropped: bool
    orig_states: tuple[str, ...]
    resp_states: tuple[str, ...]
    notes: tuple[Note, ...]

    @property
    def label(self) -> str:
        """The text written on the arrow: flags, seq, ack and length."""
        parts = [flags_names(self.flags), f"seq={self.seq}"]
        if self.ack is not None:
            parts.append(f"ack={self.ack}")
        if self.plen:
            parts.append(f"len={self.plen}")
        return " ".join(parts)

    @property
    def is_plain(self) -> bool:
        """A data or pure ACK segment that changed no state and carries no note other than
        the routine findings of a data phase (retransmissions, duplicate ACKs, SACK, ...),
        which a fold counts instead of drawing."""
        return (not self.dropped and bool(self.flags & ACK) and not self.flags & ~_PLAIN_FLAGS
                and not self.orig_states and not self.resp_states
                and all(n.kind == "anomaly" and n.code in FOLDABLE_ANOMALIES
                        for n in self.notes))


@dataclass(frozen=True, slots=True, kw_only=True)
class Fold:
    """A run of plain data/ACK segments drawn as one line.

    Fields: ``first_frame`` / ``last_frame``, ``dt_s`` (seconds from the previous segment to
    the first folded one), ``duration_s`` (first to last folded segment), ``segments``,
    ``orig_segments`` / ``resp_segments``, ``orig_bytes`` / ``resp_bytes`` (payload) and
    ``anomalies`` ((code, count) of the routine findings inside the run, in catalogue order).
    """

    first_frame: int
    last_frame: int
    dt_s: float
    duration_s: float
    segments: int
    orig_segments: int
    resp_segments: int
    orig_bytes: int
    resp_bytes: int
    anomalies: tuple[tuple[str, int], ...] = ()


Row = Arrow | Fold


@dataclass(frozen=True, slots=True, kw_only=True)
class Ladder:
    """One connection's ladder diagram as plain data.

    Fields: ``conn_id``, ``orig`` / ``resp`` (endpoint text, IPv6 in brackets), ``vlan``,
    ``start_ts``, ``duration_s``, ``segments`` (all segments, folded or not), ``outcome``,
    ``numbering`` (how seq/ack are shown, one line), ``initial`` / ``final`` (orig, resp
    states), ``rows`` (:class:`Arrow` and :class:`Fold` values in capture order) and
    ``verdict`` (plain-language sentences).
    """

    conn_id: int
    orig: str
    resp: str
    vlan: tuple[int, ...]
    start_ts: float
    duration_s: float
    segments: int
    outcome: str
    numbering: str
    initial: tuple[str, str]
    final: tuple[str, str]
    rows: tuple[Row, ...]
    verdict: tuple[str, ...]

    @property
    def arrows(self) -> list[Arrow]:
        """The arrows that are drawn (folded segments excluded)."""
        return [r for r in self.rows if isinstance(r, Arrow)]


# -- formatting helpers shared with the renderer -------------------------------------------
def format_duration(seconds: float, sep: str = " ") -> str:
    """A short human duration: ``50 µs``, ``20.0 ms``, ``1.250 s``, ``60 s``, ``312 s``,
    ``3599 s``, then ``1.5 h`` up to two days and ``1102.2 d`` beyond (captures years
    apart in one report)."""
    s = abs(seconds)
    sign = "-" if seconds < 0 else ""
    if s >= 172_800:
        return f"{sign}{s / 86_400:.1f}{sep}d"
    if round(s) >= 3600:
        return f"{sign}{s / 3600:.1f}{sep}h"
    if round(s * 1e6) < 1000:
        return f"{sign}{s * 1e6:.0f}{sep}µs"
    if round(s * 1e3, 1) < 1000:
        return f"{sign}{s * 1e3:.1f}{sep}ms"
    if s == int(s) or round(s, 3) >= 100:
        return f"{sign}{s:.0f}{sep}s"
    return f"{sign}{s:.3f}{sep}s"


def format_bytes(n: int) -> str:
    """Payload size: exact below 10 kB (``3396 B``), else decimal units (``70.3 kB``,
    ``1.2 MB``, ``3.4 GB``)."""
    if n < 10_000:
        return f"{n} B"
    if n < 1_000_000:
        return f"{n / 1e3:.1f} kB"
    if n < 1_000_000_000:
        return f"{n / 1e6:.1f} MB"
    return f"{n / 1e9:.1f} GB"


def format_endpoint_text(e: dict[str, Any]) -> str:
    """``ip:port`` or ``[v6]:port`` from a report endpoint dict."""
    ip = e["ip"]
    return f"[{ip}]:{e['port']}" if ":" in ip else f"{ip}:{e['port']}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# -- building ------------------------------------------------------------------------------
class _Numbering:
    """Relative sequence numbers: per side a base (ISN, first seq seen, or first ACK of it)
    and a running unwrap reference so numbers keep growing past 2**32."""

    def __init__(self, records: tuple[SegmentRecord, ...], raw: bool) -> None:
        self.raw = raw
        self.base: dict[bool, int | None] = {}
        self.mode: dict[bool, str] = {}
        for side in (True, False):
            own = [r for r in records if r.from_a == side]
            syn = next((r for r in own if r.flags & SYN), None)
            # A SYN+ACK from the peer names this side's ISN even when its SYN was missed.
            synack = next((r for r in records if r.from_a != side
                           and r.flags & (SYN | ACK) == SYN | ACK), None)
            if syn is not None:
                self.base[side], self.mode[side] = syn.seq, "isn"
            elif synack is not None:
                self.base[side], self.mode[side] = seq_add(synack.ack, -1), "isn"
            elif own:
                self.base[side], self.mode[side] = own[0].seq, "first_seen"
            else:
                acks = [r.ack for r in records if r.from_a != side and r.flags & ACK]
                self.base[side] = acks[0] if acks else None
                self.mode[side] = "first_ack" if acks else "none"
        self.ref_seq = {k: v or 0 for k, v in self.base.items()}
        self.ref_ack = dict(self.ref_seq)

    def _rel(self, value: int, side: bool, refs: dict[bool, int]) -> int:
        base = self.base[side]
        if self.raw or base is None:
            return value
        absolute = unwrap(value, refs[side])
        if absolute > refs[side]:
            refs[side] = absolute
        return absolute - base

    def seq(self, rec: SegmentRecord) -> int:
        """The displayed seq of a record (relative to its sender's base, or raw)."""
        return self._rel(rec.seq, rec.from_a, self.ref_seq)

    def ack(self, rec: SegmentRecord) -> int | None:
        """The displayed ack of a record (relative to the receiver's base), None without
        the ACK flag."""
        if not rec.flags & ACK:
            return None
        return self._rel(rec.ack, not rec.from_a, self.ref_ack)

    def describe(self, orig_is_a: bool) -> str:
        """One line saying what the numbers are relative to."""
        if self.raw:
            return "seq/ack are absolute (raw) numbers"
        modes = {self.mode[orig_is_a], self.mode[not orig_is_a]}
        if modes <= {"isn", "none"}:
            return "seq/ack are relative to each side's ISN"
        if "isn" not in modes:
            return "seq/ack are relative to the first numbers seen (no SYN captured)"
        parts = []
        for role, side in (("orig", orig_is_a), ("resp", not orig_is_a)):
            mode = self.mode[side]
            if mode == "isn":
                parts.append(f"{role}'s ISN")
            elif mode == "first_seen":
                parts.append(f"the first seq seen from {role}")
            elif mode == "first_ack":
                parts.append(f"the first ack of {role}'s data")
        return "seq/ack are relative to " + " and ".join(parts)


def _notes_by_frame(report: FlowReport, time_wait_s: float | None) -> dict[int, list[Note]]:
    notes: dict[int, list[Note]] = {}
    reuse = report.get("port_reuse")
    if reuse:
        text = (f"reuses the 4-tuple of connection #{reuse['previous_id']} "
                f"{format_duration(reuse['gap_s'])} after it")
        if reuse["previous_in_time_wait"]:
            holders = " and ".join(reuse["time_wait_holder"])
            text += f", while its {holders} still held TIME-WAIT"
            if reuse["rfc6191_acceptable"]:
                why = [w for w, ok in (("ISN", reuse["isn_advanced"]),
                                       ("timestamps", reuse["timestamps_advanced"])) if ok]
                text += f": acceptable by RFC 6191 ({' and '.join(why)} moved forward)"
            else:
                text += ": premature, neither ISN nor timestamps moved forward (RFC 6191)"
        sev = "warning" if reuse["previous_in_time_wait"] and not reuse["rfc6191_acceptable"] \
            else "note"
        notes.setdefault(report["first_frame"], []).append(
            Note(kind="reuse", code="reuse", text=text, severity=sev))
    for ev in report["anomaly_events"]:
        if ev["name"] == "reused_ports" and reuse:
            continue  # the reuse note says it, with the details
        text = ev["name"] + (f": {ev['detail']}" if ev["detail"] else "")
        notes.setdefault(ev["frame"], []).append(Note(
            kind="anomaly", code=ev["name"], text=text, severity=severity(ev["name"]).value))
    hold = f" (held for 2MSL = {format_duration(time_wait_s)})" if time_wait_s else ""
    for tw in report["time_wait"]:
        notes.setdefault(tw["frame"], []).append(Note(
            kind="time_wait", code="time_wait",
            text=f"{tw['endpoint']} enters TIME-WAIT{hold}", severity="info"))
    return notes


_VALIDITY_SHORT = {
    "exact": "valid: seq is exactly the one expected",
    "in_window": "in window but not exact: RFC 5961 calls for a challenge ACK",
    "out_of_window": "out of window: the receiver ignores it",
    "unknown": "validity unknown: the receiver's window was not seen",
}


def _reset_note(rec: SegmentRecord, orig_is_a: bool) -> Note | None:
    r = rec.reset
    if r is None:
        return None
    by = "orig" if r["by_a"] == orig_is_a else "resp"
    peer = "resp" if by == "orig" else "orig"
    situation, validity = r["situation"], r["validity"]
    if situation == "no_connection":
        text = f"RST by {by} with no connection seen: nothing to judge it against"
    elif r["receiver_state"] == "SYN-SENT":
        # RFC 9293 §3.10.7.3: in SYN-SENT a RST is acceptable iff it acknowledges the SYN.
        what = "refuses the SYN" if situation == "refused" else f"in {r['sender_state']}"
        judged = ("valid: it acknowledges the SYN" if validity == "exact"
                  else f"invalid: it does not acknowledge the SYN, so {peer} ignores it")
        text = f"RST by {by} {what}; {judged}"
    else:
        text = (f"RST by {by} in {r['sender_state']} (to {peer} in {r['receiver_state']}); "
                f"{_VALIDITY_SHORT.get(validity, validity)}")
    sev = "warning" if validity == "out_of_window" or situation == "abort" else "note"
    return Note(kind="reset", code="reset", text=text, severity=sev)


_SEVERITY_ORDER = ("info", "note", "warning", "error")


def _merge_rst_codes(reset: Note, notes: list[Note]) -> Note:
    """Fold the RST anomaly codes of the same segment (``rst_after_fin``, ...) into the
    reset note, so the RST carries one note that names them."""
    codes = [n for n in notes if n.code.startswith("rst_")]
    if not codes:
        return reset
    worst = max([reset.severity] + [n.severity for n in codes], key=_SEVERITY_ORDER.index)
    text = f"{reset.text} [{', '.join(n.code for n in codes)}]"
    return Note(kind=reset.kind, code=reset.code, text=text, severity=worst)


def _fold_rows(arrows: list[Arrow], initial: tuple[str, str], threshold: int | None) -> list[Row]:
    """Replace runs of more than ``threshold`` plain arrows in a data phase by a Fold."""
    if threshold is None:
        return list(arrows)
    rows: list[Row] = []
    run: list[Arrow] = []
    o_state, r_state = initial

    def flush() -> None:
        if len(run) > threshold:
            o = [a for a in run if a.sender == "orig"]
            r = [a for a in run if a.sender == "resp"]
            counts: dict[str, int] = {}
            for a in run:
                for n in a.notes:
                    counts[n.code] = counts.get(n.code, 0) + 1
            rows.append(Fold(
                first_frame=run[0].frame, last_frame=run[-1].frame, dt_s=run[0].dt_s,
                duration_s=run[-1].ts - run[0].ts, segments=len(run),
                orig_segments=len(o), resp_segments=len(r),
                orig_bytes=sum(a.plen for a in o), resp_bytes=sum(a.plen for a in r),
                anomalies=tuple((c, counts[c]) for c in FOLDABLE_ANOMALIES if c in counts)))
        else:
            rows.extend(run)
        run.clear()

    for i, a in enumerate(arrows):
        foldable = (i > 0 and a.is_plain and o_state in _DATA_STATES
                    and r_state in _DATA_STATES)
        if foldable:
            run.append(a)
            continue
        flush()
        rows.append(a)
        if a.orig_states:
            o_state = a.orig_states[-1]
        if a.resp_states:
            r_state = a.resp_states[-1]
    flush()
    return rows


def build_ladder(
    trace: ConnectionTrace, *, fold: int | None = DEFAULT_FOLD, raw_seq: bool = False,
    time_wait_s: float | None = None,
) -> Ladder:
    """Build the ladder of one connection.

    ``fold``: runs of more than this many plain data/ACK segments (no flag but ACK/PSH, no
    state change, no note, both endpoints in a data-phase state) become one :class:`Fold`
    row; None draws every segment.  ``raw_seq`` shows absolute seq/ack numbers.
    ``time_wait_s`` (2MSL) is only quoted in the TIME-WAIT notes.
    """
    report = trace.report
    oa = trace.orig_is_a
    numbering = _Numbering(trace.records, raw_seq)
    notes = _notes_by_frame(report, time_wait_s)
    arrows: list[Arrow] = []
    prev_ts: float | None = None
    for rec in trace.records:
        own = list(notes.get(rec.frame, ()))
        rnote = _reset_note(rec, oa)
        if rnote is not None:
            own = [_merge_rst_codes(rnote, own)] + [
                n for n in own if not n.code.startswith("rst_")]
        orig_states, resp_states = (rec.states_a, rec.states_b) if oa else \
            (rec.states_b, rec.states_a)
        arrows.append(Arrow(
            frame=rec.frame, ts=rec.ts, dt_s=0.0 if prev_ts is None else rec.ts - prev_ts,
            sender="orig" if rec.from_a == oa else "resp", flags=rec.flags,
            seq=numbering.seq(rec), ack=numbering.ack(rec), raw_seq=rec.seq, raw_ack=rec.ack,
            plen=rec.plen, dropped=not rec.processed, orig_states=orig_states,
            resp_states=resp_states, notes=tuple(own),
        ))
        prev_ts = rec.ts
    initial = (report["initial_state"]["orig"], report["initial_state"]["resp"])
    final = (report["final_state"]["orig"], report["final_state"]["resp"])
    return Ladder(
        conn_id=report["id"], orig=format_endpoint_text(report["orig"]),
        resp=format_endpoint_text(report["resp"]), vlan=tuple(report.get("vlan") or ()),
        start_ts=report["start_ts"], duration_s=report["duration_s"], segments=len(arrows),
        outcome=report["outcome"], numbering=numbering.describe(oa), initial=initial,
        final=final, rows=tuple(_fold_rows(arrows, initial, fold)),
        verdict=tuple(derive_verdict(report, arrows)),
    )


# -- the verdict ---------------------------------------------------------------------------
def _at(arrows: list[Arrow], frame: int | None) -> Arrow | None:
    return next((a for a in arrows if a.frame == frame), None) if frame else None


def _acker(arrows: list[Arrow], fin: Arrow) -> Arrow | None:
    """The first segment of the peer that acknowledges ``fin``'s FIN."""
    fin_seq = seq_add(fin.raw_seq, fin.plen)
    return next((a for a in arrows if a.frame > fin.frame and a.sender != fin.sender
                 and a.flags & ACK and not a.dropped and seq_diff(a.raw_ack, fin_seq) > 0),
                None)


def _since(a: Arrow | None, b: Arrow | None) -> str:
    return format_duration(b.ts - a.ts) if a is not None and b is not None else "?"


# Every sentence of the verdict states only what the ladder draws: the segments it cites are
# arrows of the ladder, of the kind the sentence names, and the states it names are states
# drawn beside them.  These helpers read those facts off the arrows.
def _sent(arrows: list[Arrow], role: str, want: int, refuse: int = 0) -> list[Arrow]:
    """The segments ``role`` sent (and the receiver kept) with every flag of ``want`` and
    none of ``refuse``."""
    return [a for a in arrows if a.sender == role and not a.dropped
            and a.flags & want == want and not a.flags & refuse]


def _path(arrows: list[Arrow], role: str, after: int = 0, until: int | None = None,
          ) -> list[str]:
    """The states ``role`` entered, in order, at the segments of frames ``after`` to
    ``until`` (to the end when None)."""
    return [st for a in arrows if a.frame >= after and (until is None or a.frame <= until)
            for st in (a.orig_states if role == "orig" else a.resp_states)]


def _went(path: list[str]) -> str:
    if not path:
        return "stayed in its state"
    return f"went {' → '.join(path)}" if len(path) > 1 else f"entered {path[0]} and stayed there"


def _paths_text(arrows: list[Arrow], after: int = 0, until: int | None = None) -> str:
    """``both went A → B`` or ``orig went A → B and resp went A → C`` (the states drawn)."""
    po, pr = _path(arrows, "orig", after, until), _path(arrows, "resp", after, until)
    if po == pr:
        return f"both {_went(po)}"
    return f"orig {_went(po)} and resp {_went(pr)}"


def _answers(arrows: list[Arrow], who: str, syn: Arrow) -> list[Arrow]:
    """Segments of ``who`` after ``syn`` that acknowledge it."""
    end = seq_add(syn.raw_seq, 1)
    return [a for a in arrows if a.sender == who and a.frame > syn.frame and a.flags & ACK
            and seq_diff(a.raw_ack, end) >= 0]


def _opening(report: FlowReport, arrows: list[Arrow]) -> list[str]:
    hs = report["handshake"]
    status = hs["status"]
    syns, synacks = hs["syn_frames"], hs["synack_frames"]
    rtt = hs["rtt_s"]["total"]
    first = arrows[0]
    if status == "complete":
        syn, synack, ack = _at(arrows, syns[-1]), _at(arrows, synacks[0]), hs["ack_frame"]
        text = (f"orig opened the connection: SYN (frame {syns[0]}), resp's SYN+ACK "
                f"{_since(syn, synack)} later (frame {synacks[0]}), orig's ACK (frame {ack})")
        if rtt is not None:
            text += f"; handshake RTT {format_duration(rtt)}"
        text += "."
        if hs["syn_retransmissions"]:
            text += (f" orig had to send {_plural(len(syns), 'SYN')} before resp answered "
                     f"(frames {', '.join(map(str, syns))}).")
        if hs["synack_retransmissions"]:
            text += f" resp sent its SYN+ACK {len(synacks)} times."
        return [text]
    if status == "simultaneous_open":
        syn_o = next((a for a in arrows if a.flags & SYN and not a.flags & ACK
                      and a.sender == "orig"), None)
        syn_r = next((a for a in arrows if a.flags & SYN and not a.flags & ACK
                      and a.sender == "resp"), None)
        frames = " and ".join(str(a.frame) for a in (syn_o, syn_r) if a is not None)
        text = (f"Simultaneous open: orig and resp both sent a SYN and the SYNs crossed "
                f"(frames {frames}); ")
        answers = []
        for who, peer_syn in (("orig", syn_r), ("resp", syn_o)):
            got = _answers(arrows, who, peer_syn) if peer_syn is not None else []
            answers.append((who, next((a for a in got if a.flags & SYN),
                                      got[0] if got else None)))
        if all(k is not None and k.flags & SYN for _, k in answers):
            text += (f"each answered the other with a SYN+ACK (frames "
                     f"{' and '.join(str(k.frame) for _, k in answers if k is not None)})")
        else:
            said = []
            for who, k in answers:
                peer = "resp" if who == "orig" else "orig"
                if k is None:
                    said.append(f"no answer of {who}'s to {peer}'s SYN was captured")
                else:
                    kind = ("a SYN+ACK" if k.flags & SYN else "a plain ACK"
                            if k.flags & (ACK | PSH) == k.flags else flags_names(k.flags))
                    said.append(f"{who} answered {peer}'s SYN with {kind} (frame {k.frame})")
            text += "; ".join(said)
        # the opening ends where the second side enters ESTABLISHED (or where the ladder ends)
        seen: set[str] = set()
        both = None
        for a in arrows:
            seen.update(r for r, st in (("orig", a.orig_states), ("resp", a.resp_states))
                        if "ESTABLISHED" in st)
            if len(seen) == 2:
                both = a.frame
                break
        text += f", so {_paths_text(arrows, until=both)} (RFC 9293 §3.5)"
        if both is not None:
            text += f"; both ESTABLISHED at frame {both}"
        return [text + "."]
    if status == "refused":
        reset = report["reset"] or {}
        rst = _at(arrows, (reset.get("frames") or [None])[0])
        syn = _at(arrows, syns[-1])
        text = (f"resp refused the connection: it answered orig's SYN (frame {syns[-1]}) with "
                f"{flags_names(rst.flags) if rst else 'RST'} {_since(syn, rst)} later"
                f" (frame {rst.frame if rst else '?'}): nothing was listening on port "
                f"{report['resp']['port']}.")
        if reset.get("validity") == "exact":
            text += " The RST acknowledges the SYN, so orig accepts it and gives up."
        elif reset.get("validity") == "out_of_window":
            text += " The RST does not acknowledge the SYN, so orig should ignore it."
        if len(syns) > 1:
            text += f" orig had sent {_plural(len(syns), 'SYN')}."
        return [text]
    if status == "no_answer":
        syn_first, syn_last = _at(arrows, syns[0]), _at(arrows, syns[-1])
        if len(syns) > 1:
            text = (f"No answer: orig sent {len(syns)} SYNs over "
                    f"{_since(syn_first, syn_last)} (frames {', '.join(map(str, syns))})")
        else:
            text = f"No answer: orig sent a SYN (frame {syns[0]})"
        replies = [a for a in arrows if a.sender == "resp"]
        if replies:
            r = replies[0]
            text += (f" and resp never answered it with a SYN+ACK: it sent "
                     f"{flags_names(r.flags)} (frame {r.frame}) instead")
        else:
            text += " and resp never replied"
        final = report["final_state"]["orig"]
        return [f"{text}; orig is left in {final}." if final == "SYN-SENT"
                else f"{text}; orig ends in {final}."]
    if status == "incomplete":
        times = f", sent {len(synacks)} times" if len(synacks) > 1 else ""
        text = f"resp answered orig's SYN with a SYN+ACK (frame {synacks[0]}{times}) but "
        synack = _at(arrows, synacks[0])
        acks = [a for a in _answers(arrows, "orig", synack) if not a.flags & SYN] \
            if synack is not None else []
        if not acks:
            text += "orig's final ACK never came"
        elif acks[0].dropped:
            text += (f"orig's ACK (frame {acks[0].frame}) was discarded for its bad checksum "
                     "and no other came")
        else:
            text += (f"orig's {flags_names(acks[0].flags)} (frame {acks[0].frame}) did not "
                     "complete it")
        return [f"{text}: the handshake is incomplete and resp stays in "
                f"{report['final_state']['resp']}."]
    if status == "synack_not_captured":
        return [f"resp's SYN+ACK was not captured: orig sent a SYN (frame {syns[0]}) and then "
                f"an ACK (frame {hs['ack_frame']}), which it sends only once it has received "
                "a SYN+ACK, so the handshake completed unseen (as in a capture of one "
                "direction only)."]
    if status == "syn_not_captured":
        return [f"The SYN was not captured: the connection is first seen at resp's SYN+ACK "
                f"(frame {first.frame}), so orig is the side that SYN+ACK answered."]
    if report["reset"] and report["reset"]["situation"] == "no_connection":
        return []
    return [f"Picked up mid-stream at frame {first.frame}: no SYN was captured, so orig is "
            "simply the side seen first (roles inferred) and seq/ack are relative to the "
            "first numbers seen."]


def _data(report: FlowReport, arrows: list[Arrow]) -> list[str]:
    segs = {r: sum(1 for a in arrows if a.sender == r and a.plen and not a.dropped)
            for r in ("orig", "resp")}
    total = report["bytes"]
    if not total["orig"] and not total["resp"]:
        if report["handshake"]["status"] in ("complete", "simultaneous_open") or \
                report["handshake"]["status"] == "not_captured" and len(arrows) > 1:
            return ["No data was exchanged."]
        return []
    sent = [f"{role} sent {format_bytes(total[role])} in {_plural(segs[role], 'segment')}"
            if total[role] else f"{role} sent no data" for role in ("orig", "resp")]
    text = f"Data: {', '.join(sent)}."
    missed = report.get("missed_bytes") or {}
    gaps = [f"{format_bytes(v)} of {k}'s" for k, v in missed.items() if v]
    if gaps:
        text += f" {' and '.join(gaps)} data were never captured."
    return [text]


def _closing(report: FlowReport, arrows: list[Arrow]) -> list[str]:
    close = report["close"]
    pattern = close["pattern"]
    if pattern == "none":
        if (report["reset"] is None and report["outcome"] == "open"
                and not any(a.flags & (FIN | RST) for a in arrows)):
            return ["No FIN or RST was seen: the connection was still open when the capture "
                    "ended."]
        return []
    fins = close["fin_frames"]
    first_by = close["first_fin_by"]
    if pattern == "simultaneous":
        fo, fr = _at(arrows, fins["orig"][0]), _at(arrows, fins["resp"][0])
        text = (f"Simultaneous close: orig and resp both sent a FIN before receiving the "
                f"other's (frames {fins['orig'][0]} and {fins['resp'][0]}, "
                f"{_since(fo, fr) if fo and fr and fo.ts <= fr.ts else _since(fr, fo)} apart); "
                f"the FINs crossed, so "
                f"{_paths_text(arrows, min(fins['orig'][0], fins['resp'][0]))} "
                "(RFC 9293 §3.6)")
        if close["final_ack_frame"]:
            text += f"; the last ACK is frame {close['final_ack_frame']}"
        return [text + "."]
    x = first_by
    y = "resp" if x == "orig" else "orig"
    fin_x = _at(arrows, fins[x][0])
    if fin_x is None:
        return []
    ack_y = _acker(arrows, fin_x)
    if pattern == "one_fin_only":
        text = f"{x} closed (FIN, frame {fin_x.frame})"
        if ack_y is not None:
            text += f"; {y} ACKed it {_since(fin_x, ack_y)} later (frame {ack_y.frame})"
        lost = [a for a in arrows if a.sender == y and a.flags & FIN]
        text += (f"; {y}'s FIN (frame {lost[0].frame}) was discarded for its bad checksum"
                 if lost else " but never sent a FIN of its own")
        if report["final_state"][y] == "CLOSE-WAIT":
            text += f" ({y} is left in CLOSE-WAIT)"
        return [text + "."]
    fin_y = _at(arrows, fins[y][0])
    if fin_y is None:
        return []
    last = _acker(arrows, fin_y)
    tail = (f"; {x} ACKed {y}'s FIN at frame {last.frame}" if last is not None
            else f"; {x}'s final ACK was not captured")
    if pattern == "three_way":
        return [f"{x} closed first (FIN, frame {fin_x.frame}); {y} ACKed it and closed in one "
                f"segment {_since(fin_x, fin_y)} later ({flags_names(fin_y.flags)}, frame "
                f"{fin_y.frame}){tail}."]
    if pattern == "half_close":
        more = [a for a in arrows if a.sender == y and a.plen and fin_x.frame < a.frame]
        sent = sum(a.plen for a in more)
        acked = (f"{y} ACKed it {_since(fin_x, ack_y)} later (frame {ack_y.frame}), "
                 if ack_y is not None else "")
        return [f"Half-close: {x} closed its sending side first (FIN, frame {fin_x.frame}) and "
                f"kept receiving; {acked}went on sending {format_bytes(sent)} in "
                f"{_plural(len(more), 'segment')}, and closed {_since(fin_x, fin_y)} after "
                f"{x} (FIN, frame {fin_y.frame}){tail}."]
    acked = (f"{y} ACKed it {_since(fin_x, ack_y)} later (frame {ack_y.frame}) and closed "
             f"{_since(ack_y, fin_y)} after that" if ack_y is not None and ack_y is not fin_y
             else f"{y} closed {_since(fin_x, fin_y)} later")
    return [f"{x} closed first (FIN, frame {fin_x.frame}); {acked} (FIN, frame "
            f"{fin_y.frame}){tail}."]


_VALIDITY_TEXT = {
    "exact": "its seq is exactly the one {peer} expects, so it is valid and {peer} aborts",
    "in_window": ("its seq is inside {peer}'s window but not exact: by RFC 5961 {peer} "
                  "should answer with a challenge ACK instead of aborting"),
    "out_of_window": "its seq is outside {peer}'s window, so {peer} ignores it",
    "unknown": "its validity cannot be judged (nothing of {peer}'s window was seen)",
}


def _resetting(report: FlowReport, arrows: list[Arrow]) -> list[str]:
    reset = report["reset"]
    if reset is None or reset["situation"] == "refused":
        return []
    frame = reset["frames"][0]
    rst = _at(arrows, frame)
    flags = flags_names(rst.flags) if rst is not None else "RST"
    by = reset["by"]
    if reset["situation"] == "no_connection":
        return [f"A lone {flags} from {by} (frame {frame}): no other segment of this "
                "connection was captured, so there is no state to judge it against."]
    who = rst.sender if rst is not None else ("orig" if by == "both" else by)
    peer = "resp" if who == "orig" else "orig"
    text = (f"{who} reset the connection with {flags} at frame {frame} while in "
            f"{reset['states'][who]} ({peer} in {reset['states'][peer]}): "
            + _VALIDITY_TEXT.get(reset["validity"], reset["validity"]).format(peer=peer))
    if reset["challenge_ack"]:
        text += "; a challenge ACK was seen"
    text += "."
    situation = reset["situation"]
    if situation == "after_fin":
        text += (" It follows a FIN: typical of data arriving for an application that had "
                 "already closed its socket (RFC 1122 §4.2.2.13).")
    elif situation == "in_time_wait":
        text += " It hit a TIME-WAIT endpoint: TIME-WAIT assassination (RFC 1337)."
    elif situation == "abort":
        text += " An abort: no FIN was exchanged before it."
    if by == "both":
        text += f" Both sides sent RSTs (frames {', '.join(map(str, reset['frames']))})."
    return [text]


def _time_wait(report: FlowReport) -> list[str]:
    out = []
    reset = report["reset"]
    for tw in report["time_wait"]:
        text = f"{tw['endpoint']} held TIME-WAIT from frame {tw['frame']}"
        if reset and reset["situation"] == "in_time_wait":
            later = [f for f in reset["frames"] if f > tw["frame"]]
            if later:
                text += f" until the RST at frame {later[0]} ended it early (RFC 1337)"
        out.append(text)
    if not out:
        return []
    return ["; ".join(out) + "."]


def _reuse(report: FlowReport) -> list[str]:
    reuse = report.get("port_reuse")
    if not reuse:
        return []
    text = (f"This connection reuses the 4-tuple of connection #{reuse['previous_id']}, "
            f"{format_duration(reuse['gap_s'])} after it ended")
    if reuse["previous_in_time_wait"]:
        holders = " and ".join(reuse["time_wait_holder"])
        verdict = ("acceptable by RFC 6191" if reuse["rfc6191_acceptable"]
                   else "premature by RFC 6191")
        text += f", while its {holders} was still in TIME-WAIT ({verdict})"
    return [text + "."]


def derive_verdict(report: FlowReport, arrows: list[Arrow]) -> list[str]:
    """Plain-language sentences about one connection: how it opened, what it carried, how
    it closed or was reset, who held TIME-WAIT, and the outcome."""
    if not arrows:
        return []
    out: list[str] = []
    out += _reuse(report)
    out += _opening(report, arrows)
    out += _data(report, arrows)
    out += _closing(report, arrows)
    out += _resetting(report, arrows)
    out += _time_wait(report)
    zeek = report.get("zeek") or {}
    final = report["final_state"]
    text = f"Outcome: {report['outcome'].replace('_', ' ')}"
    rows = zeek.get("rows")
    if rows:
        each = ", then ".join(f"{r['conn_state']} {r['history'] or '-'}" for r in rows)
        text += f" (Zeek logs it as {len(rows)} rows: {each})"
    elif zeek:
        text += f" (Zeek {zeek['conn_state']}, history {zeek['history'] or '-'})"
    text += f"; final states: orig {final['orig']}, resp {final['resp']}."
    out.append(text)
    if report.get("anomalies"):
        counts = ", ".join(f"{k} ×{v}" for k, v in report["anomalies"].items())
        out.append(f"Anomalies: {counts}.")
    return out


def build_ladders(
    traces: list[ConnectionTrace], *, fold: int | None = DEFAULT_FOLD, raw_seq: bool = False,
    time_wait_s: float | None = None,
) -> list[Ladder]:
    """:func:`build_ladder` over several traces, in id order."""
    key: Callable[[ConnectionTrace], int] = lambda t: t.report["id"]  # noqa: E731
    return [build_ladder(t, fold=fold, raw_seq=raw_seq, time_wait_s=time_wait_s)
            for t in sorted(traces, key=key)]
