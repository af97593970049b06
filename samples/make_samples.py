#!/usr/bin/env python3
"""Generate the deterministic synthetic sample captures in ``samples/``.

Every capture shows one TCP behaviour and is described declaratively below as a list of
:class:`Step` objects ``(dt, direction, flags, payload length, optional overrides)``.  A tiny
sender model (:class:`Side`) tracks ``SND.NXT``/``RCV.NXT`` for both endpoints so the sequence
and acknowledgement numbers come out right; the odd cases use explicit overrides:

* ``seq`` / ``ack`` -- relative numbers (Wireshark style: 0 is the sender's / receiver's ISN)
  that replace what the model would send;
* ``hold`` -- the segment is "in flight": the peer only receives it *after* the peer has sent
  its own next segment (crossing SYNs, crossing FINs);
* a SYN sent by a side that already sent one automatically reuses the ISN (retransmission or
  the SYN-ACK of a simultaneous open).

Everything is fixed -- timestamps (starting at 1700000000.0), ISNs, addresses, MACs, IP IDs,
TCP timestamp values and payload bytes -- so ``python samples/make_samples.py`` rewrites all
files byte-identically.  IP and TCP checksums are computed by dpkt (it fills a checksum field
that is 0 when the packet is serialised).

Usage::

    python samples/make_samples.py            # (re)write all samples next to this script
    python samples/make_samples.py --out DIR  # write them elsewhere (e.g. to diff)
    python samples/make_samples.py --list     # print name, packet count and sha256
"""

from __future__ import annotations

import argparse
import hashlib
import socket
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

import dpkt

#: Capture start, in integer microseconds since the Unix epoch (1700000000.0 s).
EPOCH_US = 1_700_000_000 * 1_000_000

ORIG_MAC = bytes.fromhex("020000000001")
RESP_MAC = bytes.fromhex("020000000002")
ORIG_V4, RESP_V4 = "192.0.2.1", "198.51.100.2"
ORIG_V6, RESP_V6 = "2001:db8::1", "2001:db8::2"
ORIG_PORT, RESP_PORT = 40000, 80

#: Default ISNs (arbitrary but fixed).
ISN_O = 0x6F3A1C20
ISN_R = 0x2B94E7C1

#: Window scale shift advertised by both sides; scaled windows used after the handshake.
WSCALE = 7

Direction = Literal["o", "r"]
FLAG_BITS = {
    "F": dpkt.tcp.TH_FIN,
    "S": dpkt.tcp.TH_SYN,
    "R": dpkt.tcp.TH_RST,
    "P": dpkt.tcp.TH_PUSH,
    "A": dpkt.tcp.TH_ACK,
    "U": dpkt.tcp.TH_URG,
}
#: Byte patterns the payloads are cut from, indexed by relative stream offset, so the same
#: stream offset always carries the same byte (handy for reassembly checks).
PAYLOAD_PATTERN = {
    "o": b"abcdefghijklmnopqrstuvwxyz0123456789\r\n",
    "r": b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\r\n",
}


def seq_add(a: int, b: int) -> int:
    """Add in 32-bit sequence space."""
    return (a + b) & 0xFFFFFFFF


def seq_gt(a: int, b: int) -> bool:
    """``a > b`` in 32-bit sequence space (RFC 1982 style)."""
    return 0 < ((a - b) & 0xFFFFFFFF) < 0x80000000


def seq_le(a: int, b: int) -> bool:
    """``a <= b`` in 32-bit sequence space."""
    return not seq_gt(a, b)


@dataclass(frozen=True)
class Step:
    """One packet of a sample.

    Attributes:
        dt: milliseconds since the previous packet of the capture (0 for the first one).
        d: sender, ``"o"`` (originator) or ``"r"`` (responder).
        flags: TCP flags as letters, e.g. ``"S"``, ``"SA"``, ``"PA"``, ``"FA"``, ``"R"``.
        n: payload length in bytes.
        seq: relative sequence number override (relative to the sender's ISN).
        ack: relative acknowledgement number override (relative to the receiver's ISN).
        hold: keep the segment in flight until the peer has sent its next segment.
        win: raw TCP window field override.
    """

    dt: float
    d: Direction
    flags: str
    n: int = 0
    seq: int | None = None
    ack: int | None = None
    hold: bool = False
    win: int | None = None


