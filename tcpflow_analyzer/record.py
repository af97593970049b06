"""The connection record: both endpoints' fields, the bottom floor of the per-segment path.

A segment goes one way (STYLE §1): the flow table finds the record, and the orchestrator
(:class:`.tracker.Connection`, which extends the record) runs the peers on it in order: the
RFC 9293 endpoint machines (:mod:`.tracker`), the Zeek model (:mod:`.history`) and the
sequence analysis (:mod:`.seqanalysis`).  Each peer reads the record and the segment and
writes only its own fields (the Zeek model the ``z_*`` ones, ``history`` and ``hist_seen``).
The report, the verdict and the views are built from the record at the end.  This module
imports none of the peers.

It is typed for Cython 3 in pure Python mode (STYLE §8): compiled, :class:`Endpoint` and
:class:`ConnRecord` are extension types whose fields are C fields (``record.pxd``), all
public, so plain Python code reads and writes them by name.  The optional sequence numbers
are C fields that hold -1 for "none yet" (``_isn``, ``_snd_nxt``, ``_fin_seq``,
``_last_ack``, ``_contig``, ``_z_hole``); the peers use those, and the properties without
the underscore give everyone else the None-or-int view.  Interpreted, the same classes are
slotted Python classes.

Memory per open connection is what bounds the table (``bench/memory.py --held``): what most
connections never need is made on first use, what most have exactly one of (the first SYN or
SYN-ACK, the first FIN, the handshake ACK, the first four state changes) sits in C fields
behind views that read as the containers they replace, flags take a byte each (``bool8``),
and the endpoints hold no GC header (``no_gc``: they reference no connection).
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .segment import format_endpoint
from .states import TcpState

if TYPE_CHECKING:  # mypy reads the stand-in's signatures
    from tcpflow_analyzer import _cython as cython

    from .segment import Segment, SynOptions
    from .tracker import Connection  # the annotation of ``prev`` only, never imported
else:
    try:
        import cython  # compiled: Cython's directives; interpreted: Cython's Shadow module
    except ModuleNotFoundError:  # no Cython at all: the package's stand-in (_cython.py)
        from tcpflow_analyzer import _cython as cython

COMPILED: bool = cython.compiled
"""True when this module runs as a compiled extension (``tcpflow-analyzer --version``)."""

LIST_CAP = 32
"""Bound on per-connection frame lists (counts stay exact)."""

STATES = tuple(TcpState)
"""The RFC states in the order of their 4-bit codes in :attr:`ConnRecord.transitions`, and
of the one-byte codes :attr:`Endpoint._st` and :attr:`Endpoint._st0` hold."""

STATE_INDEX = {st: i for i, st in enumerate(STATES)}
"""TcpState -> its code (the index in ``STATES``)."""


class S:
    """The RFC states as plain class attributes (``S.ESTABLISHED`` is
    ``TcpState.ESTABLISHED``), for the per-segment code: reading a member off the Enum
    class goes through its metaclass's ``__getattr__`` hook (about 300 ns on CPython 3.11),
    a plain class attribute takes about 15 ns."""

    INACTIVE = TcpState.INACTIVE
    PARTIAL = TcpState.PARTIAL
    CLOSED = TcpState.CLOSED
    LISTEN = TcpState.LISTEN
    SYN_SENT = TcpState.SYN_SENT
    SYN_RECEIVED = TcpState.SYN_RECEIVED
    ESTABLISHED = TcpState.ESTABLISHED
    FIN_WAIT_1 = TcpState.FIN_WAIT_1
    FIN_WAIT_2 = TcpState.FIN_WAIT_2
    CLOSE_WAIT = TcpState.CLOSE_WAIT
    CLOSING = TcpState.CLOSING
    LAST_ACK = TcpState.LAST_ACK
    TIME_WAIT = TcpState.TIME_WAIT


if {v for k, v in vars(S).items() if k.isupper()} != set(TcpState):
    raise ImportError("record: S does not list every TcpState")


SHARED_MAX = 4096
"""Addresses and ports :func:`share_key`'s cache keeps before it starts afresh."""


