#!/usr/bin/env python3
"""The compiled engine's targets (issue 13), measured side by side with tcptrace in one run.

Each row is a command in its own child process (wall time and peak RSS of that process
alone, as ``bench/run.py`` measures them); rows run in interleaved rounds (every row once,
then the next round) and each reports its best round, so slow drift of a shared machine
hits every row alike:

* ``tcptrace -l -n CAP``: the reference;
* ``analyze CAP -f ndjson -o /dev/null``, compiled engine (target: >= 1.5x tcptrace's packets/s);
* ``ingest-bench CAP`` (read, decode, checksum, flow lookup), compiled (target: >= 5x);
* the same two with ``TCPFLOW_ANALYZER_PURE=1`` (the interpreted engine);
* optionally ``analyze`` from another source tree (``--baseline TREE``, e.g. a worktree of the
  commit before the engine work), to check "the interpreted fallback stays within 1.5x of
  today's time";
* start-up: ``analyze`` of a one-connection sample, best of ``--startup-runs`` (target 0.12 s);
* memory per held connection (``bench/memory.py --held N``, both engines; target <= 1 KB).

Usage::

    python bench/engine.py [--capture PATH] [--rounds K] [--baseline TREE]
                           [--held N] [--skip-memory]

Without ``--capture`` it uses (or makes) the 1M-packet capture ``bench/run.py`` uses.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import run as bench_run  # noqa: E402  (sibling module)

SAMPLE = REPO / "samples" / "handshake-basic.pcap"
PURE = {"TCPFLOW_ANALYZER_PURE": "1"}


@dataclass
class Row:
    """One measured command: its best wall time and largest peak RSS over the rounds."""

    label: str
    cmd: list[str]
    env: dict[str, str] = field(default_factory=dict)
    tree: Path = REPO
    target: str = ""
    walls: list[float] = field(default_factory=list)
    rss_kb: int = 0
    error: str | None = None

    @property
    def best(self) -> float | None:
        return min(self.walls) if self.walls else None


def run_row(row: Row, timeout: float) -> None:
    """Run the row's command once (in its tree, with its environment) and record it."""
    if row.error is not None:
        return
    # cwd too: ``python -m`` puts the working directory first on sys.path
    wall, code, rss, _out, err = bench_run.run_once(
        row.cmd, False, timeout, {**row.env, "PYTHONPATH": str(row.tree)}, cwd=row.tree)
    if code != 0:
        row.error = bench_run.summarise_stderr(err, code)
        return
    row.walls.append(wall)
    row.rss_kb = max(row.rss_kb, rss)


def engine_of(tree: Path, env: dict[str, str]) -> str:
    """What ``--version`` says about the engine in ``tree`` with ``env``."""
    proc = subprocess.run([sys.executable, "-m", "tcpflow_analyzer", "--version"],
                          env={**os.environ, **env, "PYTHONPATH": str(tree)},
                          capture_output=True, text=True, check=False, timeout=60)
    match = re.search(r"\((.*)\)", proc.stdout)
    return match.group(1) if match else (proc.stderr.strip() or "unknown")


