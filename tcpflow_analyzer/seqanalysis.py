"""Sequence/acknowledgement analysis: retransmissions, reordering, loss, windows, probes.

The tracker calls :meth:`SeqAnalysis.process` for every segment of a connection after its
state machines have run; findings become anomalies through ``Connection.anomaly`` with the
frame that proves them.  There are two readings, chosen by ``TrackerConfig.semantics``.

``default`` -- what really happened
-----------------------------------
Per direction we keep SND.NXT as the capture saw it (``nxt``), the peer's highest ACK
(SND.UNA), the peer's advertised window and right edge, its duplicate-ACK count and SACK
information, the sequence holes seen below ``nxt`` and the previous segment (for copies).
Each rule below says where Wireshark goes wrong and which evidence we use instead.

* ``duplicate_segment`` -- a copy made by the network, not by the sender: the same seq, TCP
  checksum (it covers ack, flags, window, options such as TSval and SACK, and the payload,
  RFC 9293 §3.1) and IPv4 ID as the previous segment of that direction, close in time.  A
  sender that retransmits gives the segment a new IPv4 ID (RFC 6864 §4.1) and usually a new
  TSval (RFC 7323 §4.1), so with a non-zero IPv4 ID a copy within 1 s is a duplicate; without
  an ID (IPv6, or ID 0) it must arrive sooner than half a round trip, since no sender can
  react faster (Wireshark calls these retransmissions).  A copy changes no other state.
* ``lost_segment`` -- bytes below a later segment that the capture never saw.  Decided late,
  on the frame that revealed the gap: when the peer ACKs over the hole, when the hole is filled
  by a *retransmission*, or at the end of the connection.  A hole filled by the original
  segment is reordering, not loss (Wireshark flags every gap at once).
* ``out_of_order`` -- a hole filled by the original transmission arriving late.  Evidence, in
  order: a TSval older than the TSval of the segment that revealed the gap (RFC 7323 §3: the
  clock is monotonic, RFC 3522 uses it the same way), an older IPv4 ID when the sender's IDs
  increase, else timing: a fill sooner than half a round trip after the gap cannot be a
  reaction to loss.  Wireshark uses only timing (its iRTT), so a quick fast retransmission
  becomes "out-of-order" and a slow reordering a "retransmission".
* ``retransmission`` / ``fast_retransmission`` -- bytes the sender had already sent, sent
  again (or a hole filled by a newer transmission).  Fast when loss was signalled by the
  receiver's feedback (RFC 5681 §3.2, RFC 6675): at least two duplicate ACKs at this seq,
  SACK blocks above it, or the sender already in recovery (a NewReno partial ACK, RFC 6582);
  otherwise a timer fired (RTO, RFC 6298 §5, or a tail-loss probe, RFC 8985 §7).
  Retransmitted SYNs and FINs are the tracker's (``syn_/synack_/fin_retransmission``).
* ``spurious_retransmission`` -- in addition to one of the above, for a retransmission that
  was not needed: its data had already been acknowledged when it was seen, or the receiver
  later reported it with a D-SACK block (RFC 2883 §4, RFC 3708).  The D-SACK case is recorded
  on the retransmission's frame when the D-SACK arrives.
* ``keep_alive`` / ``zero_window_probe`` -- a 0/1-byte segment at SND.UNA-1 is a keep-alive
  (RFC 9293 §3.8.4) unless the peer's window is zero: then it is a zero-window probe in the
  Linux style (``tcp_xmit_probe_skb``); Wireshark calls the latter a keep-alive.  One byte at
  SND.NXT into a zero window is an RFC 9293 §3.8.6.1 probe; it does not advance SND.NXT.
* ``keep_alive_ack`` / ``zero_window_probe_ack`` -- the peer's next segment, a pure ACK.
* ``duplicate_ack`` -- RFC 5681 §2: pure ACK (no data, no SYN/FIN/RST), ack equal to the
  highest ACK, window unchanged, *and data outstanding* (Wireshark does not require the last
  condition); probe answers and network copies are not duplicate ACKs.  Detail ``#n``.
* ``zero_window`` -- the receiver closed its window (the first zero window after a non-zero
  one; repeats of the same stall are not counted again; RSTs and SYNs never count).
* ``window_update`` -- pure ACK that keeps the ACK number and opens the window.
  ``window_shrink`` -- the right edge (ACK + window << scale) moved left by at least one
  scale unit (RFC 9293 §3.8.6, RFC 7323 §2.4); with the same ACK any smaller raw window is a
  shrink, otherwise the scale must be known.
* ``window_full`` -- data ending exactly at the peer's latest right edge (needs the scale);
  ``seq_out_of_window`` -- data beyond any right edge the peer advertised (RFC 9293
  §3.10.7.4 acceptability test), zero-window probes excepted, reported once the peer's
  answer (half a round trip later) does not acknowledge it: a peer that takes the bytes
  shows that our view of its window was wrong (missed update, unknown scale).
* ``sack`` / ``dsack`` -- an ACK carrying SACK blocks (RFC 2018) / a D-SACK first block (below
  the cumulative ACK or inside the second block, RFC 2883 §4).
* ``tfo_cookie_request`` -- SYN with an empty TFO option; ``tfo_syn_data`` -- SYN with data and
  a cookie (RFC 7413), recorded on the SYN with whether the SYN-ACK accepted it (acks
  ISN+1+len) or ignored it (acks ISN+1; the client re-sends the data, which is then a
  retransmission).  A SYN-ACK acking anything else is not TFO (Wireshark says "accepting TFO
  data"); the tracker reports it as ``bad_synack_ack``.  ``syn_with_data`` -- SYN payload
  without a cookie.
* ``challenge_ack`` -- RFC 5961: the receiver's first segment after an in-window but inexact
  RST (§3.2), or after a SYN on a synchronized connection (§4.2), is a pure ACK.

``wireshark`` -- tshark's ``tcp.analysis`` flags
------------------------------------------------
:class:`_WsFlow` replays ``tcp_analyze_sequence_number`` of Wireshark 4.0 rule for rule (see
``docs/anomalies.md``): raw windows, 0 as
"unknown" for nextseq/lastack/maxseqtobeacked, the 3 ms / iRTT out-of-order threshold, the
20 ms fast-retransmission window, ``lastsegmentflags``.  The ACKed-unseen rule of 4.0.17 was
reconstructed from its output on probe captures (``tests/test_seqanalysis_wireshark.py``).
Fast and spurious retransmissions are emitted under their own name only (tshark also sets
plain ``retransmission`` on them).  ACKed-unseen follows tshark's rule here (``ws_ack_lost``;
the tracker reports its own only in the default reading); reused-ports is the flow table's.

Verdicts that need later packets (a hole never filled, a TFO SYN without SYN-ACK, a stall
still open) are settled by :meth:`SeqAnalysis.finish`; the measurements
(:meth:`SeqAnalysis.measurements`, which calls it) always come from the default reading.
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, Any

from . import segment as _segment

if TYPE_CHECKING:  # mypy reads the stand-in's signatures
    from tcpflow_analyzer import _cython as cython

    from .segment import Segment
    from .tracker import Connection, TrackerConfig
else:
    try:
        import cython  # compiled: Cython's directives; interpreted: Cython's Shadow module
    except ModuleNotFoundError:  # no Cython at all: the package's stand-in (_cython.py)
        from tcpflow_analyzer import _cython as cython

if not cython.compiled:  # compiled, seqanalysis.pxd cimports these (C calls)
    from .rounding import round_us
    from .seqnum import seq_add, seq_diff

    rint = round  # libc's rint rounds half to even, as round() does

COMPILED: bool = cython.compiled
"""True when this module runs as a compiled extension (``tcpflow-analyzer --version``)."""

# The flag bits as C constants (segment.py's values; checked below): an undeclared module
# constant would be a Python object, and every ``flags & SYN`` a Python operation.
_FIN = cython.declare(cython.int, 0x01)
_SYN = cython.declare(cython.int, 0x02)
_RST = cython.declare(cython.int, 0x04)
_ACK = cython.declare(cython.int, 0x10)
_SF = cython.declare(cython.int, 0x03)
_SFR = cython.declare(cython.int, 0x07)
_ASFR = cython.declare(cython.int, 0x17)
if (_FIN, _SYN, _RST, _ACK) != (_segment.FIN, _segment.SYN, _segment.RST, _segment.ACK):
    raise ImportError("seqanalysis: TCP flag constants disagree with segment.py")

#: In wireshark mode, report ``ack_lost_segment`` by tshark's rule (the tracker reports
#: its own, RFC-minded one only in the default semantics).  Read at run time.
WS_ACK_LOST = True

_SYNACKS_MAX = cython.declare(cython.Py_ssize_t, 32)
#: RFC 5681 §3.2 DupThresh is 3; like Wireshark and Linux (RACK) we accept 2 dup ACKs.
_FAST_DUPACKS = cython.declare(cython.uint, 2)
#: an IPv4 copy with the same non-zero ID within this time is a network duplicate
_DUP_IPID_S = cython.declare(cython.double, 1.0)
#: without a usable RTT, a copy / a hole fill sooner than this is the network's doing
_FALLBACK_REACT_S = cython.declare(cython.double, 0.003)
_MAX_HOLES = cython.declare(cython.Py_ssize_t, 8)
_MAX_RETX = cython.declare(cython.Py_ssize_t, 8)
#: at most this many RTT samples are kept per direction (evenly strided; see _rtt_add)
_RTT_KEEP = cython.declare(cython.Py_ssize_t, 32)
_CHALLENGE_S = cython.declare(cython.double, 1.0)
_QUARTER = cython.declare(cython.longlong, 0x40000000)  # 2**30: "plausibly in flight"
_U32 = cython.declare(cython.longlong, 0xFFFFFFFF)  # Wireshark's 32-bit window (not a seq)

# _Flow.known: which optional sequence-number fields hold a value (unset = Python's None
# in the reading before it was typed; a 32-bit field has no spare value for "unknown")
_K_ISN = cython.declare(cython.uint, 0x001)
_K_NXT = cython.declare(cython.uint, 0x002)
_K_MAX_ACK = cython.declare(cython.uint, 0x004)
_K_ACK = cython.declare(cython.uint, 0x008)
_K_RLAST = cython.declare(cython.uint, 0x010)
_K_RMAX = cython.declare(cython.uint, 0x020)
_K_RNS = cython.declare(cython.uint, 0x040)
_K_SACK = cython.declare(cython.uint, 0x080)
_K_REC = cython.declare(cython.uint, 0x100)
_K_ZWP = cython.declare(cython.uint, 0x200)
_K_RTT = cython.declare(cython.uint, 0x400)
_K_ALL = cython.declare(cython.uint, 0x7FF)

# Wireshark TCP_A_* bits (packet-tcp.c)
_W_RETRANS = cython.declare(cython.int, 0x0001)
_W_LOST = cython.declare(cython.int, 0x0002)
_W_ACKLOST = cython.declare(cython.int, 0x0004)
_W_KA = cython.declare(cython.int, 0x0008)
_W_DUP = cython.declare(cython.int, 0x0010)
_W_ZW = cython.declare(cython.int, 0x0020)
_W_ZWP = cython.declare(cython.int, 0x0040)
_W_ZWPA = cython.declare(cython.int, 0x0080)
_W_KAA = cython.declare(cython.int, 0x0100)
_W_OOO = cython.declare(cython.int, 0x0200)
_W_FAST = cython.declare(cython.int, 0x0400)
_W_WU = cython.declare(cython.int, 0x0800)
_W_WF = cython.declare(cython.int, 0x1000)
_W_SPURIOUS = cython.declare(cython.int, 0x4000)
_WS_NAMES = (
    (0x0040, "zero_window_probe"), (0x0020, "zero_window"), (0x0002, "lost_segment"),
    (0x0008, "keep_alive"), (0x0800, "window_update"), (0x1000, "window_full"),
    (0x0100, "keep_alive_ack"), (0x0080, "zero_window_probe_ack"), (0x0010, "duplicate_ack"),
    (0x4000, "spurious_retransmission"), (0x0400, "fast_retransmission"),
    (0x0200, "out_of_order"), (0x0001, "retransmission"),
)


# _Flow, _WsFlow and SeqAnalysis hold numbers, arrays, lists of numbers and segments, never
# a connection: no reference cycle can pass through them, so no_gc spares each the
# 16-byte GC header (bench/memory.py).
@cython.no_gc
@cython.cclass
class _Flow:
    """Default-reading state of the bytes one endpoint sends, plus what it advertises.

    ``nxt`` is SND.NXT as seen, ``max_ack``/``ack`` the highest / latest ACK this endpoint
    sent (the peer's SND.UNA), ``right_*`` its advertised right edges (latest, highest,
    latest outside the handshake), ``holes`` unseen ranges below ``nxt``
    (``[start, end, gap segment, its TSval, its IP ID or -1, its ts, lost reported]``),
    ``retx`` recent retransmissions awaiting a D-SACK, ``p_*`` its previous segment (seq,
    TCP checksum, IP ID, ts, frame: plain numbers, so no segment is kept alive).

    Compiled, every number is a C field (``seqanalysis.pxd``): sequence numbers 32-bit
    unsigned, with the bit of ``known`` (``_K_*``) saying whether an optional one is set;
    ``win`` -1, ``shift`` -1 and ``flight_max`` -1 mean unknown; ``syn_ws`` -1 no SYN seen,
    -2 a SYN without the window-scale option.  The RTT samples live in ``rtt0``/``rtt1``
    until a third one comes, then in an ``array('d')`` of at most ``_RTT_KEEP``.

    What a direction of a healthy connection never needs (holes, retransmissions, RSTs,
    zero windows, SACK and recovery episodes, the third RTT sample: :class:`_FlowMore`) sits
    in ``more``, made on first use by :func:`_more`: a held connection pays one pointer for
    it (``bench/memory.py --held``).  The properties below read those fields as before.
    """

    if not cython.compiled:
        __slots__ = (
            "ack", "ack_frame", "data_bytes", "dupacks", "flight_max", "isn", "known",
            "last_frame", "max_ack", "more", "nxt", "p_csum", "p_frame", "p_ipid",
            "p_seq", "p_ts", "probe", "right_last", "right_max", "right_ns", "rtt0", "rtt1",
            "rtt_end", "rtt_max", "rtt_min", "rtt_n", "rtt_ts", "shift", "syn_len", "syn_ws",
            "win", "zw_on",
        )

    def __init__(self) -> None:
        self.known = 0
        self.isn = self.nxt = self.max_ack = self.ack = 0
        self.right_last = self.right_max = self.right_ns = 0
        self.rtt_end = 0
        self.syn_len = 0  # payload carried by its SYN
        self.syn_ws = -1  # -1: no SYN seen; -2: SYN without WS; else shift
        self.shift = -1
        self.ack_frame = 0
        self.win = -1
        self.dupacks = 0
        self.probe = 0  # 1 keep-alive, 2 zero-window probe sent and not yet answered
        self.zw_on = 0  # its window is closed since more.zw_ts
        self.last_frame = 0
        self.p_seq = 0
        self.p_csum = -1  # no previous segment: no checksum matches
        self.p_frame = -1
        self.p_ipid = -2
        self.p_ts = 0.0
        self.rtt_ts = 0.0
        self.rtt0 = self.rtt1 = 0.0
        self.rtt_n = 0
        self.rtt_min = self.rtt_max = 0.0
        self.data_bytes = 0
        self.flight_max = -1
        self.more: _FlowMore | None = None

    # the rarely set fields, read through ``more`` (tests and tools read them by name)
    @property
    def rtt(self) -> array[float] | None:
        """The RTT samples kept past the second (None: at most two, in rtt0/rtt1)."""
        return None if self.more is None else self.more.rtt

    @property
    def holes(self) -> list[list[Any]] | None:
        """The unseen ranges below ``nxt`` still tracked (None: none)."""
        return None if self.more is None else self.more.holes

    @property
    def retx_segs(self) -> int:
        """Retransmitted segments."""
        return 0 if self.more is None else self.more.retx_segs

    @property
    def retx_bytes(self) -> int:
        """Retransmitted bytes."""
        return 0 if self.more is None else self.more.retx_bytes

    @property
    def missed(self) -> int:
        """Bytes the capture missed (lost segments, data ACKed but never seen)."""
        return 0 if self.more is None else self.more.missed

    @property
    def stall_s(self) -> float:
        """Seconds this endpoint's data waited for the peer's zero window to reopen."""
        return 0.0 if self.more is None else self.more.stall_s


@cython.no_gc
@cython.cclass
class _FlowMore:
    """The rarely set fields of a :class:`_Flow` (its ``more``, made by :func:`_more`):
    ``holes``, ``retx``, ``rst``, ``oow``, the RTT array past two samples with its stride,
    ``sack_hi`` / ``recover`` / ``zwp`` (valid while their ``_Flow.known`` bit is set),
    ``zw_ts`` (valid while ``_Flow.zw_on``), the retransmission, stall and missed totals."""

    if not cython.compiled:
        __slots__ = (
            "holes", "missed", "oow", "recover", "retx", "retx_bytes", "retx_segs", "rst",
            "rtt", "rtt_skip", "rtt_stride", "sack_hi", "stall_s", "zw_ts", "zwp",
        )

    def __init__(self) -> None:
        self.sack_hi = self.recover = self.zwp = 0
        self.zw_ts = 0.0
        self.rst: tuple[int, int, float] | None = None  # (seq, frame, ts) of its last RST
        self.oow: tuple[Segment, int, int] | None = None  # beyond the window: seg, edge, over
        self.stall_s = 0.0
        self.holes: list[list[Any]] | None = None
        self.retx: list[list[Any]] | None = None
        self.rtt: array[float] | None = None
        self.rtt_stride = 1
        self.rtt_skip = 0
        self.retx_segs = self.retx_bytes = self.missed = 0


@cython.cfunc
def _more(f: _Flow) -> _FlowMore:
    """``f.more``, made on first use."""
    m: _FlowMore = f.more
    if m is None:
        m = f.more = _FlowMore()
    return m


@cython.no_gc
@cython.cclass
class _WsFlow:
    """Wireshark's per-direction ``tcp_flow_t`` / ``tcp_analyze_seq_flow_info_t`` fields;
    direction a's also holds the conversation's ``conv_*`` (``mru_syn``, ``first_rtt``,
    ``tfo_syn_data`` of ``tcp_analysis``, in integer microseconds)."""

    if not cython.compiled:
        __slots__ = (
            "base", "base_set", "conv_rtt", "conv_syn", "conv_tfo", "dupnum", "first_ack",
            "lastack", "lastack_t", "lastflags", "lastnondup", "maxack", "nextseq",
            "nextseq_t", "synacks", "win_scale", "window",
        )

    def __init__(self) -> None:
        self.base_set = False
        self.base = 0
        # (SYN-ACK segment, flagged reused_ports) of this direction, up to _SYNACKS_MAX:
        # ``tshark -2`` judges each against the direction's final base seq
        self.synacks: list[tuple[Segment, bool]] | None = None
        self.nextseq = 0  # 0 means "not known yet", exactly as in packet-tcp.c
        self.nextseq_t = 0
        self.maxack = 0  # maxseqtobeacked
        self.lastack = 0
        self.lastack_t = 0
        self.window = _U32  # G_MAXUINT32 until the first segment
        self.dupnum = 0
        self.lastnondup = 0
        self.lastflags = 0
        self.win_scale = -1  # -1 unknown, -2 not negotiated, else the shift
        self.first_ack = False
        self.conv_syn = self.conv_rtt = self.conv_tfo = 0


@cython.no_gc
@cython.cclass
class SeqAnalysis:
    """Per-connection sequence/ack analysis (see the module docstring).

    ``process`` is called by the tracker for every non-dropped segment, ``finish`` once at the
    end (idempotent; ``measurements`` calls it) to settle what could only be decided late.
    With ``semantics == "wireshark"`` it first runs tshark's reading (``_wa``/``_wb``), then
    the default one silently beside it for the measurements.
    """

    if not cython.compiled:
        __slots__ = (
            "_a", "_b", "_emit", "_finished", "_hs_on", "_hs_rtt", "_hs_syn", "_hs_synack",
            "_tfo", "_wa", "_wb", "_ws_state",
        )

    def __init__(self, config: TrackerConfig) -> None:
        self._a = _Flow()
        self._b = _Flow()
        wireshark = config.semantics == "wireshark"
        self._emit = not wireshark
        self._wa = _WsFlow() if wireshark else None
        self._wb = _WsFlow() if wireshark else None
        self._finished = False
        # handshake timing while it lasts (_hs_on): orig SYN ts, SYN-ACK ts; then its RTT
        self._hs_on = False
        self._hs_syn = self._hs_synack = 0.0
        self._hs_rtt = 0.0
        self._tfo: list[Any] | None = None  # [SYN segment, from_a, data length]
        self._ws_state = "unknown"

    # ------------------------------------------------------------------ entry points
    def finish(self, conn: Connection) -> None:
        """Settle what is decided at the end: unresolved holes (``lost_segment``), a TFO SYN
        without SYN-ACK, a window still closed.  Safe to call more than once."""
        s: _Flow
        peer: _Flow
        m: _FlowMore
        pm: _FlowMore
        w: _WsFlow | None
        from_a: cython.bint
        above: cython.longlong
        if self._finished:
            return
        self._finished = True
        for from_a in (True, False):
            s, peer = (self._a, self._b) if from_a else (self._b, self._a)
            m = s.more
            if m is not None and m.holes:
                for h in m.holes:
                    if h[6] == 0:
                        self._lost(conn, s, h, from_a, "never filled nor acknowledged")
                m.holes = None
            if s.zw_on:
                pm = _more(peer)  # (a local: Cython types ``f().x +=`` as an object)
                pm.stall_s += max(0.0, conn.last_ts - m.zw_ts)
                s.zw_on = 0
            if s.known & _K_MAX_ACK and peer.known & _K_NXT:
                above = seq_diff(s.max_ack, peer.nxt)
                if 0 < above < _QUARTER:
                    pm = _more(peer)
                    pm.missed += above
        for from_a in (True, False):
            w = self._wa if from_a else self._wb
            if w is not None and w.synacks:
                # tshark's second pass sees the final base seq: an earlier SYN-ACK with
                # another seq is reused_ports too
                for seg, flagged in w.synacks:
                    if not flagged and seg.seq != w.base:
                        _ws_say(conn, "reused_ports", seg, from_a,
                                "tshark -2: SYN-ACK seq differs from the final base seq")
                w.synacks = None
        if self._tfo is not None:
            syn, tfo_a, n = self._tfo
            self._tfo = None
            self._say(conn, "tfo_syn_data", syn, tfo_a,
                      f"{n} bytes with a cookie; no SYN-ACK seen")

    def measurements(self, conn: Connection) -> dict[str, Any]:
        """Per-direction measurements (data sent by ``orig`` / ``resp``); see docs/anomalies.md.

        Calls :meth:`finish` first, so call this before reading the connection's anomalies.
        """
        o: _Flow
        r: _Flow
        self.finish(conn)
        if conn.orig_is_a:
            o, r = self._a, self._b
        else:
            o, r = self._b, self._a
        return {
            "window_scale": {"status": self._ws_state,
                             "orig": o.shift if o.shift >= 0 else None,
                             "resp": r.shift if r.shift >= 0 else None},
            "orig": _direction_report(o),
            "resp": _direction_report(r),
        }

    # ------------------------------------------------------------------ helpers
    @cython.cfunc
    def _say(self, conn: Connection, code: str, seg: Segment, from_a: cython.bint,
             detail: str = "") -> cython.void:
        if self._emit:
            conn.anomaly(code, seg, conn.a if from_a else conn.b, detail)

    @cython.cfunc
    def _full_rtt(self) -> cython.double:
        """Best estimate of the end-to-end RTT (0.0 when unknown)."""
        if self._hs_rtt > 0.0:
            return self._hs_rtt
        a: _Flow = self._a
        b: _Flow = self._b
        if a.rtt_n and b.rtt_n:
            return a.rtt_min + b.rtt_min
        return 0.0

    @cython.cfunc
    def _react_s(self) -> cython.double:
        """Shortest time in which a sender can react to anything (half a round trip)."""
        rtt: cython.double = self._full_rtt()
        return rtt / 2 if rtt > 0.0 else _FALLBACK_REACT_S

    # ------------------------------------------------------------------ default reading
    @cython.ccall
    def process(self, conn: Connection, seg: Segment, from_a: cython.bint) -> cython.void:
        """Analyse one segment sent by endpoint a (``from_a``) or b (a C call from the
        compiled tracker)."""
        s: _Flow
        r: _Flow
        if self._wa is not None:
            self._ws_process(conn, seg, from_a)  # tshark's labels first
        if from_a:
            s = self._a
            r = self._b
        else:
            s = self._b
            r = self._a
        flags: cython.int = seg.flags
        seq: cython.longlong = seg.seq
        csum: cython.int = seg.tcp_csum
        frame: cython.longlong = seg.frame
        # a copy of the previous segment, made by the network?
        if seq == s.p_seq and csum == s.p_csum and self._same(s, seg):
            s.last_frame = frame
            self._say(conn, "duplicate_segment", seg, from_a,
                      f"copy of frame {s.p_frame} ({_ms(seg.ts - s.p_ts)} later)")
            return
        prev_ipid: cython.longlong = s.p_ipid
        s.p_seq = seq
        s.p_csum = csum
        s.p_ipid = seg.ip_id
        s.p_ts = seg.ts
        s.p_frame = frame
        if flags & _RST:
            _more(s).rst = (seq, frame, seg.ts)
            s.last_frame = frame
            return
        probe_answer: cython.int = r.probe  # the answer to the peer's keep-alive / probe
        if probe_answer:
            r.probe = 0
        rm: _FlowMore = r.more
        if rm is not None and rm.rst is not None:
            self._challenge(conn, seg, from_a, s, r)
        plen: cython.longlong = seg.plen
        if flags & _SYN:
            self._syn(conn, seg, from_a, s, r)
        elif not s.known & _K_NXT:
            self._first(conn, seg, from_a, s, r)
        elif plen or flags & _FIN:
            self._data(conn, seg, from_a, s, r, prev_ipid)
        elif seq != s.nxt:
            self._bare(conn, seg, from_a, s, r, prev_ipid)
        if flags & _ACK:
            ack: cython.longlong = seg.ack
            win: cython.longlong = seg.win
            if not (s.known & _K_MAX_ACK and ack == s.max_ack and s.known & _K_ACK
                    and ack == s.ack and win == s.win and win and (plen or flags & _FIN)
                    and not seg.sack):
                self._ack(conn, seg, from_a, s, r, probe_answer)
        s.last_frame = frame

    @cython.cfunc
    def _first(self, conn: Connection, seg: Segment, from_a: cython.bint, s: _Flow,
               r: _Flow) -> cython.void:
        """The first segment of an endpoint that sent no SYN (mid-stream pick-up)."""
        plen: cython.longlong = seg.plen
        flags: cython.int = seg.flags
        s.nxt = seq_add(seg.seq, plen + (1 if flags & _FIN else 0))
        s.known |= _K_NXT
        s.data_bytes += plen
        if (r.known & _K_ISN and not r.known & _K_MAX_ACK and not s.known & _K_ISN
                and not plen and flags & (_ACK | _FIN) == _ACK
                and seg.ack != seq_add(r.isn, 1)):
            # RFC 5961 §4.2: a synchronized endpoint answers a SYN with a challenge ACK
            self._say(conn, "challenge_ack", seg, from_a,
                      "ACK instead of SYN-ACK: the peer's SYN hit a synchronized connection")

    @cython.cfunc
    def _same(self, s: _Flow, seg: Segment) -> cython.bint:
        """The rest of the identity test (seq and checksum already match).  The checksum
        covers the whole TCP header (ACK, flags, window), options (TSval, SACK) and payload
        (RFC 9293 §3.1), so with the IPv4 ID and the timing this says "bit-identical
        copy"."""
        ip_id: cython.longlong = seg.ip_id
        if ip_id != s.p_ipid:
            return False
        dt: cython.double = seg.ts - s.p_ts
        if ip_id > 0:
            return 0.0 <= dt <= _DUP_IPID_S
        return 0.0 <= dt < self._react_s()

    def is_network_copy(self, seg: Segment, from_a: cython.bint) -> bool:
        """Whether ``seg`` is a bit-identical copy, made by the network, of the previous
        segment from the same endpoint (see ``duplicate_segment``).  Pure: the tracker may
        ask before it counts a SYN or FIN retransmission."""
        s: _Flow = self._a if from_a else self._b
        seq: cython.longlong = seg.seq
        csum: cython.int = seg.tcp_csum
        return seq == s.p_seq and csum == s.p_csum and self._same(s, seg)

    @cython.cfunc
    def _challenge(self, conn: Connection, seg: Segment, from_a: cython.bint, s: _Flow,
                   r: _Flow) -> cython.void:
        """RFC 5961 §3.2: the receiver of an in-window RST whose seq is not RCV.NXT answers
        with ``<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>`` instead of resetting."""
        rm: _FlowMore = r.more
        rst = rm.rst
        assert rst is not None
        rm.rst = None
        rst_seq: cython.longlong = rst[0]
        rst_frame: cython.longlong = rst[1]
        rst_ts: cython.double = rst[2]
        flags: cython.int = seg.flags
        if rst_frame < s.last_frame or seg.plen or flags & (_ACK | _SYN | _FIN | _RST) != _ACK \
                or seg.ts - rst_ts > _CHALLENGE_S:
            return
        ahead: cython.longlong = seq_diff(rst_seq, seg.ack)
        win: cython.longlong = seg.win
        window: cython.longlong = win << (s.shift if s.shift >= 0 else 14)
        if 0 < ahead < max(window, 1):
            self._say(conn, "challenge_ack", seg, from_a,
                      f"answers the RST of frame {rst_frame} ({ahead} bytes above RCV.NXT)")

    @cython.cfunc
    def _syn(self, conn: Connection, seg: Segment, from_a: cython.bint, s: _Flow,
             r: _Flow) -> cython.void:
        """SYN / SYN-ACK: ISN, window scale (RFC 7323 §2.2), TFO (RFC 7413), SYN payload."""
        flags: cython.int = seg.flags
        seq: cython.longlong = seg.seq
        plen: cython.longlong = seg.plen
        ts: cython.double = seg.ts
        opts = seg.syn_opts
        # syn_opts None: the snaplen cut the options (header-only capture), the shift is
        # unknown (-1, as for an uncaptured SYN), not "no window scale option" (-2)
        ws: cython.int = -1
        if opts is not None:
            wscale = opts.wscale
            ws = -2 if wscale is None else wscale
        first: cython.bint = not s.known & _K_ISN or s.isn != seq
        if first:
            s.isn = seq
            s.syn_len = plen
            s.nxt = seq_add(seq, 1 + plen)
            s.known |= _K_ISN | _K_NXT
            s.data_bytes += plen
            if not s.known & _K_RTT:
                s.rtt_end = s.nxt
                s.known |= _K_RTT
                s.rtt_ts = ts
        elif s.known & _K_RTT:
            s.known &= ~_K_RTT  # Karn: a retransmitted SYN gives no sample (RFC 6298 §3)
        s.syn_ws = ws
        if not flags & _ACK:
            if first and not self._hs_rtt:
                self._hs_on = True
                self._hs_syn = ts
                self._hs_synack = 0.0
            if ws == -2:
                self._set_scale(0, 0, "not_negotiated")
            if first:
                cookie = opts.tfo_cookie if opts is not None else None
                if cookie is not None and not cookie:
                    self._say(conn, "tfo_cookie_request", seg, from_a, "empty TFO cookie option")
                if plen:
                    if cookie:
                        self._tfo = [seg, from_a, plen]
                    else:
                        self._say(conn, "syn_with_data", seg, from_a,
                                  f"{plen} bytes on the SYN without a TFO cookie")
            return
        # SYN-ACK
        if self._hs_on and first:
            self._hs_synack = ts
        if ws == -1:
            pass  # the SYN-ACK's options were not captured: the scale stays unknown
        elif r.syn_ws == -1:  # the SYN was not captured: only the SYN-ACK's own shift is known
            if ws == -2:
                self._set_scale(0, 0, "not_negotiated")
            else:
                s.shift = ws
        elif ws == -2 or r.syn_ws == -2:
            self._set_scale(0, 0, "not_negotiated")
        else:
            s.shift = ws
            r.shift = r.syn_ws
            self._ws_state = "negotiated"
        if first and plen:
            self._say(conn, "syn_with_data", seg, from_a, f"{plen} bytes on the SYN-ACK")
        tfo = self._tfo
        if tfo is not None and tfo[1] != from_a:
            self._tfo = None
            syn, _, n = tfo
            got: cython.longlong = seq_diff(seg.ack, syn.seq)
            if got == n + 1:
                how = f"accepted by the SYN-ACK in frame {seg.frame}"
            elif got == 1:
                how = f"ignored by the SYN-ACK in frame {seg.frame} (acks ISN+1; data re-sent)"
            else:
                how = f"SYN-ACK in frame {seg.frame} acks ISN{got:+d}: neither accepted nor ignored"
            self._say(conn, "tfo_syn_data", syn, not from_a, f"{n} bytes with a cookie; {how}")

    @cython.cfunc
    def _set_scale(self, a: cython.int, b: cython.int, state: str) -> cython.void:
        self._a.shift = a
        self._b.shift = b
        self._ws_state = state

    @cython.cfunc
    def _bare(self, conn: Connection, seg: Segment, from_a: cython.bint, s: _Flow, r: _Flow,
              prev_ipid: cython.longlong) -> cython.void:
        """A segment without payload, SYN or FIN: keep-alive, Linux zero-window probe, gap."""
        seq: cython.longlong = seg.seq
        nxt: cython.longlong = s.nxt
        d: cython.longlong = seq_diff(seq, nxt)
        if d == -1 or (r.known & _K_MAX_ACK and seq_diff(seq, r.max_ack) == -1):
            self._probe_or_keepalive(conn, seg, from_a, s, r)
        elif d > 0:
            self._gap(conn, seg, from_a, s, r, nxt, seq, prev_ipid)
            s.nxt = seq

    @cython.cfunc
    def _probe_or_keepalive(self, conn: Connection, seg: Segment, from_a: cython.bint,
                            s: _Flow, r: _Flow) -> cython.void:
        if r.win == 0:
            s.probe = 2
            self._say(conn, "zero_window_probe", seg, from_a,
                      "at SND.UNA-1 (Linux style) into a zero window")
        else:
            s.probe = 1
            self._say(conn, "keep_alive", seg, from_a,
                      "seq SND.NXT-1" + (", 1 byte" if seg.plen else ""))

    @cython.cfunc
    def _data(self, conn: Connection, seg: Segment, from_a: cython.bint, s: _Flow, r: _Flow,
              prev_ipid: cython.longlong) -> cython.void:
        """A segment with payload and/or FIN (no SYN)."""
        seq: cython.longlong = seg.seq
        plen: cython.longlong = seg.plen
        flags: cython.int = seg.flags
        nxt: cython.longlong = s.nxt
        end_data: cython.longlong
        end: cython.longlong
        flight: cython.longlong
        over: cython.longlong
        m: _FlowMore
        s.data_bytes += plen
        if seq == nxt:  # in order: the common case
            if plen == 1 and r.win == 0 and not flags & _FIN:
                # RFC 9293 §3.8.6.1: the probe byte is not "sent" until it is accepted
                s.probe = 2
                _more(s).zwp = seq
                s.known |= _K_ZWP
                s.data_bytes -= 1
                self._say(conn, "zero_window_probe", seg, from_a, "1 byte at SND.NXT")
                return
            end_data = seq_add(seq, plen)
            end = seq_add(end_data, 1) if flags & _FIN else end_data
            s.nxt = end
            if not s.known & _K_RTT:
                s.rtt_end = end
                s.known |= _K_RTT
                s.rtt_ts = seg.ts
            if plen:
                if r.known & _K_MAX_ACK:
                    flight = seq_diff(end_data, r.max_ack)  # FlightSize (RFC 5681 §2)
                    if s.flight_max < flight < _QUARTER:
                        s.flight_max = flight
                if r.known & _K_RMAX:
                    over = seq_diff(end_data, r.right_max)
                    if over > 0:
                        m = _more(s)
                        if m.oow is None:  # judged by the receiver's answer (see _ack)
                            m.oow = (seg, r.right_max, over)
                    elif r.known & _K_RLAST and end_data == r.right_last:
                        self._say(conn, "window_full", seg, from_a,
                                  "fills the receiver's advertised window")
            return
        end_data = seq_add(seq, plen)
        end = seq_add(end_data, 1) if flags & _FIN else end_data
        d: cython.longlong = seq_diff(seq, nxt)
        if d > 0:
            # the capture missed data, maybe window updates too: no window verdicts here
            self._gap(conn, seg, from_a, s, r, nxt, seq, prev_ipid)
            s.nxt = end
            return
        # below SND.NXT
        if plen <= 1 and not flags & _SF and (d == -1 or (
                r.known & _K_MAX_ACK and seq_diff(seq, r.max_ack) == -1)):
            s.data_bytes -= plen
            self._probe_or_keepalive(conn, seg, from_a, s, r)
            return
        if not plen:
            return  # a bare FIN below SND.NXT: the tracker's fin_retransmission
        if seq_diff(end, nxt) > 0:
            s.nxt = end
        if s.known & _K_RTT and seq_diff(seq, s.rtt_end) < 0:
            s.known &= ~_K_RTT  # Karn's algorithm (RFC 6298 §3): no sample from resent data
        holes = s.more.holes if s.more is not None else None
        if holes:
            for h in holes:
                if seq_diff(seq, h[1]) < 0 and seq_diff(end_data, h[0]) > 0:
                    self._fill(conn, seg, from_a, s, r, h, end_data)
                    return
        self._resent(conn, seg, from_a, s, r, end_data, "")

    @cython.cfunc
    def _gap(self, conn: Connection, seg: Segment, from_a: cython.bint, s: _Flow, r: _Flow,
             start: cython.longlong, end: cython.longlong, prev_ipid: cython.longlong) -> cython.void:
        """Bytes [start, end) were never seen: remember the hole, decide later."""
        # the IP ID is evidence only if this sender numbers its datagrams in sequence
        ip_id: cython.longlong = seg.ip_id
        if not (ip_id > 0 and prev_ipid > 0 and 0 < ((ip_id - prev_ipid) & 0xFFFF) < 64):
            ip_id = -1
        hole = [start, end, seg, seg.tsval, ip_id, seg.ts, 0]
        s.known &= ~_K_RTT  # the timed segment's ACK may wait for the hole
        if r.known & _K_MAX_ACK and seq_diff(r.max_ack, start) > 0:
            # the receiver already acknowledged (part of) it: captured nowhere
            self._lost(conn, s, hole, from_a, "already acknowledged by the peer")
            if seq_diff(r.max_ack, end) >= 0:
                return
        m: _FlowMore = _more(s)
        holes = m.holes
        if holes is None:
            m.holes = holes = []
        elif len(holes) >= _MAX_HOLES:
            old = holes.pop(0)
            if old[6] == 0:
                self._lost(conn, s, old, from_a, "too many holes to track")
        holes.append(hole)

    @cython.cfunc
    def _lost(self, conn: Connection, s: _Flow, hole: list[Any], from_a: cython.bint,
              why: str) -> cython.void:
        if hole[6]:
            return
        hole[6] = 1
        n: cython.longlong = seq_diff(hole[1], hole[0])
        m: _FlowMore = _more(s)
        m.missed += n
        self._say(conn, "lost_segment", hole[2], from_a,
                  f"previous {n} bytes not captured ({why})")

    @cython.cfunc
    def _fill(self, conn: Connection, seg: Segment, from_a: cython.bint, s: _Flow, r: _Flow,
              hole: list[Any], end_data: cython.longlong) -> cython.void:
        """A segment covering never-seen bytes: the late original, or a retransmission."""
        seq: cython.longlong = seg.seq
        ip_id: cython.longlong = seg.ip_id
        verdict: cython.int = 0  # -1 original (reordered), +1 sent after the gap (retransmission)
        dts: cython.longlong
        did: cython.longlong
        how = ""
        if hole[6]:
            verdict = 1  # already known to be missing from the capture
            how = "hole already counted as lost"
        elif seg.tsval is not None and hole[3] is not None:
            dts = seq_diff(seg.tsval, hole[3])
            if dts:
                verdict = 1 if dts > 0 else -1
                how = "TSval"
        if not verdict and hole[4] >= 0 and ip_id > 0:
            did = ip_id - hole[4]
            did &= 0xFFFF
            if 0 < did < 1024 or did > 0x10000 - 1024:
                verdict = 1 if did < 0x8000 else -1
                how = "IP ID"
        if not verdict:
            verdict = -1 if seg.ts - hole[5] < self._react_s() else 1
            how = "timing"
        # shrink the hole by what this segment covers
        start: cython.longlong = hole[0]
        end: cython.longlong = hole[1]
        holes = s.more.holes
        assert holes is not None
        left: cython.bint = seq_diff(seq, start) > 0
        right: cython.bint = seq_diff(end, end_data) > 0
        if verdict < 0:
            self._say(conn, "out_of_order", seg, from_a,
                      f"sent before frame {hole[2].frame}, arrived after it ({how})")
        else:
            self._lost(conn, s, hole, from_a, "re-sent later")
        if left and right:
            holes.append([end_data, end, hole[2], hole[3], hole[4], hole[5], hole[6]])
            hole[1] = seq
        elif left:
            hole[1] = seq
        elif right:
            hole[0] = end_data
        else:
            holes.remove(hole)
        if verdict > 0:
            self._resent(conn, seg, from_a, s, r, end_data,
                         f"fills the gap before frame {hole[2].frame} ({how})")

    @cython.cfunc
    def _resent(self, conn: Connection, seg: Segment, from_a: cython.bint, s: _Flow,
                r: _Flow, end_data: cython.longlong, extra: str) -> cython.void:
        """Classify a retransmission: fast or timer-driven, spurious or needed."""
        seq: cython.longlong = seg.seq
        m: _FlowMore = _more(s)
        m.retx_segs += 1
        m.retx_bytes += seg.plen
        una_known: cython.bint = r.known & _K_MAX_ACK != 0
        una: cython.longlong = r.max_ack
        spurious: cython.bint = una_known and seq_diff(end_data, una) <= 0
        fast: cython.bint = False
        in_hole: cython.bint
        why = ""
        if not spurious and una_known:
            in_hole = seq_diff(seq, una) >= 0
            if in_hole and r.dupacks >= _FAST_DUPACKS and seq == una:
                fast = True
                why = f"after {r.dupacks} duplicate ACKs"
            elif in_hole and r.known & _K_SACK and seq_diff(r.more.sack_hi, seq) > 0:
                fast = True
                why = "SACK blocks above it"
            elif s.known & _K_REC and seq == una and seq_diff(una, m.recover) < 0:
                fast = True
                why = "partial ACK during recovery (RFC 6582)"
        if not why:
            if s.syn_len and s.known & _K_ISN and seq == seq_add(s.isn, 1):
                why = "re-sends data of the SYN, which the SYN-ACK did not acknowledge"
            else:
                why = "data already acknowledged" if spurious else "no loss signal: timeout"
        if extra:
            why = f"{why}; {extra}"
        if fast:
            if not s.known & _K_REC or (s.known & _K_NXT and seq_diff(s.nxt, m.recover) > 0):
                if s.known & _K_NXT:
                    m.recover = s.nxt
                    s.known |= _K_REC
                else:
                    s.known &= ~_K_REC
            self._say(conn, "fast_retransmission", seg, from_a, why)
        else:
            self._say(conn, "retransmission", seg, from_a, why)
        if spurious:
            self._say(conn, "spurious_retransmission", seg, from_a,
                      "data already acknowledged by the peer")
            return
        retx = m.retx
        if retx is None:
            m.retx = retx = []
        elif len(retx) >= _MAX_RETX:
            retx.pop(0)
        retx.append([seq, end_data, seg])

    @cython.cfunc
    def _ack(self, conn: Connection, seg: Segment, from_a: cython.bint, s: _Flow, r: _Flow,
             probe_answer: cython.int) -> cython.void:
        """What this segment acknowledges and advertises (S's view of R's bytes)."""
        ack: cython.longlong = seg.ack
        flags: cython.int = seg.flags
        win: cython.longlong = seg.win
        ts: cython.double = seg.ts
        ma_known: cython.bint = s.known & _K_MAX_ACK != 0
        ma: cython.longlong = s.max_ack
        pure: cython.bint = not seg.plen and not flags & _SF
        new_ack: cython.bint = False
        edge: cython.longlong
        if not ma_known or ack != ma:
            if not ma_known or seq_diff(ack, ma) > 0:
                if flags & _SYN and r.known & _K_NXT and seq_diff(ack, r.nxt) > 0:
                    pass  # a SYN-ACK acking unsent data (bad_synack_ack) acknowledges nothing
                else:
                    s.max_ack = ack
                    s.known |= _K_MAX_ACK
                    new_ack = True
                    s.dupacks = 0
                    s.ack_frame = seg.frame
                    if r.known & _K_RTT and seq_diff(ack, r.rtt_end) >= 0:
                        _rtt_add(r, ts - r.rtt_ts)  # a sample never taken from resent data
                        r.known &= ~_K_RTT
                    if self._hs_on or r.known & (_K_ZWP | _K_REC | _K_SACK) or (
                            r.more is not None and r.more.holes):
                        self._acked(conn, seg, from_a, s, r, ack)
        elif pure:
            if probe_answer == 1:
                self._say(conn, "keep_alive_ack", seg, from_a)
            elif probe_answer == 2:
                if not win:
                    self._say(conn, "zero_window_probe_ack", seg, from_a, "window still zero")
            elif win and win == s.win and r.known & _K_NXT and (
                    seq_diff(r.nxt, ack) > 0 or _is_dsack(seg.sack, ack)):
                # RFC 5681 §2: all five conditions of a duplicate acknowledgment; an ACK
                # reporting a duplicate segment with a D-SACK block (RFC 2883 §4) repeats
                # the last ACK as a duplicate too, even with nothing left outstanding
                s.dupacks += 1
                self._say(conn, "duplicate_ack", seg, from_a,
                          f"#{s.dupacks} (ACK of frame {s.ack_frame})")
        rm: _FlowMore = r.more
        oow = rm.oow if rm is not None else None
        if oow is not None:
            # R sent data beyond S's window: S's answer says whether S took it
            if seq_diff(ack, oow[1]) > 0:
                rm.oow = None  # accepted: our view of the window was wrong, or S is lenient
            elif ts - oow[0].ts >= self._react_s():
                rm.oow = None  # RFC 9293 §3.10.7.4: not acceptable, not acknowledged
                self._say(conn, "seq_out_of_window", oow[0], not from_a,
                          f"{oow[2]} bytes beyond the receiver's right window edge, "
                          f"not acknowledged (frame {seg.frame})")
        sack = seg.sack
        if sack:
            self._sack(conn, seg, from_a, s, r, sack, ack)
        elif new_ack:
            s.known &= ~_K_SACK
        # the advertised window (RFC 9293 §3.8.6; scaled per RFC 7323 §2.3 except on SYNs)
        prev_win: cython.longlong = s.win
        prev_ack_known: cython.bint = s.known & _K_ACK != 0
        prev_ack: cython.longlong = s.ack
        s.ack = ack
        s.known |= _K_ACK
        if flags & _SYN:
            s.win = -1  # a SYN's window is never scaled: no comparison across it
            edge = seq_add(ack, win)
            s.right_last = edge
            if not s.known & _K_RMAX or seq_diff(edge, s.right_max) > 0:
                s.right_max = edge
            s.known |= _K_RLAST | _K_RMAX
            return
        s.win = win
        if win == 0:
            if not s.zw_on:
                s.zw_on = 1
                _more(s).zw_ts = ts
                if probe_answer != 2:
                    self._say(conn, "zero_window", seg, from_a,
                              "receiver window closed" if prev_win > 0 else "")
        elif s.zw_on:
            rm = _more(r)
            rm.stall_s += ts - s.more.zw_ts
            s.zw_on = 0
        checked: cython.bint = False
        if prev_win >= 0 and win != prev_win and prev_ack_known and prev_ack == ack and pure:
            checked = True
            if win > prev_win:
                self._say(conn, "window_update", seg, from_a, f"window {prev_win} -> {win} (raw)")
            else:
                self._say(conn, "window_shrink", seg, from_a,
                          f"window {prev_win} -> {win} with the same ACK")
        shift: cython.int = s.shift
        if shift < 0:
            return
        edge = seq_add(ack, win << shift)
        if not s.known & _K_RNS or not s.known & _K_RMAX:
            s.right_ns = s.right_last = edge
            if not s.known & _K_RMAX or seq_diff(edge, s.right_max) > 0:
                s.right_max = edge
            s.known |= _K_RNS | _K_RLAST | _K_RMAX
            return
        old: cython.longlong = s.right_ns
        top: cython.longlong = s.right_max
        if edge == old:
            return
        moved: cython.longlong = seq_diff(edge, old)
        if moved < 0 and not checked and (new_ack or not ma_known or seq_diff(ack, ma) >= 0) \
                and moved <= -(1 << shift):
            self._say(conn, "window_shrink", seg, from_a,
                      f"right window edge moved left by {-moved} bytes")
        if (moved > 0 and old == top) or seq_diff(edge, top) > 0:
            s.right_max = edge
        s.right_ns = s.right_last = edge

    @cython.cfunc
    def _acked(self, conn: Connection, seg: Segment, from_a: cython.bint, s: _Flow, r: _Flow,
               ack: cython.longlong) -> cython.void:
        """S's ACK advanced, the rarer consequences: handshake RTT, an accepted probe byte,
        the end of R's recovery or SACK episode, R's holes."""
        flags: cython.int = seg.flags
        zwp: cython.longlong
        if self._hs_on and self._hs_synack > 0.0 and not flags & _SYN:
            self._hs_rtt = seg.ts - self._hs_syn
            self._hs_on = False
        if r.known & _K_ZWP:
            zwp = r.more.zwp
            r.known &= ~_K_ZWP
            if r.known & _K_NXT and r.nxt == zwp and ack == seq_add(zwp, 1):
                r.nxt = ack  # the receiver accepted the probe byte
                r.data_bytes += 1
        if r.known & _K_REC and seq_diff(ack, r.more.recover) >= 0:
            r.known &= ~_K_REC
        if r.known & _K_SACK and seq_diff(ack, r.more.sack_hi) >= 0:
            r.known &= ~_K_SACK
        holes = r.more.holes if r.more is not None else None
        if holes:
            for h in list(holes):
                if seq_diff(ack, h[0]) > 0:
                    self._lost(conn, r, h, not from_a, "acknowledged by the peer")
                    if seq_diff(ack, h[1]) >= 0:
                        holes.remove(h)

    @cython.cfunc
    def _sack(self, conn: Connection, seg: Segment, from_a: cython.bint, s: _Flow, r: _Flow,
              sack: Any, ack: cython.longlong) -> cython.void:
        """SACK / D-SACK blocks sent by S about R's bytes (RFC 2018, RFC 2883)."""
        first = sack[0]
        lo: cython.longlong = first[0]
        hi: cython.longlong = first[1]
        dsack: cython.bint = seq_diff(hi, ack) <= 0 or (
            len(sack) > 1 and seq_diff(lo, sack[1][0]) >= 0
            and seq_diff(hi, sack[1][1]) <= 0)
        blocks = sack[1:] if dsack else sack
        if dsack:
            self._say(conn, "dsack", seg, from_a,
                      f"duplicate of {seq_diff(hi, lo)} bytes reported")
            retx = r.more.retx if r.more is not None else None
            if retx:
                for rec in list(retx):
                    if seq_diff(rec[0], hi) < 0 and seq_diff(rec[1], lo) > 0:
                        retx.remove(rec)
                        self._say(conn, "spurious_retransmission", rec[2], not from_a,
                                  f"D-SACK in frame {seg.frame}: the receiver had it already")
        if blocks:
            top: cython.longlong = 0
            have: cython.bint = False
            right: cython.longlong
            for block in blocks:
                right = block[1]
                if not have or seq_diff(right, top) > 0:
                    top = right
                    have = True
            _more(s).sack_hi = top
            s.known |= _K_SACK
            self._say(conn, "sack", seg, from_a, f"{len(blocks)} block(s)")
        else:
            s.known &= ~_K_SACK

    # ------------------------------------------------------------------ Wireshark 4.0
    @cython.cfunc
    def _ws_process(self, conn: Connection, seg: Segment, from_a: cython.bint) -> cython.void:
        """``tcp_analyze_sequence_number`` and the bits of ``dissect_tcp`` around it."""
        fwd: _WsFlow
        rev: _WsFlow
        conv: _WsFlow = self._wa
        fwd, rev = (self._wa, self._wb) if from_a else (self._wb, self._wa)
        flags: cython.int = seg.flags
        seq: cython.longlong = seg.seq
        ack: cython.longlong = seg.ack
        seglen: cython.longlong = seg.plen
        window: cython.longlong = seg.win
        ts: cython.double = seg.ts
        now: cython.longlong  # integer microseconds, like nstime comparisons
        if cython.compiled:
            now = cython.cast(cython.longlong, rint(ts * 1_000_000))  # round half even
        else:
            now = round(ts * 1_000_000)
        ta: cython.int = 0
        dup_num: cython.longlong = 0
        dup_frame: cython.longlong = 0
        sh: cython.int
        nextseq: cython.longlong
        not_adv: cython.bint
        if flags & (_SYN | _ACK) == _SYN and fwd.base_set and seq == fwd.base:
            # dissect_tcp (4.0, Wireshark issue 17616): a SYN sent again with the base seq
            # first restores nextseq to maxseqtobeacked, so that a RST whose seq lay far
            # ahead (RFC 9293 §3.10.7.3: a RST answering an ACK takes that ACK as its seq)
            # does not turn the retried attempt's data and FIN into retransmissions
            fwd.nextseq = fwd.maxack
        if flags & (_SYN | _ACK) == _SYN | _ACK:
            # dissect_tcp (4.0.17, observed): a SYN-ACK whose seq differs from the
            # direction's base seq is reused_ports and becomes the new base (same tcp.stream)
            reused: cython.bint = fwd.base_set and seq != fwd.base
            if reused:
                fwd.base = seq
                _ws_say(conn, "reused_ports", seg, from_a,
                        "tshark: SYN-ACK with a new sequence number")
            if fwd.synacks is None:
                fwd.synacks = []
            if len(fwd.synacks) < _SYNACKS_MAX:
                fwd.synacks.append((seg, reused))
        if not fwd.base_set:
            fwd.base = seq if flags & _SYN else seq_add(seq, -1)
            fwd.base_set = True
        if not rev.base_set and flags & _ACK:
            rev.base = seq_add(ack, -1)
            rev.base_set = True
        nextseq0: cython.longlong = fwd.nextseq
        sfr: cython.int = flags & _SFR
        if seglen == 1 and seq == nextseq0 and rev.window == 0:
            ta |= _W_ZWP
        else:
            if window == 0 and not sfr:
                ta |= _W_ZW
            if nextseq0 and seq_diff(seq, nextseq0) > 0 and not flags & _RST:
                ta |= _W_LOST
            if seglen <= 1 and seq == seq_add(nextseq0, -1) and not sfr:
                ta |= _W_KA
            same: cython.bint = (seq == nextseq0 and ack == fwd.lastack and not sfr
                                 and seglen == 0)
            if same and window and window != fwd.window:
                ta |= _W_WU
            if seglen > 0 and rev.win_scale != -1 and not sfr:
                sh = 0 if rev.first_ack or rev.win_scale == -2 else rev.win_scale
                if seq_add(seq, seglen) == seq_add(rev.lastack, (rev.window << sh) & _U32):
                    ta |= _W_WF
            if same and window and window == fwd.window and rev.lastflags & _W_KA:
                ta |= _W_KAA
            elif same and window == 0 and fwd.window == 0 and rev.lastflags & _W_ZWP:
                ta |= _W_ZWPA
            elif same and window and window == fwd.window:
                fwd.dupnum = 1 if fwd.dupnum == -1 else fwd.dupnum + 1
                ta |= _W_DUP
                dup_num = fwd.dupnum
                dup_frame = fwd.lastnondup
        if ack != fwd.lastack:
            fwd.lastnondup = seg.frame
            fwd.dupnum = 0
        # ACKed unseen segment.  4.0.17 as observed (probe captures, docs/anomalies.md):
        # while the other side has a hole (nextseq beyond maxseqtobeacked) report and close
        # it; otherwise report once until that side's ACK changes (dupacknum -1 = reported)
        if rev.maxack and flags & _ACK and seq_diff(ack, rev.maxack) > 0:
            if seq_diff(rev.nextseq, rev.maxack) > 0:
                rev.maxack = rev.nextseq
                ta |= _W_ACKLOST
            else:
                if rev.dupnum == 0:
                    ta |= _W_ACKLOST
                rev.dupnum = -1
        sf: cython.longlong = 1 if flags & _SF else 0
        if (seglen > 0 or sf) and not ta & _W_KA:
            not_adv = nextseq0 != 0 and seq_diff(seq, nextseq0) < 0
            if seglen > 1 and seq_add(nextseq0, -1) == seq:
                not_adv = False
            if seglen > 0 and rev.lastack and seq_diff(seq_add(seq, seglen), rev.lastack) <= 0:
                ta |= _W_SPURIOUS
            elif not_adv and rev.dupnum >= 2 and rev.lastack == seq \
                    and 0 <= now - rev.lastack_t < 20_000:
                ta |= _W_FAST
            elif not_adv and 0 <= now - fwd.nextseq_t < (conv.conv_rtt or 3_000) \
                    and nextseq0 != seq_add(seq, seglen + sf):
                ta |= _W_OOO
            elif not_adv:
                ta |= _W_RETRANS
        nextseq = seq_add(seq, seglen + sf)
        if (not nextseq0 or seq_diff(nextseq, nextseq0) > 0) and not ta & _W_ZWP:
            fwd.nextseq = nextseq
            fwd.nextseq_t = now
        if (not fwd.maxack or seq == fwd.maxack) and not ta & _W_ZWP:
            fwd.maxack = fwd.nextseq
        fwd.window = window
        fwd.lastack = ack
        fwd.lastack_t = now
        fwd.lastflags = ta
        # after the analysis: options, SYN bookkeeping, iRTT, first ACK (dissect_tcp order)
        if flags & _SYN:
            opts = seg.syn_opts
            if opts is not None and opts.wscale is not None:
                fwd.win_scale = min(opts.wscale, 14)
            if fwd.win_scale == -1:
                fwd.win_scale = rev.win_scale = -2
            elif flags & _ACK and rev.win_scale == -2:
                fwd.win_scale = -2
            if not flags & _ACK:
                conv.conv_syn = now
                if opts is not None and opts.tfo_cookie:
                    conv.conv_tfo = seglen
                    _ws_say(conn, "tfo_syn_data", seg, from_a, "SYN with TFO cookie")
            elif seq_diff(ack, rev.base) > 1:
                _ws_say(conn, "tfo_syn_data", seg, from_a, "SYN-ACK accepting TFO data")
            elif conv.conv_tfo:
                _ws_say(conn, "tfo_syn_data", seg, from_a, "SYN-ACK ignoring TFO data")
            fwd.first_ack = True
        if flags & (_SYN | _ACK) == _ACK:
            if conv.conv_syn and not conv.conv_rtt:
                conv.conv_rtt = now - conv.conv_syn
            fwd.first_ack = False
        if ta & _W_ACKLOST and WS_ACK_LOST:
            _ws_say(conn, "ack_lost_segment", seg, from_a,
                    "tshark: ACKed segment that wasn't captured")
        if ta & ~_W_ACKLOST:
            for bit, name in _WS_NAMES:
                if ta & bit:
                    detail = ""
                    if bit == _W_DUP:
                        detail = f"#{dup_num}" + (f" (ACK of frame {dup_frame})"
                                                  if dup_frame else "")
                    _ws_say(conn, name, seg, from_a, detail)


