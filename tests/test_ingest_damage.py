"""Capture ingestion, damaged input (issue #2): a capture cut off mid-record or with a corrupt
record / block header yields every frame before the damage plus one warning that says where
reading stopped and why; a corrupt pcap record header is followed by a resynchronisation
on the next plausible record.  Nothing here may raise once the file header was accepted."""

from __future__ import annotations

import contextlib
import signal
import struct
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from tcpflow_analyzer.errors import CaptureFormatError
from tcpflow_analyzer.sources.pcapfile import open_capture

from . import capbuild as cb

SEC = 1_700_000_000


class _TookTooLong(BaseException):
    """Raised by :func:`_time_limit`; not an OSError, so the reader cannot swallow it as a
    read error (TimeoutError is one)."""


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Fail (instead of hanging the suite) when the body uses more than ``seconds`` of CPU.

    CPU time of this process (``ITIMER_PROF``), not wall time: other processes loading the
    machine do not make it fail, while a loop that never ends, or a scan that goes
    quadratic, still does (the reads here are of regular files, so nothing blocks)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def _expired(*_: object) -> None:
        raise _TookTooLong(f"took longer than {seconds} s of CPU time")

    previous = signal.signal(signal.SIGPROF, _expired)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def _frames(n: int = 8) -> list[bytes]:
    return [cb.ether(cb.tcp4(seq=1000 * i, flags=cb.DATA_FLAGS, payload=bytes([97 + i]) * (40 + i)))
            for i in range(n)]


def _pcap(frames: list[bytes], order: str = "<") -> bytes:
    return cb.pcap_bytes([(SEC + i, i, f) for i, f in enumerate(frames)], order=order)


def _read(tmp_path: Path, data: bytes) -> tuple[list[str], list[bytes]]:
    reader, got = cb.read_all(cb.write(tmp_path, "damaged.dat", data))
    return reader.warnings, [d for *_, d in got]


# -- pcap: cut off ---------------------------------------------------------------------------
@pytest.mark.parametrize("keep", [1, 10, 30])
def test_pcap_cut_off_inside_a_record(tmp_path: Path, keep: int) -> None:
    frames = _frames()
    data = _pcap(frames)
    offsets = cb.pcap_record_offsets(data)
    warnings, got = _read(tmp_path, data[: offsets[5] + 16 + keep])
    assert got == frames[:5]
    assert len(warnings) == 1
    assert "cut off inside frame 6" in warnings[0]
    assert f"at byte {offsets[5]}" in warnings[0]
    assert f"({keep} of {len(frames[5])} bytes present)" in warnings[0]
    assert "stopped reading" in warnings[0]


@pytest.mark.parametrize("keep", [1, 8, 15])
def test_pcap_cut_off_inside_a_record_header(tmp_path: Path, keep: int) -> None:
    frames = _frames()
    data = _pcap(frames)
    offsets = cb.pcap_record_offsets(data)
    warnings, got = _read(tmp_path, data[: offsets[3] + keep])
    assert got == frames[:3]
    assert len(warnings) == 1
    assert f"inside a record header at byte {offsets[3]} after frame 3" in warnings[0]


def test_pcap_with_only_a_file_header_is_an_empty_capture(tmp_path: Path) -> None:
    assert _read(tmp_path, cb.pcap_header()) == ([], [])


@pytest.mark.parametrize("length", [4, 10, 23])
def test_pcap_file_header_cut_short_is_a_format_error(tmp_path: Path, length: int) -> None:
    with pytest.raises(CaptureFormatError, match="header cut short"):
        _read(tmp_path, cb.pcap_header()[:length])


