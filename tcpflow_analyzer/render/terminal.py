"""The rich terminal view: a summary (counts by outcome and close pattern) and a table of
connections.  The only module besides ``cli.py`` that uses rich."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

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


def render_terminal(report: dict[str, Any], console: Console, limit: int = 200) -> None:
    """Print the summary and the connection table."""
    summary = report["summary"]
    cap = report["capture"]
    flows: list[FlowReport] = report["connections"]
    head = Text()
    head.append(f"{summary['connections']} TCP connections", style="bold")
    head.append(f" in {cap['tcp_segments']} TCP segments of {cap['frames']} frames")
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
    if not flows:
        return
    table = Table(show_lines=False, header_style="bold", expand=False)
    for col, kw in (("#", {"justify": "right"}), ("orig", {}), ("resp", {}),
                    ("outcome", {}), ("open", {}), ("close", {}), ("TIME-WAIT", {}),
                    ("rtt", {"justify": "right"}), ("pkts", {"justify": "right"}),
                    ("frames", {}), ("zeek", {})):
        table.add_column(col, **kw)  # type: ignore[arg-type]
    for f in flows[:limit]:
        tw = ", ".join(f"{t['endpoint']}@{t['frame']}" for t in f["time_wait"]) or "-"
        table.add_row(
            str(f["id"]), _endpoint(f["orig"]), _endpoint(f["resp"]),
            Text(f["outcome"].replace("_", " "), style=_OUTCOME_STYLE.get(f["outcome"], "")),
            f["handshake"]["status"].replace("_", " "), _closing(f), tw, _rtt(f),
            f"{f['packets']['orig']}/{f['packets']['resp']}",
            f"{f['first_frame']}-{f['last_frame']}",
            f"{f['zeek']['conn_state']} {f['zeek']['history'] or '-'}",
        )
    console.print(table)
    if len(flows) > limit:
        console.print(f"… {len(flows) - limit} more (use --format json, or narrow with "
                      "--host/--port/--outcome)")
    render_listener_section(report, console)
    for w in cap["warnings"]:
        console.print(Text(f"warning: {w}", style="yellow"))


def render_listener_section(report: dict[str, Any], console: Console) -> None:
    """The listener table under the connections (when the report has ``listeners``)."""
    if report.get("listeners"):
        from .listeners import render_listeners_terminal

        render_listeners_terminal(report["listeners"], console)
