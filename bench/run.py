#!/usr/bin/env python3
"""Benchmark tcpflow-analyzer against tcptrace on one synthetic capture.

Generates (or reuses) a capture with ``bench/gen_capture.py``, then runs each tool in its
own child process and reports wall time (``time.perf_counter``), packets per second, that
process's peak resident set size (``ru_maxrss`` from ``os.wait4`` on it alone) and each of
our figures relative to tcptrace's packets/s.  The measured process is forked by a tiny
launcher interpreter rather than by this script, so it does not inherit this script's
memory high-water mark (see ``_LAUNCHER``); the floor this leaves is about 7 MB.

Usage::

    python bench/run.py [--packets N] [--seed S] [--capture PATH] [--keep]
                        [--repeat K] [--only tcptrace,ingest,analyze]
"""

from __future__ import annotations

import argparse
import hashlib
import mmap
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import gen_capture  # noqa: E402  (sibling module, importable once BENCH_DIR is on the path)

TOOLS = ("tcptrace", "ingest", "analyze")
_BOX_CHARS = re.compile(r"[\u2500-\u257f]+")


@dataclass
class Measurement:
    """Best-of-K figures for one tool (or why it could not be measured)."""

    tool: str
    wall: float | None = None  # best (smallest) wall time, seconds
    maxrss_kb: int | None = None  # largest peak RSS over the runs, KiB
    error: str | None = None
    stdout: str = ""
    stderr_lines: list[str] = field(default_factory=list)


def tool_command(tool: str, capture: Path) -> list[str]:
    """The command line measured for ``tool``."""
    if tool == "tcptrace":
        return ["tcptrace", "-n", str(capture)]
    ours = [sys.executable, "-m", "tcpflow_analyzer"]
    if tool == "ingest":
        return [*ours, "ingest-bench", str(capture)]
    return [*ours, "analyze", str(capture), "--format", "ndjson", "-o", os.devnull]


