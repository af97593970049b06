"""The HTML report: self-contained, complete, bounded, and right in a real browser.

The browser tests drive headless Chromium (Debian's ``chromium``, installed by
``tests/setup_oracles.py``) through :mod:`tests.browser`: the page is loaded from a
``file://`` URL with the network emulated offline and every host name unresolvable.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tcpflow_analyzer.cli import app
from tcpflow_analyzer.listeners import ListenerView
from tcpflow_analyzer.pipeline import analyze_captures, analyze_to_report
from tcpflow_analyzer.reportdata import FAILED_OUTCOMES, ReportCollector, build_report_data
from tcpflow_analyzer.tracker import TrackerConfig

from .browser import chromium, load_page

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = [str(ROOT / p) for p in (
    "samples/handshake-basic.pcap", "samples/refused.pcap", "samples/syn-timeout.pcap",
    "samples/time-wait-reuse.pcap", "samples/anomalies/kernel-loss-sender-side.pcap",
    "samples/anomalies/kernel-zero-window.pcap", "samples/rst-by-resp.pcap")]


def run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


def _blocks(html: str) -> dict[str, object]:
    """Every JSON block of the page by id."""
    return {m.group(1): json.loads(m.group(2)) for m in re.finditer(
        r'<script type="application/json" id="([\w-]+)">(.*?)</script>', html, re.S)}


def _report(tmp_path: Path, *captures: str, extra: tuple[str, ...] = ()) -> tuple[Path, str]:
    out = tmp_path / "report.html"
    code, _o, err = run("report", *captures, "-o", str(out), *extra)
    assert code == 0, err
    return out, out.read_text(encoding="utf-8")


def test_report_fetches_nothing_and_carries_its_chart_library(tmp_path: Path) -> None:
    _, html = _report(tmp_path, *SAMPLES)
    # no element or stylesheet refers outside the file (the only URL left is in uPlot's
    # licence comment)
    assert not re.search(r"""(src|href|action)\s*=\s*["']?\s*(https?:|//)""", html, re.I)
    assert not re.search(r"@import|@font-face|url\(\s*['\"]?(https?:|//)", html, re.I)
    assert "default-src 'none'" in html  # the page could not fetch even if it tried
    assert "uPlot" in html and "Leon Sorokin" not in html  # library inline; licence shipped
    assert (ROOT / "tcpflow_analyzer/render/assets/uPlot.LICENSE").exists()


def test_report_has_a_row_per_connection_and_the_ladder_show_draws(tmp_path: Path) -> None:
    _, html = _report(tmp_path, *SAMPLES)
    blocks = _blocks(html)
    data = blocks["report-data"]
    assert isinstance(data, dict)
    expected = analyze_to_report(SAMPLES, TrackerConfig())
    conns = expected["connections"]
    rows = data["rows"]
    assert sorted(rows["id"]) == [c["id"] for c in conns]
    by_id = {c["id"]: c for c in conns}
    strings = data["strings"]
    for i, cid in enumerate(rows["id"]):
        c = by_id[cid]
        assert strings[rows["outcome"][i]] == c["outcome"]
        assert rows["bytes_resp"][i] == c["bytes"]["resp"]
        assert rows["history"][i] == c["zeek"]["history"]
    assert data["summary"] == expected["summary"]
    assert sum(data["timeline"]["starts"]) == len(conns)
    assert sum(data["timeline"]["failures"]) == sum(c["outcome"] in FAILED_OUTCOMES
                                                    for c in conns)
    # every connection of a small capture has its detail; the ladder is show's drawing
    cap = SAMPLES[4]
    _, html = _report(tmp_path, cap)
    (det,) = [v for k, v in _blocks(html).items() if k.startswith("detail-")]
    assert isinstance(det, dict)
    code, shown, _ = run("show", cap, "--conn", "1")
    assert code == 0 and det["ladder"] == shown
    assert det["graph"]["directions"]["resp"]["sack"]


