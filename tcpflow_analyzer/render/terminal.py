"""The rich terminal view: a summary (counts by outcome and close pattern) and a table of
the most interesting connections.  The only module besides ``cli.py`` that uses rich."""

from __future__ import annotations

import heapq
import os
from collections.abc import Mapping
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..anomalies import CATALOGUE, Severity
from ..report import FlowReport

_OUTCOME_STYLE = {
    "closed": "green", "reset": "red", "refused": "red", "no_synack": "yellow",
    "handshake_incomplete": "yellow", "open": "cyan",
}


def _endpoint(e: dict[str, Any]) -> str:
    ip = e["ip"]
    return f"[{ip}]:{e['port']}" if ":" in ip else f"{ip}:{e['port']}"


def _rtt(f: FlowReport) -> str:
    total = f["handshake"]["rtt_s"]["total"]
    if total is None:
        return "-"
    return f"{total * 1000:.1f} ms" if total >= 0.0001 else f"{total * 1e6:.0f} µs"


def _closing(f: FlowReport) -> str:
    c = f["close"]
    if f["reset"] is not None and f["outcome"] in ("reset", "refused"):
        r = f["reset"]
        return f"RST by {r['by']} ({r['validity'].replace('_', ' ')})"
    if c["pattern"] == "none":
        return "-"
    by = c["first_fin_by"]
    return f"{c['pattern'].replace('_', '-')}, {by} first" if by != "both" else "simultaneous"


# how much a connection matters to a user chasing a failure: its worst anomaly's severity,
# or its outcome's, whichever is worse (a closed connection with no anomaly ranks lowest)
_SEVERITY_RANK = {Severity.INFO: 0, Severity.NOTE: 1, Severity.WARNING: 2, Severity.ERROR: 3}
_CODE_RANK = {code: _SEVERITY_RANK[sev] for code, (sev, _meaning) in CATALOGUE.items()}
_OUTCOME_RANK = {"reset": 3, "refused": 3, "no_synack": 2, "handshake_incomplete": 2,
                 "open": 1, "closed": -1}
_COLUMNS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("#", {"justify": "right"}), ("orig", {}), ("resp", {}), ("outcome", {}), ("open", {}),
    ("close", {}), ("TIME-WAIT", {}), ("rtt", {"justify": "right"}),
    ("pkts", {"justify": "right"}), ("frames", {}), ("zeek", {}),
)
# (rank, outcome rank, anomaly count, -id): larger is more interesting; the id breaks ties
# in favour of the earlier connection
Interest = tuple[int, int, int, int]


def interest(f: FlowReport) -> Interest:
    """How interesting a connection is to list (larger is more)."""
    outcome = _OUTCOME_RANK.get(f["outcome"], 0)
    worst = outcome
    count = 0
    for code, n in f["anomalies"].items():
        count += n
        rank = _CODE_RANK.get(code, 0)
        if rank > worst:
            worst = rank
    return (worst, outcome, count, -f["id"])


def _cells(f: FlowReport) -> tuple[str, ...]:
    """The table cells of one connection, in ``_COLUMNS`` order, then its capture when the
    report spans several (``file``)."""
    tw = ", ".join(f"{t['endpoint']}@{t['frame']}" for t in f["time_wait"]) or "-"
    cells = (
        str(f["id"]), _endpoint(f["orig"]), _endpoint(f["resp"]), f["outcome"],
        f["handshake"]["status"].replace("_", " "), _closing(f), tw, _rtt(f),
        f"{f['packets']['orig']}/{f['packets']['resp']}",
        f"{f['first_frame']}-{f['last_frame']}",
        f"{f['zeek']['conn_state']} {f['zeek']['history'] or '-'}",
    )
    return (*cells, f["file"]) if "file" in f else cells