def share_key(conn: ConnRecord, key: tuple[Any, ...], cache: dict[Any, Any]) -> tuple[Any, ...]:
    """``key`` (a flow-table key: address, port, address, port, VLAN ids) and ``conn``'s
    endpoint addresses remade of the copies that other connections of the same hosts and
    ports hold, from ``cache`` (the flow table's; emptied at ``SHARED_MAX`` entries).  A
    4-byte address is a 37-byte object and a port above 256 a 28-byte int: per connection
    otherwise, since each segment decodes its own."""
    if len(cache) >= SHARED_MAX:
        cache.clear()
    a: Endpoint = conn.a
    b: Endpoint = conn.b
    a.addr = cache.setdefault(a.addr, a.addr)
    b.addr = cache.setdefault(b.addr, b.addr)
    k0 = key[0]
    k1 = key[1]
    k2 = key[2]
    k3 = key[3]
    return (cache.setdefault(k0, k0), cache.setdefault(k1, k1), cache.setdefault(k2, k2),
            cache.setdefault(k3, k3), key[4])


def _opt(v: int) -> int | None:
    return None if v < 0 else v


def _pairs(a: array[float] | None) -> list[tuple[int, float]]:
    if a is None:
        return []
    return [(int(a[i]), a[i + 1]) for i in range(0, len(a), 2)]


