"""Decoder under hostile frames: random and mutated frames of every supported link type
never raise, count exactly one skip reason when they yield no segment, and yield segments
whose fields are within their ranges when they do."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcpflow_analyzer.decode import SUPPORTED_LINKTYPES, Decoder
from tcpflow_analyzer.segment import Segment

from . import capbuild as cb
from .fuzzing import examples

_V4 = cb.tcp4(flags=cb.DATA_FLAGS, options=cb.NOP + cb.NOP + cb.opt_timestamps(1, 2),
              payload=b"hello", ip_options=b"\x01\x01\x01\x00")
_V6 = cb.tcp6(flags=cb.SYN, options=cb.opt_mss(1440) + cb.opt_sack_ok(),
              ext=[cb.v6_ext(cb.V6_HOPOPTS), cb.v6_fragment()])
SEEDS = [
    (1, cb.ether(_V4, tags=[(cb.ETH_8021AD, 1), (cb.ETH_8021Q, 2)])),
    (1, cb.ether(cb.mpls(_V6, [1, 2, 3]), ethertype=cb.ETH_MPLS)),
    (1, cb.ether(cb.pppoe_session(_V4), ethertype=cb.ETH_PPPOE)),
    (1, cb.ether(cb.ipv4(_V6, proto=41))),
    (113, cb.sll(_V6, cb.ETH_IPV6)), (276, cb.sll2(_V4)), (0, cb.null(_V6, 30)),
    (108, cb.loop(_V4)), (101, _V6), (228, _V4), (9, cb.ppp(_V4)), (10, cb.fddi(_V6, cb.ETH_IPV6)),
]


def _check(linktype: int, frame: bytes) -> None:
    dec = Decoder()
    seg = dec.decode(3, 1.5, linktype, frame)
    if seg is None:
        assert sum(dec.skipped.values()) == 1, dec.skipped
        return
    assert isinstance(seg, Segment) and dec.skipped == {}
    assert (seg.frame, seg.ts) == (3, 1.5)
    assert seg.ipver in (4, 6) and len(seg.src) == len(seg.dst) == (4 if seg.ipver == 4 else 16)
    assert 0 <= seg.sport <= 0xFFFF and 0 <= seg.dport <= 0xFFFF
    assert 0 <= seg.seq <= 0xFFFFFFFF and 0 <= seg.ack <= 0xFFFFFFFF
    assert 0 <= seg.flags <= 0xFF and 0 <= seg.win <= 0xFFFF
    assert 0 <= seg.plen <= len(frame) or seg.csum_ok is None
    assert seg.csum_ok in (True, False, None)
    assert all(0 <= v <= 0xFFF for v in seg.vlan)
    if seg.syn_opts is not None and seg.syn_opts.wscale is not None:
        assert seg.syn_opts.wscale <= 14


@settings(max_examples=examples(400), deadline=None)
@given(
    seed=st.sampled_from(SEEDS),
    edits=st.lists(st.tuples(st.integers(0, 4096), st.integers(0, 255)), max_size=5),
    cut=st.none() | st.integers(0, 4096),
)
def test_mutated_frames_never_raise(seed: tuple[int, bytes], edits: list[tuple[int, int]],
                                    cut: int | None) -> None:
    linktype, frame = seed
    buf = bytearray(frame)
    for at, value in edits:
        buf[at % len(buf)] = value
    if cut is not None:
        del buf[cut % (len(buf) + 1) :]
    _check(linktype, bytes(buf))


@settings(max_examples=examples(300), deadline=None)
@given(linktype=st.sampled_from(sorted(SUPPORTED_LINKTYPES) + [2, 147, 0xFFFF]),
       frame=st.binary(max_size=200))
def test_random_frames_never_raise(linktype: int, frame: bytes) -> None:
    _check(linktype, frame)


@pytest.mark.parametrize(("linktype", "frame"), SEEDS, ids=[str(i) for i in range(len(SEEDS))])
def test_every_seed_decodes(linktype: int, frame: bytes) -> None:
    seg, dec = cb.decode_one(linktype, frame)
    assert seg is not None, dec.skipped
