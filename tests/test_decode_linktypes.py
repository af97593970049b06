"""Decoder: every supported link layer down to TCP, and unsupported link types (issue #2).

Each test builds one frame with :mod:`tests.capbuild`, decodes it and compares the whole
decoded identity (addresses, ports, seq/ack, flags, window, payload length, VLAN ids,
checksum verdict) with what was built, in one assert.
"""

from __future__ import annotations

import pytest

from tcpflow_analyzer.decode import Decoder
from tcpflow_analyzer.pipeline import analyze_to_report
from tcpflow_analyzer.tracker import TrackerConfig

from . import capbuild as cb

PAYLOAD = b"GET / HTTP/1.0\r\n\r\n"


def _v4() -> bytes:
    return cb.tcp4(seq=7, ack=9, flags=cb.DATA_FLAGS, win=512, payload=PAYLOAD)


def _v6() -> bytes:
    return cb.tcp6(seq=7, ack=9, flags=cb.DATA_FLAGS, win=512, payload=PAYLOAD)


def _expect(ipver: int, vlan: tuple[int, ...] = ()) -> dict[str, object]:
    return cb.expected_fields(ipver=ipver, vlan=vlan, seq=7, ack=9, flags=cb.DATA_FLAGS,
                              win=512, plen=len(PAYLOAD))


def _decode(linktype: int, frame: bytes) -> dict[str, object] | dict[str, int]:
    seg, dec = cb.decode_one(linktype, frame)
    if seg is None:
        return dec.skipped
    assert dec.skipped == {}
    return cb.seg_fields(seg)


# -- Ethernet and its tags -----------------------------------------------------------------
@pytest.mark.parametrize("ipver", [4, 6])
def test_ethernet_untagged(ipver: int) -> None:
    l3, etype = (_v4(), cb.ETH_IPV4) if ipver == 4 else (_v6(), cb.ETH_IPV6)
    assert _decode(1, cb.ether(l3, ethertype=etype)) == _expect(ipver)


@pytest.mark.parametrize(
    "tags",
    [
        [(cb.ETH_8021Q, 10)],
        [(cb.ETH_8021AD, 100), (cb.ETH_8021Q, 200)],  # 802.1ad S-tag then C-tag (QinQ)
        [(cb.ETH_QINQ_OLD, 1), (cb.ETH_8021Q, 2)],  # pre-standard 0x9100 outer tag
        [(cb.ETH_8021AD, 4094), (cb.ETH_8021Q, 3), (cb.ETH_8021Q, 1)],  # three deep
        [(cb.ETH_8021Q, 0)],  # priority tag: VLAN id 0 is still recorded
    ],
    ids=["dot1q", "dot1ad-qinq", "0x9100-qinq", "three-tags", "priority-tag"],
)
@pytest.mark.parametrize("ipver", [4, 6])
def test_ethernet_vlan_stack_records_ids_outermost_first(
    tags: list[tuple[int, int]], ipver: int,
) -> None:
    l3, etype = (_v4(), cb.ETH_IPV4) if ipver == 4 else (_v6(), cb.ETH_IPV6)
    frame = cb.ether(l3, ethertype=etype, tags=tags)
    assert _decode(1, frame) == _expect(ipver, vlan=tuple(vid for _, vid in tags))


def test_vlan_tag_keeps_only_the_vid_bits() -> None:
    frame = bytearray(cb.ether(_v4(), tags=[(cb.ETH_8021Q, 42)]))
    frame[14] |= 0xF0  # PCP 7 and DEI set: not part of the VLAN id
    assert _decode(1, bytes(frame)) == _expect(4, vlan=(42,))


@pytest.mark.parametrize("depth", [16, 20, 64])
def test_vlan_stack_up_to_64_tags_is_decoded(depth: int) -> None:
    tags = [(cb.ETH_8021AD, 1)] + [(cb.ETH_8021Q, vid) for vid in range(2, depth + 1)]
    assert _decode(1, cb.ether(_v4(), tags=tags)) == _expect(4, vlan=tuple(range(1, depth + 1)))


@pytest.mark.parametrize("depth", [65, 1000])
def test_vlan_stack_deeper_than_64_tags_is_rejected_with_its_reason(depth: int) -> None:
    frame = cb.ether(_v4(), tags=[(cb.ETH_8021Q, 7)] * depth)
    assert _decode(1, frame) == {"too_many_link_headers": 1}


def test_ethernet_vlan_tag_cut_short_is_truncated() -> None:
    frame = cb.ether(b"", ethertype=cb.ETH_8021Q)[:-2] + b"\x81\x00\x00"
    assert _decode(1, frame) == {"truncated": 1}