def summarise_stderr(text: str, status: int) -> str:
    """One informative line out of a failed command's standard error."""
    lines = [_BOX_CHARS.sub("", ln).strip(" \t|") for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        return f"exit status {status}"
    if lines[0].startswith("Traceback"):
        return lines[-1]  # the exception, not the traceback header
    if lines[0].startswith("Usage:"):
        errors = [ln for ln in lines if "rror" in ln or "No such" in ln]
        if errors:
            return errors[-1] if errors[-1].strip("- ").lower() != "error" else lines[-1]
    return lines[0]


# Runs in a fresh, tiny interpreter (``python -I -S -c``): forks the measured command and
# reports that grandchild's wall time, exit status and ru_maxrss.  Measuring a direct child
# of this script would be wrong: on Linux a forked child's ru_maxrss starts from its parent's
# peak RSS (exec records the old address space's high-water mark), so every tool would
# inherit this script's footprint (generator, mmap of the capture) as a floor.
_LAUNCHER = """
import os, sys, time
result, cmd = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(cmd[0], cmd)
    except OSError as exc:
        os.write(2, f"cannot run {cmd[0]}: {exc}\\n".encode())
    os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(result, "w") as fh:
    fh.write(f"{wall!r} {os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}")
"""


def run_once(cmd: Sequence[str], keep_stdout: bool, timeout: float,
             extra_env: dict[str, str] | None = None,
             cwd: Path = REPO) -> tuple[float, int, int, str, str]:
    """Run ``cmd`` once; return (wall seconds, exit status, peak RSS KiB, stdout, stderr).

    Wall time and ``ru_maxrss`` are taken by a launcher process around ``cmd`` alone (see
    ``_LAUNCHER``), so neither interpreter start-up of the launcher nor this process's own
    memory is counted.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.update(extra_env or {})  # a caller's variables (and PYTHONPATH) win
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result"
        proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", _LAUNCHER, str(result), *cmd],
                                stdin=subprocess.DEVNULL,
                                stdout=out if keep_stdout else subprocess.DEVNULL,
                                stderr=err, cwd=cwd, env=env, start_new_session=True)
        try:
            proc.wait(timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the launcher and the measured command
            proc.wait()
            timed_out = True
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
        if timed_out:
            return timeout, -signal.SIGKILL, 0, stdout, f"killed after {timeout:.0f} s\n{stderr}"
        try:
            wall_s, code_s, rss_s = result.read_text().split()
        except (OSError, ValueError):
            return 0.0, proc.returncode or 1, 0, stdout, stderr or "launcher failed"
    return float(wall_s), int(code_s), int(rss_s), stdout, stderr


def measure(tool: str, capture: Path, repeat: int, timeout: float) -> Measurement:
    """Best of ``repeat`` runs of ``tool``; never raises for a missing or failing tool."""
    result = Measurement(tool)
    cmd = tool_command(tool, capture)
    if tool == "tcptrace" and shutil.which("tcptrace") is None:
        result.error = "tcptrace not found on PATH"
        return result
    for _ in range(repeat):
        try:
            wall, code, rss, stdout, stderr = run_once(cmd, tool != "tcptrace", timeout)
        except OSError as exc:
            result.error = f"cannot run {cmd[0]}: {exc}"
            return result
        if code != 0:
            result.error = summarise_stderr(stderr, code)
            return result
        if result.wall is None or wall < result.wall:
            result.wall, result.stdout = wall, stdout
        result.maxrss_kb = max(result.maxrss_kb or 0, rss)
        result.stderr_lines = stderr.splitlines()
    return result


def count_packets(path: Path) -> int | None:
    """Number of records in a classic pcap file (None if it is not one)."""
    with path.open("rb") as fh:
        head = fh.read(24)
        if len(head) < 24:
            return None
        order = {b"\xd4\xc3\xb2\xa1": "<", b"\x4d\x3c\xb2\xa1": "<",
                 b"\xa1\xb2\xc3\xd4": ">", b"\xa1\xb2\x3c\x4d": ">"}.get(head[:4])
        if order is None:
            return None
        size = path.stat().st_size
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            caplen = struct.Struct(order + "I").unpack_from
            off, n = 24, 0
            while off + 16 <= size:
                off += 16 + caplen(mm, off + 8)[0]
                n += 1
    return n


def count_packets_capinfos(path: Path) -> int | None:
    """Packet count from ``capinfos`` for files that are not classic pcap."""
    if shutil.which("capinfos") is None:
        return None
    proc = subprocess.run(["capinfos", "-M", "-c", "-T", str(path)], capture_output=True,
                          text=True, check=False)
    match = re.search(r"\t(\d+)\s*$", proc.stdout.strip())
    return int(match.group(1)) if match else None


def generator_fingerprint() -> str:
    """Short hash of the generator's source, so a changed generator invalidates the cache."""
    return hashlib.sha256((BENCH_DIR / "gen_capture.py").read_bytes()).hexdigest()[:10]


def prepare_capture(args: argparse.Namespace) -> tuple[Path, int | None, bool]:
    """Return (capture path, packet count if known, whether to delete it at the end)."""
    if args.capture is not None and args.capture.exists():
        print(f"capture: {args.capture} (existing file, used as is)")
        return args.capture, None, False
    if args.capture is not None:
        path, cached = args.capture, False
    else:
        cache = Path(tempfile.gettempdir()) / "tcpflow-bench"
        cache.mkdir(exist_ok=True)
        path = cache / f"synthetic-s{args.seed}-n{args.packets}-{generator_fingerprint()}.pcap"
        cached = True
    if cached and path.exists():
        print(f"capture: {path} (cached)")
        return path, None, not args.keep
    print(f"capture: generating {args.packets} packets (seed {args.seed}) -> {path}",
          flush=True)
    tmp = path.with_name(path.name + ".partial")
    start = time.perf_counter()
    stats = gen_capture.generate(tmp, args.packets, args.seed)
    tmp.replace(path)
    print(f"  {stats.bytes_written / 1e6:.1f} MB, {stats.connections} connections, "
          f"{stats.span_seconds:.1f} s of traffic, ~{stats.mean_active:.0f} active at a time; "
          f"generated in {time.perf_counter() - start:.1f} s")
    return path, stats.packets, cached and not args.keep


def warm_page_cache(path: Path) -> None:
    """Read the capture once so the first tool measured does not pay for cold I/O."""
    with path.open("rb") as fh:
        while fh.read(8 << 20):
            pass


def print_table(results: list[Measurement], packets: int | None) -> None:
    """The results table: wall time, packets/s, peak RSS and ratio to tcptrace."""
    labels = {"tcptrace": "tcptrace -n", "ingest": "ours: ingest-bench",
              "analyze": "ours: analyze (ndjson)"}
    ref = next((r for r in results if r.tool == "tcptrace" and r.wall), None)
    ref_rate = packets / ref.wall if ref and ref.wall and packets else None
    header = f"{'tool':<24}{'wall s':>10}{'packets/s':>14}{'peak RSS MB':>13}{'vs tcptrace':>13}"
    print()
    print(header)
    print("-" * len(header))
    for res in results:
        name = labels[res.tool]
        if res.error is not None or res.wall is None:
            who = "tcptrace" if res.tool == "tcptrace" else "ours"
            print(f"{name:<24}{who}: not available ({res.error})")
            continue
        rate = packets / res.wall if packets else None
        rate_s = f"{rate:,.0f}" if rate else "?"
        rss_s = f"{(res.maxrss_kb or 0) / 1024:.1f}"
        ratio = "(reference)" if res.tool == "tcptrace" else (
            f"{rate / ref_rate:.3f}x" if rate and ref_rate else "n/a")
        print(f"{name:<24}{res.wall:>10.2f}{rate_s:>14}{rss_s:>13}{ratio:>13}")


def print_notes(results: list[Measurement], packets: int | None) -> None:
    """Cross-checks worth knowing about: packet counts and tcptrace's complaints."""
    for res in results:
        if res.error is not None:
            continue
        if res.tool == "ingest":
            numbers = re.findall(r"\d+", res.stdout)
            if not numbers:
                print("note: ingest-bench printed no packet count")
            elif packets is not None and int(numbers[-1]) != packets:
                print(f"note: ingest-bench counted {numbers[-1]} packets, the file has {packets}")
        warnings = [ln for ln in res.stderr_lines if ln.strip()]
        if res.tool == "tcptrace" and warnings:
            kinds = sorted({ln.strip() for ln in warnings if ln.startswith("WARNING")})
            print(f"note: tcptrace wrote {len(warnings)} lines on stderr"
                  + (f", e.g. {kinds[0]!r}" if kinds else f", e.g. {warnings[0]!r}"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=1_000_000,
                        help="packets in the generated capture (default 1000000)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument("--capture", type=Path, default=None,
                        help="capture to use: generated there if missing, never deleted; "
                             "default: a cache file under the system temp directory")
    parser.add_argument("--keep", action="store_true",
                        help="keep the generated capture in the cache for the next run")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per tool; report the best wall time (default 1)")
    parser.add_argument("--only", default=",".join(TOOLS),
                        help="comma-separated subset of: " + ",".join(TOOLS))
    parser.add_argument("--timeout", type=float, default=3600.0,
                        help="kill a tool after this many seconds (default 3600)")
    args = parser.parse_args(argv)
    args.tools = [t.strip() for t in args.only.split(",") if t.strip()]
    unknown = sorted(set(args.tools) - set(TOOLS))
    if unknown or not args.tools:
        parser.error(f"--only takes a subset of {','.join(TOOLS)}; got {args.only!r}")
    if args.packets < 1 or args.repeat < 1:
        parser.error("--packets and --repeat must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    capture, packets, delete = prepare_capture(args)
    try:
        if packets is None:
            packets = count_packets(capture) or count_packets_capinfos(capture)
        print(f"packets in capture: {packets if packets is not None else 'unknown'}")
        warm_page_cache(capture)
        results = []
        for tool in (t for t in TOOLS if t in args.tools):
            print(f"running {tool} ...", flush=True)
            results.append(measure(tool, capture, args.repeat, args.timeout))
        print_table(results, packets)
        print_notes(results, packets)
    finally:
        if delete:
            capture.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
