"""Default semantics of :mod:`tcpflow_analyzer.seqanalysis`, rule by rule.

The analyzer is driven directly (``SeqAnalysis.process``) with hand-built segments and a
minimal stand-in for the tracker's ``Connection`` that records anomalies, so every rule of
the module docstring is checked in isolation, including RSTs (which the tracker does not
pass on yet).  ``Talk`` writes conversations the way the ladder diagrams read.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import pytest

from tcpflow_analyzer.segment import ACK, FIN, PSH, RST, SYN, Segment, SynOptions
from tcpflow_analyzer.seqanalysis import SeqAnalysis
from tcpflow_analyzer.tracker import TrackerConfig

ORIG = bytes([192, 0, 2, 1])
RESP = bytes([198, 51, 100, 2])
MASK = 0xFFFFFFFF
MSS = 1448


class FakeConn:
    """What SeqAnalysis needs of a Connection: endpoints, ``anomaly``, times, roles."""

    def __init__(self) -> None:
        self.a = object()
        self.b = object()
        self.orig_is_a = True
        self.last_ts = 0.0
        self.events: list[tuple[str, int, str, str]] = []

    def anomaly(self, code: str, seg: Segment, ep: object, detail: str = "") -> None:
        self.events.append((code, seg.frame, "o" if ep is self.a else "r", detail))


@dataclass
class Talk:
    """A conversation fed straight into one SeqAnalysis.  Numbers are relative: 0 is the
    sender's ISN for ``seq`` and the receiver's ISN for ``ack``."""

    isn_o: int = 0xFFFFF000  # near 2**32: everything below wraps
    isn_r: int = 0x7FFFFF00
    semantics: str = "default"
    family: int = 4
    conn: FakeConn = field(default_factory=FakeConn)
    frame: int = 0
    ts: float = 1000.0
    nxt: dict[str, int] = field(default_factory=lambda: {"o": 0, "r": 0})
    rcv: dict[str, int] = field(default_factory=lambda: {"o": 1, "r": 1})
    ip_id: dict[str, int] = field(default_factory=lambda: {"o": 100, "r": 5000})

    def __post_init__(self) -> None:
        self.sa = SeqAnalysis(TrackerConfig(semantics=self.semantics))

    def tx(self, who: str, flags: int, n: int = 0, *, seq: int | None = None,
           ack: int | None = None, win: int = 1000, dt: float = 1.0, ip_id: int | None = None,
           tsval: int | None = None, sack: list[tuple[int, int]] | None = None,
           opts: SynOptions | None = None, csum: int | None = None) -> Segment:
        """Send one segment (``dt`` in ms); the default ACK is what the peer sent so far."""
        self.frame += 1
        self.ts += dt / 1000
        peer = "r" if who == "o" else "o"
        isn, pisn = (self.isn_o, self.isn_r) if who == "o" else (self.isn_r, self.isn_o)
        rel = (0 if flags & SYN else self.nxt[who]) if seq is None else seq
        rack = (self.nxt[peer] if ack is None else ack) if flags & ACK else 0
        if ip_id is None:
            ip_id = self.ip_id[who] if self.family == 4 else -1
            self.ip_id[who] += 1
        if flags & SYN and opts is None:
            opts = SynOptions(1460, 7, True, None)
        blocks = None if sack is None else tuple(
            ((pisn + lo) & MASK, (pisn + hi) & MASK) for lo, hi in sack)
        src, dst = (ORIG, RESP) if who == "o" else (RESP, ORIG)
        seg = Segment(self.frame, self.ts, (), self.family, src, dst,
                      40000 if who == "o" else 80, 80 if who == "o" else 40000,
                      (isn + rel) & MASK, (pisn + rack) & MASK, flags, win, n, True, ip_id,
                      self.frame if csum is None else csum,
                      tsval if tsval is not None else round(self.ts * 1000) & MASK, 0, blocks,
                      opts if flags & SYN else None)
        end = rel + n + (1 if flags & (SYN | FIN) else 0)
        if not flags & RST and end > self.nxt[who]:
            self.nxt[who] = end
        self.conn.last_ts = self.ts
        self.sa.process(self.conn, seg, who == "o")  # type: ignore[arg-type]
        return seg

    def copy(self, seg: Segment, dt: float = 0.02) -> Segment:
        """The network duplicates ``seg``: same everything, a new frame."""
        self.frame += 1
        self.ts += dt / 1000
        dup = Segment(self.frame, self.ts, seg.vlan, seg.ipver, seg.src, seg.dst, seg.sport,
                      seg.dport, seg.seq, seg.ack, seg.flags, seg.win, seg.plen, True,
                      seg.ip_id, seg.tcp_csum, seg.tsval, seg.tsecr, seg.sack, seg.syn_opts)
        self.sa.process(self.conn, dup, seg.src == ORIG)  # type: ignore[arg-type]
        return dup

    def handshake(self, rtt: float = 40.0, opts: SynOptions | None = None,
                  win: int = 1000) -> None:
        """SYN, SYN-ACK one RTT later, ACK (capture next to the originator)."""
        self.tx("o", SYN, opts=opts)
        self.tx("r", SYN | ACK, dt=rtt, opts=opts)
        self.tx("o", ACK, dt=0.05, win=win)

    def finish(self) -> list[tuple[str, int, str]]:
        """Settle late verdicts; (code, frame, sender) of every anomaly, in order."""
        self.sa.finish(self.conn)  # type: ignore[arg-type]
        return [e[:3] for e in self.conn.events]

    def codes(self) -> list[tuple[str, int]]:
        """(code, frame) pairs after ``finish``."""
        return [(c, f) for c, f, _ in self.finish()]

    def detail(self, code: str) -> str:
        """The detail of the first anomaly ``code``."""
        return next(e[3] for e in self.conn.events if e[0] == code)

    def measure(self) -> dict[str, Any]:
        """The measurements."""
        return self.sa.measurements(self.conn)  # type: ignore[arg-type]


NO_WS = SynOptions(1460, None, True, None)


def established(win: int = 1000, opts: SynOptions | None = None, **kw: Any) -> Talk:
    """A conversation after its handshake and a 100-byte request the server ACKed
    (window scale 7 unless ``opts`` say otherwise; ``win`` is the originator's window)."""
    t = Talk(**kw)
    t.handshake(opts=opts, win=win)
    t.tx("o", ACK | PSH, 100, dt=0.1, win=win)
    t.tx("r", ACK, dt=40)
    return t


# ---------------------------------------------------------------- clean traffic
def test_clean_exchange_has_no_anomalies_and_wraps() -> None:
    t = established()
    for _ in range(40):
        t.tx("r", ACK, MSS, dt=0.1)
        t.tx("r", ACK | PSH, MSS, dt=0.1)
        t.tx("o", ACK, dt=0.05)
    t.tx("o", FIN | ACK, dt=1)
    t.tx("r", FIN | ACK, dt=40)
    t.tx("o", ACK, dt=0.05)
    assert t.finish() == []


# ---------------------------------------------------------------- loss and retransmission
def test_hole_filled_by_a_newer_transmission_is_loss_plus_fast_retransmission() -> None:
    t = established()
    t.tx("r", ACK, MSS)
    t.nxt["r"] += MSS  # segment 2 never reaches the capture point
    gap = t.tx("r", ACK, MSS, dt=0.1)
    for _ in range(3):
        t.tx("o", ACK, ack=1 + MSS, sack=[(1 + 2 * MSS, 1 + 3 * MSS)], dt=0.05)
    fill = t.tx("r", ACK, MSS, seq=1 + MSS, dt=40)
    # the first SACK ACK acknowledges segment 1 (new ACK), the next two are duplicates
    sacks = range(gap.frame + 1, gap.frame + 4)
    assert sorted(t.codes()) == sorted(
        [("sack", f) for f in sacks] + [("duplicate_ack", f) for f in sacks[1:]]
        + [("lost_segment", gap.frame), ("fast_retransmission", fill.frame)])
    assert "2 duplicate ACKs" in t.detail("fast_retransmission")
    assert "TSval" in t.detail("fast_retransmission")


def test_first_sack_ack_is_a_duplicate_ack_too() -> None:
    t = established()
    t.tx("r", ACK, MSS)
    t.tx("o", ACK, dt=0.05)
    t.nxt["r"] += MSS
    t.tx("r", ACK, MSS, dt=0.1)
    dup = t.tx("o", ACK, ack=1 + MSS, sack=[(1 + 2 * MSS, 1 + 3 * MSS)], dt=0.05)
    assert ("duplicate_ack", dup.frame) in t.codes()
    assert t.detail("duplicate_ack").startswith("#1")


def test_hole_filled_by_the_original_is_reordering_not_loss() -> None:
    t = established()
    ts_late = round(t.ts * 1000) + 5
    t.tx("r", ACK, MSS, seq=1 + MSS, tsval=ts_late + 1)
    t.nxt["r"] = 1
    fill = t.tx("r", ACK, MSS, seq=1, tsval=ts_late, dt=0.3)
    codes = t.codes()
    assert codes == [("out_of_order", fill.frame)]
    assert "TSval" in t.detail("out_of_order")


def test_equal_tsvals_fall_back_to_the_ip_id() -> None:
    t = established()
    ts = round(t.ts * 1000) + 5
    base = t.ip_id["r"]
    t.tx("r", ACK, MSS, seq=1 + MSS, tsval=ts, ip_id=base + 1)
    fill = t.tx("r", ACK, MSS, seq=1, tsval=ts, ip_id=base, dt=0.3)
    assert t.codes() == [("out_of_order", fill.frame)]
    assert "IP ID" in t.detail("out_of_order")


def test_without_tsval_or_ip_id_a_quick_fill_is_reordering_and_a_late_one_a_loss() -> None:
    quick = established(family=6)
    quick.tx("r", ACK, MSS, seq=1 + MSS, tsval=77)
    fill = quick.tx("r", ACK, MSS, seq=1, tsval=77, dt=0.3)
    assert quick.codes() == [("out_of_order", fill.frame)]
    late = established(family=6)
    gap = late.tx("r", ACK, MSS, seq=1 + MSS, tsval=77)
    fill = late.tx("r", ACK, MSS, seq=1, tsval=77, dt=60)
    assert late.codes() == [("lost_segment", gap.frame), ("retransmission", fill.frame)]


def test_hole_acknowledged_by_the_peer_is_a_capture_loss() -> None:
    t = established()
    gap = t.tx("r", ACK, MSS, seq=1 + MSS)
    ack = t.tx("o", ACK, ack=1 + 2 * MSS, dt=0.05)
    assert t.codes() == [("lost_segment", gap.frame)]
    assert ack.frame > gap.frame
    assert t.measure()["resp"]["missed_bytes"] == MSS


def test_unresolved_hole_is_reported_at_the_end() -> None:
    t = established()
    gap = t.tx("r", ACK, MSS, seq=1 + MSS)
    assert t.conn.events == []
    assert t.codes() == [("lost_segment", gap.frame)]
    assert "never filled" in t.detail("lost_segment")


def test_timeout_retransmission_of_seen_data() -> None:
    t = established()
    t.tx("r", ACK | PSH, 500)
    again = t.tx("r", ACK | PSH, 500, seq=1, dt=300)
    assert t.codes() == [("retransmission", again.frame)]
    assert "timeout" in t.detail("retransmission")
    m = t.measure()["resp"]
    assert (m["retransmitted_segments"], m["retransmitted_bytes"]) == (1, 500)
    assert m["retransmission_rate"] == pytest.approx(0.5)


def test_retransmission_of_acknowledged_data_is_spurious_at_once() -> None:
    t = established()
    t.tx("r", ACK | PSH, 500)
    t.tx("o", ACK, dt=40)
    again = t.tx("r", ACK | PSH, 500, seq=1, dt=200)
    assert t.codes() == [("retransmission", again.frame),
                         ("spurious_retransmission", again.frame)]


def test_dsack_makes_an_earlier_retransmission_spurious() -> None:
    t = established()
    t.tx("r", ACK | PSH, 500)
    again = t.tx("r", ACK | PSH, 500, seq=1, dt=300)
    dsack = t.tx("o", ACK, sack=[(1, 501)], dt=40)
    assert t.codes() == [("retransmission", again.frame), ("dsack", dsack.frame),
                         ("spurious_retransmission", again.frame)]
    assert f"frame {dsack.frame}" in t.detail("spurious_retransmission")


def test_newreno_partial_ack_retransmission_is_fast() -> None:
    t = established(semantics="default")
    for _ in range(4):
        t.tx("r", ACK, MSS, dt=0.1)
    for _ in range(3):
        t.tx("o", ACK, ack=1, dt=0.05)
    first = t.tx("r", ACK, MSS, seq=1, dt=40)
    t.tx("o", ACK, ack=1 + 2 * MSS, dt=40)  # partial ACK: segment 3 was lost too
    second = t.tx("r", ACK, MSS, seq=1 + 2 * MSS, dt=0.1)
    codes = t.codes()
    assert ("fast_retransmission", first.frame) in codes
    assert ("fast_retransmission", second.frame) in codes
    assert "RFC 6582" in [e[3] for e in t.conn.events if e[1] == second.frame][0]


def test_karn_no_rtt_sample_from_retransmitted_data() -> None:
    t = established()
    t.tx("r", ACK | PSH, 500, dt=0.1)
    t.tx("r", ACK | PSH, 500, seq=1, dt=300)
    t.tx("o", ACK, dt=40)
    rtt = t.measure()["resp"]["rtt"]
    assert rtt["count"] == 1  # only SYN-ACK -> ACK: the data's timing was cancelled
    assert rtt["max_s"] == pytest.approx(0.00005, abs=1e-7)


# ---------------------------------------------------------------- network copies
def test_ipv4_copy_with_the_same_ip_id_is_a_network_duplicate() -> None:
    t = established()
    seg = t.tx("r", ACK | PSH, 300)
    dup = t.copy(seg, dt=5)
    ack = t.tx("o", ACK, dt=0.05)
    t.copy(ack, dt=0.01)
    assert t.codes() == [("duplicate_segment", dup.frame), ("duplicate_segment", ack.frame + 1)]
    assert t.measure()["resp"]["retransmitted_segments"] == 0


def test_ipv6_copy_must_come_within_half_a_round_trip() -> None:
    t = established(family=6)
    seg = t.tx("r", ACK | PSH, 300)
    dup = t.copy(seg, dt=5)
    late = t.copy(seg, dt=30)  # beyond RTT/2 (20 ms) after the previous copy
    codes = t.codes()
    assert ("duplicate_segment", dup.frame) in codes
    assert ("duplicate_segment", late.frame) not in codes


def test_resent_segment_with_a_new_ip_id_is_not_a_copy() -> None:
    t = established()
    seg = t.tx("r", ACK | PSH, 300)
    again = t.tx("r", ACK | PSH, 300, seq=1, tsval=seg.tsval, csum=seg.tcp_csum, dt=5)
    assert t.codes() == [("retransmission", again.frame)]


def test_is_network_copy_is_pure() -> None:
    t = established()
    seg = t.tx("r", ACK | PSH, 300)
    dup = Segment(99, seg.ts + 0.001, (), 4, seg.src, seg.dst, seg.sport, seg.dport, seg.seq,
                  seg.ack, seg.flags, seg.win, seg.plen, True, seg.ip_id, seg.tcp_csum,
                  seg.tsval, seg.tsecr, seg.sack, None)
    assert t.sa.is_network_copy(dup, False)
    assert t.sa.is_network_copy(dup, False)
    assert not t.sa.is_network_copy(dup, True)
    assert t.conn.events == []


# ---------------------------------------------------------------- probes and windows
def test_keep_alive_and_its_ack() -> None:
    t = established()
    ka = t.tx("o", ACK, seq=100, dt=75_000)
    ans = t.tx("r", ACK, dt=40)
    ka1 = t.tx("o", ACK, 1, seq=100, dt=75_000)
    ans1 = t.tx("r", ACK, dt=40)
    assert t.codes() == [("keep_alive", ka.frame), ("keep_alive_ack", ans.frame),
                         ("keep_alive", ka1.frame), ("keep_alive_ack", ans1.frame)]


def _zero_window(t: Talk) -> int:
    t.tx("r", ACK, 1000, dt=0.1)  # fills the 1000-byte window exactly
    return t.tx("o", ACK, win=0, dt=0.05).frame


def test_linux_probe_at_snd_una_minus_one_is_a_zero_window_probe() -> None:
    t = established(opts=NO_WS)
    zw = _zero_window(t)
    probe = t.tx("r", ACK, seq=1000, dt=200)
    ans = t.tx("o", ACK, win=0, dt=40)
    upd = t.tx("o", ACK, win=1000, dt=100)
    assert t.codes() == [("window_full", zw - 1), ("zero_window", zw),
                         ("zero_window_probe", probe.frame),
                         ("zero_window_probe_ack", ans.frame), ("window_update", upd.frame)]
    assert t.measure()["resp"]["zero_window_stall_s"] == pytest.approx(0.34, abs=1e-6)


def test_rfc_one_byte_probe_does_not_advance_snd_nxt() -> None:
    t = established(opts=NO_WS)
    zw = _zero_window(t)
    probe = t.tx("r", ACK, 1, dt=200)
    t.nxt["r"] -= 1
    t.tx("o", ACK, win=0, dt=40)
    t.tx("o", ACK, win=1000, dt=100)
    data = t.tx("r", ACK | PSH, 500, dt=40)  # starts with the probe's byte: in order
    codes = t.codes()
    assert ("zero_window", zw) in codes and ("zero_window_probe", probe.frame) in codes
    assert not [c for c in codes if c[1] == data.frame]


def test_accepted_probe_byte_advances_snd_nxt() -> None:
    t = established(opts=NO_WS)
    _zero_window(t)
    t.tx("r", ACK, 1, dt=200)
    t.tx("o", ACK, win=0, dt=40)  # the receiver took the byte
    nxt = t.tx("r", ACK | PSH, 500, dt=100)
    assert not [c for c in t.codes() if c[1] == nxt.frame]


def test_duplicate_ack_needs_outstanding_data() -> None:
    t = established()
    t.tx("r", ACK | PSH, 100)
    t.tx("o", ACK, dt=40)
    t.tx("o", ACK, dt=10)  # same ACK, same window, nothing outstanding: not a dup ACK
    assert t.codes() == []


def test_window_update_and_shrink() -> None:
    t = established(opts=NO_WS, isn_o=1000, isn_r=2000)
    t.tx("r", ACK | PSH, 400)
    t.tx("o", ACK, win=600, dt=40)
    up = t.tx("o", ACK, win=1000, dt=10)
    down = t.tx("o", ACK, win=400, dt=10)
    assert t.codes() == [("window_update", up.frame), ("window_shrink", down.frame)]


def test_right_edge_moving_left_with_an_advancing_ack_is_a_shrink() -> None:
    t = established()
    t.tx("r", ACK | PSH, 100)
    t.tx("o", ACK, win=1000, dt=40)  # edge = 101 + (1000 << 7)
    t.tx("r", ACK | PSH, 100, dt=0.1)
    shrink = t.tx("o", ACK, win=900, dt=40)  # acked 100 more, window 128000 bytes less
    assert t.codes() == [("window_shrink", shrink.frame)]


def test_window_full_and_out_of_window() -> None:
    t = Talk()
    t.handshake(opts=NO_WS, win=3000)
    t.tx("o", ACK | PSH, 100, dt=0.1, win=3000)
    full = t.tx("r", ACK, 3000, dt=40)
    assert t.codes() == [("window_full", full.frame)]
    t2 = Talk()
    t2.handshake(opts=NO_WS, win=3000)
    t2.tx("o", ACK | PSH, 100, dt=0.1, win=3000)
    over = t2.tx("r", ACK, 3500, dt=40)
    t2.tx("o", ACK, ack=3001, win=0, dt=40)  # keeps only what fits its window
    codes = t2.codes()
    assert ("seq_out_of_window", over.frame) in codes


def test_out_of_window_data_the_receiver_acknowledges_is_not_reported() -> None:
    t = Talk()
    t.handshake(opts=NO_WS, win=500)
    t.tx("o", ACK | PSH, 100, dt=0.1, win=500)
    t.tx("r", ACK, 3500, dt=40)
    t.tx("o", ACK, dt=40)  # took all of it: our view of its window was wrong
    assert t.codes() == []


# ---------------------------------------------------------------- handshake, TFO, challenge
def test_tfo_cookie_request_and_accepted_and_ignored_data() -> None:
    t = Talk()
    t.tx("o", SYN, opts=SynOptions(1460, 7, True, b""))
    assert t.codes() == [("tfo_cookie_request", 1)]
    acc = Talk()
    syn = acc.tx("o", SYN, 100, opts=SynOptions(1460, 7, True, b"\x01" * 8))
    acc.tx("r", SYN | ACK, dt=40)
    assert acc.codes() == [("tfo_syn_data", syn.frame)]
    assert "accepted" in acc.detail("tfo_syn_data")
    ign = Talk()
    ign.tx("o", SYN, 100, opts=SynOptions(1460, 7, True, b"\x01" * 8))
    ign.tx("r", SYN | ACK, ack=1, dt=40)
    ign.tx("o", ACK, ack=1, dt=0.05)
    again = ign.tx("o", ACK | PSH, 100, seq=1, ack=1, dt=0.01)
    assert ign.codes() == [("tfo_syn_data", 1), ("retransmission", again.frame)]
    assert "ignored" in ign.detail("tfo_syn_data")
    lone = Talk()
    lone.tx("o", SYN, 50, opts=SynOptions(1460, 7, True, b"\x01" * 8))
    assert lone.codes() == [("tfo_syn_data", 1)]
    assert "no SYN-ACK" in lone.detail("tfo_syn_data")


def test_synack_with_a_wrong_ack_is_not_tfo_and_acknowledges_nothing() -> None:
    t = Talk()
    t.tx("o", SYN)
    t.tx("r", SYN | ACK, ack=1001, dt=40)
    t.tx("o", ACK | PSH, 100, seq=1, ack=1, dt=0.05)
    assert t.codes() == []


def test_syn_with_data_without_a_cookie() -> None:
    t = Talk()
    t.tx("o", SYN, 60, opts=SynOptions(1460, 7, True, None))
    assert t.codes() == [("syn_with_data", 1)]


def test_challenge_ack_after_an_inexact_rst() -> None:
    t = established()
    t.tx("r", ACK | PSH, 300)
    t.tx("o", ACK, dt=40)
    t.tx("r", RST | ACK, seq=301 + 5000, dt=10)  # in the window, not RCV.NXT
    chal = t.tx("o", ACK, dt=40)
    assert t.codes() == [("challenge_ack", chal.frame)]
    exact = established()
    exact.tx("r", ACK | PSH, 300)
    exact.tx("o", ACK, dt=40)
    exact.tx("r", RST | ACK, seq=301, dt=10)
    exact.tx("o", ACK, dt=40)  # crossed the exact RST in flight: not a challenge ACK
    assert exact.codes() == []


def test_ack_answering_a_syn_on_a_synchronized_connection_is_a_challenge_ack() -> None:
    t = Talk()
    t.tx("o", SYN)
    chal = t.tx("r", ACK, ack=777, dt=40)
    assert t.codes() == [("challenge_ack", chal.frame)]


# ---------------------------------------------------------------- measurements, memory
def test_window_scale_status() -> None:
    t = established()
    assert t.measure()["window_scale"] == {"status": "negotiated", "orig": 7, "resp": 7}
    n = Talk()
    n.handshake(opts=NO_WS)
    assert n.measure()["window_scale"] == {"status": "not_negotiated", "orig": 0, "resp": 0}
    mid = Talk()
    mid.nxt = {"o": 5000, "r": 9000}
    mid.tx("o", ACK | PSH, 10)
    mid.tx("r", ACK, dt=40)
    assert mid.measure()["window_scale"] == {"status": "unknown", "orig": None, "resp": None}


def test_measurement_schema() -> None:
    t = established()
    t.tx("r", ACK, MSS)
    t.tx("o", ACK, dt=0.05)
    m = t.measure()
    assert set(m) == {"window_scale", "orig", "resp"}
    for role in ("orig", "resp"):
        assert set(m[role]) == {"rtt", "data_bytes", "retransmitted_segments",
                                "retransmitted_bytes", "retransmission_rate",
                                "max_bytes_in_flight", "zero_window_stall_s", "missed_bytes"}
        assert set(m[role]["rtt"]) == {"count", "min_s", "median_s", "max_s"}
    assert m["orig"]["rtt"]["count"] == 2  # SYN -> SYN-ACK, request -> ACK
    assert m["orig"]["rtt"]["min_s"] == pytest.approx(0.04, abs=1e-6)
    assert m["resp"]["max_bytes_in_flight"] == MSS
    assert m["orig"]["data_bytes"] == 100


def test_rtt_keeps_exact_count_min_max_with_bounded_samples() -> None:
    t = established()
    for k in range(500):
        t.tx("r", ACK, 10, dt=1)
        t.tx("o", ACK, dt=1 + (k % 7))
    rtt = t.measure()["resp"]["rtt"]
    assert rtt["count"] == 501  # and SYN-ACK -> ACK, 0.05 ms
    assert rtt["min_s"] == pytest.approx(0.00005, abs=1e-7)
    assert rtt["max_s"] == pytest.approx(0.007, abs=1e-6)
    assert 0.003 <= rtt["median_s"] <= 0.005
    assert len(t.sa._b.rtt or ()) <= 32


def _deep_size(obj: object, seen: set[int]) -> int:
    if id(obj) in seen or obj is None or isinstance(obj, (bool, type)):
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    for name in getattr(type(obj), "__slots__", ()):
        size += _deep_size(getattr(obj, name, None), seen)
    if isinstance(obj, (list, tuple)):
        size += sum(_deep_size(x, seen) for x in obj)
    return size


def test_per_connection_memory_stays_small() -> None:
    t = established()
    for _ in range(50):
        t.tx("r", ACK, MSS, dt=0.1)
        t.tx("o", ACK, dt=0.05)
    size = _deep_size(t.sa, set())
    assert size < 2400, size  # about 2.2 kB: two flow records, their ints, 32 RTT samples
