"""The analysis pipeline: frames -> segments -> flow table -> tracker -> flow reports.

``analyze_captures`` is what ``analyze`` runs; ``Analyzer`` is the streaming engine that
``sniff`` feeds frame by frame.  Neither touches a terminal: progress and results go through
callbacks, so the CLI decides what to print.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .decode import Decoder, linktype_name
from .flowtable import FlowTable
from .report import FlowReport, build_flow_report, summarize
from .segment import Segment, format_ip
from .sources.pcapfile import Frame, open_capture
from .tracker import Connection, TrackerConfig


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
            "warnings": self.warnings,
        }


class Analyzer:
    """Streaming engine: feed frames, get finished connections through ``on_flow``.

    ``events`` (optional list) receives tracker events as they happen (for live views).
    """

    def __init__(
        self, config: TrackerConfig, on_flow: Callable[[FlowReport], None],
        events: list[Any] | None = None, file: str | None = None,
    ) -> None:
        self.config = config
        self.stats = CaptureStats()
        self.decoder = Decoder(verify_checksums=config.checksums != "off")
        self.on_flow = on_flow
        self.file = file
        self.table = FlowTable(config, self._finished, events)
        self._host_good: dict[bytes, int] = {}
        self._offload_warned: set[bytes] = set()

    def _finished(self, conn: Connection) -> None:
        self.on_flow(build_flow_report(conn, self.file))

    def feed(
        self, frames: Iterable[Frame],
        on_segment: Callable[[Connection, Segment, bool, bool], None] | None = None,
    ) -> None:
        """Run frames through decoder, flow table and tracker (the hot loop).

        ``on_segment(conn, seg, from_a, processed)``, when given, is called after every TCP
        segment (``processed`` is False for one dropped for its checksum): for views that
        need every segment, such as ``show``.
        """
        decode = self.decoder.decode
        lookup = self.table.lookup
        strict = self.config.checksums == "strict"
        host_good = self._host_good
        decoder = self.decoder
        cut = decoder.payload_truncated  # the decoder counts payloads the snap length cut
        n = 0
        segs = 0
        for frame, ts, linktype, data in frames:
            n += 1
            seg = decode(frame, ts, linktype, data)
            if seg is None:
                continue
            segs += 1
            conn, from_a = lookup(seg)
            ok = seg.csum_ok
            if ok is False:
                if strict or host_good.get(seg.src, 0):
                    self.stats.bad_checksums += 1
                    conn.bad_checksum(seg, from_a)
                    if on_segment is not None:
                        on_segment(conn, seg, from_a, False)
                    continue
                self._note_offload(seg.src)
            elif ok:
                if seg.src not in host_good:
                    host_good[seg.src] = 1
            elif decoder.payload_truncated != cut:
                cut = decoder.payload_truncated
                conn.payload_uncaptured(seg, from_a)
            elif strict:  # whole, but the checksum is only the pseudo-header sum (offload)
                conn.zeek_checksum_drop(seg, from_a)
                if on_segment is not None:
                    on_segment(conn, seg, from_a, True)
                continue
            conn.process(seg, from_a)
            if on_segment is not None:
                on_segment(conn, seg, from_a, True)
        self.stats.frames += n
        self.stats.tcp_segments += segs

    def _note_offload(self, src: bytes) -> None:
        self.stats.bad_checksums += 1
        if src not in self._offload_warned:
            self._offload_warned.add(src)
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
            st.skipped[k] = st.skipped.get(k, 0) + v
        self.decoder.skipped.clear()
        st.payload_truncated += self.decoder.payload_truncated
        self.decoder.payload_truncated = 0
        if self.decoder.unsupported_linktypes:
            names = ", ".join(
                f"{linktype_name(lt)}: {n} frames"
                for lt, n in sorted(self.decoder.unsupported_linktypes.items())
            )
            st.warnings.append(f"skipped frames of unsupported link types ({names})")
            self.decoder.unsupported_linktypes.clear()
        st.max_active_connections = max(st.max_active_connections, self.table.max_active,
                                        self.table.peak_active)
        if self.table.evicted:
            st.warnings.append(
                f"more than {self.config.max_active} connections were active at once: "
                f"{self.table.evicted} of the least recently active were reported before "
                "they ended (their outcome may read open)"
            )
        return st


def analyze_captures(
    paths: list[str], config: TrackerConfig, on_flow: Callable[[FlowReport], None],
    progress: Callable[[int, int | None], None] | None = None,
) -> CaptureStats:
    """Analyze captures one after another; each file is its own capture (frame numbers and
    connections never span files), connection ids are unique across all of them.

    Raises :class:`~tcpflow_analyzer.errors.TcpflowError` for a capture that cannot be
    opened (all are opened before any is read); damage inside a capture is a warning.
    """
    readers = [open_capture(p) for p in paths]
    multi = len(paths) > 1
    total = CaptureStats()
    next_id = 1
    for path, reader in zip(paths, readers, strict=True):
        analyzer = Analyzer(config, on_flow, file=path if multi else None)
        analyzer.table.next_id = next_id
        analyzer.stats.files.append(reader.name)
        frames: Iterable[Frame] = reader
        if progress is not None:
            frames = _with_progress(reader, progress)
        try:
            analyzer.feed(frames)
        finally:
            reader.close()
        analyzer.stats.warnings.extend(reader.warnings)
        st = analyzer.finish()
        next_id = analyzer.table.next_id
        total.files.extend(st.files)
        total.frames += st.frames
        total.tcp_segments += st.tcp_segments
        for k, v in st.skipped.items():
            total.skipped[k] = total.skipped.get(k, 0) + v
        total.bad_checksums += st.bad_checksums
        total.payload_truncated += st.payload_truncated
        total.warnings.extend(st.warnings)
        total.max_active_connections = max(total.max_active_connections,
                                           st.max_active_connections)
    return total


def _with_progress(reader: Any, progress: Callable[[int, int | None], None]) -> Iterable[Frame]:
    for step, fr in enumerate(reader, 1):
        if step & 0x3FFF == 0:
            progress(reader.progress() if reader.size else fr[0], reader.size)
        yield fr
    progress(reader.size or reader.frames, reader.size)


def analyze_to_report(paths: list[str], config: TrackerConfig) -> dict[str, Any]:
    """Convenience for tests and small captures: the whole report as one dict."""
    flows: list[FlowReport] = []
    stats = analyze_captures(paths, config, flows.append)
    flows.sort(key=lambda f: f["id"])
    return {"capture": stats.to_dict(), "summary": summarize(flows), "connections": flows}


def count_ingest(path: str) -> tuple[int, int]:
    """Benchmark helper: decode every frame and look up its flow; (frames, segments)."""
    reader = open_capture(path)
    decoder = Decoder()
    index: dict[tuple[Any, ...], int] = {}
    decode = decoder.decode
    n = segs = 0
    for frame, ts, linktype, data in reader:
        n += 1
        seg = decode(frame, ts, linktype, data)
        if seg is None:
            continue
        segs += 1
        key = (seg.src, seg.sport, seg.dst, seg.dport, seg.vlan)
        if key not in index:
            index[key] = segs
            index[(seg.dst, seg.dport, seg.src, seg.sport, seg.vlan)] = segs
    return n, segs