def memory_rows(held: int) -> list[str]:
    """``bench/memory.py --held N`` in each engine: its lines, prefixed by the engine."""
    lines = []
    for name, env in (("compiled", {}), ("pure", PURE)):
        proc = subprocess.run([sys.executable, str(BENCH_DIR / "memory.py"), "--held",
                               str(held)], env={**os.environ, **env, "PYTHONPATH": str(REPO)},
                              capture_output=True, text=True, check=False, timeout=3600)
        out = proc.stdout.strip().splitlines() or [proc.stderr.strip().splitlines()[-1]
                                                   if proc.stderr.strip() else "no output"]
        lines += [f"  {name:9s} {ln}" for ln in out]
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--capture", type=Path, default=None)
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="another source tree whose analyze is measured beside ours")
    ap.add_argument("--startup-runs", type=int, default=10)
    ap.add_argument("--held", type=int, default=100_000,
                    help="open connections held for the memory figure (default 100000)")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--timeout", type=float, default=3600.0)
    args = ap.parse_args(argv)

    run_args = bench_run.parse_args([] if args.capture is None
                                    else ["--capture", str(args.capture)])
    capture, packets, _delete = bench_run.prepare_capture(run_args)
    packets = packets or bench_run.count_packets(capture) or bench_run.count_packets_capinfos(
        capture)
    if not packets:
        ap.error(f"cannot count the packets of {capture}")
    bench_run.warm_page_cache(capture)
    cap = str(capture)
    ours = [sys.executable, "-m", "tcpflow_analyzer"]
    analyze = [*ours, "analyze", cap, "-f", "ndjson", "-o", os.devnull]
    ingest = [*ours, "ingest-bench", cap]
    rows = [Row("tcptrace -l -n", ["tcptrace", "-l", "-n", cap]),
            Row("analyze, compiled", analyze, target=">= 1.5x"),
            Row("ingestion, compiled", ingest, target=">= 5x"),
            Row("analyze, pure", analyze, PURE),
            Row("ingestion, pure", ingest, PURE)]
    if shutil.which("tcptrace") is None:
        rows[0].error = "tcptrace not found on PATH"
    if args.baseline is not None:
        rows.append(Row(f"analyze, {args.baseline.name} tree", analyze, tree=args.baseline))
    start = [*ours, "analyze", str(SAMPLE), "-f", "ndjson", "-o", os.devnull]
    # start-up as an installed tool has it: bytecode cached (pip compiles it at install), so
    # PYTHONDONTWRITEBYTECODE is lifted and the cache kept out of the tree
    pycache = tempfile.mkdtemp(prefix="tcpflow-pyc-")
    cached = {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": pycache}
    starts = [Row("start-up, compiled", start, cached, target="<= 0.12 s"),
              Row("start-up, pure", start, {**cached, **PURE})]

    print(f"capture: {cap} ({packets:,} packets)")
    print(f"engines: default = {engine_of(REPO, {})}; with TCPFLOW_ANALYZER_PURE=1 = "
          f"{engine_of(REPO, PURE)}")
    for k in range(args.rounds):
        print(f"round {k + 1}/{args.rounds} ...", flush=True)
        for row in rows:
            run_row(row, args.timeout)
    for _ in range(args.startup_runs + 1):
        for row in starts:
            run_row(row, 60)
    for row in starts:
        row.walls = row.walls[1:]  # the first run wrote the bytecode cache
    shutil.rmtree(pycache, ignore_errors=True)

    ref = rows[0].best
    header = f"{'row':<28}{'best s':>9}{'packets/s':>13}{'peak MB':>9}{'vs tcptrace':>13}  target"
    print()
    print(header)
    print("-" * len(header))
    for row in rows:
        if row.best is None:
            print(f"{row.label:<28}not available ({row.error})")
            continue
        ratio = "(reference)" if row is rows[0] else (
            f"{ref / row.best:.2f}x" if ref else "n/a")
        print(f"{row.label:<28}{row.best:>9.2f}{packets / row.best:>13,.0f}"
              f"{row.rss_kb / 1024:>9.1f}{ratio:>13}  {row.target}")
    by = {r.label: r.best for r in rows}
    if by.get("analyze, pure") and by.get("analyze, compiled"):
        print(f"{'pure / compiled (analyze)':<28}{by['analyze, pure'] / by['analyze, compiled']:>9.2f}")
    if args.baseline is not None and by.get("analyze, pure") and rows[-1].best:
        print(f"{'pure / baseline (analyze)':<28}{by['analyze, pure'] / rows[-1].best:>9.2f}"
              "  target <= 1.5")
    for row in starts:
        if row.best is None:
            print(f"{row.label:<28}not available ({row.error})")
        else:
            print(f"{row.label:<28}{row.best:>9.3f}{'':>13}{row.rss_kb / 1024:>9.1f}"
                  f"{'':>13}  {row.target}")
    if not args.skip_memory:
        print(f"\nmemory per held connection ({args.held:,} open connections):")
        for line in memory_rows(args.held):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