# -- pcap: corrupt record headers and resynchronisation ----------------------------------------
def _corrupt(data: bytes, offset: int, incl: int, order: str = "<") -> bytes:
    return data[: offset + 8] + struct.pack(order + "I", incl) + data[offset + 12 :]


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("bad", [0xFFFFFFFF, 0x80000000, 1 << 24 | 1])
def test_pcap_corrupt_record_header_resynchronises_on_the_next_record(
    tmp_path: Path, order: str, bad: int,
) -> None:
    frames = _frames()
    data = _pcap(frames, order)
    offsets = cb.pcap_record_offsets(data, order=order)
    warnings, got = _read(tmp_path, _corrupt(data, offsets[3], bad, order))
    assert got == frames[:3] + frames[4:], "frames after the damage are recovered"
    assert len(warnings) == 1
    assert f"corrupt record header at byte {offsets[3]} after frame 3" in warnings[0]
    assert f"claims a {bad}-byte packet" in warnings[0]
    assert f"skipped {offsets[4] - offsets[3]} bytes" in warnings[0]


def test_pcap_two_corrupt_records_both_recovered_from(tmp_path: Path) -> None:
    frames = _frames(12)
    data = _pcap(frames)
    offsets = cb.pcap_record_offsets(data)
    data = _corrupt(_corrupt(data, offsets[2], 0xFFFFFFFF), offsets[8], 0xFFFFFFFE)
    warnings, got = _read(tmp_path, data)
    assert got == frames[:2] + frames[3:8] + frames[9:]
    assert len(warnings) == 2


def test_pcap_resync_with_a_clock_near_zero_recovers_later_frames(tmp_path: Path) -> None:
    """BUG: two corrupt headers two records apart, in a capture whose clock starts near 0
    (synthetic and anonymised captures often do).  Any small number passes the "within a
    day of the last timestamp" test, so the scan accepts a candidate that starts inside the
    corrupt header itself (its ts_sec is the old orig_len field) and whose claimed next
    record lies beyond the bytes buffered so far, without reading on to check it.  That
    bogus record claims ~128 KiB, the reader reports the capture cut off, and all five
    good frames after the damage are lost.  (With a 2023 clock the same file recovers.)"""
    frames = _frames(8)
    data = cb.pcap_bytes([(1000, 0, f) for f in frames])
    offsets = cb.pcap_record_offsets(data)
    data = _corrupt(_corrupt(data, offsets[2], 0xFFFFFFFF), offsets[4], 0xFFFFFFFF)
    warnings, got = _read(tmp_path, data)
    assert [f for f in got if f not in frames] == [], "only real records are delivered"
    assert got[:2] == frames[:2]
    assert got[-3:] == frames[-3:], "frames after the damage are recovered"
    assert not any("cut off" in w for w in warnings), warnings


def test_pcap_many_corrupt_headers_are_read_fast(tmp_path: Path) -> None:
    """BUG (performance): this 8 MiB file (a corrupt header before every second record,
    54k of them) must read in a fraction of a second, as an undamaged one does.
    First version: quadratic, each resync appended up to 16 MiB to the buffer and copied
    it again (8 MiB 7 s, 16 MiB 40 s).  Current version: linear, but each resync runs
    ``bytes.find`` over a 64 KiB window for each of three timestamp patterns, two of which
    never occur, so even when the next record is 16 bytes away it scans ~128 KiB:
    ~0.7 s per MiB here, ~12 min for a 1 GB hostile capture."""
    frame = cb.ether(cb.tcp4(flags=cb.ACK))
    unit = (struct.pack("<IIII", SEC, 0, 0xFFFFFFFF, 0) + cb.pcap_record(SEC, 0, frame)
            + cb.pcap_record(SEC, 1, frame))
    count = (8 << 20) // len(unit)
    path = cb.write(tmp_path, "hostile.dat",
                    cb.pcap_header() + cb.pcap_record(SEC, 0, frame) + unit * count)
    reader = open_capture(path)
    try:
        with _time_limit(2.5):
            delivered = sum(1 for _ in reader)
    except _TookTooLong as exc:
        pytest.fail(f"{exc} for 8 MiB ({reader.frames} frames read)")
    assert delivered == 1 + 2 * count