@dataclass
class Flow:
    """One TCP connection (4-tuple incarnation) of a sample.

    Attributes:
        steps: the packets, in capture order.
        isn_o: originator ISN.
        isn_r: responder ISN.
        family: 4 or 6.
        encap: ``"eth"`` (plain Ethernet II) or ``"qinq"`` (802.1ad 100 + 802.1Q 10).
        midstream: ``(orig_bytes, resp_bytes)`` already exchanged before the capture starts;
            ``None`` if the capture includes the handshake.
        timestamps: add the TCP timestamps option (SYN option set is always complete).
    """

    steps: list[Step]
    isn_o: int = ISN_O
    isn_r: int = ISN_R
    family: Literal[4, 6] = 4
    encap: Literal["eth", "qinq"] = "eth"
    midstream: tuple[int, int] | None = None
    timestamps: bool = True


@dataclass
class Sample:
    """A capture file: one or more flows written back to back."""

    name: str
    behaviour: str
    flows: list[Flow]

    @property
    def fmt(self) -> Literal["pcap", "pcapng"]:
        """Output format, derived from the file name."""
        return "pcapng" if self.name.endswith(".pcapng") else "pcap"


@dataclass
class Segment:
    """A segment as built by the sender model, before encapsulation."""

    d: Direction
    flags: int
    seq: int
    ack: int
    payload: bytes
    tsval: int | None


@dataclass
class Side:
    """Minimal TCP sender/receiver state of one endpoint."""

    d: Direction
    isn: int
    ts_base: int
    ip_id: int
    snd_nxt: int = 0
    rcv_nxt: int | None = None
    syn_sent: bool = False
    peer_tsval: int = 0
    pending: list[Segment] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.snd_nxt = self.isn

    def receive(self, seg: Segment) -> None:
        """Update ``RCV.NXT`` and the echoed timestamp from a delivered segment."""
        if seg.tsval is not None:
            self.peer_tsval = seg.tsval
        if seg.flags & dpkt.tcp.TH_RST:
            return
        if seg.flags & dpkt.tcp.TH_SYN:
            if self.rcv_nxt is None:
                self.rcv_nxt = seq_add(seg.seq, 1)
            return
        end = seq_add(seg.seq, len(seg.payload) + (1 if seg.flags & dpkt.tcp.TH_FIN else 0))
        if self.rcv_nxt is None or seq_le(seg.seq, self.rcv_nxt) and seq_gt(end, self.rcv_nxt):
            self.rcv_nxt = end


def parse_flags(letters: str) -> int:
    """Turn ``"FA"`` style letters into TCP flag bits."""
    bits = 0
    for letter in letters:
        bits |= FLAG_BITS[letter]
    return bits


def make_payload(d: Direction, rel_offset: int, n: int) -> bytes:
    """Payload bytes for stream offset ``rel_offset`` (0 = first data byte) of direction ``d``."""
    pattern = PAYLOAD_PATTERN[d]
    return bytes(pattern[(rel_offset + i) % len(pattern)] for i in range(n))


def tcp_options(flags: int, tsval: int | None, tsecr: int, mss: int) -> bytes:
    """TCP options as Linux lays them out.

    SYN and SYN-ACK: MSS, SACK-permitted, timestamps, NOP, window scale (20 bytes).
    Other segments: NOP, NOP, timestamps (12 bytes) when timestamps are in use.
    RSTs carry no options.
    """
    if flags & dpkt.tcp.TH_RST:
        return b""
    if flags & dpkt.tcp.TH_SYN:
        assert tsval is not None
        return (
            struct.pack(">BBH", 2, 4, mss)
            + b"\x04\x02"
            + struct.pack(">BBII", 8, 10, tsval, tsecr)
            + b"\x01"
            + struct.pack(">BBB", 3, 3, WSCALE)
        )
    if tsval is None:
        return b""
    return b"\x01\x01" + struct.pack(">BBII", 8, 10, tsval, tsecr)


def default_window(flags: int, d: Direction, family: int) -> int:
    """Raw window field: Linux-like SYN/SYN-ACK windows, scaled windows afterwards, 0 on RST."""
    if flags & dpkt.tcp.TH_RST:
        return 0
    if flags & dpkt.tcp.TH_SYN:
        if family == 6:
            return 64800
        return 65160 if flags & dpkt.tcp.TH_ACK else 64240
    return 502 if d == "o" else 509


