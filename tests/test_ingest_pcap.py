"""Capture ingestion, pcap (issue #2): both timestamp precisions, both byte orders, the
24-byte-record variant and any snaplen, including ones that cut the payload or the TCP
header.  Captures are written with dpkt's writer where it can (host byte order) and by hand
(:mod:`tests.capbuild`) for everything else."""

from __future__ import annotations

from pathlib import Path

import dpkt
import pytest

from tcpflow_analyzer.decode import Decoder
from tcpflow_analyzer.segment import ACK

from . import capbuild as cb

SEC = 1_700_000_000


def _conversation() -> list[bytes]:
    """Five frames: a v4 handshake and data, a v6 segment and an ARP (kept as-is)."""
    return [
        cb.ether(cb.tcp4(seq=100)),
        cb.ether(cb.tcp4(src=cb.RESP4, dst=cb.ORIG4, sport=80, dport=40000, seq=500, ack=101,
                         flags=cb.SYN | ACK)),
        cb.ether(cb.tcp4(seq=101, ack=501, flags=cb.DATA_FLAGS, payload=b"x" * 300)),
        cb.ether(cb.tcp6(seq=1, ack=2, flags=ACK), ethertype=cb.ETH_IPV6),
        cb.ether(b"\x00\x01\x08\x00\x06\x04\x00\x01" + b"\x00" * 20, ethertype=cb.ETH_ARP),
    ]


@pytest.mark.parametrize("order", ["<", ">"], ids=["little-endian", "big-endian"])
@pytest.mark.parametrize(("nano", "fracs", "scale"),
                         [(False, [0, 1, 999_999, 500_000, 123_456], 1e-6),
                          (True, [0, 1, 999_999_999, 500_000_000, 123_456_789], 1e-9)],
                         ids=["usec", "nsec"])
def test_pcap_magics_and_byte_orders(
    tmp_path: Path, order: str, nano: bool, fracs: list[int], scale: float,
) -> None:
    frames = _conversation()
    packets = [(SEC + i, frac, f) for i, (frac, f) in enumerate(zip(fracs, frames, strict=True))]
    path = cb.write(tmp_path, "cap.dat", cb.pcap_bytes(packets, nano=nano, order=order))
    reader, got = cb.read_all(path)
    assert (reader.format, reader.compression, reader.warnings, reader.frames) == (
        "pcap", None, [], 5)
    assert [(n, lt, data) for n, _, lt, data in got] == [
        (i, 1, f) for i, f in enumerate(frames, 1)]
    for (_, ts, _, _), (sec, frac, _) in zip(got, packets, strict=True):
        assert ts == pytest.approx(sec + frac * scale, abs=1e-6)
    # the fraction is scaled, not misread: 999_999_999 ns is just under a second
    assert got[2][1] - got[1][1] == pytest.approx(1 + (fracs[2] - fracs[1]) * scale, abs=1e-6)


@pytest.mark.parametrize("nano", [False, True], ids=["usec", "nsec"])
def test_pcap_written_by_dpkt_reads_like_dpkt_reads_it(tmp_path: Path, nano: bool) -> None:
    frames = _conversation()
    stamps = [SEC + 0.25 * i for i in range(len(frames))]
    data = cb.pcap_dpkt(zip(stamps, frames, strict=True), nano=nano)
    path = cb.write(tmp_path, "dpkt.pcap", data)
    _, got = cb.read_all(path)
    with open(path, "rb") as fh:
        reference = list(dpkt.pcap.Reader(fh))
    assert [(ts, data) for _, ts, _, data in got] == [(ts, bytes(d)) for ts, d in reference]


@pytest.mark.parametrize("order", ["<", ">"])
def test_pcap_modified_24_byte_records(tmp_path: Path, order: str) -> None:
    frames = _conversation()
    packets = [(SEC, 10 * i, f) for i, f in enumerate(frames)]
    path = cb.write(tmp_path, "kuznetzov.dat", cb.pcap_bytes(packets, order=order, modified=True))
    reader, got = cb.read_all(path)
    assert reader.warnings == []
    assert [data for *_, data in got] == frames


@pytest.mark.parametrize("linktype", [0, 1, 101, 113, 228, 276])
def test_pcap_link_type_is_passed_per_frame(tmp_path: Path, linktype: int) -> None:
    path = cb.write(tmp_path, "lt.dat", cb.pcap_bytes([(1, 0, b"\x00" * 20)], linktype=linktype))
    _, got = cb.read_all(path)
    assert [lt for _, _, lt, _ in got] == [linktype]


