"""Encapsulations of issue 11: PPP with a compressed protocol field, L2TPv2 data messages,
MPLS over PPP, Cisco HDLC and IP over InfiniBand; their malformed variants are skipped with
a reason, never a crash.  tshark reads every crafted frame the same way (the oracle test)."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from tcpflow_analyzer.decode import Decoder
from tcpflow_analyzer.pipeline import analyze_to_report
from tcpflow_analyzer.tracker import TrackerConfig

from . import capbuild as cb

OUTER4_SRC, OUTER4_DST = bytes([203, 0, 113, 1]), bytes([203, 0, 113, 2])

INNER4 = cb.tcp4(sport=1234, dport=80, seq=1000, flags=cb.DATA_FLAGS, payload=b"hi")
INNER6 = cb.tcp6(sport=1234, dport=80, seq=1000, flags=cb.DATA_FLAGS, payload=b"hi")


def _pppoe(ppp: bytes) -> bytes:
    """A PPPoE session frame (RFC 2516) whose PPP part (protocol field on) is ``ppp``."""
    return cb.ether(struct.pack("!BBHH", 0x11, 0, 0x1234, len(ppp)) + ppp,
                    ethertype=cb.ETH_PPPOE)


def _udp4(payload: bytes, dport: int, sport: int = 1701) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    return cb.ether(cb.ipv4(udp, src=OUTER4_SRC, dst=OUTER4_DST, proto=17))


def _udp6(payload: bytes, dport: int, sport: int = 1701) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    return cb.ether(cb.ipv6(udp, next_header=17), ethertype=cb.ETH_IPV6)


def _l2tp(ppp: bytes, *, length: bool = False, seq: bool = False, offset: bytes | None = None,
          flags: int = 0, version: int = 2) -> bytes:
    """An L2TP message (RFC 2661 §3.1): the header with the chosen optional fields, then
    ``ppp``; ``length`` writes the true message length."""
    f = flags | version | (0x4000 if length else 0) | (0x0800 if seq else 0)
    f |= 0x0200 if offset is not None else 0
    tail = struct.pack("!HH", 7, 9)  # tunnel id, session id
    if seq:
        tail += struct.pack("!HH", 3, 4)  # Ns, Nr
    if offset is not None:
        tail += struct.pack("!H", len(offset)) + offset
    head_len = 2 + (2 if length else 0) + len(tail)
    head = struct.pack("!H", f) + (struct.pack("!H", head_len + len(ppp)) if length else b"")
    return head + tail + ppp


def _ipoib(l3: bytes, ethertype: int = cb.ETH_IPV4) -> bytes:
    """LINKTYPE_IPOIB (242): a 40-byte pseudo-header (20 zero bytes: no GRH; then the
    20-byte destination address), the 16-bit type and 16 reserved bits (RFC 4391 §6)."""
    daddr = bytes([0x00, 0x00, 0x00, 0x48]) + bytes.fromhex("fe800000000000000002c90300001234")
    return b"\x00" * 20 + daddr + struct.pack("!HH", ethertype, 0) + l3


def _chdlc(l3: bytes, proto: int = cb.ETH_IPV4, address: int = 0x0F) -> bytes:
    return struct.pack("!BBH", address, 0, proto) + l3


ACFC = b"\xff\x03"  # HDLC address and control, sent unless negotiated away (RFC 1661 §6.6)

# name -> (linktype, frame); each frame carries INNER4 or INNER6
CASES: dict[str, tuple[int, bytes]] = {
    "pppoe-pfc-ipv4": (1, _pppoe(b"\x21" + INNER4)),
    "pppoe-pfc-ipv6": (1, _pppoe(b"\x57" + INNER6)),
    "pppoe-pfc-in-vlan": (1, cb.ether(struct.pack("!BBHH", 0x11, 0, 1, len(INNER4) + 1)
                                      + b"\x21" + INNER4, ethertype=cb.ETH_PPPOE,
                                      tags=[(cb.ETH_8021Q, 42)])),
    "ppp-pfc-ipv4": (9, ACFC + b"\x21" + INNER4),
    "ppp-pfc-no-acfc-ipv6": (9, b"\x57" + INNER6),
    "ppp-mpls-unicast": (9, ACFC + b"\x02\x81" + cb.mpls(INNER4, [100, 200])),
    "ppp-mpls-multicast-ipv6": (9, ACFC + b"\x02\x83" + cb.mpls(INNER6, [300])),
    "pppoe-mpls": (1, _pppoe(b"\x02\x81" + cb.mpls(INNER4, [16]))),
    "l2tp-plain": (1, _udp4(_l2tp(ACFC + b"\x00\x21" + INNER4), 1701)),
    "l2tp-length-seq": (1, _udp4(_l2tp(ACFC + b"\x00\x21" + INNER4, length=True, seq=True),
                                 1701, 33000)),
    "l2tp-offset-pad": (1, _udp4(_l2tp(ACFC + b"\x00\x21" + INNER4, length=True,
                                       offset=b"\x00\x00\x00"), 40000, 1701)),
    "l2tp-pfc-no-acfc": (1, _udp4(_l2tp(b"\x21" + INNER4), 1701)),
    "l2tp-ipv6-inside-over-ipv6": (1, _udp6(_l2tp(ACFC + b"\x00\x57" + INNER6, seq=True),
                                            1701)),
    "l2tp-priority-bit": (1, _udp4(_l2tp(ACFC + b"\x00\x21" + INNER4, flags=0x0100), 1701)),
    "chdlc-ipv4": (104, _chdlc(INNER4)),
    "chdlc-broadcast-ipv6": (104, _chdlc(INNER6, cb.ETH_IPV6, 0x8F)),
    "chdlc-mpls": (104, _chdlc(cb.mpls(INNER4, [1000]), cb.ETH_MPLS)),
    "ipoib-ipv4": (242, _ipoib(INNER4)),
    "ipoib-ipv6": (242, _ipoib(INNER6, cb.ETH_IPV6)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_tcp_inside_the_encapsulation_is_decoded(name: str) -> None:
    linktype, frame = CASES[name]
    dec = Decoder()
    seg = dec.decode(1, 0.0, linktype, frame)
    assert seg is not None, dec.skipped
    assert (seg.sport, seg.dport, seg.seq, seg.plen, seg.csum_ok) == (1234, 80, 1000, 2, True)
    assert seg.vlan == ((42,) if name == "pppoe-pfc-in-vlan" else ())


SKIPPED: dict[str, tuple[int, bytes, str]] = {
    "ppp-pfc-unknown-protocol": (9, ACFC + b"\x3d" + b"\x00" * 40, "non_ip:ppp_0x003d"),
    "pppoe-lcp-uncompressed": (1, _pppoe(b"\xc0\x21\x01\x01\x00\x04"), "non_ip:ppp_0xc021"),
    "ppp-mpls-without-bottom-of-stack": (9, ACFC + b"\x02\x81" + b"\x00\x01\x00\x40" * 3,
                                         "truncated"),
    "ppp-mpls-bad-ip-version": (9, ACFC + b"\x02\x81" + cb.mpls(b"\x70" + INNER4[1:], [16]),
                                "bad_ip_header"),
    "l2tp-control-message": (1, _udp4(_l2tp(b"\x00\x08\x00\x00\x00\x00\x00\x06", length=True,
                                            seq=True, flags=0x8000), 1701),
                             "non_tcp:l2tp_control"),
    "l2tp-version-3": (1, _udp4(_l2tp(INNER4, version=3), 1701), "unsupported_l2tpv3"),
    "l2tp-version-1-l2f": (1, _udp4(_l2tp(INNER4, version=1), 1701), "bad_l2tp_header"),
    "l2tp-length-below-its-header": (
        1, _udp4(b"\x40\x02\x00\x03\x00\x07\x00\x09" + ACFC + b"\x00\x21" + INNER4, 1701),
        "bad_l2tp_header"),
    "l2tp-length-cuts-the-ppp-frame": (
        1, _udp4(b"\x40\x02\x00\x09\x00\x07\x00\x09" + ACFC + b"\x00\x21" + INNER4, 1701),
        "truncated"),
    "l2tp-offset-beyond-datagram": (
        1, _udp4(b"\x02\x02\x00\x07\x00\x09\xff\xff" + ACFC + b"\x00\x21" + INNER4, 1701),
        "truncated"),
    "l2tp-header-cut": (1, _udp4(b"\x00\x02\x00\x07", 1701), "truncated"),
    "l2tp-lcp": (1, _udp4(_l2tp(ACFC + b"\xc0\x21\x01\x01\x00\x04"), 1701),
                 "non_ip:ppp_0xc021"),
    "chdlc-bad-address": (104, _chdlc(INNER4, address=0xFF), "bad_link_header"),
    "chdlc-bad-control": (104, b"\x0f\x03\x08\x00" + INNER4, "bad_link_header"),
    "chdlc-slarp": (104, _chdlc(b"\x00" * 18, 0x8035), "non_ip:slarp"),
    "chdlc-cdp": (104, _chdlc(b"\x02\xb4" + b"\x00" * 8, 0x2000), "non_ip:cdp"),
    "chdlc-cut": (104, b"\x0f\x00\x08", "truncated"),
    "ipoib-arp": (242, _ipoib(b"\x00\x20" + b"\x00" * 50, 0x0806), "non_ip:arp"),
    "ipoib-cut-in-pseudo-header": (242, _ipoib(INNER4)[:43], "truncated"),
}


@pytest.mark.parametrize("name", sorted(SKIPPED))
def test_malformed_or_non_tcp_variant_is_skipped_with_its_reason(name: str) -> None:
    linktype, frame, reason = SKIPPED[name]
    dec = Decoder()
    assert dec.decode(1, 0.0, linktype, frame) is None
    assert dec.skipped == {reason: 1}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_cut_of_an_encapsulated_frame_is_skipped_or_decoded_never_raises(
        name: str) -> None:
    linktype, frame = CASES[name]
    dec = Decoder()
    for cut in range(len(frame)):
        dec.decode(cut, 0.0, linktype, frame[:cut])
    assert set(dec.skipped) <= {"truncated", "bad_ip_header", "bad_tcp_header",
                                "bad_l2tp_header", "non_tcp:udp"}, dec.skipped


def test_mpls_pseudowires_nested_in_pppoe_are_bounded_not_a_recursion_error() -> None:
    frame = cb.ether(INNER4)
    for _ in range(300):  # PPPoE -> PPP MPLS -> control word -> Ethernet -> PPPoE ...
        frame = _pppoe(b"\x02\x81" + cb.mpls(b"\x00" * 4 + frame, [16]))
    dec = Decoder()
    assert dec.decode(1, 0.0, 1, frame) is None
    assert dec.skipped == {"too_many_encapsulations": 1}


def test_a_few_nested_mpls_pseudowires_over_ppp_are_unwrapped() -> None:
    frame = cb.ether(INNER4, tags=[(cb.ETH_8021Q, 5)])
    for _ in range(3):
        frame = _pppoe(b"\x02\x81" + cb.mpls(b"\x00" * 4 + frame, [16]))
    seg, dec = cb.decode_one(1, frame)
    assert seg is not None, dec.skipped
    assert (seg.sport, seg.vlan) == (1234, (5,))


@pytest.mark.parametrize("linktype", [104, 242])
def test_new_link_types_are_analysed_as_connections_without_a_warning(
        tmp_path: Path, linktype: int) -> None:
    def wrap(l3: bytes) -> bytes:
        if linktype == 242:
            return _ipoib(l3, cb.ETH_IPV4)
        return _chdlc(l3)

    frames = [cb.tcp4(seq=1000, flags=cb.SYN),
              cb.tcp4(src=cb.RESP4, dst=cb.ORIG4, sport=cb.RESP_PORT, dport=cb.ORIG_PORT,
                      seq=5000, ack=1001, flags=cb.SYN | cb.ACK),
              cb.tcp4(seq=1001, ack=5001, flags=cb.ACK)]
    path = cb.write(tmp_path, "l.pcap", cb.pcap_dpkt(((1.0 + i / 10, wrap(f))
                                                      for i, f in enumerate(frames)),
                                                     linktype=linktype))
    rep = analyze_to_report([path], TrackerConfig())
    assert [c["handshake"]["status"] for c in rep["connections"]] == ["complete"]
    assert not [w for w in rep["capture"]["warnings"] if "link type" in w]


@pytest.mark.oracle
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_tshark_reads_every_crafted_frame_the_same_way(tmp_path: Path) -> None:
    """The oracle: one capture per link type, and tshark's TCP ports, raw sequence numbers
    and lengths per frame equal ours (so the frames are what they claim to be)."""
    by_link: dict[int, list[str]] = {}
    for name, (linktype, _) in sorted(CASES.items()):
        by_link.setdefault(linktype, []).append(name)
    checked = 0
    for linktype, names in by_link.items():
        path = cb.write(tmp_path, f"l{linktype}.pcap",
                        cb.pcap_dpkt(((1.0 + i, CASES[n][1]) for i, n in enumerate(names)),
                                     linktype=linktype))
        out = subprocess.run(
            ["tshark", "-n", "-r", path, "-T", "fields", "-e", "tcp.srcport", "-e",
             "tcp.dstport", "-e", "tcp.seq_raw", "-e", "tcp.len"],
            capture_output=True, text=True, check=True).stdout
        theirs = [tuple(line.split("\t")) for line in out.splitlines()]
        dec = Decoder()
        ours = []
        for i, n in enumerate(names, 1):
            seg = dec.decode(i, 0.0, linktype, CASES[n][1])
            assert seg is not None, n
            ours.append((str(seg.sport), str(seg.dport), str(seg.seq), str(seg.plen)))
        assert dict(zip(names, theirs, strict=True)) == dict(zip(names, ours, strict=True))
        checked += len(names)
    assert checked == len(CASES)
