"""The analysis pipeline: frames -> segments -> flow table -> tracker -> flow reports.

``analyze_captures`` is what ``analyze`` runs; ``Analyzer`` is the streaming engine that
``sniff`` feeds frame by frame.  Neither touches a terminal: progress and results go through
callbacks, so the CLI decides what to print.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import _ingest
from ._records import segments
from .decode import MAX_SKIP_REASONS, SKIP_OTHER, Decoder, count_capped, linktype_name
from .flowtable import FlowTable
from .report import FlowReport, build_flow_report, summarize
from .segment import Segment, format_ip
from .sources.pcapfile import Frame, open_capture
from .tracker import Connection, TrackerConfig

MAX_OFFLOAD_WARNINGS = 5  # hosts named in a checksum-offload warning; the rest are counted
MAX_HOSTS = 1 << 16  # source addresses remembered for the checksum rule (~6 MiB at most)


@dataclass
class CaptureStats:
    """Totals over everything read: frames, TCP segments, skipped frames by reason, warnings."""

    files: list[str] = field(default_factory=list)
    frames: int = 0
    tcp_segments: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    bad_checksums: int = 0
    payload_truncated: int = 0
    warnings: list[str] = field(default_factory=list)
    max_active_connections: int = 0
    #: decoder counters shown only when non-zero (``options_not_captured``, ...)
    decoded: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data view (the JSON ``capture`` header)."""
        return {
            "files": self.files,
            "frames": self.frames,
            "tcp_segments": self.tcp_segments,
            "skipped": dict(sorted(self.skipped.items())),
            "bad_checksums": self.bad_checksums,
            "payload_truncated": self.payload_truncated,
            "max_active_connections": self.max_active_connections,
            **{k: v for k, v in sorted(self.decoded.items()) if v},
            "warnings": self.warnings,
        }


