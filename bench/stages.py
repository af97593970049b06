#!/usr/bin/env python3
"""Where the time of ``analyze --format ndjson`` goes, stage by stage, next to tcptrace.

Runs cumulative variants of the pipeline in this process, each a superset of the one
before, on one capture, and prints for each its wall time (best of ``--repeat``), the
increment it adds over the previous variant (seconds and µs per packet), packets/s, and
packets/s as a multiple of tcptrace's on the same file:

a. read frames only (``open_capture``)
b. + decode, without checksum verification (``Decoder(verify_checksums=False)``)
c. + checksum verification (``Decoder()``)
d. + flow lookup (``pipeline.count_ingest``, the ``ingest-bench`` figure of ``run.py``)
e. + tracker: ``Analyzer`` without the anomaly detector (``tracker._SEQ_FACTORY = False``,
   the switch ``memory.py`` uses) and with a ``_finished`` that builds no report
f. + anomaly detector, still no reports
g. + report building (the normal ``Analyzer``; ``on_flow`` discards the dict)
h. + JSON serialization (``NdjsonWriter.flow`` into ``/dev/null``, as the CLI writes it)

then, as a cross-check, the CLI command itself (``run.py``'s ``analyze`` command, in a child
process), and two lower bounds that need no pipeline at all: the checksum arithmetic alone
(``int.from_bytes(segment, "big") % 65535`` over every TCP segment's bytes, located through
the decoder's segments beforehand) and ``json.dumps`` alone over the finished connection
dicts (collected in one untimed run beforehand).

Runs go in rounds (tcptrace, a..h, CLI; then the next round), so slow drift of the machine
hits every row alike.  Each timed region holds only the work measured; ``gc.collect()``
runs before each.  A negative increment means the difference is below the noise, which
the ``spread`` column (slowest run over fastest, per row) helps judge.

Usage::

    python bench/stages.py [--capture PATH] [--packets N] [--repeat K] [--skip-cli]

Without ``--capture`` it uses (or makes) the capture ``bench/run.py`` uses.  ``--packets
N`` copies the first N records of a classic pcap file to a temporary file and measures
everything, tcptrace included, on that.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import platform
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH_DIR))

import run as bench_run  # noqa: E402  (sibling module)

import tcpflow_analyzer  # noqa: E402
import tcpflow_analyzer.tracker as tracker  # noqa: E402
from tcpflow_analyzer.decode import Decoder, tcp_checksum_ok  # noqa: E402
from tcpflow_analyzer.pipeline import Analyzer, count_ingest  # noqa: E402
from tcpflow_analyzer.render.jsonout import NdjsonWriter  # noqa: E402
from tcpflow_analyzer.sources.pcapfile import open_capture  # noqa: E402
from tcpflow_analyzer.tracker import TrackerConfig  # noqa: E402

if TYPE_CHECKING:
    from tcpflow_analyzer.report import FlowReport
    from tcpflow_analyzer.tracker import Connection

Counts = tuple[int, int | None]  # (frames, TCP segments) a stage saw, for the cross-check
_WARMUP_FRAMES = 5000
_CHUNK = 65536  # TCP segments held at once for the checksum bound (bounded memory)
_PORTS_SEQ_ACK = struct.Struct("!HHII").pack
_PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1": "<", b"\x4d\x3c\xb2\xa1": "<",
                b"\xa1\xb2\xc3\xd4": ">", b"\xa1\xb2\x3c\x4d": ">"}


# --- the cumulative variants (each returns what it saw; only the call is timed) ----------

def read_frames(path: str) -> Counts:
    """a. Iterate the capture reader, nothing else."""
    reader = open_capture(path)
    n = 0
    for _frame in reader:
        n += 1
    reader.close()
    return n, None


def _decode_all(path: str, decoder: Decoder) -> Counts:
    reader = open_capture(path)
    decode = decoder.decode
    n = segs = 0
    for frame, ts, linktype, data in reader:  # unpacked as the pipeline's loops do
        n += 1
        if decode(frame, ts, linktype, data) is not None:
            segs += 1
    reader.close()
    return n, segs


def decode_unverified(path: str) -> Counts:
    """b. Read and decode every frame, without checksum verification."""
    return _decode_all(path, Decoder(verify_checksums=False))


def decode_verified(path: str) -> Counts:
    """c. Read and decode every frame, verifying TCP checksums (the default)."""
    return _decode_all(path, Decoder())


def ingest(path: str) -> Counts:
    """d. Decode and look up each segment's flow: ``count_ingest`` (``ingest-bench``)."""
    return count_ingest(path)


