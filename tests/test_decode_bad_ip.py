"""Bad IP headers are not trusted (issue 11).

An IP length beyond what the frame carried, in a frame that no snaplen cut, is damage: it is
counted (``ip_length_beyond_frame``), the payload is clamped to the frame, and no phantom
bytes enter the sequence space.  Malformed IPv4 options make the frame ``bad_ip_header``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpflow_analyzer.pipeline import analyze_to_report
from tcpflow_analyzer.segment import ACK, SYN
from tcpflow_analyzer.tracker import TrackerConfig

from . import capbuild as cb

BIG = b"B" * 1000


def _lying(ipver: int, payload: bytes, extra: int, **kw: object) -> bytes:
    """A whole frame whose IP length field claims ``extra`` bytes more than it carries."""
    if ipver == 4:
        good = cb.tcp4(payload=payload, **kw)  # type: ignore[arg-type]
        return cb.ether(cb.tcp4(payload=payload, total_length=len(good) + extra,
                                **kw))  # type: ignore[arg-type]
    good = cb.tcp6(payload=payload, **kw)  # type: ignore[arg-type]
    return cb.ether(cb.tcp6(payload=payload, payload_length=len(good) - 40 + extra,
                            **kw), ethertype=cb.ETH_IPV6)  # type: ignore[arg-type]


def _big(ipver: int) -> bytes:
    l3 = (cb.tcp4 if ipver == 4 else cb.tcp6)(flags=cb.DATA_FLAGS, payload=BIG)
    return cb.ether(l3, ethertype=cb.ETH_IPV4 if ipver == 4 else cb.ETH_IPV6)


@pytest.mark.parametrize("ipver", [4, 6])
def test_ip_length_beyond_a_whole_frame_is_clamped_and_counted(ipver: int) -> None:
    seg, dec = cb.decode_one(1, _lying(ipver, b"hello", 700, flags=cb.DATA_FLAGS))
    assert seg is not None
    # the checksum covers the 5 bytes really carried: the segment itself is intact
    assert (seg.plen, seg.csum_ok) == (5, True)
    assert (dec.ip_length_beyond_frame, dec.payload_truncated, dec.skipped) == (1, 0, {})


@pytest.mark.parametrize("ipver", [4, 6])
def test_ip_length_beyond_a_snaplen_cut_is_kept(ipver: int) -> None:
    """A cut payload does not verify with the length carried: the IP length stands."""
    seg, dec = cb.decode_one(1, _big(ipver)[:200])
    assert seg is not None and seg.plen == len(BIG) and seg.csum_ok is None
    assert (dec.ip_length_beyond_frame, dec.payload_truncated) == (0, 1)


def test_ip_length_beyond_a_header_sliced_frame_is_kept() -> None:
    """Captures sliced at the end of the TCP header (Zeek's test traces) keep the length."""
    seg, dec = cb.decode_one(1, _big(4)[:54])
    assert seg is not None and seg.plen == len(BIG)
    assert (dec.ip_length_beyond_frame, dec.payload_truncated) == (0, 1)


def test_offloaded_checksum_of_the_carried_bytes_also_proves_a_damaged_length() -> None:
    """Checksum offload leaves the pseudo-header sum in the field: computed over the length
    carried, that is the segment as its host handed it to the NIC, whole."""
    body = b"hello"
    seg_len = 20 + len(body)
    partial = (int.from_bytes(cb.ORIG4 + cb.RESP4, "big") + 6 + seg_len) % 0xFFFF
    frame = cb.ether(cb.tcp4(payload=body, flags=cb.DATA_FLAGS, checksum=partial,
                             total_length=20 + seg_len + 300))
    seg, dec = cb.decode_one(1, frame)
    assert seg is not None and (seg.plen, seg.csum_ok) == (5, None)
    assert (dec.ip_length_beyond_frame, dec.payload_truncated) == (1, 0)


@pytest.mark.parametrize("ipver", [4, 6])
def test_damaged_ip_length_adds_no_phantom_bytes_or_retransmissions(
    ipver: int, tmp_path: Path,
) -> None:
    tcp = cb.tcp4 if ipver == 4 else cb.tcp6
    etype = cb.ETH_IPV4 if ipver == 4 else cb.ETH_IPV6
    o, r = (cb.ORIG4, cb.RESP4) if ipver == 4 else (cb.ORIG6, cb.RESP6)
    back = {"src": r, "dst": o, "sport": cb.RESP_PORT, "dport": cb.ORIG_PORT}

    def fr(l3: bytes) -> bytes:
        return cb.ether(l3, ethertype=etype)

    frames = [
        fr(tcp(seq=1000, flags=SYN)),
        fr(tcp(seq=5000, ack=1001, flags=SYN | ACK, **back)),
        fr(tcp(seq=1001, ack=5001, flags=ACK)),
        fr(tcp(seq=5001, ack=1001, flags=cb.DATA_FLAGS, payload=BIG, **back)),
        fr(tcp(seq=1001, ack=6001, flags=ACK)),
        _lying(ipver, b"a" * 100, 500, seq=1001, ack=6001, flags=cb.DATA_FLAGS),
        fr(tcp(seq=1101, ack=6001, flags=cb.DATA_FLAGS, payload=b"b" * 100)),
        fr(tcp(seq=6001, ack=1201, flags=ACK, **back)),
        fr(tcp(seq=1201, ack=6001, flags=0x11)),
        fr(tcp(seq=6001, ack=1202, flags=0x11, **back)),
        fr(tcp(seq=1202, ack=6002, flags=ACK)),
    ]
    path = cb.write(tmp_path, "lying.pcap",
                    cb.pcap_bytes([(1, i * 1000, f) for i, f in enumerate(frames)]))
    rep = analyze_to_report([path], TrackerConfig())
    (conn,) = rep["connections"]
    assert conn["bytes"] == {"orig": 200, "resp": 1000}
    assert conn["measurements"]["orig"]["retransmitted_segments"] == 0
    assert conn["anomalies"] == {}
    assert (conn["outcome"], conn["zeek"]["conn_state"]) == ("closed", "SF")
    assert rep["capture"]["ip_length_beyond_frame"] == 1
    assert rep["capture"]["payload_truncated"] == 0
    assert any("damaged" in w for w in rep["capture"]["warnings"])


_BAD_OPTIONS = {
    "length-0": bytes([130, 0, 0, 0]),
    "length-1": bytes([130, 1, 0, 0]),
    "length-past-header": bytes([130, 12, 0, 0, 0, 0, 0, 0]),
    "kind-without-length": bytes([1, 1, 1, 148]),
    "record-route-pointer-3": bytes([7, 7, 3, 0, 0, 0, 0, 0]),
    "record-route-length-2": bytes([7, 2, 1, 1]),
    "timestamp-length-3": bytes([68, 3, 5, 0]),
    "timestamp-pointer-4": bytes([68, 8, 4, 0, 0, 0, 0, 0]),
}
_GOOD_OPTIONS = {
    "nop-eol": bytes([1, 1, 1, 0]),
    "eol-then-garbage": bytes([0, 130, 0, 0]),  # nothing after EOL is read (RFC 791)
    "router-alert": bytes([148, 4, 0, 0]),
    "record-route": bytes([7, 7, 4]) + cb.ORIG4 + b"\x00",
    "timestamp": bytes([68, 8, 5, 0]) + b"\x00" * 4,
}


@pytest.mark.parametrize("opts", list(_BAD_OPTIONS.values()), ids=list(_BAD_OPTIONS))
def test_malformed_ipv4_options_are_a_bad_ip_header(opts: bytes) -> None:
    seg, dec = cb.decode_one(1, cb.ether(cb.tcp4(ip_options=opts, flags=ACK)))
    assert (seg, dec.skipped) == (None, {"bad_ip_header": 1})


@pytest.mark.parametrize("opts", list(_GOOD_OPTIONS.values()), ids=list(_GOOD_OPTIONS))
def test_well_formed_ipv4_options_are_decoded(opts: bytes) -> None:
    seg, dec = cb.decode_one(1, cb.ether(cb.tcp4(ip_options=opts, flags=ACK, ack=1)))
    assert seg is not None and dec.skipped == {}
    assert cb.seg_fields(seg) == cb.expected_fields(flags=ACK, ack=1)


def test_ipv4_header_with_options_cut_by_the_frame_is_truncated() -> None:
    frame = cb.ether(cb.tcp4(ip_options=bytes([7, 39, 4]) + b"\x00" * 36))
    assert cb.decode_one(1, frame[:14 + 30])[1].skipped == {"truncated": 1}