class TerminalWriter:
    """The terminal view, streaming: the summary counts every connection, and the table
    lists at most ``limit`` of them, the most interesting (worst anomaly severity or
    outcome, then anomaly count, then the earliest), in id order, with counts of the
    rest.  It keeps only those rows, however many connections the capture holds.  With
    several captures the table has a ``capture`` column after the id."""

    def __init__(self, console: Console, limit: int = 200) -> None:
        self.console = console
        self.limit = limit
        self.seen = 0
        self._rows: list[tuple[Interest, tuple[str, ...]]] = []  # a min-heap by interest

    def flow(self, flow: FlowReport) -> None:
        """Consider one finished connection for the table."""
        self.seen += 1
        if self.limit <= 0:
            return
        rows = self._rows
        score = interest(flow)
        if len(rows) < self.limit:
            heapq.heappush(rows, (score, _cells(flow)))
        elif score > rows[0][0]:
            heapq.heapreplace(rows, (score, _cells(flow)))

    def finish(self, capture: dict[str, Any], summary: dict[str, Any],
               sections: Mapping[str, Any] | None = None) -> None:
        """Print the summary, the table and the warnings."""
        console = self.console
        head = Text()
        head.append(f"{summary['connections']} TCP connections", style="bold")
        head.append(f" in {capture['tcp_segments']} TCP segments of {capture['frames']} frames")
        console.print(head)
        if summary["outcomes"]:
            parts = [
                Text(f"{k.replace('_', ' ')} {v}", style=_OUTCOME_STYLE.get(k, ""))
                for k, v in summary["outcomes"].items()
            ]
            console.print(Text("outcomes: ").append(Text(" · ").join(parts)))
        closes = {k: v for k, v in summary["close_patterns"].items() if k != "none"}
        if closes:
            console.print("closes: " + " · ".join(f"{k.replace('_', '-')} {v}"
                                                   for k, v in closes.items()))
        if summary["with_time_wait"]:
            console.print(f"TIME-WAIT entered in {summary['with_time_wait']} connection(s)")
        if summary["anomalies"]:
            listed = ", ".join(f"{k} {v}" for k, v in summary["anomalies"].items())
            console.print(f"anomalies: {listed}")
        rows = sorted(self._rows, key=_by_id)
        if rows:
            self._table(rows, _capture_names(capture.get("files", [])))
        rest = self.seen - len(rows)
        if rest > 0:
            console.print(self._rest_line(rows, summary, rest))
        render_listener_section(sections or {}, console)
        for w in capture["warnings"]:
            console.print(Text(f"warning: {w}", style="yellow"))

    def _table(self, rows: list[tuple[Interest, tuple[str, ...]]],
               short: bool = False) -> None:
        table = Table(show_lines=False, header_style="bold", expand=False)
        several = len(rows[0][1]) > len(_COLUMNS)  # the cells end with the capture
        for i, (col, kw) in enumerate(_COLUMNS):
            table.add_column(col, **kw)
            if i == 0 and several:
                table.add_column("capture", overflow="fold")
        for _score, cells in rows:
            outcome = cells[3]
            capture = [os.path.basename(c) or c if short else c for c in cells[len(_COLUMNS):]]
            table.add_row(
                cells[0], *capture, cells[1], cells[2],
                Text(outcome.replace("_", " "), style=_OUTCOME_STYLE.get(outcome, "")),
                *cells[4:len(_COLUMNS)],
            )
        if len(rows) < self.seen:
            self.console.print(
                f"the {len(rows)} most eventful of {self.seen} connections (worst anomaly or "
                "outcome first, listed by id):", style="dim")
        self.console.print(table)

    @staticmethod
    def _rest_line(rows: list[tuple[Interest, tuple[str, ...]]], summary: dict[str, Any],
                   rest: int) -> str:
        shown: dict[str, int] = {}
        for _score, cells in rows:
            shown[cells[3]] = shown.get(cells[3], 0) + 1
        counts = [
            f"{k.replace('_', ' ')} {v - shown.get(k, 0)}"
            for k, v in summary["outcomes"].items() if v > shown.get(k, 0)
        ]
        detail = f": {', '.join(counts)}" if counts else ""
        return (f"… {rest} more not listed{detail} (use --format json, or narrow with "
                "--host/--port/--outcome)")


def _capture_names(files: list[str]) -> bool:
    """Whether the captures can be named by their file names alone (no two alike)."""
    names = [os.path.basename(f) or f for f in files]
    return len(set(names)) == len(names)


def _by_id(row: tuple[Interest, tuple[str, ...]]) -> int:
    return -row[0][3]


def render_terminal(report: dict[str, Any], console: Console, limit: int = 200) -> None:
    """Print the summary and the connection table of a whole report."""
    writer = TerminalWriter(console, limit)
    for f in report["connections"]:
        writer.flow(f)
    writer.finish(report["capture"], report["summary"],
                  {"listeners": report["listeners"]} if report.get("listeners") else None)


def render_listener_section(report: Mapping[str, Any], console: Console) -> None:
    """The listener table under the connections (when the report has ``listeners``)."""
    if report.get("listeners"):
        from .listeners import render_listeners_terminal

        render_listeners_terminal(report["listeners"], console)


def terminal_console(out: TextIO) -> Console:
    """A console on ``out``: colours on a terminal (unless ``NO_COLOR``), plain text 160
    columns wide elsewhere."""
    term = Console(file=out, no_color=bool(os.environ.get("NO_COLOR")), highlight=False)
    if not term.is_terminal:
        term = Console(file=out, no_color=True, highlight=False, width=160)
    return term
