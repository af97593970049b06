"""Decoder: the IP layer (issue #2) — IPv4 options, the IPv6 extension-header chain,
fragments, non-TCP traffic, truncated frames, TSO lengths and checksum verdicts."""

from __future__ import annotations

import struct

import pytest

from tcpflow_analyzer.decode import Decoder, tcp_checksum_ok
from tcpflow_analyzer.segment import ACK

from . import capbuild as cb

PAYLOAD = bytes(range(256)) * 4 + b"odd"  # 1027 bytes: odd length exercises checksum padding


def _fields(linktype: int, frame: bytes, **kw: bool) -> dict[str, object]:
    seg, dec = cb.decode_one(linktype, frame, **kw)
    assert seg is not None, dec.skipped
    assert dec.skipped == {}
    return cb.seg_fields(seg)


def _skipped(linktype: int, frame: bytes) -> dict[str, int]:
    seg, dec = cb.decode_one(linktype, frame)
    assert seg is None, seg
    return dec.skipped


# -- IPv4 ----------------------------------------------------------------------------------
@pytest.mark.parametrize("opt_words", [1, 2, 5, 10])
def test_ipv4_with_options_ihl_above_5(opt_words: int) -> None:
    ip_opts = b"\x01" * (4 * opt_words - 1) + b"\x00"  # NOPs then EOL
    frame = cb.ether(cb.tcp4(ip_options=ip_opts, flags=cb.DATA_FLAGS, payload=b"abcdef"))
    assert frame[14] == 0x45 + opt_words
    assert _fields(1, frame) == cb.expected_fields(flags=cb.DATA_FLAGS, plen=6)


def test_ipv4_with_record_route_option() -> None:
    rr = bytes([7, 11, 4]) + cb.ORIG4 + cb.RESP4  # record route, two slots
    frame = cb.tcp4(ip_options=rr, flags=cb.DATA_FLAGS, payload=b"x")
    assert _fields(101, frame) == cb.expected_fields(flags=cb.DATA_FLAGS, plen=1)


def test_ipv4_ihl_below_5_is_a_bad_header() -> None:
    frame = bytearray(cb.tcp4())
    frame[0] = 0x44
    assert _skipped(101, bytes(frame)) == {"bad_ip_header": 1}


def test_ipv4_total_length_below_header_is_a_bad_header() -> None:
    assert _skipped(101, cb.tcp4(total_length=12)) == {"bad_ip_header": 1}


def test_ipv4_ethernet_padding_is_not_payload() -> None:
    """A pure ACK is 54 bytes on Ethernet and gets padded to the 60-byte minimum; the
    padding must not count as payload nor spoil the checksum."""
    frame = cb.ether(cb.tcp4(flags=ACK, ack=1)) + b"\xee" * 6
    assert len(frame) == 60
    assert _fields(1, frame) == cb.expected_fields(flags=ACK, ack=1, plen=0)


# -- IPv6 extension headers ----------------------------------------------------------------
_EXT_CHAINS = {
    "hop-by-hop": [cb.v6_ext(cb.V6_HOPOPTS)],
    "routing": [cb.v6_routing()],
    "dest-opts": [cb.v6_ext(cb.V6_DSTOPTS, b"\x01\x04\x00\x00\x00\x00" * 3)],
    "atomic-fragment": [cb.v6_fragment()],
    "full-chain": [cb.v6_ext(cb.V6_HOPOPTS), cb.v6_ext(cb.V6_DSTOPTS), cb.v6_routing(),
                   cb.v6_fragment(), cb.v6_ext(cb.V6_DSTOPTS, b"\x01\x0c" + b"\x00" * 12)],
    "auth-header": [(51, struct.pack("!HII", 0, 0x100, 1) + b"\x00" * 12)],
}


@pytest.mark.parametrize("chain", list(_EXT_CHAINS), ids=list(_EXT_CHAINS))
def test_ipv6_extension_headers_are_walked_to_tcp(chain: str) -> None:
    frame = cb.ether(cb.tcp6(ext=_EXT_CHAINS[chain], flags=cb.DATA_FLAGS, payload=PAYLOAD),
                     ethertype=cb.ETH_IPV6)
    assert _fields(1, frame) == cb.expected_fields(ipver=6, flags=cb.DATA_FLAGS,
                                                   plen=len(PAYLOAD))


@pytest.mark.parametrize(
    "frag", [cb.v6_fragment(0, more=True), cb.v6_fragment(185, more=True),
             cb.v6_fragment(185, more=False)],
    ids=["first", "middle", "last"],
)
def test_ipv6_real_fragment_is_counted_not_decoded(frag: tuple[int, bytes]) -> None:
    frame = cb.tcp6(ext=[cb.v6_ext(cb.V6_HOPOPTS), frag], payload=PAYLOAD)
    assert _skipped(101, frame) == {"ip_fragment": 1}


