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
from typing import TYPE_CHECKING, Any, ClassVar

from .segment import ACK, FIN, RST, SYN, Segment
from .seqnum import MASK, seq_diff

if TYPE_CHECKING:
    from .tracker import Connection, TrackerConfig

_SF = SYN | FIN
_SFR = SYN | FIN | RST
_SYNACKS_MAX = 32

#: RFC 5681 §3.2 DupThresh is 3; like Wireshark and Linux (RACK) we accept 2 dup ACKs.
_FAST_DUPACKS = 2
#: an IPv4 copy with the same non-zero ID within this time is a network duplicate
_DUP_IPID_S = 1.0
#: without a usable RTT, a copy / a hole fill sooner than this is the network's doing
_FALLBACK_REACT_S = 0.003
_MAX_HOLES = 8
_MAX_RETX = 8
_RTT_KEEP = 32
_CHALLENGE_S = 1.0

# Wireshark TCP_A_* bits (packet-tcp.c)
_W_RETRANS = 0x0001
_W_LOST = 0x0002
_W_ACKLOST = 0x0004
_W_KA = 0x0008
_W_DUP = 0x0010
_W_ZW = 0x0020
_W_ZWP = 0x0040
_W_ZWPA = 0x0080
_W_KAA = 0x0100
_W_OOO = 0x0200
_W_FAST = 0x0400
_W_WU = 0x0800
_W_WF = 0x1000
_W_SPURIOUS = 0x4000
_WS_NAMES = (
    (_W_ZWP, "zero_window_probe"), (_W_ZW, "zero_window"), (_W_LOST, "lost_segment"),
    (_W_KA, "keep_alive"), (_W_WU, "window_update"), (_W_WF, "window_full"),
    (_W_KAA, "keep_alive_ack"), (_W_ZWPA, "zero_window_probe_ack"), (_W_DUP, "duplicate_ack"),
    (_W_SPURIOUS, "spurious_retransmission"), (_W_FAST, "fast_retransmission"),
    (_W_OOO, "out_of_order"), (_W_RETRANS, "retransmission"),
)
_U32 = 0xFFFFFFFF


class _Flow:
    """Default-reading state of the bytes one endpoint sends, plus what it advertises.

    ``nxt`` is SND.NXT as seen, ``max_ack``/``ack`` the highest / latest ACK this endpoint
    sent (the peer's SND.UNA), ``right_*`` its advertised right edges (latest, highest,
    latest outside the handshake), ``holes`` unseen ranges below ``nxt``
    (``[start, end, gap segment, its TSval, its IP ID or -1, its ts, lost reported]``),
    ``retx`` recent retransmissions awaiting a D-SACK, ``p_*`` its previous segment (seq,
    TCP checksum, IP ID, ts, frame: plain numbers, so no segment is kept alive).
    Containers are created only when needed.
    """

    __slots__ = (
        "ack", "ack_frame", "data_bytes", "dupacks", "flight_max", "holes", "isn",
        "last_frame", "max_ack", "missed", "nxt", "oow", "p_csum", "p_frame", "p_ipid",
        "p_seq", "p_ts", "probe", "recover", "retx",
        "retx_bytes", "retx_segs", "right_last", "right_max", "right_ns", "rst", "rtt",
        "rtt_end", "rtt_max", "rtt_min", "rtt_n", "rtt_skip", "rtt_stride", "rtt_ts", "sack_hi",
        "shift", "stall_s", "syn_len", "syn_ws", "win", "zw_ts", "zwp",
    )

    def __init__(self) -> None:
        self.isn: int | None = None
        self.syn_len = 0  # payload carried by its SYN
        self.syn_ws: int | None = -1  # -1: no SYN seen; None: SYN without WS; else shift
        self.shift: int | None = None
        self.nxt: int | None = None
        self.max_ack: int | None = None
        self.ack: int | None = None
        self.ack_frame = 0
        self.win: int | None = None
        self.right_last: int | None = None
        self.right_max: int | None = None
        self.right_ns: int | None = None
        self.dupacks = 0
        self.sack_hi: int | None = None
        self.recover: int | None = None
        self.probe = 0  # 1 keep-alive, 2 zero-window probe sent and not yet answered
        self.zw_ts: float | None = None
        self.zwp: int | None = None  # seq of an RFC 9293 one-byte probe at SND.NXT
        self.rst: tuple[int, int, float] | None = None  # (seq, frame, ts) of its last RST
        self.oow: tuple[Segment, int, int] | None = None  # beyond the window: seg, edge, over
        self.stall_s = 0.0
        self.holes: list[list[Any]] | None = None
        self.retx: list[list[Any]] | None = None
        self.last_frame = 0
        self.p_seq = self.p_csum = self.p_frame = -1
        self.p_ipid = -2
        self.p_ts = 0.0
        self.rtt_end: int | None = None
        self.rtt_ts = 0.0
        self.rtt: array[float] | None = None
        self.rtt_n = 0
        self.rtt_min = self.rtt_max = 0.0
        self.rtt_stride = 1
        self.rtt_skip = 0
        self.data_bytes = self.retx_segs = self.retx_bytes = self.missed = 0
        self.flight_max = -1


