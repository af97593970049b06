"""Scenario tests: every sample capture against its reviewed golden report.

Goldens live in ``samples/expected/<capture name>.json``.  They are regenerated only on
purpose, with ``TCPFLOW_UPDATE_GOLDEN=1 python -m pytest tests/test_samples_golden.py``, so
that a reviewer reads the diff.  Comparison is structural (parsed JSON), field by field.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tcpflow_analyzer.pipeline import analyze_to_report
from tcpflow_analyzer.tracker import TrackerConfig

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
CAPTURES = sorted(p for p in SAMPLES.iterdir() if p.suffix in (".pcap", ".pcapng"))
UPDATE = os.environ.get("TCPFLOW_UPDATE_GOLDEN") == "1"


def _report(path: Path) -> dict:
    rep = analyze_to_report([str(path)], TrackerConfig())
    rep["capture"]["files"] = [path.name]
    return json.loads(json.dumps(rep))


@pytest.mark.parametrize("capture", CAPTURES, ids=[p.name for p in CAPTURES])
def test_sample_matches_golden(capture: Path) -> None:
    golden = SAMPLES / "expected" / f"{capture.name}.json"
    got = _report(capture)
    if UPDATE:
        golden.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    assert golden.exists(), f"no golden for {capture.name}; run with TCPFLOW_UPDATE_GOLDEN=1"
    want = json.loads(golden.read_text(encoding="utf-8"))
    assert got["summary"] == want["summary"]
    assert len(got["connections"]) == len(want["connections"])
    for g, w in zip(got["connections"], want["connections"], strict=False):
        for key in sorted(set(g) | set(w)):
            assert g.get(key) == w.get(key), f"{capture.name} conn {w.get('id')}: {key}"
    assert got["capture"] == want["capture"]


def test_every_behaviour_named_in_the_issue_has_a_sample() -> None:
    names = {p.stem for p in CAPTURES}
    for needed in ("handshake-basic", "close-three-way", "simultaneous-open", "simultaneous-close",
                   "half-close", "rst-by-orig", "rst-by-resp", "refused", "syn-timeout",
                   "time-wait-reuse", "missing-syn", "seq-wrap", "ipv6-basic", "vlan-qinq"):
        assert needed in names
    assert any(n.startswith("kernel-") for n in names)


# Key facts per sample, asserted independently of the goldens (what a reviewer checked).
FACTS = {
    "handshake-basic.pcap": ("closed", "four_way", "orig", ["orig"], "SF", "ShADadFf"),
    "close-three-way.pcap": ("closed", "three_way", "orig", ["orig"], "SF", "ShADdFf"),
    "simultaneous-open.pcap": ("closed", "four_way", "orig", ["orig"], "SF", "ShdDafAF"),
    "simultaneous-close.pcapng": ("closed", "simultaneous", "both", ["resp", "orig"], "SF",
                                  "ShADdFfa"),
    "half-close.pcap": ("closed", "half_close", "orig", ["orig"], "SF", "ShADFadf"),
    "rst-by-orig.pcap": ("reset", "none", None, [], "RSTO", "ShADdR"),
    "rst-by-resp.pcap": ("reset", "none", None, [], "RSTR", "ShADdr"),
    "refused.pcap": ("refused", "none", None, [], "REJ", "Sr"),
    "syn-timeout.pcap": ("no_synack", "none", None, [], "S0", "S"),
    "missing-syn.pcap": ("closed", "four_way", "orig", ["orig"], "SF", "DdAFaf"),
    "seq-wrap.pcap": ("closed", "four_way", "orig", ["orig"], "SF", "ShADadFf"),
    "ipv6-basic.pcap": ("closed", "four_way", "orig", ["orig"], "SF", "ShADadFf"),
    "vlan-qinq.pcap": ("closed", "four_way", "orig", ["orig"], "SF", "ShADadFf"),
    "rst-after-fin.pcap": ("reset", "one_fin_only", "orig", [], "RSTO", "ShADFadR"),
    "time-wait-assassination.pcap": ("closed", "four_way", "orig", ["orig"], "SF", "ShADadFfr"),
    "lone-rst.pcap": ("reset", "none", None, [], "OTH", "R"),
    "synack-unacked.pcap": ("handshake_incomplete", "none", None, [], "S1", "Sh"),
    "kernel-basic.pcap": ("closed", "four_way", "orig", ["orig"], "SF", "ShADadFf"),
    "kernel-server-closes.pcap": ("closed", "four_way", "resp", ["resp"], "SF", "ShADadfF"),
    "kernel-refused.pcap": ("refused", "none", None, [], "REJ", "Sr"),
    "kernel-rst-linger0.pcap": ("reset", "none", None, [], "RSTO", "ShADadR"),
    "kernel-ipv6.pcap": ("closed", "four_way", "orig", ["orig"], "SF", "ShADadFf"),
}


@pytest.mark.parametrize("name", sorted(FACTS))
def test_sample_key_facts(name: str) -> None:
    (f, *_rest) = _report(SAMPLES / name)["connections"]
    outcome, pattern, first_fin, tw, state, history = FACTS[name]
    assert (f["outcome"], f["close"]["pattern"], f["close"]["first_fin_by"]) == (
        outcome, pattern, first_fin)
    assert [t["endpoint"] for t in f["time_wait"]] == tw
    assert (f["zeek"]["conn_state"], f["zeek"]["history"]) == (state, history)


def test_time_wait_reuse_sample_links_incarnations() -> None:
    f1, f2 = _report(SAMPLES / "time-wait-reuse.pcap")["connections"]
    assert f2["port_reuse"]["previous_id"] == f1["id"]
    assert f2["port_reuse"]["previous_in_time_wait"] is True
    assert f2["port_reuse"]["rfc6191_acceptable"] is True


def test_vlan_sample_carries_both_tags_outermost_first() -> None:
    (f,) = _report(SAMPLES / "vlan-qinq.pcap")["connections"]
    assert f["vlan"] == [100, 10]