class _NoReports(Analyzer):
    """The engine with a ``_finished`` that builds no report for a finished connection."""

    def _finished(self, conn: Connection) -> None:
        pass


def _discard(_flow: FlowReport) -> None:
    pass


def _feed(analyzer: Analyzer, path: str) -> Counts:
    reader = open_capture(path)
    try:
        analyzer.feed(reader)
    finally:
        reader.close()
    stats = analyzer.finish()
    return stats.frames, stats.tcp_segments


def track(path: str) -> Counts:
    """e/f. The engine without reports (the detector is switched outside the timed call)."""
    return _feed(_NoReports(TrackerConfig(), _discard), path)


def report(path: str) -> Counts:
    """g. The normal engine; ``on_flow`` discards each finished connection's dict."""
    return _feed(Analyzer(TrackerConfig(), _discard), path)


def ndjson(path: str) -> Counts:
    """h. The normal engine writing each connection as an NDJSON line, as the CLI does."""
    with open(os.devnull, "w", encoding="utf-8", newline="") as out:  # as output_stream()
        writer = NdjsonWriter(out)
        counts = _feed(Analyzer(TrackerConfig(), writer.flow), path)
        out.flush()
    return counts


@dataclass
class Row:
    """One row of the table: an in-process variant (``run``) or a command (``cmd``)."""

    label: str
    run: Callable[[str], Counts] | None = None
    detector: bool = True  # in-process only: anomaly detector on
    cmd: list[str] | None = None
    times: list[float] = field(default_factory=list)  # wall seconds, one per run
    cpu_times: list[float] = field(default_factory=list)  # user + system seconds
    counts: Counts | None = None
    error: str | None = None

    @property
    def best(self) -> float | None:
        """The fastest run's wall time, seconds."""
        return min(self.times) if self.times else None

    def measure(self, path: str, factory: Any) -> None:
        """One more run; a failure is recorded in ``error`` and ends this row's runs."""
        if self.error is not None:
            return
        if self.cmd is not None:
            result = time_command(self.cmd)
            if isinstance(result, str):
                self.error = result
                return
            wall, cpu = result
        else:
            try:
                wall, cpu, self.counts = time_in_process(self, path, factory)
            except Exception as exc:  # e.g. the package changed under us: report, go on
                self.error = f"{type(exc).__name__}: {exc}"
                return
        self.times.append(wall)
        self.cpu_times.append(cpu)


STAGES = (
    ("a. read frames", read_frames, True),
    ("b. + decode (no checksums)", decode_unverified, True),
    ("c. + checksum verification", decode_verified, True),
    ("d. + flow lookup (ingest)", ingest, True),
    ("e. + tracker, no detector", track, False),
    ("f. + anomaly detector", track, True),
    ("g. + report building", report, True),
    ("h. + NDJSON serialization", ndjson, True),
)


def time_in_process(row: Row, path: str, factory: Any) -> tuple[float, float, Counts]:
    """(wall, CPU seconds, counts) of one run of ``row.run``; the detector is switched
    outside the timed region."""
    assert row.run is not None
    tracker._SEQ_FACTORY = factory if row.detector else False
    try:
        gc.collect()
        cpu0 = time.process_time()
        start = time.perf_counter()
        counts = row.run(path)
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu0
    finally:
        tracker._SEQ_FACTORY = factory
    return wall, cpu, counts


def time_command(cmd: list[str]) -> tuple[float, float] | str:
    """(wall, CPU seconds) of ``cmd`` in a child process, stdout to /dev/null; or an error.

    Wall time is taken around the child alone; CPU time (user + system) is the child's own,
    from ``os.wait4``, so it is what the machine's other load cannot inflate.
    """
    gc.collect()
    with tempfile.TemporaryFile() as err:
        try:
            start = time.perf_counter()
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=err, cwd=REPO, env=_child_env())
            _pid, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
        except OSError as exc:
            return f"cannot run {cmd[0]}: {exc}"
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code != 0:
            err.seek(0)
            return bench_run.summarise_stderr(err.read().decode(errors="replace"), code)
    return wall, usage.ru_utime + usage.ru_stime