def test_ipv6_no_next_header_and_udp_after_extensions() -> None:
    assert _skipped(101, cb.ipv6(b"", next_header=59)) == {"non_tcp:none": 1}
    udp = cb.ipv6(b"\x00" * 8, next_header=17, ext=[cb.v6_ext(cb.V6_HOPOPTS)])
    assert _skipped(101, udp) == {"non_tcp:udp": 1}


@pytest.mark.parametrize("depth", [16, 20, 64])
def test_ipv6_long_extension_chain_up_to_64_headers_is_walked(depth: int) -> None:
    chain = [cb.v6_ext(cb.V6_DSTOPTS)] * depth
    assert _fields(101, cb.tcp6(ext=chain)) == cb.expected_fields(ipver=6)


@pytest.mark.parametrize("depth", [65, 400])
def test_ipv6_endless_extension_chain_is_bounded(depth: int) -> None:
    chain = [cb.v6_ext(cb.V6_DSTOPTS)] * depth
    assert _skipped(101, cb.tcp6(ext=chain)) == {"too_many_ipv6_ext_headers": 1}


def test_ipv6_extension_header_cut_short_is_truncated() -> None:
    frame = cb.tcp6(ext=[cb.v6_ext(cb.V6_HOPOPTS, b"\x01\x0c" + b"\x00" * 12)])
    assert _skipped(101, frame[:44]) == {"truncated": 1}


# -- IPv4 fragments ------------------------------------------------------------------------
@pytest.mark.parametrize("flags_frag", [0x2000, 0x2000 | 185, 185, 0x4000 | 0x2000],
                         ids=["first-MF", "middle", "last", "DF+MF"])
def test_ipv4_fragment_is_counted_not_decoded(flags_frag: int) -> None:
    frame = cb.ether(cb.tcp4(flags_frag=flags_frag, payload=PAYLOAD))
    assert _skipped(1, frame) == {"ip_fragment": 1}


@pytest.mark.parametrize("flags_frag", [0x0000, 0x4000, 0x8000 | 0x4000],
                         ids=["none", "DF", "DF+reserved-bit"])
def test_ipv4_unfragmented_is_decoded(flags_frag: int) -> None:
    frame = cb.ether(cb.tcp4(flags_frag=flags_frag, flags=ACK, ack=5))
    assert _fields(1, frame) == cb.expected_fields(flags=ACK, ack=5)


# -- non-TCP traffic -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (cb.ether(cb.udp4()), "non_tcp:udp"),
        (cb.ether(cb.ipv4(b"\x08\x00\xf7\xff\x00\x00\x00\x00", proto=1)), "non_tcp:icmp"),
        (cb.ether(cb.ipv4(b"\x00" * 8, proto=132)), "non_tcp:sctp"),
        (cb.ether(cb.ipv4(b"\x00" * 8, proto=253)), "non_tcp:ip_proto_253"),
        (cb.ether(cb.ipv6(b"\x80\x00\x00\x00" * 2, next_header=58), ethertype=cb.ETH_IPV6),
         "non_tcp:icmpv6"),
        (cb.ether(b"\x00\x01\x08\x00\x06\x04\x00\x01" + b"\x00" * 20, ethertype=cb.ETH_ARP),
         "non_ip:arp"),
        (cb.ether(b"\x02\x07\x04" + b"\x00" * 40, ethertype=0x88CC), "non_ip:lldp"),
        (cb.ether(b"\x00" * 46, ethertype=0x1234), "non_ip:ethertype_0x1234"),
        (cb.ether(b"\x42\x42\x03" + b"\x00" * 43, ethertype=46), "non_ip:llc"),
    ],
    ids=["udp", "icmp", "sctp", "unnamed-proto", "icmpv6", "arp", "lldp", "unknown-ethertype",
         "802.3-llc"],
)
def test_non_tcp_frames_are_counted_by_reason(frame: bytes, reason: str) -> None:
    assert _skipped(1, frame) == {reason: 1}


def test_skip_counts_accumulate_per_reason() -> None:
    dec = Decoder()
    frames = [cb.ether(cb.udp4()), cb.ether(cb.tcp4()), cb.ether(cb.udp4()),
              cb.ether(b"\x00" * 28, ethertype=cb.ETH_ARP), cb.ether(cb.tcp4(flags_frag=185))]
    segs = [dec.decode(i, 0.0, 1, f) for i, f in enumerate(frames, 1)]
    assert [s is not None for s in segs] == [False, True, False, False, False]
    assert dec.skipped == {"non_tcp:udp": 2, "non_ip:arp": 1, "ip_fragment": 1}