class _WsFlow:
    """Wireshark's per-direction ``tcp_flow_t`` / ``tcp_analyze_seq_flow_info_t`` fields."""

    __slots__ = (
        "base", "base_set", "dupnum", "first_ack", "lastack", "lastack_t", "lastflags",
        "lastnondup", "maxack", "nextseq", "nextseq_t", "synacks", "win_scale", "window",
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


class SeqAnalysis:
    """Per-connection sequence/ack analysis (see the module docstring).

    ``process`` is called by the tracker for every non-dropped segment, ``finish`` once at the
    end (idempotent; ``measurements`` calls it) to settle what could only be decided late.
    """

    __slots__ = (
        "_a", "_b", "_emit", "_finished", "_hs", "_hs_rtt", "_tfo", "_wa", "_wb", "_ws",
        "_ws_state",
    )

    #: In wireshark mode, report ``ack_lost_segment`` by tshark's rule (the tracker reports
    #: its own, RFC-minded one only in the default semantics).
    ws_ack_lost: ClassVar[bool] = True

    def __new__(cls, config: TrackerConfig) -> SeqAnalysis:
        """The wireshark reading is a subclass, so the default per-segment path stays bare."""
        if cls is SeqAnalysis and config.semantics == "wireshark":
            cls = _WiresharkSeqAnalysis
        return object.__new__(cls)

    def __init__(self, config: TrackerConfig) -> None:
        self._a = _Flow()
        self._b = _Flow()
        wireshark = config.semantics == "wireshark"
        self._emit = not wireshark
        self._wa: _WsFlow | None = _WsFlow() if wireshark else None
        self._wb: _WsFlow | None = _WsFlow() if wireshark else None
        # [mru_syn_us, first_rtt_us, tfo_syn_data] of Wireshark's tcp_analysis
        self._ws: list[int] | None = [0, 0, 0] if wireshark else None
        self._finished = False
        # handshake timing while it lasts: [orig SYN ts, SYN-ACK ts]; then its full RTT
        self._hs: list[float] | None = None
        self._hs_rtt = 0.0
        self._tfo: list[Any] | None = None  # [SYN segment, from_a, data length]
        self._ws_state = "unknown"

    # ------------------------------------------------------------------ entry points
    def finish(self, conn: Connection) -> None:
        """Settle what is decided at the end: unresolved holes (``lost_segment``), a TFO SYN
        without SYN-ACK, a window still closed.  Safe to call more than once."""
        if self._finished:
            return
        self._finished = True
        for from_a, s in ((True, self._a), (False, self._b)):
            if s.holes:
                for h in s.holes:
                    if h[6] == 0:
                        self._lost(conn, s, h, from_a, "never filled nor acknowledged")
                s.holes = None
            if s.zw_ts is not None:
                peer = self._b if from_a else self._a
                peer.stall_s += max(0.0, conn.last_ts - s.zw_ts)
                s.zw_ts = None
            if s.max_ack is not None:
                peer = self._b if from_a else self._a
                if peer.nxt is not None:
                    above = seq_diff(s.max_ack, peer.nxt)
                    if 0 < above < 0x40000000:
                        peer.missed += above
        for from_a, w in ((True, self._wa), (False, self._wb)):
            if w is not None and w.synacks:
                # tshark's second pass sees the final base seq: an earlier SYN-ACK with
                # another seq is reused_ports too
                for seg, flagged in w.synacks:
                    if not flagged and seg.seq != w.base:
                        self._ws_say(conn, "reused_ports", seg, from_a,
                                     "tshark -2: SYN-ACK seq differs from the final base seq")
                w.synacks = None
        if self._tfo is not None:
            syn, from_a, n = self._tfo
            self._tfo = None
            self._say(conn, "tfo_syn_data", syn, from_a,
                      f"{n} bytes with a cookie; no SYN-ACK seen")

    def measurements(self, conn: Connection) -> dict[str, Any]:
        """Per-direction measurements (data sent by ``orig`` / ``resp``); see docs/anomalies.md.

        Calls :meth:`finish` first, so call this before reading the connection's anomalies.
        """
        self.finish(conn)
        orig_a = conn.orig_is_a
        o, r = (self._a, self._b) if orig_a else (self._b, self._a)
        return {
            "window_scale": {"status": self._ws_state, "orig": o.shift, "resp": r.shift},
            "orig": _direction_report(o),
            "resp": _direction_report(r),
        }

    # ------------------------------------------------------------------ helpers
    def _say(self, conn: Connection, code: str, seg: Segment, from_a: bool,
             detail: str = "") -> None:
        if self._emit:
            conn.anomaly(code, seg, conn.a if from_a else conn.b, detail)

    def _full_rtt(self) -> float:
        """Best estimate of the end-to-end RTT (0.0 when unknown)."""
        if self._hs_rtt > 0.0:
            return self._hs_rtt
        a, b = self._a, self._b
        if a.rtt_n and b.rtt_n:
            return a.rtt_min + b.rtt_min
        return 0.0

    def _react_s(self) -> float:
        """Shortest time in which a sender can react to anything (half a round trip)."""
        rtt = self._full_rtt()
        return rtt / 2 if rtt > 0.0 else _FALLBACK_REACT_S

    # ------------------------------------------------------------------ default reading
    def process(self, conn: Connection, seg: Segment, from_a: bool) -> None:
        """Analyse one segment sent by endpoint a (``from_a``) or b."""
        if from_a:
            s = self._a
            r = self._b
        else:
            s = self._b
            r = self._a
        flags = seg.flags
        seq = seg.seq
        csum = seg.tcp_csum
        # a copy of the previous segment, made by the network?
        if seq == s.p_seq and csum == s.p_csum and self._same(s, seg):
            s.last_frame = seg.frame
            self._say(conn, "duplicate_segment", seg, from_a,
                      f"copy of frame {s.p_frame} ({_ms(seg.ts - s.p_ts)} later)")
            return
        prev_ipid = s.p_ipid
        s.p_seq = seq
        s.p_csum = csum
        s.p_ipid = seg.ip_id
        s.p_ts = seg.ts
        s.p_frame = seg.frame
        if flags & RST:
            s.rst = (seg.seq, seg.frame, seg.ts)
            s.last_frame = seg.frame
            return
        probe_answer = r.probe  # the answer to the peer's keep-alive / zero-window probe
        if probe_answer:
            r.probe = 0
        if r.rst is not None:
            self._challenge(conn, seg, from_a, s, r)
        if flags & SYN:
            self._syn(conn, seg, from_a, s, r)
        elif s.nxt is None:
            self._first(conn, seg, from_a, s, r)
        elif seg.plen or flags & FIN:
            self._data(conn, seg, from_a, s, r, prev_ipid)
        elif seq != s.nxt:
            self._bare(conn, seg, from_a, s, r, prev_ipid)
        if flags & ACK:
            ack = seg.ack
            win = seg.win
            if not (ack == s.max_ack and ack == s.ack and win == s.win and win
                    and (seg.plen or flags & FIN) and not seg.sack):
                self._ack(conn, seg, from_a, s, r, probe_answer)
        s.last_frame = seg.frame

    def _first(self, conn: Connection, seg: Segment, from_a: bool, s: _Flow, r: _Flow) -> None:
        """The first segment of an endpoint that sent no SYN (mid-stream pick-up)."""
        plen = seg.plen
        s.nxt = (seg.seq + plen + (1 if seg.flags & FIN else 0)) & MASK
        s.data_bytes += plen
        if (r.isn is not None and r.max_ack is None and s.isn is None and not plen
                and seg.flags & (ACK | FIN) == ACK and seg.ack != ((r.isn + 1) & MASK)):
            # RFC 5961 §4.2: a synchronized endpoint answers a SYN with a challenge ACK
            self._say(conn, "challenge_ack", seg, from_a,
                      "ACK instead of SYN-ACK: the peer's SYN hit a synchronized connection")

    def _same(self, s: _Flow, seg: Segment) -> bool:
        """The rest of the identity test (seq and checksum already match).  The checksum
        covers the whole TCP header (ACK, flags, window), options (TSval, SACK) and payload
        (RFC 9293 §3.1), so with the IPv4 ID and the timing this says "bit-identical
        copy"."""
        if seg.ip_id != s.p_ipid:
            return False
        dt = seg.ts - s.p_ts
        if seg.ip_id > 0:
            return 0.0 <= dt <= _DUP_IPID_S
        return 0.0 <= dt < self._react_s()

    def is_network_copy(self, seg: Segment, from_a: bool) -> bool:
        """Whether ``seg`` is a bit-identical copy, made by the network, of the previous
        segment from the same endpoint (see ``duplicate_segment``).  Pure: the tracker may
        ask before it counts a SYN or FIN retransmission."""
        s = self._a if from_a else self._b
        return seg.seq == s.p_seq and seg.tcp_csum == s.p_csum and self._same(s, seg)

    def _challenge(self, conn: Connection, seg: Segment, from_a: bool, s: _Flow,
                   r: _Flow) -> None:
        """RFC 5961 §3.2: the receiver of an in-window RST whose seq is not RCV.NXT answers
        with ``<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>`` instead of resetting."""
        rst = r.rst
        assert rst is not None
        r.rst = None
        rst_seq, rst_frame, rst_ts = rst
        if rst_frame < s.last_frame or seg.plen or seg.flags & (ACK | SYN | FIN | RST) != ACK \
                or seg.ts - rst_ts > _CHALLENGE_S:
            return
        ahead = seq_diff(rst_seq, seg.ack)
        window = seg.win << (s.shift if s.shift is not None else 14)
        if 0 < ahead < max(window, 1):
            self._say(conn, "challenge_ack", seg, from_a,
                      f"answers the RST of frame {rst_frame} ({ahead} bytes above RCV.NXT)")

    def _syn(self, conn: Connection, seg: Segment, from_a: bool, s: _Flow, r: _Flow) -> None:
        """SYN / SYN-ACK: ISN, window scale (RFC 7323 §2.2), TFO (RFC 7413), SYN payload."""
        flags = seg.flags
        seq = seg.seq
        plen = seg.plen
        opts = seg.syn_opts
        # syn_opts None: the snaplen cut the options (header-only capture), the shift is
        # unknown (-1, as for an uncaptured SYN), not "no window scale option"
        ws = opts.wscale if opts is not None else -1
        first = s.isn is None or s.isn != seq
        if first:
            s.isn = seq
            s.syn_len = plen
            s.nxt = (seq + 1 + plen) & MASK
            s.data_bytes += plen
            if s.rtt_end is None:
                s.rtt_end = s.nxt
                s.rtt_ts = seg.ts
        elif s.rtt_end is not None:
            s.rtt_end = None  # Karn: a retransmitted SYN gives no sample (RFC 6298 §3)
        s.syn_ws = ws
        if not flags & ACK:
            if first and not self._hs_rtt:
                self._hs = [seg.ts, 0.0]
            if ws is None:
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
        if self._hs is not None and first:
            self._hs[1] = seg.ts
        if ws == -1:
            pass  # the SYN-ACK's options were not captured: the scale stays unknown
        elif r.syn_ws == -1:  # the SYN was not captured: only the SYN-ACK's own shift is known
            if ws is None:
                self._set_scale(0, 0, "not_negotiated")
            else:
                s.shift = ws
        elif ws is None or r.syn_ws is None:
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
            isn = syn.seq
            got = seq_diff(seg.ack, isn)
            if got == n + 1:
                how = f"accepted by the SYN-ACK in frame {seg.frame}"
            elif got == 1:
                how = f"ignored by the SYN-ACK in frame {seg.frame} (acks ISN+1; data re-sent)"
            else:
                how = f"SYN-ACK in frame {seg.frame} acks ISN{got:+d}: neither accepted nor ignored"
            self._say(conn, "tfo_syn_data", syn, not from_a, f"{n} bytes with a cookie; {how}")

    def _set_scale(self, a: int, b: int, state: str) -> None:
        self._a.shift = a
        self._b.shift = b
        self._ws_state = state

    def _bare(self, conn: Connection, seg: Segment, from_a: bool, s: _Flow, r: _Flow,
              prev_ipid: int) -> None:
        """A segment without payload, SYN or FIN: keep-alive, Linux zero-window probe, gap."""
        seq = seg.seq
        nxt = s.nxt
        assert nxt is not None
        d = seq_diff(seq, nxt)
        if d == -1 or (r.max_ack is not None and seq_diff(seq, r.max_ack) == -1):
            self._probe_or_keepalive(conn, seg, from_a, s, r)
        elif d > 0:
            self._gap(conn, seg, from_a, s, r, nxt, seq, prev_ipid)
            s.nxt = seq

    def _probe_or_keepalive(self, conn: Connection, seg: Segment, from_a: bool, s: _Flow,
                            r: _Flow) -> None:
        if r.win == 0:
            s.probe = 2
            self._say(conn, "zero_window_probe", seg, from_a,
                      "at SND.UNA-1 (Linux style) into a zero window")
        else:
            s.probe = 1
            self._say(conn, "keep_alive", seg, from_a,
                      "seq SND.NXT-1" + (", 1 byte" if seg.plen else ""))

    def _data(self, conn: Connection, seg: Segment, from_a: bool, s: _Flow, r: _Flow,
              prev_ipid: int) -> None:
        """A segment with payload and/or FIN (no SYN)."""
        seq = seg.seq
        plen = seg.plen
        flags = seg.flags
        nxt = s.nxt
        assert nxt is not None
        s.data_bytes += plen
        if seq == nxt:  # in order: the common case
            if plen == 1 and r.win == 0 and not flags & FIN:
                # RFC 9293 §3.8.6.1: the probe byte is not "sent" until it is accepted
                s.probe = 2
                s.zwp = seq
                s.data_bytes -= 1
                self._say(conn, "zero_window_probe", seg, from_a, "1 byte at SND.NXT")
                return
            end_data = (seq + plen) & MASK
            end = (end_data + 1) & MASK if flags & FIN else end_data
            s.nxt = end
            if s.rtt_end is None:
                s.rtt_end = end
                s.rtt_ts = seg.ts
            if plen:
                una = r.max_ack
                if una is not None:
                    flight = (end_data - una) & MASK  # FlightSize (RFC 5681 §2), seq-based
                    if s.flight_max < flight < 0x40000000:
                        s.flight_max = flight
                edge = r.right_max
                if edge is not None:
                    over = seq_diff(end_data, edge)
                    if over > 0:
                        if s.oow is None:  # judged by the receiver's answer (see _ack)
                            s.oow = (seg, edge, over)
                    elif end_data == r.right_last:
                        self._say(conn, "window_full", seg, from_a,
                                  "fills the receiver's advertised window")
            return
        end_data = (seq + plen) & MASK
        end = (end_data + 1) & MASK if flags & FIN else end_data
        d = seq_diff(seq, nxt)
        if d > 0:
            # the capture missed data, maybe window updates too: no window verdicts here
            self._gap(conn, seg, from_a, s, r, nxt, seq, prev_ipid)
            s.nxt = end
            return
        # below SND.NXT
        if plen <= 1 and not flags & _SF and (d == -1 or (
                r.max_ack is not None and seq_diff(seq, r.max_ack) == -1)):
            s.data_bytes -= plen
            self._probe_or_keepalive(conn, seg, from_a, s, r)
            return
        if not plen:
            return  # a bare FIN below SND.NXT: the tracker's fin_retransmission
        if seq_diff(end, nxt) > 0:
            s.nxt = end
        if s.rtt_end is not None and seq_diff(seq, s.rtt_end) < 0:
            s.rtt_end = None  # Karn's algorithm (RFC 6298 §3): no sample from resent data
        holes = s.holes
        if holes:
            for h in holes:
                if seq_diff(seq, h[1]) < 0 and seq_diff(end_data, h[0]) > 0:
                    self._fill(conn, seg, from_a, s, r, h, end_data)
                    return
        self._resent(conn, seg, from_a, s, r, end_data, "")

    def _gap(self, conn: Connection, seg: Segment, from_a: bool, s: _Flow, r: _Flow,
             start: int, end: int, prev_ipid: int) -> None:
        """Bytes [start, end) were never seen: remember the hole, decide later."""
        # the IP ID is evidence only if this sender numbers its datagrams in sequence
        ip_id = seg.ip_id
        if not (ip_id > 0 and prev_ipid > 0 and 0 < ((ip_id - prev_ipid) & 0xFFFF) < 64):
            ip_id = -1
        hole = [start, end, seg, seg.tsval, ip_id, seg.ts, 0]
        if s.rtt_end is not None:
            s.rtt_end = None  # the timed segment's ACK may wait for the hole
        if r.max_ack is not None and seq_diff(r.max_ack, start) > 0:
            # the receiver already acknowledged (part of) it: captured nowhere
            self._lost(conn, s, hole, from_a, "already acknowledged by the peer")
            if seq_diff(r.max_ack, end) >= 0:
                return
        holes = s.holes
        if holes is None:
            s.holes = holes = []
        elif len(holes) >= _MAX_HOLES:
            old = holes.pop(0)
            if old[6] == 0:
                self._lost(conn, s, old, from_a, "too many holes to track")
        holes.append(hole)

    def _lost(self, conn: Connection, s: _Flow, hole: list[Any], from_a: bool,
              why: str) -> None:
        if hole[6]:
            return
        hole[6] = 1
        n = seq_diff(hole[1], hole[0])
        s.missed += n
        self._say(conn, "lost_segment", hole[2], from_a,
                  f"previous {n} bytes not captured ({why})")

    def _fill(self, conn: Connection, seg: Segment, from_a: bool, s: _Flow, r: _Flow,
              hole: list[Any], end_data: int) -> None:
        """A segment covering never-seen bytes: the late original, or a retransmission."""
        seq = seg.seq
        verdict = 0  # -1 original (reordered), +1 sent after the gap (retransmission)
        how = ""
        if hole[6]:
            verdict = 1  # already known to be missing from the capture
            how = "hole already counted as lost"
        elif seg.tsval is not None and hole[3] is not None:
            dts = seq_diff(seg.tsval, hole[3])
            if dts:
                verdict = 1 if dts > 0 else -1
                how = "TSval"
        if not verdict and hole[4] >= 0 and seg.ip_id > 0:
            did = (seg.ip_id - hole[4]) & 0xFFFF
            if 0 < did < 1024 or did > 0x10000 - 1024:
                verdict = 1 if did < 0x8000 else -1
                how = "IP ID"
        if not verdict:
            verdict = -1 if seg.ts - hole[5] < self._react_s() else 1
            how = "timing"
        # shrink the hole by what this segment covers
        start, end = hole[0], hole[1]
        holes = s.holes
        assert holes is not None
        left = seq_diff(seq, start) > 0
        right = seq_diff(end, end_data) > 0
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

    def _resent(self, conn: Connection, seg: Segment, from_a: bool, s: _Flow, r: _Flow,
                end_data: int, extra: str) -> None:
        """Classify a retransmission: fast or timer-driven, spurious or needed."""
        seq = seg.seq
        s.retx_segs += 1
        s.retx_bytes += seg.plen
        una = r.max_ack
        spurious = una is not None and seq_diff(end_data, una) <= 0
        fast = False
        why = ""
        if not spurious and una is not None:
            in_hole = seq_diff(seq, una) >= 0
            if in_hole and r.dupacks >= _FAST_DUPACKS and seq == una:
                fast = True
                why = f"after {r.dupacks} duplicate ACKs"
            elif in_hole and r.sack_hi is not None and seq_diff(r.sack_hi, seq) > 0:
                fast = True
                why = "SACK blocks above it"
            elif s.recover is not None and seq == una and seq_diff(una, s.recover) < 0:
                fast = True
                why = "partial ACK during recovery (RFC 6582)"
        if not why:
            if s.syn_len and s.isn is not None and seq == ((s.isn + 1) & MASK):
                why = "re-sends data of the SYN, which the SYN-ACK did not acknowledge"
            else:
                why = "data already acknowledged" if spurious else "no loss signal: timeout"
        if extra:
            why = f"{why}; {extra}"
        if fast:
            if s.recover is None or (s.nxt is not None and seq_diff(s.nxt, s.recover) > 0):
                s.recover = s.nxt
            self._say(conn, "fast_retransmission", seg, from_a, why)
        else:
            self._say(conn, "retransmission", seg, from_a, why)
        if spurious:
            self._say(conn, "spurious_retransmission", seg, from_a,
                      "data already acknowledged by the peer")
            return
        retx = s.retx
        if retx is None:
            s.retx = retx = []
        elif len(retx) >= _MAX_RETX:
            retx.pop(0)
        retx.append([seq, end_data, seg])

    def _ack(self, conn: Connection, seg: Segment, from_a: bool, s: _Flow, r: _Flow,
             probe_answer: int) -> None:
        """What this segment acknowledges and advertises (S's view of R's bytes)."""
        ack = seg.ack
        flags = seg.flags
        win = seg.win
        ma = s.max_ack
        pure = not seg.plen and not flags & _SF
        new_ack = False
        if ack != ma:
            if ma is None or seq_diff(ack, ma) > 0:
                if flags & SYN and r.nxt is not None and seq_diff(ack, r.nxt) > 0:
                    pass  # a SYN-ACK acking unsent data (bad_synack_ack) acknowledges nothing
                else:
                    s.max_ack = ack
                    new_ack = True
                    s.dupacks = 0
                    s.ack_frame = seg.frame
                    end = r.rtt_end
                    if end is not None and seq_diff(ack, end) >= 0:
                        _rtt_add(r, seg.ts - r.rtt_ts)  # a sample never taken from resent data
                        r.rtt_end = None
                    if (self._hs is not None or r.zwp is not None or r.recover is not None
                            or r.sack_hi is not None or r.holes):
                        self._acked(conn, seg, from_a, s, r, ack)
        elif pure:
            if probe_answer == 1:
                self._say(conn, "keep_alive_ack", seg, from_a)
            elif probe_answer == 2:
                if not win:
                    self._say(conn, "zero_window_probe_ack", seg, from_a, "window still zero")
            elif win and win == s.win and r.nxt is not None and (
                    seq_diff(r.nxt, ack) > 0 or _is_dsack(seg.sack, ack)):
                # RFC 5681 §2: all five conditions of a duplicate acknowledgment; an ACK
                # reporting a duplicate segment with a D-SACK block (RFC 2883 §4) repeats
                # the last ACK as a duplicate too, even with nothing left outstanding
                s.dupacks += 1
                self._say(conn, "duplicate_ack", seg, from_a,
                          f"#{s.dupacks} (ACK of frame {s.ack_frame})")
        oow = r.oow
        if oow is not None:
            # R sent data beyond S's window: S's answer says whether S took it
            if seq_diff(ack, oow[1]) > 0:
                r.oow = None  # accepted: our view of the window was wrong, or S is lenient
            elif seg.ts - oow[0].ts >= self._react_s():
                r.oow = None  # RFC 9293 §3.10.7.4: not acceptable, not acknowledged
                self._say(conn, "seq_out_of_window", oow[0], not from_a,
                          f"{oow[2]} bytes beyond the receiver's right window edge, "
                          f"not acknowledged (frame {seg.frame})")
        sack = seg.sack
        if sack:
            self._sack(conn, seg, from_a, s, r, sack, ack)
        elif new_ack and s.sack_hi is not None:
            s.sack_hi = None
        # the advertised window (RFC 9293 §3.8.6; scaled per RFC 7323 §2.3 except on SYNs)
        prev_win = s.win
        prev_ack = s.ack
        s.ack = ack
        if flags & SYN:
            s.win = None  # a SYN's window is never scaled: no comparison across it
            edge = (ack + win) & MASK
            s.right_last = edge
            if s.right_max is None or seq_diff(edge, s.right_max) > 0:
                s.right_max = edge
            return
        s.win = win
        if win == 0:
            if s.zw_ts is None:
                s.zw_ts = seg.ts
                if probe_answer != 2:
                    self._say(conn, "zero_window", seg, from_a,
                              "receiver window closed" if prev_win else "")
        elif s.zw_ts is not None:
            r.stall_s += seg.ts - s.zw_ts
            s.zw_ts = None
        checked = False
        if win != prev_win and prev_ack == ack and prev_win is not None and pure:
            checked = True
            if win > prev_win:
                self._say(conn, "window_update", seg, from_a, f"window {prev_win} -> {win} (raw)")
            else:
                self._say(conn, "window_shrink", seg, from_a,
                          f"window {prev_win} -> {win} with the same ACK")
        shift = s.shift
        if shift is None:
            return
        edge = (ack + (win << shift)) & MASK
        old = s.right_ns
        top = s.right_max
        if old is None or top is None:
            s.right_ns = s.right_last = edge
            if top is None or seq_diff(edge, top) > 0:
                s.right_max = edge
            return
        if edge == old:
            return
        moved = seq_diff(edge, old)
        if moved < 0 and not checked and (new_ack or ma is None or seq_diff(ack, ma) >= 0) \
                and moved <= -(1 << shift):
            self._say(conn, "window_shrink", seg, from_a,
                      f"right window edge moved left by {-moved} bytes")
        if (moved > 0 and old == top) or seq_diff(edge, top) > 0:
            s.right_max = edge
        s.right_ns = s.right_last = edge

    def _acked(self, conn: Connection, seg: Segment, from_a: bool, s: _Flow, r: _Flow,
               ack: int) -> None:
        """S's ACK advanced, the rarer consequences: handshake RTT, an accepted probe byte,
        the end of R's recovery or SACK episode, R's holes."""
        hs = self._hs
        if hs is not None and hs[1] > 0.0 and not seg.flags & SYN:
            self._hs_rtt = seg.ts - hs[0]
            self._hs = None
        zwp = r.zwp
        if zwp is not None:
            r.zwp = None
            if r.nxt == zwp and ack == ((zwp + 1) & MASK):
                r.nxt = ack  # the receiver accepted the probe byte
                r.data_bytes += 1
        if r.recover is not None and seq_diff(ack, r.recover) >= 0:
            r.recover = None
        if r.sack_hi is not None and seq_diff(ack, r.sack_hi) >= 0:
            r.sack_hi = None
        holes = r.holes
        if holes:
            for h in list(holes):
                if seq_diff(ack, h[0]) > 0:
                    self._lost(conn, r, h, not from_a, "acknowledged by the peer")
                    if seq_diff(ack, h[1]) >= 0:
                        holes.remove(h)

    def _sack(self, conn: Connection, seg: Segment, from_a: bool, s: _Flow, r: _Flow,
              sack: tuple[tuple[int, int], ...], ack: int) -> None:
        """SACK / D-SACK blocks sent by S about R's bytes (RFC 2018, RFC 2883)."""
        first = sack[0]
        dsack = seq_diff(first[1], ack) <= 0 or (
            len(sack) > 1 and seq_diff(first[0], sack[1][0]) >= 0
            and seq_diff(first[1], sack[1][1]) <= 0)
        blocks = sack[1:] if dsack else sack
        if dsack:
            self._say(conn, "dsack", seg, from_a,
                      f"duplicate of {seq_diff(first[1], first[0])} bytes reported")
            retx = r.retx
            if retx:
                for rec in list(retx):
                    if seq_diff(rec[0], first[1]) < 0 and seq_diff(rec[1], first[0]) > 0:
                        retx.remove(rec)
                        self._say(conn, "spurious_retransmission", rec[2], not from_a,
                                  f"D-SACK in frame {seg.frame}: the receiver had it already")
        if blocks:
            hi = None
            for _left, right in blocks:
                if hi is None or seq_diff(right, hi) > 0:
                    hi = right
            s.sack_hi = hi
            self._say(conn, "sack", seg, from_a, f"{len(blocks)} block(s)")
        else:
            s.sack_hi = None

    # ------------------------------------------------------------------ Wireshark 4.0
    def _ws_process(self, conn: Connection, seg: Segment, from_a: bool) -> None:
        """``tcp_analyze_sequence_number`` and the bits of ``dissect_tcp`` around it."""
        fwd, rev = (self._wa, self._wb) if from_a else (self._wb, self._wa)
        assert fwd is not None and rev is not None and self._ws is not None
        conv = self._ws
        flags = seg.flags
        seq = seg.seq
        ack = seg.ack
        seglen = seg.plen
        window = seg.win
        now = round(seg.ts * 1_000_000)  # integer microseconds, like nstime comparisons
        ta = 0
        dup_num = dup_frame = 0
        if flags & (SYN | ACK) == SYN | ACK:
            # dissect_tcp (4.0.17, observed): a SYN-ACK whose seq differs from the
            # direction's base seq is reused_ports and becomes the new base (same tcp.stream)
            reused = fwd.base_set and seq != fwd.base
            if reused:
                fwd.base = seq
                self._ws_say(conn, "reused_ports", seg, from_a,
                             "tshark: SYN-ACK with a new sequence number")
            if fwd.synacks is None:
                fwd.synacks = []
            if len(fwd.synacks) < _SYNACKS_MAX:
                fwd.synacks.append((seg, reused))
        if not fwd.base_set:
            fwd.base = seq if flags & SYN else (seq - 1) & MASK
            fwd.base_set = True
        if not rev.base_set and flags & ACK:
            rev.base = (ack - 1) & MASK
            rev.base_set = True
        nextseq0 = fwd.nextseq
        sfr = flags & _SFR
        if seglen == 1 and seq == nextseq0 and rev.window == 0:
            ta |= _W_ZWP
        else:
            if window == 0 and not sfr:
                ta |= _W_ZW
            if nextseq0 and seq_diff(seq, nextseq0) > 0 and not flags & RST:
                ta |= _W_LOST
            if seglen <= 1 and seq == ((nextseq0 - 1) & MASK) and not sfr:
                ta |= _W_KA
            same = seq == nextseq0 and ack == fwd.lastack and not sfr and seglen == 0
            if same and window and window != fwd.window:
                ta |= _W_WU
            if seglen > 0 and rev.win_scale != -1 and not sfr:
                sh = 0 if rev.first_ack or rev.win_scale == -2 else rev.win_scale
                if ((seq + seglen) & MASK) == ((rev.lastack + ((rev.window << sh) & _U32))
                                               & MASK):
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
        if rev.maxack and flags & ACK and seq_diff(ack, rev.maxack) > 0:
            if seq_diff(rev.nextseq, rev.maxack) > 0:
                rev.maxack = rev.nextseq
                ta |= _W_ACKLOST
            else:
                if rev.dupnum == 0:
                    ta |= _W_ACKLOST
                rev.dupnum = -1
        if (seglen > 0 or flags & _SF) and not ta & _W_KA:
            not_adv = bool(nextseq0) and seq_diff(seq, nextseq0) < 0
            if seglen > 1 and ((nextseq0 - 1) & MASK) == seq:
                not_adv = False
            if seglen > 0 and rev.lastack and seq_diff((seq + seglen) & MASK, rev.lastack) <= 0:
                ta |= _W_SPURIOUS
            elif not_adv and rev.dupnum >= 2 and rev.lastack == seq \
                    and 0 <= now - rev.lastack_t < 20_000:
                ta |= _W_FAST
            elif not_adv and 0 <= now - fwd.nextseq_t < (conv[1] or 3_000) and nextseq0 != (
                    (seq + seglen + (1 if flags & _SF else 0)) & MASK):
                ta |= _W_OOO
            elif not_adv:
                ta |= _W_RETRANS
        nextseq = (seq + seglen + (1 if flags & _SF else 0)) & MASK
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
        if flags & SYN:
            opts = seg.syn_opts
            if opts is not None and opts.wscale is not None:
                fwd.win_scale = min(opts.wscale, 14)
            if fwd.win_scale == -1:
                fwd.win_scale = rev.win_scale = -2
            elif flags & ACK and rev.win_scale == -2:
                fwd.win_scale = -2
            if not flags & ACK:
                conv[0] = now
                if opts is not None and opts.tfo_cookie:
                    conv[2] = seglen
                    self._ws_say(conn, "tfo_syn_data", seg, from_a, "SYN with TFO cookie")
            elif seq_diff(ack, rev.base) > 1:
                self._ws_say(conn, "tfo_syn_data", seg, from_a, "SYN-ACK accepting TFO data")
            elif conv[2]:
                self._ws_say(conn, "tfo_syn_data", seg, from_a, "SYN-ACK ignoring TFO data")
            fwd.first_ack = True
        if flags & (SYN | ACK) == ACK:
            if conv[0] and not conv[1]:
                conv[1] = now - conv[0]
            fwd.first_ack = False
        if ta & _W_ACKLOST and self.ws_ack_lost:
            self._ws_say(conn, "ack_lost_segment", seg, from_a,
                         "tshark: ACKed segment that wasn't captured")
        if ta & ~_W_ACKLOST:
            for bit, name in _WS_NAMES:
                if ta & bit:
                    detail = ""
                    if bit == _W_DUP:
                        detail = f"#{dup_num}" + (f" (ACK of frame {dup_frame})"
                                                  if dup_frame else "")
                    self._ws_say(conn, name, seg, from_a, detail)

    @staticmethod
    def _ws_say(conn: Connection, code: str, seg: Segment, from_a: bool, detail: str) -> None:
        conn.anomaly(code, seg, conn.a if from_a else conn.b, detail)


class _WiresharkSeqAnalysis(SeqAnalysis):
    """``semantics == "wireshark"``: tshark's labels; the default reading runs silently
    beside them for the measurements."""

    __slots__ = ()

    def process(self, conn: Connection, seg: Segment, from_a: bool) -> None:
        """Analyse one segment the way tshark 4.0 does, then update the measurements."""
        self._ws_process(conn, seg, from_a)
        SeqAnalysis.process(self, conn, seg, from_a)


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


def _rtt_add(f: _Flow, sample: float) -> None:
    """Record an RTT sample: exact count/min/max, a bounded evenly-strided sample set."""
    if sample < 0:
        return
    if f.rtt_n == 0 or sample < f.rtt_min:
        f.rtt_min = sample
    if f.rtt_n == 0 or sample > f.rtt_max:
        f.rtt_max = sample
    f.rtt_n += 1
    if f.rtt_skip:
        f.rtt_skip -= 1
        return
    keep = f.rtt
    if keep is None:
        f.rtt = keep = array("d")
    keep.append(sample)
    f.rtt_skip = f.rtt_stride - 1
    if len(keep) >= _RTT_KEEP:  # keep every other sample, sample half as often from now on
        del keep[1::2]
        f.rtt_stride *= 2
        f.rtt_skip = f.rtt_stride - 1


def _direction_report(f: _Flow) -> dict[str, Any]:
    """The measurements of the bytes one endpoint sent."""
    rtt: dict[str, Any] = {"count": f.rtt_n, "min_s": None, "median_s": None, "max_s": None}
    if f.rtt_n and f.rtt is not None:
        vals = sorted(f.rtt)
        rtt["min_s"] = round(f.rtt_min, 6)
        rtt["max_s"] = round(f.rtt_max, 6)
        rtt["median_s"] = round(vals[len(vals) // 2] if len(vals) % 2
                                else (vals[len(vals) // 2 - 1] + vals[len(vals) // 2]) / 2, 6)
    return {
        "rtt": rtt,
        "data_bytes": f.data_bytes,
        "retransmitted_segments": f.retx_segs,
        "retransmitted_bytes": f.retx_bytes,
        "retransmission_rate": round(f.retx_bytes / f.data_bytes, 6) if f.data_bytes else 0.0,
        "max_bytes_in_flight": f.flight_max if f.flight_max >= 0 else None,
        "zero_window_stall_s": round(f.stall_s, 6),
        "missed_bytes": f.missed,
    }
