"""The compiled and the interpreted engine give byte-identical results.

Reports: every sample and every Zeek-corpus trace, under both ``--semantics``, analysed by
two subprocesses, one with the compiled modules and one with ``TCPFLOW_ANALYZER_PURE=1``
(which makes the package skip them at import).  Typed functions: hypothesis-generated
inputs to the compiled module and to the same source loaded interpreted, side by side.

Without a compiled build the tests skip, saying why (``tcpflow-analyzer --version``); CI
sets ``TCPFLOW_REQUIRE_COMPILED=1`` (tests/run_ci.py) so that a silent pure build fails.
"""

from __future__ import annotations

import importlib.util
import os
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcpflow_analyzer import _engine, checksum, decode, seqnum

from . import capbuild as cb

ROOT = Path(__file__).resolve().parent.parent
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".gz", ".bz2", ".xz")


def _compiled_or_skip() -> None:
    if _engine.engine() == "compiled":
        return
    why = _engine.describe()
    if os.environ.get("TCPFLOW_REQUIRE_COMPILED") == "1":
        pytest.fail(f"the compiled engine is required here, but this is the {why}")
    pytest.skip(f"no compiled engine to compare with ({why})")


def _captures() -> list[str]:
    found = [p for d in ("samples", "tests/data/zeek-corpus")
             for p in sorted((ROOT / d).rglob("*")) if p.is_file()
             and p.name.endswith(CAPTURE_SUFFIXES)]
    return [str(p.relative_to(ROOT)) for p in found]


def _reports(pure: bool, paths: list[str]) -> tuple[str, str]:
    env = {k: v for k, v in os.environ.items() if k != _engine.PURE_ENV}
    if pure:
        env[_engine.PURE_ENV] = "1"
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "engine_reports.py"), *paths],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    name, _, body = proc.stdout.partition("\n")
    return name, body


def test_every_sample_and_corpus_trace_reports_identically_in_both_engines() -> None:
    _compiled_or_skip()
    paths = _captures()
    assert len(paths) > 100  # the samples and the corpus are really there
    compiled_name, compiled = _reports(False, paths)
    pure_name, pure = _reports(True, paths)
    assert (compiled_name, pure_name) == ("compiled", "pure")
    if compiled != pure:  # name the first capture that differs, not a 10 MB diff
        import json

        a, b = json.loads(compiled), json.loads(pure)
        bad = [(p, s) for p in a for s in a[p] if a[p][s] != b[p][s]]
        pytest.fail(f"{len(bad)} reports differ between the engines, first: {bad[0]}")


def _interpreted(module: ModuleType) -> ModuleType:
    """The same source as ``module``, loaded as plain Python under another name."""
    name = module.__name__ + "_interpreted"
    source = ROOT / "tcpflow_analyzer" / (module.__name__.rpartition(".")[2] + ".py")
    spec = importlib.util.spec_from_file_location(name, source)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    assert loaded.COMPILED is False
    return loaded


PURE_SEQNUM = _interpreted(seqnum)
PURE_CHECKSUM = _interpreted(checksum)
PURE_DECODE = _interpreted(decode)

# raw 32-bit values, values just outside them, and unwrapped offsets (|value| < 2**62)
seq = st.one_of(st.integers(0, 0xFFFFFFFF), st.sampled_from([0, 1, 0x7FFFFFFF, 0x80000000,
                                                            0xFFFFFFFF, 0x100000000, -1]),
                st.integers(-(1 << 40), 1 << 40))
wide = st.integers(-(1 << 61), 1 << 61)