@pytest.mark.parametrize("labels", [[16], [16, 17, 18], [1048575, 3]])
@pytest.mark.parametrize("ipver", [4, 6])
def test_ethernet_mpls_label_stack(labels: list[int], ipver: int) -> None:
    l3 = _v4() if ipver == 4 else _v6()
    assert _decode(1, cb.ether(cb.mpls(l3, labels), ethertype=cb.ETH_MPLS)) == _expect(ipver)


def test_mpls_inside_vlan() -> None:
    frame = cb.ether(cb.mpls(_v6(), [100, 200]), ethertype=cb.ETH_MPLS,
                     tags=[(cb.ETH_8021Q, 7)])
    assert _decode(1, frame) == _expect(6, vlan=(7,))


def test_mpls_pseudowire_with_control_word_carries_ethernet() -> None:
    inner = cb.ether(_v4(), tags=[(cb.ETH_8021Q, 5)])
    frame = cb.ether(cb.mpls(b"\x00\x00\x00\x00" + inner, [30]), ethertype=cb.ETH_MPLS)
    assert _decode(1, frame) == _expect(4, vlan=(5,))


def test_mpls_stack_without_bottom_of_stack_is_truncated_not_a_crash() -> None:
    frame = cb.ether(b"\x00\x01\x00\x40" * 3, ethertype=cb.ETH_MPLS)  # no BOS bit anywhere
    assert _decode(1, frame) == {"truncated": 1}


@pytest.mark.parametrize("ipver", [4, 6])
def test_pppoe_session(ipver: int) -> None:
    l3, proto = (_v4(), cb.PPP_IPV4) if ipver == 4 else (_v6(), cb.PPP_IPV6)
    frame = cb.ether(cb.pppoe_session(l3, ppp_proto=proto), ethertype=cb.ETH_PPPOE)
    assert _decode(1, frame) == _expect(ipver)


def test_pppoe_over_qinq() -> None:
    frame = cb.ether(cb.pppoe_session(_v4()), ethertype=cb.ETH_PPPOE,
                     tags=[(cb.ETH_8021AD, 300), (cb.ETH_8021Q, 30)])
    assert _decode(1, frame) == _expect(4, vlan=(300, 30))


def test_pppoe_session_with_lcp_is_non_ip() -> None:
    frame = cb.ether(cb.pppoe_session(b"\x01\x01\x00\x04", ppp_proto=0xC021),
                     ethertype=cb.ETH_PPPOE)
    assert _decode(1, frame) == {"non_ip:ppp_0xc021": 1}


# -- cooked, loopback, raw, PPP, FDDI --------------------------------------------------------
@pytest.mark.parametrize(("linktype", "wrap"), [(113, cb.sll), (276, cb.sll2)],
                         ids=["sll", "sll2"])
@pytest.mark.parametrize("ipver", [4, 6])
def test_linux_cooked(linktype: int, wrap: object, ipver: int) -> None:
    l3, proto = (_v4(), cb.ETH_IPV4) if ipver == 4 else (_v6(), cb.ETH_IPV6)
    assert _decode(linktype, wrap(l3, proto)) == _expect(ipver)  # type: ignore[operator]


@pytest.mark.parametrize(("linktype", "wrap"), [(113, cb.sll), (276, cb.sll2)],
                         ids=["sll", "sll2"])
def test_linux_cooked_vlan_and_arp(linktype: int, wrap: object) -> None:
    tagged = b"\x00\x0b" + b"\x08\x00" + _v4()  # TCI (vid 11), then the real protocol
    assert _decode(linktype, wrap(tagged, cb.ETH_8021Q)) == _expect(4, vlan=(11,))  # type: ignore[operator]
    assert _decode(linktype, wrap(b"\x00" * 28, cb.ETH_ARP)) == {"non_ip:arp": 1}  # type: ignore[operator]


@pytest.mark.parametrize("order", ["<", ">"], ids=["little-endian-host", "big-endian-host"])
@pytest.mark.parametrize(("af", "ipver"), [(2, 4), (24, 6), (28, 6), (30, 6)])
def test_bsd_null_loopback_either_host_byte_order(order: str, af: int, ipver: int) -> None:
    l3 = _v4() if ipver == 4 else _v6()
    assert _decode(0, cb.null(l3, af, order)) == _expect(ipver)


@pytest.mark.parametrize("order", ["<", ">"])
def test_bsd_null_unknown_family_is_counted(order: str) -> None:
    assert _decode(0, cb.null(_v4(), 7, order)) == {"non_ip:af_7": 1}