class Analyzer:
    """Streaming engine: feed frames, get finished connections through ``on_flow``.

    ``events`` (optional list) receives tracker events as they happen (for live views).
    """

    def __init__(
        self, config: TrackerConfig, on_flow: Callable[[FlowReport], None],
        events: list[Any] | None = None, file: str | None = None,
        on_record: Callable[[Connection, str | None], None] | None = None,
    ) -> None:
        self.config = config
        self.stats = CaptureStats()
        self.decoder = Decoder(verify_checksums=config.checksums != "off")
        self.on_flow = on_flow
        # on_record(conn, file), when given, takes each finished connection instead of
        # on_flow(report): for a writer that reads the record itself (ndjson.Lines)
        self.on_record = on_record
        self.file = file
        self.table = FlowTable(
            config, self._finished if on_record is None else self._finished_record, events)
        self._host_good: dict[bytes, int] = {}  # capped at MAX_HOSTS
        self._offload_hosts: set[bytes] = set()  # capped at MAX_HOSTS
        self._offload_full = False  # more hosts than MAX_HOSTS looked like offload
        self._clock_back = 0  # segments earlier than their connection's previous one
        self._clock_back_max = 0.0

    def _finished(self, conn: Connection) -> None:
        self.on_flow(build_flow_report(conn, self.file))

    def _finished_record(self, conn: Connection) -> None:
        self.on_record(conn, self.file)  # type: ignore[misc]

    def feed(
        self, frames: Iterable[Frame],
        on_segment: Callable[[Connection, Segment, bool, bool], None] | None = None,
    ) -> None:
        """Run frames through decoder, flow table and tracker (the hot loop).

        ``on_segment(conn, seg, from_a, processed)``, when given, is called after every TCP
        segment (``processed`` is False for one dropped for its checksum): for views that
        need every segment, such as ``show``.
        """
        _ingest.feed(self, frames, on_segment, MAX_HOSTS)  # the loop, typed (_ingest.py)

    def _clock_went_back(self, conn: Connection, seg: Segment, from_a: bool) -> None:
        """The capture clock stepped back within a connection: each connection keeps a
        monotonic clock, so ``seg`` is taken to arrive at that connection's last time (no
        duration, RTT, gap or rate can be negative), and the step is counted."""
        back = conn.last_ts - seg.ts
        conn.anomaly("clock_went_back", seg, conn.a if from_a else conn.b,
                     f"captured at ts {seg.ts:.6f}, {back:.6f} s before the previous segment: "
                     "taken as that segment's time")
        seg.ts = conn.last_ts
        self._clock_back += 1
        if back > self._clock_back_max:
            self._clock_back_max = back

    def _note_offload(self, src: bytes) -> None:
        self.stats.bad_checksums += 1
        hosts = self._offload_hosts
        if src in hosts:
            return
        if len(hosts) >= MAX_HOSTS:
            self._offload_full = True
            return
        hosts.add(src)
        if len(hosts) <= MAX_OFFLOAD_WARNINGS:
            self.stats.warnings.append(
                f"every TCP checksum from {format_ip(src)} seen so far is wrong: assuming "
                "checksum offload on the capturing host and analysing those segments anyway "
                "(use --checksums strict to drop them)"
            )

    def finish(self) -> CaptureStats:
        """Flush every active connection and return the totals."""
        self.table.flush()
        st = self.stats
        for k, v in self.decoder.skipped.items():
            count_capped(st.skipped, k, v)
        self.decoder.skipped.clear()
        if SKIP_OTHER in st.skipped:
            st.warnings.append(_folded_reasons(st.skipped[SKIP_OTHER]))
        folded_hosts = len(self._offload_hosts) - MAX_OFFLOAD_WARNINGS
        if folded_hosts > 0:
            st.warnings.append(
                f"checksum offload assumed for {'more than ' if self._offload_full else ''}"
                f"{folded_hosts} more source addresses, not listed one by one"
            )
        st.payload_truncated += self.decoder.payload_truncated
        self.decoder.payload_truncated = 0
        for k, v in self.decoder.take_counts().items():
            st.decoded[k] = st.decoded.get(k, 0) + v
        if st.decoded.get("options_not_captured"):
            st.warnings.append(
                f"the snaplen cut the TCP options of {st.decoded['options_not_captured']} "
                "segments (a header-only capture): connections are tracked from the fixed "
                "20-byte headers; their MSS, window scale, timestamps and SACK are unknown")
        if st.decoded.get("ip_length_beyond_frame"):
            st.warnings.append(
                f"{st.decoded['ip_length_beyond_frame']} IP headers claimed more bytes than "
                "their frame carried, in frames no snaplen cut: their lengths are damaged, "
                "the payload was clamped to the frame")
        lost = {k: st.decoded.get("ip_fragments_" + k, 0)
                for k in ("timed_out", "incomplete", "overlapping", "over_limit")}
        if any(lost.values()):
            st.warnings.append(
                "IP fragments not reassembled: " + ", ".join(
                    f"{v} {k.replace('_', ' ')}" for k, v in lost.items() if v)
                + " (datagrams; over limit: fragments)")
        if self.decoder.unsupported_linktypes:
            names = ", ".join(
                f"{linktype_name(lt) if lt >= 0 else 'other link types'}: {n} frames"
                for lt, n in sorted(self.decoder.unsupported_linktypes.items(),
                                    key=lambda item: (item[0] < 0, item[0]))
            )
            st.warnings.append(f"skipped frames of unsupported link types ({names})")
            self.decoder.unsupported_linktypes.clear()
        st.max_active_connections = max(st.max_active_connections, self.table.max_active,
                                        self.table.peak_active)
        st.warnings.extend(self.table.vlan_warnings())
        st.warnings.extend(self.table.folded_warnings())
        if self.table.late_segments:
            ids = self.table.late_conns
            named = ", ".join(f"#{i}" for i in ids[:10]) + (
                f" and {len(ids) - 10}{'+' if len(ids) >= 1024 else ''} more"
                if len(ids) > 10 else "")
            st.warnings.append(
                f"{self.table.late_segments} segments arrived after their connection was "
                f"reported, within 2MSL of its close ({named}): FINs re-sent more than "
                f"{self.config.close_linger_s:g} s late by an end still in LAST-ACK, and their "
                "ACKs; counted as theirs, not analysed, no new connection")
        if self._clock_back:
            st.warnings.append(
                f"the capture clock went back on {self._clock_back} segments (by up to "
                f"{self._clock_back_max:.6f} s): each was taken as arriving at its "
                "connection's previous segment's time (clock_went_back), so durations, RTTs "
                "and rates are never negative")
            self._clock_back = 0
            self._clock_back_max = 0.0
        if self.table.evicted:
            st.warnings.append(
                f"more than {self.config.max_active} connections were active at once: "
                f"{self.table.evicted} of the least recently active were reported before "
                "they ended, marked cut_short_by_cap (their outcome may read open)"
                + (f"; {self.table.cut_segments} later segments of theirs were counted, "
                   "not analysed" if self.table.cut_segments else "")
                + (f"; {self.table.cut.folded} of them were forgotten, the record of "
                   "evicted connections being full: their later segments may read as new "
                   "connections" if self.table.cut.folded else "")
            )
        return st


