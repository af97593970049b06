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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import history as zk
from .events import (
    AnomalySeen,
    HandshakeCompleted,
    ResetSeen,
    StateChanged,
    TimeWaitEntered,
)
from .segment import ACK, FIN, RST, SYN, Segment, SynOptions, format_endpoint
from .seqnum import MASK, in_window, seq_diff
from .states import TcpState

S = TcpState
_LIST_CAP = 32  # bound on per-connection frame lists (counts stay exact)
_CONTROL = SYN | FIN | RST
_STATES = tuple(TcpState)
_STATE_INDEX = {st: i for i, st in enumerate(_STATES)}
_STEADY = frozenset({S.ESTABLISHED, S.PARTIAL})
_Z_STEADY = frozenset({zk.Z_ESTABLISHED, zk.Z_PARTIAL})
_ZH_DATA = zk.H_DATA
_ZH_ACK = zk.H_ACK
_AFTER_ESTABLISHED = frozenset({
    S.FIN_WAIT_1, S.FIN_WAIT_2, S.CLOSE_WAIT, S.CLOSING, S.LAST_ACK, S.TIME_WAIT,
})


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


def _pairs(a: array[float] | None) -> list[tuple[int, float]]:
    if a is None:
        return []
    return [(int(a[i]), a[i + 1]) for i in range(0, len(a), 2)]


def _record(a: array[float] | None, *values: float) -> array[float]:
    """Append one record to a packed array (created on first use), up to ``_LIST_CAP``."""
    if a is None:
        return array("d", values)
    if len(a) < _LIST_CAP * len(values):
        a.extend(values)
    return a


def _is_steady(ep: Endpoint) -> bool:
    """Synchronized (RFC and Zeek states) with no SYN undelivered, no FIN and no RST: what
    :meth:`Connection._steady` needs of both endpoints."""
    return (
        ep.state in _STEADY and ep.z_state in _Z_STEADY and ep.fin_seq is None
        and not ep.rst_frames and (ep.isn is None or ep.syn_delivered)
    )


def _acks_syn(ep: Endpoint, ack: int) -> bool:
    """Whether ``ack`` acknowledges ``ep``'s SYN: ISN+1, or past the SYN's own data when it
    carried some (TCP Fast Open, RFC 7413 §4.2)."""
    isn = ep.isn
    assert isn is not None
    if ack == ((isn + 1) & MASK):
        return True
    return ep.syn_plen > 0 and ack == ((isn + 1 + ep.syn_plen) & MASK)


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


class Endpoint:
    """One side of a connection: its RFC state, sequence bookkeeping and Zeek state."""

    __slots__ = (
        "addr", "bytes", "contig", "data_pkts", "data_after_peer_fin", "fin_ack_frame",
        "fin_delivered",
        "fin_delivered_frame",
        "fin_rec", "fin_seq", "initial", "is_a", "isn", "last_ack", "last_tsval",
        "missed_bytes", "moved", "ooo", "opts", "pkts", "port", "rst_frames", "snd_nxt",
        "state", "syn_delivered", "syn_plen", "syn_rec", "synack_rec", "win", "z_counts",
        "z_did_close", "z_hist_fin", "z_hist_rst", "z_hist_syn", "z_hole", "z_last", "z_prev",
        "z_start", "z_state", "z_wscale",
    )

    def __init__(self, addr: bytes, port: int, is_a: bool) -> None:
        self.addr = addr
        self.port = port
        self.is_a = is_a
        self.state = S.INACTIVE
        self.initial = S.INACTIVE
        self.moved = False
        self.isn: int | None = None
        # SYNs, SYN-ACKs and FINs sent, packed flat in arrays of doubles (frame numbers, ACK
        # numbers and times are exact in a double): (frame, ts) or (frame, ts, ack) per
        # segment, at most _LIST_CAP of them, None until the first.  A list of tuples costs
        # about 200 bytes per record, these 16 or 24 (see the *_frames views).
        self.syn_rec: array[float] | None = None
        self.synack_rec: array[float] | None = None
        self.syn_delivered = False
        self.syn_plen = 0  # payload carried by this endpoint's SYN (TFO)
        self.snd_nxt: int | None = None
        self.fin_seq: int | None = None
        self.fin_rec: array[float] | None = None
        self.fin_delivered = False
        self.fin_delivered_frame = 0
        self.fin_ack_frame = 0
        self.data_after_peer_fin = False
        self.last_ack: int | None = None
        self.win = 0
        self.opts: SynOptions | None = None
        self.last_tsval: int | None = None
        self.pkts = 0
        self.data_pkts = 0
        self.bytes = 0
        self.rst_frames: Sequence[int] = ()
        self.contig: int | None = None
        self.ooo: Sequence[tuple[int, int]] = ()
        self.missed_bytes = 0
        self.z_state = zk.Z_INACTIVE
        self.z_prev = zk.Z_INACTIVE
        self.z_start = 0
        self.z_last = 0
        self.z_hist_syn = -1
        self.z_hist_fin = -1
        self.z_hist_rst = -1
        self.z_wscale = 0
        self.z_counts: list[int] | None = None  # C, W, T, G (created on first use)
        self.z_did_close = False
        # first byte of this side's stream sent but cut by the snap length and not yet ACKed:
        # Zeek's reassembler never got it (see Connection.payload_uncaptured)
        self.z_hole: int | None = None

    @property
    def syn_frames(self) -> list[tuple[int, float]]:
        """(frame, ts) of each SYN this endpoint sent (at most ``_LIST_CAP``)."""
        return _pairs(self.syn_rec)

    @property
    def synack_frames(self) -> list[tuple[int, float, int]]:
        """(frame, ts, ack) of each SYN-ACK this endpoint sent (at most ``_LIST_CAP``)."""
        a = self.synack_rec
        if a is None:
            return []
        return [(int(a[i]), a[i + 1], int(a[i + 2])) for i in range(0, len(a), 3)]

    @property
    def fin_frames(self) -> list[tuple[int, float]]:
        """(frame, ts) of each FIN this endpoint sent (at most ``_LIST_CAP``)."""
        return _pairs(self.fin_rec)

    def first_syn_frame(self) -> int:
        """Frame of this endpoint's first SYN or SYN-ACK (0 if none)."""
        syn, synack = self.syn_rec, self.synack_rec
        if syn is None:
            return 0 if synack is None else int(synack[0])
        return int(syn[0] if synack is None else min(syn[0], synack[0]))

    @property
    def wscale(self) -> int | None:
        """Window scale this endpoint offered on its SYN, None if it offered none."""
        return None if self.opts is None else self.opts.wscale