# An endpoint references no connection (only bytes, enums, arrays, options and numbers), so
# no reference cycle can pass through it: no_gc spares it the 16-byte GC header.
@cython.no_gc
@cython.cclass
class Endpoint:
    """One side of a connection: its RFC state, sequence bookkeeping and Zeek state.

    The RFC machines (:mod:`.tracker`) own ``state`` ... ``missed_bytes``; the Zeek model
    (:mod:`.history`) owns the ``z_*`` fields (``z_n_c``/``z_n_w``/``z_n_t``/``z_n_g``:
    how often it saw a bad checksum, zero window, retransmission, content gap).
    """

    # (not TYPE_CHECKING: mypy would check every C field of the compiled class against the
    # interpreted slots, which leave out those only the compiled class uses)
    if not cython.compiled and not TYPE_CHECKING:
        __slots__ = (
            "_contig", "_fin_seq", "_isn", "_last_ack", "_last_tsval", "_more", "_snd_nxt",
            "_st", "_st0", "_syn_more", "_synack_more", "addr",
            "bytes", "data_after_peer_fin", "data_pkts", "fin_delivered",
            "is_a",
            "moved", "opts", "pkts", "port", "syn_delivered",
            "syn_plen", "win", "z_did_close", "z_hist_fin",
            "z_hist_rst", "z_hist_syn", "z_last", "z_n_c", "z_n_g", "z_n_t", "z_n_w", "z_prev",
            "z_start", "z_state", "z_wscale",
        )

    def __init__(self, addr: bytes, port: int, is_a: bool) -> None:
        self.addr = addr
        self.port = port
        self.is_a = is_a
        self._st = self._st0 = 0  # STATES[0], S.INACTIVE (the state and initial views)
        self.moved = False
        self._isn = -1
        # SYNs, SYN-ACKs and FINs sent (the syn_rec, synack_rec and fin_rec views): the
        # first SYN or SYN-ACK and the first FIN in C fields, more in packed arrays
        # (interpreted, all in the arrays: the fields would hold float objects)
        if cython.compiled:
            self._rec_in = 0
            self._hs_0 = self._hs_1 = self._hs_2 = 0.0
        self._syn_more: array[float] | None = None
        self._synack_more: array[float] | None = None
        # the rarely set fields (EndpointMore: RSTs, out-of-order ranges, the FIN records
        # past the first and the FIN's delivery and ACK frames), made on first use
        self._more: EndpointMore | None = None
        self.syn_delivered = False
        self.syn_plen = 0  # payload carried by this endpoint's SYN (TFO)
        self._snd_nxt = -1
        self._fin_seq = -1
        self.fin_delivered = False
        self.data_after_peer_fin = False
        self._last_ack = -1
        self.win = 0
        self.opts: SynOptions | None = None
        self._last_tsval = -1  # TSval of its latest segment with the option
        self.pkts = 0
        self.data_pkts = 0
        self.bytes = 0
        self._contig = -1
        self.z_state = 0  # history.Z_INACTIVE
        self.z_prev = 0
        self.z_start = 0
        self.z_last = 0
        self.z_hist_syn = -1
        self.z_hist_fin = -1
        self.z_hist_rst = -1
        self.z_wscale = 0
        self.z_n_c = self.z_n_w = self.z_n_t = self.z_n_g = 0
        self.z_did_close = False

    # -- the RFC state and the initial state: one-byte codes (``STATES``) --------------------
    @property
    def state(self) -> TcpState:
        """Its RFC 9293 state now (the tracker's machines read and write ``_st``)."""
        return STATES[self._st]

    @state.setter
    def state(self, v: TcpState) -> None:
        self._st = STATE_INDEX[v]

    @property
    def initial(self) -> TcpState:
        """The state it was assumed to be in before the first segment (``_st0``)."""
        return STATES[self._st0]

    @initial.setter
    def initial(self, v: TcpState) -> None:
        self._st0 = STATE_INDEX[v]

    # -- the None-or-int view of the optional sequence numbers -------------------------------
    @property
    def isn(self) -> int | None:
        """Initial sequence number (of its SYN or SYN-ACK), None if it sent none."""
        return _opt(self._isn)

    @isn.setter
    def isn(self, v: int | None) -> None:
        self._isn = -1 if v is None else v

    @property
    def snd_nxt(self) -> int | None:
        """SND.NXT as the capture saw it (highest sequence number sent + 1)."""
        return _opt(self._snd_nxt)

    @snd_nxt.setter
    def snd_nxt(self, v: int | None) -> None:
        self._snd_nxt = -1 if v is None else v

    @property
    def fin_seq(self) -> int | None:
        """Sequence number of its FIN, None if it sent none."""
        return _opt(self._fin_seq)

    @fin_seq.setter
    def fin_seq(self, v: int | None) -> None:
        self._fin_seq = -1 if v is None else v

    @property
    def last_ack(self) -> int | None:
        """The ACK number of its latest segment with ACK."""
        return _opt(self._last_ack)

    @last_ack.setter
    def last_ack(self, v: int | None) -> None:
        self._last_ack = -1 if v is None else v

    @property
    def contig(self) -> int | None:
        """End of the contiguous stream the capture saw (or the peer ACKed)."""
        return _opt(self._contig)

    @contig.setter
    def contig(self, v: int | None) -> None:
        self._contig = -1 if v is None else v

    @property
    def last_tsval(self) -> int | None:
        """TSval of its latest segment that carried the timestamps option (RFC 7323)."""
        return _opt(self._last_tsval)

    @last_tsval.setter
    def last_tsval(self, v: int | None) -> None:
        self._last_tsval = -1 if v is None else v

    @property
    def z_hole(self) -> int | None:
        """First byte sent but cut by the snap length and not yet ACKed (Zeek's gap)."""
        return _opt(self._z_hole)

    @z_hole.setter
    def z_hole(self, v: int | None) -> None:
        self._z_hole = -1 if v is None else v

    # -- the SYN / SYN-ACK / FIN records -----------------------------------------------------
    # Each kind reads (and is assigned) as before: None until the first segment, then a
    # packed array of doubles (frame numbers, ACK numbers and times are exact in a double),
    # (frame, ts) or (frame, ts, ack) per segment, at most LIST_CAP of them.  Most endpoints
    # send one SYN or one SYN-ACK and at most one FIN, so those single records are kept in C
    # fields instead of an 80-byte array each: ``_hs_*`` the SYN's (bit 1 of ``_rec_in``) or
    # the SYN-ACK's (bit 2), ``_more._fin_*`` the FIN's (bit 4: an open connection has sent
    # no FIN, so its fields wait in EndpointMore).  A second record of a kind, or a
    # SYN-ACK after a SYN (or the reverse, a simultaneous open), keeps that kind's array.
    # A read builds a fresh array: change one by assigning it back (as ``_record`` does).
    # Interpreted, the arrays themselves are kept (C fields would hold float objects).
    @property
    def syn_rec(self) -> array[float] | None:
        """(frame, ts) of each SYN this endpoint sent, packed; None if it sent none."""
        if not cython.compiled or self._syn_more is not None:
            return self._syn_more
        if self._rec_in & 1:
            return array("d", (self._hs_0, self._hs_1))
        return None

    @syn_rec.setter
    def syn_rec(self, v: array[float] | None) -> None:
        if not cython.compiled:
            self._syn_more = v
        elif v is not None and len(v) == 2 and not self._rec_in & 2:
            self._hs_0 = v[0]
            self._hs_1 = v[1]
            self._rec_in = self._rec_in | 1
            self._syn_more = None
        else:
            self._syn_more = v
            self._rec_in = self._rec_in & 6

    @property
    def synack_rec(self) -> array[float] | None:
        """(frame, ts, ack) of each SYN-ACK this endpoint sent, packed; None if none."""
        if not cython.compiled or self._synack_more is not None:
            return self._synack_more
        if self._rec_in & 2:
            return array("d", (self._hs_0, self._hs_1, self._hs_2))
        return None

    @synack_rec.setter
    def synack_rec(self, v: array[float] | None) -> None:
        if not cython.compiled:
            self._synack_more = v
        elif v is not None and len(v) == 3 and not self._rec_in & 1:
            self._hs_0 = v[0]
            self._hs_1 = v[1]
            self._hs_2 = v[2]
            self._rec_in = self._rec_in | 2
            self._synack_more = None
        else:
            self._synack_more = v
            self._rec_in = self._rec_in & 5

    @property
    def fin_rec(self) -> array[float] | None:
        """(frame, ts) of each FIN this endpoint sent, packed; None if it sent none."""
        m: EndpointMore = self._more
        fin_more = m._fin_more if m is not None else None
        if not cython.compiled or fin_more is not None:
            return fin_more
        if self._rec_in & 4:
            return array("d", (m._fin_0, m._fin_1))
        return None

    @fin_rec.setter
    def fin_rec(self, v: array[float] | None) -> None:
        if not cython.compiled:
            self._fin_more = v
        elif v is not None and len(v) == 2:
            m: EndpointMore = self._extra()  # (the FIN's frame and ts: _more's C fields)
            m._fin_0 = v[0]
            m._fin_1 = v[1]
            self._rec_in = self._rec_in | 4
            m._fin_more = None
        else:
            self._fin_more = v
            self._rec_in = self._rec_in & 3

    # -- the rarely set fields, kept in ``_more`` (EndpointMore, made on first use) ----------
    @cython.cfunc
    def _extra(self) -> EndpointMore:
        """``_more``, made on first use."""
        m: EndpointMore = self._more
        if m is None:
            m = self._more = EndpointMore()
        return m

    @property
    def _fin_more(self) -> array[float] | None:
        """The FIN records when more than the one in ``_fin_*`` (interpreted: all of them)."""
        m: EndpointMore = self._more
        return None if m is None else m._fin_more

    @_fin_more.setter
    def _fin_more(self, v: array[float] | None) -> None:
        if v is not None or self._more is not None:
            self._extra()._fin_more = v

    @property
    def rst_frames(self) -> Sequence[int]:
        """Frames of the RSTs it sent (at most ``LIST_CAP``)."""
        m: EndpointMore = self._more
        return () if m is None else m.rst_frames

    @rst_frames.setter
    def rst_frames(self, v: Sequence[int]) -> None:
        if v or self._more is not None:
            self._extra().rst_frames = v

    @property
    def ooo(self) -> Sequence[tuple[int, int]]:
        """Ranges of its stream seen above the contiguous part (at most 32)."""
        m: EndpointMore = self._more
        return () if m is None else m.ooo

    @ooo.setter
    def ooo(self, v: Sequence[tuple[int, int]]) -> None:
        if v or self._more is not None:
            self._extra().ooo = v

    @property
    def missed_bytes(self) -> int:
        """Bytes of its stream the peer ACKed that the capture never saw."""
        m: EndpointMore = self._more
        return 0 if m is None else m.missed_bytes

    @missed_bytes.setter
    def missed_bytes(self, v: int) -> None:
        if v or self._more is not None:
            self._extra().missed_bytes = v

    @property
    def _z_hole(self) -> int:
        """First byte of its stream sent but cut by the snap length and not yet ACKed
        (Zeek's reassembler never got it; see Connection.payload_uncaptured), -1: none."""
        m: EndpointMore = self._more
        return -1 if m is None else m._z_hole

    @_z_hole.setter
    def _z_hole(self, v: int) -> None:
        if v != -1 or self._more is not None:
            self._extra()._z_hole = v

    @property
    def fin_delivered_frame(self) -> int:
        """Frame in which the peer received its FIN (0: not yet)."""
        m: EndpointMore = self._more
        return 0 if m is None else m.fin_delivered_frame

    @fin_delivered_frame.setter
    def fin_delivered_frame(self, v: int) -> None:
        if v or self._more is not None:
            self._extra().fin_delivered_frame = v

    @property
    def fin_ack_frame(self) -> int:
        """Frame of the first ACK of its FIN (0: not yet)."""
        m: EndpointMore = self._more
        return 0 if m is None else m.fin_ack_frame

    @fin_ack_frame.setter
    def fin_ack_frame(self, v: int) -> None:
        if v or self._more is not None:
            self._extra().fin_ack_frame = v

    # -- what was sent, without building a view (the tracker's per-segment questions) -------
    @cython.cfunc
    def sent_syn(self) -> cython.bint:
        """Whether this endpoint sent a SYN (``syn_rec is not None``)."""
        return self.n_syn() > 0

    @cython.cfunc
    def sent_synack(self) -> cython.bint:
        """Whether this endpoint sent a SYN-ACK (``synack_rec is not None``)."""
        return self.n_synack() > 0

    @cython.cfunc
    def sent_fin(self) -> cython.bint:
        """Whether this endpoint sent a FIN (``fin_rec is not None``)."""
        if cython.compiled and self._rec_in & 4:
            return True
        m: EndpointMore = self._more
        return m is not None and m._fin_more is not None

    @cython.cfunc
    def first_fin_frame(self) -> cython.double:
        """``fin_rec[0]``: the frame of its first FIN (it sent one)."""
        m: EndpointMore = self._more
        if cython.compiled and self._rec_in & 4:
            return m._fin_0
        return m._fin_more[0]

    @cython.cfunc
    def n_syn(self) -> cython.Py_ssize_t:
        """``len(syn_rec) // 2``: how many SYNs it sent (at most ``LIST_CAP``)."""
        if cython.compiled and self._rec_in & 1:
            return 1
        return len(self._syn_more) // 2 if self._syn_more is not None else 0

    @cython.cfunc
    def syn_at(self, i: cython.Py_ssize_t, k: cython.int) -> cython.double:
        """``syn_rec[2 * i + k]``: field ``k`` (0 frame, 1 ts) of its SYN number ``i``."""
        if cython.compiled and self._rec_in & 1:
            return self._hs_0 if k == 0 else self._hs_1
        return self._syn_more[2 * i + k]

    @cython.cfunc
    def n_synack(self) -> cython.Py_ssize_t:
        """``len(synack_rec) // 3``: how many SYN-ACKs it sent (at most ``LIST_CAP``)."""
        if cython.compiled and self._rec_in & 2:
            return 1
        return len(self._synack_more) // 3 if self._synack_more is not None else 0

    @cython.cfunc
    def synack_at(self, i: cython.Py_ssize_t, k: cython.int) -> cython.double:
        """``synack_rec[3 * i + k]``: field ``k`` (0 frame, 1 ts, 2 ack) of SYN-ACK ``i``."""
        if cython.compiled and self._rec_in & 2:
            return self._hs_0 if k == 0 else (self._hs_1 if k == 1 else self._hs_2)
        return self._synack_more[3 * i + k]

    # -- the frame lists ------------------------------------------------------------------
    @property
    def syn_frames(self) -> list[tuple[int, float]]:
        """(frame, ts) of each SYN this endpoint sent (at most ``LIST_CAP``)."""
        return _pairs(self.syn_rec)

    @property
    def synack_frames(self) -> list[tuple[int, float, int]]:
        """(frame, ts, ack) of each SYN-ACK this endpoint sent (at most ``LIST_CAP``)."""
        a = self.synack_rec
        if a is None:
            return []
        return [(int(a[i]), a[i + 1], int(a[i + 2])) for i in range(0, len(a), 3)]

    @property
    def fin_frames(self) -> list[tuple[int, float]]:
        """(frame, ts) of each FIN this endpoint sent (at most ``LIST_CAP``)."""
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


