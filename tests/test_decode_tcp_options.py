"""Decoder: TCP options (issue #2) — MSS, window scale (clamped to 14), SACK-permitted, SACK
blocks, timestamps, TCP Fast Open cookies (kind 34 and experimental kind 254 / 0xF989),
SYN options only on SYNs, and malformed option lengths that must not crash."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcpflow_analyzer.decode import Decoder, parse_tcp_options
from tcpflow_analyzer.segment import ACK, SYN

from . import capbuild as cb

SYNACK = SYN | ACK


def _seg(options: bytes, flags: int = SYN, ipver: int = 4):  # type: ignore[no-untyped-def]
    build = cb.tcp4 if ipver == 4 else cb.tcp6
    seg, dec = cb.decode_one(101, build(flags=flags, options=options, payload=b""))
    assert seg is not None, dec.skipped
    assert seg.csum_ok is True
    return seg


def _syn_opts(options: bytes, flags: int = SYN, ipver: int = 4) -> dict[str, object] | None:
    seg = _seg(options, flags, ipver)
    return None if seg.syn_opts is None else seg.syn_opts.to_dict()


def _opts(mss=None, wscale=None, sack_ok=False, tfo=None) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {"mss": mss, "wscale": wscale, "sack_permitted": sack_ok, "tfo_cookie": tfo}


# -- SYN options -------------------------------------------------------------------------
@pytest.mark.parametrize("ipver", [4, 6])
@pytest.mark.parametrize("flags", [SYN, SYNACK], ids=["syn", "synack"])
def test_linux_style_syn_options(ipver: int, flags: int) -> None:
    options = (cb.opt_mss(1460) + cb.opt_sack_ok() + cb.opt_timestamps(111, 0) + cb.NOP
               + cb.opt_wscale(7))
    seg = _seg(options, flags, ipver)
    assert seg.syn_opts is not None
    assert (seg.syn_opts.to_dict(), seg.tsval, seg.tsecr, seg.sack, seg.plen) == (
        _opts(1460, 7, True), 111, 0, None, 0)


def test_windows_style_syn_options_with_nop_padding() -> None:
    options = cb.opt_mss(1380) + cb.NOP + cb.opt_wscale(8) + cb.NOP + cb.NOP + cb.opt_sack_ok()
    assert _syn_opts(options) == _opts(1380, 8, True)


@pytest.mark.parametrize(("shift", "expected"), [(0, 0), (13, 13), (14, 14), (15, 14),
                                                 (200, 14), (255, 14)])
def test_window_scale_is_clamped_to_14(shift: int, expected: int) -> None:
    """RFC 7323 §2.3: a shift above 14 is used as 14."""
    assert _syn_opts(cb.opt_wscale(shift)) == _opts(wscale=expected)


def test_tfo_cookie_kind_34() -> None:
    cookie = bytes.fromhex("0102030405060708")
    assert _syn_opts(cb.opt_mss(1460) + cb.opt_tfo(cookie)) == _opts(1460, tfo=cookie.hex())


def test_tfo_empty_cookie_is_a_cookie_request() -> None:
    options = cb.opt_mss(1460) + cb.opt_tfo(b"")
    assert _syn_opts(options) == _opts(1460, tfo="")
    seg = _seg(options)
    assert seg.syn_opts is not None and seg.syn_opts.tfo_cookie == b""


def test_tfo_experimental_kind_254_with_magic() -> None:
    cookie = bytes.fromhex("a1a2a3a4a5a6a7a8")
    assert _syn_opts(cb.opt_tfo_experimental(cookie)) == _opts(tfo=cookie.hex())
    assert _syn_opts(cb.opt_tfo_experimental(b"")) == _opts(tfo="")


def test_kind_254_with_another_experiment_id_is_not_tfo() -> None:
    assert _syn_opts(cb.opt_tfo_experimental(b"\x00" * 8, magic=0x1234)) == _opts()


def test_syn_options_only_on_syn_segments() -> None:
    """MSS / wscale / SACK-permitted on a non-SYN segment mean nothing (RFC 9293 §3.2)."""
    options = cb.opt_mss(1460) + cb.opt_wscale(7) + cb.opt_sack_ok()
    assert _seg(options, flags=ACK).syn_opts is None
    assert _syn_opts(options, flags=SYN) == _opts(1460, 7, True)


def test_syn_without_options_still_carries_syn_options() -> None:
    """Regression: Segment promises ``syn_opts`` "on SYN segments, else None"; a SYN with a
    bare 20-byte header used to take the doff == 20 fast path and get None, so a report
    could not tell "SYN without options" from "no SYN seen"."""
    assert _syn_opts(b"", flags=SYN) == _opts()
    assert _syn_opts(b"", flags=SYNACK) == _opts()
    assert _syn_opts(b"", flags=SYN, ipver=6) == _opts()
    assert _seg(b"", flags=ACK).syn_opts is None


# -- options on every segment --------------------------------------------------------------
@pytest.mark.parametrize("ipver", [4, 6])
@pytest.mark.parametrize("nblocks", [1, 2, 3, 4])
def test_sack_blocks(ipver: int, nblocks: int) -> None:
    blocks = tuple((1000 * i + 0xFFFFF000, 1000 * i + 0xFFFFF000 + 500) for i in range(nblocks))
    blocks = tuple((left & 0xFFFFFFFF, right & 0xFFFFFFFF) for left, right in blocks)
    seg = _seg(cb.NOP + cb.NOP + cb.opt_sack(*blocks), flags=ACK, ipver=ipver)
    assert (seg.sack, seg.syn_opts) == (blocks, None)


def test_sack_blocks_with_timestamps() -> None:
    options = cb.NOP + cb.NOP + cb.opt_timestamps(5, 6) + cb.NOP + cb.NOP + cb.opt_sack((1, 2))
    seg = _seg(options, flags=ACK)
    assert (seg.tsval, seg.tsecr, seg.sack) == (5, 6, ((1, 2),))


@pytest.mark.parametrize(
    "options",
    [cb.NOP + cb.NOP + cb.opt_timestamps(0xFFFFFFFF, 1),  # the common 32-byte fast path
     cb.opt_timestamps(0xFFFFFFFF, 1) + cb.NOP + cb.NOP,  # same length, other layout
     cb.opt_timestamps(0xFFFFFFFF, 1)],  # 30 bytes, padded with EOL
    ids=["nop-nop-ts", "ts-nop-nop", "ts-eol"],
)
@pytest.mark.parametrize("ipver", [4, 6])
def test_timestamps_in_any_layout(options: bytes, ipver: int) -> None:
    seg = _seg(options, flags=ACK, ipver=ipver)
    assert (seg.tsval, seg.tsecr, seg.sack) == (0xFFFFFFFF, 1, None)


def test_no_options_means_no_option_fields() -> None:
    seg = _seg(b"", flags=ACK)
    assert (seg.tsval, seg.tsecr, seg.sack, seg.syn_opts) == (None, None, None, None)


def test_options_after_eol_are_ignored() -> None:
    options = cb.opt_mss(1200) + cb.EOL + cb.opt_wscale(3)[:3]
    assert _syn_opts(options) == _opts(1200)


def test_options_with_payload_keep_payload_length() -> None:
    seg, _ = cb.decode_one(101, cb.tcp4(flags=cb.DATA_FLAGS, payload=b"x" * 77,
                                        options=cb.opt_sack((1, 2))))
    assert seg is not None and (seg.plen, seg.sack) == (77, ((1, 2),))


# -- malformed options ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"\x02\x04\x05\xb4" + b"\x03\x00\x00\x00", _opts(1460)),  # length 0
        (b"\x02\x04\x05\xb4" + b"\x08\x01\x00\x00", _opts(1460)),  # length 1
        (b"\x02\x04\x05\xb4" + b"\x04\x28\x00\x00", _opts(1460)),  # runs past the header
        (b"\x01\x01\x01\x02", _opts()),  # kind in the last byte, no length byte
        (b"\x02\x03\x05\x00", _opts()),  # MSS with a wrong length: skipped, walk continues
        (b"\x02\x05\x05\xb4\x00\x03\x03\x07", _opts(wscale=7)),  # MSS len 5 skipped
        (b"\x03\x04\x07\x00\x04\x02\x00\x00", _opts(sack_ok=True)),  # wscale length 4: ignored
        (b"\x05\x06\x00\x00\x00\x00" + b"\x04\x02", _opts(sack_ok=True)),  # SACK of 4 bytes
        (b"\x22\x02" * 2, _opts(tfo="")),
        (b"\xfe\x02\x00\x00", _opts()),  # kind 254 too short for its ExID
    ],
    ids=["len0", "len1", "past-end", "kind-at-end", "mss-len3", "mss-len5", "wscale-len4",
         "sack-short", "two-tfo", "exp-short"],
)
def test_malformed_option_lengths_do_not_crash(raw: bytes, expected: dict[str, object]) -> None:
    assert _syn_opts(raw) == expected


def test_parse_tcp_options_reports_malformed_and_keeps_what_came_before() -> None:
    data = b"\x02\x04\x05\xb4\x04\x02\x03\x00"
    out = parse_tcp_options(data, 0, len(data))
    assert (out.mss, out.sack_ok, out.wscale, out.malformed) == (1460, True, None, True)
    ok = parse_tcp_options(cb.opt_mss(536) + cb.NOP + cb.opt_wscale(2), 0, 8)
    assert (ok.mss, ok.wscale, ok.malformed) == (536, 2, False)


def test_parse_tcp_options_respects_the_window_it_is_given() -> None:
    data = b"\xff\xff" + cb.opt_mss(1000) + cb.opt_timestamps(1, 2)
    out = parse_tcp_options(data, 2, 6)
    assert (out.mss, out.tsval) == (1000, None)


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=40), flags=st.sampled_from([SYN, SYNACK, ACK, 0xFF]))
def test_arbitrary_option_bytes_never_crash(raw: bytes, flags: int) -> None:
    """Any 0..40 option bytes: the segment is decoded, options are whatever parses."""
    raw = raw + b"\x00" * (-len(raw) % 4)
    frame = cb.tcp4(flags=flags, options=raw, payload=b"p")
    seg = Decoder().decode(1, 0.0, 101, frame)
    assert seg is not None and seg.plen == 1 and seg.csum_ok is True
    if seg.syn_opts is not None and seg.syn_opts.wscale is not None:
        assert 0 <= seg.syn_opts.wscale <= 14
    out = parse_tcp_options(raw, 0, len(raw))
    if out.sack is not None:
        assert all(len(block) == 2 for block in out.sack)


def test_mss_is_read_big_endian() -> None:
    assert _syn_opts(struct.pack("!BBH", 2, 4, 0x1234)) == _opts(0x1234)