def _child_env() -> dict[str, str]:
    """The environment ``run.py`` gives our CLI: this checkout first on ``PYTHONPATH``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


# --- lower bounds ----------------------------------------------------------------------

@dataclass
class ChecksumBound:
    """Best-case cost of the checksum arithmetic over every TCP segment captured whole."""

    seconds: float = 0.0
    segments: int = 0
    seg_bytes: int = 0
    agree: int = 0  # our range's checksum verdict equals the decoder's csum_ok
    disagree: int = 0
    unlocated: int = 0  # decoded segments whose header we could not find (or were cut short)


def _time_arithmetic(pieces: list[bytes], repeat: int) -> float:
    from_bytes = int.from_bytes
    best = float("inf")
    gc.collect()
    for _ in range(repeat):
        start = time.perf_counter()
        for piece in pieces:
            from_bytes(piece, "big") % 65535
        best = min(best, time.perf_counter() - start)
    return best


def checksum_bound(path: str, repeat: int) -> ChecksumBound:
    """Time ``int.from_bytes(segment, "big") % 65535`` alone over every TCP segment.

    The decoder finds the TCP segments; each one's header is located in its frame by its
    ports, seq and ack, and the segment's bytes (header + payload, as the decoder sums
    them) are copied out first.  Only the arithmetic loop is timed, in chunks of
    ``_CHUNK`` segments (best of ``repeat`` per chunk) to keep memory bounded.  Checking
    each range's checksum against the decoder's verdict proves the ranges are the right
    bytes.
    """
    out = ChecksumBound()
    decode = Decoder().decode
    pieces: list[bytes] = []
    reader = open_capture(path)
    for frame, ts, linktype, data in reader:
        seg = decode(frame, ts, linktype, data)
        if seg is None:
            continue
        toff = data.find(_PORTS_SEQ_ACK(seg.sport, seg.dport, seg.seq, seg.ack))
        end = toff + ((data[toff + 12] >> 4) << 2) + seg.plen if toff >= 0 else -1
        if toff < 0 or end > len(data):
            out.unlocated += 1
            continue
        piece = data[toff:end]
        if seg.csum_ok is not None:
            pseudo = int.from_bytes(seg.src + seg.dst, "big") + 6 + len(piece)
            if tcp_checksum_ok(piece, pseudo) == seg.csum_ok:
                out.agree += 1
            else:
                out.disagree += 1
        pieces.append(piece)
        out.seg_bytes += len(piece)
        if len(pieces) >= _CHUNK:
            out.seconds += _time_arithmetic(pieces, repeat)
            out.segments += len(pieces)
            pieces.clear()
    reader.close()
    out.seconds += _time_arithmetic(pieces, repeat)
    out.segments += len(pieces)
    return out


def collect_reports(path: str) -> list[FlowReport]:
    """Every finished connection's dict, from one untimed run of the normal engine."""
    flows: list[FlowReport] = []
    _feed(Analyzer(TrackerConfig(), flows.append), path)
    return flows


def json_bound(flows: list[FlowReport], repeat: int) -> float:
    """Best-of-``repeat`` time of ``json.dumps`` alone over ``flows``."""
    dumps = json.dumps
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        for flow in flows:
            dumps(flow)
        best = min(best, time.perf_counter() - start)
    return best


# --- setup and output ------------------------------------------------------------------

def first_records(src: Path, n: int, dst: Path) -> int:
    """Copy the first ``n`` records of classic pcap ``src`` to ``dst``; return how many."""
    with src.open("rb") as fin, dst.open("wb") as fout:
        head = fin.read(24)
        order = _PCAP_MAGICS.get(head[:4])
        if order is None or len(head) < 24:
            raise SystemExit(f"--packets needs a classic pcap file; {src} is not one")
        fout.write(head)
        caplen = struct.Struct(order + "I").unpack_from
        copied = 0
        while copied < n:
            rec = fin.read(16)
            if len(rec) < 16:
                break
            fout.write(rec)
            fout.write(fin.read(caplen(rec, 8)[0]))
            copied += 1
    return copied


