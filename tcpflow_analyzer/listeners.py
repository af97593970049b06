"""The listener's view: per server endpoint, what happened to the connections it was offered.

A *listener* is the endpoint that received the SYN (the report's ``resp`` of a connection
whose SYN, or at least SYN-ACK, was captured).  For each one :class:`ListenerView` keeps a
constant-size record: connections attempted / established / refused / unanswered /
incomplete, handshake RTT p50/p95/max, SYN and SYN-ACK retransmissions, connections reset
after establishment, the peak number of half-open connections (the listener in SYN-RECEIVED
at once) and when, and two signatures:

* **full accept queue**: the listener re-sent its SYN-ACK after the client's handshake ACK
  was captured (Linux drops that ACK while the accept queue is full and keeps the request in
  SYN-RECEIVED, ``tcp_abort_on_overflow = 0``), or the client's first data were not
  acknowledged and had to be retransmitted (the same drop, seen from the data);
* **SYN flood**: many half-open connections at once from many sources
  (``half_open_peak >= SYN_FLOOD_PEAK`` with ``>= SYN_FLOOD_SOURCES`` distinct client
  addresses among the half-open ones).

Theory of operation
-------------------
Counts come from finished flow reports (:meth:`ListenerView.add_flow`), which arrive in
completion order.  The half-open peak needs time order, so it comes from the tracker's event
sink instead: :class:`ListenerView` *is* a sink (it has ``append``), handed to the
:class:`~tcpflow_analyzer.pipeline.Analyzer` as ``events``.  A ``StateChanged`` of an
endpoint from LISTEN to SYN-RECEIVED (it sent its SYN-ACK) raises that listener's running
count; leaving SYN-RECEIVED (ESTABLISHED on the handshake ACK, CLOSED on a RST) or the
connection being reported while still half-open (the flow table gave up on it after
``handshake_timeout_s`` of silence, checked on its 5-second sweep, or the capture ended)
lowers it.  The peak is taken when the count rises, with that segment's ts and frame, so a
replay always gives the same figure.  A simultaneous open (SYN-SENT -> SYN-RECEIVED) is not
a listener's half-open connection.

Memory: one record per listener, at most ``max_listeners`` of them; later listeners are
folded into one remainder record (``ip``/``port`` null, ``listeners_folded`` says how many).
The RTT quantiles are exact (nearest rank) over the first ``RTT_EXACT`` samples and from a
fixed log-scale histogram (2 % wide bins) after that (``rtt_exact`` false).  The pending
half-open set is bounded by the active connections.  Pure: no file, clock or terminal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .events import StateChanged
from .segment import format_ip
from .states import TcpState

if TYPE_CHECKING:  # mypy reads the stand-in's signatures
    from tcpflow_analyzer import _cython as cython

    from .record import ConnRecord, Endpoint
    from .report import FlowReport
    from .rounding import round_us
    from .segment import Segment
else:
    try:
        import cython  # compiled: Cython's directives; interpreted: Cython's Shadow module
    except ModuleNotFoundError:  # no Cython at all: the package's stand-in (_cython.py)
        from tcpflow_analyzer import _cython as cython

if not cython.compiled:  # compiled, listeners.pxd cimports these (C types, a C call)
    from .rounding import round_us

COMPILED: bool = cython.compiled
"""True when this module runs as a compiled extension (``tcpflow-analyzer --version``)."""

# the states the tracker's hook compares with, read once (a member read off the Enum class
# costs a Python-level look-up each time)
_SYN_RECEIVED = TcpState.SYN_RECEIVED
_LISTEN = TcpState.LISTEN
# Address texts by address object: the flow table shares one bytes object per host, so a
# hit is one dict probe on a cached hash instead of formatting the address again.  Bounded
# as every table keyed by capture content must be: emptied when full.
_IP_TEXTS: dict[bytes, str] = {}
_IP_TEXTS_MAX = 4096


@cython.ccall
def _ip_text(addr: bytes) -> str:
    """``format_ip(addr)``, remembered."""
    texts: dict[bytes, str] = _IP_TEXTS
    text = texts.get(addr)
    if text is None:
        if len(texts) >= _IP_TEXTS_MAX:
            texts.clear()
        text = texts[addr] = format_ip(addr)
    return text


#: Listeners kept apart; later ones are folded into one remainder record.
MAX_LISTENERS = 1024
#: Exact handshake RTT samples kept per listener before switching to the histogram.
RTT_EXACT = 1024
#: Distinct client addresses remembered per listener (for the SYN-flood signature).
MAX_SOURCES = 1024
#: SYN-flood signature: at least this many half-open at once ...
SYN_FLOOD_PEAK = 64
#: ... from at least this many distinct client addresses.
SYN_FLOOD_SOURCES = 16
_FOLDED_KEYS_CAP = 65_536
_BIN = math.log(1.02)
_COUNTED = frozenset({"complete", "refused", "no_answer", "incomplete", "syn_not_captured"})


@cython.final
@cython.cclass
class _Listener:
    """The constant-size record of one listener (or of the folded remainder).  Compiled,
    an extension type whose fields are public C fields (``listeners.pxd``)."""

    # (not TYPE_CHECKING: mypy would check the compiled class's C fields against the slots)
    if not cython.compiled and not TYPE_CHECKING:
        __slots__ = (
            "accept_queue_full", "attempted", "established", "first_data_retransmitted",
            "half_open", "half_open_peak", "half_open_peak_frame", "half_open_peak_ts", "hist",
            "incomplete", "ip", "port", "refused", "reset_after_established",
            "reset_by_listener", "rtt", "rtt_exact", "rtt_max", "rtt_n", "sources",
            "max_sources", "synack_after_ack",
            "synack_retransmissions", "syn_retransmissions", "unanswered",
        )

    def __init__(self, ip: str | None, port: int | None) -> None:
        self.ip = ip
        self.port = port
        self.attempted = self.established = self.refused = self.unanswered = 0
        self.incomplete = self.syn_retransmissions = self.synack_retransmissions = 0
        self.reset_after_established = self.reset_by_listener = 0
        self.accept_queue_full = self.synack_after_ack = self.first_data_retransmitted = 0
        self.half_open = self.half_open_peak = 0
        self.half_open_peak_ts: float | None = None
        self.half_open_peak_frame: int | None = None
        self.rtt: list[float] = []
        self.rtt_n = 0
        self.rtt_max: float | None = None
        self.hist: dict[int, int] = {}
        # the clients' address objects (distinct objects of equal bytes are one member;
        # distinct addresses have distinct texts, so the count is the texts' count)
        self.sources: set[bytes] = set()
        # the bounds, read from the module's names when the record is made (a C field
        # each, so the compiled comparisons stay C; a patched RTT_EXACT or MAX_SOURCES
        # takes effect in both engines)
        self.rtt_exact = RTT_EXACT
        self.max_sources = MAX_SOURCES

    def add_rtt(self, value: float) -> None:
        self.rtt_n += 1
        if self.rtt_max is None or value > self.rtt_max:
            self.rtt_max = value
        if self.hist or len(self.rtt) >= self.rtt_exact:
            if not self.hist:
                for v in self.rtt:
                    self._bin(v)
                self.rtt = []
            self._bin(value)
        else:
            self.rtt.append(value)

    def _bin(self, value: float) -> None:
        b = math.floor(math.log(max(value, 1e-9)) / _BIN)
        self.hist[b] = self.hist.get(b, 0) + 1

    def quantile(self, pct: int) -> float | None:
        """Nearest-rank percentile (exact while under ``RTT_EXACT`` samples)."""
        if not self.rtt_n:
            return None
        rank = max(1, (pct * self.rtt_n + 99) // 100)
        if not self.hist:
            return sorted(self.rtt)[rank - 1]  # type: ignore[no-any-return]
        seen = 0
        for b in sorted(self.hist):
            seen += self.hist[b]
            if seen >= rank:
                # the bin's geometric middle, never above the true maximum
                mid = math.exp((b + 0.5) * _BIN)
                return min(round(mid, 6), self.rtt_max or mid)
        return self.rtt_max


def _is_syn_flood(rec: _Listener) -> bool:
    return rec.half_open_peak >= SYN_FLOOD_PEAK and len(rec.sources) >= SYN_FLOOD_SOURCES


@cython.cclass
class ListenerView:
    """Per-listener aggregates over one analysis (see the module docstring).

    Use: pass the view as the analyzer's ``events`` sink, call :meth:`bind` with each file's
    flow table before reading it, :meth:`add_flow` with every finished flow report, then
    :meth:`to_list`.  Compiled, an extension type (``listeners.pxd``): the tracker's state
    hook and ``add_flow`` work on C fields and C locals.
    """

    # (not TYPE_CHECKING: mypy would check the compiled class's C fields against the slots)
    if not cython.compiled and not TYPE_CHECKING:
        __slots__ = ("_active", "_by_addr", "_by_ip", "_by_key", "_folded", "_folded_keys",
                     "_folded_more", "_pending", "_table", "max_listeners")

    #: the only events this sink needs (see :mod:`.events`): entering or leaving SYN-RECEIVED
    only_states = frozenset({TcpState.SYN_RECEIVED})

    def __init__(self, max_listeners: int = MAX_LISTENERS) -> None:
        self.max_listeners = max_listeners
        self._by_key: dict[tuple[str, int], _Listener] = {}
        # the same records (not the folded one) by address, then port: by the address text
        # for add_flow, by the flow table's shared address objects for the state hook (a
        # probe on a cached hash each, where a (text, port) key is hashed and compared
        # element by element); at most max_listeners records each
        self._by_ip: dict[str, dict[int, _Listener]] = {}
        self._by_addr: dict[bytes, dict[int, _Listener]] = {}
        self._folded: _Listener | None = None
        self._folded_keys: set[tuple[str, int]] = set()
        self._folded_more = False
        self._table: Any = None
        self._active: dict[int, Any] | None = None  # the bound table's active connections
        # conn id -> (listener record, listener endpoint) while half-open
        self._pending: dict[int, tuple[_Listener, Endpoint]] = {}

    # -- wiring ------------------------------------------------------------------------------
    def bind(self, table: Any, path: str | None = None) -> None:
        """Read connections from this flow table (one per capture file)."""
        self._table = table
        self._active = table.active  # the table's own dict, never replaced

    @cython.cfunc
    def _slot(self, ip: str, port: Any) -> _Listener:
        key = (ip, port)
        rec = self._by_key.get(key)
        if rec is not None:
            return rec
        if len(self._by_key) < self.max_listeners:
            rec = self._by_key[key] = _Listener(ip, port)
            ports = self._by_ip.get(ip)
            if ports is None:
                ports = self._by_ip[ip] = {}
            ports[port] = rec
            return rec
        if self._folded is None:
            self._folded = _Listener(None, None)
        if len(self._folded_keys) < _FOLDED_KEYS_CAP:
            self._folded_keys.add(key)
        elif key not in self._folded_keys:
            self._folded_more = True
        return self._folded

    # -- the event sink (time order) -------------------------------------------------------------
    def append(self, event: Any) -> None:
        """Take one tracker event (only endpoint state changes matter here)."""
        if type(event) is not StateChanged or self._active is None:
            return
        cid = event.conn_id
        conn = self._active.get(cid)
        if event.to_state == "SYN-RECEIVED" and event.from_state == "LISTEN":
            if conn is not None and cid not in self._pending:
                self._half_open(cid, conn, conn.orig if event.endpoint == "orig" else conn.resp,
                                event.ts, event.frame)
        elif event.from_state == "SYN-RECEIVED":
            self._settled(cid, conn)

    def state_changed(self, conn: ConnRecord, ep: Endpoint, old: TcpState, new: TcpState,
                      seg: Segment) -> None:
        """The tracker's direct call for a change into or out of SYN-RECEIVED (what
        :meth:`append` does with a :class:`StateChanged`, without building one)."""
        active = self._active
        if active is None:
            return
        cid = conn.id
        if new is _SYN_RECEIVED and old is _LISTEN:
            # not when the connection is no longer the table's (as the event path finds it)
            if cid not in self._pending and active.get(cid) is conn:
                self._half_open(cid, conn, ep, seg.ts, seg.frame)
        elif old is _SYN_RECEIVED:
            self._settled(cid, conn)

    @cython.cfunc
    def _half_open(self, cid: Any, conn: ConnRecord, ep: Endpoint, ts: cython.double,
                   frame: cython.longlong) -> cython.void:
        """Listener endpoint ``ep`` of connection ``cid`` (``conn``, not pending) entered
        SYN-RECEIVED from LISTEN."""
        addr = ep.addr
        port = ep.port
        rec: _Listener = None
        ports = self._by_addr.get(addr)
        if ports is not None:
            rec = ports.get(port)
        if rec is None:
            rec = self._slot(_ip_text(addr), port)
            if rec is not self._folded:
                if ports is None:
                    ports = self._by_addr[addr] = {}
                ports[port] = rec
        self._pending[cid] = (rec, ep)
        rec.half_open += 1
        if len(rec.sources) < rec.max_sources:
            rec.sources.add((conn.b if ep is conn.a else conn.a).addr)
        if rec.half_open > rec.half_open_peak:
            rec.half_open_peak = rec.half_open
            rec.half_open_peak_ts = ts
            rec.half_open_peak_frame = frame

    @cython.cfunc
    def _settled(self, cid: Any, conn: Any) -> cython.void:
        """An endpoint of connection ``cid`` (``conn``, or None once it is no longer
        active) left SYN-RECEIVED: it no longer counts as half-open, unless its listener
        endpoint is still there (the other endpoint moved) in a connection still active."""
        entry = self._pending.get(cid)
        if entry is None:
            return
        rec: _Listener = entry[0]
        ep: Endpoint = entry[1]
        if ep.state is _SYN_RECEIVED and conn is not None and self._active.get(cid) is conn:
            return
        del self._pending[cid]
        rec.half_open -= 1

    # -- finished connections (completion order) ----------------------------------------------
    def add_flow(self, f: dict[str, Any]) -> None:
        """Count one finished connection for its listener."""
        # once per connection: each field is read once, the usual cases need no call
        rec: _Listener
        if self._pending:
            pending = self._pending.pop(f["id"], None)
            if pending is not None:
                rec = pending[0]
                rec.half_open -= 1
        hs: dict[str, Any] = f["handshake"]
        status = hs["status"]
        if status not in _COUNTED or f["initiator"] == "both":
            return
        resp: dict[str, Any] = f["resp"]
        ip = resp["ip"]
        port = resp["port"]
        found = None
        ports = self._by_ip.get(ip)
        if ports is not None:
            found = ports.get(port)
        rec = self._slot(ip, port) if found is None else found
        rec.attempted += 1
        ack = hs["ack_frame"]
        established: cython.bint
        if status == "complete":
            established = True
            rec.established += 1
        elif status == "syn_not_captured":
            established = ack is not None
            rec.established += established
        else:
            established = False
            if status == "refused":
                rec.refused += 1
            elif status == "no_answer":
                rec.unanswered += 1
            elif status == "incomplete":
                rec.incomplete += 1
        rec.syn_retransmissions += hs["syn_retransmissions"]
        rec.synack_retransmissions += hs["synack_retransmissions"]
        rtt = hs["rtt_s"]["total"]
        if rtt is not None:
            value: cython.double = float(rtt)
            if rec.hist or len(rec.rtt) >= rec.rtt_exact:
                rec.add_rtt(value)
            else:  # add_rtt's usual case, inlined
                rec.rtt_n += 1
                if rec.rtt_max is None or value > rec.rtt_max:
                    rec.rtt_max = value
                rec.rtt.append(value)
        if not established:
            return
        reset = f["reset"]
        if reset is not None and f["outcome"] == "reset":
            rec.reset_after_established += 1
            if reset["by"] in ("resp", "both"):
                rec.reset_by_listener += 1
        late: cython.bint = False
        if ack is not None:
            for x in hs["synack_frames"]:
                if x > ack:
                    late = True
                    break
        ignored: cython.bint = bool(f["anomaly_events"]) and _first_data_retransmitted(f)
        rec.synack_after_ack += late
        rec.first_data_retransmitted += ignored
        rec.accept_queue_full += late or ignored

    # -- output ------------------------------------------------------------------------------------
    def to_list(self) -> list[dict[str, Any]]:
        """The listeners as plain data: most attempted first, the folded remainder last."""
        recs = sorted(self._by_key.values(), key=_order)
        out = [_to_dict(r) for r in recs]
        if self._folded is not None:
            d = _to_dict(self._folded)
            n = len(self._folded_keys)
            d["listeners_folded"] = n
            d["listeners_folded_text"] = f"{n}+" if self._folded_more else str(n)
            out.append(d)
        return out


def _order(r: _Listener) -> tuple[int, int, str, int]:
    return (-r.attempted, -r.half_open_peak, r.ip or "", r.port or 0)


def _first_data_retransmitted(f: FlowReport) -> bool:
    """The client's first data went unacknowledged until it retransmitted them on a timeout:
    the first anomaly after the handshake ACK is orig's timeout retransmission (a listener
    whose accept queue is full drops the data like the ACK before it)."""
    ack = f["handshake"]["ack_frame"]
    if ack is None or not f["data_packets"]["orig"]:
        return False
    for ev in f["anomaly_events"]:
        if ev["frame"] <= ack:
            continue
        return (ev["endpoint"] == "orig" and ev["name"] == "retransmission"
                and "timeout" in (ev["detail"] or ""))
    return False


def _to_dict(r: _Listener) -> dict[str, Any]:
    return {
        "ip": r.ip,
        "port": r.port,
        "attempted": r.attempted,
        "established": r.established,
        "refused": r.refused,
        "unanswered": r.unanswered,
        "incomplete": r.incomplete,
        "handshake_rtt_s": {"count": r.rtt_n, "p50": r.quantile(50), "p95": r.quantile(95),
                            "max": r.rtt_max, "exact": not r.hist},
        "syn_retransmissions": r.syn_retransmissions,
        "synack_retransmissions": r.synack_retransmissions,
        "half_open_peak": r.half_open_peak,
        "half_open_peak_ts": None if r.half_open_peak_ts is None
        else round_us(r.half_open_peak_ts),
        "half_open_peak_frame": r.half_open_peak_frame,
        "reset_after_established": r.reset_after_established,
        "reset_by_listener": r.reset_by_listener,
        "accept_queue_full": {"connections": r.accept_queue_full,
                              "synack_after_ack": r.synack_after_ack,
                              "first_data_retransmitted": r.first_data_retransmitted},
        "syn_flood": {"suspected": _is_syn_flood(r), "half_open_sources": len(r.sources),
                      "sources_capped": len(r.sources) >= MAX_SOURCES},
    }


class PerFileListeners:
    """One :class:`ListenerView` per capture file (``check`` judges each capture on its
    own): the same sink and ``add_flow`` protocol, switching view at every ``bind``."""

    only_states = ListenerView.only_states

    def __init__(self) -> None:
        self.views: dict[str, ListenerView] = {}
        self._current = ListenerView()

    def bind(self, table: Any, path: str | None = None) -> None:
        """Start the view of the next file."""
        self._current = self.views.setdefault(path or "", ListenerView())
        self._current.bind(table, path)

    def append(self, event: Any) -> None:
        """Hand a tracker event to the current file's view."""
        self._current.append(event)

    def state_changed(self, conn: Any, ep: Any, old: TcpState, new: TcpState,
                      seg: Any) -> None:
        """Hand the tracker's direct call to the current file's view."""
        self._current.state_changed(conn, ep, old, new, seg)

    def add_flow(self, f: FlowReport) -> None:
        """Count a finished connection in the current file's view."""
        self._current.add_flow(f)

    def to_list(self, path: str) -> list[dict[str, Any]]:
        """The listener view of one file (empty when it was never read)."""
        view = self.views.get(path)
        return view.to_list() if view is not None else []


def listener_endpoint(entry: dict[str, Any]) -> str:
    """``ip:port`` (IPv6 in brackets) of a listener entry, ``(other listeners)`` for the
    folded remainder."""
    ip = entry["ip"]
    if ip is None:
        return f"({entry.get('listeners_folded_text', '?')} other listeners)"
    return f"[{ip}]:{entry['port']}" if ":" in ip else f"{ip}:{entry['port']}"


def listeners_of(flows: Iterable[FlowReport]) -> list[dict[str, Any]]:
    """The listener view of finished reports alone (no half-open peak: that needs the
    event sink); for tests and small tools."""
    view = ListenerView()
    for f in flows:
        view.add_flow(f)
    return view.to_list()