def analyze_captures(
    paths: list[str], config: TrackerConfig, on_flow: Callable[[FlowReport], None],
    progress: Callable[[int, int | None], None] | None = None,
    sink: Any = None,
    on_segment: Callable[[Connection, Segment, bool, bool], None] | None = None,
    *,
    ids_per_capture: bool = False,
    on_record: Callable[[Connection, str | None], None] | None = None,
) -> CaptureStats:
    """Analyze captures one after another; each file is its own capture (frame numbers and
    connections never span files), connection ids are unique across all of them, or, with
    ``ids_per_capture``, numbered from 1 in each capture as ``show CAPTURE --conn N`` does
    (for output grouped by capture, where the capture and its id name a connection).

    ``sink``, when given, receives the tracker's events in time order (its ``append``) and,
    before each file is read, that file's flow table (its ``bind(table, path)``), as
    :class:`~tcpflow_analyzer.listeners.ListenerView` needs.  ``on_segment`` is passed to
    :meth:`Analyzer.feed` (the report records segments through it).  ``on_record(conn,
    file)``, when given, takes each finished connection record instead of ``on_flow``
    (``file`` is the capture's path when there are several, else None).

    Raises :class:`~tcpflow_analyzer.errors.TcpflowError` for a capture that cannot be
    opened (all are opened before any is read); damage inside a capture is a warning.
    """
    readers = [open_capture(p) for p in paths]
    multi = len(paths) > 1
    total = CaptureStats()
    next_id = 1
    other_in_files = 0  # frames the files' own tables folded (each said so)
    for path, reader in zip(paths, readers, strict=True):
        analyzer = Analyzer(config, on_flow, events=sink, file=path if multi else None,
                            on_record=on_record)
        if not ids_per_capture:
            analyzer.table.next_id = next_id
        if sink is not None:
            sink.bind(analyzer.table, path)
        analyzer.stats.files.append(reader.name)
        frames: Iterable[Frame] = reader
        if progress is not None:
            frames = _WithProgress(reader, progress)
        try:
            analyzer.feed(frames, on_segment)
        finally:
            reader.close()
        analyzer.stats.warnings.extend(reader.warnings)
        st = analyzer.finish()
        next_id = analyzer.table.next_id
        total.files.extend(st.files)
        total.frames += st.frames
        total.tcp_segments += st.tcp_segments
        other_in_files += st.skipped.get(SKIP_OTHER, 0)
        for k, v in st.skipped.items():
            count_capped(total.skipped, k, v)
        total.bad_checksums += st.bad_checksums
        total.payload_truncated += st.payload_truncated
        for k, v in st.decoded.items():
            total.decoded[k] = total.decoded.get(k, 0) + v
        total.warnings.extend(st.warnings)
        total.max_active_connections = max(total.max_active_connections,
                                           st.max_active_connections)
    if total.skipped.get(SKIP_OTHER, 0) > other_in_files:
        total.warnings.append(_folded_reasons(total.skipped[SKIP_OTHER] - other_in_files))
    return total


def _folded_reasons(frames: int) -> str:
    return (f"frames were skipped for more than {MAX_SKIP_REASONS} distinct reasons: "
            f"{frames} frames of the further ones are counted as '{SKIP_OTHER}'")


class _WithProgress:
    """A reader's frames, calling ``progress`` every 16,384 of them and at the end; through
    :func:`~tcpflow_analyzer._records.segments` (its ``segments`` method), the segments the
    reader's cutter decodes in place, ticking alike."""

    def __init__(self, reader: Any, progress: Callable[[int, int | None], None]) -> None:
        self.reader = reader
        self.progress = progress

    def __iter__(self) -> Iterator[Frame]:
        reader, progress = self.reader, self.progress
        for step, fr in enumerate(reader, 1):
            if step & 0x3FFF == 0:
                progress(reader.progress() if reader.size else fr[0], reader.size)
            yield fr
        progress(reader.size or reader.frames, reader.size)

    def segments(self, decoder: Decoder) -> Iterator[Segment | None]:
        reader, progress = self.reader, self.progress
        for step, seg in enumerate(segments(reader, decoder), 1):
            if step & 0x3FFF == 0:
                progress(reader.progress() if reader.size else reader.frames, reader.size)
            yield seg
        progress(reader.size or reader.frames, reader.size)


def analyze_to_report(paths: list[str], config: TrackerConfig) -> dict[str, Any]:
    """Convenience for tests and small captures: the whole report as one dict."""
    flows: list[FlowReport] = []
    stats = analyze_captures(paths, config, flows.append)
    flows.sort(key=lambda f: f["id"])
    return {"capture": stats.to_dict(), "summary": summarize(flows), "connections": flows}


def count_ingest(path: str) -> tuple[int, int]:
    """Benchmark helper: decode every frame and look up its flow; (frames, segments)."""
    from ._ingest import count_frames  # the loop, typed (compiled: C locals, C fields)

    reader = open_capture(path)
    try:
        return count_frames(reader, Decoder())
    finally:
        reader.close()