class Connection:
    """One connection incarnation: two endpoints, what happened, and its Zeek history.

    ``a`` is the endpoint that sent the first segment; ``orig_is_a`` says whether it is the
    originator (roles follow Zeek, including its flips).  Everything a report needs is
    recorded here as facts with frame numbers; outcomes are derived in :mod:`.verdict`.
    """

    __slots__ = (
        "_anomalies", "_events", "_resets", "_steady_ok", "_time_wait", "_tr", "a", "b", "config",
        "fin_crossed", "first_frame", "first_ts", "handshake_ack", "hist_seen", "history", "id",
        "last_frame", "last_ts", "orig_is_a", "port_reuse", "prev", "roles_inferred", "seq",
        "sim_open", "sink", "vlan", "vlan_b", "z_swap", "zeek_last_ts", "zeek_life",
    )

    def __init__(
        self, conn_id: int, seg: Segment, config: TrackerConfig, sink: list[Any] | None = None
    ) -> None:
        self.id = conn_id
        self.config = config
        self.sink = sink
        self.vlan = seg.vlan
        # the VLAN ids of endpoint b's segments when they differ from a's (flow table, auto)
        self.vlan_b: tuple[int, ...] | None = None
        self.a = Endpoint(seg.src, seg.sport, True)
        self.b = Endpoint(seg.dst, seg.dport, False)
        flags = seg.flags
        pure_syn = bool(flags & SYN) and not flags & ACK
        self.orig_is_a = True
        self.roles_inferred = not pure_syn
        self.first_ts = self.last_ts = self.zeek_last_ts = seg.ts
        # Zeek's reading: its connection lifecycle (timers, reuse, the rows it would log)
        # and whether its current row names orig/resp the other way round (see history.py)
        self.zeek_life: Any = None
        self.z_swap = False
        self.first_frame = self.last_frame = seg.frame
        # transitions packed in one array of doubles, (code, ts) per change, the code
        # holding frame, endpoint and both states (exact: frames stay below 2**44); about a
        # sixth of the memory of a list of tuples; see the ``transitions`` view
        self._tr: array[float] = array("d")
        # created on first use: most connections never need them (keeps memory per
        # connection small; the properties below read them as empty)
        self._anomalies: dict[str, int] | None = None
        self._events: list[tuple[str, int, float, bool, str]] | None = None
        self.history = ""
        self.hist_seen = 0
        self.handshake_ack: tuple[int, float] | None = None
        self._resets: list[dict[str, Any]] | None = None
        self._time_wait: list[tuple[bool, int, float]] | None = None
        self.port_reuse: dict[str, Any] | None = None
        # the previous incarnation of the 4-tuple while it is still alive (the flow table
        # routes its late segments to it: a challenge ACK, a RST, a retransmitted FIN)
        self.prev: Connection | None = None
        self.sim_open = False
        self.fin_crossed = False
        # both endpoints synchronized with nothing pending (see _is_steady): only the general
        # path of process() can change that, so it is re-evaluated there, once per segment
        self._steady_ok = False
        # Initial states: a pure SYN means the peer is presumably listening; a SYN-ACK first
        # means we missed the SYN; anything else is a mid-stream pick-up.
        if pure_syn:
            self.a.initial = self.a.state = S.CLOSED
            self.b.initial = self.b.state = S.LISTEN
        elif flags & SYN:
            self.a.initial = self.a.state = S.LISTEN
            self.b.initial = self.b.state = S.SYN_SENT
        else:
            self.a.initial = self.a.state = S.PARTIAL
            # a lone RST says nothing about its receiver; anything else implies a peer
            self.b.initial = self.b.state = S.INACTIVE if flags & RST else S.PARTIAL
        if zk.want_flip_at_start(flags, seg.sport, seg.dport):
            self.zeek_flip()
        self.seq: Any = _make_seq_analysis(config)

    # -- what happened (read-only views of lazily created records) --------------------------
    @property
    def transitions(self) -> list[tuple[int, float, bool, TcpState, TcpState]]:
        """(frame, ts, endpoint is a, from, to) for every recorded state change."""
        tr = self._tr
        out = []
        for i in range(0, len(tr), 2):
            c = int(tr[i])
            out.append((c >> 9, tr[i + 1], bool(c >> 8 & 1), _STATES[c >> 4 & 15],
                        _STATES[c & 15]))
        return out

    @property
    def anomalies(self) -> dict[str, int]:
        """Anomaly code -> occurrences."""
        return self._anomalies if self._anomalies is not None else {}

    @property
    def anomaly_events(self) -> list[tuple[str, int, float, bool, str]]:
        """(code, frame, ts, sender is a, detail) for the first ``max_events`` anomalies."""
        return self._events if self._events is not None else []

    @property
    def resets(self) -> list[dict[str, Any]]:
        """One record per RST: frame, ts, by_a, sender/receiver state, validity, situation."""
        return self._resets if self._resets is not None else []

    @property
    def time_wait(self) -> list[tuple[bool, int, float]]:
        """(endpoint is a, frame, ts) for each endpoint that entered TIME-WAIT."""
        return self._time_wait if self._time_wait is not None else []

    # -- roles ----------------------------------------------------------------------------
    @property
    def orig(self) -> Endpoint:
        """The originator endpoint."""
        return self.a if self.orig_is_a else self.b

    @property
    def resp(self) -> Endpoint:
        """The responder endpoint."""
        return self.b if self.orig_is_a else self.a

    def role(self, ep_is_a: bool) -> str:
        """``orig`` or ``resp`` for endpoint a (True) or b (False), with current roles."""
        return "orig" if ep_is_a == self.orig_is_a else "resp"

    def zeek_flip(self) -> None:
        """Swap originator and responder (Zeek's FlipRoles), recording ``^``."""
        self.orig_is_a = not self.orig_is_a
        if len(self.history) < 128:
            self.history += "^"

    def zeek_orig_state(self) -> int:
        """Zeek state of the current originator."""
        return self.orig.z_state

    # -- recording --------------------------------------------------------------------------
    def _set_state(self, ep: Endpoint, new: TcpState, seg: Segment) -> None:
        """The single choke point for RFC state changes: records and emits the transition."""
        old = ep.state
        if old is new:
            return
        ep.moved = True
        ep.state = new
        tr = self._tr
        if len(tr) < 128:  # 64 transitions
            tr.append(seg.frame << 9 | ep.is_a << 8 | _STATE_INDEX[old] << 4
                      | _STATE_INDEX[new])
            tr.append(seg.ts)
        if new is S.ESTABLISHED and self.handshake_ack is None:
            peer = self.b if ep.is_a else self.a
            if peer.state is S.ESTABLISHED or peer.state in _AFTER_ESTABLISHED:
                self._handshake_done(seg)
        if new is S.TIME_WAIT:
            if self._time_wait is None:
                self._time_wait = []
            self._time_wait.append((ep.is_a, seg.frame, seg.ts))
            if self.sink is not None:
                self.sink.append(TimeWaitEntered(
                    conn_id=self.id, frame=seg.frame, ts=seg.ts, endpoint=self.role(ep.is_a)))
        if self.sink is not None:
            self.sink.append(StateChanged(
                conn_id=self.id, frame=seg.frame, ts=seg.ts, endpoint=self.role(ep.is_a),
                from_state=old.value, to_state=new.value))

    def _retag_initial(self, ep: Endpoint, state: TcpState) -> None:
        """Correct an endpoint's assumed initial state before it has moved (e.g. the peer
        that refused a SYN was CLOSED, not LISTEN)."""
        if not ep.moved:
            ep.initial = ep.state = state

    def anomaly(self, code: str, seg: Segment, ep: Endpoint, detail: str = "") -> None:
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
        if self.sink is not None:
            self.sink.append(AnomalySeen(conn_id=self.id, name=code, frame=seg.frame, ts=seg.ts,
                                         endpoint=self.role(ep.is_a), detail=detail))

    def bad_checksum(self, seg: Segment, from_a: bool) -> None:
        """A segment dropped for its checksum: counted and lettered, state untouched."""
        zk.zeek_before(self, seg, from_a)
        s = self.a if from_a else self.b
        self.last_ts = seg.ts
        self.last_frame = seg.frame
        s.pkts += 1
        self.anomaly("bad_checksum", seg, s, f"checksum 0x{seg.tcp_csum:04x}")
        zk.zeek_bad_checksum(self, s, from_a == self.orig_is_a)

    def payload_uncaptured(self, seg: Segment, from_a: bool) -> None:
        """The capture cut ``seg``'s payload (snap length); call before :meth:`process`.

        Our own fields count those bytes as sent, which they were.  Zeek's reassembler never
        receives them, so in the Zeek reading the peer's ACK of them is a content gap (G/g).
        """
        s, r = (self.a, self.b) if from_a else (self.b, self.a)
        start = (seg.seq + 1) & MASK if seg.flags & SYN else seg.seq
        end = (start + seg.plen) & MASK
        acked = r.last_ack
        if acked is not None and seq_diff(acked, start) > 0:
            start = acked  # a retransmission of bytes already ACKed leaves no new hole
        h = s.z_hole
        if seq_diff(end, start) > 0 and (h is None or seq_diff(start, h) < 0):
            s.z_hole = start

    def zeek_checksum_drop(self, seg: Segment, from_a: bool) -> None:
        """A segment whose checksum field holds only the pseudo-header sum (checksum offload
        on the capturing host), under ``--checksums strict``.  It really was sent, so our own
        fields process it; Zeek, validating checksums, drops it: in the Zeek reading it
        leaves only its ``C``/``c`` letter (and may still start a new Zeek connection)."""
        zk.zeek_before(self, seg, from_a)  # Zeek looks the connection up before it checks
        snap = zk.zeek_snapshot(self)
        self.process(seg, from_a)
        zk.zeek_restore(self, snap)
        s = self.a if from_a else self.b
        zk.zeek_bad_checksum(self, s, from_a == self.orig_is_a)
        self._steady_ok = _is_steady(self.a) and _is_steady(self.b) and not self.z_swap

    # -- the state machines -----------------------------------------------------------------
    def process(self, seg: Segment, from_a: bool) -> None:
        """Feed one segment sent by endpoint a (``from_a``) or b.  Never raises on data."""
        s, r = (self.a, self.b) if from_a else (self.b, self.a)
        if self._steady_ok and not seg.flags & _CONTROL and not seg.link_pad:
            self._steady(seg, s, r, from_a)
            return
        self._general(seg, s, r, from_a)
        self._steady_ok = _is_steady(s) and _is_steady(r) and not self.z_swap

    def _general(self, seg: Segment, s: Endpoint, r: Endpoint, from_a: bool) -> None:
        """Any segment: the four steps of the module docstring."""
        flags = seg.flags
        plen = seg.plen
        seq = seg.seq
        zk.zeek_before(self, seg, from_a)
        self._count(s, seg)
        zk.zeek_process(  # Zeek reads a PPPoE frame's link_pad as payload (decode._pppoe)
            self, s, r, from_a == self.orig_is_a, flags, seq, seg.ack, plen + seg.link_pad,
            seg.win,
            seg.syn_opts.wscale if seg.syn_opts is not None else None,
        )
        s.win = seg.win

        # 1. in-order delivery of S's earlier SYN / FIN (a retransmission of that same SYN
        #    or FIN proves nothing: the sender is still waiting for it to arrive, nor does
        #    a RST from SYN-SENT, which answers a stray ACK and keeps waiting)
        if (s.fin_seq is not None and not s.fin_delivered and s.fin_rec is not None
                and s.fin_rec[0] < seg.frame
                and not flags & FIN):
            self._recv_fin(r, s, seg)
        if (s.isn is not None and not s.syn_delivered and s.first_syn_frame() < seg.frame
                and not (flags & SYN and not flags & ACK)
                and not (flags & RST and s.state is S.SYN_SENT)):
            s.syn_delivered = True
            self._recv_syn(r, seg, s)

        has_ack = flags & ACK
        ack = seg.ack
        # 2. S proves it received R's SYN / FIN by acknowledging it
        if has_ack:
            if (r.isn is not None and not r.syn_delivered and not flags & RST
                    and seq_diff(ack, r.isn) > 0
                    # in SYN-SENT only an ACK of the SYN itself is acceptable (§3.10.7.3)
                    and (r.state is not S.SYN_SENT or _acks_syn(r, ack))):
                r.syn_delivered = True
                self._recv_syn(s, seg, r)
            if r.fin_seq is not None and not r.fin_delivered and seq_diff(ack, r.fin_seq) > 0:
                self._recv_fin(s, r, seg)
            if (s.state is S.SYN_SENT or s.state is S.SYN_RECEIVED) and not flags & (SYN | RST):
                self._unseen_handshake(s, r, seg)

        # 3. what S sends
        if flags & RST:
            self._send_rst(s, r, seg)
            if self.seq is not None:
                self.seq.process(self, seg, from_a)
            return
        if flags & SYN:
            if has_ack:
                self._send_synack(s, r, seg)
            else:
                self._send_syn(s, r, seg)
        if plen:
            self._data(s, r, seg)
        if flags & FIN:
            self._send_fin(s, r, seg)
        self._advance(s, seq, plen, flags)

        # 4. arrival of S's acknowledgement at R
        if has_ack:
            self._ack_arrives(s, r, seg)
            s.last_ack = ack
        if self.seq is not None:
            self.seq.process(self, seg, from_a)

    def _count(self, s: Endpoint, seg: Segment) -> None:
        """Per-segment counters and times, on every path."""
        self.last_ts = seg.ts
        self.last_frame = seg.frame
        s.pkts += 1
        if seg.plen:
            s.data_pkts += 1
            s.bytes += seg.plen
        if seg.tsval is not None:
            s.last_tsval = seg.tsval
        # Zeek stops its duration once both sides closed (conn/main.zeek)
        if not (self.a.z_did_close and self.b.z_did_close):
            self.zeek_last_ts = seg.ts

    def _steady(self, seg: Segment, s: Endpoint, r: Endpoint, from_a: bool) -> None:
        """The common case, equivalent to the general path below for a segment without
        SYN/FIN/RST between two synchronized endpoints with nothing pending: counters, Zeek
        letters (D/A once, W, T), SND.NXT, captured-stream bookkeeping, the ACK's arrival."""
        plen = seg.plen
        seq = seg.seq
        self._count(s, seg)
        is_orig = from_a == self.orig_is_a
        flags = seg.flags
        # Zeek: history letters, zero window, retransmission (update_last_seq)
        if plen:
            if not self.hist_seen & (_ZH_DATA if is_orig else _ZH_DATA << 16):
                zk.record_once(self, _ZH_DATA, "D", is_orig)
        elif flags & ACK and not self.hist_seen & (_ZH_ACK if is_orig else _ZH_ACK << 16):
            zk.record_once(self, _ZH_ACK, "A", is_orig)
        win = seg.win
        if win == 0:
            zk.zero_window(self, s, is_orig)
        end = (seq + plen) & MASK
        if seq_diff(end, s.z_last) > 0:
            s.z_last = end
        elif plen:
            zk.retransmitted(self, s, is_orig)
        s.win = win
        # SND.NXT and the captured stream
        nxt = s.snd_nxt
        if nxt is None or seq_diff(end, nxt) > 0:
            s.snd_nxt = end
        if plen:
            c = s.contig
            if c is not None and seq == c and not s.ooo:
                s.contig = end
            else:
                self._stream_add(s, seq, end)
        if flags & ACK:
            ack = seg.ack
            c = r.contig
            if c is not None and seq_diff(ack, c) > 0:
                self._ack_arrives(s, r, seg)
            elif r.z_hole is not None:
                self._zeek_gap(s, r, seg, False)
            s.last_ack = ack
        if self.seq is not None:
            self.seq.process(self, seg, from_a)

    def _advance(self, s: Endpoint, seq: int, plen: int, flags: int) -> None:
        """Track S's highest sequence number sent (SND.NXT as the capture saw it)."""
        end = (seq + plen + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)) & MASK
        if s.snd_nxt is None or seq_diff(end, s.snd_nxt) > 0:
            s.snd_nxt = end
        if plen or flags & (SYN | FIN):
            self._stream_add(s, seq if not flags & SYN else (seq + 1) & MASK, end)

    def _stream_add(self, s: Endpoint, start: int, end: int) -> None:
        """Record S's bytes [start, end) as seen (for gaps and missed bytes)."""
        if s.contig is None:
            s.contig = start
        c = s.contig
        if seq_diff(start, c) <= 0:
            if seq_diff(end, c) > 0:
                s.contig = end
                if s.ooo:
                    self._stream_merge(s)
        elif len(s.ooo) < 32:
            s.ooo = [*s.ooo, (start, end)]

    @staticmethod
    def _stream_merge(s: Endpoint) -> None:
        changed = True
        while changed and s.ooo:
            changed = False
            c = s.contig
            assert c is not None
            keep = []
            for blk in s.ooo:
                if seq_diff(blk[0], c) <= 0:
                    if seq_diff(blk[1], c) > 0:
                        c = blk[1]
                        changed = True
                else:
                    keep.append(blk)
            s.contig = c
            s.ooo = keep or ()

    def _send_syn(self, s: Endpoint, r: Endpoint, seg: Segment) -> None:
        # RFC 9293 §3.5: an active OPEN sends SYN and enters SYN-SENT.
        seq = seg.seq
        retry = s.syn_rec is not None and seq == s.isn
        if s.isn is None:
            s.isn = seq
            s.contig = (seq + 1) & MASK
        s.syn_rec = syn = _record(s.syn_rec, seg.frame, seg.ts)
        if seg.syn_opts is not None and s.opts is None:
            s.opts = seg.syn_opts
        if seg.plen and seq == s.isn:
            s.syn_plen = seg.plen  # data on the SYN (TCP Fast Open, RFC 7413)
        if s.state in (S.CLOSED, S.LISTEN, S.INACTIVE, S.PARTIAL):
            self._retag_initial(s, S.CLOSED)
            if r.state is S.SYN_SENT and r.isn is not None:
                # Both sides sent a SYN before receiving the other's: simultaneous open
                # (RFC 9293 §3.5, figure 8).
                self.sim_open = True
                self.anomaly("simultaneous_open", seg, s)
            self._set_state(s, S.SYN_SENT, seg)
            if retry and not self._network_copy(seg, s):
                # the same attempt again after a RST (the flow table keeps it together)
                self.anomaly("syn_retransmission", seg, s, f"SYN #{len(syn) // 2}")
        elif len(syn) > 2 and not self._network_copy(seg, s):
            self.anomaly("syn_retransmission", seg, s, f"SYN #{len(syn) // 2}")

    def _send_synack(self, s: Endpoint, r: Endpoint, seg: Segment) -> None:
        # RFC 9293 §3.5: a SYN-ACK answers the peer's SYN; its sender is in SYN-RECEIVED.
        seq = seg.seq
        if s.isn is None:
            s.isn = seq
            s.contig = (seq + 1) & MASK
        first = s.synack_rec is None
        s.synack_rec = synack = _record(s.synack_rec, seg.frame, seg.ts, seg.ack)
        if seg.syn_opts is not None and (s.opts is None or first):
            s.opts = seg.syn_opts
        if r.isn is not None and not _acks_syn(r, seg.ack):
            expected = "1" if not r.syn_plen else f"1 or {1 + r.syn_plen} (SYN data)"
            self.anomaly("bad_synack_ack", seg, s,
                         f"acks {seq_diff(seg.ack, r.isn)} past the ISN, expected {expected}")
        if s.state in (S.LISTEN, S.INACTIVE, S.CLOSED, S.PARTIAL):
            self._retag_initial(s, S.LISTEN)
            self._set_state(s, S.SYN_RECEIVED, seg)
        elif s.state is S.SYN_SENT:
            self._set_state(s, S.SYN_RECEIVED, seg)  # simultaneous open
        elif not first and not self._network_copy(seg, s):
            self.anomaly("synack_retransmission", seg, s, f"SYN-ACK #{len(synack) // 3}")

    def _network_copy(self, seg: Segment, s: Endpoint) -> bool:
        """A bit-identical copy made by the network is not a retransmission by the sender."""
        return self.seq is not None and bool(self.seq.is_network_copy(seg, s.is_a))

    def _recv_syn(self, x: Endpoint, seg: Segment, sender: Endpoint) -> None:
        """X received the peer's SYN (evidence: X acknowledged it, or in-order delivery)."""
        st = x.state
        if st is S.LISTEN or st is S.INACTIVE:
            # LISTEN + SYN -> SYN-RECEIVED (RFC 9293 §3.10.7.2)
            self._set_state(x, S.SYN_RECEIVED, seg)
        elif st is S.SYN_SENT:
            if sender.synack_rec is not None and sender.syn_rec is None:
                # SYN-SENT + SYN-ACK -> ESTABLISHED (§3.10.7.3), our own SYN unseen
                self._set_state(x, S.ESTABLISHED, seg)
            else:
                # SYN-SENT + SYN -> SYN-RECEIVED: simultaneous open (§3.5, figure 8)
                self._set_state(x, S.SYN_RECEIVED, seg)

    def _unseen_handshake(self, s: Endpoint, r: Endpoint, seg: Segment) -> None:
        """S, still opening, sends an ACK (no SYN, no RST) that only a synchronized
        endpoint sends: the handshake segments that prove it were not captured (a capture
        of one direction only, as on an asymmetric tap).  Advance both machines on that
        evidence instead of leaving them opening, one anomaly per segment."""
        if s.state is S.SYN_SENT:
            if r.synack_rec is not None or r.syn_rec is not None or s.isn is None:
                return
            # RFC 9293 §3.10.7.3: SYN-SENT leaves only on the peer's SYN-ACK, so S got
            # one (unseen), which R sent from SYN-RECEIVED; this ACK then reaches R (step 4)
            if r.state in (S.LISTEN, S.INACTIVE, S.CLOSED):
                self._set_state(r, S.SYN_RECEIVED, seg)
            s.syn_delivered = True
            self._set_state(s, S.ESTABLISHED, seg)
            return
        # SYN-RECEIVED: an ACK beyond the peer's SYN acknowledges its data, and data sent
        # (unless with TCP Fast Open, RFC 7413 §4.2) waits for ESTABLISHED (RFC 9293
        # §3.10.1): either way the peer's handshake ACK reached S
        isn = r.isn
        if isn is not None:
            syn_end = (isn + 1 + r.syn_plen) & MASK
        elif s.synack_rec is not None:  # the peer's SYN unseen: what S's SYN-ACK acked
            syn_end = int(s.synack_rec[-1])
        else:
            return
        acks_data = seq_diff(seg.ack, syn_end) > 0
        tfo = r.syn_plen > 0 or (r.opts is not None and r.opts.tfo_cookie is not None)
        if acks_data or (seg.plen and not tfo):
            self._set_state(s, S.ESTABLISHED, seg)

    def _data(self, s: Endpoint, r: Endpoint, seg: Segment) -> None:
        if s.fin_seq is not None and seq_diff(seg.seq, s.fin_seq) >= 0:
            self.anomaly("data_after_fin", seg, s, f"{seg.plen} bytes after own FIN")
        if s.rst_frames or r.rst_frames:
            self.anomaly("data_after_rst", seg, s, f"{seg.plen} bytes")
        if r.fin_delivered and not s.data_after_peer_fin and s.fin_seq is None:
            s.data_after_peer_fin = True
        if seg.flags & SYN:
            return
        if s.state in (S.SYN_SENT, S.SYN_RECEIVED) and s.isn is not None:
            self.anomaly("data_before_established", seg, s, f"{seg.plen} bytes in {s.state}")

    def _send_fin(self, s: Endpoint, r: Endpoint, seg: Segment) -> None:
        fin_seq = (seg.seq + seg.plen) & MASK
        if s.fin_seq is None:
            s.fin_seq = fin_seq
            s.fin_rec = _record(s.fin_rec, seg.frame, seg.ts)
            if r.fin_seq is not None and not r.fin_delivered:
                self.fin_crossed = True  # both FINs in flight: simultaneous close
        else:
            s.fin_rec = fins = _record(s.fin_rec, seg.frame, seg.ts)
            if fin_seq == s.fin_seq and not self._network_copy(seg, s):
                self.anomaly("fin_retransmission", seg, s, f"FIN #{len(fins) // 2}")
            return
        st = s.state
        # RFC 9293 §3.6: CLOSE from ESTABLISHED (or SYN-RECEIVED) -> FIN-WAIT-1; from
        # CLOSE-WAIT -> LAST-ACK.  A mid-stream endpoint is treated as ESTABLISHED.
        if st in (S.ESTABLISHED, S.PARTIAL, S.SYN_RECEIVED, S.SYN_SENT):
            if st is S.SYN_SENT:
                self.anomaly("fin_without_established", seg, s)
            self._set_state(s, S.FIN_WAIT_1, seg)
        elif st is S.CLOSE_WAIT:
            self._set_state(s, S.LAST_ACK, seg)

    def _recv_fin(self, x: Endpoint, peer: Endpoint, seg: Segment) -> None:
        """X received the peer's FIN (RFC 9293 §3.10.7.4, eighth step)."""
        peer.fin_delivered = True
        peer.fin_delivered_frame = seg.frame
        st = x.state
        if st in (S.ESTABLISHED, S.PARTIAL, S.SYN_RECEIVED):
            self._set_state(x, S.CLOSE_WAIT, seg)
        elif st is S.FIN_WAIT_1:
            self._set_state(x, S.CLOSING, seg)
        elif st is S.FIN_WAIT_2:
            self._set_state(x, S.TIME_WAIT, seg)

    def _ack_arrives(self, s: Endpoint, r: Endpoint, seg: Segment) -> None:
        ack = seg.ack
        st = r.state
        if st is S.SYN_SENT and seg.flags & SYN:
            if r.isn is None or _acks_syn(r, ack):
                # SYN-SENT receiving a SYN-ACK for its SYN -> ESTABLISHED (RFC 9293 §3.10.7.3)
                s.syn_delivered = True
                self._set_state(r, S.ESTABLISHED, seg)
        elif st is S.SYN_RECEIVED and (r.isn is None or seq_diff(ack, r.isn) > 0):
            # SYN-RECEIVED receiving an acceptable ACK -> ESTABLISHED (§3.10.7.4, fifth step)
            self._set_state(r, S.ESTABLISHED, seg)
        st = r.state
        if r.fin_seq is not None and seq_diff(ack, r.fin_seq) > 0:
            # The peer acknowledged R's FIN (§3.10.7.4 fifth step, closing states)
            if not r.fin_ack_frame:
                r.fin_ack_frame = seg.frame
            if st is S.FIN_WAIT_1:
                self._set_state(r, S.FIN_WAIT_2, seg)
            elif st is S.CLOSING:
                self._set_state(r, S.TIME_WAIT, seg)
            elif st is S.LAST_ACK:
                self._set_state(r, S.CLOSED, seg)
        # Gaps: the peer acknowledges bytes of R's stream the capture never saw
        c = r.contig
        gap = False
        if c is not None and seq_diff(ack, c) > 0:
            missing = seq_diff(ack, c)
            if r.ooo:
                for lo, hi in r.ooo:
                    if seq_diff(lo, ack) < 0:
                        missing -= max(0, min(seq_diff(hi, c), seq_diff(ack, c))
                                       - max(0, seq_diff(lo, c)))
                r.contig = ack
                self._stream_merge(r)
            else:
                r.contig = ack
            if missing > 0 and r.snd_nxt is not None and seq_diff(ack, r.snd_nxt) <= 0:
                r.missed_bytes += missing
                if self.config.semantics != "wireshark":  # there, tshark's own rule applies
                    self.anomaly("ack_lost_segment", seg, s,
                                 f"ACKs {missing} bytes never captured")
                gap = True
            elif r.snd_nxt is not None and seq_diff(ack, r.snd_nxt) > 0 and r.isn is not None:
                self.anomaly("ack_above_snd_nxt", seg, s,
                             f"ACK {seq_diff(ack, r.snd_nxt)} bytes beyond anything sent")
                # the capture missed R's latest segments: to Zeek's reassembler, which does
                # not know what R sent, that is a gap like any other
                gap = True
        if gap or r.z_hole is not None:
            self._zeek_gap(s, r, seg, gap)

    def _zeek_gap(self, s: Endpoint, r: Endpoint, seg: Segment, gap: bool) -> None:
        """Zeek's content-gap letter (G/g, TCP_Reassembler): S's ACK passed bytes of R's
        stream the reassembler never got, because the capture missed them (``gap``) or cut
        their payload (``r.z_hole``).  Zeek flags only gaps between synchronized (or cleanly
        closing) endpoints, and not those revealed by a FIN or RST."""
        ack = seg.ack
        h = r.z_hole
        if h is not None and seq_diff(ack, h) > 0:
            r.z_hole = None
            nxt = r.snd_nxt
            gap = gap or (nxt is not None and seq_diff(ack, nxt) <= 0)
        if (
            gap and not seg.flags & (FIN | RST)
            and s.z_state in (zk.Z_ESTABLISHED, zk.Z_CLOSED)
            and r.z_state in (zk.Z_ESTABLISHED, zk.Z_CLOSED)
        ):
            zk.zeek_gap(self, r, r.is_a == self.orig_is_a)

    def _handshake_done(self, seg: Segment) -> None:
        """Both endpoints reached ESTABLISHED: the handshake completed at this frame."""
        self.handshake_ack = (seg.frame, seg.ts)
        if self.sink is not None:
            rtt = None
            o = self.orig
            if o.syn_rec is not None:
                rtt = seg.ts - o.syn_rec[-1]
            self.sink.append(HandshakeCompleted(conn_id=self.id, frame=seg.frame, ts=seg.ts,
                                                rtt_s=rtt))

    def _send_rst(self, s: Endpoint, r: Endpoint, seg: Segment) -> None:
        """S aborts (RFC 9293 §3.5.2); judge the RST as R would (§3.5.3, RFC 5961 §3)."""
        first_of_sender = not s.rst_frames
        s_state, r_state = s.state, r.state
        seq = seg.seq
        # Acceptability: in SYN-SENT a RST is valid iff it acknowledges the SYN; otherwise
        # exact when seq == RCV.NXT, in window when inside RCV.WND (RFC 5961 challenge ACK).
        if r_state is S.SYN_SENT and r.isn is not None:
            ok = bool(seg.flags & ACK) and seg.ack == ((r.isn + 1) & MASK)
            validity = "exact" if ok else "out_of_window"
        else:
            rcv_nxt = r.last_ack if r.last_ack is not None else s.snd_nxt
            if rcv_nxt is None:
                validity = "unknown"
            elif seq == rcv_nxt:
                validity = "exact"
            else:
                shift = self._window_shift(r)
                win = max(r.win << (14 if shift is None else shift), 1)
                validity = "in_window" if in_window(seq, rcv_nxt, win) else "out_of_window"
        # The situation, which the report keeps distinct from a plain abort
        never_seen = s.pkts == 1 and r.pkts == 0 and s.isn is None
        if never_seen:
            situation = "no_connection"
        elif r_state is S.TIME_WAIT or s_state is S.TIME_WAIT:
            situation = "in_time_wait"
        elif (s_state is S.SYN_SENT and not seg.flags & ACK and r.last_ack is not None
              and seq == r.last_ack and not _acks_syn(s, r.last_ack)):
            # RFC 9293 §3.10.7.3: in SYN-SENT, an ACK that does not acknowledge the SYN
            # (a challenge ACK from an old socket on the 4-tuple, a bad SYN-ACK) is answered
            # with <SEQ=SEG.ACK><CTL=RST> and dropped: the attempt goes on, in SYN-SENT
            situation = "stray_ack"
        elif r_state is S.SYN_SENT and s.synack_rec is None:
            situation = "refused"
        elif s.fin_seq is not None or r.fin_seq is not None:
            situation = "after_fin"
        else:
            situation = "abort"
        if self._resets is None:
            self._resets = []
        if len(self._resets) < _LIST_CAP:
            self._resets.append({
                "frame": seg.frame, "ts": seg.ts, "by_a": s.is_a, "sender_state": s_state.value,
                "receiver_state": r_state.value, "validity": validity, "situation": situation,
            })
        if self.sink is not None and first_of_sender:
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
            self._retag_initial(s, S.CLOSED)
        self._set_state(s, S.CLOSED, seg)
        if situation != "no_connection" and validity != "out_of_window" and r.state not in (
            S.CLOSED, S.LISTEN, S.INACTIVE
        ):
            self._set_state(r, S.CLOSED, seg)

    def _window_shift(self, ep: Endpoint) -> int | None:
        """Window-scale shift for ``ep``'s advertised windows: 0 if not negotiated, None if
        the handshake was not captured (RFC 7323 §2.2: both SYNs must carry the option)."""
        o, p = self.a, self.b
        if (o.syn_rec is None and o.synack_rec is None) or (
                p.syn_rec is None and p.synack_rec is None):
            return None
        if o.wscale is None or p.wscale is None:
            return 0
        return ep.wscale

    def describe(self) -> str:
        """Short text for logs: ``orig -> resp``."""
        o, r = self.orig, self.resp
        return f"{format_endpoint(o.addr, o.port)} -> {format_endpoint(r.addr, r.port)}"