# What few endpoints ever need, in one object made on first use (``Endpoint._more``): a held
# connection's endpoint pays one pointer for these nine.  Numbers, tuples, lists and arrays
# of numbers only: no_gc.
@cython.no_gc
@cython.cclass
class EndpointMore:
    """The rarely set fields of an :class:`Endpoint` (each read there under its name)."""

    if not cython.compiled and not TYPE_CHECKING:
        __slots__ = ("_fin_more", "_z_hole", "fin_ack_frame", "fin_delivered_frame",
                     "missed_bytes", "ooo", "rst_frames")

    def __init__(self) -> None:
        self.rst_frames: Sequence[int] = ()
        self.ooo: Sequence[tuple[int, int]] = ()
        self._fin_more: array[float] | None = None
        if cython.compiled:  # the first FIN's (frame, ts): Endpoint.fin_rec, bit 4 of _rec_in
            self._fin_0 = self._fin_1 = 0.0
        self.fin_delivered_frame = 0
        self.fin_ack_frame = 0
        self.missed_bytes = 0
        self._z_hole = -1  # (Endpoint._z_hole)


# What few connections ever need, in one object made on first use (``ConnRecord._x``): a
# held connection pays one pointer for these eight instead of eight.  Only lists, dicts,
# tuples and arrays of numbers and strings live here (no connection): no_gc.
@cython.no_gc
@cython.cclass
class ConnExtra:
    """The rarely set fields of a :class:`ConnRecord` (each read there under its name)."""

    if not cython.compiled and not TYPE_CHECKING:
        __slots__ = ("_resets", "_time_wait", "_tr", "port_reuse", "vlan_b", "z_base",
                     "z_expire_more", "z_rows")

    def __init__(self) -> None:
        self.vlan_b: tuple[int, ...] | None = None
        self._tr: array[float] | None = None
        self._resets: list[dict[str, Any]] | None = None
        self._time_wait: list[tuple[bool, int, float]] | None = None
        self.port_reuse: dict[str, Any] | None = None
        self.z_expire_more: list[float] | None = None
        self.z_base: tuple[int, int, int, int] | None = None
        self.z_rows: list[dict[str, object]] | None = None