def test_pcap_resync_over_zeros_with_a_clock_near_zero_is_fast(tmp_path: Path) -> None:
    """With a clock near 0 the upper half of every timestamp is two zero bytes, so a
    search for it matched every byte of a zeroed region and judged each one in Python
    (1.2 s per MiB); the scan's regular expression also rejects the zero lengths."""
    frame = cb.ether(cb.tcp4(flags=cb.ACK))
    data = (cb.pcap_header() + cb.pcap_record(1000, 0, frame)
            + struct.pack("<IIII", 1000, 0, 0xFFFFFFFF, 0) + bytes(8 << 20)
            + cb.pcap_record(1000, 1, frame) * 3)
    reader = open_capture(cb.write(tmp_path, "zeros.dat", data))
    try:
        with _time_limit(6):
            delivered = sum(1 for _ in reader)
    except _TookTooLong as exc:
        pytest.fail(f"{exc} for 8 MiB of zeros")
    assert delivered == 4 and len(reader.warnings) == 1


def test_pcap_corrupt_last_record_stops_with_a_warning(tmp_path: Path) -> None:
    frames = _frames()
    data = _pcap(frames)
    offsets = cb.pcap_record_offsets(data)
    warnings, got = _read(tmp_path, _corrupt(data, offsets[7], 0xFFFFFFFF))
    assert got == frames[:7]
    assert len(warnings) == 1
    assert "corrupt record header" in warnings[0] and "stopped reading" in warnings[0]


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_pcap_corrupt_first_record_resynchronises_on_the_second(
    tmp_path: Path, order: str, nano: bool,
) -> None:
    """Issue 12: a corrupt *first* record header (one claiming 4 GB) used to lose the whole
    file, since there was no earlier timestamp to search for; now the scan finds headers of
    the right shape and judges each by its own timestamp."""
    frames = _frames()
    data = cb.pcap_bytes([(SEC + i, i, f) for i, f in enumerate(frames)], order=order,
                         nano=nano)
    offsets = cb.pcap_record_offsets(data, order=order)
    warnings, got = _read(tmp_path, _corrupt(data, 24, 0xFFFFFFFF, order))
    assert got == frames[1:]
    assert len(warnings) == 1
    assert "corrupt record header at byte 24 after frame 0" in warnings[0]
    assert f"skipped {offsets[1] - 24} bytes" in warnings[0]


def test_pcap_corrupt_first_record_followed_by_garbage_stops(tmp_path: Path) -> None:
    data = cb.pcap_header() + struct.pack("<IIII", SEC, 0, 0xFFFFFFFF, 0) + b"\xff" * 5000
    warnings, got = _read(tmp_path, data)
    assert got == []
    assert len(warnings) == 1
    assert "corrupt record header at byte 24 after frame 0" in warnings[0]
    assert "stopped reading" in warnings[0]


def test_pcap_corrupt_record_followed_by_garbage_stops(tmp_path: Path) -> None:
    frames = _frames(3)
    data = _pcap(frames) + struct.pack("<IIII", SEC, 0, 0xFFFFFFFF, 0) + b"\xff" * 5000
    warnings, got = _read(tmp_path, data)
    assert got == frames
    assert len(warnings) == 1 and "stopped reading" in warnings[0]