@settings(max_examples=300, deadline=None)
@given(seq, seq, wide)
def test_seqnum_helpers_agree_bit_for_bit(a: int, b: int, ref: int) -> None:
    _compiled_or_skip()
    for name in ("seq_add", "seq_diff", "seq_lt", "seq_le", "seq_gt", "seq_ge", "seq_max"):
        assert getattr(seqnum, name)(a, b) == getattr(PURE_SEQNUM, name)(a, b), name
    assert seqnum.unwrap(a, ref) == PURE_SEQNUM.unwrap(a, ref)
    size = abs(b) & 0xFFFFFFFF
    assert seqnum.in_window(a, b, size) == PURE_SEQNUM.in_window(a, b, size)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=20, max_size=1600), st.integers(0, 40), st.integers(0, 40),
       st.sampled_from([4, 16]), st.data())
def test_checksum_verdicts_agree(data: bytes, lead: int, trail: int, alen: int,
                                 draw: st.DataObject) -> None:
    _compiled_or_skip()
    frame = bytes(lead) + data + bytes(trail)
    addrs = draw.draw(st.binary(min_size=2 * alen, max_size=2 * alen))
    start, end = lead, lead + len(data)
    pseudo = int.from_bytes(addrs, "big") + 6 + len(data)
    partial = pseudo % 0xFFFF or 0xFFFF
    # a random field, the offload value (pseudo-header sum only), and the correct checksum
    correct = 0xFFFF - (int.from_bytes(data[:16] + bytes(2) + data[18:], "big")
                        * (256 if len(data) & 1 else 1) + pseudo) % 0xFFFF
    fields = {draw.draw(st.integers(0, 0xFFFF)), partial, correct, 0}
    for field in fields:
        seg = data[:16] + field.to_bytes(2, "big") + data[18:]
        f = frame[:start] + seg + frame[end:]
        expected = PURE_CHECKSUM.checksum_verdict(seg, pseudo, field)
        assert checksum.tcp_checksum_verdict(f, start, end, addrs, field) == expected
        assert PURE_CHECKSUM.tcp_checksum_verdict(f, start, end, addrs, field) == expected
        assert checksum.tcp_checksum_verdict(memoryview(f), start, end, addrs, field) \
            == expected


_SEG_FIELDS = ("frame", "ts", "vlan", "ipver", "src", "dst", "sport", "dport", "seq", "ack",
               "flags", "win", "plen", "csum_ok", "ip_id", "tcp_csum", "tsval", "tsecr", "sack",
               "link_pad")


def _decoded(module: ModuleType, linktype: int, frame: bytes, verify: bool) -> tuple[object, ...]:
    """Everything a decoder makes of one frame: the segment's fields and every counter."""
    dec = module.Decoder(verify_checksums=verify)
    seg = dec.decode(7, 1.25, linktype, frame)
    fields = None if seg is None else tuple(
        (name, type(v).__name__, v) for name in _SEG_FIELDS for v in [getattr(seg, name)])
    syn = None if seg is None or seg.syn_opts is None else seg.syn_opts.to_dict()
    return (fields, syn, dict(dec.skipped), dec.payload_truncated, dec.take_counts())


_OPTION = st.one_of(
    st.builds(cb.opt_mss, st.integers(0, 0xFFFF)), st.builds(cb.opt_wscale, st.integers(0, 255)),
    st.just(cb.opt_sack_ok()), st.just(cb.NOP), st.just(cb.EOL),
    st.builds(cb.opt_timestamps, st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFFFFFF)),
    st.builds(lambda bl: cb.opt_sack(*bl), st.lists(
        st.tuples(st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFFFFFF)), min_size=1,
        max_size=4)),
    st.builds(cb.opt_tfo, st.binary(max_size=16)),
    st.builds(cb.opt_tfo_experimental, st.binary(max_size=16)),
    st.binary(min_size=1, max_size=6),  # junk: bad lengths, unknown kinds
)