def warm_up(path: str) -> Any:
    """Load lazily imported code (detector, encoder) on a few frames; the detector factory."""
    reader = open_capture(path)
    with open(os.devnull, "w", encoding="utf-8") as out:
        analyzer = Analyzer(TrackerConfig(), NdjsonWriter(out).flow)
        analyzer.feed(itertools.islice(reader, _WARMUP_FRAMES))
        analyzer.finish()
    reader.close()
    return tracker._SEQ_FACTORY


def source_state() -> str:
    """The commit the package comes from, and whether the package has uncommitted changes."""
    if shutil.which("git") is None:
        return "git not available"
    git = ["git", "--no-optional-locks", "-C", str(REPO)]
    rev = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True, check=False)
    if rev.returncode != 0:
        return "not a git checkout"
    dirty = subprocess.run([*git, "diff", "--quiet", "HEAD", "--", "tcpflow_analyzer"],
                           capture_output=True, check=False).returncode != 0
    return f"commit {rev.stdout.strip()}" + (" + uncommitted changes in the package"
                                             if dirty else "")


def print_table(ref: Row, stages: list[Row], cli: Row | None, frames: int) -> None:
    """Cumulative seconds, increments, packets/s and the ratio to tcptrace for each row."""
    ref_s = ref.best
    header = (f"{'stage':<30}{'cum s':>9}{'+s':>9}{'+µs/pkt':>9}{'packets/s':>12}"
              f"{'vs tcptrace':>13}{'cpu s':>9}{'spread':>8}")
    print(header)
    print("-" * len(header))

    def line(row: Row, prev: float | None) -> None:
        best = row.best
        if best is None:
            print(f"{row.label:<30}not available ({row.error})")
            return
        inc = f"{best - prev:>+9.3f}{(best - prev) / frames * 1e6:>+9.2f}" if prev is not None \
            else f"{'':>18}"
        ratio = f"{ref_s / best:.3f}x" if ref_s else "n/a"
        spread = f"{max(row.times) / best - 1:.0%}" if len(row.times) > 1 else "-"
        print(f"{row.label:<30}{best:>9.3f}{inc}{frames / best:>12,.0f}{ratio:>13}"
              f"{min(row.cpu_times):>9.3f}{spread:>8}")

    line(ref, None)
    prev: float | None = 0.0
    for st in stages:
        line(st, prev)
        prev = st.best if st.best is not None else prev
    if cli is not None:
        print("-" * len(header))
        line(cli, stages[-1].best)


