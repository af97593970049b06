"""Graph data of real kernel captures against reviewed goldens, and the graph command.

Goldens live in ``tests/golden/graph/<capture>.json`` (the data points, never pixels);
regenerate on purpose with ``TCPFLOW_UPDATE_GOLDEN=1 pytest tests/test_graph_data.py``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tcpflow_analyzer.cli import app
from tcpflow_analyzer.graphdata import GraphCollector, build_graph_data
from tcpflow_analyzer.pipeline import Analyzer
from tcpflow_analyzer.sources.pcapfile import open_capture
from tcpflow_analyzer.tracker import TrackerConfig

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "graph"
UPDATE = os.environ.get("TCPFLOW_UPDATE_GOLDEN") == "1"
CAPTURES = ["samples/kernel-basic.pcap", "samples/seq-wrap.pcap",
            "samples/anomalies/kernel-loss-sender-side.pcap",
            "samples/anomalies/kernel-zero-window.pcap",
            "samples/anomalies/kernel-tail-loss.pcap", "samples/anomalies/spurious-dsack.pcap"]


def graph_data(capture: str, raw_seq: bool = False) -> list[dict]:
    col = GraphCollector()
    analyzer = Analyzer(TrackerConfig(), col.on_flow)
    analyzer.feed(open_capture(str(ROOT / capture)), col.on_segment)
    analyzer.finish()
    return [build_graph_data(t, col.extras.get(t.report["id"]), raw_seq=raw_seq)
            for t in col.traces], [t.report for t in col.traces]


@pytest.mark.parametrize("capture", CAPTURES, ids=[Path(c).name for c in CAPTURES])
def test_graph_data_matches_golden(capture: str) -> None:
    got = json.loads(json.dumps(graph_data(capture)[0]))
    golden = GOLDEN / f"{Path(capture).name}.json"
    if UPDATE:
        golden.write_text(json.dumps(got, indent=1) + "\n", encoding="utf-8")
    assert json.loads(golden.read_text(encoding="utf-8")) == got


@pytest.mark.parametrize("capture", CAPTURES, ids=[Path(c).name for c in CAPTURES])
def test_rtt_points_are_exactly_the_samples_the_report_counts(capture: str) -> None:
    data, reports = graph_data(capture)
    for d, rep in zip(data, reports, strict=True):
        for role in ("orig", "resp"):
            pts = d["directions"][role]["rtt"]
            rtt = rep["measurements"][role]["rtt"]
            assert len(pts) == rtt["count"]
            if pts:
                assert min(p[1] for p in pts) == pytest.approx(rtt["min_s"], abs=1e-6)
                assert max(p[1] for p in pts) == pytest.approx(rtt["max_s"], abs=1e-6)


def test_marks_and_stalls_come_from_the_report() -> None:
    (d,), (rep,) = graph_data("samples/anomalies/kernel-zero-window.pcap")
    resp = d["directions"]["resp"]
    (stall,) = resp["zero_window"]
    assert stall[1] - stall[0] == pytest.approx(rep["measurements"]["resp"]["zero_window_stall_s"],
                                                abs=0.01)
    marked = {s[3]: s[4] for s in resp["segments"] if s[4] not in ("data", "syn", "fin")}
    events = {e["frame"]: e["name"] for e in rep["anomaly_events"] if e["endpoint"] == "resp"
              and e["name"] in ("window_full", "spurious_retransmission")}
    assert marked == events
    (d,), (rep,) = graph_data("samples/anomalies/kernel-loss-sender-side.pcap")
    fast = [s[3] for s in d["directions"]["resp"]["segments"] if s[4] == "fast_retransmission"]
    assert fast == [e["frame"] for e in rep["anomaly_events"]
                    if e["name"] == "fast_retransmission"]
    assert d["directions"]["orig"]["sack"] == [] and d["directions"]["resp"]["sack"]


def test_a_rst_keeps_its_ack_but_advertises_no_window(tmp_path: Path) -> None:
    """A RST's window field means nothing (Linux sends 0): the window lines leave it out,
    as tcptrace does, instead of dropping to 0 at the end; its ACK is still drawn."""
    (d,), _ = graph_data("samples/kernel-rst-linger0.pcap")
    rst_acks = [(role, a) for role in ("orig", "resp") for a in d["directions"][role]["acks"]
                if a[2] is None]
    assert len(rst_acks) == 1  # the RST+ACK of SO_LINGER 0
    role, (_t, ack, _win, frame) = rst_acks[0]
    assert ack > 0
    windows = d["directions"][role]["window"]
    assert windows and all(w[3] != frame for w in windows) and windows[-1][1] > 0
    out = tmp_path / "t.svg"
    assert run("graph", str(ROOT / "samples/kernel-rst-linger0.pcap"), "--conn", "1",
               "-k", "tseq", "-o", str(out))[0] == 0
    assert f"frame {frame}: ACK {ack}, RST: no window" in out.read_text(encoding="utf-8")


def test_relative_numbers_keep_growing_past_the_wrap_and_raw_seq_shows_the_wire() -> None:
    (rel,), _ = graph_data("samples/seq-wrap.pcap")
    (raw,), _ = graph_data("samples/seq-wrap.pcap", raw_seq=True)
    rel_seqs = [s[1] for s in rel["directions"]["orig"]["segments"]]
    assert rel_seqs[0] == 0 and rel_seqs == sorted(rel_seqs)
    raw_seqs = [s[1] for s in raw["directions"]["orig"]["segments"]]
    assert raw_seqs[0] > 2**31 and raw["seq_numbers"] == "raw"


def run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


def test_graph_writes_svg_with_frame_hover_text_and_png(tmp_path: Path) -> None:
    cap = str(ROOT / "samples/anomalies/kernel-loss-sender-side.pcap")
    svg = tmp_path / "g.svg"
    assert run("graph", cap, "--conn", "1", "-o", str(svg))[0] == 0
    text = svg.read_text(encoding="utf-8")
    assert text.startswith("<?xml") and "<title>frame 1: syn seq 0-1</title>" in text
    assert "fast retransmission" in text
    for kind in ("tseq", "throughput", "rtt", "window"):
        png = tmp_path / f"{kind}.png"
        assert run("graph", cap, "-k", kind, "-o", str(png))[0] == 0
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert _distinct_colours(png) > 10


def _distinct_colours(png: Path) -> int:
    from matplotlib.image import imread

    img = imread(str(png))
    return len({tuple(px) for px in img.reshape(-1, img.shape[-1])[::97].tolist()})


def test_graph_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cap = str(ROOT / "samples/time-wait-reuse.pcap")
    code, _out, err = run("graph", cap, "-o", str(tmp_path / "x.png"))
    assert code == 2 and "2 connections match" in err and "--conn" in err
    code, _out, err = run("graph", cap, "-c", "1", "-o", str(tmp_path / "x.txt"))
    assert code == 2 and "must end in .svg, .png or .html" in err
    code, _out, err = run("graph", cap, "-c", "9", "-o", str(tmp_path / "x.png"))
    assert code == 2 and "no connection #9" in err
    code, _out, err = run("graph", cap, "-c", "1", "-k", "pie", "-o", str(tmp_path / "x.png"))
    assert code == 2 and "--kind 'pie'" in err
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, _out, err = run("graph", cap, "-c", "1", "-o", str(tmp_path / "x.png"))
    assert code == 2 and "pip install 'tcpflow-analyzer[graphs]'" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "x.png").exists()