@st.composite
def _frames(draw: st.DrawFn) -> tuple[int, bytes]:
    """Ethernet (maybe VLAN-tagged) frames of IPv4 or IPv6 TCP with random options, flags,
    lengths, checksums and payloads, then maybe cut short or with a few bytes changed."""
    options = b"".join(draw(st.lists(_OPTION, max_size=5)))[:40]
    tcp = {"flags": draw(st.integers(0, 0xFF)), "seq": draw(st.integers(0, 0xFFFFFFFF)),
           "ack": draw(st.integers(0, 0xFFFFFFFF)), "win": draw(st.integers(0, 0xFFFF)),
           "options": options, "payload": draw(st.binary(max_size=64))}
    if draw(st.booleans()):
        tcp["checksum"] = draw(st.integers(0, 0xFFFF))
    if draw(st.integers(0, 9)) == 0:
        tcp["data_offset"] = draw(st.integers(0, 15))
    if draw(st.booleans()):
        l3 = cb.tcp4(total_length=draw(st.none() | st.integers(0, 200)), **tcp)
        etype = cb.ETH_IPV4
    else:
        l3 = cb.tcp6(payload_length=draw(st.none() | st.integers(0, 200)), **tcp)
        etype = cb.ETH_IPV6
    if draw(st.integers(0, 3)) == 0:  # PPPoE, its LENGTH maybe short of the datagram
        ppp = (b"\x00\x21" if etype == cb.ETH_IPV4 else b"\x00\x57") + l3
        short = draw(st.integers(0, 12))
        l3 = struct.pack("!BBHH", 0x11, 0, 1, max(0, len(ppp) - short)) + ppp
        etype = cb.ETH_PPPOE
    tags = draw(st.lists(st.tuples(st.sampled_from([cb.ETH_8021Q, 0x88A8, 0x9100]),
                                   st.integers(0, 0xFFF)), max_size=3))
    frame = bytearray(cb.ether(l3, ethertype=etype, tags=tags))
    for at, value in draw(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)),
                                   max_size=3)):
        frame[at % len(frame)] = value
    cut = draw(st.none() | st.integers(0, len(frame)))
    return 1, bytes(frame[:cut])


@settings(max_examples=500, deadline=None)
@given(_frames(), st.booleans())
def test_decoders_agree_field_for_field(case: tuple[int, bytes], verify: bool) -> None:
    _compiled_or_skip()
    linktype, frame = case
    assert _decoded(decode, linktype, frame, verify) == _decoded(PURE_DECODE, linktype, frame,
                                                                 verify)


# -- the reader: the compiled record cutter against the Python loop alone ------------------

def _read_with(path: Path, cutter: bool, chunk: int, stop: int | None,
               entries: Callable[[Any], Iterator[object]],
               summary: Callable[[Any], tuple[object, ...]]) -> tuple[object, ...]:
    """Open ``path`` with the compiled reader (the record cutter on windows mapped from the
    file) or the Python loop alone (on read buffers), reading or mapping ``chunk`` bytes at
    a time; collect ``entries(reader)`` (the first ``stop`` of them, then the error raised
    while reading, if any) and return them with ``summary(reader)``, or the format error."""
    from tcpflow_analyzer.sources import pcapfile

    saved = pcapfile._CUT_RECORDS, pcapfile._MAP_FILES, pcapfile.CHUNK, pcapfile.MAP_WINDOW
    pcapfile._CUT_RECORDS, pcapfile._MAP_FILES, pcapfile.CHUNK, pcapfile.MAP_WINDOW = (
        cutter, cutter, chunk, chunk)
    try:
        try:
            reader = pcapfile.open_capture(str(path))
        except Exception as exc:  # noqa: BLE001 - the error is part of the outcome
            return (type(exc).__name__, str(exc))
        got: list[object] = []
        try:
            for item in entries(reader):
                got.append(item)
                if stop is not None and len(got) >= stop:
                    break
        except Exception as exc:  # noqa: BLE001 - a header cut short raises while reading
            got.append((type(exc).__name__, str(exc)))
        finally:
            reader.close()
        return (got, *summary(reader))
    finally:
        pcapfile._CUT_RECORDS, pcapfile._MAP_FILES, pcapfile.CHUNK, pcapfile.MAP_WINDOW = saved