def times_tcptrace(x_s: float, ref_s: float | None) -> str:
    """``x_s`` as a multiple of tcptrace's whole run."""
    return f"{x_s / ref_s:.2f}x tcptrace's entire run" if ref_s else "tcptrace not measured"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--capture", type=Path, default=None,
                    help="capture to measure (default: the one bench/run.py uses)")
    ap.add_argument("--packets", type=int, default=None,
                    help="use only the first N frames (classic pcap only)")
    ap.add_argument("--repeat", type=int, default=2,
                    help="runs per row; the best is reported (default 2)")
    ap.add_argument("--skip-cli", action="store_true",
                    help="do not run the CLI command itself as a cross-check")
    args = ap.parse_args(argv)
    if args.repeat < 1 or (args.packets is not None and args.packets < 1):
        ap.error("--repeat and --packets must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    args = parse_args(argv)
    capture = args.capture
    if capture is None:
        capture, _count, _temporary = bench_run.prepare_capture(bench_run.parse_args([]))
    elif not capture.exists():
        raise SystemExit(f"no such capture: {capture}")
    tmpdir = None
    try:
        if args.packets is not None:
            tmpdir = tempfile.TemporaryDirectory(prefix="tcpflow-stages-")
            cut = Path(tmpdir.name) / f"first-{args.packets}.pcap"
            copied = first_records(capture, args.packets, cut)
            print(f"using the first {copied:,} records of {capture} (copied to {cut})")
            capture = cut
        return measure_all(str(capture), args.repeat, not args.skip_cli)
    finally:
        if tmpdir is not None:
            tmpdir.cleanup()


def measure_all(path: str, repeat: int, with_cli: bool) -> int:
    """Measure every row on ``path`` and print the report."""
    bench_run.warm_page_cache(Path(path))
    factory = warm_up(path)
    ref = Row("tcptrace -n (reference)", cmd=["tcptrace", "-n", path])
    if shutil.which("tcptrace") is None:
        ref.error = "tcptrace is not on PATH"
    stages = [Row(label, fn, detector) for label, fn, detector in STAGES]
    cli_cmd = bench_run.tool_command("analyze", Path(path))
    cli = Row("= the CLI, child process", cmd=cli_cmd) if with_cli else None
    rows = [ref, *stages, *([cli] if cli else [])]
    for rnd in range(1, repeat + 1):
        print(f"round {rnd}/{repeat} ...", file=sys.stderr, flush=True)
        for row in rows:
            row.measure(path, factory)
    print("lower bounds ...", file=sys.stderr, flush=True)
    csum = checksum_bound(path, repeat)
    gc.collect()
    flows = collect_reports(path)
    json_s = json_bound(flows, repeat)

    frames = stages[0].counts[0] if stages[0].counts else 0
    if frames == 0:
        raise SystemExit(f"no frames read from {path} ({stages[0].error or 'empty capture'})")
    segments = next((st.counts[1] for st in stages
                     if st.counts and st.counts[1] is not None), None)
    ref_s = ref.best
    print()
    print(f"Python {platform.python_version()} ({platform.python_implementation()}, "
          f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs); "
          f"tcpflow_analyzer {tcpflow_analyzer.__version__} from "
          f"{Path(tcpflow_analyzer.__file__).parent} ({source_state()})")
    print(f"capture: {path}")
    print(f"  {frames:,} frames, {segments if segments is None else f'{segments:,}'} TCP "
          f"segments, {len(flows):,} connections")
    print(f"best wall time of {repeat} run(s) per row (rounds over all rows), gc.collect() "
          f"before each; anomaly detector: {'present' if factory else 'NOT IN THIS BUILD'}")
    print()
    print_table(ref, stages, cli, frames)
    for st in stages:
        if st.counts and (st.counts[0] != frames or st.counts[1] not in (None, segments)):
            print(f"note: {st.label!r} saw {st.counts[0]:,} frames / {st.counts[1]} segments")
    print("cum s: wall time from the start of reading; +s, +µs/pkt: what the stage adds to "
          "the row above;\ncpu s: the least user+system time of the runs (well under cum s = "
          "the CPU was shared);\nspread: slowest run over fastest.  The CLI row adds "
          "interpreter start-up, imports, the\nper-flow filter and summary bookkeeping and "
          "the summary line to row h.")

    print()
    print("lower bounds, no pipeline:")
    per_m = 1e6 / frames
    avg = csum.seg_bytes / csum.segments if csum.segments else 0.0
    print(f"  checksum arithmetic alone, int.from_bytes(segment, 'big') % 65535 over "
          f"{csum.segments:,} TCP segments (avg {avg:.0f} B): {csum.seconds:.3f} s = "
          f"{csum.seconds * per_m:.2f} µs/packet, i.e. {csum.seconds * per_m:.2f} s per "
          f"million packets")
    print(f"    (segment bytes located via the decoder's segments; their checksum verdict "
          f"agrees with the decoder's on {csum.agree:,}, disagrees on {csum.disagree:,}; "
          f"{csum.unlocated:,} not located or cut short)")
    conns = len(flows)
    print(f"  json.dumps alone over {conns:,} connection dicts: {json_s:.3f} s = "
          f"{json_s / max(conns, 1) * 1e6:.1f} µs/connection = {json_s * per_m:.2f} µs/packet, "
          f"i.e. {json_s * per_m:.2f} s per million packets of this capture")
    if ref_s is not None:
        print(f"  => on this capture, the checksum arithmetic alone takes "
              f"{times_tcptrace(csum.seconds, ref_s)} ({ref_s:.3f} s), and json.dumps "
              f"alone takes {times_tcptrace(json_s, ref_s)}.")
    else:
        print(f"  (tcptrace not measured: {ref.error})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