def test_pcap_huge_claims_do_not_allocate_what_they_claim(tmp_path: Path) -> None:
    """A 4 GB record header, a 16 MB one and a snaplen of 4 GB in a 2 KB file: memory stays
    bounded by the reader's fixed limits, not by the claims."""
    frames = _frames(4)
    hdr = cb.pcap_header(snaplen=0xFFFFFFFF)
    data = hdr + _pcap(frames)[24:] + struct.pack("<IIII", SEC, 0, (1 << 24) - 1, 1 << 30)
    path = cb.write(tmp_path, "claims.dat", data)
    tracemalloc.start()
    try:
        reader, got = cb.read_all(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [d for *_, d in got] == frames and len(reader.warnings) == 1
    assert peak < 48 << 20, f"peak {peak >> 20} MiB"


# -- pcapng ------------------------------------------------------------------------------------
def _pcapng(frames: list[bytes], order: str = "<") -> tuple[bytes, list[int]]:
    """A pcapng file and the byte offset of every EPB."""
    data = cb.png_shb(order=order) + cb.png_idb(1, order=order)
    offsets = []
    for i, f in enumerate(frames):
        offsets.append(len(data))
        data += cb.png_epb(0, i, f, order=order)
    return data, offsets


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("keep", [12, 30, 60])
def test_pcapng_cut_off_inside_a_block(tmp_path: Path, order: str, keep: int) -> None:
    frames = _frames()
    data, offsets = _pcapng(frames, order)
    warnings, got = _read(tmp_path, data[: offsets[5] + keep])
    assert got == frames[:5]
    assert len(warnings) == 1
    assert f"cut off inside a block at byte {offsets[5]} after frame 5" in warnings[0]


@pytest.mark.parametrize("keep", [1, 8, 11])
def test_pcapng_cut_off_inside_a_block_header(tmp_path: Path, keep: int) -> None:
    frames = _frames()
    data, offsets = _pcapng(frames)
    warnings, got = _read(tmp_path, data[: offsets[2] + keep])
    assert got == frames[:2]
    assert len(warnings) == 1
    assert f"inside a block header at byte {offsets[2]} after frame 2" in warnings[0]


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("blen", [0, 8, 13, 0xFFFFFFF0, 1 << 31])
def test_pcapng_corrupt_block_length_resynchronises_on_the_next_block(
    tmp_path: Path, order: str, blen: int,
) -> None:
    """Issue 12: one flipped bit in a block length used to lose the rest of the file."""
    frames = _frames()
    data, offsets = _pcapng(frames, order)
    at = offsets[4] + 4
    warnings, got = _read(tmp_path, data[:at] + struct.pack(order + "I", blen) + data[at + 4 :])
    assert got == frames[:4] + frames[5:]
    assert len(warnings) == 1
    assert (f"corrupt block at byte {offsets[4]} after frame 4 (block length {blen}); "
            f"skipped {offsets[5] - offsets[4]} bytes to the next plausible block") in warnings[0]


def test_pcapng_trailing_length_mismatch_resynchronises(tmp_path: Path) -> None:
    frames = _frames()
    data, offsets = _pcapng(frames)
    end = offsets[4] - 4  # the trailing length of block 3
    damaged = data[:end] + struct.pack("<I", 4) + data[end + 4 :]
    warnings, got = _read(tmp_path, damaged)
    assert got == frames[:3] + frames[4:]
    assert len(warnings) == 1 and "trailing length does not match" in warnings[0]
    assert f"skipped {offsets[4] - offsets[3]} bytes" in warnings[0]


def test_pcapng_block_length_run_past_the_end_resynchronises(tmp_path: Path) -> None:
    """A length that is sane but runs past the end of the file: the blocks inside it are
    still found."""
    frames = _frames()
    data, offsets = _pcapng(frames)
    at = offsets[2] + 4
    warnings, got = _read(tmp_path, data[:at] + struct.pack("<I", 1 << 20) + data[at + 4 :])
    assert got == frames[:2] + frames[3:]
    assert len(warnings) == 1 and "runs past the end of the capture" in warnings[0]


def test_pcapng_several_damaged_blocks_are_listed_then_counted(tmp_path: Path) -> None:
    frames = _frames(20)
    data, offsets = _pcapng(frames)
    buf = bytearray(data)
    damaged = range(1, 19, 2)
    for i in damaged:
        buf[offsets[i] + 4 : offsets[i] + 8] = struct.pack("<I", 0xFFFFFFF0)
    warnings, got = _read(tmp_path, bytes(buf))
    assert got == [f for i, f in enumerate(frames) if i not in damaged]
    assert len(warnings) == 6
    assert "9 corrupt blocks in all" in warnings[-1]


def test_pcapng_corrupt_block_followed_by_garbage_stops_within_the_bound(
    tmp_path: Path,
) -> None:
    frames = _frames(2)
    data, _ = _pcapng(frames)
    garbage = b"\x01\x00\x00\x00\xff\xff\xff\xff" * ((17 << 20) // 8)  # IDB types, bad lengths
    data += struct.pack("<II", cb.PNG_EPB, 0xFFFFFFF0) + garbage
    with _time_limit(30):
        warnings, got = _read(tmp_path, data)
    assert got == frames
    assert len(warnings) == 1
    assert "no plausible block within 16 MiB, stopped reading" in warnings[0]


def test_pcapng_many_corrupt_blocks_are_read_fast(tmp_path: Path) -> None:
    """A corrupt block before every second good one (8 MiB, ~50k resyncs) reads in a
    fraction of a second: the scan starts next to the damage and runs at C speed."""
    frame = cb.ether(cb.tcp4(flags=cb.ACK))
    good = cb.png_epb(0, 1, frame)
    unit = struct.pack("<II", cb.PNG_EPB, 0xFFFFFFF0) + b"\x00" * 8 + good + good
    count = (8 << 20) // len(unit)
    path = cb.write(tmp_path, "hostile.dat", cb.png_shb() + cb.png_idb(1) + unit * count)
    reader = open_capture(path)
    try:
        with _time_limit(2.5):
            delivered = sum(1 for _ in reader)
    except _TookTooLong as exc:
        pytest.fail(f"{exc} for 8 MiB ({reader.frames} frames read)")
    assert delivered == 2 * count


def test_pcapng_epb_captured_length_beyond_block_is_skipped(tmp_path: Path) -> None:
    frames = _frames(4)
    data, offsets = _pcapng(frames)
    at = offsets[1] + 8 + 12  # captured-length field of the second EPB
    damaged = data[:at] + struct.pack("<I", 5000) + data[at + 4 :]
    warnings, got = _read(tmp_path, damaged)
    assert got == [frames[0], frames[2], frames[3]]
    assert warnings == [f"{tmp_path / 'damaged.dat'}: frame 2 at byte {offsets[1]} skipped "
                        "(bad captured length)"]


def test_pcapng_epb_for_an_undefined_interface_is_skipped(tmp_path: Path) -> None:
    frames = _frames(3)
    data = (cb.png_shb() + cb.png_idb(1) + cb.png_epb(0, 1, frames[0])
            + cb.png_epb(7, 2, frames[1]) + cb.png_epb(0, 3, frames[2]))
    warnings, got = _read(tmp_path, data)
    assert got == [frames[0], frames[2]]
    assert len(warnings) == 1 and "bad interface id" in warnings[0]


def test_pcapng_packets_before_any_interface_are_skipped(tmp_path: Path) -> None:
    frames = _frames(2)
    data = (cb.png_shb() + cb.png_spb(frames[0]) + cb.png_epb(0, 1, frames[0]) + cb.png_idb(1)
            + cb.png_epb(0, 2, frames[1]))
    warnings, got = _read(tmp_path, data)
    assert got == [frames[1]]
    assert len(warnings) == 2


@pytest.mark.parametrize("btype", [cb.PNG_EPB, cb.PNG_PB])
@pytest.mark.parametrize("body_len", [0, 4, 12, 16])
def test_pcapng_packet_block_too_short_in_the_middle(tmp_path: Path, btype: int,
                                                     body_len: int) -> None:
    frames = _frames(2)
    data = (cb.png_shb() + cb.png_idb(1) + cb.png_epb(0, 1, frames[0])
            + cb.png_block(btype, b"\x00" * body_len) + cb.png_epb(0, 2, frames[1]))
    warnings, got = _read(tmp_path, data)
    assert got == frames
    assert len(warnings) == 1 and "frame 2" in warnings[0]


@pytest.mark.parametrize("btype", [cb.PNG_EPB, cb.PNG_PB])
@pytest.mark.parametrize("body_len", [0, 4, 8, 12, 16])
def test_pcapng_packet_block_too_short_at_end_of_file(tmp_path: Path, btype: int,
                                                      body_len: int) -> None:
    """Regression: an EPB / PB shorter than its fixed 20-byte header used to be unpacked
    before its length was checked.  In the middle of a file that read the next block's
    bytes (and the frame was skipped), but as the last block of the file (or of a 1 MiB
    read) the unpack ran off the buffer and ``struct.error`` escaped the reader."""
    frames = _frames(2)
    data = (cb.png_shb() + cb.png_idb(1) + cb.png_epb(0, 1, frames[0])
            + cb.png_epb(0, 2, frames[1]) + cb.png_block(btype, b"\x00" * body_len))
    warnings, got = _read(tmp_path, data)  # must not raise struct.error
    assert got == frames
    assert len(warnings) == 1 and "frame 3" in warnings[0]


def test_pcapng_bad_byte_order_magic(tmp_path: Path) -> None:
    shb = bytearray(cb.png_shb())
    shb[8:12] = b"\x00\x11\x22\x33"
    with pytest.raises(CaptureFormatError, match="byte-order magic"):
        _read(tmp_path, bytes(shb) + cb.png_idb(1))
    frames = _frames(2)
    good, _ = _pcapng(frames)
    warnings, got = _read(tmp_path, good + bytes(shb) + cb.png_idb(1))
    assert got == frames
    assert len(warnings) == 1 and "bad byte-order magic in a section header" in warnings[0]


@pytest.mark.parametrize("keep", [4, 8, 11, 12, 27, 32])
def test_pcapng_cut_inside_its_section_header_is_a_format_error(
    tmp_path: Path, keep: int,
) -> None:
    """Issue 12: a pcapng cut to 4 bytes was an empty capture (exit 0) while a pcap cut
    inside its file header is a format error (exit 2); both are errors now (also for a
    section header with options, cut after 28 bytes)."""
    shb = cb.png_shb(options=[(4, b"tcpflow-analyzer test")])
    with pytest.raises(CaptureFormatError, match="section header cut short"):
        _read(tmp_path, shb[:keep])


def test_pcapng_corrupt_section_header_with_nothing_after_it_is_a_format_error(
    tmp_path: Path,
) -> None:
    shb = bytearray(cb.png_shb())
    shb[4:8] = struct.pack("<I", 13)
    with pytest.raises(CaptureFormatError, match=r"corrupt pcapng section header \(block "
                       r"length 13\) and no plausible block after it"):
        _read(tmp_path, bytes(shb) + b"\xee" * 100)


def test_pcapng_block_claiming_16_mib_in_a_small_file(tmp_path: Path) -> None:
    frames = _frames(2)
    data, _ = _pcapng(frames)
    data += struct.pack("<II", cb.PNG_EPB, 1 << 24) + b"\x00" * 100
    path = cb.write(tmp_path, "claims.dat", data)
    tracemalloc.start()
    try:
        reader, got = cb.read_all(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [d for *_, d in got] == frames
    assert len(reader.warnings) == 1 and "cut off inside a block" in reader.warnings[0]
    assert peak < 48 << 20, f"peak {peak >> 20} MiB"


def test_pcapng_resync_lands_on_packets_cut_by_the_snaplen(tmp_path: Path) -> None:
    """The resync's EPB check compares the *captured* length with the block, not the
    original one: a capture made with a snaplen (every EPB shorter than its packet)
    resynchronises too."""
    frames = _frames(6)
    data = cb.png_shb() + cb.png_idb(1)
    offsets = []
    for i, f in enumerate(frames):
        offsets.append(len(data))
        data += cb.png_epb(0, i, f, orig_len=1500)
    at = offsets[2] + 4
    warnings, got = _read(tmp_path, data[:at] + struct.pack("<I", 7) + data[at + 4 :])
    assert got == frames[:2] + frames[3:]
    assert len(warnings) == 1 and f"skipped {offsets[3] - offsets[2]} bytes" in warnings[0]


# -- content that would grow memory or warnings without bound ---------------------------------
def test_pcapng_packets_naming_a_missing_interface_warn_five_times_then_count(
    tmp_path: Path,
) -> None:
    """Issue 12: one warning per frame was a million stderr lines for a million frames."""
    frame = _frames(1)[0]
    data = cb.png_shb() + cb.png_idb(1) + cb.png_epb(9, 0, frame) * 1000 + cb.png_epb(0, 1, frame)
    warnings, got = _read(tmp_path, data)
    assert got == [frame]
    assert len(warnings) == 6
    assert all("bad interface id" in w for w in warnings[:5])
    assert "995 more warnings of this kind (frames skipped for a bad interface id)" in (
        warnings[5])


def test_pcapng_interfaces_beyond_the_limit_are_not_kept(tmp_path: Path) -> None:
    """Issue 12: millions of interface blocks (a tiny gzip) grew a list of them without
    bound.  At most MAX_INTERFACES per section are kept; packets naming a later one are
    skipped like those naming a missing one."""
    from tcpflow_analyzer.sources import pcapfile

    frame = _frames(1)[0]
    limit = pcapfile.MAX_INTERFACES
    data = (cb.png_shb() + cb.png_idb(1) * (limit + 100) + cb.png_epb(limit - 1, 0, frame)
            + cb.png_epb(limit + 5, 0, frame))
    warnings, got = _read(tmp_path, data)
    assert got == [frame]
    assert sum(f"more than {limit} interfaces in one section" in w for w in warnings) == 5
    assert any("95 more warnings of this kind (interfaces beyond the limit)" in w
               for w in warnings)
    assert sum("bad interface id" in w for w in warnings) == 1


def _zeros_gzip(prefix: bytes, zeros: int) -> bytes:
    """``prefix`` followed by ``zeros`` zero bytes, gzip-compressed piecewise (a bomb)."""
    import zlib

    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [comp.compress(prefix)]
    piece = bytes(1 << 20)
    out.extend(comp.compress(piece) for _ in range(zeros >> 20))
    out.append(comp.flush())
    return b"".join(out)


def test_pcap_decompression_bomb_of_zeros_stops_after_a_bounded_run(tmp_path: Path) -> None:
    """Issue 12: zeros after a pcap header read as 16-byte records of empty frames: 1 GiB
    in a 1 MB gzip ran for a minute as 67 million frames without a warning.  Frames too
    short for any link header are damage; a run of them ends the capture."""
    from tcpflow_analyzer.sources.pcapfile import MAX_SHORT_RUN

    frames = _frames(3)
    bomb = _zeros_gzip(_pcap(frames), 64 << 20)  # 4 million empty records
    assert len(bomb) < 100_000
    path = cb.write(tmp_path, "bomb.pcap.gz", bomb)
    reader = open_capture(path)
    with _time_limit(10):
        got = [d for *_, d in reader]
    assert got[:3] == frames and len(got) <= 3 + MAX_SHORT_RUN
    assert len(reader.warnings) == 1
    assert f"frames 4 to {3 + MAX_SHORT_RUN}" in reader.warnings[0]
    assert "shorter than the Ethernet header" in reader.warnings[0]
    assert "stopped reading" in reader.warnings[0]


def test_pcapng_run_of_empty_packets_stops_after_a_bounded_run(tmp_path: Path) -> None:
    from tcpflow_analyzer.sources.pcapfile import MAX_SHORT_RUN

    frames = _frames(2)
    data = (cb.png_shb() + cb.png_idb(1) + b"".join(cb.png_epb(0, 1, f) for f in frames)
            + cb.png_epb(0, 2, b"") * (MAX_SHORT_RUN + 500) + cb.png_epb(0, 3, frames[0]))
    warnings, got = _read(tmp_path, data)
    assert got[:2] == frames and len(got) == 2 + MAX_SHORT_RUN - 1
    assert len(warnings) == 1 and "stopped reading" in warnings[0]


def test_a_few_frames_too_short_for_their_link_header_are_one_warning(tmp_path: Path) -> None:
    frames = _frames(3)
    data = _pcap([frames[0], b"\x00" * 6, frames[1], b"", frames[2]])
    warnings, got = _read(tmp_path, data)
    assert got == [frames[0], b"\x00" * 6, frames[1], b"", frames[2]]
    assert len(warnings) == 1
    assert "2 frames shorter than their link-layer header" in warnings[0]


def test_pcapng_decompression_bomb_of_zeros_stops_within_the_resync_bound(
    tmp_path: Path,
) -> None:
    """Zeros after a pcapng interface are one corrupt block (type 0, length 0); the scan
    for a plausible block gives up after 16 MiB instead of reading the whole bomb."""
    frames = _frames(2)
    data, _ = _pcapng(frames)
    path = cb.write(tmp_path, "bomb.pcapng.gz", _zeros_gzip(data, 32 << 20))
    reader = open_capture(path)
    with _time_limit(10):
        got = [d for *_, d in reader]
    assert got == frames
    assert len(reader.warnings) == 1
    assert "no plausible block within 16 MiB" in reader.warnings[0]


@pytest.mark.parametrize("blen", [1 << 20, 0xFFFFFFF0])
def test_pcapng_corrupt_section_header_length_resynchronises(tmp_path: Path, blen: int) -> None:
    """A flipped bit in the first block's length is damage like any other: the interface
    and the packets after it are found (only a file too short for a section header is an
    error)."""
    frames = _frames()
    data, offsets = _pcapng(frames)
    warnings, got = _read(tmp_path, data[:4] + struct.pack("<I", blen) + data[8:])
    assert got == frames
    assert len(warnings) == 1 and "corrupt block at byte 0 after frame 0" in warnings[0]


def test_resync_through_crafted_junk_gives_up_after_a_budget_of_candidates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Junk crafted so that every 8 bytes look like a record header that fails only the
    last checks cost ~1.5 s per MiB of it to scan; a capture alternating such junk with
    good records took minutes per GB.  Each capture may judge MAX_RESYNC_TRIES candidates
    in all, then reading stops with a warning that says so (here made small)."""
    from tcpflow_analyzer.sources import pcapfile

    monkeypatch.setattr(pcapfile, "MAX_RESYNC_TRIES", 20_000)
    frame = cb.ether(cb.tcp4(flags=cb.ACK))
    junk = struct.pack("<IIII", SEC, 0, 0x20, 0x10) * ((1 << 20) // 16)  # incl > orig
    good = cb.pcap_record(SEC, 0, frame)
    bad = struct.pack("<IIII", SEC, 0, 0xFFFFFFFF, 0)
    data = cb.pcap_header() + (good + bad + junk) * 4 + good
    reader = open_capture(cb.write(tmp_path, "junk.dat", data))
    with _time_limit(10):
        delivered = sum(1 for _ in reader)
    assert delivered >= 1
    assert "too much damage (20000 candidate records judged in this capture)" in (
        reader.warnings[-1])
    png_junk = struct.pack("<II", cb.PNG_EPB, 0x40) * ((1 << 20) // 8)  # bad trailing length
    data = (cb.png_shb() + cb.png_idb(1) + (cb.png_epb(0, 1, frame)
            + struct.pack("<II", cb.PNG_EPB, 0xFFFFFFF0) + png_junk) * 4)
    reader = open_capture(cb.write(tmp_path, "junk.pcapng", data))
    with _time_limit(10):
        delivered = sum(1 for _ in reader)
    assert delivered >= 1
    assert "too much damage (20000 candidate blocks judged" in reader.warnings[-1]
