"""`analyze` of several captures says which capture each connection came from in every
format: JSON and NDJSON carry ``file``, CSV ends each row with a ``file`` column and the
terminal table has a ``capture`` column.  One capture's output has none of them."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

from typer.testing import CliRunner

from tcpflow_analyzer.cli import app
from tcpflow_analyzer.render.csvout import COLUMNS

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
REFUSED = str(SAMPLES / "refused.pcap")
BASIC = str(SAMPLES / "handshake-basic.pcap")
RESET = str(SAMPLES / "rst-by-resp.pcap")
runner = CliRunner()


def run(*args: str) -> str:
    res = runner.invoke(app, ["analyze", *args])
    assert res.exit_code == 0, res.stderr
    return res.stdout


def test_csv_of_several_captures_ends_each_row_with_its_capture() -> None:
    rows = list(csv.reader(io.StringIO(run(REFUSED, BASIC, RESET, "-f", "csv"))))
    assert rows[0] == [*COLUMNS, "file"]
    assert [(r[0], r[-1]) for r in rows[1:]] == [("1", REFUSED), ("2", BASIC), ("3", RESET)]
    # every other column keeps its position
    assert [r[COLUMNS.index("outcome")] for r in rows[1:]] == ["refused", "closed", "reset"]


def test_csv_of_several_captures_names_the_column_even_when_no_row_is_left() -> None:
    out = run(REFUSED, BASIC, "-f", "csv", "--outcome", "reset")
    assert out == ",".join([*COLUMNS, "file"]) + "\n"


def test_csv_of_one_capture_has_no_file_column() -> None:
    rows = list(csv.reader(io.StringIO(run(BASIC, "-f", "csv"))))
    assert rows[0] == COLUMNS
    assert len(rows[1]) == len(COLUMNS)


def _table(out: str) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the connection table, cells folded over lines joined."""
    head: list[str] = []
    rows: list[list[str]] = []
    for line in out.splitlines():
        if line.startswith("┃") and not head:
            head = [c.strip() for c in line.strip("┃").split("┃")]
        elif line.startswith("│") and head:
            cells = [c.strip() for c in line.strip("│").split("│")]
            if len(cells) != len(head):
                break  # the next table
            if cells[0]:
                rows.append(cells)
            else:
                rows[-1] = [a + b for a, b in zip(rows[-1], cells, strict=True)]
    return head, rows


def test_terminal_lists_the_capture_of_each_connection() -> None:
    head, rows = _table(run(REFUSED, BASIC, RESET))
    assert head[:3] == ["#", "capture", "orig"]
    assert [(c[0], c[1], c[4]) for c in rows] == [
        ("1", "refused.pcap", "refused"), ("2", "handshake-basic.pcap", "closed"),
        ("3", "rst-by-resp.pcap", "reset")]


def test_terminal_names_captures_by_their_path_when_file_names_repeat(tmp_path: Path) -> None:
    other = tmp_path / "refused.pcap"
    shutil.copy(REFUSED, other)
    head, rows = _table(run(REFUSED, str(other)))
    assert [c[1] for c in rows] == [REFUSED, str(other)]


def test_terminal_of_one_capture_has_no_capture_column() -> None:
    head, rows = _table(run(BASIC))
    assert head[:2] == ["#", "orig"] and "capture" not in head
    assert len(rows) == 1
