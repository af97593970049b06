"""``sniff``: capture live traffic and feed it to the same engine as ``analyze``.

Frames come from :mod:`.sources.live` (imported only here, only when the command runs) and
go through the very same :class:`~tcpflow_analyzer.pipeline.Analyzer`; the final report is
built and rendered exactly as ``analyze`` builds and renders it, so ``analyze`` of the ``-w``
file reproduces it.  While capturing, events go to a rich live view when stdout is a
terminal, or out as NDJSON ``event`` records when it is not.

Where things go:

* stdout is a terminal: live view, then the final report (``--format``, default terminal).
* ``--format ndjson`` to stdout (the default when stdout is not a terminal): one stream of
  ``event`` records, ``connection`` records as connections end, and the ``summary`` line.
* another ``--format`` to stdout that is not a terminal: only the final report (so the
  output is a valid document); with ``-o FILE`` the report goes to the file and the events
  still stream to stdout.

The run ends at ``--count`` frames, after ``--duration`` seconds, or at SIGINT/SIGTERM, and
exits 0 with the report; a second signal gives up at once (exit 130, or 143 for SIGTERM).
"""

from __future__ import annotations

import contextlib
import heapq
import math
import signal
import sys
import time
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from .clikit import (
    PROG,
    AnomalyOpt,
    ChecksumOpt,
    CloseOpt,
    DebugOpt,
    HostOpt,
    OutcomeOpt,
    OutputOpt,
    PortOpt,
    Semantics,
    SemanticsOpt,
    Terminated,
    TimeWaitOpt,
    VlanMode,
    VlanOpt,
    build_filter,
    count_value,
    duration_value,
    emit_report,
    err_console,
    make_config,
    output_stream,
    output_value,
    run_guarded,
)
from .errors import TcpflowError
from .pipeline import Analyzer, CaptureStats
from .render import OutputFormat
from .report import FlowFilter, FlowReport, summarize
from .tracker import TrackerConfig

if TYPE_CHECKING:
    from .render.jsonout import NdjsonWriter
    from .render.live import LiveView
    from .sources.live import LiveCapture

TICK_S = 0.25  # display, statistics and pcap flush timer

InterfaceOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--interface",
        "-i",
        help="Interface to capture on (repeatable), or `any` for all of them.",
        show_default=False,
    ),
]
FilterOpt = Annotated[
    str,
    typer.Option(
        "--filter", "-f", help="BPF capture filter in libpcap syntax, compiled into the kernel."
    ),
]
CountOpt = Annotated[
    int | None,
    typer.Option("--count", "-c", metavar="N", parser=count_value(1),
                 help="Stop after this many frames.", show_default=False),
]
DurationOpt = Annotated[
    float | None,
    typer.Option("--duration", metavar="SECONDS", parser=duration_value(positive=True),
                 help="Stop after this many seconds.", show_default=False),
]
WriteOpt = Annotated[
    str | None,
    typer.Option(
        "--write",
        "-w",
        metavar="FILE",
        parser=output_value,
        help="Also write the captured frames to this pcap file (nanosecond "
        "timestamps; `analyze FILE` reproduces the report).",
        show_default=False,
    ),
]
SniffFormatOpt = Annotated[
    OutputFormat | None,
    typer.Option(
        "--format",
        envvar="TCPFLOW_FORMAT",
        case_sensitive=False,
        show_default=False,
        help="Final report format: terminal, json, ndjson, csv, zeek. Default: terminal on a "
        "terminal, else ndjson (events as they happen, then connections and the summary). "
        "No short flag here: -f is the capture filter.",
    ),
]
ListOpt = Annotated[
    bool,
    typer.Option(
        "--list-interfaces", "-L", help="List the interfaces that can be captured on, and exit."
    ),
]
NoPromiscOpt = Annotated[
    bool,
    typer.Option(
        "--no-promiscuous-mode", "-p", help="Do not put the interfaces into promiscuous mode."
    ),
]
BufferOpt = Annotated[
    int,
    typer.Option(
        "--buffer-size",
        "-B",
        metavar="MIB",
        parser=count_value(1, 4096),
        help="Kernel capture buffer in MiB (the ring the kernel fills while we analyse).",
    ),
]
NoRingOpt = Annotated[
    bool,
    typer.Option(
        "--no-ring",
        help="Read packets one recvmsg() at a time instead of from the kernel's "
        "memory-mapped ring (slower; for kernels without TPACKET_V3).",
    ),
]