@cython.cclass
class ConnRecord:
    """The data of one connection incarnation: two endpoints, what happened, the Zeek reading.

    ``a`` is the endpoint that sent the first segment; ``orig_is_a`` says whether it is the
    originator (roles follow Zeek, including its flips).  Everything a report needs is
    recorded here as facts with frame numbers; outcomes are derived in :mod:`.verdict`.
    :class:`.tracker.Connection` extends it with the per-segment orchestration.
    """

    # (not TYPE_CHECKING: mypy would check every C field of the compiled class against the
    # interpreted slots, which leave out those only the compiled class uses)
    if not cython.compiled and not TYPE_CHECKING:
        __slots__ = (
            "_anomalies", "_events", "_hsa_frame", "_hsa_ts", "_steady_ok", "_trp", "_x", "a",
            "b",
            "config", "fin_crossed", "first_frame", "first_ts", "hist_seen",
            "history", "id", "last_frame", "last_ts", "orig_is_a", "prev",
            "roles_inferred", "seq", "sim_open", "sink", "vlan", "z_active",
            "z_attempt", "z_delete", "z_expire0", "z_life",
            "z_n_expire", "z_row_start", "z_swap", "zeek_last_ts",
        )

    def __init__(self, conn_id: int, seg: Segment, config: Any, sink: Any) -> None:
        self._init(conn_id, seg, config, sink)

    @cython.cfunc
    def _init(self, conn_id: cython.longlong, seg: Any, config: Any, sink: Any) -> cython.void:
        """What ``__init__`` sets: a C method, so a subclass's ``__init__`` (the tracker's
        Connection) sets up the record with a C call."""
        self.id = conn_id
        self.config = config
        self.sink = sink
        self.vlan = seg.vlan
        # the rarely set fields (ConnExtra: vlan_b, the VLAN ids of endpoint b's segments when
        # they differ from a's; transitions past the fourth; resets; TIME-WAIT entries; the
        # port reuse record; Zeek's later ExpireTimer chains, row base and finished rows)
        self._x = None
        self.a = Endpoint(seg.src, seg.sport, True)
        self.b = Endpoint(seg.dst, seg.dport, False)
        self.orig_is_a = True
        self.roles_inferred = False
        self.first_ts = self.last_ts = self.zeek_last_ts = seg.ts
        # Zeek's reading: its connection lifecycle (timers, reuse, the rows it would log;
        # see history.py), started on first use, and whether its current row names
        # orig/resp the other way round
        self.z_life = False
        self.z_active = False
        self.z_attempt = self.z_delete = self.z_row_start = self.z_expire0 = 0.0
        self.z_n_expire = 0
        self.z_swap = False
        self.first_frame = self.last_frame = seg.frame
        # transitions as (code, ts) doubles, the code holding frame, endpoint and both states
        # (exact: frames stay below 2**44): the first four in C fields (an open connection
        # has made four: two per endpoint), the rest in a packed array made for the fifth
        # (interpreted: all in the array); see _tr_add and the ``transitions`` view
        if cython.compiled:
            self._tr_n = 0
            self._tr0 = self._tr1 = self._tr2 = self._tr3 = 0.0
            self._tr4 = self._tr5 = self._tr6 = self._tr7 = 0.0
        else:  # interpreted: the record's own array (a ConnExtra for every connection would
            # cost its eight slots each: the pure engine's streaming memory bound)
            self._trp = array("d")
        # created on first use: most connections never need them (keeps memory per
        # connection small; the properties below read them as empty)
        self._anomalies: dict[str, int] | None = None
        self._events: list[tuple[str, int, float, bool, str]] | None = None
        self.history = ""
        self.hist_seen = 0
        # (frame, ts) of the ACK that completed the handshake: the handshake_ack view
        self._hsa_frame = -1
        self._hsa_ts = 0.0
        # the previous incarnation of the 4-tuple while it is still alive (the flow table
        # routes its late segments to it: a challenge ACK, a RST, a retransmitted FIN)
        self.prev: Connection | None = None
        self.sim_open = False
        self.fin_crossed = False
        # both endpoints synchronized with nothing pending: only the orchestrator's general
        # path can change that, so it re-evaluates it there, once per segment
        self._steady_ok = False
        self.seq: Any = None  # the sequence analysis (None: the detector is off)

    # -- the rarely set fields, kept in ``_x`` (ConnExtra, made on first use) ----------------
    @cython.cfunc
    def _extra(self) -> ConnExtra:
        """``_x``, made on first use."""
        x: ConnExtra = self._x
        if x is None:
            x = self._x = ConnExtra()
        return x

    @property
    def vlan_b(self) -> tuple[int, ...] | None:
        """The VLAN ids of endpoint b's segments when they differ from a's (None: the same)."""
        x: ConnExtra = self._x
        return None if x is None else x.vlan_b

    @vlan_b.setter
    def vlan_b(self, v: tuple[int, ...] | None) -> None:
        if v is not None or self._x is not None:
            self._extra().vlan_b = v

    @property
    def _tr(self) -> array[float] | None:
        """The state changes past the fourth (packed (code, ts) doubles), None: none."""
        x: ConnExtra = self._x
        return None if x is None else x._tr

    @_tr.setter
    def _tr(self, v: array[float] | None) -> None:
        if v is not None or self._x is not None:
            self._extra()._tr = v

    @property
    def _resets(self) -> list[dict[str, Any]] | None:
        """The RST records (the ``resets`` view), None: none."""
        x: ConnExtra = self._x
        return None if x is None else x._resets

    @_resets.setter
    def _resets(self, v: list[dict[str, Any]] | None) -> None:
        if v is not None or self._x is not None:
            self._extra()._resets = v

    @property
    def _time_wait(self) -> list[tuple[bool, int, float]] | None:
        """The TIME-WAIT entries (the ``time_wait`` view), None: none."""
        x: ConnExtra = self._x
        return None if x is None else x._time_wait

    @_time_wait.setter
    def _time_wait(self, v: list[tuple[bool, int, float]] | None) -> None:
        if v is not None or self._x is not None:
            self._extra()._time_wait = v

    @property
    def port_reuse(self) -> dict[str, Any] | None:
        """How this incarnation reused an earlier one's 4-tuple (flow table), None: it did not."""
        x: ConnExtra = self._x
        return None if x is None else x.port_reuse

    @port_reuse.setter
    def port_reuse(self, v: dict[str, Any] | None) -> None:
        if v is not None or self._x is not None:
            self._extra().port_reuse = v

    @property
    def z_expire_more(self) -> list[float] | None:
        """First times of Zeek's ExpireTimer chains past the first (history.py)."""
        x: ConnExtra = self._x
        return None if x is None else x.z_expire_more

    @z_expire_more.setter
    def z_expire_more(self, v: list[float] | None) -> None:
        if v is not None or self._x is not None:
            self._extra().z_expire_more = v

    @property
    def z_base(self) -> tuple[int, int, int, int] | None:
        """Our packet and byte counters when Zeek's current row began (None: zeros)."""
        x: ConnExtra = self._x
        return None if x is None else x.z_base

    @z_base.setter
    def z_base(self, v: tuple[int, int, int, int] | None) -> None:
        if v is not None or self._x is not None:
            self._extra().z_base = v

    @property
    def z_rows(self) -> list[dict[str, object]] | None:
        """Zeek's finished rows of this connection (None: none)."""
        x: ConnExtra = self._x
        return None if x is None else x.z_rows

    @z_rows.setter
    def z_rows(self, v: list[dict[str, object]] | None) -> None:
        if v is not None or self._x is not None:
            self._extra().z_rows = v

    # -- what happened (read-only views of lazily created records) --------------------------
    @property
    def handshake_ack(self) -> tuple[int, float] | None:
        """(frame, ts) of the ACK that completed the three-way handshake, None before it
        (two C fields: a tuple would cost 80 bytes a connection)."""
        if self._hsa_frame < 0:
            return None
        return (self._hsa_frame, self._hsa_ts)

    @handshake_ack.setter
    def handshake_ack(self, v: tuple[int, float] | None) -> None:
        if v is None:
            self._hsa_frame = -1
            self._hsa_ts = 0.0
        else:
            self._hsa_frame = v[0]
            self._hsa_ts = v[1]

    @cython.cfunc
    def _tr_add(self, code: cython.double, ts: cython.double) -> cython.void:
        """Record one state change (at most 64): ``code`` = frame << 9 | endpoint is a << 8
        | from-state index << 4 | to-state index (``STATES``)."""
        x: ConnExtra
        if not cython.compiled:  # interpreted, C fields would be float objects: the array
            trp = self._trp
            if len(trp) < 128:
                trp.append(code)
                trp.append(ts)
            return
        n: cython.int = self._tr_n
        if n >= 64:
            return
        self._tr_n = n + 1
        if n == 0:
            self._tr0 = code
            self._tr1 = ts
        elif n == 1:
            self._tr2 = code
            self._tr3 = ts
        elif n == 2:
            self._tr4 = code
            self._tr5 = ts
        elif n == 3:
            self._tr6 = code
            self._tr7 = ts
        else:
            x = self._extra()
            if x._tr is None:
                x._tr = array("d")
            x._tr.append(code)
            x._tr.append(ts)

    @property
    def transitions(self) -> list[tuple[int, float, bool, TcpState, TcpState]]:
        """(frame, ts, endpoint is a, from, to) for every recorded state change."""
        flat: list[float] = []
        if cython.compiled:
            flat = [self._tr0, self._tr1, self._tr2, self._tr3, self._tr4, self._tr5,
                    self._tr6, self._tr7][: 2 * min(self._tr_n, 4)]
        else:
            flat.extend(self._trp)
        if self._tr is not None:
            flat.extend(self._tr)
        out = []
        for i in range(0, len(flat), 2):
            c = int(flat[i])
            out.append((c >> 9, float(flat[i + 1]), bool(c >> 8 & 1), STATES[c >> 4 & 15],
                        STATES[c & 15]))
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

    def zeek_orig_state(self) -> int:
        """Zeek state of the current originator."""
        return self.orig.z_state

    def describe(self) -> str:
        """Short text for logs: ``orig -> resp``."""
        o, r = self.orig, self.resp
        return f"{format_endpoint(o.addr, o.port)} -> {format_endpoint(r.addr, r.port)}"
