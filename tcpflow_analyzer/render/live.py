"""The live view of ``sniff`` on a terminal (rich ``Live``), and event records for NDJSON.

The view is a status line and a table of the busiest active connections, redrawn on a
timer a few times a second; above it scrolls a log of what happened (handshakes, resets,
TIME-WAIT, anomalies, finished connections).  Nothing here runs per packet: events are
queued cheaply as they are drained from the engine, and all formatting happens on the
timer, with a cap on the lines printed per redraw so a flood of connections cannot stall
the capture loop.  Renderers never touch the tracker: ``sniff`` hands over plain rows.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field, fields
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..events import (
    AnomalySeen,
    ConnectionOpened,
    HandshakeCompleted,
    ResetSeen,
    StateChanged,
    TimeWaitEntered,
)
from ..report import FlowReport
from .timefmt import clock_text

_EVENT_NAMES: dict[type, str] = {
    ConnectionOpened: "connection_opened",
    StateChanged: "state_changed",
    HandshakeCompleted: "handshake_completed",
    TimeWaitEntered: "time_wait_entered",
    ResetSeen: "reset_seen",
    AnomalySeen: "anomaly_seen",
}
_FIELDS: dict[type, tuple[str, ...]] = {
    cls: tuple(f.name for f in fields(cls)) for cls in _EVENT_NAMES
}
_LOGGED = (HandshakeCompleted, ResetSeen, TimeWaitEntered, AnomalySeen)
_OUTCOME_STYLE = {
    "closed": "green",
    "reset": "red",
    "refused": "red",
    "no_synack": "yellow",
    "handshake_incomplete": "yellow",
    "open": "cyan",
}


def event_record(event: Any) -> dict[str, Any]:
    """A tracker event as plain data: ``{"event": "handshake_completed", "conn_id": ..}``
    (times rounded to the microsecond, as in reports)."""
    cls = type(event)
    rec: dict[str, Any] = {"event": _EVENT_NAMES.get(cls, cls.__name__)}
    for name in _FIELDS.get(cls, ()):
        value = getattr(event, name)
        if isinstance(value, float):
            value = round(value, 6)
        rec[name] = value
    return rec


@dataclass
class LiveStatus:
    """What the status line shows; filled by ``sniff`` on every redraw."""

    source: str = ""
    frames: int = 0
    tcp_segments: int = 0
    active: int = 0
    finished: int = 0
    kernel_received: int = 0
    kernel_dropped: int = 0
    elapsed_s: float = 0.0
    rate: float = 0.0
    rows: list[dict[str, Any]] = field(default_factory=list)


def _clock(ts: float) -> str:
    return clock_text(ts)


def _duration(s: float | None) -> str:
    if s is None:
        return "-"
    if s >= 1:
        return f"{s:.2f} s"
    return f"{s * 1000:.2f} ms" if s >= 0.001 else f"{s * 1e6:.0f} µs"


def _amount(n: int) -> str:
    value = float(n)
    if value < 1000:
        return str(n)
    unit = ""
    for unit in ("k", "M", "G"):  # noqa: B007 - the unit reached is the one printed
        value /= 1000
        if value < 1000:
            break
    return f"{value:.1f}{unit}"


class LiveView:
    """The terminal view; see the module docstring.

    ``event()`` and ``flow_finished()`` only queue; ``refresh()`` (on the timer) prints the
    queued log lines above the live region and redraws the region.
    """

    def __init__(
        self, console: Console | None = None, *, max_rows: int = 15, max_lines: int = 40
    ) -> None:
        self.console = console or Console(
            no_color=bool(os.environ.get("NO_COLOR")), highlight=False
        )
        self.max_rows = max_rows
        self.max_lines = max_lines
        self.pending: deque[Any] = deque(maxlen=10_000)
        self.lost = 0  # log lines that did not fit the queue
        self.names: dict[int, str] = {}
        self.live: Live | None = None

    def start(self) -> None:
        """Show the (empty) live region."""
        self.live = Live(
            Text("starting…"),
            console=self.console,
            auto_refresh=False,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self.live.start()

    def stop(self) -> None:
        """Print what is still queued and remove the live region."""
        if self.live is not None:
            self._print_log()
            self.live.stop()
            self.live = None

    def event(self, event: Any) -> None:
        """Queue one tracker event (cheap; called for every event)."""
        if isinstance(event, ConnectionOpened):
            self.names[event.conn_id] = f"{event.orig} → {event.resp}"
        elif isinstance(event, _LOGGED):
            self._queue(event)

    def flow_finished(self, flow: FlowReport) -> None:
        """Queue a line for a connection that ended."""
        self._queue(flow)

    def _queue(self, item: Any) -> None:
        if len(self.pending) == self.pending.maxlen:
            self.lost += 1
        self.pending.append(item)

    def refresh(self, status: LiveStatus) -> None:
        """Print queued log lines and redraw the status and the active connections."""
        if self.live is None:
            return
        self._print_log()
        self.live.update(self._region(status), refresh=True)

    # -- formatting (only on the timer) -----------------------------------------------------
    def _print_log(self) -> None:
        if not self.pending:
            return
        lines: list[Text] = []
        while self.pending and len(lines) < self.max_lines:
            lines.append(self._line(self.pending.popleft()))
        skipped = len(self.pending) + self.lost
        self.pending.clear()
        self.lost = 0
        if skipped:
            lines.append(
                Text(f"… {skipped} more events not shown (see the final report)", style="dim")
            )
        assert self.live is not None
        self.live.console.print(Text("\n").join(lines), soft_wrap=True)

    def _who(self, conn_id: int) -> Text:
        t = Text()
        t.append(f"#{conn_id}", style="bold")
        name = self.names.get(conn_id)
        if name:
            t.append(f" {name}")
        return t

    def _line(self, item: Any) -> Text:
        if isinstance(item, dict):  # a finished connection report
            self.names.pop(item["id"], None)
            close = item["close"]["pattern"].replace("_", "-")
            line = Text(_clock(item["end_ts"]) + "  ", style="dim")
            line.append_text(Text(f"#{item['id']}", style="bold"))
            line.append(f" {_endpoint(item['orig'])} → {_endpoint(item['resp'])}  ended: ")
            line.append(
                item["outcome"].replace("_", " "), style=_OUTCOME_STYLE.get(item["outcome"], "")
            )
            if close != "none":
                line.append(f" ({close})")
            line.append(f"  {item['zeek']['conn_state']}", style="dim")
            return line
        line = Text(_clock(item.ts) + "  ", style="dim")
        line.append_text(self._who(item.conn_id))
        line.append("  ")
        if isinstance(item, HandshakeCompleted):
            line.append("handshake done", style="green")
            line.append(f" (rtt {_duration(item.rtt_s)})")
        elif isinstance(item, ResetSeen):
            line.append(f"RST by {item.by}", style="red")
            line.append(f" ({item.situation.replace('_', ' ')}, {item.validity.replace('_', ' ')})")
        elif isinstance(item, TimeWaitEntered):
            line.append(f"TIME-WAIT entered by {item.endpoint}", style="cyan")
        elif isinstance(item, AnomalySeen):
            line.append(f"anomaly {item.name}", style="yellow")
            line.append(f" from {item.endpoint}" + (f": {item.detail}" if item.detail else ""))
        line.append(f"  [frame {item.frame}]", style="dim")
        return line

    def _region(self, st: LiveStatus) -> Group:
        head = Text()
        head.append("● ", style="red")
        head.append(st.source, style="bold")
        head.append(f"  {int(st.elapsed_s) // 60:02d}:{int(st.elapsed_s) % 60:02d}")
        head.append(f"  {st.frames:,} frames ({st.rate:,.0f}/s), {st.tcp_segments:,} TCP")
        head.append(f"  {st.active:,} open (incl. lingering), {st.finished:,} ended")
        head.append("  kernel drops: ")
        head.append(f"{st.kernel_dropped:,}", style="red bold" if st.kernel_dropped else "")
        table = Table(header_style="bold", expand=False, box=None, padding=(0, 1))
        for col, justify in (
            ("#", "right"),
            ("orig", "left"),
            ("resp", "left"),
            ("orig state", "left"),
            ("resp state", "left"),
            ("pkts", "right"),
            ("bytes", "right"),
            ("age", "right"),
        ):
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        for r in st.rows[: self.max_rows]:
            table.add_row(
                str(r["id"]),
                r["orig"],
                r["resp"],
                r["orig_state"],
                r["resp_state"],
                f"{r['pkts']:,}",
                _amount(r["bytes"]),
                f"{r['age_s']:.1f} s",
            )
        parts: list[Any] = [head]
        if st.rows:
            parts.append(table)
            if st.active > len(st.rows[: self.max_rows]):
                parts.append(
                    Text(f"… {st.active - self.max_rows:,} more active connections", style="dim")
                )
        else:
            parts.append(Text("no active connections", style="dim"))
        return Group(*parts)


def _endpoint(e: dict[str, Any]) -> str:
    ip = e["ip"]
    return f"[{ip}]:{e['port']}" if ":" in ip else f"{ip}:{e['port']}"
