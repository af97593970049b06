"""Hold the line on tshark conformance of ``--semantics wireshark`` (issue #4).

``tests/conformance/tshark.py`` prints the full scoreboard: every sample, every anomaly
capture and every Zeek corpus trace, frame by frame, our flags against tshark's
``tcp.analysis.*``.  The thresholds are the current scores rounded down, so a regression
fails; every remaining difference is explained in ``docs/anomalies.md``.
"""

from __future__ import annotations

import shutil

import pytest

from .conformance.tshark import default_files, run

pytestmark = [
    pytest.mark.oracle,
    pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed"),
]

#: captures that must agree frame for frame (differences here are bugs, not known limits)
MUST_AGREE = {
    "handshake-basic.pcap", "close-three-way.pcap", "simultaneous-open.pcap",
    "syn-timeout.pcap", "synack-unacked.pcap", "time-wait-reuse.pcap", "seq-wrap.pcap",
    "kernel-basic.pcap", "loss-fast-retransmit.pcap", "tail-loss-rto.pcap",
    "reordering.pcap", "network-duplicate.pcap", "zero-window-rfc-probe.pcap",
    "zero-window-linux-probe.pcap", "keep-alive.pcap", "window-update.pcap",
    "window-full.pcap", "spurious-dsack.pcap", "tfo-data-ignored.pcap",
    "kernel-loss-sender-side.pcap", "kernel-loss-receiver-side.pcap", "kernel-duplicate.pcap",
    "scripts.base.protocols.http.m57-long-download-windowsupdate-1",
    "scripts.base.protocols.ssh.basic", "core.tcp.rxmit-history--conn-1",
    "challenge-ack.pcap", "core.pppoe-over-qinq",
}


def test_tshark_per_frame_agreement_holds(capsys: pytest.CaptureFixture[str]) -> None:
    per_frame, flagged, scores = run(default_files())
    capsys.readouterr()
    assert not [s.name for s in scores if s.error], "tshark could not read a capture"
    assert per_frame >= 0.999, f"per-frame agreement {per_frame:.2%} fell below 99.9%"
    assert flagged >= 0.96, f"agreement on flagged frames {flagged:.2%} fell below 96%"
    agreeing = {s.name for s in scores if s.agree == s.frames}
    missing = sorted(MUST_AGREE - agreeing)
    assert not missing, f"no longer frame-for-frame with tshark: {missing}"
