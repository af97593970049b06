"""IP fragment reassembly (issue 11): TCP carried in IPv4 and IPv6 fragments is decoded in
the frame that completes its datagram; reassembly is bounded (fragments per datagram,
datagrams and bytes held, a 30 s timeout like Linux) and overlaps follow Linux / RFC 5722:
an exact or contained duplicate is dropped, a partial overlap discards the datagram."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from tcpflow_analyzer.decode import Decoder
from tcpflow_analyzer.ipfrag import Reassembler
from tcpflow_analyzer.pipeline import analyze_to_report
from tcpflow_analyzer.segment import ACK, FIN, SYN
from tcpflow_analyzer.tracker import TrackerConfig

from . import capbuild as cb

PAYLOAD = bytes(range(256)) * 8  # 2048 bytes


def frags4(l3: bytes, size: int = 512, ip_id: int = 7) -> list[bytes]:
    """Ethernet frames of the IPv4 packet ``l3`` cut into fragments of ``size`` bytes."""
    ihl = (l3[0] & 15) * 4
    body, proto = l3[ihl:], l3[9]
    src, dst = l3[12:16], l3[16:20]
    out = []
    for at in range(0, len(body), size):
        more = 0x2000 if at + size < len(body) else 0
        out.append(cb.ether(cb.ipv4(body[at : at + size], src=src, dst=dst, proto=proto,
                                    ip_id=ip_id, flags_frag=more | (at >> 3))))
    return out


def frags6(l3: bytes, size: int = 512, ident: int = 9) -> list[bytes]:
    """Ethernet frames of the IPv6 packet ``l3`` (no extension headers) in fragments."""
    body, nxt = l3[40:], l3[6]
    src, dst = l3[8:24], l3[24:40]
    out = []
    for at in range(0, len(body), size):
        more = at + size < len(body)
        frag = cb.v6_fragment(at >> 3, more, ident)
        out.append(cb.ether(cb.ipv6(body[at : at + size], src=src, dst=dst, next_header=nxt,
                                    ext=[cb.v6_ext(cb.V6_HOPOPTS), frag]),
                            ethertype=cb.ETH_IPV6))
    return out


def _segment(ipver: int) -> tuple[bytes, list[bytes]]:
    if ipver == 4:
        l3 = cb.tcp4(flags=cb.DATA_FLAGS, payload=PAYLOAD)
        return l3, frags4(l3)
    l3 = cb.tcp6(flags=cb.DATA_FLAGS, payload=PAYLOAD)
    return l3, frags6(l3)


def _feed(frames: list[bytes], ts: list[float] | None = None) -> tuple[list[object], Decoder]:
    dec = Decoder()
    times = ts or [0.001 * i for i in range(len(frames))]
    return [dec.decode(i, t, 1, f) for i, (t, f) in enumerate(zip(times, frames, strict=True),
                                                              1)], dec


@pytest.mark.parametrize("ipver", [4, 6])
@pytest.mark.parametrize("order", ["in-order", "reversed", "last-first-then-rest", "dups"])
def test_fragmented_segment_is_decoded_in_the_frame_that_completes_it(
    ipver: int, order: str,
) -> None:
    _, frames = _segment(ipver)
    if order == "reversed":
        frames = frames[::-1]
    elif order == "last-first-then-rest":
        frames = frames[-1:] + frames[:-1]
    elif order == "dups":
        frames = frames[:1] + frames[:-1] + frames[1:2] + frames[-1:]
    segs, dec = _feed(frames)
    assert [s is not None for s in segs] == [False] * (len(frames) - 1) + [True]
    seg = segs[-1]
    assert cb.seg_fields(seg) == cb.expected_fields(  # type: ignore[arg-type]
        ipver=ipver, flags=cb.DATA_FLAGS, plen=len(PAYLOAD))
    assert seg.frame == len(frames)  # type: ignore[attr-defined]
    counts = dec.take_counts()
    assert {k: v for k, v in counts.items() if v} == {
        "ip_fragments_seen": len(frames), "ip_fragments_reassembled": 1,
        **({"ip_fragments_duplicate": 2} if order == "dups" else {})}
    assert dec.skipped == {"ip_fragment": len(frames) - 1}


@pytest.mark.parametrize("ipver", [4, 6])
def test_partial_overlap_discards_the_datagram(ipver: int) -> None:
    """RFC 5722 (and Linux for IPv4 since 4.19): an overlapping fragment discards the whole
    datagram; a later complete copy under the same identification starts afresh."""
    l3, frames = _segment(ipver)
    # bytes 768-1535: straddles the fragments 512-1023 and 1024-1535
    overlap = (frags4 if ipver == 4 else frags6)(l3, size=768)[1]
    segs, dec = _feed([frames[0], frames[1], overlap, frames[2], frames[3]])
    assert segs == [None] * 5
    segs2 = [dec.decode(9 + i, 1.0, 1, f) for i, f in enumerate(frames)]
    assert segs2[-1] is not None and segs2[-1].plen == len(PAYLOAD)
    counts = dec.take_counts()
    assert (counts["ip_fragments_overlapping"], counts["ip_fragments_reassembled"],
            counts["ip_fragments_incomplete"]) == (1, 1, 0)


@pytest.mark.parametrize("gap_s", [29.9, 30.0])
def test_datagram_times_out_30_s_after_its_first_fragment(gap_s: float) -> None:
    _, frames = _segment(4)
    segs, dec = _feed(frames, [0.0, 1.0, 2.0, 3.0, gap_s])
    counts = dec.take_counts()
    if gap_s < 30:
        assert segs[-1] is not None and counts["ip_fragments_reassembled"] == 1
    else:
        assert segs[-1] is None
        # the late fragment starts a new datagram, which the capture's end leaves incomplete
        assert (counts["ip_fragments_timed_out"], counts["ip_fragments_incomplete"],
                counts["ip_fragments_reassembled"]) == (1, 1, 0)


def test_fragments_per_datagram_are_bounded() -> None:
    l3 = cb.tcp4(flags=cb.DATA_FLAGS, payload=PAYLOAD)
    frames = frags4(l3, size=8)  # 259 fragments > 128
    segs, dec = _feed(frames)
    assert segs[-1] is None
    counts = dec.take_counts()
    assert counts["ip_fragments_over_limit"] == len(frames) - 128
    assert counts["ip_fragments_incomplete"] == 1


def test_datagrams_and_bytes_held_are_bounded() -> None:
    r = Reassembler(max_datagrams=10, max_bytes=4000)
    for ident in range(50):
        r.add(("k", ident), 0.0, 0, True, b"x" * 800)
    assert len(r) == 5 and r.held_bytes == 4000  # the byte bound bites first
    assert r.counts["over_limit"] == 45
    r2 = Reassembler(max_datagrams=10)
    for ident in range(50):
        r2.add(("k", ident), 0.0, 0, True, b"x" * 8)
    assert len(r2) == 10 and r2.counts["over_limit"] == 40
    r2.finish()
    assert (len(r2), r2.held_bytes, r2.counts["incomplete"]) == (0, 0, 10)


def test_default_bounds_hold_against_a_fragment_flood() -> None:
    dec = Decoder()
    for ident in range(5000):
        frame = cb.ether(cb.ipv4(b"y" * 1480, proto=6, ip_id=ident & 0xFFFF,
                                 src=bytes([10, 0, ident >> 8 & 255, ident & 255]),
                                 flags_frag=0x2000))
        dec.decode(ident + 1, 0.0, 1, frame)
    held = dec.fragments
    assert len(held) <= 1024 and held.held_bytes <= 4 * 1024 * 1024


@pytest.mark.parametrize(
    ("bad", "counter"),
    [
        ((0, True, b"x" * 12), "over_limit"),  # not a multiple of 8 while more follow
        ((0, True, b""), "over_limit"),  # empty
        ((65528, False, b"x" * 16), "over_limit"),  # past 65,535 bytes
    ],
)
def test_malformed_fragments_are_dropped(bad: tuple[int, bool, bytes], counter: str) -> None:
    r = Reassembler()
    assert r.add("k", 0.0, *bad) is None
    assert r.counts[counter] == 1 and len(r) == 0


def test_conflicting_ends_discard_the_datagram() -> None:
    r = Reassembler()
    r.add("k", 0.0, 16, False, b"x" * 8)  # ends at 24
    assert r.add("k", 0.0, 32, True, b"x" * 8) is None  # past the known end
    assert r.counts["overlapping"] == 1 and len(r) == 0
    r.add("k", 0.0, 0, True, b"x" * 64)
    assert r.add("k", 0.0, 16, False, b"x" * 8) is None  # data held beyond this end
    assert r.counts["overlapping"] == 2


def test_fragment_spanning_two_held_runs_is_a_duplicate() -> None:
    """Linux judges duplicates against runs of contiguous fragments, not single ones."""
    r = Reassembler()
    r.add("k", 0.0, 0, True, b"a" * 8)
    r.add("k", 0.0, 8, True, b"b" * 8)
    assert r.add("k", 0.0, 0, True, b"c" * 16) is None
    assert r.counts["duplicate"] == 1
    assert r.add("k", 0.0, 16, False, b"d" * 3) == (b"a" * 8 + b"b" * 8 + b"ddd", None)


def test_fragments_of_non_tcp_protocols_are_counted_as_that_protocol() -> None:
    icmp = [cb.ether(cb.ipv4(b"\x08\x00" + b"\x00" * 14, proto=1, flags_frag=0x2000)),
            cb.ether(cb.ipv4(b"\x00" * 8, proto=1, flags_frag=2))]
    segs, dec = _feed(icmp)
    assert segs == [None, None] and dec.skipped == {"non_tcp:icmp": 2}
    assert dec.fragments.counts["seen"] == 0


def test_fragment_cut_by_the_snaplen_cannot_be_reassembled() -> None:
    _, frames = _segment(4)
    segs, dec = _feed([frames[0][:100], *frames[1:]])
    assert segs[-1] is None
    assert dec.skipped == {"ip_fragment_truncated": 1, "ip_fragment": len(frames) - 1}


def test_fragmented_udp_tunnel_reaches_the_inner_segment() -> None:
    inner = cb.ether(cb.tcp4(flags=cb.DATA_FLAGS, payload=PAYLOAD))
    vxlan = b"\x08\x00\x00\x00\x00\x00\x01\x00" + inner
    udp = struct.pack("!HHHH", 5555, 4789, 8 + len(vxlan), 0) + vxlan
    outer = cb.ipv4(udp, proto=17, src=bytes([192, 0, 2, 1]), dst=bytes([192, 0, 2, 2]))
    segs, _ = _feed(frags4(outer))
    assert segs[-1] is not None and segs[-1].plen == len(PAYLOAD)  # type: ignore[attr-defined]


@pytest.mark.parametrize("ipver", [4, 6])
def test_connection_with_fragmented_segments_reads_as_if_unfragmented(
    ipver: int, tmp_path: Path,
) -> None:
    tcp = cb.tcp4 if ipver == 4 else cb.tcp6
    etype = cb.ETH_IPV4 if ipver == 4 else cb.ETH_IPV6
    split = frags4 if ipver == 4 else frags6
    o, r = (cb.ORIG4, cb.RESP4) if ipver == 4 else (cb.ORIG6, cb.RESP6)
    back = {"src": r, "dst": o, "sport": cb.RESP_PORT, "dport": cb.ORIG_PORT}
    data = tcp(seq=1001, ack=5001, flags=cb.DATA_FLAGS, payload=PAYLOAD)
    pkts = [tcp(seq=1000, flags=SYN), tcp(seq=5000, ack=1001, flags=SYN | ACK, **back),
            tcp(seq=1001, ack=5001, flags=ACK), data,
            tcp(seq=5001, ack=1001 + len(PAYLOAD), flags=ACK, **back),
            tcp(seq=1001 + len(PAYLOAD), ack=5001, flags=FIN | ACK),
            tcp(seq=5001, ack=1002 + len(PAYLOAD), flags=FIN | ACK, **back),
            tcp(seq=1002 + len(PAYLOAD), ack=5002, flags=ACK)]

    def cap(frames: list[bytes], name: str) -> str:
        return cb.write(tmp_path, name, cb.pcap_bytes(
            [(1, i * 1000, f) for i, f in enumerate(frames)]))

    whole = [cb.ether(p, ethertype=etype) for p in pkts]
    fragged = whole[:3] + split(data)[::-1] + whole[4:]  # arriving in reverse, as Linux sends
    cfg = TrackerConfig()
    want = analyze_to_report([cap(whole, "whole.pcap")], cfg)["connections"]
    rep = analyze_to_report([cap(fragged, "frag.pcap")], cfg)
    got = rep["connections"]
    skip = {"first_frame", "last_frame", "transitions", "handshake", "close", "time_wait",
            "anomaly_events", "start_ts", "end_ts", "duration_s", "measurements", "zeek"}
    assert [{k: v for k, v in c.items() if k not in skip} for c in got] == [
        {k: v for k, v in c.items() if k not in skip} for c in want]
    assert got[0]["zeek"]["history"] == want[0]["zeek"]["history"]
    assert got[0]["anomalies"] == {}
    assert rep["capture"]["ip_fragments_reassembled"] == 1
    assert rep["capture"]["ip_fragments_seen"] == len(split(data)) == 5


@pytest.mark.oracle
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_reassembly_agrees_with_tshark_frame_by_frame(tmp_path: Path) -> None:
    """Which frame carries which TCP segment after reassembly: ours against tshark's
    (in-order, reversed and duplicated fragments, IPv4 and IPv6)."""
    frames: list[bytes] = []
    for ipver, split in ((4, frags4), (6, frags6)):
        tcp = cb.tcp4 if ipver == 4 else cb.tcp6
        for i in range(3):
            l3 = tcp(seq=1000 + i * len(PAYLOAD), flags=cb.DATA_FLAGS, payload=PAYLOAD)
            parts = split(l3, 504 if i else 1000, 100 + i)
            frames += parts[::-1] if i == 1 else parts[:1] + parts if i == 2 else parts
    path = cb.write(tmp_path, "frag.pcap",
                    cb.pcap_bytes([(1, i * 1000, f) for i, f in enumerate(frames)]))
    out = subprocess.run(
        ["tshark", "-n", "-r", path, "-o", "tcp.relative_sequence_numbers:FALSE", "-T",
         "fields", "-e", "frame.number", "-e", "tcp.seq", "-e", "tcp.len"],
        capture_output=True, text=True, check=True).stdout
    theirs = {int(f[0]): (int(f[1]), int(f[2]))
              for f in (line.split("\t") for line in out.splitlines()) if f[1]}
    dec = Decoder()
    ours = {}
    for i, f in enumerate(frames, 1):
        seg = dec.decode(i, 0.0, 1, f)
        if seg is not None:
            ours[i] = (seg.seq, seg.plen)
    assert len(ours) == 6
    assert ours == theirs