def _read_capture(path: Path, cutter: bool, chunk: int, stop: int | None) -> tuple[object, ...]:
    """Everything a reader makes of one capture: each frame (with the ``frames`` count as it
    was delivered), the warnings and the count at the end, or the format error."""
    return _read_with(
        path, cutter, chunk, stop,
        lambda reader: ((tuple((type(v).__name__, v) for v in fr), reader.frames)
                        for fr in reader),
        lambda reader: (list(reader.warnings), reader.frames, reader.format))


@st.composite
def _pcap_captures(draw: st.DrawFn, tcp: bool = False) -> bytes:
    """Classic pcap files (either byte order, µs or ns, 16- or 24-byte records) of frames of
    every length around the link header's, then maybe with corrupt captured lengths, a few
    bytes changed, or cut short."""
    order = draw(st.sampled_from("<>"))
    nano = draw(st.booleans())
    modified = not nano and draw(st.integers(0, 3)) == 0
    linktype = draw(st.sampled_from([1, 1, 101, 113]))
    snaplen = draw(st.sampled_from([65535, 96, 0]))
    records = []
    sec = draw(st.sampled_from([0, 5, 1_700_000_000, 0xFFFFFFF0]))
    for _ in range(draw(st.integers(0, 40))):
        sec = (sec + draw(st.integers(0, 3))) & 0xFFFFFFFF
        frac = draw(st.integers(0, 999_999_999 if nano else 999_999))
        data = draw(_frame_bytes(tcp))
        incl = draw(st.none() | st.none() | st.sampled_from(
            [len(data) + 1, 1 << 18, (1 << 18) + 1, 1 << 30, 0xFFFFFFFF, 0]))
        records.append(cb.pcap_record(sec, frac, data, order=order, incl_len=incl,
                                      modified=modified))
    body = bytearray(cb.pcap_header(linktype=linktype, nano=nano, order=order,
                                    snaplen=snaplen, modified=modified) + b"".join(records))
    for at, value in draw(st.lists(st.tuples(st.integers(24, 4000), st.integers(0, 255)),
                                   max_size=3)):
        if at < len(body):
            body[at] = value
    cut = draw(st.none() | st.none() | st.integers(0, len(body)))
    return bytes(body[:cut])


def _frame_bytes(tcp: bool, max_size: int = 120) -> st.SearchStrategy[bytes]:
    """Frame contents: junk, or with ``tcp`` mostly the decoder test's frames (TCP over
    every link type, some damaged: for the capture's own link type or another's)."""
    junk = st.binary(min_size=0, max_size=max_size)
    frames = _frames().map(lambda case: case[1])
    return st.one_of(frames, frames, frames, junk) if tcp else junk