def encapsulate(flow: Flow, d: Direction, tcp: dpkt.tcp.TCP, ip_id: int) -> bytes:
    """Wrap a TCP segment in IPv4/IPv6 and Ethernet (optionally QinQ) and serialise it."""
    src_mac, dst_mac = (ORIG_MAC, RESP_MAC) if d == "o" else (RESP_MAC, ORIG_MAC)
    ip: dpkt.ip.IP | dpkt.ip6.IP6
    if flow.family == 4:
        src, dst = (ORIG_V4, RESP_V4) if d == "o" else (RESP_V4, ORIG_V4)
        ip = dpkt.ip.IP(
            src=socket.inet_pton(socket.AF_INET, src),
            dst=socket.inet_pton(socket.AF_INET, dst),
            p=dpkt.ip.IP_PROTO_TCP,
            ttl=64,
            id=ip_id,
            df=1,
            data=tcp,
        )
        eth_type = dpkt.ethernet.ETH_TYPE_IP
    else:
        src, dst = (ORIG_V6, RESP_V6) if d == "o" else (RESP_V6, ORIG_V6)
        ip = dpkt.ip6.IP6(
            src=socket.inet_pton(socket.AF_INET6, src),
            dst=socket.inet_pton(socket.AF_INET6, dst),
            nxt=dpkt.ip.IP_PROTO_TCP,
            hlim=64,
            plen=len(tcp),
            data=tcp,
        )
        eth_type = dpkt.ethernet.ETH_TYPE_IP6
    if flow.encap == "qinq":
        eth = dpkt.ethernet.Ethernet(
            src=src_mac,
            dst=dst_mac,
            type=dpkt.ethernet.ETH_TYPE_8021AD,
            vlan_tags=[
                dpkt.ethernet.VLANtag8021Q(id=100),  # outer S-tag (TPID 0x88a8)
                dpkt.ethernet.VLANtag8021Q(id=10),  # inner C-tag (TPID 0x8100)
            ],
            data=ip,
        )
    else:
        eth = dpkt.ethernet.Ethernet(src=src_mac, dst=dst_mac, type=eth_type, data=ip)
    return bytes(eth)