def test_timeline_spans_the_connections_in_round_bins(tmp_path: Path) -> None:
    """The timeline runs from the first connection's start to the last one's end, in
    bins of a round width: a 2.5 s capture of one connection gets a 2.5 s axis (it used
    to get a single 1 s bin, which the browser stretched to 0–100 s)."""
    cap = str(ROOT / "samples/anomalies/kernel-zero-window.pcap")
    data = _blocks(_report(tmp_path, cap)[1])["report-data"]
    assert isinstance(data, dict)
    tl = data["timeline"]
    (start,), (duration,) = data["rows"]["start"], data["rows"]["duration"]
    assert tl["t0"] == start and 2.5 < duration < 2.51
    assert tl["bin_s"] == 0.02 and len(tl["starts"]) == 126  # 2.507 s / 240 -> 20 ms
    assert tl["span_s"] == pytest.approx(2.52) and tl["starts"][0] == 1
    # many connections over a long span: at most TIMELINE_BINS bins, each start counted
    _, html = _report(tmp_path, *SAMPLES)
    data = _blocks(html)["report-data"]
    assert isinstance(data, dict)
    tl, rows = data["timeline"], data["rows"]
    end = max(s + d for s, d in zip(rows["start"], rows["duration"], strict=True))
    assert len(tl["starts"]) <= 240 and tl["t0"] + tl["span_s"] >= end
    assert tl["span_s"] < (end - tl["t0"]) + tl["bin_s"] + 1e-9


def test_report_says_its_peak_of_open_connections_counts_the_lingering(
        tmp_path: Path) -> None:
    """The flow table's peak counts closed connections still lingering for their close
    delay: three duplicated connections that never overlap make a peak of 3, so the page
    must not call it "active at once"."""
    cap = str(ROOT / "samples/anomalies/network-duplicate.pcap")
    _, html = _report(tmp_path, cap)
    data = _blocks(html)["report-data"]
    assert isinstance(data, dict) and data["capture"]["max_active_connections"] == 3
    assert "<dd>3 (most open at once, incl. lingering: 3)</dd>" in html
    assert "active at once" not in html


def test_report_listener_table_is_the_listener_view(tmp_path: Path) -> None:
    _, html = _report(tmp_path, *SAMPLES)
    data = _blocks(html)["report-data"]
    assert isinstance(data, dict)
    code, out, _ = run("listeners", *SAMPLES, "-f", "json")
    assert code == 0 and data["listeners"] == json.loads(out)["listeners"]
    assert '<table id="listeners">' in html and "198.51.100.2:80" in html


def test_detail_goes_to_the_most_telling_connections_within_the_budget() -> None:
    view = ListenerView()
    col = ReportCollector(max_detail=2)
    stats = analyze_captures(SAMPLES, TrackerConfig(), col.on_flow, sink=view,
                             on_segment=col.on_segment)
    data = build_report_data(col, stats.to_dict(), view.to_list())
    rows = data["rows"]
    assert len(rows["id"]) == 8 and len(data["detail"]) == 2
    kept = {rows["id"][i] for i, d in enumerate(rows["detail"]) if d}
    assert kept == set(data["detail"])
    outcomes = {rows["id"][i]: data["strings"][rows["outcome"][i]]
                for i in range(len(rows["id"]))}
    # no error anomaly here, so the failures come first: the unanswered SYN with its
    # retransmission warning, then the larger of the two others (the reset, not the refusal)
    assert {c: outcomes[c] for c in kept} == {3: "no_synack", 8: "reset"}
    assert data["detail_limits"]["dropped"] == 6
    # and a segment budget smaller than one connection keeps just the most telling one
    col = ReportCollector(max_detail=100, segment_budget=10)
    analyze_captures(SAMPLES, TrackerConfig(), col.on_flow, on_segment=col.on_segment)
    assert len(col.kept_traces()) == 1


def test_a_connection_records_at_most_max_segments(tmp_path: Path) -> None:
    _, html = _report(tmp_path, SAMPLES[4], extra=("--max-segments", "20"))
    (det,) = [v for k, v in _blocks(html).items() if k.startswith("detail-")]
    assert isinstance(det, dict) and det["truncated_at"] == 20
    segs = sum(len(d["segments"]) + len(d["acks"]) for d in det["graph"]["directions"].values())
    assert 0 < segs <= 40


def test_report_errors_are_one_line(tmp_path: Path) -> None:
    code, _o, err = run("report", SAMPLES[0], "-o", str(tmp_path / "r.txt"))
    assert code == 2 and "must end in .html" in err and len(err.strip().splitlines()) == 1
    code, _o, err = run("report", str(tmp_path / "nope.pcap"), "-o", str(tmp_path / "r.html"))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r.html").exists()


def test_graph_html_is_one_interactive_graph(tmp_path: Path) -> None:
    out = tmp_path / "g.html"
    assert run("graph", SAMPLES[4], "-k", "window", "-o", str(out))[0] == 0
    blocks = _blocks(out.read_text(encoding="utf-8"))
    det = blocks["detail-1"]
    assert isinstance(det, dict) and det["graph"]["directions"]["resp"]["window"]


# -- in the browser ----------------------------------------------------------------------
needs_chromium = pytest.mark.skipif(chromium() is None, reason="chromium is not installed "
                                    "(tests/setup_oracles.py installs it as root)")

