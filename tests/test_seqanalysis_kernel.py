"""The endpoint-made kernel captures of ``samples/anomalies/``: what their truth says beyond
the frames per code (which ``test_seqanalysis_samples.py`` checks for every ``kernel-*``).

``record_kernel_anomalies.py zerowin keepalive tfo`` records them: a client that stops
reading behind a small SO_RCVBUF (zero window, Linux probes), an idle connection with
1-second keep-alive timers, and TCP Fast Open (cookie request, then data in the SYN).  The
truth holds the kernels' own counters (``nstat``) and what the programs did and saw
(reading times, socket options, ``TCPI_OPT_SYN_DATA``).

``record_kernel_anomalies.py reorder tail`` adds two impaired ones: segments swapped by a
user-space bridge between two TAP devices (``tapbridge.py``, whose log is the truth), and
the last data segment of a response dropped once, recovered by the retransmission timer.
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


def _details(flows: list[dict[str, Any]], code: str) -> dict[int, str]:
    return {f: d for f, n, _e, d in _events(flows) if n == code}


def test_swaps_of_the_tap_bridge_are_out_of_order_not_loss() -> None:
    truth, flows = _load("kernel-reorder.pcap")
    swaps = truth["swaps"]
    server, client = truth["kernel_counters"]["server"], truth["kernel_counters"]["client"]
    # what the kernels saw: one reordering per swap at the sender (SACK), one out-of-order
    # queueing per swap at the receiver, and nothing re-sent
    assert len(swaps) == server["TcpExtTCPSACKReorder"] == client["TcpExtTCPOFOQueue"] > 0
    assert server["TcpRetransSegs"] == server["TcpExtTCPLossProbes"] == 0
    late = _details(flows, "out_of_order")
    assert sorted(late) == sorted(s["late_original_frame"] for s in swaps)
    for swap in swaps:  # evidence: the late one was sent before the one that overtook it
        assert f"sent before frame {swap['overtaking_frame']}" in late[swap["late_original_frame"]]
    assert _frames(flows, "sack") == sorted(s["sack_frame"] for s in swaps)
    for code in ("retransmission", "fast_retransmission", "spurious_retransmission",
                 "lost_segment", "duplicate_segment", "dsack"):
        assert not _frames(flows, code), code
    assert sum(f["measurements"]["resp"]["retransmitted_segments"] for f in flows) == 0


def test_tail_loss_is_recovered_by_the_timer_not_fast() -> None:
    truth, flows = _load("kernel-tail-loss.pcap")
    tail = truth["tail_loss"]
    server = truth["kernel_counters"]["server"]
    assert server["TcpRetransSegs"] == 1 and server["TcpExtTCPFastRetrans"] == 0
    timer = {"RTO": "TcpExtTCPTimeouts", "TLP": "TcpExtTCPLossProbes"}[tail["recovered_by"]]
    assert server[timer] == 1
    assert _frames(flows, "lost_segment") == [tail["gap_revealed_by_fin_frame"]]
    retx = _details(flows, "retransmission")
    assert list(retx) == [tail["retransmission_frame"]]
    if tail["recovered_by"] == "RTO":
        assert "timeout" in retx[tail["retransmission_frame"]]
    assert not _frames(flows, "fast_retransmission")
    assert not _frames(flows, "spurious_retransmission")
    resp = [f["measurements"]["resp"] for f in flows]
    assert sum(m["retransmitted_segments"] for m in resp) == server["TcpRetransSegs"]
    assert sum(m["missed_bytes"] for m in resp) == tail["dropped"]["len"]