def build_flow(flow: Flow, t_us: int) -> tuple[list[tuple[int, bytes]], int]:
    """Run the sender model over a flow.

    Args:
        flow: the flow description.
        t_us: time of the previous packet of the capture (microseconds since the epoch).

    Returns:
        ``[(timestamp_us, frame_bytes), ...]`` and the time of the last packet.
    """
    orig = Side("o", flow.isn_o, ts_base=0x1C2D3E4F, ip_id=0x8A21)
    resp = Side("r", flow.isn_r, ts_base=0x5E6F7081, ip_id=0x3C07)
    sides = {"o": orig, "r": resp}
    peer_of = {"o": resp, "r": orig}
    if flow.midstream is not None:
        sent_o, sent_r = flow.midstream
        for side, peer, sent in ((orig, resp, sent_o), (resp, orig, sent_r)):
            side.syn_sent = True
            side.snd_nxt = seq_add(side.isn, 1 + sent)
            peer.rcv_nxt = side.snd_nxt
    mss = 1440 if flow.family == 6 else 1460
    out: list[tuple[int, bytes]] = []
    for step in flow.steps:
        t_us += round(step.dt * 1000)
        side, peer = sides[step.d], peer_of[step.d]
        flags = parse_flags(step.flags)
        syn = bool(flags & dpkt.tcp.TH_SYN)
        if step.seq is not None:
            seq = seq_add(side.isn, step.seq)
        elif syn and side.syn_sent:
            seq = side.isn  # SYN retransmission / simultaneous-open SYN-ACK
        else:
            seq = side.snd_nxt
        if step.ack is not None:
            ack = seq_add(peer.isn, step.ack)
        elif flags & dpkt.tcp.TH_ACK:
            if side.rcv_nxt is None:
                raise ValueError(f"{step}: ACK before anything was received")
            ack = side.rcv_nxt
        else:
            ack = 0
        rel_data = (seq - side.isn - 1) & 0xFFFFFFFF
        payload = make_payload(step.d, rel_data, step.n)
        use_ts = flow.timestamps and not flags & dpkt.tcp.TH_RST
        tsval = (side.ts_base + (t_us - EPOCH_US) // 1000) & 0xFFFFFFFF if use_ts else None
        tsecr = 0 if syn and not flags & dpkt.tcp.TH_ACK else side.peer_tsval
        opts = tcp_options(flags, tsval, tsecr, mss)
        assert len(opts) % 4 == 0
        tcp = dpkt.tcp.TCP(
            sport=ORIG_PORT if step.d == "o" else RESP_PORT,
            dport=RESP_PORT if step.d == "o" else ORIG_PORT,
            seq=seq,
            ack=ack,
            off=(20 + len(opts)) // 4,
            flags=flags,
            win=step.win if step.win is not None else default_window(flags, step.d, flow.family),
            opts=opts,
            data=payload,
        )
        ip_id = 0 if flags & dpkt.tcp.TH_RST else side.ip_id
        side.ip_id = (side.ip_id + 1) & 0xFFFF
        out.append((t_us, encapsulate(flow, step.d, tcp, ip_id)))

        # Sender state.
        end = seq_add(seq, step.n + (1 if syn else 0) + (1 if flags & dpkt.tcp.TH_FIN else 0))
        if not flags & dpkt.tcp.TH_RST and seq_gt(end, side.snd_nxt):
            side.snd_nxt = end
        if syn:
            side.syn_sent = True
        # Segments that were in flight towards this side arrive only now.
        for held in side.pending:
            side.receive(held)
        side.pending.clear()
        seg = Segment(step.d, flags, seq, ack, payload, tsval)
        if step.hold:
            peer.pending.append(seg)
        else:
            peer.receive(seg)
    return out, t_us


def handshake() -> list[Step]:
    """SYN, SYN-ACK 20 ms later, ACK."""
    return [Step(0, "o", "S"), Step(20, "r", "SA"), Step(0.05, "o", "A")]


def request_response(req: int = 120, resp: int = 600) -> list[Step]:
    """Request, pure ACK from the responder, response, ACK."""
    return [
        Step(0.1, "o", "PA", req),
        Step(20, "r", "A"),
        Step(0.5, "r", "PA", resp),
        Step(0.05, "o", "A"),
    ]


def close4_by_orig(dt: float = 1.0) -> list[Step]:
    """4-way close: orig FIN, resp ACK, resp FIN, orig ACK."""
    return [Step(dt, "o", "FA"), Step(20, "r", "A"), Step(0.5, "r", "FA"), Step(0.05, "o", "A")]


def basic_connection() -> list[Step]:
    """The handshake-basic packet sequence (also reused for IPv6 and QinQ)."""
    return handshake() + request_response() + close4_by_orig()


def quick_exchange() -> list[Step]:
    """Request and a response that acknowledges it directly, then the orig's ACK."""
    return [Step(0.1, "o", "PA", 120), Step(20, "r", "PA", 600), Step(0.05, "o", "A")]


SAMPLES: list[Sample] = [
    Sample(
        "handshake-basic.pcap",
        "3-way handshake, request/response, 4-way close started by orig",
        [Flow(basic_connection())],
    ),
    Sample(
        "close-three-way.pcap",
        "close with orig FIN, resp FIN+ACK (acks orig FIN), orig ACK",
        [
            Flow(
                handshake()
                + quick_exchange()
                + [Step(1, "o", "FA"), Step(20, "r", "FA"), Step(0.05, "o", "A")]
            )
        ],
    ),
    Sample(
        "simultaneous-open.pcap",
        "crossing SYNs, each side answers with SYN-ACK reusing its ISN, data, 4-way close",
        [
            Flow(
                [
                    Step(0, "o", "S", hold=True),
                    Step(5, "r", "S"),
                    Step(0.05, "o", "SA"),
                    Step(15, "r", "SA"),
                ]
                + quick_exchange()
                + close4_by_orig()
            )
        ],
    ),
    Sample(
        "simultaneous-close.pcapng",
        "both FINs cross in flight (each acks only the peer's data), then both ACK the FINs",
        [
            Flow(
                handshake()
                + quick_exchange()
                + [
                    Step(1, "o", "FA", hold=True),
                    Step(5, "r", "FA"),
                    Step(0.05, "o", "A"),
                    Step(15, "r", "A"),
                ]
            )
        ],
    ),
    Sample(
        "half-close.pcap",
        "orig sends request then FIN; resp keeps sending data (orig ACKs), then resp FIN",
        [
            Flow(
                handshake()
                + [
                    Step(0.1, "o", "PA", 120),
                    Step(0.1, "o", "FA"),
                    Step(20, "r", "A"),
                    Step(0.5, "r", "A", 1448),
                    Step(0.05, "o", "A"),
                    Step(1, "r", "A", 1448),
                    Step(0.05, "o", "A"),
                    Step(1, "r", "PA", 500),
                    Step(0.05, "o", "A"),
                    Step(0.5, "r", "FA"),
                    Step(0.05, "o", "A"),
                ]
            )
        ],
    ),
    Sample(
        "rst-by-orig.pcap",
        "established, data both ways, orig aborts with a bare RST (seq = resp's RCV.NXT)",
        [Flow(handshake() + quick_exchange() + [Step(2000, "o", "R")])],
    ),
    Sample(
        "rst-by-resp.pcap",
        "established, data both ways, resp aborts with RST+ACK",
        [Flow(handshake() + quick_exchange() + [Step(1000, "r", "RA")])],
    ),
    Sample(
        "refused.pcap",
        "SYN answered by RST+ACK (seq 0, ack ISN+1): port closed",
        [Flow([Step(0, "o", "S"), Step(20, "r", "RA")], isn_r=0)],
    ),
    Sample(
        "syn-timeout.pcap",
        "SYN and 3 retransmissions with the same ISN at +1 s, +3 s, +7 s; no answer",
        [
            Flow(
                [
                    Step(0, "o", "S"),
                    Step(1000, "o", "S"),
                    Step(2000, "o", "S"),
                    Step(4000, "o", "S"),
                ]
            )
        ],
    ),
    Sample(
        "time-wait-reuse.pcap",
        "connection closed by orig (orig in TIME-WAIT), 5 s later a new SYN on the same "
        "4-tuple with a higher ISN and a full second connection",
        [
            Flow(basic_connection()),
            Flow(
                [Step(5000, "o", "S"), Step(20, "r", "SA"), Step(0.05, "o", "A")]
                + request_response()
                + close4_by_orig(),
                isn_o=0x73F0C5A0,
                isn_r=0x0D1E2F30,
            ),
        ],
    ),
    Sample(
        "missing-syn.pcap",
        "capture starts mid-stream (no SYN): data both ways, then a 4-way close by orig",
        [
            Flow(
                [
                    Step(0, "o", "PA", 200),
                    Step(20, "r", "PA", 1000),
                    Step(0.05, "o", "A"),
                    Step(0.5, "r", "PA", 500),
                    Step(0.05, "o", "A"),
                ]
                + close4_by_orig(),
                midstream=(1000, 5000),
            )
        ],
    ),
    Sample(
        "seq-wrap.pcap",
        "ISNs 0xFFFFFF00 / 0xFFFFFFF0: both sequence spaces wrap past 2^32; 4-way close",
        [
            Flow(
                handshake()
                + [
                    Step(0.1, "o", "A", 200),  # 0xffffff01 .. 0xffffffc8
                    Step(0.05, "o", "PA", 55),  # ends exactly at 2^32
                    Step(0.05, "o", "PA", 100),  # starts at seq 0
                    Step(20, "r", "A"),  # ack wrapped
                    Step(0.5, "r", "A", 1000),  # straddles 2^32
                    Step(0.05, "o", "A"),
                    Step(0.5, "r", "PA", 500),
                    Step(0.05, "o", "A"),
                ]
                + close4_by_orig(),
                isn_o=0xFFFFFF00,
                isn_r=0xFFFFFFF0,
            )
        ],
    ),
    Sample(
        "ipv6-basic.pcap",
        "handshake-basic over IPv6 (2001:db8::1 -> 2001:db8::2, MSS 1440)",
        [Flow(basic_connection(), family=6)],
    ),
    Sample(
        "vlan-qinq.pcap",
        "handshake-basic inside 802.1ad outer tag 100 + 802.1Q inner tag 10",
        [Flow(basic_connection(), encap="qinq")],
    ),
    Sample(
        "syn-retransmit-then-established.pcap",
        "SYN retransmitted after 1 s, then SYN-ACK, ACK, data and a 3-way close",
        [
            Flow(
                [Step(0, "o", "S"), Step(1000, "o", "S"), Step(20, "r", "SA"), Step(0.05, "o", "A")]
                + quick_exchange()
                + [Step(1, "o", "FA"), Step(20, "r", "FA"), Step(0.05, "o", "A")]
            )
        ],
    ),
    Sample(
        "synack-unacked.pcap",
        "SYN, SYN-ACK, SYN-ACK retransmitted at +1 s and +3 s, never ACKed",
        [
            Flow(
                [
                    Step(0, "o", "S"),
                    Step(20, "r", "SA"),
                    Step(1000, "r", "SA"),
                    Step(2000, "r", "SA"),
                ]
            )
        ],
    ),
    Sample(
        "rst-after-fin.pcap",
        "orig sends request + FIN, resp ACKs, resp sends data, orig answers with RST "
        "(RFC 1122 4.2.2.13: data for a closed receiver)",
        [
            Flow(
                handshake()
                + [
                    Step(0.1, "o", "PA", 120),
                    Step(0.1, "o", "FA"),
                    Step(20, "r", "A"),
                    Step(1, "r", "PA", 600),
                    Step(0.05, "o", "R"),
                ]
            )
        ],
    ),
    Sample(
        "time-wait-assassination.pcap",
        "4-way close by orig, then 50 ms later resp sends RST that hits orig's TIME-WAIT "
        "(RFC 1337)",
        [Flow(basic_connection() + [Step(50, "r", "R")])],
    ),
    Sample(
        "lone-rst.pcap",
        "a single RST+ACK from 192.0.2.1:40000 with no connection around it",
        [Flow([Step(0, "o", "RA")], midstream=(3000, 7000))],
    ),
]


def check_ts(t_us: int, ts: float) -> None:
    """Make sure the float handed to dpkt round-trips to the intended microsecond."""
    assert int(ts) * 1_000_000 + round((ts % 1) * 1_000_000) == t_us, (t_us, ts)
    assert round(ts * 1e6) == t_us, (t_us, ts)


def write_sample(sample: Sample, fh: BinaryIO) -> int:
    """Write one sample to an open binary file; returns the packet count."""
    frames: list[tuple[int, bytes]] = []
    t_us = EPOCH_US
    for flow in sample.flows:
        packets, t_us = build_flow(flow, t_us)
        frames.extend(packets)
    writer: dpkt.pcap.Writer | dpkt.pcapng.Writer
    if sample.fmt == "pcapng":
        writer = dpkt.pcapng.Writer(fh, snaplen=65535, linktype=dpkt.pcap.DLT_EN10MB)
    else:
        writer = dpkt.pcap.Writer(fh, snaplen=65535, linktype=dpkt.pcap.DLT_EN10MB)
    for t, frame in frames:
        ts = t / 1_000_000
        check_ts(t, ts)
        writer.writepkt(frame, ts=ts)
    return len(frames)


def generate(out_dir: Path, names: Sequence[str] = ()) -> list[tuple[str, int, str]]:
    """Write the samples (all, or only ``names``) to ``out_dir``.

    Returns:
        ``[(file name, packet count, sha256 hex), ...]``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    result = []
    for sample in SAMPLES:
        if names and sample.name not in names:
            continue
        path = out_dir / sample.name
        with path.open("wb") as fh:
            count = write_sample(sample, fh)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        result.append((sample.name, count, digest))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent, help="output directory"
    )
    parser.add_argument("--list", action="store_true", help="print name, packets, sha256")
    parser.add_argument("names", nargs="*", help="only these sample file names")
    args = parser.parse_args(argv)
    unknown = set(args.names) - {s.name for s in SAMPLES}
    if unknown:
        parser.error(f"unknown sample(s): {', '.join(sorted(unknown))}")
    for name, count, digest in generate(args.out, args.names):
        if args.list:
            print(f"{digest}  {count:3d}  {name}")
        else:
            print(f"wrote {args.out / name} ({count} packets)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