@pytest.mark.parametrize(("af", "ipver"), [(2, 4), (24, 6), (28, 6), (30, 6)])
def test_openbsd_loop_network_byte_order(af: int, ipver: int) -> None:
    l3 = _v4() if ipver == 4 else _v6()
    assert _decode(108, cb.loop(l3, af)) == _expect(ipver)


@pytest.mark.parametrize(
    ("linktype", "ipver"),
    [(101, 4), (101, 6), (12, 4), (12, 6), (14, 4), (14, 6), (228, 4), (229, 6)],
)
def test_raw_ip_link_types(linktype: int, ipver: int) -> None:
    l3 = _v4() if ipver == 4 else _v6()
    assert _decode(linktype, l3) == _expect(ipver)


def test_raw_ip_with_bad_version_nibble() -> None:
    assert _decode(101, b"\x50" + _v4()[1:]) == {"bad_ip_header": 1}
    assert _decode(101, b"") == {"truncated": 1}


@pytest.mark.parametrize("hdlc", [True, False], ids=["ff03", "no-address-control"])
@pytest.mark.parametrize("ipver", [4, 6])
def test_ppp(hdlc: bool, ipver: int) -> None:
    l3, proto = (_v4(), cb.PPP_IPV4) if ipver == 4 else (_v6(), cb.PPP_IPV6)
    assert _decode(9, cb.ppp(l3, proto, hdlc=hdlc)) == _expect(ipver)


@pytest.mark.parametrize("ipver", [4, 6])
def test_fddi_llc_snap(ipver: int) -> None:
    l3, etype = (_v4(), cb.ETH_IPV4) if ipver == 4 else (_v6(), cb.ETH_IPV6)
    assert _decode(10, cb.fddi(l3, etype)) == _expect(ipver)


def test_fddi_non_snap_llc_is_counted() -> None:
    assert _decode(10, cb.fddi(_v4() + b"\x00" * 8, snap=False)) == {"non_ip:llc": 1}


@pytest.mark.parametrize(
    ("linktype", "frame"),
    [(1, b"\x00" * 13), (113, b"\x00" * 15), (276, b"\x00" * 19), (0, b"\x02\x00"),
     (108, b"\x00"), (9, b"\xff"), (10, b"\x50" * 20), (101, b"")],
)
def test_link_header_cut_short_is_truncated(linktype: int, frame: bytes) -> None:
    assert _decode(linktype, frame) == {"truncated": 1}


# -- unsupported link types ------------------------------------------------------------------
@pytest.mark.parametrize("linktype", [105, 127, 147, 65000])
def test_decoder_counts_unsupported_link_type(linktype: int) -> None:
    dec = Decoder()
    assert [dec.decode(i, 0.0, linktype, _v4()) for i in (1, 2)] == [None, None]
    assert (dec.skipped, dec.unsupported_linktypes) == (
        {"unsupported_linktype": 2}, {linktype: 2})


def test_pipeline_names_each_unsupported_link_type_in_one_warning(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """One pcapng file with an Ethernet, an 802.11 (105) and a user-defined (147)
    interface: the Ethernet connection is analysed, the others end up in one warning."""
    data = (
        cb.png_shb() + cb.png_idb(1) + cb.png_idb(105) + cb.png_idb(147)
        + cb.png_epb(0, 1_000_000, cb.ether(cb.tcp4()))
        + cb.png_epb(1, 2_000_000, b"\x00" * 40)
        + cb.png_epb(2, 3_000_000, b"\x01" * 40)
        + cb.png_epb(2, 4_000_000, b"\x02" * 40)
    )
    path = cb.write(tmp_path, "mixed.dat", data)
    capture = analyze_to_report([path], TrackerConfig())["capture"]
    assert (capture["frames"], capture["tcp_segments"], capture["skipped"]) == (
        4, 1, {"unsupported_linktype": 3})
    linktype_warnings = [w for w in capture["warnings"] if "link type" in w]
    assert len(linktype_warnings) == 1, capture["warnings"]
    (warning,) = linktype_warnings
    assert "105" in warning and "147" in warning
    assert "1 frames" in warning and "2 frames" in warning


def test_pipeline_whole_capture_of_unsupported_link_type_does_not_fail(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = cb.write(tmp_path, "usb.dat",
                    cb.pcap_bytes([(1, 0, b"\x00" * 64)] * 3, linktype=220))
    capture = analyze_to_report([path], TrackerConfig())["capture"]
    assert (capture["frames"], capture["tcp_segments"], capture["skipped"]) == (
        3, 0, {"unsupported_linktype": 3})
    assert sum("220" in w for w in capture["warnings"]) == 1
