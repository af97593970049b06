"""``show --svg`` / ``--html``: the same drawing as the terminal, as standalone documents."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tcpflow_analyzer.cli import app

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = str(ROOT / "samples" / "simultaneous-close.pcapng")
runner = CliRunner()
SVG_NS = "{http://www.w3.org/2000/svg}"


def _svg_text(path: Path) -> str:
    """The text drawn by an SVG document, line by line.

    rich draws one ``<text>`` per styled run, positioned by ``x`` (whitespace-only runs are
    left out), so the lines are rebuilt on a character grid; the cell width comes from the
    runs' ``textLength``."""
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG_NS}svg"
    runs = [el for el in root.iter(f"{SVG_NS}text")
            if el.get("textLength") and not (el.get("class") or "").endswith("-title")]
    assert runs
    sample = runs[0]
    cell = float(sample.get("textLength", "1")) / len("".join(sample.itertext()))
    rows: dict[float, dict[int, str]] = {}
    for el in runs:
        col = round(float(el.get("x", "0")) / cell)
        row = rows.setdefault(float(el.get("y", "0")), {})
        for i, ch in enumerate("".join(el.itertext())):
            row[col + i] = ch
    lines = []
    for _y, row in sorted(rows.items()):
        width = max(row) + 1
        lines.append("".join(row.get(i, " ") for i in range(width)))
    return "\n".join(lines)


def _expected_states() -> list[str]:
    return ["SYN-SENT", "SYN-RECEIVED", "ESTABLISHED", "FIN-WAIT-1", "CLOSING", "TIME-WAIT"]


def test_svg_is_xml_with_the_arrows_and_states(tmp_path: Path) -> None:
    svg = tmp_path / "ladder.svg"
    result = runner.invoke(app, ["show", SAMPLE, "--svg", str(svg)])
    assert result.exit_code == 0, result.stderr
    text = _svg_text(svg).replace("\xa0", " ")
    for state in _expected_states():
        assert state in text
    assert "SYN seq=0" in text and "FIN+ACK seq=121 ack=601" in text
    assert "▶" in text and "◀" in text
    assert "Simultaneous close" in text
    # the same drawing as stdout: every arrow line of the terminal output is in the SVG
    arrows = [line for line in result.stdout.splitlines() if "▶" in line or "◀" in line]
    assert len(arrows) == 10
    svg_lines = [line.rstrip() for line in text.splitlines()]
    for line in arrows:
        assert line in svg_lines


def test_html_contains_the_same_drawing(tmp_path: Path) -> None:
    page = tmp_path / "ladder.html"
    result = runner.invoke(app, ["show", SAMPLE, "--html", str(page)])
    assert result.exit_code == 0, result.stderr
    doc = page.read_text(encoding="utf-8")
    assert doc.lstrip().lower().startswith("<!doctype html")
    text = html.unescape(re.sub(r"<[^>]+>", "", doc))
    for line in result.stdout.splitlines():
        if "▶" in line or "◀" in line or "Verdict" in line:
            assert line.rstrip() in text
    for state in _expected_states():
        assert state in text


def test_both_exports_at_once_and_stdout_unchanged(tmp_path: Path) -> None:
    plain = runner.invoke(app, ["show", SAMPLE]).stdout
    result = runner.invoke(app, ["show", SAMPLE, "--svg", str(tmp_path / "a.svg"),
                                 "--html", str(tmp_path / "a.html")])
    assert result.exit_code == 0
    assert result.stdout == plain
    assert (tmp_path / "a.svg").stat().st_size > 0 and (tmp_path / "a.html").stat().st_size > 0


@pytest.mark.parametrize("option", ["--svg", "--html"])
def test_unwritable_export_is_a_one_line_error(tmp_path: Path, option: str) -> None:
    target = tmp_path / "no-such-dir" / "x.out"
    result = runner.invoke(app, ["show", SAMPLE, option, str(target)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "cannot write" in result.stderr
    assert not target.exists()