def register(app: typer.Typer) -> None:
    """Add the ``sniff`` command to the CLI (called by ``cli._register_plugins``)."""
    app.command("sniff")(sniff)


def sniff(
    interface: InterfaceOpt = None,
    bpf: FilterOpt = "tcp",
    count: CountOpt = None,
    duration: DurationOpt = None,
    write: WriteOpt = None,
    fmt: SniffFormatOpt = None,
    output: OutputOpt = None,
    list_interfaces: ListOpt = False,
    host: HostOpt = None,
    port: PortOpt = None,
    outcome: OutcomeOpt = None,
    close: CloseOpt = None,
    anomaly: AnomalyOpt = None,
    checksums: ChecksumOpt = "auto",
    time_wait: TimeWaitOpt = 60.0,
    semantics: SemanticsOpt = Semantics.DEFAULT,
    vlan: VlanOpt = VlanMode.AUTO,
    no_promisc: NoPromiscOpt = False,
    buffer_size: BufferOpt = 64,
    no_ring: NoRingOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Capture live TCP traffic (root or CAP_NET_RAW) and report every connection as
    `analyze` does; stop with Ctrl-C, --count or --duration."""

    def body() -> int:
        if list_interfaces:
            _print_interfaces(sys.stdout)
            return 0
        if duration is not None and duration <= 0:
            raise TcpflowError("--duration must be more than 0 seconds")
        flt = build_filter(host, port, outcome, close, anomaly)
        config = make_config(checksums, time_wait, semantics, vlan)
        from .sources.live import LiveCapture

        capture = LiveCapture(
            interface or [],
            bpf,
            promisc=not no_promisc,
            buffer_bytes=buffer_size << 20,
            use_ring=not no_ring,
        )
        run = SniffRun(capture, config, flt, fmt, output, write, count, duration)
        return run.execute()

    raise typer.Exit(run_guarded(debug, body))


class SniffRun:
    """One ``sniff`` invocation: opens the capture, runs the loop, renders the report."""

    def __init__(
        self,
        capture: LiveCapture,
        config: TrackerConfig,
        flt: FlowFilter,
        fmt: OutputFormat | None,
        output: str | None,
        write: str | None,
        count: int | None,
        duration: float | None,
    ) -> None:
        self.capture = capture
        self.config = config
        self.flt = flt
        self.output = output
        self.write = write
        self.count = count
        self.duration = duration
        self.stdout_tty = sys.stdout.isatty()
        self.fmt = fmt or (OutputFormat.TERMINAL if self.stdout_tty else OutputFormat.NDJSON)
        self.console = err_console()
        self.flows: list[FlowReport] = []
        self.finished = 0
        self.stop_ts: float | None = None  # wall-clock time of the stop signal
        self.view: LiveView | None = None
        self.events_out: NdjsonWriter | None = None
        self.flows_out: NdjsonWriter | None = None
        self.stdout_dirty = False
        self._rate_mark = (0.0, 0)  # (elapsed_s, frames) at the previous redraw

    # -- the whole command -----------------------------------------------------------------
    def execute(self) -> int:
        """Run the capture and print the final report; returns the exit code."""
        cap = self.capture
        cap.open()
        try:
            if self.write is not None:
                from .sources.live import PcapWriter

                cap.writer = PcapWriter(self.write, cap.linktype)
            if self.fmt is OutputFormat.NDJSON:
                with output_stream(self.output) as out:
                    stats = self._capture(out)
                    assert self.flows_out is not None
                    self.flows_out.finish(self._header(stats), summarize(self.flows))
                report = None
            else:
                stats = self._capture(None)
                self.flows.sort(key=lambda f: f["id"])
                report = {
                    "capture": self._header(stats),
                    "summary": summarize(self.flows),
                    "connections": self.flows,
                }
        finally:
            cap.close()
            if cap.writer is not None:
                cap.writer.close()
        self._print_totals()
        if report is not None:
            with output_stream(self.output) as out:
                emit_report(self.fmt, report, out)
        if self.fmt is not OutputFormat.TERMINAL or self.output is not None or not self.flows:
            for w in stats.warnings:
                self.console.print(f"{PROG}: warning: {w}", markup=False)
        return 0

    def _header(self, stats: CaptureStats) -> dict[str, Any]:
        """The ``capture`` section: the engine's totals plus what was captured, and how."""
        cap = self.capture
        header = stats.to_dict()
        header["live"] = {
            "interfaces": cap.info.interfaces,
            "filter": cap.info.filter,
            "linktype": cap.linktype,
            "method": cap.info.method,
            "write": self.write,
            "kernel": {"received": cap.kernel.received, "dropped": cap.kernel.dropped},
        }
        return header

    # -- the capture loop ------------------------------------------------------------------
    def _capture(self, out: TextIO | None) -> CaptureStats:
        """Set up the sinks, run the loop under our signal handlers, finish the engine."""
        from .render.jsonout import NdjsonWriter

        streaming_stdout = self.fmt is OutputFormat.NDJSON and self.output is None
        if out is not None:
            self.flows_out = NdjsonWriter(out)
        if streaming_stdout:
            self.events_out = self.flows_out
        elif self.stdout_tty:
            from .render.live import LiveView

            self.view = LiveView()
        elif self.output is not None:
            self.events_out = NdjsonWriter(sys.stdout)

        events: list[Any] = []
        analyzer = Analyzer(self.config, self._on_flow, events=events)
        previous = self._install_signals()
        try:
            self._announce()
            if self.view is not None:
                self.view.start()
            try:
                self._loop(analyzer, events)
            finally:
                if self.view is not None:
                    self.view.stop()
        finally:
            self._restore_signals(previous)
        stats = analyzer.finish()
        self._drain(events)
        self.capture.update_stats()
        k = self.capture.kernel
        if k.dropped:
            stats.warnings.append(
                f"the kernel dropped {k.dropped} of {k.received} packets because the capture "
                "could not keep up; connections around the gaps may be misjudged (narrow "
                "the filter with -f, or enlarge the buffer with -B)"
            )
        self._flush_stdout()
        return stats

    def _loop(self, analyzer: Analyzer, events: list[Any]) -> None:
        cap = self.capture
        start = time.monotonic()
        wall_start = time.time()
        until = wall_start + self.duration if self.duration is not None else None
        deadline = start + self.duration if self.duration is not None else math.inf
        remaining = self.count
        next_tick = start + TICK_S
        feed = analyzer.feed
        while self.stop_ts is None:
            now = time.monotonic()
            if now >= deadline:
                break
            frames = cap.read(min(next_tick, deadline) - now, remaining, until)
            if frames:
                feed(frames)
                if events:
                    self._drain(events)
                if remaining is not None:
                    remaining -= len(frames)
                    if remaining <= 0:
                        break
            if cap.finished:
                break
            if time.monotonic() >= next_tick:
                self._tick(analyzer, time.monotonic() - start)
                next_tick = time.monotonic() + TICK_S
        else:
            until = self.stop_ts
        if (remaining is None or remaining > 0) and not cap.finished:
            frames = cap.drain(remaining, until)
            if frames:
                feed(frames)
        self._drain(events)
        if self.view is not None:
            self._tick(analyzer, time.monotonic() - start)

    def _on_flow(self, flow: FlowReport) -> None:
        self.finished += 1
        if not self.flt.matches(flow):
            return
        if self.flows_out is not None:
            self.flows_out.flow(flow)
            self.flows.append(_summary_view(flow))
            self.stdout_dirty = True
        else:
            self.flows.append(flow)
        if self.view is not None:
            self.view.flow_finished(flow)

    def _drain(self, events: list[Any]) -> None:
        """Hand the engine's new events to the view or the NDJSON stream."""
        if not events:
            return
        if self.view is not None:
            add = self.view.event
            for ev in events:
                add(ev)
        elif self.events_out is not None:
            from .render.live import event_record

            write = self.events_out.event
            for ev in events:
                write(event_record(ev))
            self.stdout_dirty = True
        events.clear()
        self._flush_stdout()

    def _flush_stdout(self) -> None:
        if self.stdout_dirty:
            sys.stdout.flush()
            self.stdout_dirty = False

    def _tick(self, analyzer: Analyzer, elapsed_s: float) -> None:
        cap = self.capture
        cap.update_stats()
        if cap.writer is not None:
            cap.writer.flush()
        if self.view is None:
            return
        from .render.live import LiveStatus

        table = analyzer.table
        now_ts = time.time()
        then, frames_then = self._rate_mark
        rate = (cap.frames - frames_then) / (elapsed_s - then) if elapsed_s > then else 0.0
        self._rate_mark = (elapsed_s, cap.frames)
        rows = [
            _active_row(c, now_ts)
            for c in heapq.nlargest(
                self.view.max_rows, table.active.values(), key=lambda c: c.last_ts
            )
        ]
        self.view.refresh(
            LiveStatus(
                source=self._source(),
                frames=cap.frames,
                tcp_segments=analyzer.stats.tcp_segments,
                active=len(table.active),
                finished=self.finished,
                kernel_received=cap.kernel.received,
                kernel_dropped=cap.kernel.dropped,
                elapsed_s=elapsed_s,
                rate=rate,
                rows=rows,
            )
        )

    # -- messages --------------------------------------------------------------------------
    def _source(self) -> str:
        from .decode import linktype_name

        info = self.capture.info
        return (
            f"{', '.join(info.interfaces)}, link type {linktype_name(info.linktype)}, "
            f"filter {info.filter!r}"
        )

    def _announce(self) -> None:
        """The tcpdump-style line saying capture has started (tests wait for it)."""
        stop = []
        if self.count is not None:
            stop.append(f"after {self.count} frames")
        if self.duration is not None:
            stop.append(f"after {self.duration:g} s")
        stop.append("on Ctrl-C")
        sys.stderr.write(f"{PROG}: listening on {self._source()}; stopping {' or '.join(stop)}\n")
        sys.stderr.flush()

    def _print_totals(self) -> None:
        cap = self.capture
        k = cap.kernel
        line = f"{PROG}: {cap.frames} frames captured"
        if k.available:
            line += f", {k.received} received by filter, {k.dropped} dropped by kernel"
        if self.write is not None:
            line += f"; written to {self.write}"
        sys.stderr.write(line + "\n")

    # -- signals ---------------------------------------------------------------------------
    def _install_signals(self) -> dict[int, Any]:
        """SIGINT/SIGTERM end the capture cleanly; a second one gives up (exit 130 after
        SIGINT, 143 after SIGTERM)."""

        def handler(signum: int, frame: FrameType | None) -> None:
            if self.stop_ts is not None:
                raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt
            self.stop_ts = time.time()

        previous: dict[int, Any] = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            # Outside the main thread (embedded use) signals cannot be caught: keep defaults.
            with contextlib.suppress(ValueError):
                previous[sig] = signal.signal(sig, handler)
        return previous

    @staticmethod
    def _restore_signals(previous: dict[int, Any]) -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _active_row(conn: Any, now_ts: float) -> dict[str, Any]:
    """Plain data about one active connection for the live table."""
    from .segment import format_endpoint

    o, r = conn.orig, conn.resp
    return {
        "id": conn.id,
        "orig": format_endpoint(o.addr, o.port),
        "resp": format_endpoint(r.addr, r.port),
        "orig_state": o.state.value,
        "resp_state": r.state.value,
        "pkts": o.pkts + r.pkts,
        "bytes": o.bytes + r.bytes,
        "age_s": max(0.0, now_ts - conn.first_ts),
    }


def _summary_view(f: FlowReport) -> FlowReport:
    """The few fields the NDJSON summary needs (keeps memory flat while streaming)."""
    return {
        "id": f["id"],
        "outcome": f["outcome"],
        "close": {"pattern": f["close"]["pattern"]},
        "handshake": {"status": f["handshake"]["status"]},
        "anomalies": f["anomalies"],
        "time_wait": f["time_wait"],
    }


def _print_interfaces(out: TextIO) -> None:
    """``--list-interfaces``: index, name, state, link type of a capture, addresses."""
    from .decode import linktype_name
    from .sources.live import LINKTYPE_LINUX_SLL2, list_interfaces

    rows = [("INDEX", "NAME", "STATE", "LINK TYPE", "ADDRESSES")]
    for i in list_interfaces():
        lt = i.raw_linktype
        rows.append(
            (
                str(i.index),
                i.name,
                "up" if i.is_up else "down",
                linktype_name(lt if lt is not None else LINKTYPE_LINUX_SLL2),
                ", ".join(i.addresses) or "-",
            )
        )
    rows.append(
        ("-", "any", "-", linktype_name(LINKTYPE_LINUX_SLL2), "every interface (cooked capture)")
    )
    widths = [max(len(r[c]) for r in rows) for c in range(4)]
    for r in rows:
        out.write(
            "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=False)) + "  " + r[4] + "\n"
        )
