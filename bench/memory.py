#!/usr/bin/env python3
"""Memory per active connection, measured with tracemalloc on the benchmark capture.

Feeds the first ``--packets`` frames of the capture through the engine (the same objects
``analyze`` builds), then divides the memory the engine holds by the number of connections
it holds at that moment, with and without the anomaly detector.  The frames themselves are
read before measuring starts, so only what the flow table keeps is counted.

Usage::

    python bench/memory.py [--capture PATH] [--packets N]

Without ``--capture`` it uses (or makes) the capture ``bench/run.py`` uses.
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


def per_connection(frames: list[Frame], detector: bool) -> tuple[int, float]:
    """(connections held, bytes per held connection) after feeding ``frames``."""
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
        tracemalloc.stop()
        held = len(analyzer.table.active)
        return held, used / max(held, 1)
    finally:
        tracker._SEQ_FACTORY = saved


def main() -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--capture", type=Path, default=None)
    ap.add_argument("--packets", type=int, default=300_000)
    args = ap.parse_args()
    capture = args.capture
    if capture is None:
        run_args = bench_run.parse_args([])
        capture, _count, _temporary = bench_run.prepare_capture(run_args)
    reader = open_capture(str(capture))
    frames = list(itertools.islice(reader, args.packets))
    reader.close()
    for detector in (False, True):
        held, per = per_connection(frames, detector)
        what = "tracker + anomaly detector" if detector else "tracker only"
        print(f"{what:28s} {held:7d} connections held, {per / 1024:5.2f} KiB each "
              f"(after {len(frames):,} packets)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