# -- IP-in-IP --------------------------------------------------------------------------------
def test_ipv6_in_ipv4_and_ipv4_in_ipv6_reach_the_inner_segment() -> None:
    six_in_four = cb.ipv4(cb.tcp6(flags=ACK), proto=41)
    four_in_six = cb.ipv6(cb.tcp4(flags=ACK), next_header=4)
    assert _fields(101, six_in_four) == cb.expected_fields(ipver=6, flags=ACK)
    assert _fields(101, four_in_six) == cb.expected_fields(ipver=4, flags=ACK)


def test_a_few_nested_encapsulations_are_unwrapped() -> None:
    inner = cb.tcp6(flags=ACK)
    pkt = cb.ipv4(cb.ipv6(cb.ipv4(inner, proto=41), next_header=4), proto=41)  # 6in4in6in4
    assert _fields(101, pkt) == cb.expected_fields(ipver=6, flags=ACK)


@pytest.mark.parametrize("ipver", [4, 6])
def test_deeply_nested_ip_in_ip_is_bounded_not_a_crash(ipver: int) -> None:
    """Regression: each IP-in-IP / 6in4 / RFC 2473 layer used to be one more recursive call
    with no limit, so a 12 KB frame of 600 nested headers raised RecursionError out of
    Decoder.decode and aborted the whole run.  Now it is one skipped frame."""
    pkt = cb.tcp4() if ipver == 4 else cb.tcp6()
    for _ in range(600):
        pkt = cb.ipv4(pkt, proto=4) if ipver == 4 else cb.ipv6(pkt, next_header=41,
                                                               payload_length=0)
    dec = Decoder()
    assert dec.decode(1, 0.0, 101, pkt) is None
    assert dec.skipped == {"too_many_encapsulations": 1}
    # and the decoder is still usable (its nesting depth was restored)
    assert dec.decode(2, 0.0, 101, cb.ipv4(cb.tcp4(), proto=4)) is not None


# -- truncated frames (snaplen) and TSO lengths ----------------------------------------------
@pytest.mark.parametrize("ipver", [4, 6])
@pytest.mark.parametrize("keep_payload", [0, 1, 100])
def test_payload_cut_by_snaplen_keeps_ip_length_and_unknown_checksum(
    ipver: int, keep_payload: int,
) -> None:
    opts = cb.NOP + cb.NOP + cb.opt_timestamps(1, 2)
    if ipver == 4:
        full = cb.ether(cb.tcp4(flags=cb.DATA_FLAGS, options=opts, payload=PAYLOAD))
    else:
        full = cb.ether(cb.tcp6(flags=cb.DATA_FLAGS, options=opts, payload=PAYLOAD),
                        ethertype=cb.ETH_IPV6)
    headers = 14 + (20 if ipver == 4 else 40) + 32
    seg, dec = cb.decode_one(1, full[: headers + keep_payload])
    assert seg is not None
    assert (seg.plen, seg.csum_ok, seg.tsval, seg.tsecr, dec.payload_truncated, dec.skipped) == (
        len(PAYLOAD), None, 1, 2, 1, {})


@pytest.mark.parametrize("ipver", [4, 6])
@pytest.mark.parametrize("cut_into_tcp", [0, 1, 19])
def test_frame_cut_inside_fixed_tcp_header_is_truncated(ipver: int, cut_into_tcp: int) -> None:
    opts = cb.NOP + cb.NOP + cb.opt_timestamps(1, 2)  # 32-byte TCP header
    l3 = (cb.tcp4 if ipver == 4 else cb.tcp6)(options=opts, payload=b"data")
    ip_len = 20 if ipver == 4 else 40
    assert _skipped(101, l3[: ip_len + cut_into_tcp]) == {"truncated": 1}


@pytest.mark.parametrize("cut", [0, 1, 13, 14, 20, 33])
def test_frame_cut_inside_ethernet_or_ip_header_is_truncated(cut: int) -> None:
    assert _skipped(1, cb.ether(cb.tcp4())[:cut]) == {"truncated": 1}


def test_ipv4_tso_total_length_zero_takes_the_captured_length() -> None:
    """Segmentation offload: the capturing host saw one 3000-byte super-segment whose IPv4
    total length field is 0; the payload length comes from what was captured."""
    big = b"z" * 3000
    frame = cb.ether(cb.tcp4(total_length=0, flags=cb.DATA_FLAGS, payload=big))
    assert _fields(1, frame) == cb.expected_fields(flags=cb.DATA_FLAGS, plen=3000)