_INK = ("Array.from(document.querySelectorAll('#detail canvas')).map(c => {"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; })")
_FILTER = """new Promise(done => {
  const box = document.getElementById('f-text');
  box.value = 'refused'; box.dispatchEvent(new Event('input'));
  setTimeout(() => {
    const shown = Array.from(document.querySelectorAll('#conn-body tr')).map(
      tr => tr.children[6].textContent);
    box.value = ''; box.dispatchEvent(new Event('input'));
    setTimeout(() => {
      document.querySelector('#conn-head th[data-col="bytes_resp"]').click();
      document.querySelector('#conn-head th[data-col="bytes_resp"]').click();
      const first = document.querySelector('#conn-body tr').dataset.id;
      document.querySelector('#conn-body tr[data-id="' + first + '"]').click();
      done({filtered: shown, biggest: Number(first),
            charts: Number(document.getElementById('detail').dataset.charts)});
    }, 300);
  }, 300);
})"""


def _distinct_colours(png: bytes) -> int:
    from matplotlib.image import imread

    img = imread(io.BytesIO(png), format="png")
    return len({tuple(px) for px in img.reshape(-1, img.shape[-1])[::53].tolist()})


@needs_chromium
def test_report_opens_offline_with_no_error_and_draws_its_graphs(tmp_path: Path) -> None:
    out, html = _report(tmp_path, *SAMPLES)
    res = load_page(out.as_uri() + "#conn=7", {
        "rows": "document.querySelectorAll('#conn-body tr').length",
        "charts": "Number(document.getElementById('detail').dataset.charts)",
        "ink": _INK,
        "ladder": "document.querySelector('pre.ladder').textContent",
        "timeline": "document.querySelectorAll('#timeline canvas').length",
        "xrange": "document.querySelector('#timeline .chart').dataset.xrange",
        "listeners": "document.querySelectorAll('#listeners tbody tr').length",
        "interact": _FILTER,
    })
    (tmp_path / "shot.png").write_bytes(res.screenshot)
    assert res.errors == [] and res.requests == []
    v = res.values
    assert v["rows"] == 8 and v["timeline"] >= 1 and v["listeners"] >= 1
    tl = _blocks(html)["report-data"]["timeline"]  # type: ignore[index]
    assert [float(x) for x in v["xrange"].split()] == pytest.approx([0, tl["span_s"]])
    # connection 7: the zero-window capture, two tseq, throughput, rtt, two window graphs
    assert v["charts"] == 6 and all(n > 1000 for n in v["ink"]), v["ink"]
    assert "Connection #7" in v["ladder"] and "zero_window" in v["ladder"]
    assert v["interact"]["filtered"] == ["refused"]
    assert v["interact"]["biggest"] == 6 and v["interact"]["charts"] >= 4
    assert res.screenshot[:8] == b"\x89PNG\r\n\x1a\n" and _distinct_colours(res.screenshot) > 20


@needs_chromium
def test_graph_html_opens_offline_and_draws(tmp_path: Path) -> None:
    out = tmp_path / "g.html"
    assert run("graph", SAMPLES[4], "-k", "tseq", "-o", str(out))[0] == 0
    res = load_page(out.as_uri(), {"charts": "Number(document.getElementById('detail')"
                                             ".dataset.charts)", "ink": _INK})
    assert res.errors == [] and res.requests == []
    assert res.values["charts"] == 2 and min(res.values["ink"]) > 1000


def test_two_passes_over_a_file_choose_what_one_pass_over_stdin_does(tmp_path: Path) -> None:
    """A file is read twice (choose, then record only the chosen), standard input once
    (record all, drop the least telling): the same connections get the same detail."""
    cap = SAMPLES[3]  # two incarnations of one 4-tuple: the second reuses the ports
    _, from_file = _report(tmp_path, cap, extra=("--detail", "1"))
    out = tmp_path / "stdin.html"
    res = CliRunner().invoke(app, ["report", "-", "-o", str(out), "--detail", "1"],
                             input=Path(cap).read_bytes())
    assert res.exit_code == 0, res.stderr
    a, b = _blocks(from_file), _blocks(out.read_text(encoding="utf-8"))
    assert a.keys() == b.keys() and len([k for k in a if k.startswith("detail-")]) == 1
    for key in a:
        if key != "report-data":
            assert a[key] == b[key]
    ra, rb = a["report-data"], b["report-data"]
    assert isinstance(ra, dict) and isinstance(rb, dict) and ra["rows"] == rb["rows"]
    # reused_ports (a note) makes #2 more telling than #1
    assert dict(zip(ra["rows"]["id"], ra["rows"]["detail"], strict=True)) == {1: 0, 2: 1}
