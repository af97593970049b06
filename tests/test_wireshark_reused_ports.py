"""``--semantics wireshark``: tshark's ``reused_ports`` on a SYN-ACK with a new sequence
number (issue 11).  Observed with tshark 4.0.17 (``tshark -2``) on these very captures: the
SYN-ACK is flagged and becomes the direction's base seq (the ``tcp.stream`` stays the same),
and the second pass flags every earlier SYN-ACK whose seq differs from the final base."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tcpflow_analyzer.pipeline import analyze_to_report
from tcpflow_analyzer.segment import ACK, FIN, PSH, SYN
from tcpflow_analyzer.tracker import TrackerConfig

from .capbuild import (
    ORIG4,
    ORIG_MAC,
    ORIG_PORT,
    RESP4,
    RESP_MAC,
    RESP_PORT,
    ether,
    pcap_dpkt,
    tcp4,
    write,
)

A, B, C = 1000, 5000, 900_000


def _o(seq: int, ack: int, flags: int, payload: bytes = b"") -> bytes:
    return ether(tcp4(seq=seq, ack=ack, flags=flags, payload=payload))


def _r(seq: int, ack: int, flags: int, payload: bytes = b"") -> bytes:
    return ether(tcp4(src=RESP4, dst=ORIG4, sport=RESP_PORT, dport=ORIG_PORT, seq=seq, ack=ack,
                      flags=flags, payload=payload), src=RESP_MAC, dst=ORIG_MAC)


_CLOSED = [_o(A, 0, SYN), _r(B, A + 1, SYN | ACK), _o(A + 1, B + 1, ACK),
           _o(A + 1, B + 1, ACK | PSH, b"x" * 10), _r(B + 1, A + 11, ACK),
           _o(A + 11, B + 1, FIN | ACK), _r(B + 1, A + 12, FIN | ACK), _o(A + 12, B + 2, ACK)]

#: name -> (frames, frames tshark -2 flags reused_ports on)
CASES = {
    # the client reuses its ISN (same conversation), the server answers with a new one
    "same-isn-syn": (_CLOSED + [_o(A, 0, SYN), _r(C, A + 1, SYN | ACK), _o(A + 1, C + 1, ACK),
                                _o(A + 1, C + 1, ACK | PSH, b"y" * 10),
                                _r(C + 1, A + 11, ACK)], [2, 10]),
    # the new SYN was not captured
    "syn-missed": (_CLOSED + [_r(C, A + 1, SYN | ACK), _o(A + 1, C + 1, ACK),
                              _o(A + 1, C + 1, ACK | PSH, b"y" * 10), _r(C + 1, A + 11, ACK)],
                   [2, 9]),
    "synack-new-seq": ([_o(A, 0, SYN), _r(B, A + 1, SYN | ACK), _r(C, A + 1, SYN | ACK),
                        _o(A + 1, C + 1, ACK)], [2, 3]),
    "three-synacks": ([_o(A, 0, SYN), _r(B, A + 1, SYN | ACK), _r(C, A + 1, SYN | ACK),
                       _r(C + 7777, A + 1, SYN | ACK), _o(A + 1, C + 7778, ACK),
                       _r(C + 7778, A + 1, ACK | PSH, b"z" * 5)], [2, 3, 4]),
    # back to the first seq: that one is the final base, so frame 2 stays unflagged
    "back-to-first": ([_o(A, 0, SYN), _r(B, A + 1, SYN | ACK), _r(C, A + 1, SYN | ACK),
                       _r(B, A + 1, SYN | ACK), _o(A + 1, B + 1, ACK)], [3, 4]),
}


def _capture(tmp_path: Path, name: str) -> str:
    frames, _ = CASES[name]
    return write(tmp_path, f"{name}.pcap", pcap_dpkt((1000 + i * 0.1, f)
                                                     for i, f in enumerate(frames)))


def _reused(path: str) -> list[int]:
    rep = analyze_to_report([path], TrackerConfig(semantics="wireshark", checksums="off"))
    return sorted(e["frame"] for c in rep["connections"] for e in c["anomaly_events"]
                  if e["name"] == "reused_ports")


@pytest.mark.parametrize("name", sorted(CASES))
def test_wireshark_synack_with_new_seq_is_reused_ports_like_tshark(
        tmp_path: Path, name: str) -> None:
    assert _reused(_capture(tmp_path, name)) == CASES[name][1]


@pytest.mark.oracle
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
@pytest.mark.parametrize("name", sorted(CASES))
def test_wireshark_reused_ports_cases_agree_with_tshark_itself(
        tmp_path: Path, name: str) -> None:
    from .conformance.tshark import tshark_flags

    path = _capture(tmp_path, name)
    theirs = sorted(f for f, flags in tshark_flags(Path(path)).items() if "reused_ports" in flags)
    assert theirs == CASES[name][1] == _reused(path)
