"""Capture ingestion, compression (issue #2): gzip, bzip2 and xz captures are recognised by
their magic bytes, never by the file name (the files here are called ``.dat``, or carry a
misleading suffix), and a truncated compressed stream yields its good part plus a warning."""

from __future__ import annotations

import bz2
import random
from pathlib import Path

import pytest

from tcpflow_analyzer.errors import CaptureFormatError

from . import capbuild as cb

CODECS = ["gzip", "bzip2", "xz"]


def _pcap(n: int = 6) -> tuple[bytes, list[bytes]]:
    frames = [cb.ether(cb.tcp4(seq=i, flags=cb.DATA_FLAGS, payload=bytes([65 + i]) * 50 * i))
              for i in range(n)]
    return cb.pcap_bytes([(1000 + i, i, f) for i, f in enumerate(frames)]), frames


def _pcapng() -> tuple[bytes, list[bytes]]:
    frames = [cb.ether(cb.tcp4(sport=1)), cb.tcp6(sport=2)]
    data = (cb.png_shb(order=">") + cb.png_idb(1, order=">") + cb.png_idb(101, order=">")
            + cb.png_epb(0, 1, frames[0], order=">") + cb.png_epb(1, 2, frames[1], order=">"))
    return data, frames


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_compressed_capture_detected_by_magic(tmp_path: Path, codec: str, kind: str) -> None:
    """Regression (bzip2, xz): ``BZ2File`` and ``LZMAFile`` have no ``fileobj=`` keyword;
    the reader used to call them with one, so every bzip2 / xz capture raised TypeError
    (and the CLI said "internal error")."""
    raw, frames = _pcap() if kind == "pcap" else _pcapng()
    path = cb.write(tmp_path, "capture.dat", cb.compress(raw, codec))
    reader, got = cb.read_all(path)
    assert (reader.format, reader.compression, reader.warnings) == (kind, codec, [])
    assert [d for *_, d in got] == frames


@pytest.mark.parametrize("codec", CODECS)
def test_misleading_suffix_does_not_matter(tmp_path: Path, codec: str) -> None:
    raw, frames = _pcap()
    suffix = {"gzip": "gz", "bzip2": "bz2", "xz": "xz"}[codec]
    plain = cb.write(tmp_path, f"plain.pcap.{suffix}", raw)
    packed = cb.write(tmp_path, "packed.pcap", cb.compress(raw, codec))
    plain_reader, plain_frames = cb.read_all(plain)
    packed_reader, packed_frames = cb.read_all(packed)
    assert (plain_reader.compression, packed_reader.compression) == (None, codec)
    assert [d for *_, d in plain_frames] == [d for *_, d in packed_frames] == frames


def test_gzip_with_several_members_reads_through(tmp_path: Path) -> None:
    """``cat a.pcap.gz b.gz`` style concatenation: gzip readers continue into later members."""
    raw, frames = _pcap()
    half = len(raw) // 2
    path = cb.write(tmp_path, "multi.dat", cb.compress(raw[:half], "gzip")
                    + cb.compress(raw[half:], "gzip"))
    reader, got = cb.read_all(path)
    assert (reader.warnings, [d for *_, d in got]) == ([], frames)


@pytest.mark.parametrize("codec", CODECS)
def test_compressed_non_capture_is_a_format_error(tmp_path: Path, codec: str) -> None:
    path = cb.write(tmp_path, "text.dat", cb.compress(b"just some text, not a capture\n", codec))
    with pytest.raises(CaptureFormatError, match=r"not a pcap or pcapng capture"):
        cb.read_all(path)


@pytest.mark.parametrize("codec", CODECS)
def test_corrupt_compressed_header_is_a_format_error(tmp_path: Path, codec: str) -> None:
    """The right magic followed by garbage: a one-line format error naming the codec."""
    garbage = {"gzip": b"\x1f\x8b\x08\x00garbagegarbage", "bzip2": b"BZh9garbagegarbage",
               "xz": b"\xfd7zXZ\x00garbagegarbage"}[codec]
    path = cb.write(tmp_path, "garbage.dat", garbage)
    with pytest.raises(CaptureFormatError, match=codec):
        cb.read_all(path)


def _big_pcap(n: int = 400) -> tuple[bytes, list[bytes]]:
    rng = random.Random(7)  # incompressible payloads: compressed size grows with the frames
    frames = [cb.ether(cb.tcp4(seq=i, flags=cb.DATA_FLAGS, payload=rng.randbytes(200)))
              for i in range(n)]
    return cb.pcap_bytes([(2000 + i, 0, f) for i, f in enumerate(frames)]), frames


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.95])
def test_truncated_gzip_yields_the_good_part_and_a_warning(tmp_path: Path, fraction: float) -> None:
    """Regression: frames used to be pulled from the decompressor in 1 MiB reads, and the
    read that hit the missing end raised EOFError, throwing away everything decompressed in
    that read: for a capture under 1 MiB nothing at all was delivered."""
    raw, frames = _big_pcap()
    packed = cb.compress(raw, "gzip")
    path = cb.write(tmp_path, "cut.dat", packed[: int(len(packed) * fraction)])
    reader, got = cb.read_all(path)
    data = [d for *_, d in got]
    assert data == frames[: len(data)], "delivered frames must be an exact prefix"
    assert len(data) >= int(len(frames) * (fraction - 0.1)), (len(data), len(frames))
    assert len(reader.warnings) == 1 and "gzip" in reader.warnings[0]
    assert f"after frame {len(data)}" in reader.warnings[0]


@pytest.mark.parametrize("codec", ["bzip2", "xz"])
def test_truncated_bzip2_and_xz_yield_the_good_part_and_a_warning(
    tmp_path: Path, codec: str,
) -> None:
    """bzip2 emits whole blocks only (100 kB at level 1, so this 270 kB capture has three);
    xz streams.  Either way the complete part before the cut is delivered."""
    raw, frames = _big_pcap(1000)
    packed = bz2.compress(raw, compresslevel=1) if codec == "bzip2" else cb.compress(raw, codec)
    path = cb.write(tmp_path, "cut.dat", packed[: int(len(packed) * 0.8)])
    reader, got = cb.read_all(path)
    data = [d for *_, d in got]
    assert data == frames[: len(data)]
    assert len(data) >= len(frames) // 3, (len(data), len(frames))
    assert len(reader.warnings) == 1 and codec in reader.warnings[0]
