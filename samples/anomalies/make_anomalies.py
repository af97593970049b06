#!/usr/bin/env python3
"""Generate the sequence/acknowledgement anomaly captures in ``samples/anomalies/``.

Each capture shows one behaviour (loss and fast retransmit, reordering, a network duplicate,
zero-window probing, TFO, ...).  A scenario is written as the list of segments the two
endpoints send, in capture order, through a small model (:class:`Conn`) that keeps each
side's SND.NXT, RCV.NXT, out-of-order queue (hence SACK blocks, RFC 2018), TCP timestamps
(RFC 7323) and IPv4 identification, so sequence and acknowledgement numbers, SACK blocks,
TSval/TSecr and IP IDs come out as a real stack would produce them.  A segment can be
*not captured* (lost upstream of the capture point) and/or *not delivered* (lost on the
way to its receiver); the scenario says where the capture point sits.

The generator also writes, next to each capture, ``<name>.truth.json``: what the generator
*did* -- which frame is a fast retransmission, which bytes were lost before the capture
point, which copy the network made -- with the anomaly code our default semantics should
report for it.  This is ground truth written from the scenario, not from the analyzer;
``tests/test_seqanalysis_samples.py`` checks the analyzer against it.

Everything is fixed (timestamps from 1700000000.0, ISNs, addresses, MACs, IP IDs, TSvals,
payload bytes) and checksums are computed by dpkt, so a run rewrites every file
byte-identically::

    python samples/anomalies/make_anomalies.py            # write all captures + truth
    python samples/anomalies/make_anomalies.py --list     # sha256, packets, name
    python samples/anomalies/make_anomalies.py --out DIR  # elsewhere (to diff)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import socket
import struct
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dpkt

EPOCH_US = 1_700_000_000 * 1_000_000
ORIG_MAC = bytes.fromhex("020000000001")
RESP_MAC = bytes.fromhex("020000000002")
ADDRS = {4: ("192.0.2.1", "198.51.100.2"), 6: ("2001:db8::1", "2001:db8::2")}
RESP_PORT = 80
MSS = 1448  # with timestamps: 1460 - 12
PATTERN = {"o": b"abcdefghijklmnopqrstuvwxyz0123456789\r\n",
           "r": b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\r\n"}
M32 = 0xFFFFFFFF

S, A, F, R, P = (dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK, dpkt.tcp.TH_FIN, dpkt.tcp.TH_RST,
                 dpkt.tcp.TH_PUSH)
FLAG_BITS = {"S": S, "A": A, "F": F, "R": R, "P": P}


def flag_bits(letters: str) -> int:
    """``"PA"`` -> PSH|ACK."""
    out = 0
    for ch in letters:
        out |= FLAG_BITS[ch]
    return out


@dataclass
class Host:
    """One endpoint: addresses, ISN, clocks, and what it has sent and received.

    Sequence numbers are kept relative to the ISN (0 = the SYN, data starts at 1).
    ``rcv`` is the next byte expected from the peer (relative to the peer's ISN) and ``ooo``
    the out-of-order ranges held above it, most recent first (they become SACK blocks).
    """

    role: str  # "o" or "r"
    isn: int
    ts_base: int
    ip_id: int
    win: int
    nxt: int = 0
    rcv: int | None = None
    ooo: list[tuple[int, int]] = field(default_factory=list)
    peer_tsval: int = 0
    last_frame_bytes: bytes = b""

    def receive(self, rel_seq: int, n: int, flags: int, tsval: int | None) -> None:
        """Deliver a segment of the peer (relative numbers of the peer's stream)."""
        if tsval is not None:
            self.peer_tsval = tsval
        if flags & R:
            return
        if flags & S:
            if self.rcv is None:
                self.rcv = 1
            start = 1
            end = 1 + n
        else:
            start = rel_seq
            end = rel_seq + n + (1 if flags & F else 0)
        if self.rcv is None:
            self.rcv = end
            return
        if end <= self.rcv or start == end:
            return
        if start <= self.rcv:
            self.rcv = end
        else:  # hold it out of order, merged with touching blocks, most recent first
            keep = []
            for lo, hi in self.ooo:
                if lo <= end and hi >= start:
                    start, end = min(lo, start), max(hi, end)
                else:
                    keep.append((lo, hi))
            self.ooo = [(start, end), *keep]
        changed = True
        while changed:
            changed = False
            for blk in list(self.ooo):
                if blk[0] <= self.rcv:
                    self.ooo.remove(blk)
                    self.rcv = max(self.rcv, blk[1])
                    changed = True


@dataclass
class Capture:
    """One capture file: frames, clock, ground truth."""

    name: str
    description: str
    capture_point: str
    frames: list[tuple[int, bytes]] = field(default_factory=list)
    truth: list[dict[str, Any]] = field(default_factory=list)
    expect: dict[str, Any] = field(default_factory=dict)
    t_us: int = EPOCH_US

    def advance(self, dt_ms: float) -> None:
        """Move the capture clock forward."""
        self.t_us += round(dt_ms * 1000)

    def write(self, frame: bytes) -> int:
        """Append a frame at the current time; returns its 1-based frame number."""
        self.frames.append((self.t_us, frame))
        return len(self.frames)

    def mark(self, frame: int, name: str, role: str, why: str) -> None:
        """Record that ``frame`` is, in truth, an occurrence of anomaly ``name``."""
        self.truth.append({"frame": frame, "name": name,
                           "endpoint": "orig" if role == "o" else "resp", "why": why})


class Conn:
    """A TCP connection between 'o' (originator) and 'r' (responder) inside a capture."""

    def __init__(self, cap: Capture, *, sport: int = 40000, family: int = 4,
                 timestamps: bool = True, sack: bool = True, wscale: int | None = 7,
                 isn_o: int = 0x6F3A1C20, isn_r: int = 0x2B94E7C1, win_o: int = 502,
                 win_r: int = 509) -> None:
        self.cap = cap
        self.sport = sport
        self.family = family
        self.timestamps = timestamps
        self.sack = sack
        self.wscale = wscale
        self.h = {
            "o": Host("o", isn_o, 0x1C2D3E4F, 0x8A21, win_o),
            "r": Host("r", isn_r, 0x5E6F7081, 0x3C07, win_r),
        }

    # -- segments -------------------------------------------------------------------------
    def tx(self, who: str, flags: str, n: int = 0, *, seq: int | None = None,
           ack: int | None = None, win: int | None = None,
           sack: list[tuple[int, int]] | None = None, dt: float = 0.0,
           captured: bool = True, delivered: bool = True, tsval: int | None = None,
           ip_id: int | None = None, tfo: bytes | None = None, payload: bytes | None = None,
           truth: Sequence[tuple[str, str]] = ()) -> int | None:
        """Send one segment from ``who``; returns its frame number (None if not captured).

        ``seq``/``ack`` are relative (to the sender's / receiver's ISN) and default to the
        model's SND.NXT / RCV.NXT; ``sack`` overrides the SACK blocks (relative to the
        peer's ISN; default: the receiver's out-of-order queue); ``truth`` is a list of
        ``(anomaly code, why)`` this segment really is.
        """
        cap = self.cap
        cap.advance(dt)
        me = self.h[who]
        peer = self.h["r" if who == "o" else "o"]
        bits = flag_bits(flags)
        rel_seq = (0 if bits & S else me.nxt) if seq is None else seq
        rel_ack = (peer_rcv_default(me) if ack is None else ack) if bits & A else 0
        data = payload if payload is not None else _payload(who, rel_seq - 1, n)
        ms = (cap.t_us - EPOCH_US) // 1000
        use_ts = self.timestamps and not bits & R
        ts_val = (me.ts_base + ms) & M32 if tsval is None else tsval
        opts = b""
        if bits & S:
            opts = struct.pack(">BBH", 2, 4, 1440 if self.family == 6 else 1460)
            if self.sack:
                opts += b"\x04\x02"
            if use_ts:
                opts += struct.pack(">BBII", 8, 10, ts_val, 0 if not bits & A else me.peer_tsval)
            if self.wscale is not None:
                opts += b"\x01" + struct.pack(">BBB", 3, 3, self.wscale)
            if tfo is not None:
                opts += bytes([34, 2 + len(tfo)]) + tfo
        elif not bits & R:
            if use_ts:
                opts = b"\x01\x01" + struct.pack(">BBII", 8, 10, ts_val, me.peer_tsval)
            blocks = sack
            if blocks is None and self.sack and me.ooo:
                blocks = me.ooo[:3]
            if blocks:
                opts += b"\x01\x01" + bytes([5, 2 + 8 * len(blocks)]) + b"".join(
                    struct.pack(">II", (peer.isn + lo) & M32, (peer.isn + hi) & M32)
                    for lo, hi in blocks)
        opts += b"\x01" * (-len(opts) % 4)
        window = me.win if win is None else win
        if bits & S and win is None:
            window = 64800 if self.family == 6 else (65160 if bits & A else 64240)
        if bits & R and win is None:
            window = 0
        tcp = dpkt.tcp.TCP(
            sport=self.sport if who == "o" else RESP_PORT,
            dport=RESP_PORT if who == "o" else self.sport,
            seq=(me.isn + rel_seq) & M32, ack=(peer.isn + rel_ack) & M32 if bits & A else 0,
            off=(20 + len(opts)) // 4, flags=bits, win=window, opts=opts, data=data)
        if ip_id is None:
            ip_id = 0 if bits & R else me.ip_id
            me.ip_id = (me.ip_id + 1) & 0xFFFF
        frame_bytes = self._encap(who, tcp, ip_id)
        frame = cap.write(frame_bytes) if captured else None
        me.last_frame_bytes = frame_bytes
        # sender state
        end = rel_seq + n + (1 if bits & (S | F) else 0)
        if not bits & R and end > me.nxt:
            me.nxt = end
        if delivered:
            peer.receive(rel_seq, n, bits, ts_val if use_ts else None)
        for name, why in truth:
            assert frame is not None, "truth on a segment the capture does not see"
            cap.mark(frame, name, who, why)
        return frame

    def copy(self, who: str, dt: float, truth: str) -> int:
        """The network duplicates ``who``'s previous segment: an identical frame."""
        self.cap.advance(dt)
        frame = self.cap.write(self.h[who].last_frame_bytes)
        self.cap.mark(frame, "duplicate_segment", who, truth)
        return frame

    def _encap(self, who: str, tcp: dpkt.tcp.TCP, ip_id: int) -> bytes:
        src, dst = ADDRS[self.family] if who == "o" else ADDRS[self.family][::-1]
        if self.family == 4:
            ip: Any = dpkt.ip.IP(src=socket.inet_pton(socket.AF_INET, src),
                                 dst=socket.inet_pton(socket.AF_INET, dst), p=6, ttl=64,
                                 id=ip_id, df=1, data=tcp)
            etype = dpkt.ethernet.ETH_TYPE_IP
        else:
            ip = dpkt.ip6.IP6(src=socket.inet_pton(socket.AF_INET6, src),
                              dst=socket.inet_pton(socket.AF_INET6, dst), nxt=6, hlim=64,
                              plen=len(tcp), data=tcp)
            etype = dpkt.ethernet.ETH_TYPE_IP6
        smac, dmac = (ORIG_MAC, RESP_MAC) if who == "o" else (RESP_MAC, ORIG_MAC)
        return bytes(dpkt.ethernet.Ethernet(src=smac, dst=dmac, type=etype, data=ip))

    # -- common exchanges --------------------------------------------------------------------
    def handshake(self, near: str = "o", rtt: float = 40.0) -> None:
        """SYN, SYN-ACK, ACK seen from near the originator (``near='o'``) or responder."""
        if near == "o":
            self.tx("o", "S")
            self.tx("r", "SA", dt=rtt)
            self.tx("o", "A", dt=0.05)
        else:
            self.tx("o", "S")
            self.tx("r", "SA", dt=0.05)
            self.tx("o", "A", dt=rtt)

    def close(self, near: str = "o", rtt: float = 40.0) -> None:
        """Orig FIN, resp FIN+ACK, orig ACK."""
        if near == "o":
            self.tx("o", "FA", dt=1)
            self.tx("r", "FA", dt=rtt)
            self.tx("o", "A", dt=0.05)
        else:
            self.tx("o", "FA", dt=1)
            self.tx("r", "FA", dt=0.05)
            self.tx("o", "A", dt=rtt)


def peer_rcv_default(me: Host) -> int:
    """The ACK a host sends by default: its RCV.NXT (1 if it has received nothing)."""
    return 1 if me.rcv is None else me.rcv


def _payload(who: str, offset: int, n: int) -> bytes:
    pat = PATTERN[who]
    return bytes(pat[(max(offset, 0) + i) % len(pat)] for i in range(n))


# ---------------------------------------------------------------------------- scenarios
def loss_fast_retransmit() -> Capture:
    """Segment 2 of a burst is lost before the capture point (next to the receiver); three
    duplicate ACKs with SACK, then the sender's fast retransmission one RTT later.  Twice:
    in the second connection the server answered the SYN only after 100 ms, so the
    handshake RTT is longer than the data RTT (40 ms)."""
    cap = Capture("loss-fast-retransmit.pcap", loss_fast_retransmit.__doc__ or "",
                  "next to the receiver (orig); the loss is upstream of it")
    for sport, syn_rtt in ((40000, 40.0), (40001, 100.0)):
        c = Conn(cap, sport=sport)
        c.handshake(rtt=syn_rtt)
        c.tx("o", "PA", 100, dt=0.1)
        c.tx("r", "A", MSS, dt=40)
        c.tx("o", "A", dt=0.05)
        c.tx("r", "A", MSS, dt=0.1, captured=False, delivered=False)
        c.tx("r", "A", MSS, dt=0.1, truth=[("lost_segment", "segment 2 was dropped upstream")])
        for k in (1, 2, 3):
            c.tx("o", "A", dt=0.05,
                 truth=[("duplicate_ack", f"#{k}, SACKs the data above the hole"),
                        ("sack", "SACK block for the out-of-order data")])
            if k < 3:
                c.tx("r", "PA" if k == 2 else "A", MSS, dt=0.1)
        c.tx("r", "A", MSS, seq=1 + MSS, dt=40.1,
             truth=[("fast_retransmission", "re-sent after 3 duplicate ACKs (RFC 5681 §3.2)")])
        c.tx("o", "A", dt=0.05)
        c.close()
    cap.expect = {"resp": {"retransmitted_segments": 2, "retransmitted_bytes": 2 * MSS,
                           "missed_bytes": 2 * MSS}}
    return cap


def tail_loss_rto() -> Capture:
    """The last segment of a response is lost after the capture point (next to the sender);
    no duplicate ACKs can come, so the sender retransmits it when its RTO fires."""
    cap = Capture("tail-loss-rto.pcap", tail_loss_rto.__doc__ or "",
                  "next to the sender (resp); the loss is downstream of it")
    c = Conn(cap)
    c.handshake(near="r")
    c.tx("o", "PA", 100, dt=1)
    c.tx("r", "A", MSS, dt=0.1)
    c.tx("r", "A", MSS, dt=0.05)
    c.tx("r", "PA", 600, dt=0.05, delivered=False)
    c.tx("o", "A", dt=40)
    c.tx("r", "PA", 600, seq=1 + 2 * MSS, dt=230,
         truth=[("retransmission", "RTO: no duplicate ACK or SACK asked for it")])
    c.tx("o", "A", dt=40)
    c.close(near="r")
    cap.expect = {"resp": {"retransmitted_segments": 1, "retransmitted_bytes": 600,
                           "missed_bytes": 0}}
    return cap


def reordering() -> Capture:
    """The network swaps two segments twice, upstream of the capture point: first with
    TSvals 1 ms apart, then two segments sent in the same millisecond (equal TSvals, the
    IPv4 ID tells the order).  Nothing is lost or retransmitted."""
    cap = Capture("reordering.pcap", reordering.__doc__ or "",
                  "next to the receiver (orig); the reordering is upstream of it")
    c = Conn(cap)
    c.handshake()
    c.tx("o", "PA", 100, dt=0.1)
    c.tx("r", "A", MSS, dt=40)
    c.tx("o", "A", dt=0.05)
    r = c.h["r"]
    # segments 2 and 3 are sent 1 ms apart and arrive swapped
    ms = (cap.t_us - EPOCH_US) // 1000
    ts2, ts3 = (r.ts_base + ms + 1) & M32, (r.ts_base + ms + 2) & M32
    id2, id3 = r.ip_id, r.ip_id + 1
    r.ip_id += 2
    seq2, seq3 = 1 + MSS, 1 + 2 * MSS
    c.tx("r", "A", MSS, seq=seq3, dt=2, tsval=ts3, ip_id=id3)
    c.tx("o", "A", dt=0.05, truth=[("duplicate_ack", "#1: segment 3 arrived before 2"),
                                   ("sack", "SACK block for segment 3")])
    c.tx("r", "A", MSS, seq=seq2, dt=0.3, tsval=ts2, ip_id=id2,
         truth=[("out_of_order", "sent before segment 3 (older TSval), arrived after it")])
    c.tx("o", "A", dt=0.05)
    # segments 4 and 5 leave in the same millisecond (same TSval) and arrive swapped
    ms = (cap.t_us - EPOCH_US) // 1000
    ts = (r.ts_base + ms + 1) & M32
    id4, id5 = r.ip_id, r.ip_id + 1
    r.ip_id += 2
    seq4, seq5 = 1 + 3 * MSS, 1 + 4 * MSS
    c.tx("r", "A", MSS, seq=seq5, dt=5, tsval=ts, ip_id=id5)
    c.tx("o", "A", dt=0.05, truth=[("duplicate_ack", "#1: segment 5 arrived before 4"),
                                   ("sack", "SACK block for segment 5")])
    c.tx("r", "PA", MSS, seq=seq4, dt=0.2, tsval=ts, ip_id=id4,
         truth=[("out_of_order", "sent before segment 5 (lower IP ID, same TSval)")])
    c.h["r"].nxt = 1 + 5 * MSS
    c.tx("o", "A", dt=0.05)
    c.close()
    cap.expect = {"resp": {"retransmitted_segments": 0, "missed_bytes": 0}}
    return cap


def network_duplicate() -> Capture:
    """A switch copies two segments (a request and a pure ACK), in an IPv4 and an IPv6
    connection; the receiver reports the duplicate request with a D-SACK (RFC 2883).  In a
    third connection, seen next to the server, the copy of the request arrives 5 ms late,
    after the server has acknowledged the original."""
    cap = Capture("network-duplicate.pcap", network_duplicate.__doc__ or "",
                  "next to the originator (first two connections) or the responder (third);"
                  " the copies are made between the two hosts")
    for family, sport in ((4, 40000), (6, 40001)):
        c = Conn(cap, family=family, sport=sport)
        c.handshake()
        c.tx("o", "PA", 120, dt=0.1)
        c.copy("o", 0.03, "identical copy of the request 30 us later")
        c.tx("r", "A", dt=40)
        c.tx("r", "A", dt=0.05, sack=[(1, 121)],
             truth=[("dsack", "the receiver got the request twice (RFC 2883)"),
                    ("duplicate_ack", "repeats its ACK to report the duplicate (RFC 2883 §4)")])
        c.tx("r", "PA", 700, dt=0.2)
        c.tx("o", "A", dt=0.05)
        c.copy("o", 0.02, "identical copy of the ACK 20 us later")
        c.close()
    c = Conn(cap, sport=40002)
    c.handshake(near="r")
    c.tx("o", "PA", 120, dt=1)
    c.tx("r", "A", dt=0.05)
    c.copy("o", 5, "identical copy of the request, 5 ms late (after the ACK)")
    c.tx("r", "A", dt=0.05, sack=[(1, 121)],
         truth=[("dsack", "the receiver got the request twice (RFC 2883)"),
                    ("duplicate_ack", "repeats its ACK to report the duplicate (RFC 2883 §4)")])
    c.tx("r", "PA", 700, dt=0.2)
    c.tx("o", "A", dt=40)
    c.close(near="r")
    cap.expect = {"orig": {"retransmitted_segments": 0}}
    return cap


def _zero_window(name: str, doc: str, linux: bool) -> Capture:
    cap = Capture(name, doc, "next to the receiver (orig), whose application stops reading")
    c = Conn(cap, wscale=None if not linux else 7, win_o=4344 if not linux else 34)
    c.handshake()
    c.tx("o", "PA", 100, dt=0.1)
    size = 1448 if not linux else 1088
    count = 3 if not linux else 4
    for k in range(count):
        last = k == count - 1
        c.tx("r", "A", size, dt=40 if k == 0 else 0.1,
             truth=[("window_full", "ends exactly at the receiver's right window edge")]
             if last else ())
    c.tx("o", "A", win=0, dt=0.05, truth=[("zero_window", "receive buffer full")])
    t_closed = cap.t_us
    for k, wait in enumerate((200.0, 400.0)):
        if linux:
            c.tx("r", "A", seq=c.h["r"].nxt - 1, dt=wait,
                 truth=[("zero_window_probe", "Linux probe: no data, seq = SND.UNA-1")])
        else:
            c.tx("r", "A", 1, dt=wait,
                 truth=[("zero_window_probe", "RFC 9293 §3.8.6.1: one byte at SND.NXT")])
            c.h["r"].nxt -= 1  # the probe byte is not accepted (RCV.WND = 0)
            c.h["o"].rcv = c.h["r"].nxt
        c.tx("o", "A", win=0, dt=40,
             truth=[("zero_window_probe_ack", f"probe #{k + 1} answered, window still 0")])
    c.tx("o", "A", dt=100, truth=[("window_update", "the application read the buffer")])
    stall_s = (cap.t_us - t_closed) / 1e6
    c.tx("r", "PA", 500, dt=40)
    c.tx("o", "A", dt=0.05)
    c.close()
    cap.expect = {"resp": {"zero_window_stall_s": round(stall_s, 6), "retransmitted_segments": 0}}
    return cap


def zero_window_rfc_probe() -> Capture:
    """The sender fills the receiver's window (no window scaling), the receiver advertises
    a zero window, the sender probes twice with one byte at SND.NXT, then the window opens."""
    return _zero_window("zero-window-rfc-probe.pcap", zero_window_rfc_probe.__doc__ or "", False)


def zero_window_linux_probe() -> Capture:
    """Like zero-window-rfc-probe, with window scaling, and Linux's probes: zero-length
    segments at SND.UNA-1 (``tcp_xmit_probe_skb``), which Wireshark calls keep-alives."""
    return _zero_window("zero-window-linux-probe.pcap",
                        zero_window_linux_probe.__doc__ or "", True)


def keep_alive() -> Capture:
    """An idle connection kept alive twice: a zero-length keep-alive at SND.NXT-1 (Linux,
    BSD) and one with one garbage byte (RFC 9293 §3.8.4 allows it); each is ACKed."""
    cap = Capture("keep-alive.pcap", keep_alive.__doc__ or "", "next to the originator")
    c = Conn(cap)
    c.handshake()
    c.tx("o", "PA", 100, dt=0.1)
    c.tx("r", "PA", 300, dt=40)
    c.tx("o", "A", dt=0.05)
    nxt = c.h["o"].nxt
    c.tx("o", "A", seq=nxt - 1, dt=75_000, truth=[("keep_alive", "0 bytes at SND.NXT-1")])
    c.tx("r", "A", dt=40, truth=[("keep_alive_ack", "answers the keep-alive")])
    c.tx("o", "A", 1, seq=nxt - 1, dt=75_000, payload=b"\x00",
         truth=[("keep_alive", "1 garbage byte at SND.NXT-1")])
    c.tx("r", "A", dt=40, truth=[("keep_alive_ack", "answers the keep-alive")])
    c.close()
    return cap


def window_update() -> Capture:
    """The receiver's application reads late: it ACKs with a smaller window (right edge
    unchanged), then sends two pure window updates (same ACK, larger window)."""
    cap = Capture("window-update.pcap", window_update.__doc__ or "",
                  "next to the receiver (orig)")
    c = Conn(cap, wscale=None, win_o=8000)
    c.handshake()
    c.tx("o", "PA", 100, dt=0.1)
    c.tx("r", "A", MSS, dt=40)
    c.tx("r", "PA", MSS, dt=0.1)
    c.tx("o", "A", win=8000 - 2 * MSS, dt=0.05)
    c.tx("o", "A", win=8000 - MSS, dt=30, truth=[("window_update", "the application read")])
    c.tx("o", "A", win=8000, dt=30, truth=[("window_update", "the application read more")])
    c.tx("r", "PA", 200, dt=40)
    c.tx("o", "A", dt=0.05)
    c.close()
    return cap


def window_full() -> Capture:
    """The sender sends exactly up to the receiver's advertised right edge, twice, and
    waits for the ACK each time (no zero window)."""
    cap = Capture("window-full.pcap", window_full.__doc__ or "", "next to the sender (resp)")
    c = Conn(cap, wscale=None, win_o=2 * MSS)
    c.handshake(near="r")
    c.tx("o", "PA", 100, dt=1)
    for _ in range(2):
        c.tx("r", "A", MSS, dt=0.1)
        c.tx("r", "PA", MSS, dt=0.05,
             truth=[("window_full", "ends at the receiver's right window edge")])
        c.tx("o", "A", dt=40)
    c.close(near="r")
    return cap


def tfo_cookie_request() -> Capture:
    """A client without a TCP Fast Open cookie asks for one (empty option, RFC 7413 §4.1.1);
    the SYN-ACK returns an 8-byte cookie; an ordinary exchange follows."""
    cap = Capture("tfo-cookie-request.pcap", tfo_cookie_request.__doc__ or "",
                  "next to the originator")
    c = Conn(cap)
    c.tx("o", "S", tfo=b"", truth=[("tfo_cookie_request", "empty TFO option on the SYN")])
    c.tx("r", "SA", dt=40, tfo=bytes.fromhex("a1b2c3d4e5f60718"))
    c.tx("o", "A", dt=0.05)
    c.tx("o", "PA", 100, dt=0.1)
    c.tx("r", "PA", 300, dt=40)
    c.tx("o", "A", dt=0.05)
    c.close()
    return cap


def tfo_data_accepted() -> Capture:
    """A TFO SYN carries a cookie and a 100-byte request; the SYN-ACK acknowledges ISN+101
    (RFC 7413 §4.2.2: data accepted) and the response follows at once."""
    cap = Capture("tfo-data-accepted.pcap", tfo_data_accepted.__doc__ or "",
                  "next to the originator")
    c = Conn(cap)
    c.tx("o", "S", 100, tfo=bytes.fromhex("a1b2c3d4e5f60718"),
         truth=[("tfo_syn_data", "100 bytes with a cookie, accepted by the SYN-ACK")])
    c.tx("r", "SA", dt=40)
    c.tx("r", "PA", 300, dt=0.2)
    c.tx("o", "A", dt=0.05)
    c.close()
    return cap


def tfo_data_ignored() -> Capture:
    """A TFO SYN carries a cookie and 100 bytes, but the SYN-ACK acknowledges only ISN+1
    (cookie rejected); the client re-sends the 100 bytes after the handshake."""
    cap = Capture("tfo-data-ignored.pcap", tfo_data_ignored.__doc__ or "",
                  "next to the originator")
    c = Conn(cap)
    c.tx("o", "S", 100, tfo=bytes.fromhex("a1b2c3d4e5f60718"),
         truth=[("tfo_syn_data", "100 bytes with a cookie, ignored by the SYN-ACK")])
    c.h["r"].rcv = 1  # the server drops the SYN's data (RFC 7413 §4.2.2)
    c.tx("r", "SA", dt=40)
    c.tx("o", "A", dt=0.05)
    c.tx("o", "PA", 100, seq=1, dt=0.01,
         truth=[("retransmission", "re-sends the SYN data the SYN-ACK did not accept")])
    c.tx("r", "PA", 300, dt=40)
    c.tx("o", "A", dt=0.05)
    c.close()
    cap.expect = {"orig": {"retransmitted_segments": 1, "retransmitted_bytes": 100}}
    return cap


def synack_wrong_ack() -> Capture:
    """The SYN-ACK acknowledges ISN+1001 instead of ISN+1 (no data was sent: this is not
    TFO); the client answers with a RST whose seq is that ACK (RFC 9293 §3.10.7.3)."""
    cap = Capture("synack-wrong-ack.pcap", synack_wrong_ack.__doc__ or "",
                  "next to the originator")
    c = Conn(cap)
    c.tx("o", "S")
    c.tx("r", "SA", dt=40, ack=1001)
    c.tx("o", "R", seq=1001, dt=0.05)
    return cap


def spurious_dsack() -> Capture:
    """Two unnecessary RTO retransmissions, seen next to the sender: the first because the
    receiver's ACK was lost before the capture point (the receiver then reports the
    duplicate with a D-SACK), the second although its ACK had already passed the capture
    point (lost just before the sender)."""
    cap = Capture("spurious-dsack.pcap", spurious_dsack.__doc__ or "",
                  "next to the sender (resp)")
    c = Conn(cap)
    c.handshake(near="r")
    c.tx("o", "PA", 100, dt=1)
    c.tx("r", "PA", MSS, dt=0.1)
    c.tx("o", "A", dt=40, captured=False, delivered=False)
    c.tx("r", "PA", MSS, seq=1, dt=230,
         truth=[("retransmission", "RTO: the ACK never reached the sender"),
                ("spurious_retransmission", "the receiver had the data (D-SACK follows)")])
    c.tx("o", "A", dt=40, sack=[(1, 1 + MSS)],
         truth=[("dsack", "D-SACK: the retransmitted bytes arrived twice (RFC 2883)")])
    c.tx("o", "PA", 50, dt=1000)
    c.tx("r", "PA", MSS, dt=0.1)
    c.tx("o", "A", dt=40, delivered=False)
    c.tx("r", "PA", MSS, seq=1 + MSS, dt=230,
         truth=[("retransmission", "RTO: the ACK was lost after the capture point"),
                ("spurious_retransmission", "its data was already acknowledged")])
    c.tx("o", "A", dt=40, sack=[(1 + MSS, 1 + 2 * MSS)],
         truth=[("dsack", "D-SACK for the second duplicate"),
                ("duplicate_ack", "repeats the ACK of frame 10 to report it (RFC 2883 §4)")])
    c.close(near="r")
    cap.expect = {"resp": {"retransmitted_segments": 2, "retransmitted_bytes": 2 * MSS}}
    return cap


def syn_with_data() -> Capture:
    """A SYN carries 60 bytes without any TFO option (T/TCP style); the SYN-ACK does not
    acknowledge them and the client sends them again after the handshake."""
    cap = Capture("syn-with-data.pcap", syn_with_data.__doc__ or "", "next to the originator")
    c = Conn(cap)
    c.tx("o", "S", 60, truth=[("syn_with_data", "60 bytes on a SYN without a TFO cookie")])
    c.h["r"].rcv = 1  # the server does not take data from a SYN without a cookie
    c.tx("r", "SA", dt=40)
    c.tx("o", "A", dt=0.05)
    c.tx("o", "PA", 60, seq=1, dt=0.01,
         truth=[("retransmission", "re-sends the 60 bytes the SYN-ACK did not acknowledge")])
    c.tx("r", "A", dt=40)
    c.close()
    return cap


def challenge_ack() -> Capture:
    """The client forgot an established connection and opens it again with a new ISN; the
    server answers the SYN in its synchronized state with a challenge ACK (RFC 5961 §4.2),
    the client resets the old connection and its retried SYN succeeds."""
    cap = Capture("challenge-ack.pcap", challenge_ack.__doc__ or "", "next to the originator")
    c = Conn(cap)
    c.handshake()
    c.tx("o", "PA", 100, dt=0.1)
    c.tx("r", "PA", 300, dt=40)
    c.tx("o", "A", dt=0.05)
    restart = Conn(cap, isn_o=0x10203040, isn_r=c.h["r"].isn)
    restart.h["r"] = c.h["r"]  # the server still holds the old connection
    restart.tx("o", "S", dt=5000)
    c.tx("r", "A", dt=40,
         truth=[("challenge_ack", "ACK with the old RCV.NXT instead of a SYN-ACK")])
    # RFC 9293 §3.10.7.3: SYN-SENT and an unacceptable ACK -> <SEQ=SEG.ACK><CTL=RST>
    rst_seq = c.h["o"].isn + c.h["o"].nxt
    restart.tx("o", "R", seq=(rst_seq - restart.h["o"].isn) & M32, dt=0.05)
    fresh = Conn(cap, isn_o=0x10203040, isn_r=0x77665544)
    fresh.tx("o", "S", dt=1000)
    fresh.tx("r", "SA", dt=40)
    fresh.tx("o", "A", dt=0.05)
    fresh.close()
    return cap


def window_shrink() -> Capture:
    """The receiver takes back window it offered: same ACK, smaller window (RFC 9293 §3.8.6
    says it should not); later the sender sends beyond anything the receiver ever offered,
    the receiver keeps only what fits (and closes its window), then takes the rest when
    the sender re-sends it."""
    cap = Capture("window-shrink.pcap", window_shrink.__doc__ or "", "next to the receiver")
    c = Conn(cap, wscale=None, win_o=6000)
    c.handshake()
    c.tx("o", "PA", 100, dt=0.1)
    c.tx("r", "PA", 1000, dt=40)
    c.tx("o", "A", dt=0.05)
    c.tx("o", "A", win=3000, dt=5,
         truth=[("window_shrink", "right edge moved left by 3000 bytes")])
    c.tx("r", "PA", 1000, dt=40)
    c.tx("o", "A", win=2000, dt=0.05)
    c.tx("r", "PA", 6000, dt=40, delivered=False,
         truth=[("seq_out_of_window", "ends 1000 bytes beyond the largest right edge")])
    c.h["o"].rcv = 4001  # the receiver keeps only what fits its window (RFC 9293 §3.10.7.4)
    c.tx("o", "A", win=0, dt=0.05, truth=[("zero_window", "the window is full")])
    c.tx("o", "A", win=6000, dt=100, truth=[("window_update", "the application read")])
    c.tx("r", "PA", 4000, seq=4001, dt=40,
         truth=[("retransmission", "re-sends the bytes the receiver did not take")])
    c.tx("o", "A", dt=0.05)
    c.close()
    return cap


SCENARIOS: list[Callable[[], Capture]] = [
    loss_fast_retransmit, tail_loss_rto, reordering, network_duplicate,
    zero_window_rfc_probe, zero_window_linux_probe, keep_alive, window_update, window_full,
    tfo_cookie_request, tfo_data_accepted, tfo_data_ignored, synack_wrong_ack,
    spurious_dsack, syn_with_data, challenge_ack, window_shrink,
]


def write_capture(cap: Capture, out_dir: Path) -> tuple[int, str]:
    """Write the pcap and its truth sidecar; returns (packets, sha256 of the pcap)."""
    path = out_dir / cap.name
    with path.open("wb") as fh:
        writer = dpkt.pcap.Writer(fh, snaplen=65535, linktype=dpkt.pcap.DLT_EN10MB)
        for t_us, frame in cap.frames:
            ts = t_us / 1_000_000
            assert round(ts * 1e6) == t_us
            writer.writepkt(frame, ts=ts)
    truth = {
        "file": cap.name,
        "description": " ".join(cap.description.split()),
        "capture_point": cap.capture_point,
        "frames": len(cap.frames),
        "events": sorted(cap.truth, key=lambda e: (e["frame"], e["name"])),
        "measurements": cap.expect,
    }
    side = out_dir / (path.stem + ".truth.json")
    side.write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    return len(cap.frames), hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    ap.add_argument("--list", action="store_true", help="print sha256, packets, name")
    ap.add_argument("names", nargs="*", help="only these capture file names")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for build in SCENARIOS:
        cap = build()
        if args.names and cap.name not in args.names:
            continue
        count, digest = write_capture(cap, args.out)
        if args.list:
            print(f"{digest}  {count:3d}  {cap.name}")
        else:
            print(f"wrote {args.out / cap.name} ({count} packets)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
