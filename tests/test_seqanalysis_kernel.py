"""The endpoint-made kernel captures of ``samples/anomalies/``: what their truth says beyond
the frames per code (which ``test_seqanalysis_samples.py`` checks for every ``kernel-*``).

``record_kernel_anomalies.py zerowin keepalive tfo`` records them: a client that stops
reading behind a small SO_RCVBUF (zero window, Linux probes), an idle connection with
1-second keep-alive timers, and TCP Fast Open (cookie request, then data in the SYN).  The
truth holds the kernels' own counters (``nstat``) and what the programs did and saw
(reading times, socket options, ``TCPI_OPT_SYN_DATA``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from .test_seqanalysis_samples import DIR, _events, analyze


def _load(name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    capture = DIR / name
    if not capture.exists():
        pytest.skip(f"{name} not recorded")
    truth = json.loads(capture.with_suffix(".truth.json").read_text(encoding="utf-8"))
    return truth, analyze(capture)


def _frames(flows: list[dict[str, Any]], code: str) -> list[int]:
    return sorted(f for f, n, _e, _d in _events(flows) if n == code)


def test_zero_window_probes_and_stall_match_the_kernel() -> None:
    truth, flows = _load("kernel-zero-window.pcap")
    line = truth["timeline"]
    counters = truth["kernel_counters"]
    probes = _frames(flows, "zero_window_probe")
    assert probes == line["probe_frames"]
    assert len(probes) == counters["server"]["TcpExtTCPWinProbe"]
    # a probe the client's out-of-window rate limit left unanswered gets no probe ACK
    answered = len(_frames(flows, "zero_window_probe_ack"))
    assert answered == len(probes) - counters["client"]["TcpExtTCPACKSkippedSeq"]
    assert _frames(flows, "zero_window") == [line["zero_window_frame"]]
    assert line["reopening_frame"] in _frames(flows, "window_update")
    assert line["client_stopped_reading_s"] < line["client_resumed_reading_s"]
    stall = sum(f["measurements"]["resp"]["zero_window_stall_s"] for f in flows)
    assert stall == pytest.approx(line["stall_s"], abs=1e-6)
    assert not _frames(flows, "keep_alive") and not _frames(flows, "duplicate_ack")


def test_keep_alives_match_the_kernel_counter() -> None:
    truth, flows = _load("kernel-keepalive.pcap")
    ka = truth["keepalive"]
    assert ka["read_back"] == ka["configured"]
    events = [(f, e) for f, n, e, _d in _events(flows) if n == "keep_alive"]
    assert [f for f, _ in events] == ka["probe_frames"]
    assert len(events) == truth["kernel_counters"]["client"]["TcpExtTCPKeepAlive"]
    assert {e for _, e in events} == {"orig"}  # the client set SO_KEEPALIVE
    assert len(_frames(flows, "keep_alive_ack")) == len(events) - \
        truth["kernel_counters"]["server"]["TcpExtTCPACKSkippedSeq"]


def test_fast_open_verdicts_match_both_kernels() -> None:
    truth, flows = _load("kernel-tfo.pcap")
    conns = truth["tfo"]["connections"]
    details = {f: d for f, n, _e, d in _events(flows) if n == "tfo_syn_data"}
    requested = [c["syn_frame"] for c in conns if c["cookie_requested"]]
    assert _frames(flows, "tfo_cookie_request") == requested
    for conn in conns:
        if not conn["syn_data_bytes"]:
            assert conn["syn_frame"] not in details
            continue
        accepted = conn["server_tcpi_syn_data_acked"]
        assert accepted == conn["client_tcpi_syn_data_acked"]
        assert ("accepted" in details[conn["syn_frame"]]) == accepted
    server = truth["kernel_counters"]["server"]
    assert server["TcpExtTCPFastOpenPassive"] == sum(
        1 for c in conns if c["server_tcpi_syn_data_acked"])
    assert not _frames(flows, "syn_with_data") and not _frames(flows, "retransmission")
