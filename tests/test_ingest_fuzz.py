"""Capture ingestion under hostile input (issue #2): random and mutated bytes fed through
``open_capture`` and the decoder never raise anything but CaptureFormatError /
CaptureOpenError, never hang (hypothesis deadline) and never loop (frames are bounded by
the input).  Seeds are small valid captures of every format; mutations flip bytes, write
boundary values into length fields, cut, insert and delete."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcpflow_analyzer.decode import Decoder
from tcpflow_analyzer.errors import CaptureFormatError, CaptureOpenError
from tcpflow_analyzer.segment import Segment
from tcpflow_analyzer.sources.pcapfile import open_capture

from . import capbuild as cb
from .fuzzing import BOUNDARY, examples, mutate, mutation

_FRAMES = [
    cb.ether(cb.tcp4(options=cb.opt_mss(1460) + cb.opt_wscale(7))),
    cb.ether(cb.tcp6(flags=cb.DATA_FLAGS, payload=b"abc"), ethertype=cb.ETH_IPV6,
             tags=[(cb.ETH_8021Q, 5)]),
    cb.ether(cb.mpls(cb.tcp4(flags=cb.ACK), [16, 17]), ethertype=cb.ETH_MPLS),
    cb.ether(cb.udp4()),
]


def _pcapng_seed() -> bytes:
    return (cb.png_shb() + cb.png_idb(1, tsresol=9) + cb.png_idb(101, tsresol=0x8A, tsoffset=5)
            + cb.png_epb(0, 10**9, _FRAMES[0]) + cb.png_epb(1, 2048, cb.tcp4())
            + cb.png_spb(_FRAMES[1])
            + cb.png_shb(order=">") + cb.png_idb(113, order=">")
            + cb.png_opb(0, 7, cb.sll(cb.tcp4()), order=">") + cb.png_epb(0, 8, b"", order=">"))


_PCAP = cb.pcap_bytes([(1_700_000_000 + i, i, f) for i, f in enumerate(_FRAMES)])
SEEDS = {
    "pcap": _PCAP,
    "pcap-be-nano": cb.pcap_bytes([(5, 999_999_999, f) for f in _FRAMES], nano=True, order=">"),
    "pcap-modified": cb.pcap_bytes([(5, 0, f) for f in _FRAMES], modified=True),
    "pcap-snaplen-60": cb.pcap_bytes([(5, 0, f) for f in _FRAMES], snaplen=60, linktype=1),
    "pcapng": _pcapng_seed(),
    "gzip": cb.compress(_PCAP, "gzip"),
    "bzip2": cb.compress(_PCAP, "bzip2"),
    "xz": cb.compress(_pcapng_seed(), "xz"),
}
@pytest.fixture(scope="module")
def fuzz_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "input.dat"


def _consume(path: Path, data: bytes) -> None:
    """Read and decode everything; only the two capture errors may escape."""
    path.write_bytes(data)
    try:
        reader = open_capture(str(path))
        decoder = Decoder()
        limit = max(64 * len(data), 1 << 16)  # compressed input may expand, but not forever
        for n, (frame_no, ts, linktype, frame) in enumerate(reader, 1):
            assert n <= limit, "the reader keeps producing frames: a loop"
            assert frame_no >= n and isinstance(ts, float) and isinstance(frame, bytes)
            before = sum(decoder.skipped.values())
            seg = decoder.decode(frame_no, ts, linktype, frame)
            assert seg is None or isinstance(seg, Segment)
            assert sum(decoder.skipped.values()) == before + (seg is None)
        assert all("\n" not in w for w in reader.warnings), reader.warnings
    except (CaptureFormatError, CaptureOpenError) as exc:
        assert "\n" not in str(exc)


@pytest.mark.parametrize("seed", list(SEEDS))
@settings(max_examples=examples(60), deadline=2000,
          suppress_health_check=[HealthCheck.too_slow])
@given(mutations=st.lists(mutation, min_size=1, max_size=6))
def test_mutated_captures_never_crash_or_hang(
    fuzz_path: Path, seed: str, mutations: list[tuple],  # type: ignore[type-arg]
) -> None:
    _consume(fuzz_path, mutate(SEEDS[seed], mutations))


@settings(max_examples=examples(150), deadline=2000)
@given(
    magic=st.sampled_from([b"", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x34\xcd\xb2\xa1",
                           b"\x0a\x0d\x0d\x0a", b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x4d\x3c\x2b\x1a",
                           b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00"]),
    tail=st.binary(max_size=2048),
)
def test_random_bytes_after_a_magic_never_crash_or_hang(
    fuzz_path: Path, magic: bytes, tail: bytes,
) -> None:
    _consume(fuzz_path, magic + tail)


_block_body = st.one_of(
    st.binary(max_size=48),
    st.builds(lambda iface, caplen, tail: struct.pack("<IIII", iface, 0, 0, caplen) + tail,
              st.integers(0, 3), st.sampled_from([0, 4, 20, 60, 1 << 20, 0xFFFFFFFF]),
              st.binary(max_size=64)),
)


@settings(max_examples=examples(150), deadline=2000)
@given(
    order=st.sampled_from("<>"),
    blocks=st.lists(st.tuples(st.sampled_from([1, 2, 3, 4, 5, 6, 10, 0x0A0D0D0A, 0xBAD]),
                              _block_body), max_size=8),
    linktype=st.sampled_from([1, 101, 113, 0, 9, 10, 276, 147]),
)
def test_random_pcapng_blocks_never_crash_or_hang(
    fuzz_path: Path, order: str, blocks: list[tuple[int, bytes]], linktype: int,
) -> None:
    """Structure-aware: a valid section and interface, then well-framed blocks of any type
    with random (often too short) bodies."""
    data = cb.png_shb(order=order) + cb.png_idb(linktype, order=order) + b"".join(
        cb.png_block(btype, body, order=order) for btype, body in blocks)
    _consume(fuzz_path, data)


@settings(max_examples=examples(150), deadline=2000)
@given(
    order=st.sampled_from("<>"),
    records=st.lists(st.tuples(st.integers(0, 2), st.sampled_from(BOUNDARY + [54, 60, 100]),
                               st.sampled_from(BOUNDARY + [54, 60, 100]),
                               st.binary(max_size=120)), max_size=10),
    snaplen=st.sampled_from([0, 60, 65535, 0xFFFFFFFF]),
)
def test_random_pcap_records_never_crash_or_hang(
    fuzz_path: Path, order: str, records: list[tuple[int, int, int, bytes]], snaplen: int,
) -> None:
    """Structure-aware: a valid file header, then record headers with boundary lengths that
    may or may not match the bytes that follow."""
    data = cb.pcap_header(order=order, snaplen=snaplen) + b"".join(
        struct.pack(order + "IIII", 1_700_000_000 + sec, 0, incl, orig) + body
        for sec, incl, orig, body in records)
    _consume(fuzz_path, data)


def test_every_seed_is_a_valid_capture(fuzz_path: Path) -> None:
    """The seeds themselves read cleanly, so the mutations start from real captures."""
    for name, data in SEEDS.items():
        fuzz_path.write_bytes(data)
        reader = open_capture(str(fuzz_path))
        frames = list(reader)
        # the pcapng seed ends with an empty frame on purpose: damage, noted once
        expected = [f"{fuzz_path}: 1 frame shorter than its link-layer header (damage)"
                    ] if name in ("pcapng", "xz") else []
        assert frames and reader.warnings == expected, name
