"""The anomaly captures of ``samples/anomalies/``: ground truth, goldens, determinism.

The synthetic captures come from ``samples/anomalies/make_anomalies.py`` together with a
``<name>.truth.json`` that says what the generator *did* (which frame is a fast
retransmission, which copy the network made ...).  The default semantics must report
exactly those anomalies of this module's codes -- no more, no fewer -- and the measured
values the truth lists.  The ``kernel-*`` captures are real Linux traffic impaired by
nftables rules (``record_kernel_anomalies.py``); their truth gives, for the codes the rules
cause, the exact frames, plus the server's own retransmission counters.  The goldens in
``samples/anomalies/expected/`` freeze this module's output in both semantics (anomaly
events and measurements); regenerate them on purpose with
``TCPFLOW_UPDATE_GOLDEN=1 python -m pytest tests/test_seqanalysis_samples.py``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tcpflow_analyzer.pipeline import Analyzer
from tcpflow_analyzer.report import build_flow_report
from tcpflow_analyzer.sources.pcapfile import open_capture
from tcpflow_analyzer.tracker import Connection, TrackerConfig

DIR = Path(__file__).resolve().parents[1] / "samples" / "anomalies"
CAPTURES = sorted(DIR.glob("*.pcap"))
SYNTHETIC = [p for p in CAPTURES if not p.name.startswith("kernel-")]
KERNEL = [p for p in CAPTURES if p.name.startswith("kernel-")]
UPDATE = os.environ.get("TCPFLOW_UPDATE_GOLDEN") == "1"

#: the anomaly codes this module reports (the tracker's are not part of the truth)
OURS = frozenset({
    "retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order",
    "lost_segment", "duplicate_ack", "zero_window", "zero_window_probe",
    "zero_window_probe_ack", "window_full", "window_update", "keep_alive", "keep_alive_ack",
    "duplicate_segment", "sack", "dsack", "tfo_cookie_request", "tfo_syn_data",
    "syn_with_data", "seq_out_of_window", "window_shrink", "challenge_ack",
})


def analyze(path: Path, semantics: str = "default") -> list[dict[str, Any]]:
    """Flow reports with this module's late verdicts settled and ``measurements`` added
    (what the report builder does once the lead wires ``SeqAnalysis.measurements``)."""
    cfg = TrackerConfig(semantics=semantics, checksums="off")
    flows: list[dict[str, Any]] = []
    analyzer = Analyzer(cfg, flows.append)

    def finished(conn: Connection) -> None:
        measurements = conn.seq.measurements(conn)
        report = build_flow_report(conn)
        report["measurements"] = measurements
        flows.append(report)

    analyzer.table.on_finished = finished
    analyzer.feed(open_capture(str(path)))
    analyzer.finish()
    return sorted(flows, key=lambda f: f["id"])


def _events(flows: list[dict[str, Any]]) -> list[tuple[int, str, str, str]]:
    return sorted((e["frame"], e["name"], e["endpoint"], e["detail"])
                  for f in flows for e in f["anomaly_events"] if e["name"] in OURS)


def _lines(events: list[tuple[int, str, str, str]]) -> list[str]:
    return [f"{frame} {endpoint} {name}: {detail}" for frame, name, endpoint, detail in events]


@pytest.mark.parametrize("capture", SYNTHETIC, ids=[p.name for p in SYNTHETIC])
def test_default_semantics_report_the_ground_truth(capture: Path) -> None:
    truth = json.loads(capture.with_suffix(".truth.json").read_text(encoding="utf-8"))
    flows = analyze(capture)
    got = {(f, n, e) for f, n, e, _ in _events(flows)}
    want = {(e["frame"], e["name"], e["endpoint"]) for e in truth["events"]}
    assert sorted(got - want) == [], "reported but not true"
    assert sorted(want - got) == [], "true but not reported"
    for role, expected in truth["measurements"].items():
        for key, value in expected.items():
            values = [f["measurements"][role][key] for f in flows]
            total = sum(values) if key != "zero_window_stall_s" else max(values)
            assert total == pytest.approx(value, abs=1e-6), (role, key, values)


@pytest.mark.parametrize("capture", KERNEL, ids=[p.name for p in KERNEL])
def test_kernel_capture_matches_what_the_rules_did(capture: Path) -> None:
    truth = json.loads(capture.with_suffix(".truth.json").read_text(encoding="utf-8"))
    assert truth["kind"] == "kernel"
    flows = analyze(capture)
    frames: dict[str, set[int]] = {}
    for frame, name, _endpoint, _detail in _events(flows):
        frames.setdefault(name, set()).add(frame)
    for codes, want in truth["frames_by_code"].items():
        got = set().union(*(frames.get(code, set()) for code in codes.split("|")))
        assert sorted(got) == want, codes
    assert not set(truth["not_spurious"]) & frames.get("spurious_retransmission", set())
    # the server's own counters: how many retransmissions were fast (RFC 5681 §3.2)
    server = truth["kernel_counters"]["server"]
    retx = truth["frames_by_code"]["retransmission|fast_retransmission"]
    fast = len(frames.get("fast_retransmission", set()) & set(retx))
    if server["TcpExtTCPFastRetrans"] == server["TcpRetransSegs"]:
        assert fast == len(retx)
    if "sender" in truth["capture_point"]:
        assert len(retx) == server["TcpRetransSegs"]
        assert fast == server["TcpExtTCPFastRetrans"]
    for role, expected in truth["measurements"].items():
        for key, value in expected.items():
            assert sum(f["measurements"][role][key] for f in flows) == value, (role, key)


@pytest.mark.parametrize("capture", CAPTURES, ids=[p.name for p in CAPTURES])
def test_sample_matches_golden(capture: Path) -> None:
    got = {"default": _lines(_events(analyze(capture))),
           "wireshark": _lines(_events(analyze(capture, "wireshark"))),
           "measurements": [f["measurements"] for f in analyze(capture)]}
    got = json.loads(json.dumps(got))
    golden = DIR / "expected" / f"{capture.name}.json"
    if UPDATE:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    assert golden.exists(), f"no golden for {capture.name}; run with TCPFLOW_UPDATE_GOLDEN=1"
    want = json.loads(golden.read_text(encoding="utf-8"))
    for key in ("default", "wireshark", "measurements"):
        assert got[key] == want[key], f"{capture.name}: {key}"


def test_generator_is_deterministic_and_the_files_are_current(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_anomalies", DIR / "make_anomalies.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = gen  # dataclasses look their module up
    try:
        spec.loader.exec_module(gen)
    finally:
        del sys.modules[spec.name]
    assert gen.main(["--out", str(tmp_path)]) == 0
    made = sorted(p.name for p in tmp_path.iterdir())
    assert made == sorted(p.name for p in DIR.iterdir()
                          if not p.name.startswith("kernel-")
                          and (p.suffix == ".pcap" or p.name.endswith(".truth.json")))
    for name in made:
        digest = hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
        assert digest == hashlib.sha256((DIR / name).read_bytes()).hexdigest(), name


def test_every_behaviour_of_the_issue_has_a_capture() -> None:
    names = {p.stem for p in SYNTHETIC}
    for needed in ("loss-fast-retransmit", "tail-loss-rto", "reordering", "network-duplicate",
                   "zero-window-rfc-probe", "zero-window-linux-probe", "keep-alive",
                   "window-update", "window-full", "tfo-cookie-request", "tfo-data-accepted",
                   "tfo-data-ignored", "synack-wrong-ack", "spurious-dsack"):
        assert needed in names
    covered = {e["name"] for p in SYNTHETIC
               for e in json.loads(p.with_suffix(".truth.json").read_text())["events"]}
    assert {"kernel-loss-sender-side", "kernel-loss-receiver-side",
            "kernel-duplicate"} <= {p.stem for p in KERNEL}
    assert covered == OURS