@st.composite
def _pcapng_captures(draw: st.DrawFn, tcp: bool = False) -> bytes:
    """pcapng files of one or two sections (either byte order), interfaces of several link
    types, resolutions and offsets, and packet blocks of every kind, some naming a missing
    interface or shorter than the link header, then maybe with corrupt block lengths, a few
    bytes changed, or cut short."""
    blocks = []
    for _section in range(draw(st.integers(1, 2))):
        order = draw(st.sampled_from("<>"))
        blocks.append(cb.png_shb(order=order))
        nifaces = 0
        for _ in range(draw(st.integers(0, 40))):
            kind = draw(st.sampled_from(["epb"] * 6 + ["idb", "spb", "opb", "bad"]))
            data = draw(_frame_bytes(tcp, 100))
            units = draw(st.sampled_from([0, 1_700_000_000_123_456, (1 << 64) - 1,
                                          1_700_000_000_123_456_789]))
            iface = draw(st.integers(0, nifaces)) if nifaces else 0
            if kind == "idb" or not nifaces and draw(st.booleans()):
                blocks.append(cb.png_idb(draw(st.sampled_from([1, 101, 113])), order=order,
                                         snaplen=draw(st.sampled_from([0, 40])),
                                         tsresol=draw(st.sampled_from([None, 9, 0x80 | 10])),
                                         tsoffset=draw(st.sampled_from([None, 0, 7]))))
                nifaces += 1
            elif kind == "epb":
                blocks.append(cb.png_epb(iface, units, data, order=order))
            elif kind == "spb":
                blocks.append(cb.png_spb(data, order=order))
            elif kind == "opb":
                blocks.append(cb.png_opb(iface, units, data, order=order))
            else:
                body = draw(st.binary(min_size=0, max_size=40))
                blocks.append(cb.png_block(6, body, order=order, length=draw(st.sampled_from(
                    [None, 12 + len(body) + 4, 13, 8, 1 << 25]))))
    body = bytearray(b"".join(blocks))
    for at, value in draw(st.lists(st.tuples(st.integers(28, 4000), st.integers(0, 255)),
                                   max_size=3)):
        if at < len(body):
            body[at] = value
    cut = draw(st.none() | st.none() | st.integers(0, len(body)))
    return bytes(body[:cut])


@settings(max_examples=300, deadline=None)
@given(_pcap_captures() | _pcapng_captures(), st.sampled_from([1 << 20, 64, 200, 1500]),
       st.none() | st.integers(1, 5), st.booleans())
def test_readers_deliver_identical_frames_and_warnings_with_and_without_the_cutter(
        capture: bytes, chunk: int, stop: int | None, gz: bool) -> None:
    _compiled_or_skip()
    import gzip
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cap"
        path.write_bytes(gzip.compress(capture, mtime=0) if gz else capture)
        assert _read_capture(path, True, chunk, stop) == _read_capture(path, False, chunk, stop)


@settings(max_examples=300, deadline=None)
@given(_pcap_captures(), st.sampled_from([64, 200, 1500]), st.booleans())
def test_a_pcap_readers_frames_and_warnings_do_not_depend_on_its_chunk_size(
        capture: bytes, chunk: int, cutter: bool) -> None:
    """Records across the end of a chunk, damage and resynchronisation near it: the same
    frames and warnings whatever the chunk size (the reader reads the rest of a record cut
    by a chunk's end on its own, and the next chunk whole)."""
    if cutter:
        _compiled_or_skip()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cap"
        path.write_bytes(capture)
        assert _read_capture(path, cutter, chunk, None) == _read_capture(path, cutter, 1 << 20,
                                                                         None)


def test_the_cutter_delivers_the_frames_of_every_sample_and_corpus_pcap_as_the_loop_does(
) -> None:
    _compiled_or_skip()
    for rel in _captures():
        a = _read_capture(ROOT / rel, True, 1 << 20, None)
        assert a == _read_capture(ROOT / rel, False, 1 << 20, None), rel
        b = _read_capture(ROOT / rel, True, 333, None)  # chunk ends inside most records
        assert b == a, rel


def _decode_capture(path: Path, cutter: bool, chunk: int, stop: int | None) -> tuple[object, ...]:
    """Everything ``_records.segments`` makes of one capture's frames: each segment's fields
    (or None), with the ``frames`` count as it was delivered, the warnings, the count at the
    end and the decoder's counters, or the format error."""
    from tcpflow_analyzer._records import segments

    dec = decode.Decoder()

    def entries(reader: Any) -> Iterator[object]:
        for seg in segments(reader, dec):
            fields = None if seg is None else tuple(
                (name, type(v).__name__, v) for name in _SEG_FIELDS
                for v in [getattr(seg, name)])
            syn = None if seg is None or seg.syn_opts is None else seg.syn_opts.to_dict()
            yield (fields, syn, reader.frames)

    return _read_with(
        path, cutter, chunk, stop, entries,
        lambda reader: (list(reader.warnings), reader.frames, dict(dec.skipped),
                        dec.payload_truncated, dec.take_counts()))


