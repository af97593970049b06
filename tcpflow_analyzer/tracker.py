"""The connection tracker: replays one connection's segments through two TCP state machines.

Rule 1 — all state-changing logic lives in this module.  The flow table decides which
connection a segment belongs to; the report derives outcomes from what is recorded here;
nothing else mutates an :class:`Endpoint`.

Rule 2 — the tracker is observer-neutral.  It is not an endpoint and never knows which side
is "us": it runs one RFC 9293 machine per endpoint, driven by segments seen in *both*
directions, and a Zeek-compatible model next to it (:mod:`.history`).

Theory of operation.  Every segment has a sender ``S`` and a receiver ``R``.  The sender's
machine moves on what it sends (SYN, SYN-ACK, FIN, RST); the receiver's machine moves when
it receives something that changes its state.  A passive observer does not see arrivals, so
it uses evidence, in this order for each segment:

1. In-order delivery: a segment from S arrives after every earlier segment from S, so an
   earlier FIN or SYN of S still pending at R is delivered to R first.
2. Acknowledgement: a segment from S whose ACK covers R's SYN or FIN proves S received it
   (S moves first, e.g. FIN-WAIT-2 -> TIME-WAIT when it ACKs the peer's FIN).
3. Sending: SYN, SYN-ACK, FIN or RST move S.
4. Arrival: the segment's ACK is delivered to R (SYN-SENT -> ESTABLISHED on a SYN-ACK,
   LAST-ACK -> CLOSED when its FIN is acknowledged, ...).

This captures crossing FINs (simultaneous close: both ends pass CLOSING and both hold
TIME-WAIT), piggy-backed ACKs (three-segment close) and capture-point skew without ever
guessing about packets that were not seen.  Sequence numbers are compared only through
:mod:`.seqnum`.  Bad traffic is data: nothing here raises on a packet.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from sys import intern
from typing import TYPE_CHECKING, Any

from . import history as zk
from . import record as _rec
from . import segment as _segment
from .events import (
    AnomalySeen,
    HandshakeCompleted,
    ResetSeen,
    StateChanged,
    TimeWaitEntered,
)
from .states import TcpState

if TYPE_CHECKING:  # mypy reads the stand-in's signatures
    from tcpflow_analyzer import _cython as cython

    from .history import (
        record_once,
        retransmitted,
        zeek_bad_checksum,
        zeek_before,
        zeek_gap,
        zeek_process,
        zero_window,
    )
    from .record import ConnExtra, ConnRecord, Endpoint, EndpointMore
    from .segment import Segment
    from .seqanalysis import SeqAnalysis
    from .seqnum import in_window, seq_diff
else:
    try:
        import cython  # compiled: Cython's directives; interpreted: Cython's Shadow module
    except ModuleNotFoundError:  # no Cython at all: the package's stand-in (_cython.py)
        from tcpflow_analyzer import _cython as cython

if not cython.compiled:  # compiled, tracker.pxd cimports these (C calls, C types)
    from .history import (
        record_once,
        retransmitted,
        zeek_bad_checksum,
        zeek_before,
        zeek_gap,
        zeek_process,
        zero_window,
    )
    from .record import ConnExtra, ConnRecord, Endpoint, EndpointMore
    from .seqnum import in_window, seq_diff
else:  # a cimported type is no module attribute: importers find it here as before
    globals()["Endpoint"] = _rec.Endpoint

COMPILED: bool = cython.compiled
"""True when this module runs as a compiled extension (``tcpflow-analyzer --version``)."""

S = _rec.S  # TcpState's members, read fast (see record.S)
_STATES = _rec.STATES

# C constants (an undeclared module constant is a Python object; see compiled-core.md)
_LIST_CAP = cython.declare(cython.Py_ssize_t, 32)  # = record.LIST_CAP (checked below)
_MASK = cython.declare(cython.longlong, 0xFFFFFFFF)
_SEQ_SPACE = cython.declare(cython.longlong, 0x100000000)
_FIN = cython.declare(cython.int, 0x01)
_SYN = cython.declare(cython.int, 0x02)
_RST = cython.declare(cython.int, 0x04)
_ACK = cython.declare(cython.int, 0x10)
_CONTROL = cython.declare(cython.int, 0x07)  # SYN | FIN | RST
# the RFC states as the one-byte codes the endpoints hold (record.STATES's order)
_S_INACTIVE = cython.declare(cython.int, 0)
_S_PARTIAL = cython.declare(cython.int, 1)
_S_CLOSED = cython.declare(cython.int, 2)
_S_LISTEN = cython.declare(cython.int, 3)
_S_SYN_SENT = cython.declare(cython.int, 4)
_S_SYN_RECEIVED = cython.declare(cython.int, 5)
_S_ESTABLISHED = cython.declare(cython.int, 6)
_S_FIN_WAIT_1 = cython.declare(cython.int, 7)
_S_FIN_WAIT_2 = cython.declare(cython.int, 8)
_S_CLOSE_WAIT = cython.declare(cython.int, 9)
_S_CLOSING = cython.declare(cython.int, 10)
_S_LAST_ACK = cython.declare(cython.int, 11)
_S_TIME_WAIT = cython.declare(cython.int, 12)
# the Zeek model's states and history bits that the steady path reads (history.py's)
_Z_PARTIAL = cython.declare(cython.int, 3)
_Z_ESTABLISHED = cython.declare(cython.int, 4)
_Z_CLOSED = cython.declare(cython.int, 5)
_ZH_DATA = cython.declare(cython.longlong, 16)
_ZH_ACK = cython.declare(cython.longlong, 32)
if ((_FIN, _SYN, _RST, _ACK) != (_segment.FIN, _segment.SYN, _segment.RST, _segment.ACK)
        or _LIST_CAP != _rec.LIST_CAP
        or [_S_INACTIVE, _S_PARTIAL, _S_CLOSED, _S_LISTEN, _S_SYN_SENT, _S_SYN_RECEIVED,
            _S_ESTABLISHED, _S_FIN_WAIT_1, _S_FIN_WAIT_2, _S_CLOSE_WAIT, _S_CLOSING,
            _S_LAST_ACK, _S_TIME_WAIT] != [_STATES.index(getattr(S, n)) for n in (
                "INACTIVE", "PARTIAL", "CLOSED", "LISTEN", "SYN_SENT", "SYN_RECEIVED",
                "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING",
                "LAST_ACK", "TIME_WAIT")]
        or zk.ZEEK_STATE_NAMES[3:6] != ("PARTIAL", "ESTABLISHED", "CLOSED")):
    raise ImportError("tracker: constants disagree with segment.py, record.py or history.py")

# Switches of the steady-state fast path, for its differential test (see set_fast_path)
_fast_path = cython.declare(cython.bint, True)
_steady_count = cython.declare(cython.longlong, 0)


def set_fast_path(enabled: bool) -> bool:
    """Let steady segments take the fast path (the default) or send every segment through
    the general one; returns the previous setting.  For the test that proves both give the
    same reports (``tests/test_tracker_fast_path.py``)."""
    global _fast_path
    previous: bool = _fast_path
    _fast_path = enabled
    return previous


def steady_segments() -> int:
    """How many segments took the fast path in this process (for the same test)."""
    return _steady_count


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """Tunables of the tracker and the flow table, all in capture seconds.

    ``time_wait_s`` is 2MSL (60 s as on Linux, RFC 9293 says 4 min); ``idle_timeout_s``
    expires synchronized connections, ``handshake_timeout_s`` unanswered or half-open ones,
    ``reset_linger_s`` keeps a reset connection for stray packets (Zeek's tcp_reset_delay)
    and ``close_linger_s`` a closed one (Zeek's tcp_close_delay): after that it is reported
    and only a small tombstone stays for 2MSL, to judge a reuse of its 4-tuple.
    ``checksums``: ``auto`` drops bad-checksum segments unless a host's segments are all bad
    (checksum offload), ``strict`` always drops them, ``off`` never checks.  Under ``strict``
    the Zeek reading is that of ``zeek`` validating checksums: it also drops the segments
    whose checksum is only the offload pseudo-header sum, which our own fields keep.
    ``max_events`` bounds stored anomaly events per connection (counts stay exact) and
    ``max_active`` the connections held at once: past it the least recently active are
    reported early (a SYN flood cannot exhaust memory).
    ``semantics``: ``default`` labels what really happened; ``wireshark`` reproduces tshark's
    tcp.analysis labels (see :mod:`.seqanalysis`).
    ``vlan``: ``auto`` keys connections by VLAN ids too, but joins the two directions of a
    4-tuple when only one of them is tagged (or each differently); ``key`` always keeps
    different VLAN ids apart; ``ignore`` leaves them out of the key (as Zeek and tshark).
    """

    time_wait_s: float = 60.0
    close_linger_s: float = 5.0
    idle_timeout_s: float = 300.0
    handshake_timeout_s: float = 60.0
    reset_linger_s: float = 5.0
    checksums: str = "auto"
    max_events: int = 256
    max_active: int = 262_144
    semantics: str = "default"
    vlan: str = "auto"


def _record(a: array[float] | None, *values: float) -> array[float]:
    """Append one record to a packed array (created on first use), up to ``LIST_CAP``."""
    if a is None:
        return array("d", values)
    if len(a) < _LIST_CAP * len(values):
        a.extend(values)
    return a


@cython.cfunc
def _is_steady(ep: Endpoint) -> cython.bint:
    """Synchronized (RFC and Zeek states) with no SYN undelivered, no FIN and no RST: what
    :meth:`Connection._steady` needs of both endpoints."""
    zs: cython.int = ep.z_state
    return (
        zs in (_Z_ESTABLISHED, _Z_PARTIAL) and ep._fin_seq < 0
        and (ep._isn < 0 or ep.syn_delivered) and (ep._st == _S_ESTABLISHED or ep._st == _S_PARTIAL)
        and (ep._more is None or not ep._more.rst_frames)  # (record.py: EndpointMore)
    )


@cython.cfunc
def _acks_syn(ep: Endpoint, ack: cython.longlong) -> cython.bint:
    """Whether ``ack`` acknowledges ``ep``'s SYN: ISN+1, or past the SYN's own data when it
    carried some (TCP Fast Open, RFC 7413 §4.2).  False when ``ep`` sent no SYN."""
    isn: cython.longlong = ep._isn
    if isn < 0:
        return False
    if ack == ((isn + 1) & _MASK):
        return True
    return ep.syn_plen > 0 and ack == ((isn + 1 + ep.syn_plen) & _MASK)


@cython.cfunc
@cython.exceptval(check=False)
def _rcv_window(win: cython.longlong, shift: cython.int) -> cython.longlong:
    """``max(win << shift, 1)``, capped at the sequence space (beyond it, every offset is
    inside): exact for any shift, without a C shift past the type's width."""
    if win <= 0:
        return 1
    if shift >= 32:
        return _SEQ_SPACE
    w: cython.longlong = win << shift
    return w if w < _SEQ_SPACE else _SEQ_SPACE


def _make_seq_analysis(config: TrackerConfig) -> Any:
    """The per-connection sequence/ack anomaly detector, when that module is present."""
    global _SEQ_FACTORY
    if _SEQ_FACTORY is None:
        try:
            from .seqanalysis import SeqAnalysis
        except ImportError:
            _SEQ_FACTORY = False
        else:
            _SEQ_FACTORY = SeqAnalysis
    return _SEQ_FACTORY(config) if _SEQ_FACTORY else None


_SEQ_FACTORY: Any = None


@cython.cfunc
def _all_events(sink: Any) -> cython.bint:
    """Whether ``sink`` takes every event, not only some state changes (see :mod:`.events`)."""
    return getattr(sink, "only_states", None) is None


@cython.final
@cython.cclass
class Connection(ConnRecord):
    """One connection incarnation, and the orchestrator of its per-segment path.

    The data lives in the record it extends (:class:`.record.ConnRecord`: two endpoints,
    what happened, the Zeek reading).  :meth:`process` runs the peers on each segment in
    order: the RFC 9293 machines of this module, the Zeek model (:mod:`.history`) and the
    sequence analysis (:mod:`.seqanalysis`, ``self.seq``); each writes only its part of the
    record.  A segment without SYN/FIN/RST between two synchronized endpoints takes
    :meth:`_steady`, which gives the same result with C fields and C locals only.
    """

    if not cython.compiled:
        __slots__ = ()

    def __init__(
        self, conn_id: int, seg: Segment, config: TrackerConfig, sink: Any = None
    ) -> None:
        self._init(conn_id, seg, config, sink)  # the record's fields (a C call)
        flags: cython.int = seg.flags
        pure_syn: cython.bint = flags & (_SYN | _ACK) == _SYN
        self.roles_inferred = not pure_syn
        a: Endpoint = self.a
        b: Endpoint = self.b
        # Initial states: a pure SYN means the peer is presumably listening; a SYN-ACK first
        # means we missed the SYN; anything else is a mid-stream pick-up.
        if pure_syn:
            a._st0 = a._st = _S_CLOSED
            b._st0 = b._st = _S_LISTEN
        elif flags & _SYN:
            a._st0 = a._st = _S_LISTEN
            b._st0 = b._st = _S_SYN_SENT
        else:
            a._st0 = a._st = _S_PARTIAL
            # a lone RST says nothing about its receiver; anything else implies a peer
            b._st0 = b._st = _S_INACTIVE if flags & _RST else _S_PARTIAL
        if zk.want_flip_at_start(flags, seg.sport, seg.dport):
            self.zeek_flip()
        self.seq = _make_seq_analysis(config)

    def zeek_flip(self) -> None:
        """Swap originator and responder (Zeek's FlipRoles), recording ``^``."""
        self.orig_is_a = not self.orig_is_a
        if len(self.history) < 128:
            self.history = intern(self.history + "^")  # shared, as history._add makes it

    # -- recording --------------------------------------------------------------------------
    @cython.cfunc
    def _set_state(self, ep: Endpoint, new: cython.int, seg: Segment) -> cython.void:
        """The single choke point for RFC state changes: records and emits the transition.
        States are their one-byte codes (``record.STATES``): C compares, and the
        ``TcpState`` objects are looked up only for a sink that takes them."""
        old: cython.int = ep._st
        if old == new:
            return
        ep.moved = True
        ep._st = new
        is_a: cython.bint = ep.is_a
        frame: cython.longlong = seg.frame
        ts: cython.double = seg.ts
        self._tr_add(frame << 9 | is_a << 8 | old << 4 | new, ts)
        peer: Endpoint
        if new == _S_ESTABLISHED and self._hsa_frame < 0:
            peer = self.b if is_a else self.a
            if peer._st >= _S_ESTABLISHED:  # ESTABLISHED or any later state
                self._handshake_done(seg)
        sink = self.sink
        if new == _S_TIME_WAIT:
            x: ConnExtra = self._extra()
            if x._time_wait is None:
                x._time_wait = []
            x._time_wait.append((is_a, frame, ts))
            if sink is not None and _all_events(sink):
                sink.append(TimeWaitEntered(
                    conn_id=self.id, frame=frame, ts=ts, endpoint=self.role(is_a)))
        if sink is None:
            return
        only = getattr(sink, "only_states", None)
        old_st = _STATES[old]
        new_st = _STATES[new]
        if only is None:
            sink.append(StateChanged(
                conn_id=self.id, frame=frame, ts=ts, endpoint=self.role(is_a),
                from_state=old_st.value, to_state=new_st.value))
        elif old_st in only or new_st in only:
            hook = getattr(sink, "state_changed", None)
            if hook is not None:  # the live objects, no event record (see .events)
                hook(self, ep, old_st, new_st, seg)
            else:
                sink.append(StateChanged(
                    conn_id=self.id, frame=frame, ts=ts, endpoint=self.role(is_a),
                    from_state=old_st.value, to_state=new_st.value))

    @cython.cfunc
    def _retag_initial(self, ep: Endpoint, state: cython.int) -> cython.void:
        """Correct an endpoint's assumed initial state before it has moved (e.g. the peer
        that refused a SYN was CLOSED, not LISTEN)."""
        if not ep.moved:
            ep._st0 = ep._st = state

    @cython.ccall
    def anomaly(self, code: str, seg: Any, ep: Endpoint, detail: str = "") -> cython.void:
        """Record one anomaly occurrence (count always; event while under the cap)."""
        counts = self._anomalies
        if counts is None:
            counts = self._anomalies = {}
            self._events = []
        counts[code] = counts.get(code, 0) + 1
        events = self._events
        assert events is not None
        if len(events) < self.config.max_events:
            events.append((code, seg.frame, seg.ts, ep.is_a, detail))
        if self.sink is not None and _all_events(self.sink):
            self.sink.append(AnomalySeen(conn_id=self.id, name=code, frame=seg.frame, ts=seg.ts,
                                         endpoint=self.role(ep.is_a), detail=detail))

    def bad_checksum(self, seg: Segment, from_a: cython.bint) -> None:
        """A segment dropped for its checksum: counted and lettered, state untouched."""
        zeek_before(self, seg, from_a)
        s: Endpoint = self.a if from_a else self.b
        self.last_ts = seg.ts
        self.last_frame = seg.frame
        s.pkts += 1
        self.anomaly("bad_checksum", seg, s, f"checksum 0x{seg.tcp_csum:04x}")
        zeek_bad_checksum(self, s, from_a == self.orig_is_a)

    def payload_uncaptured(self, seg: Segment, from_a: cython.bint) -> None:
        """The capture cut ``seg``'s payload (snap length); call before :meth:`process`.

        Our own fields count those bytes as sent, which they were.  Zeek's reassembler never
        receives them, so in the Zeek reading the peer's ACK of them is a content gap (G/g).
        """
        s: Endpoint = self.a if from_a else self.b
        r: Endpoint = self.b if from_a else self.a
        start: cython.longlong = (seg.seq + 1) & _MASK if seg.flags & _SYN else seg.seq
        end: cython.longlong = (start + seg.plen) & _MASK
        acked: cython.longlong = r._last_ack
        if acked >= 0 and seq_diff(acked, start) > 0:
            start = acked  # a retransmission of bytes already ACKed leaves no new hole
        sm: EndpointMore = s._more  # (record.py: the rarely set fields)
        h: cython.longlong = sm._z_hole if sm is not None else -1
        if seq_diff(end, start) > 0 and (h < 0 or seq_diff(start, h) < 0):
            sm = s._extra()
            sm._z_hole = start

    def zeek_checksum_drop(self, seg: Segment, from_a: cython.bint) -> None:
        """A segment whose checksum field holds only the pseudo-header sum (checksum offload
        on the capturing host), under ``--checksums strict``.  It really was sent, so our own
        fields process it; Zeek, validating checksums, drops it: in the Zeek reading it
        leaves only its ``C``/``c`` letter (and may still start a new Zeek connection)."""
        zeek_before(self, seg, from_a)  # Zeek looks the connection up before it checks
        snap = zk.zeek_snapshot(self)
        self.process(seg, from_a)
        zk.zeek_restore(self, snap)
        s: Endpoint = self.a if from_a else self.b
        zeek_bad_checksum(self, s, from_a == self.orig_is_a)
        self._steady_ok = _is_steady(self.a) and _is_steady(self.b) and not self.z_swap

    # -- the orchestrator -------------------------------------------------------------------
    @cython.ccall
    def process(self, seg: Segment, from_a: cython.bint) -> cython.void:
        """Feed one segment sent by endpoint a (``from_a``) or b.  Never raises on data."""
        global _steady_count
        s: Endpoint
        r: Endpoint
        if from_a:
            s = self.a
            r = self.b
        else:
            s = self.b
            r = self.a
        if self._steady_ok and not seg.flags & _CONTROL and _fast_path and not seg.link_pad:
            _steady_count += 1
            self._steady(seg, s, r, from_a)
            return
        self._general(seg, s, r, from_a)
        self._steady_ok = _is_steady(s) and _is_steady(r) and not self.z_swap

    @cython.cfunc
    def _general(self, seg: Segment, s: Endpoint, r: Endpoint, from_a: cython.bint) -> cython.void:
        """Any segment: the four steps of the module docstring."""
        flags: cython.int = seg.flags
        plen: cython.longlong = seg.plen
        seq: cython.longlong = seg.seq
        ack: cython.longlong = seg.ack
        zeek_before(self, seg, from_a)
        self._count(s, seg)
        ws: cython.int = -1
        opts = seg.syn_opts
        if opts is not None and opts.wscale is not None:
            ws = opts.wscale
        # Zeek reads a PPPoE frame's link_pad as payload (decode._pppoe)
        zeek_process(self, s, r, from_a == self.orig_is_a, flags, seq, ack, plen + seg.link_pad,
                     seg.win, ws)
        s.win = seg.win

        # 1. in-order delivery of S's earlier SYN / FIN (a retransmission of that same SYN
        #    or FIN proves nothing: the sender is still waiting for it to arrive, nor does
        #    a RST from SYN-SENT, which answers a stray ACK and keeps waiting)
        if (s._fin_seq >= 0 and not s.fin_delivered and s.sent_fin()
                and s.first_fin_frame() < seg.frame
                and not flags & _FIN):
            self._recv_fin(r, s, seg)
        if (s._isn >= 0 and not s.syn_delivered and s.first_syn_frame() < seg.frame
                and flags & (_SYN | _ACK) != _SYN
                and not (flags & _RST and s._st == _S_SYN_SENT)):
            s.syn_delivered = True
            self._recv_syn(r, seg, s)

        has_ack: cython.bint = flags & _ACK != 0
        # 2. S proves it received R's SYN / FIN by acknowledging it
        if has_ack:
            if (r._isn >= 0 and not r.syn_delivered and not flags & _RST
                    and seq_diff(ack, r._isn) > 0
                    # in SYN-SENT only an ACK of the SYN itself is acceptable (§3.10.7.3)
                    and (r._st != _S_SYN_SENT or _acks_syn(r, ack))):
                r.syn_delivered = True
                self._recv_syn(s, seg, r)
            if r._fin_seq >= 0 and not r.fin_delivered and seq_diff(ack, r._fin_seq) > 0:
                self._recv_fin(s, r, seg)
            if (s._st == _S_SYN_SENT or s._st == _S_SYN_RECEIVED) and not flags & (_SYN | _RST):
                self._unseen_handshake(s, r, seg)

        # 3. what S sends
        if flags & _RST:
            self._send_rst(s, r, seg)
            self._analyse(seg, from_a)
            return
        if flags & _SYN:
            if has_ack:
                self._send_synack(s, r, seg)
            else:
                self._send_syn(s, r, seg)
        if plen:
            self._data(s, r, seg)
        if flags & _FIN:
            self._send_fin(s, r, seg)
        self._advance(s, seq, plen, flags)

        # 4. arrival of S's acknowledgement at R
        if has_ack:
            self._ack_arrives(s, r, seg)
            s._last_ack = ack
        self._analyse(seg, from_a)

    @cython.cfunc
    def _count(self, s: Endpoint, seg: Segment) -> cython.void:
        """Per-segment counters and times, on every path."""
        plen: cython.longlong = seg.plen
        self.last_ts = seg.ts
        self.last_frame = seg.frame
        s.pkts += 1
        if plen:
            s.data_pkts += 1
            s.bytes += plen
        if seg._tsval >= 0:  # the timestamps option (segment.py: -1 without)
            s._last_tsval = seg._tsval
        # Zeek stops its duration once both sides closed (conn/main.zeek)
        if not (self.a.z_did_close and self.b.z_did_close):
            self.zeek_last_ts = seg.ts

    @cython.cfunc
    def _steady(self, seg: Segment, s: Endpoint, r: Endpoint, from_a: cython.bint) -> cython.void:
        """The common case, equivalent to the general path below for a segment without
        SYN/FIN/RST between two synchronized endpoints with nothing pending: counters, Zeek
        letters (D/A once, W, T), SND.NXT, captured-stream bookkeeping, the ACK's arrival."""
        plen: cython.longlong = seg.plen
        seq: cython.longlong = seg.seq
        self._count(s, seg)
        is_orig: cython.bint = from_a == self.orig_is_a
        flags: cython.int = seg.flags
        # Zeek: history letters, zero window, retransmission (update_last_seq)
        if plen:
            if not self.hist_seen & (_ZH_DATA if is_orig else _ZH_DATA << 16):
                record_once(self, _ZH_DATA, "D", is_orig)
        elif flags & _ACK and not self.hist_seen & (_ZH_ACK if is_orig else _ZH_ACK << 16):
            record_once(self, _ZH_ACK, "A", is_orig)
        win: cython.longlong = seg.win
        if win == 0:
            zero_window(self, s, is_orig)
        end: cython.longlong = (seq + plen) & _MASK
        if seq_diff(end, s.z_last) > 0:
            s.z_last = end
        elif plen:
            retransmitted(self, s, is_orig)
        s.win = win
        # SND.NXT and the captured stream
        nxt: cython.longlong = s._snd_nxt
        if nxt < 0 or seq_diff(end, nxt) > 0:
            s._snd_nxt = end
        c: cython.longlong
        if plen:
            c = s._contig
            if c >= 0 and seq == c and (s._more is None or not s._more.ooo):
                s._contig = end
            else:
                self._stream_add(s, seq, end)
        if flags & _ACK:
            ack: cython.longlong = seg.ack
            c = r._contig
            if c >= 0 and seq_diff(ack, c) > 0:
                self._ack_arrives(s, r, seg)
            elif r._more is not None and r._more._z_hole >= 0:
                self._zeek_gap(s, r, seg, False)
            s._last_ack = ack
        self._analyse(seg, from_a)

    @cython.cfunc
    def _analyse(self, seg: Segment, from_a: cython.bint) -> cython.void:
        """The last peer: the sequence analysis (a C call when compiled), if it is on."""
        sa = self.seq
        if sa is None:
            return
        if cython.compiled:
            cython.cast(SeqAnalysis, sa, typecheck=True).process(self, seg, from_a)
        else:
            sa.process(self, seg, from_a)

    @cython.cfunc
    def _advance(self, s: Endpoint, seq: cython.longlong, plen: cython.longlong,
                 flags: cython.int) -> cython.void:
        """Track S's highest sequence number sent (SND.NXT as the capture saw it)."""
        end: cython.longlong = (seq + plen + (1 if flags & _SYN else 0)
                                + (1 if flags & _FIN else 0)) & _MASK
        if s._snd_nxt < 0 or seq_diff(end, s._snd_nxt) > 0:
            s._snd_nxt = end
        if plen or flags & (_SYN | _FIN):
            self._stream_add(s, seq if not flags & _SYN else (seq + 1) & _MASK, end)

    @cython.cfunc
    def _stream_add(self, s: Endpoint, start: cython.longlong,
                    end: cython.longlong) -> cython.void:
        """Record S's bytes [start, end) as seen (for gaps and missed bytes)."""
        if s._contig < 0:
            s._contig = start
        c: cython.longlong = s._contig
        if seq_diff(start, c) <= 0:
            if seq_diff(end, c) > 0:
                s._contig = end
                if s.ooo:
                    self._stream_merge(s)
        elif len(s.ooo) < 32:
            s.ooo = [*s.ooo, (start, end)]

    @cython.cfunc
    def _stream_merge(self, s: Endpoint) -> cython.void:
        changed: cython.bint = True
        c: cython.longlong
        while changed and s.ooo:
            changed = False
            c = s._contig
            keep = []
            for blk in s.ooo:
                if seq_diff(blk[0], c) <= 0:
                    if seq_diff(blk[1], c) > 0:
                        c = blk[1]
                        changed = True
                else:
                    keep.append(blk)
            s._contig = c
            s.ooo = keep or ()

    @cython.cfunc
    def _send_syn(self, s: Endpoint, r: Endpoint, seg: Segment) -> cython.void:
        # RFC 9293 §3.5: an active OPEN sends SYN and enters SYN-SENT.
        seq: cython.longlong = seg.seq
        retry: cython.bint = s.sent_syn() and seq == s._isn
        if s._isn < 0:
            s._isn = seq
            s._contig = (seq + 1) & _MASK
        s.syn_rec = syn = _record(s.syn_rec, seg.frame, seg.ts)
        if seg.syn_opts is not None and s.opts is None:
            s.opts = seg.syn_opts
        if seg.plen and seq == s._isn:
            s.syn_plen = seg.plen  # data on the SYN (TCP Fast Open, RFC 7413)
        if s._st in (_S_CLOSED, _S_LISTEN, _S_INACTIVE, _S_PARTIAL):
            self._retag_initial(s, _S_CLOSED)
            if r._st == _S_SYN_SENT and r._isn >= 0:
                # Both sides sent a SYN before receiving the other's: simultaneous open
                # (RFC 9293 §3.5, figure 8).
                self.sim_open = True
                self.anomaly("simultaneous_open", seg, s)
            self._set_state(s, _S_SYN_SENT, seg)
            if retry and not self._network_copy(seg, s):
                # the same attempt again after a RST (the flow table keeps it together)
                self.anomaly("syn_retransmission", seg, s, f"SYN #{len(syn) // 2}")
        elif len(syn) > 2 and not self._network_copy(seg, s):
            self.anomaly("syn_retransmission", seg, s, f"SYN #{len(syn) // 2}")

    @cython.cfunc
    def _send_synack(self, s: Endpoint, r: Endpoint, seg: Segment) -> cython.void:
        # RFC 9293 §3.5: a SYN-ACK answers the peer's SYN; its sender is in SYN-RECEIVED.
        seq: cython.longlong = seg.seq
        if s._isn < 0:
            s._isn = seq
            s._contig = (seq + 1) & _MASK
        first: cython.bint = not s.sent_synack()
        s.synack_rec = synack = _record(s.synack_rec, seg.frame, seg.ts, seg.ack)
        if seg.syn_opts is not None and (s.opts is None or first):
            s.opts = seg.syn_opts
        if r._isn >= 0 and not _acks_syn(r, seg.ack):
            expected = "1" if not r.syn_plen else f"1 or {1 + r.syn_plen} (SYN data)"
            self.anomaly("bad_synack_ack", seg, s,
                         f"acks {seq_diff(seg.ack, r._isn)} past the ISN, expected {expected}")
        if s._st in (_S_LISTEN, _S_INACTIVE, _S_CLOSED, _S_PARTIAL):
            self._retag_initial(s, _S_LISTEN)
            self._set_state(s, _S_SYN_RECEIVED, seg)
        elif s._st == _S_SYN_SENT:
            self._set_state(s, _S_SYN_RECEIVED, seg)  # simultaneous open
        elif not first and not self._network_copy(seg, s):
            self.anomaly("synack_retransmission", seg, s, f"SYN-ACK #{len(synack) // 3}")

    @cython.cfunc
    def _network_copy(self, seg: Segment, s: Endpoint) -> cython.bint:
        """A bit-identical copy made by the network is not a retransmission by the sender."""
        return self.seq is not None and bool(self.seq.is_network_copy(seg, s.is_a))

    @cython.cfunc
    def _recv_syn(self, x: Endpoint, seg: Segment, sender: Endpoint) -> cython.void:
        """X received the peer's SYN (evidence: X acknowledged it, or in-order delivery)."""
        st: cython.int = x._st
        if st == _S_LISTEN or st == _S_INACTIVE:
            # LISTEN + SYN -> SYN-RECEIVED (RFC 9293 §3.10.7.2)
            self._set_state(x, _S_SYN_RECEIVED, seg)
        elif st == _S_SYN_SENT:
            if sender.sent_synack() and not sender.sent_syn():
                # SYN-SENT + SYN-ACK -> ESTABLISHED (§3.10.7.3), our own SYN unseen
                self._set_state(x, _S_ESTABLISHED, seg)
            else:
                # SYN-SENT + SYN -> SYN-RECEIVED: simultaneous open (§3.5, figure 8)
                self._set_state(x, _S_SYN_RECEIVED, seg)

    @cython.cfunc
    def _unseen_handshake(self, s: Endpoint, r: Endpoint, seg: Segment) -> cython.void:
        """S, still opening, sends an ACK (no SYN, no RST) that only a synchronized
        endpoint sends: the handshake segments that prove it were not captured (a capture
        of one direction only, as on an asymmetric tap).  Advance both machines on that
        evidence instead of leaving them opening, one anomaly per segment."""
        if s._st == _S_SYN_SENT:
            if r.sent_synack() or r.sent_syn() or s._isn < 0:
                return
            # RFC 9293 §3.10.7.3: SYN-SENT leaves only on the peer's SYN-ACK, so S got
            # one (unseen), which R sent from SYN-RECEIVED; this ACK then reaches R (step 4)
            if r._st in (_S_LISTEN, _S_INACTIVE, _S_CLOSED):
                self._set_state(r, _S_SYN_RECEIVED, seg)
            s.syn_delivered = True
            self._set_state(s, _S_ESTABLISHED, seg)
            return
        # SYN-RECEIVED: an ACK beyond the peer's SYN acknowledges its data, and data sent
        # (unless with TCP Fast Open, RFC 7413 §4.2) waits for ESTABLISHED (RFC 9293
        # §3.10.1): either way the peer's handshake ACK reached S
        isn: cython.longlong = r._isn
        syn_end: cython.longlong
        if isn >= 0:
            syn_end = (isn + 1 + r.syn_plen) & _MASK
        elif s.sent_synack():  # the peer's SYN unseen: what S's SYN-ACK acked
            syn_end = int(s.synack_at(s.n_synack() - 1, 2))
        else:
            return
        acks_data: cython.bint = seq_diff(seg.ack, syn_end) > 0
        tfo: cython.bint = r.syn_plen > 0 or (r.opts is not None
                                             and r.opts.tfo_cookie is not None)
        if acks_data or (seg.plen and not tfo):
            self._set_state(s, _S_ESTABLISHED, seg)

    @cython.cfunc
    def _data(self, s: Endpoint, r: Endpoint, seg: Segment) -> cython.void:
        if s._fin_seq >= 0 and seq_diff(seg.seq, s._fin_seq) >= 0:
            self.anomaly("data_after_fin", seg, s, f"{seg.plen} bytes after own FIN")
        if (s._more is not None and s._more.rst_frames) or (
                r._more is not None and r._more.rst_frames):
            self.anomaly("data_after_rst", seg, s, f"{seg.plen} bytes")
        if r.fin_delivered and not s.data_after_peer_fin and s._fin_seq < 0:
            s.data_after_peer_fin = True
        if seg.flags & _SYN:
            return
        if (s._st == _S_SYN_SENT or s._st == _S_SYN_RECEIVED) and s._isn >= 0:
            self.anomaly("data_before_established", seg, s, f"{seg.plen} bytes in {_STATES[s._st]}")

    @cython.cfunc
    def _send_fin(self, s: Endpoint, r: Endpoint, seg: Segment) -> cython.void:
        fin_seq: cython.longlong = (seg.seq + seg.plen) & _MASK
        if s._fin_seq < 0:
            s._fin_seq = fin_seq
            s.fin_rec = _record(s.fin_rec, seg.frame, seg.ts)
            if r._fin_seq >= 0 and not r.fin_delivered:
                self.fin_crossed = True  # both FINs in flight: simultaneous close
        else:
            s.fin_rec = fins = _record(s.fin_rec, seg.frame, seg.ts)
            if fin_seq == s._fin_seq and not self._network_copy(seg, s):
                self.anomaly("fin_retransmission", seg, s, f"FIN #{len(fins) // 2}")
            return
        st = s._st
        # RFC 9293 §3.6: CLOSE from ESTABLISHED (or SYN-RECEIVED) -> FIN-WAIT-1; from
        # CLOSE-WAIT -> LAST-ACK.  A mid-stream endpoint is treated as ESTABLISHED.
        if st in (_S_ESTABLISHED, _S_PARTIAL, _S_SYN_RECEIVED, _S_SYN_SENT):
            if st == _S_SYN_SENT:
                self.anomaly("fin_without_established", seg, s)
            self._set_state(s, _S_FIN_WAIT_1, seg)
        elif st == _S_CLOSE_WAIT:
            self._set_state(s, _S_LAST_ACK, seg)

    @cython.cfunc
    def _recv_fin(self, x: Endpoint, peer: Endpoint, seg: Segment) -> cython.void:
        """X received the peer's FIN (RFC 9293 §3.10.7.4, eighth step)."""
        peer.fin_delivered = True
        peer.fin_delivered_frame = seg.frame
        st = x._st
        if st in (_S_ESTABLISHED, _S_PARTIAL, _S_SYN_RECEIVED):
            self._set_state(x, _S_CLOSE_WAIT, seg)
        elif st == _S_FIN_WAIT_1:
            self._set_state(x, _S_CLOSING, seg)
        elif st == _S_FIN_WAIT_2:
            self._set_state(x, _S_TIME_WAIT, seg)

    @cython.cfunc
    def _ack_arrives(self, s: Endpoint, r: Endpoint, seg: Segment) -> cython.void:
        ack: cython.longlong = seg.ack
        rm: EndpointMore
        st: cython.int = r._st
        if st == _S_SYN_SENT and seg.flags & _SYN:
            if r._isn < 0 or _acks_syn(r, ack):
                # SYN-SENT receiving a SYN-ACK for its SYN -> ESTABLISHED (RFC 9293 §3.10.7.3)
                s.syn_delivered = True
                self._set_state(r, _S_ESTABLISHED, seg)
        elif st == _S_SYN_RECEIVED and (r._isn < 0 or seq_diff(ack, r._isn) > 0):
            # SYN-RECEIVED receiving an acceptable ACK -> ESTABLISHED (§3.10.7.4, fifth step)
            self._set_state(r, _S_ESTABLISHED, seg)
        st = r._st
        if r._fin_seq >= 0 and seq_diff(ack, r._fin_seq) > 0:
            # The peer acknowledged R's FIN (§3.10.7.4 fifth step, closing states)
            if not r.fin_ack_frame:
                r.fin_ack_frame = seg.frame
            if st == _S_FIN_WAIT_1:
                self._set_state(r, _S_FIN_WAIT_2, seg)
            elif st == _S_CLOSING:
                self._set_state(r, _S_TIME_WAIT, seg)
            elif st == _S_LAST_ACK:
                self._set_state(r, _S_CLOSED, seg)
        # Gaps: the peer acknowledges bytes of R's stream the capture never saw
        c: cython.longlong = r._contig
        gap: cython.bint = False
        missing: cython.longlong
        nxt: cython.longlong
        if c >= 0 and seq_diff(ack, c) > 0:
            missing = seq_diff(ack, c)
            if r.ooo:
                for lo, hi in r.ooo:
                    if seq_diff(lo, ack) < 0:
                        missing -= max(0, min(seq_diff(hi, c), seq_diff(ack, c))
                                       - max(0, seq_diff(lo, c)))
                r._contig = ack
                self._stream_merge(r)
            else:
                r._contig = ack
            nxt = r._snd_nxt
            if missing > 0 and nxt >= 0 and seq_diff(ack, nxt) <= 0:
                rm = r._extra()
                rm.missed_bytes += missing
                if self.config.semantics != "wireshark":  # there, tshark's own rule applies
                    self.anomaly("ack_lost_segment", seg, s,
                                 f"ACKs {missing} bytes never captured")
                gap = True
            elif nxt >= 0 and seq_diff(ack, nxt) > 0 and r._isn >= 0:
                self.anomaly("ack_above_snd_nxt", seg, s,
                             f"ACK {seq_diff(ack, nxt)} bytes beyond anything sent")
                # the capture missed R's latest segments: to Zeek's reassembler, which does
                # not know what R sent, that is a gap like any other
                gap = True
        if gap or (r._more is not None and r._more._z_hole >= 0):
            self._zeek_gap(s, r, seg, gap)

    @cython.cfunc
    def _zeek_gap(self, s: Endpoint, r: Endpoint, seg: Segment, gap: cython.bint) -> cython.void:
        """Zeek's content-gap letter (G/g, TCP_Reassembler): S's ACK passed bytes of R's
        stream the reassembler never got, because the capture missed them (``gap``) or cut
        their payload (``r.z_hole``).  Zeek flags only gaps between synchronized (or cleanly
        closing) endpoints, and not those revealed by a FIN or RST."""
        ack: cython.longlong = seg.ack
        rm: EndpointMore = r._more
        h: cython.longlong = rm._z_hole if rm is not None else -1
        nxt: cython.longlong
        if h >= 0 and seq_diff(ack, h) > 0:
            rm._z_hole = -1
            nxt = r._snd_nxt
            gap = gap or (nxt >= 0 and seq_diff(ack, nxt) <= 0)
        szs: cython.int = s.z_state
        rzs: cython.int = r.z_state
        if (
            gap and not seg.flags & (_FIN | _RST)
            and szs in (_Z_ESTABLISHED, _Z_CLOSED)
            and rzs in (_Z_ESTABLISHED, _Z_CLOSED)
        ):
            zeek_gap(self, r, r.is_a == self.orig_is_a)

    @cython.cfunc
    def _handshake_done(self, seg: Segment) -> cython.void:
        """Both endpoints reached ESTABLISHED: the handshake completed at this frame."""
        self._hsa_frame = seg.frame  # the handshake_ack view's fields
        self._hsa_ts = seg.ts
        if self.sink is not None and _all_events(self.sink):
            rtt = None
            o: Endpoint = self.a if self.orig_is_a else self.b
            if o.sent_syn():
                rtt = seg.ts - o.syn_at(o.n_syn() - 1, 1)
            self.sink.append(HandshakeCompleted(conn_id=self.id, frame=seg.frame, ts=seg.ts,
                                                rtt_s=rtt))

    @cython.cfunc
    def _send_rst(self, s: Endpoint, r: Endpoint, seg: Segment) -> cython.void:
        """S aborts (RFC 9293 §3.5.2); judge the RST as R would (§3.5.3, RFC 5961 §3)."""
        first_of_sender: cython.bint = not s.rst_frames
        s_state: cython.int = s._st
        r_state: cython.int = r._st
        seq: cython.longlong = seg.seq
        flags: cython.int = seg.flags
        rcv_nxt: cython.longlong
        shift: cython.int
        # Acceptability: in SYN-SENT a RST is valid iff it acknowledges the SYN; otherwise
        # exact when seq == RCV.NXT, in window when inside RCV.WND (RFC 5961 challenge ACK).
        if r_state == _S_SYN_SENT and r._isn >= 0:
            ok: cython.bint = (flags & _ACK) != 0 and seg.ack == ((r._isn + 1) & _MASK)
            validity = "exact" if ok else "out_of_window"
        else:
            rcv_nxt = r._last_ack if r._last_ack >= 0 else s._snd_nxt
            if rcv_nxt < 0:
                validity = "unknown"
            elif seq == rcv_nxt:
                validity = "exact"
            else:
                shift = self._window_shift(r)
                win: cython.longlong = _rcv_window(r.win, 14 if shift < 0 else shift)
                validity = "in_window" if in_window(seq, rcv_nxt, win) else "out_of_window"
        # The situation, which the report keeps distinct from a plain abort
        never_seen: cython.bint = s.pkts == 1 and r.pkts == 0 and s._isn < 0
        if never_seen:
            situation = "no_connection"
        elif r_state == _S_TIME_WAIT or s_state == _S_TIME_WAIT:
            situation = "in_time_wait"
        elif (s_state == _S_SYN_SENT and not flags & _ACK and r._last_ack >= 0
              and seq == r._last_ack and not _acks_syn(s, r._last_ack)):
            # RFC 9293 §3.10.7.3: in SYN-SENT, an ACK that does not acknowledge the SYN
            # (a challenge ACK from an old socket on the 4-tuple, a bad SYN-ACK) is answered
            # with <SEQ=SEG.ACK><CTL=RST> and dropped: the attempt goes on, in SYN-SENT
            situation = "stray_ack"
        elif r_state == _S_SYN_SENT and not s.sent_synack():
            situation = "refused"
        elif s._fin_seq >= 0 or r._fin_seq >= 0:
            situation = "after_fin"
        else:
            situation = "abort"
        x: ConnExtra = self._extra()
        if x._resets is None:
            x._resets = []
        if len(x._resets) < _LIST_CAP:
            x._resets.append({
                "frame": seg.frame, "ts": seg.ts, "by_a": s.is_a, "sender_state": _STATES[s_state].value,
                "receiver_state": _STATES[r_state].value, "validity": validity, "situation": situation,
            })
        if self.sink is not None and first_of_sender and _all_events(self.sink):
            self.sink.append(ResetSeen(conn_id=self.id, frame=seg.frame, ts=seg.ts,
                                       by=self.role(s.is_a), validity=validity,
                                       situation=situation))
        if situation == "no_connection":
            self.anomaly("rst_no_connection", seg, s)
        elif situation == "in_time_wait":
            self.anomaly("rst_in_time_wait", seg, s)
        elif situation == "after_fin":
            self.anomaly("rst_after_fin", seg, s)
        if validity == "out_of_window":
            self.anomaly("rst_out_of_window", seg, s, f"seq {seq} outside the receiver's window")
        # State: the sender is gone; the receiver drops an unacceptable RST.
        if situation == "stray_ack":
            return  # addressed to whatever sent the stray ACK, not to this attempt
        if len(s.rst_frames) < _LIST_CAP:
            s.rst_frames = [*s.rst_frames, seg.frame]
        if situation == "refused":
            self._retag_initial(s, _S_CLOSED)
        self._set_state(s, _S_CLOSED, seg)
        if situation != "no_connection" and validity != "out_of_window" and r._st not in (
            _S_CLOSED, _S_LISTEN, _S_INACTIVE
        ):
            self._set_state(r, _S_CLOSED, seg)

    @cython.cfunc
    def _window_shift(self, ep: Endpoint) -> cython.int:
        """Window-scale shift for ``ep``'s advertised windows: 0 if not negotiated, -1 if
        the handshake was not captured (RFC 7323 §2.2: both SYNs must carry the option)."""
        o: Endpoint = self.a
        p: Endpoint = self.b
        if (not o.sent_syn() and not o.sent_synack()) or (
                not p.sent_syn() and not p.sent_synack()):
            return -1
        if o.wscale is None or p.wscale is None:
            return 0
        shift: int | None = ep.wscale  # ep is o or p: not None
        return 0 if shift is None else shift
