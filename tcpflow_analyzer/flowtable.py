"""The flow table: which connection each segment belongs to, and when connections end.

* Lookup is one dict probe per packet: each connection is indexed once, under its 4-tuple
  (plus VLAN ids) with the lower port first (the lower address on a tie), and the sender is
  endpoint a when its address and port are a's.  Keys are tuples of address bytes and
  ports, never a hash or XOR of them.  (A socket connected to itself, same address and
  port on both ends, has one 4-tuple for both directions: its segments all count as a's.)
* A new pure SYN on a 4-tuple starts a new connection (an *incarnation*) unless it is a
  retransmission (same ISN) or the peer's half of a simultaneous open.  The new connection
  is linked to the old one with the gap between them and, when the old one still held
  TIME-WAIT, whether the reuse was acceptable by RFC 6191 (ISN or timestamp moved forward).
* Connections expire by capture time, never wall-clock: idle synchronized connections after
  ``idle_timeout_s``, unanswered or half-open ones after ``handshake_timeout_s``, closed
  ones after ``close_linger_s`` (leaving a small tombstone for 2MSL, so a reuse of the
  4-tuple is still judged against TIME-WAIT) and reset ones after ``reset_linger_s``.
  Expiry runs as an amortised sweep every few seconds of packet time, so memory is bounded
  by *active* connections (and by ``max_active``), and finished ones stream out through
  ``on_finished``.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from . import _ingest
from . import segment as _segment
from .events import ConnectionOpened
from .evicted import EvictedSet
from .record import share_key
from .segment import format_endpoint
from .states import TcpState
from .tracker import TrackerConfig

if TYPE_CHECKING:  # mypy reads the stand-in's signatures
    from tcpflow_analyzer import _cython as cython

    from .record import Endpoint
    from .segment import Segment
    from .seqnum import seq_add, seq_diff
    from .tracker import Connection
else:
    try:
        import cython  # compiled: Cython's directives; interpreted: Cython's Shadow module
    except ModuleNotFoundError:  # no Cython at all: the package's stand-in (_cython.py)
        from tcpflow_analyzer import _cython as cython

if not cython.compiled:  # compiled, flowtable.pxd cimports these (C calls, C types)
    from .record import Endpoint
    from .segment import Segment
    from .seqnum import seq_add, seq_diff
    from .tracker import Connection

COMPILED: bool = cython.compiled
"""True when this module runs as a compiled extension (``tcpflow-analyzer --version``)."""

S = TcpState
_SWEEP_INTERVAL = cython.declare(cython.double, 5.0)
_RECENT_MAX = 65536  # a Python global (tests lower it)
MAX_VLAN_PAIRS = 64  # pairs of VLAN stacks --vlan auto lists one by one in its warnings
_CLOSED_STATES = frozenset({S.CLOSED, S.TIME_WAIT})
# C constants (an undeclared module constant is a Python object; see compiled-core.md)
_FIN = cython.declare(cython.int, 0x01)
_SYN = cython.declare(cython.int, 0x02)
_RST = cython.declare(cython.int, 0x04)
_ACK = cython.declare(cython.int, 0x10)
if (_FIN, _SYN, _RST, _ACK) != (_segment.FIN, _segment.SYN, _segment.RST, _segment.ACK):
    raise ImportError("flowtable: flag constants disagree with segment.py")
_by_last_ts = attrgetter("last_ts")


@cython.cfunc
def _timeout(conn: Connection, cfg: TrackerConfig) -> cython.double:
    a: Endpoint = conn.a
    b: Endpoint = conn.b
    if (a.rst_frames or b.rst_frames) and (
        a.state in _CLOSED_STATES or b.state in _CLOSED_STATES
    ):
        return cfg.reset_linger_s
    if (a.state in _CLOSED_STATES and b.state in _CLOSED_STATES) or \
            a.state is S.TIME_WAIT or b.state is S.TIME_WAIT:
        if _fin_resent_after_ack(a) or _fin_resent_after_ack(b):
            # The final ACK was captured but lost beyond the capture point: the FIN's
            # sender is still in LAST-ACK (or CLOSING) and goes on re-sending it, with
            # doubling gaps, until the TIME-WAIT end re-ACKs it (RFC 9293 §3.6, §3.10.7.4)
            return max(cfg.close_linger_s, cfg.time_wait_s)
        return cfg.close_linger_s
    if conn.handshake_ack is not None or a.state is S.PARTIAL or b.state is S.PARTIAL:
        return cfg.idle_timeout_s
    return cfg.handshake_timeout_s


@cython.cfunc
def _fin_resent_after_ack(ep: Endpoint) -> cython.bint:
    """Whether ``ep`` re-sent its FIN after the capture saw that FIN acknowledged."""
    fins = ep.fin_rec
    return bool(ep.fin_ack_frame) and fins is not None and fins[-2] > ep.fin_ack_frame


@cython.cfunc
def _is_finished(conn: Connection) -> cython.bint:
    """Closed, reset or in TIME-WAIT: a new SYN starts a new incarnation."""
    a: Endpoint = conn.a
    b: Endpoint = conn.b
    return (
        a.state in _CLOSED_STATES or b.state in _CLOSED_STATES
        or (a.fin_seq is not None and b.fin_seq is not None)
    )


@cython.cclass
class FlowTable:
    """Maps segments to connections; see the module docstring.

    ``on_finished(conn)`` is called exactly once for every connection, when it expires,
    is replaced by a new incarnation, or at :meth:`flush`.  ``lookup(seg)`` answers which
    connection ``seg`` belongs to (see :meth:`_lookup`).

    Compiled (flowtable.pxd), the table is an extension type: its settings and counters
    are C fields (all public: the pipeline, tools and tests read them by name) and the
    creation and finishing path (``_open``, ``_create``, ``_finish``, ...) are C methods
    on the Segment's and the connection record's C fields.
    """

    def __init__(
        self, config: TrackerConfig, on_finished: Callable[[Connection], None],
        sink: Any = None,  # a list, or a view that takes events (e.g. listeners.ListenerView)
    ) -> None:
        self.config = config
        self.on_finished = on_finished
        self.lookup = self._lookup
        self.sink = sink
        self.active: dict[int, Connection] = {}
        self.recent: dict[tuple[Any, ...], Tombstone] = {}
        # tombstones dropped before their 2MSL because ``recent`` held _RECENT_MAX, and the
        # time before which a tombstone is stale anyway (the sweep drops those: not counted)
        self.recent_folded = 0
        self._recent_horizon = float("-inf")
        self.next_id = 1
        self._shared: dict[Any, Any] = {}  # address bytes / port int -> its shared copy
        self.next_sweep = 0.0
        self.max_active = 0
        self.peak_active = 0
        self.evicted = 0  # connections reported early because the table was full
        # what is left of each of them (index key -> 16 bytes in packed arrays, see
        # .evicted): their later segments are counted here, so that a connection is reported
        # once and never comes back as a new one (with no handshake)
        self.cut = EvictedSet(config.max_active, config.idle_timeout_s)
        self.cut_segments = 0
        # segments of closed connections already reported, within 2MSL of their close (a FIN
        # re-sent more than close_linger_s late by an end still in LAST-ACK, its re-ACK):
        # counted, with the first 1,024 connections' ids
        self.late_segments = 0
        self.late_conns: list[int] = []
        # tshark never expires a conversation: in wireshark mode neither do we (memory then
        # grows with the number of 4-tuples, the price of reproducing its numbering)
        self.wireshark = config.semantics == "wireshark"
        # VLAN ids in the key: not with --vlan ignore, nor in wireshark mode (tshark's
        # conversations ignore them); --vlan auto joins directions tagged differently
        self.vlan_free = self.wireshark or config.vlan == "ignore"
        # compiled, the index holds no key objects (see _ingest.FlowIndex); interpreted,
        # a dict is the fastest there is
        self.index: dict[tuple[Any, ...], Connection] | _ingest.FlowIndex = \
            _ingest.FlowIndex(self.vlan_free) if _ingest.COMPILED else {}
        self.vlan_auto = not self.vlan_free and config.vlan == "auto"
        self.tagged: dict[tuple[Any, ...], Connection] = {}  # 4-tuple -> tagged connection
        self.vlan_joins: dict[tuple[tuple[int, ...], tuple[int, ...]], int] = {}
        self.vlan_joins_folded = 0  # joins under pairs past MAX_VLAN_PAIRS (counted only)
        self._min_timeout = float("inf") if self.wireshark else min(
            config.reset_linger_s, config.close_linger_s, config.handshake_timeout_s,
            config.idle_timeout_s)
        if _ingest.COMPILED:  # the common case typed; the rest by the method below
            self.lookup = _ingest.FlowLookup(self, self._lookup)

    def _lookup(self, seg: Segment) -> tuple[Connection | None, bool]:
        """The connection ``seg`` belongs to (created if needed) and whether endpoint a sent
        it; None for a segment of a connection already reported as cut short by the cap
        (counted in ``cut_segments``, not analysed) or closed (``late_segments``).  This is
        ``lookup`` interpreted; compiled, ``lookup`` (_ingest.FlowLookup) settles the common
        case and asks this method for every other one."""
        sport: cython.int = seg.sport
        dport: cython.int = seg.dport
        vlan: tuple = () if self.vlan_free else seg.vlan
        key: tuple
        if sport < dport or (sport == dport and seg.src <= seg.dst):  # _index_key, inlined
            key = (seg.src, sport, seg.dst, dport, vlan)
        else:
            key = (seg.dst, dport, seg.src, sport, vlan)
        ts: cython.double = seg.ts
        if ts >= self.next_sweep and not self.wireshark:
            self._sweep(ts)
        conn: Connection = self.index.get(key)
        if conn is None and self.vlan_auto and (key[4] or self.tagged):
            conn = self._other_vlan(seg, key)  # (untagged, with no tagged ones: none)
        if conn is None and self.cut:
            cut = self.cut.get(key)
            if cut is not None and not self._cut_is_over(key, cut, seg):
                return None, False
        if conn is None:
            return self._open(seg, key)
        a: Endpoint = conn.a
        from_a: cython.bint = sport == a.port and seg.src == a.addr
        # only a plain SYN opens a new incarnation
        if seg.flags & (_SYN | _ACK | _RST) == _SYN and \
                self._is_new_incarnation(conn, from_a, seg):
            return self._replace(conn, seg, key, True), True
        if conn.prev is not None:
            prev: Connection = conn.prev
            if self.active.get(prev.id) is not prev:
                conn.prev = None  # finished since
            elif not seg.flags & _SYN:
                pa: Endpoint = prev.a
                p_from_a: cython.bint = sport == pa.port and seg.src == pa.addr
                if _fit(prev, seg, p_from_a) < _fit(conn, seg, from_a):
                    _late_for_prev(conn, prev, seg, from_a, p_from_a)
                    return prev, p_from_a
        if ts - conn.last_ts >= self._min_timeout and \
                ts - conn.last_ts >= _timeout(conn, self.config):
            return self._replace(conn, seg, key, False), True
        return conn, from_a

    @cython.cfunc
    def _open(self, seg: Segment, key: tuple) -> tuple:
        """No connection under ``key``: a new one, but for a late segment of the closed
        connection whose tombstone is still there (see :meth:`Tombstone.is_late`): that
        one is counted in ``late_segments`` and dropped (None), never a phantom new
        connection."""
        if self.recent and not seg.flags & _SYN:
            old = self.recent.get(_canonical(key))
            if old is not None and old.is_late(seg, self.config.time_wait_s):
                self.late_segments += 1
                if old.conn_id not in self.late_conns and len(self.late_conns) < 1024:
                    self.late_conns.append(old.conn_id)
                return None, False
        return self._create(seg, key, None), True

    @cython.cfunc
    def _other_vlan(self, seg: Segment, key: tuple) -> Connection:
        """--vlan auto, no connection under ``key``: the connection of the same 4-tuple under
        other VLAN ids that this segment is the missing direction of (only the peer's
        segments seen so far), which then takes ``key`` as its second key; None when the
        4-tuple carries no such connection (e.g. two VLANs each with both directions)."""
        tup = key[:4]
        cands = [self.tagged.get(tup)]
        if key[4]:
            cands.append(self.index.get((*tup, ())))
        conn: Connection
        a: Endpoint
        for c in cands:
            if c is None:
                continue
            conn = c
            if conn.vlan_b is not None:
                continue
            a = conn.a
            from_a: cython.bint = seg.sport == a.port and seg.src == a.addr
            if from_a or conn.b.pkts or seg.src == seg.dst and seg.sport == seg.dport:
                continue
            conn.vlan_b = seg.vlan
            self.index[key] = conn
            pair = (conn.vlan, seg.vlan)
            if pair in self.vlan_joins or len(self.vlan_joins) < MAX_VLAN_PAIRS:
                self.vlan_joins[pair] = self.vlan_joins.get(pair, 0) + 1
            else:
                self.vlan_joins_folded += 1
            return conn
        return None

    def vlan_warnings(self) -> list[str]:
        """One line per pair of VLAN stacks that --vlan auto joined into one connection."""
        lines = [f"{n} connection{'s' if n > 1 else ''} carried {_vlan_text(x)} one way and "
                 f"{_vlan_text(y)} the other (a tag added or removed on one direction only): "
                 "each reported as one connection (--vlan key keeps them apart)"
                 for (x, y), n in self.vlan_joins.items()]
        if self.vlan_joins_folded:
            n = self.vlan_joins_folded
            lines.append(
                f"… and {n} more connection{'s' if n > 1 else ''} joined the same way under "
                f"further pairs of VLAN stacks (more than {MAX_VLAN_PAIRS} pairs), not listed "
                "one by one")
        return lines

    def folded_warnings(self) -> list[str]:
        """What the table's caps folded, beyond :meth:`vlan_warnings`: tombstones of closed
        connections dropped before their 2MSL because ``recent`` was full."""
        if not self.recent_folded:
            return []
        return [f"more than {_RECENT_MAX} connections closed within 2MSL of each other: "
                f"{self.recent_folded} were forgotten before their 2MSL ended, so a new "
                "connection on one of their 4-tuples was not checked against TIME-WAIT "
                "(reused_ports, premature_reuse) and their late segments may read as new "
                "connections"]

    @cython.cfunc
    def _is_new_incarnation(self, conn: Connection, from_a: cython.bint,
                            seg: Segment) -> cython.bint:
        sender: Endpoint = conn.a if from_a else conn.b
        peer: Endpoint = conn.b if from_a else conn.a
        if self.wireshark:
            # tshark: only a SYN whose seq differs from the direction's base seq starts a new
            # stream (tcp.analysis.reused_ports), whatever state the old one ended in
            if sender.isn is not None:
                return seg.seq != sender.isn
            return sender.pkts > 0
        if _is_finished(conn):
            # RFC 9293 §3.8.1: a SYN re-sent with the same ISN is the same attempt, however
            # many RSTs it drew (a refused connect() retried by the stack), as long as that
            # attempt never completed a handshake; after one, the same ISN is a new open
            # (the Zeek model starts its own new conn.log row there: IsReuse after a close)
            return not (sender.isn == seg.seq and sender.syn_rec is not None
                        and conn.handshake_ack is None)
        if sender.isn is None:
            # The peer's SYN crossing ours is a simultaneous open, not a new connection.
            return not (peer.state is S.SYN_SENT and not sender.pkts)
        return seg.seq != sender.isn

    @cython.cfunc
    def _create(self, seg: Segment, key: tuple, previous: Tombstone | None) -> Connection:
        conn: Connection = Connection(self.next_id, seg, self.config, self.sink)
        key = share_key(conn, key, self._shared)
        self.next_id += 1
        self.index[key] = conn
        if key[4] and self.vlan_auto:
            self.tagged[key[:4]] = conn
        self.active[conn.id] = conn
        if len(self.active) > self.max_active:
            self.max_active = len(self.active)
            if self.max_active > self.config.max_active:
                self._evict(seg)
        if previous is None and self.recent:
            previous = self.recent.pop(_canonical(key), None)
        if previous is not None and seg.flags & _SYN:
            self._link(conn, previous, seg)
        if self.sink is not None and getattr(self.sink, "only_states", None) is None:
            self.sink.append(ConnectionOpened(
                conn_id=conn.id, frame=seg.frame, ts=seg.ts,
                orig=format_endpoint(conn.orig.addr, conn.orig.port),
                resp=format_endpoint(conn.resp.addr, conn.resp.port)))
        return conn

    @cython.cfunc
    def _link(self, conn: Connection, old: Tombstone, seg: Segment) -> cython.void:
        """Describe the 4-tuple reuse on the new connection (RFC 1122 §4.2.2.13, RFC 6191)."""
        gap = seg.ts - old.last_ts
        in_tw = bool(old.tw_holders) and gap < self.config.time_wait_s
        same = old.ends[0] if old.ends[0][:2] == (seg.src, seg.sport) else old.ends[1]
        _addr, _port, snd_nxt, last_tsval = same
        isn_adv = None if snd_nxt is None else seq_diff(seg.seq, snd_nxt) > 0
        ts_adv = None
        if seg.tsval is not None and last_tsval is not None:
            ts_adv = seq_diff(seg.tsval, last_tsval) > 0
        acceptable = None
        if in_tw:
            acceptable = bool(isn_adv) or bool(ts_adv)
        conn.port_reuse = {
            "previous_id": old.conn_id,
            "gap_s": round(gap, 6),
            "previous_in_time_wait": in_tw,
            "time_wait_holder": list(old.tw_holders) if in_tw else [],
            "isn_advanced": isn_adv,
            "timestamps_advanced": ts_adv,
            "rfc6191_acceptable": acceptable,
        }
        conn.anomaly("reused_ports", seg, conn.a, f"previous connection #{old.conn_id}")
        if in_tw and not acceptable:
            conn.anomaly("premature_reuse", seg, conn.a,
                         f"{gap:.3f} s after #{old.conn_id}; ISN/timestamps did not move forward")

    @cython.cfunc
    def _replace(self, old: Connection, seg: Segment, key: tuple,
                 reuse: cython.bint) -> Connection:
        if reuse and not self.wireshark and not _is_finished(old):
            # The old connection is still alive (an endpoint that forgot it reconnects, or
            # the server still holds CLOSE-WAIT): it stays in the table, out of the index,
            # so that its own late segments still reach it (see _fit)
            if old.vlan_b is not None:  # its other direction's key now finds the new one
                a: Endpoint = old.a
                b: Endpoint = old.b
                key_b = _index_key(a.addr, a.port, b.addr, b.port, old.vlan_b)
                if self.index.get(key_b) is old:
                    del self.index[key_b]
            conn: Connection = self._create(seg, key, Tombstone(old))
            conn.prev = old
            return conn
        self._finish(old, False)
        return self._create(seg, key, Tombstone(old) if reuse or _is_finished(old) else None)

    @cython.cfunc
    def _finish(self, conn: Connection, remember: cython.bint) -> cython.void:
        del self.active[conn.id]
        a: Endpoint = conn.a
        b: Endpoint = conn.b
        vlan = () if self.vlan_free else conn.vlan
        key = _index_key(a.addr, a.port, b.addr, b.port, vlan)
        if self.index.get(key) is conn:
            del self.index[key]
        if vlan and self.tagged.get(key[:4]) is conn:
            del self.tagged[key[:4]]
        if conn.vlan_b is not None:
            key_b = _index_key(a.addr, a.port, b.addr, b.port, conn.vlan_b)
            if self.index.get(key_b) is conn:
                del self.index[key_b]
            if conn.vlan_b and self.tagged.get(key_b[:4]) is conn:
                del self.tagged[key_b[:4]]
        if remember:
            if len(self.recent) >= _RECENT_MAX:
                dropped = self.recent.pop(next(iter(self.recent)))
                if dropped.last_ts >= self._recent_horizon:
                    self.recent_folded += 1
            self.recent[_canonical((a.addr, a.port, b.addr, b.port, vlan))] = Tombstone(conn)
        self.on_finished(conn)

    @cython.cfunc
    def _evict(self, seg: Segment) -> cython.void:
        """The table is full: report the least recently active tenth now, each marked
        ``cut_short_by_cap`` at ``seg``'s frame.  Sorting a tenth of the table once per
        tenth of growth keeps the cost per connection logarithmic."""
        cap = self.config.max_active
        n = max(1, cap // 10)
        victims = sorted(self.active.values(), key=_by_last_ts)[:n]
        cut = self.cut
        vlan_free: cython.bint = self.vlan_free
        conn: Connection
        a: Endpoint
        b: Endpoint
        for c in victims:
            conn = c
            a = conn.a
            b = conn.b
            conn.anomaly("cut_short_by_cap", seg, a,
                         f"more than {cap} connections active at once")
            key = _index_key(a.addr, a.port, b.addr, b.port, () if vlan_free else conn.vlan)
            if self.index.get(key) is conn:
                a_first = a.addr == key[0] and a.port == key[1]
                first, second = (a, b) if a_first else (b, a)
                cut.add(key, first.isn, second.isn, conn.last_ts, seg.ts)
            self._finish(conn, False)
        self.evicted += len(victims)
        self.max_active = len(self.active)
        self.peak_active = max(self.peak_active, cap + 1)

    @cython.cfunc
    def _cut_is_over(self, key: tuple, slot: cython.Py_ssize_t, seg: Segment) -> cython.bint:
        """Whether ``seg``, on the 4-tuple of a connection cut short by the cap (its entry
        in ``slot`` of :attr:`cut`), starts something new (a SYN with a new ISN, or after
        the idle timeout); otherwise it is one more segment of that connection, counted and
        dropped."""
        ts: cython.double = seg.ts
        cut = self.cut
        if ts - cut.last_ts(slot) < self.config.idle_timeout_s:
            if seg.flags & (_SYN | _ACK | _RST) != _SYN:
                return self._cut_segment(slot, ts)
            if cut.is_its_syn(slot, seg.src == key[0] and seg.sport == key[1], seg.seq):
                return self._cut_segment(slot, ts)  # its SYN re-sent
        cut.remove(slot)
        return True

    @cython.cfunc
    def _cut_segment(self, slot: cython.Py_ssize_t, ts: cython.double) -> cython.bint:
        self.cut.touch(slot, ts)
        self.cut_segments += 1
        return False

    @cython.cfunc
    def _sweep(self, now: cython.double) -> cython.void:
        self.next_sweep = now + _SWEEP_INTERVAL
        cfg = self.config
        self._recent_horizon = now - max(cfg.idle_timeout_s, cfg.time_wait_s)
        # (idle entries of self.cut are dropped when met and when it makes room)
        expired = [c for c in self.active.values() if now - c.last_ts >= _timeout(c, cfg)]
        for conn in expired:
            self._finish(conn, True)
        if self.recent:
            horizon = self._recent_horizon
            stale = [k for k, t in self.recent.items() if t.last_ts < horizon]
            for k in stale:
                del self.recent[k]

    def flush(self) -> None:
        """Finish every active connection (end of capture)."""
        for conn in list(self.active.values()):
            self._finish(conn, False)


@cython.cfunc
def _late_for_prev(conn: Connection, prev: Connection, seg: Segment, from_a: cython.bint,
                   p_from_a: cython.bint) -> cython.void:
    """A segment of the previous incarnation, seen after the new SYN: a pure ACK that
    answers that SYN is the old socket's challenge ACK (RFC 5961 §4.2, RFC 9293
    §3.10.7.4: a SYN in a synchronized state is answered with an ACK)."""
    if seg.plen or seg.flags & (_SYN | _FIN | _RST | _ACK) != _ACK:
        return
    peer: Endpoint = conn.b if from_a else conn.a
    syn = peer.syn_rec
    if syn is not None and conn.last_frame == int(syn[-2]):
        prev.anomaly("challenge_ack", seg, prev.a if p_from_a else prev.b,
                     "ACK instead of SYN-ACK: the peer's SYN hit a synchronized "
                     "connection")


_FIT_SPAN = cython.declare(cython.longlong, 1 << 20)  # how far from an incarnation's
# sequence numbers a segment may be
_OUTSIDE = cython.declare(cython.longlong, 1 << 40)  # _fit's answer for "outside them"


@cython.cfunc
def _fit(conn: Connection, seg: Segment, from_a: cython.bint) -> cython.longlong:
    """How far ``seg`` is from ``conn``'s sequence spaces: the distance of its seq from its
    sender's highest sequence number plus, on an ACK, of its ack from the peer's; ``1 <<
    40`` when it is outside them (more than ``_FIT_SPAN`` away, or nothing known).  The
    flow table gives a segment to whichever live incarnation it fits better."""
    s: Endpoint = conn.a if from_a else conn.b
    r: Endpoint = conn.b if from_a else conn.a
    nxt = s.snd_nxt
    if nxt is None:
        return _OUTSIDE
    d: cython.longlong = abs(seq_diff(seg.seq, nxt))
    if seg.flags & _ACK and r.snd_nxt is not None:
        d += abs(seq_diff(seg.ack, r.snd_nxt))
    return d if d <= _FIT_SPAN else _OUTSIDE


class Tombstone:
    """What the table remembers of a finished connection to describe a later reuse of its
    4-tuple: id, last activity, who held TIME-WAIT, each end's last seq and TSval, and the
    seq of each end's FIN (to know its late retransmission)."""

    __slots__ = ("conn_id", "ends", "fins", "last_ts", "late_fin", "tw_holders")

    def __init__(self, conn: Connection) -> None:
        self.conn_id = conn.id
        self.last_ts = conn.last_ts
        self.tw_holders = tuple(conn.role(e.is_a) for e in (conn.a, conn.b)
                                if e.state is S.TIME_WAIT)
        self.ends = tuple((e.addr, e.port, e.snd_nxt, e.last_tsval) for e in (conn.a, conn.b))
        self.fins = (conn.a.fin_seq, conn.b.fin_seq)
        self.late_fin = False

    def is_late(self, seg: Segment, hold_s: float) -> bool:
        """Whether ``seg``, within ``hold_s`` (2MSL) of this connection's last segment, is
        one more of its own: its FIN re-sent (the sender still in LAST-ACK or CLOSING, its
        peer's final ACK lost beyond the capture point, RFC 9293 §3.10.7.4), or, after such
        a late FIN, the peer's ACK of it at exactly the numbers the connection ended on.
        (A RST is left to open a connection of its own, as Zeek logs it.)
        Such a late FIN restarts the 2MSL wait, as in the TIME-WAIT end (RFC 9293 §3.6)."""
        if seg.ts - self.last_ts >= hold_s or self.fins == (None, None):
            return False
        end0, end1 = self.ends
        if seg.sport == end0[1] and seg.src == end0[0]:
            i = 0
        elif seg.sport == end1[1] and seg.src == end1[0]:
            i = 1
        else:
            return False
        nxt = self.ends[i][2]
        peer_nxt = self.ends[1 - i][2]
        flags = seg.flags
        if flags & (_SYN | _RST):
            return False
        if flags & _FIN:
            fin = self.fins[i]
            if fin is None or seq_add(seg.seq, seg.plen) != fin:
                return False
            self.late_fin = True
            self.last_ts = max(self.last_ts, seg.ts)
            return True
        # the other end's ACK of that late FIN, from TIME-WAIT, at its final numbers
        return (self.late_fin and flags & _ACK != 0 and not seg.plen and nxt == seg.seq
                and seg.ack == peer_nxt)


def _vlan_text(vlan: tuple[int, ...]) -> str:
    return "VLAN " + "/".join(map(str, vlan)) if vlan else "no VLAN tag"


def _index_key(
    src: bytes, sport: int, dst: bytes, dport: int, vlan: tuple[int, ...]
) -> tuple[Any, ...]:
    """A connection's flow-index key: its 4-tuple with the lower port (on a tie, the lower
    address) first, the same for both directions."""
    if sport < dport or (sport == dport and src <= dst):
        return (src, sport, dst, dport, vlan)
    return (dst, dport, src, sport, vlan)


@cython.cfunc
def _canonical(key: tuple) -> tuple:
    a = (key[0], key[1])
    b = (key[2], key[3])
    return (key[4], a, b) if a <= b else (key[4], b, a)