@settings(max_examples=200, deadline=None)
@given(_pcap_captures(tcp=True) | _pcapng_captures(tcp=True),
       st.sampled_from([1 << 20, 64, 200, 1500]), st.none() | st.integers(1, 5))
def test_frames_decoded_in_the_read_buffer_are_the_segments_of_their_bytes(
        capture: bytes, chunk: int, stop: int | None) -> None:
    """The cutter's in-place decoding (a frame it cuts never becomes bytes) against the
    reader's frames decoded one by one, on intact and damaged captures."""
    _compiled_or_skip()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cap"
        path.write_bytes(capture)
        assert _decode_capture(path, True, chunk, stop) == _decode_capture(path, False, chunk,
                                                                           stop)


def test_every_sample_and_corpus_pcap_decodes_in_the_read_buffer_as_frame_by_frame() -> None:
    _compiled_or_skip()
    for rel in _captures():
        a = _decode_capture(ROOT / rel, True, 1 << 20, None)
        assert a == _decode_capture(ROOT / rel, False, 1 << 20, None), rel
        assert _decode_capture(ROOT / rel, True, 333, None) == a, rel


def test_behind_the_progress_bar_frames_are_still_decoded_in_the_read_buffer() -> None:
    """``analyze`` on a terminal wraps the reader for its progress bar: the wrapper hands
    the reader to the cutter's in-place decoding (not frame tuples to ``decode``), ticks to
    the file's size, and the analysis is the one without it."""
    _compiled_or_skip()
    from tcpflow_analyzer._records import segments
    from tcpflow_analyzer.pipeline import _WithProgress, analyze_captures
    from tcpflow_analyzer.sources.pcapfile import open_capture
    from tcpflow_analyzer.tracker import TrackerConfig

    path = str(ROOT / "samples" / "handshake-basic.pcap")
    reader = open_capture(path)
    ticks: list[tuple[int, int | None]] = []
    got = list(segments(_WithProgress(reader, lambda *t: ticks.append(t)), decode.Decoder()))
    reader.close()
    assert reader._cut is not None and reader._cut.dec is not None
    assert len(got) == reader.frames and ticks[-1] == (reader.size, reader.size)
    runs = []
    for progress in (None, lambda *_: None):
        flows: list[object] = []
        stats = analyze_captures([path], TrackerConfig(), flows.append, progress)
        runs.append((flows, stats.to_dict()))
    assert runs[0] == runs[1]


def test_a_decoder_subclass_decodes_every_frame_with_its_own_decode() -> None:
    """The cutter decodes in place only for the Decoder itself: a subclass's ``decode``
    (a test's instrumented decoder) sees every frame, in either engine."""
    from tcpflow_analyzer._records import segments
    from tcpflow_analyzer.sources.pcapfile import open_capture

    class Marked(decode.Decoder):
        def decode(self, frame: int, ts: float, linktype: int, data: bytes,
                   ) -> object:
            seg = super().decode(frame, ts, linktype, data)
            if seg is not None:
                seg.plen += 100_000
            return seg

    reader = open_capture(str(ROOT / "samples" / "handshake-basic.pcap"))
    got = [seg for seg in segments(reader, Marked()) if seg is not None]
    reader.close()
    assert got and all(seg.plen >= 100_000 for seg in got)