def _ws_say(conn: Connection, code: str, seg: Segment, from_a: bool, detail: str) -> None:
    conn.anomaly(code, seg, conn.a if from_a else conn.b, detail)


def _is_dsack(sack: tuple[tuple[int, int], ...] | None, ack: int) -> bool:
    """Whether the first SACK block is a D-SACK (RFC 2883 §4): below the cumulative ACK, or
    inside the second block."""
    if not sack:
        return False
    lo, hi = sack[0]
    if seq_diff(hi, ack) <= 0:
        return True
    return len(sack) > 1 and seq_diff(lo, sack[1][0]) >= 0 and seq_diff(hi, sack[1][1]) <= 0


def _ms(dt: float) -> str:
    return f"{dt * 1000:.3f} ms"


@cython.cfunc
def _rtt_add(f: _Flow, sample: cython.double) -> cython.void:
    """Record an RTT sample: exact count/min/max, a bounded evenly-strided sample set.

    The first two samples sit in ``rtt0``/``rtt1`` (most connections never have more), the
    array is made for the third; until it holds ``_RTT_KEEP`` every sample is kept."""
    if sample < 0:
        return
    n: cython.uint = f.rtt_n
    if n == 0 or sample < f.rtt_min:
        f.rtt_min = sample
    if n == 0 or sample > f.rtt_max:
        f.rtt_max = sample
    f.rtt_n = n + 1
    m: _FlowMore = f.more
    if m is not None and m.rtt_skip:
        m.rtt_skip -= 1
        return
    keep = m.rtt if m is not None else None
    if keep is None:
        # stride 1 until the array fills: samples 1 and 2 are kept in C fields
        if n == 0:
            f.rtt0 = sample
            return
        if n == 1:
            f.rtt1 = sample
            return
        m = _more(f)
        m.rtt = keep = array("d", (f.rtt0, f.rtt1))
    keep.append(sample)
    m.rtt_skip = m.rtt_stride - 1
    if len(keep) >= _RTT_KEEP:  # keep every other sample, sample half as often from now on
        del keep[1::2]
        m.rtt_stride *= 2
        m.rtt_skip = m.rtt_stride - 1