def test_pcap_fcs_bits_in_link_type_field_are_ignored(tmp_path: Path) -> None:
    """pcap-savefile(5): the upper bits of the link-type field carry FCS information."""
    linktype = (1 << 28) | (4 << 26) | 1  # FCS present, 4 bytes of it, Ethernet
    path = cb.write(tmp_path, "fcs.dat", cb.pcap_bytes([(1, 0, cb.ether(cb.tcp4()))],
                                                       linktype=linktype))
    _, got = cb.read_all(path)
    assert [lt for _, _, lt, _ in got] == [1]


# -- snaplen -------------------------------------------------------------------------------
PAYLOAD = b"p" * 1000
OPTIONS = cb.NOP + cb.NOP + cb.opt_timestamps(10, 20)  # 32-byte TCP header
HEADERS = 14 + 20 + 32


def _snap_capture(tmp_path: Path, snaplen: int) -> list[tuple[int, float, int, bytes]]:
    frames = [cb.ether(cb.tcp4(flags=cb.DATA_FLAGS, options=OPTIONS, payload=PAYLOAD)),
              cb.ether(cb.tcp4(flags=ACK, ack=1)) + b"\x00" * 6]  # 60-byte padded pure ACK
    path = cb.write(tmp_path, "snap.dat",
                    cb.pcap_bytes([(1, 0, f) for f in frames], snaplen=snaplen))
    reader, got = cb.read_all(path)
    assert reader.warnings == []
    assert [len(d) for *_, d in got] == [min(snaplen, len(f)) for f in frames]
    return got


@pytest.mark.parametrize("snaplen", [65535, 262144, 4096, HEADERS + 1000, 0xFFFFFFFF])
def test_generous_snaplen_keeps_whole_segments(tmp_path: Path, snaplen: int) -> None:
    got = _snap_capture(tmp_path, snaplen)
    dec = Decoder()
    segs = [dec.decode(*fr) for fr in got]
    assert [(s.plen, s.csum_ok) for s in segs if s] == [(1000, True), (0, True)]
    assert (dec.payload_truncated, dec.skipped) == (0, {})


@pytest.mark.parametrize("snaplen", [HEADERS, HEADERS + 1, 96, 128, HEADERS + 999])
def test_tiny_snaplen_truncates_payload_but_not_its_length(tmp_path: Path, snaplen: int) -> None:
    got = _snap_capture(tmp_path, snaplen)
    dec = Decoder()
    segs = [dec.decode(*fr) for fr in got]
    assert [(s.plen, s.csum_ok, s.tsval) for s in segs if s] == [
        (1000, None, 10), (0, True, None)]
    assert (dec.payload_truncated, dec.skipped) == (1, {})


@pytest.mark.parametrize("snaplen", [34, 40, 53])  # inside the fixed 20-byte TCP header
def test_snaplen_inside_tcp_header_counts_truncated(tmp_path: Path, snaplen: int) -> None:
    got = _snap_capture(tmp_path, snaplen)
    dec = Decoder()
    first = dec.decode(*got[0])
    assert (first, dec.skipped) == (None, {"truncated": 1})


def test_jumbo_record_up_to_the_snaplen_is_read(tmp_path: Path) -> None:
    big = cb.ether(cb.tcp4(total_length=0, flags=ACK, payload=b"j" * 200_000))
    path = cb.write(tmp_path, "jumbo.dat", cb.pcap_bytes([(1, 0, big), (2, 0, big[:60])],
                                                         snaplen=262144))
    reader, got = cb.read_all(path)
    assert (reader.warnings, [len(d) for *_, d in got]) == ([], [len(big), 60])
    seg = Decoder().decode(*got[0])
    assert seg is not None and seg.plen == 200_000


def test_many_frames_across_read_chunks(tmp_path: Path) -> None:
    """More than one 1 MiB read: records straddle chunk boundaries."""
    frames = [cb.ether(cb.tcp4(seq=i, flags=ACK, payload=bytes([i % 256]) * (i % 1400)))
              for i in range(2500)]
    path = cb.write(tmp_path, "many.dat", cb.pcap_bytes([(i, 0, f) for i, f in enumerate(frames)]))
    reader, got = cb.read_all(path)
    assert reader.warnings == []
    assert [d for *_, d in got] == frames
    assert reader.frames == 2500