def test_a_hosts_segments_share_one_address_object_and_keys_share_port_objects() -> None:
    """Compiled, the decoder hands out one ``bytes`` per address (its hash is computed once,
    not per packet) and the flow index's keys one int per port; equal values either way."""
    _compiled_or_skip()
    from tcpflow_analyzer import _ingest
    from tcpflow_analyzer._records import segments
    from tcpflow_analyzer.sources.pcapfile import open_capture

    reader = open_capture(str(ROOT / "samples" / "handshake-basic.pcap"))
    segs = [seg for seg in segments(reader, decode.Decoder()) if seg is not None]
    reader.close()
    addrs = {seg.src for seg in segs} | {seg.dst for seg in segs}
    objects = {id(seg.src) for seg in segs} | {id(seg.dst) for seg in segs}
    assert len(segs) > 2 and len(objects) == len(addrs) == 2
    keys = [_ingest._index_key(seg, False) for seg in segs[:2]]
    assert keys[0] == keys[1] and all(a is b for a, b in zip(*keys, strict=True))


# -- the flow lookup: the compiled common case against the table's own method --------------

_HOSTS = (bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
_PORTS = (80, 80, 40000, 40001)
_FLAG_SETS = (0x02, 0x02, 0x12, 0x10, 0x10, 0x18, 0x11, 0x04, 0x14, 0x01, 0x00)
_SEQS = (0, 1000, 1001, 5000, 0xFFFFFFF0, 7)


@st.composite
def _segment_streams(draw: st.DrawFn) -> tuple[dict[str, object], list[tuple[object, ...]]]:
    """Segments among two hosts and a few ports (so 4-tuples, ISNs and roles collide), with
    gaps from none to beyond every timeout, maybe VLAN tags, under every semantics and VLAN
    mode and a small connection cap."""
    config = {"semantics": draw(st.sampled_from(["default", "wireshark"])),
              "vlan": draw(st.sampled_from(["auto", "key", "ignore"])),
              "max_active": draw(st.sampled_from([262_144, 3]))}
    ts = 1000.0
    segs = []
    for frame in range(1, draw(st.integers(1, 60)) + 1):
        ts += draw(st.sampled_from([0.0, 0.001, 0.5, 4.0, 6.0, 61.0, 301.0]))
        src, dst = draw(st.permutations(_HOSTS)) if draw(st.booleans()) else (_HOSTS[0],) * 2
        segs.append((frame, ts, draw(st.sampled_from([(), (), (7,), (7, 8)])), src, dst,
                     draw(st.sampled_from(_PORTS)), draw(st.sampled_from(_PORTS)),
                     draw(st.sampled_from(_SEQS)), draw(st.sampled_from(_SEQS)),
                     draw(st.sampled_from(_FLAG_SETS)), draw(st.sampled_from([0, 0, 10]))))
    return config, segs


def _run_lookups(config: dict[str, object], stream: list[tuple[object, ...]],
                 compiled_lookup: bool) -> tuple[object, ...]:
    """Every lookup's answer (connection id, sender) and the reports and counters after."""
    from tcpflow_analyzer.flowtable import FlowTable
    from tcpflow_analyzer.report import build_flow_report
    from tests.builders import replay_stream
    from tcpflow_analyzer.tracker import TrackerConfig

    reports: list[object] = []
    table = FlowTable(TrackerConfig(**config), lambda c: reports.append(build_flow_report(c)))  # type: ignore[arg-type]
    if not compiled_lookup:
        table.lookup = table._lookup  # the method itself
    answers = replay_stream(table, stream)
    table.flush()
    return (answers, reports, table.cut_segments, table.late_segments, table.evicted,
            table.vlan_warnings())


@settings(max_examples=300, deadline=None)
@given(_segment_streams())
def test_flow_lookups_agree_with_the_tables_own_method(
        case: tuple[dict[str, object], list[tuple[object, ...]]]) -> None:
    _compiled_or_skip()
    from tcpflow_analyzer import _ingest
    from tcpflow_analyzer.flowtable import FlowTable
    from tcpflow_analyzer.tracker import TrackerConfig

    assert isinstance(FlowTable(TrackerConfig(), print).lookup, _ingest.FlowLookup)
    config, stream = case
    assert _run_lookups(config, stream, True) == _run_lookups(config, stream, False)