@cython.cfunc
def _direction_report(f: _Flow) -> dict[str, Any]:
    """The measurements of the bytes one endpoint sent (``round_us`` is ``round(x, 6)``
    exactly, without its decimal round trip)."""
    n: cython.Py_ssize_t
    median: cython.double
    rtt: dict[str, Any]
    m: _FlowMore = f.more
    retx_segs: cython.uint = 0
    retx_bytes: cython.longlong = 0
    missed: cython.longlong = 0
    stall_s: cython.double = 0.0
    if m is not None:
        retx_segs = m.retx_segs
        retx_bytes = m.retx_bytes
        missed = m.missed
        stall_s = m.stall_s
    # each dict is built once, its values computed first: an entry set again is a second
    # insertion (3 of this function's 15, compiled)
    if f.rtt_n:
        if m is None or m.rtt is None:  # one or two samples, in rtt0/rtt1 (no sort needed)
            median = f.rtt0 if f.rtt_n == 1 else (f.rtt0 + f.rtt1) / 2
        else:
            vals = sorted(m.rtt)
            n = len(vals)
            median = vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2
        rtt = {"count": f.rtt_n, "min_s": round_us(f.rtt_min), "median_s": round_us(median),
               "max_s": round_us(f.rtt_max)}
    else:
        rtt = {"count": 0, "min_s": None, "median_s": None, "max_s": None}
    return {
        "rtt": rtt,
        "data_bytes": f.data_bytes,
        "retransmitted_segments": retx_segs,
        "retransmitted_bytes": retx_bytes,
        "retransmission_rate": round_us(retx_bytes / f.data_bytes) if f.data_bytes else 0.0,
        "max_bytes_in_flight": f.flight_max if f.flight_max >= 0 else None,
        "zero_window_stall_s": round_us(stall_s),
        "missed_bytes": missed,
    }