def test_ipv6_payload_length_zero_takes_the_captured_length() -> None:
    frame = cb.tcp6(payload_length=0, flags=cb.DATA_FLAGS, payload=b"z" * 3000)
    assert _fields(101, frame) == cb.expected_fields(ipver=6, flags=cb.DATA_FLAGS, plen=3000)


@pytest.mark.parametrize("doff", [0, 4])
def test_tcp_data_offset_below_5_is_a_bad_header(doff: int) -> None:
    assert _skipped(101, cb.tcp4(data_offset=doff)) == {"bad_tcp_header": 1}


def test_tcp_data_offset_beyond_ip_payload_is_a_bad_header() -> None:
    assert _skipped(101, cb.tcp4(data_offset=15)) == {"bad_tcp_header": 1}
    assert _skipped(101, cb.tcp6(data_offset=15)) == {"bad_tcp_header": 1}


# -- checksums -----------------------------------------------------------------------------
@pytest.mark.parametrize("ipver", [4, 6])
@pytest.mark.parametrize("payload", [b"", b"a", PAYLOAD], ids=["empty", "one-byte", "odd-1027"])
def test_checksum_correct_then_corrupted(ipver: int, payload: bytes) -> None:
    build = cb.tcp4 if ipver == 4 else cb.tcp6
    good = build(flags=cb.DATA_FLAGS, payload=payload)
    assert _fields(101, good)["csum_ok"] is True
    bad = bytearray(good)
    bad[-1 if payload else -5] ^= 0x01  # flip a payload byte (or the window when empty)
    assert _fields(101, bytes(bad))["csum_ok"] is False


@pytest.mark.parametrize("ipver", [4, 6])
def test_checksum_covers_the_pseudo_header(ipver: int) -> None:
    """Rewrite the destination address without fixing the TCP checksum (a NAT bug)."""
    if ipver == 4:
        pkt = bytearray(cb.tcp4(payload=b"hi"))
        pkt[19] ^= 1
        pkt[10:12] = b"\x00\x00"
        pkt[10:12] = struct.pack("!H", cb.inet_checksum(bytes(pkt[:20])))  # IP header stays valid
    else:
        pkt = bytearray(cb.tcp6(payload=b"hi"))
        pkt[39] ^= 1
    assert _fields(101, bytes(pkt))["csum_ok"] is False


@pytest.mark.parametrize("checksum", [0x0000, 0xFFFF, 0x1234])
def test_wrong_checksum_values_are_false(checksum: int) -> None:
    good = cb.tcp4(payload=b"payload")
    right = struct.unpack_from("!H", good, 36)[0]
    if checksum == right:
        pytest.skip("picked the right checksum by chance")
    frame = cb.tcp4(payload=b"payload", checksum=checksum)
    assert _fields(101, frame)["csum_ok"] is False


def test_checksum_not_verified_when_disabled() -> None:
    frame = cb.tcp4(payload=b"payload", checksum=0x1234)
    assert _fields(101, frame, verify_checksums=False)["csum_ok"] is None


def test_tcp_checksum_ok_matches_the_textbook_algorithm() -> None:
    for payload in (b"", b"\x00", b"\xff" * 3, PAYLOAD, b"\xff\xff" * 700):
        seg = cb.tcp_segment(payload=payload)
        pseudo = int.from_bytes(cb.ORIG4 + cb.RESP4, "big") + 6 + len(seg)
        assert tcp_checksum_ok(seg, pseudo)
        corrupted = seg[:18] + bytes([seg[18] ^ 0x5A]) + seg[19:]  # the urgent pointer
        assert not tcp_checksum_ok(corrupted, pseudo)


# -- the fields that are not in seg_fields ---------------------------------------------------
def test_ipv4_id_raw_checksum_and_timestamp_fields() -> None:
    frame = cb.tcp4(ip_id=0xBEEF, flags=ACK, options=cb.NOP + cb.NOP + cb.opt_timestamps(7, 8))
    seg, _ = cb.decode_one(101, frame)
    assert seg is not None
    assert (seg.ip_id, seg.tcp_csum, seg.tsval, seg.tsecr, seg.sack, seg.syn_opts) == (
        0xBEEF, struct.unpack_from("!H", frame, 36)[0], 7, 8, None, None)
    seg6, _ = cb.decode_one(101, cb.tcp6(flags=ACK))
    assert seg6 is not None and seg6.ip_id == -1


def test_frame_number_and_timestamp_are_passed_through() -> None:
    seg = Decoder().decode(42, 1234.5, 101, cb.tcp4())
    assert seg is not None and (seg.frame, seg.ts) == (42, 1234.5)
