"""Capture ingestion, pcapng (issue #2): SHB / IDB / EPB / SPB / obsolete PB blocks, several
sections each with its own byte order, and several interfaces with different link types,
``if_tsresol`` (10^-n and 2^-n) and ``if_tsoffset``.

dpkt's pcapng reader applies the first interface's link type and timestamp resolution to
every packet and stops at the first section; the tests show that quirk once and then hold
our reader to the per-interface values."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import dpkt
import pytest

from tcpflow_analyzer.decode import Decoder

from . import capbuild as cb

SEC = 1_700_000_000


def _frames(tmp_path: Path, data: bytes) -> list[tuple[int, float, int, bytes]]:
    reader, got = cb.read_all(cb.write(tmp_path, "cap.dat", data))
    assert (reader.format, reader.warnings) == ("pcapng", [])
    return got


def _ports(frames: list[tuple[int, float, int, bytes]]) -> list[int | None]:
    dec = Decoder()
    segs = [dec.decode(*fr) for fr in frames]
    return [None if s is None else s.sport for s in segs]


def test_pcapng_written_by_dpkt_reads_like_dpkt_reads_it(tmp_path: Path) -> None:
    frames = [cb.ether(cb.tcp4(sport=1000 + i)) for i in range(4)]
    data = cb.pcapng_dpkt([(SEC + i * 0.5, f) for i, f in enumerate(frames)])
    got = _frames(tmp_path, data)
    reference = list(dpkt.pcapng.Reader(io.BytesIO(data)))
    assert [(ts, d) for _, ts, _, d in got] == [(ts, bytes(d)) for ts, d in reference]
    assert [(n, lt) for n, _, lt, _ in got] == [(1, 1), (2, 1), (3, 1), (4, 1)]


@pytest.mark.parametrize("order", ["<", ">"], ids=["little-endian", "big-endian"])
def test_interfaces_with_different_link_types_and_resolutions(tmp_path: Path, order: str) -> None:
    """Four interfaces: Ethernet in µs, raw IP in ns, SLL in 2^-10 s with an offset, and BSD
    loopback in ms with a negative offset; packets interleaved."""
    o = order
    data = (
        cb.png_shb(order=o)
        + cb.png_idb(1, order=o)
        + cb.png_idb(101, order=o, tsresol=9)
        + cb.png_idb(113, order=o, tsresol=0x80 | 10, tsoffset=SEC)
        + cb.png_idb(0, order=o, tsresol=3, tsoffset=-1000)
        + cb.png_epb(0, SEC * 10**6 + 250_000, cb.ether(cb.tcp4(sport=1)), order=o)
        + cb.png_epb(1, SEC * 10**9 + 123_456_789, cb.tcp6(sport=2), order=o)
        + cb.png_epb(2, 1024 * 5 + 512, cb.sll(cb.tcp4(sport=3)), order=o)
        + cb.png_epb(3, (SEC + 1000) * 1000 + 7, cb.null(cb.tcp4(sport=4)), order=o)
        + cb.png_epb(0, SEC * 10**6 + 250_001, cb.ether(cb.tcp4(sport=5)), order=o)
    )
    got = _frames(tmp_path, data)
    assert [(n, lt) for n, _, lt, _ in got] == [(1, 1), (2, 101), (3, 113), (4, 0), (5, 1)]
    assert [ts for _, ts, _, _ in got] == pytest.approx(
        [SEC + 0.25, SEC + 0.123456789, SEC + 5.5, SEC + 0.007, SEC + 0.250001], abs=1e-6)
    assert got[2][1] == SEC + 5.5  # 2^-10 units are exact in binary floating point
    assert _ports(got) == [1, 2, 3, 4, 5]


def test_dpkt_applies_the_first_interface_to_every_packet(tmp_path: Path) -> None:
    """Documents the dpkt quirk our reader exists to avoid (and proves the check above is
    not vacuous): dpkt reports one link type and one resolution for the whole file."""
    data = (cb.png_shb() + cb.png_idb(1) + cb.png_idb(101, tsresol=9)
            + cb.png_epb(0, 2_000_000, cb.ether(cb.tcp4()))
            + cb.png_epb(1, 3_000_000_000, cb.tcp4()))
    reader = dpkt.pcapng.Reader(io.BytesIO(data))
    assert reader.datalink() == 1
    assert [ts for ts, _ in reader] == [2.0, 3000.0]  # the ns packet read as µs
    got = _frames(tmp_path, data)
    assert [(ts, lt) for _, ts, lt, _ in got] == [(2.0, 1), (3.0, 101)]


def test_several_sections_each_with_its_own_byte_order_and_interfaces(tmp_path: Path) -> None:
    """Three sections: little-endian Ethernet, big-endian raw IP (EPB, obsolete PB and SPB),
    then little-endian SLL.  Interface ids restart in every section."""
    data = (
        cb.png_shb(order="<") + cb.png_idb(1, order="<")
        + cb.png_epb(0, 1_000_000, cb.ether(cb.tcp4(sport=11)), order="<")
        + cb.png_epb(0, 2_000_000, cb.ether(cb.tcp4(sport=12)), order="<")
        + cb.png_shb(order=">") + cb.png_idb(101, order=">", tsresol=9)
        + cb.png_idb(1, order=">")
        + cb.png_epb(0, 3_000_000_000, cb.tcp6(sport=21), order=">")
        + cb.png_opb(1, 4_000_000, cb.ether(cb.tcp4(sport=22)), order=">", drops=3)
        + cb.png_spb(cb.tcp4(sport=23), order=">")
        + cb.png_shb(order="<") + cb.png_idb(113, order="<", tsresol=0x80 | 1)
        + cb.png_epb(0, 11, cb.sll(cb.tcp4(sport=31)), order="<")
    )
    got = _frames(tmp_path, data)
    assert [(n, ts, lt) for n, ts, lt, _ in got] == [
        (1, 1.0, 1), (2, 2.0, 1), (3, 3.0, 101), (4, 4.0, 1), (5, 4.0, 101), (6, 5.5, 113)]
    assert _ports(got) == [11, 12, 21, 22, 23, 31]


@pytest.mark.parametrize("order", ["<", ">"])
def test_obsolete_packet_block(tmp_path: Path, order: str) -> None:
    frame = cb.ether(cb.tcp4(payload=b"opb"))
    data = (cb.png_shb(order=order) + cb.png_idb(1, order=order)
            + cb.png_opb(0, 1_500_000, frame, order=order, drops=0xFFFF))
    assert _frames(tmp_path, data) == [(1, 1.5, 1, frame)]


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("length", [54, 55, 56, 57, 1514])
def test_simple_packet_block_whole_frames(tmp_path: Path, order: str, length: int) -> None:
    frame = cb.ether(cb.tcp4(flags=cb.DATA_FLAGS, payload=b"s" * (length - 54)))
    data = (cb.png_shb(order=order) + cb.png_idb(1, order=order)
            + cb.png_epb(0, 7_000_000, cb.ether(cb.tcp4()), order=order)
            + cb.png_spb(frame, order=order))
    got = _frames(tmp_path, data)
    assert got[1] == (2, 7.0, 1, frame)  # no timestamp of its own: the previous one


def test_simple_packet_block_cut_by_snaplen_keeps_only_captured_bytes(tmp_path: Path) -> None:
    """An SPB's captured length is min(original length, the interface's snaplen) (RFC draft
    pcapng §4.4); the block itself is padded to 32 bits.  With snaplen 61 the reader must
    deliver 61 bytes, not the 3 padding bytes after them."""
    full = cb.ether(cb.tcp4(flags=cb.DATA_FLAGS, payload=b"s" * 200))
    data = (cb.png_shb() + cb.png_idb(1, snaplen=61)
            + cb.png_spb(full[:61], orig_len=len(full)))
    got = _frames(tmp_path, data)
    assert [d for *_, d in got] == [full[:61]]


def test_epb_options_and_padding_are_not_packet_data(tmp_path: Path) -> None:
    frame = cb.ether(cb.tcp4(payload=b"abc"))  # 57 bytes: 3 padding bytes in the block
    comment = cb.png_options([(1, b"a comment"), (2, b"\x00\x00\x00\x01")])  # opt_comment, flags
    epb_body = (struct.pack("<IIIII", 0, 0, 1_000_000, len(frame), len(frame)) + frame
                + b"\x00" * (-len(frame) % 4) + comment)
    data = cb.png_shb() + cb.png_idb(1) + cb.png_block(cb.PNG_EPB, epb_body)
    assert _frames(tmp_path, data) == [(1, 1.0, 1, frame)]


def test_epb_with_captured_length_below_original_length(tmp_path: Path) -> None:
    full = cb.ether(cb.tcp4(flags=cb.DATA_FLAGS, payload=b"x" * 500))
    data = cb.png_shb() + cb.png_idb(1, snaplen=96) + cb.png_epb(0, 0, full[:96],
                                                                  orig_len=len(full))
    got = _frames(tmp_path, data)
    seg = Decoder().decode(*got[0])
    assert seg is not None and (len(got[0][3]), seg.plen, seg.csum_ok) == (96, 500, None)


def test_unknown_and_statistics_blocks_are_skipped(tmp_path: Path) -> None:
    data = (
        cb.png_shb(options=[(3, b"tcpflow tests")])  # shb_userappl
        + cb.png_block(4, b"\x01\x00\x04\x00" + cb.ORIG4 + b"h\x00\x00\x00" + b"\x00" * 4)  # NRB
        + cb.png_idb(1)
        + cb.png_block(5, struct.pack("<III", 0, 0, 0))  # Interface Statistics Block
        + cb.png_block(0x00000BAD, b"custom stuff")  # custom block
        + cb.png_block(0x40000BAD, b"")
        + cb.png_epb(0, 1, cb.ether(cb.tcp4()))
        + cb.png_block(10, b"\x01\x00\x00\x00")  # Decryption Secrets Block
    )
    got = _frames(tmp_path, data)
    assert [(n, lt) for n, _, lt, _ in got] == [(1, 1)]


def test_interface_defined_after_earlier_packets(tmp_path: Path) -> None:
    data = (cb.png_shb() + cb.png_idb(1) + cb.png_epb(0, 1_000_000, cb.ether(cb.tcp4(sport=1)))
            + cb.png_idb(101, tsresol=9) + cb.png_epb(1, 2_000_000_000, cb.tcp4(sport=2)))
    got = _frames(tmp_path, data)
    assert [(ts, lt) for _, ts, lt, _ in got] == [(1.0, 1), (2.0, 101)]
    assert _ports(got) == [1, 2]


@pytest.mark.parametrize(("tsresol", "units", "expected"),
                         [(6, 1_500_000, 1.5), (0, 3, 3.0), (1, 15, 1.5), (0x80, 3, 3.0),
                          (0x80 | 20, 3 << 19, 1.5), (9, 10**9 + 1, 1.000000001)])
def test_if_tsresol_values(tmp_path: Path, tsresol: int, units: int, expected: float) -> None:
    data = cb.png_shb() + cb.png_idb(101, tsresol=tsresol) + cb.png_epb(0, units, cb.tcp4())
    (frame,) = _frames(tmp_path, data)
    assert frame[1] == pytest.approx(expected, abs=1e-12)


def test_64_bit_timestamps_use_the_high_word(tmp_path: Path) -> None:
    units = (SEC + 3) * 10**9 + 5  # needs more than 32 bits
    data = cb.png_shb() + cb.png_idb(1, tsresol=9) + cb.png_epb(0, units, cb.ether(cb.tcp4()))
    (frame,) = _frames(tmp_path, data)
    assert frame[1] == pytest.approx(SEC + 3, abs=1e-6)


def test_many_blocks_across_read_chunks(tmp_path: Path) -> None:
    frames = [cb.ether(cb.tcp4(seq=i, payload=bytes([i % 256]) * (i % 1400))) for i in range(2000)]
    data = cb.png_shb() + cb.png_idb(1) + b"".join(
        cb.png_epb(0, i, f) for i, f in enumerate(frames))
    got = _frames(tmp_path, data)
    assert [d for *_, d in got] == frames
