"""A PPPoE LENGTH shorter than the IP length inside it (issue 11, Zeek's pppoe-over-qinq
trace): the bytes beyond LENGTH are not payload.

That trace's pure ACKs carry an IPv4 total length of 46 but a PPPoE LENGTH of 42: the six
zero bytes past LENGTH are the Ethernet minimum-frame padding of a 40-byte datagram, counted
into the IP length (and the checksums) by whatever re-encapsulated the frames; the sender's
next segment starts at the same sequence number.  RFC 2516 makes LENGTH the PPP frame's
length, Linux's ``pppoe_rcv`` trims to it, tshark dissects only it.  So our readings take
the bytes out of the payload (``Segment.link_pad``); Zeek, whose PPPoE analyzer ignores
LENGTH, reads them as data, and the Zeek reading reproduces that.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from tcpflow_analyzer.decode import Decoder
from tcpflow_analyzer.pipeline import analyze_to_report
from tcpflow_analyzer.segment import ACK, PSH, SYN
from tcpflow_analyzer.tracker import TrackerConfig

from . import capbuild as cb

QINQ = [(cb.ETH_8021AD, 100), (cb.ETH_8021Q, 200)]
PAD = b"\x00" * 6


def _pppoe_frame(l3: bytes, *, v6: bool = False, pfc: bool = False, short_by: int = 0,
                 trailer: bytes = b"") -> bytes:
    """QinQ + PPPoE + PPP + ``l3``; LENGTH is ``short_by`` bytes short of the PPP frame,
    and ``trailer`` follows the PPP frame (padding LENGTH rightly leaves out)."""
    proto = (b"\x57" if v6 else b"\x21") if pfc else (b"\x00\x57" if v6 else b"\x00\x21")
    ppp = proto + l3
    head = struct.pack("!BBHH", 0x11, 0, 0x0F07, len(ppp) - short_by)
    return cb.ether(head + ppp + trailer, ethertype=cb.ETH_PPPOE, tags=QINQ)


def _decode(frame: bytes) -> tuple[object, dict[str, int]]:
    dec = Decoder()
    seg = dec.decode(1, 1.0, 1, frame)
    return seg, dec.take_counts()


@pytest.mark.parametrize("v6", [False, True], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("pfc", [False, True], ids=["ppp-proto", "ppp-pfc"])
def test_bytes_beyond_the_pppoe_length_are_not_payload(v6: bool, pfc: bool) -> None:
    # the IP length (and the TCP checksum) cover 6 zero bytes that LENGTH leaves out
    l3 = (cb.tcp6 if v6 else cb.tcp4)(seq=7000, ack=9000, flags=ACK, payload=PAD)
    seg, counts = _decode(_pppoe_frame(l3, v6=v6, pfc=pfc, short_by=6))
    assert seg is not None
    assert (seg.plen, seg.link_pad, seg.csum_ok, seg.seq, seg.ack) == (0, 6, True, 7000, 9000)
    assert seg.vlan == (100, 200)
    assert counts["ip_length_beyond_frame"] == 1


def test_pppoe_length_cutting_into_the_payload_keeps_what_it_covers() -> None:
    l3 = cb.tcp4(seq=7000, ack=9000, flags=ACK | PSH, payload=b"x" * 30)
    seg, counts = _decode(_pppoe_frame(l3, short_by=10))
    assert seg is not None
    assert (seg.plen, seg.link_pad, seg.csum_ok) == (20, 10, True)
    assert counts["ip_length_beyond_frame"] == 1


@pytest.mark.parametrize("trailer", [b"", PAD, b"\x00" * 4], ids=["none", "padding", "fcs"])
def test_a_pppoe_length_that_covers_the_datagram_changes_nothing(trailer: bytes) -> None:
    l3 = cb.tcp4(seq=7000, ack=9000, flags=ACK | PSH, payload=b"hello")
    seg, counts = _decode(_pppoe_frame(l3, trailer=trailer))
    assert seg is not None
    assert (seg.plen, seg.link_pad, seg.csum_ok) == (5, 0, True)
    assert counts["ip_length_beyond_frame"] == 0


def _frames() -> list[bytes]:
    """A handshake and a request over QinQ PPPoE; the server's pure ACK carries the
    pppoe-over-qinq padding, then its 4-byte response starts at the same sequence number
    (inside the 6 bytes Zeek reads as data, so Zeek calls it a retransmission)."""
    o, r = 1000, 5000

    def c(seq: int, ack: int, flags: int, data: bytes = b"") -> bytes:
        return _pppoe_frame(cb.tcp4(seq=seq, ack=ack, flags=flags, payload=data))

    def s(seq: int, ack: int, flags: int, data: bytes = b"", short_by: int = 0) -> bytes:
        return _pppoe_frame(cb.tcp4(src=cb.RESP4, dst=cb.ORIG4, sport=cb.RESP_PORT,
                                    dport=cb.ORIG_PORT, seq=seq, ack=ack, flags=flags,
                                    payload=data), short_by=short_by)

    frames = [
        c(o, 0, SYN), s(r, o + 1, SYN | ACK), c(o + 1, r + 1, ACK),
        c(o + 1, r + 1, ACK | PSH, b"q" * 100),
        s(r + 1, o + 101, ACK, PAD, short_by=6),  # the padded pure ACK
        s(r + 1, o + 101, ACK | PSH, b"a" * 4),  # the response, at the ACK's seq
        c(o + 101, r + 5, ACK),
    ]
    return frames


def _conversation() -> bytes:
    return cb.pcap_bytes((i, 0, f) for i, f in enumerate(_frames()))


@pytest.mark.parametrize("semantics", ["default", "wireshark"])
def test_padded_pppoe_ack_raises_no_false_retransmission(tmp_path: Path,
                                                         semantics: str) -> None:
    path = tmp_path / "pppoe-padding.pcap"
    path.write_bytes(_conversation())
    report = analyze_to_report([str(path)], TrackerConfig(semantics=semantics))
    (conn,) = report["connections"]
    assert [(e["frame"], e["name"]) for e in conn["anomaly_events"]] == []
    assert report["capture"]["ip_length_beyond_frame"] == 1
    # Zeek reads the six bytes as data, so its reading sees the response as a retransmission
    assert conn["zeek"]["history"] == "ShADdt"


@pytest.mark.oracle
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_tshark_reads_the_padded_ack_as_a_pure_ack(tmp_path: Path) -> None:
    path = tmp_path / "pppoe-padding.pcap"
    path.write_bytes(_conversation())
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-T", "fields", "-e", "tcp.len"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["0", "0", "0", "100", "0", "4", "0"]
    dec = Decoder()
    lengths = []
    for frame in _frames():
        seg = dec.decode(1, 1.0, 1, frame)
        assert seg is not None
        lengths.append(str(seg.plen))
    assert lengths == out
