#!/usr/bin/env python3
"""Memory per active connection, measured with tracemalloc on the benchmark capture.

Feeds the first ``--packets`` frames of the capture through the engine (the same objects
``analyze`` builds), then divides the memory the engine holds by the number of connections
it holds at that moment, with and without the anomaly detector.  The frames themselves are
read before measuring starts, so only what the flow table keeps is counted.

``--top K`` also lists, for the run with the detector, the K source lines whose allocations
the engine still holds, in bytes and blocks per held connection (tracemalloc's snapshot
grouped by line, then by module): where the memory of a held connection goes.

Usage::

    python bench/memory.py [--capture PATH] [--packets N] [--top K]

Without ``--capture`` it uses (or makes) the capture ``bench/run.py`` uses.  For the
memory at the active-connection cap, give it the capture of ``gen_adversarial.py
held-open`` cut at the end of its data phase (6 frames per connection), when every
connection is held::

    python bench/gen_adversarial.py held-open held.pcap --connections 32768
    python bench/memory.py --capture held.pcap --packets 196608 --top 20
"""

from __future__ import annotations

import argparse
import gc
import itertools
import sys
import tracemalloc
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))
sys.path.insert(0, str(BENCH_DIR))

import run as bench_run  # noqa: E402  (sibling module)

import tcpflow_analyzer.tracker as tracker  # noqa: E402
from tcpflow_analyzer.pipeline import Analyzer  # noqa: E402
from tcpflow_analyzer.sources.pcapfile import Frame, open_capture  # noqa: E402
from tcpflow_analyzer.tracker import TrackerConfig  # noqa: E402


def per_connection(
    frames: list[Frame], detector: bool, top: int = 0
) -> tuple[int, float, list[str]]:
    """(connections held, bytes per held connection, the ``top`` allocation sites) after
    feeding ``frames``."""
    saved = tracker._SEQ_FACTORY
    if not detector:
        tracker._SEQ_FACTORY = False  # the tracker then runs without the anomaly detector
    try:
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        analyzer = Analyzer(TrackerConfig(), lambda _flow: None)
        analyzer.feed(frames)
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - base
        snapshot = tracemalloc.take_snapshot() if top else None
        tracemalloc.stop()
        held = len(analyzer.table.active)
        return held, used / max(held, 1), _top_lines(snapshot, top, max(held, 1))
    finally:
        tracker._SEQ_FACTORY = saved


def _top_lines(snapshot: tracemalloc.Snapshot | None, top: int, held: int) -> list[str]:
    if snapshot is None:
        return []
    snapshot = snapshot.filter_traces([tracemalloc.Filter(True, "*tcpflow_analyzer*")])
    root = str(BENCH_DIR.parent) + "/"
    lines = []
    for key in ("lineno", "filename"):
        lines.append(f"  held by {'line' if key == 'lineno' else 'module'}:")
        for st in snapshot.statistics(key)[:top]:
            frame = st.traceback[0]
            where = frame.filename.replace(root, "")
            if key == "lineno":
                where += f":{frame.lineno}"
            lines.append(f"    {st.size / held:8.1f} B {st.count / held:6.2f} blocks  {where}")
    return lines


def main() -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--capture", type=Path, default=None)
    ap.add_argument("--packets", type=int, default=300_000)
    ap.add_argument("--top", type=int, default=0,
                    help="list the K allocation sites holding most (with the detector)")
    args = ap.parse_args()
    capture = args.capture
    if capture is None:
        run_args = bench_run.parse_args([])
        capture, _count, _temporary = bench_run.prepare_capture(run_args)
    reader = open_capture(str(capture))
    frames = list(itertools.islice(reader, args.packets))
    reader.close()
    for detector in (False, True):
        held, per, sites = per_connection(frames, detector, args.top if detector else 0)
        what = "tracker + anomaly detector" if detector else "tracker only"
        print(f"{what:28s} {held:7d} connections held, {per / 1024:5.2f} KiB each "
              f"(after {len(frames):,} packets)")
        for line in sites:
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
