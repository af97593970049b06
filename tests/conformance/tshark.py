"""tshark conformance scoreboard: our ``--semantics wireshark`` labels against tshark's own.

Usage: ``python tests/conformance/tshark.py [FILE ...] [-v] [--diffs N]``; without files it
scores every capture in ``samples/``, ``samples/anomalies/`` and every trace of the Zeek
corpus (``tests/data/zeek-corpus/*/trace.pcap*``).

For each capture we run ``tshark -2 -n -r FILE -T fields -e frame.number -e tcp.srcport
-e tcp.analysis.<flag> ...`` (two passes, so every frame shows its final analysis) and the
analyzer with ``TrackerConfig(semantics="wireshark", checksums="off")`` (tshark does not
check TCP checksums by default), then compare, frame by frame, the *set* of analysis flags.
Our anomaly names map one-to-one to tshark's ``tcp.analysis.*`` fields; tshark also sets
plain ``retransmission`` on fast and spurious retransmissions, so ours imply it too.
``ack_lost_segment`` and ``reused_ports`` come from the tracker and are compared as they are.

A frame agrees when both sets are equal.  The denominator is every frame tshark dissects as
TCP plus any frame we flag.  The last lines are the totals the test suite holds the line on;
``flagged`` counts only frames that either side flags (the interesting ones).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tcpflow_analyzer.pipeline import analyze_to_report  # noqa: E402
from tcpflow_analyzer.tracker import TrackerConfig  # noqa: E402

DEFAULT_CORPUS = ROOT / "tests" / "data" / "zeek-corpus"

#: our anomaly name -> tshark field suffix (tcp.analysis.<suffix>)
FLAGS = (
    "retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order",
    "lost_segment", "ack_lost_segment", "duplicate_ack", "zero_window", "zero_window_probe",
    "zero_window_probe_ack", "window_full", "window_update", "keep_alive", "keep_alive_ack",
    "reused_ports",
)
_IMPLIES = {"fast_retransmission": "retransmission", "spurious_retransmission": "retransmission"}


@dataclass
class FileScore:
    """Per-capture result."""

    name: str
    frames: int = 0
    agree: int = 0
    flagged: int = 0
    flagged_agree: int = 0
    missing: Counter[str] = field(default_factory=Counter)  # tshark has it, we do not
    extra: Counter[str] = field(default_factory=Counter)  # we have it, tshark does not
    diffs: list[str] = field(default_factory=list)
    error: str = ""


def default_files() -> list[Path]:
    """The captures scored when none are given on the command line."""
    samples = ROOT / "samples"
    files = sorted(p for p in samples.iterdir() if p.suffix in (".pcap", ".pcapng"))
    anomalies = samples / "anomalies"
    if anomalies.is_dir():
        files += sorted(p for p in anomalies.iterdir() if p.suffix in (".pcap", ".pcapng"))
    files += sorted(DEFAULT_CORPUS.glob("*/trace.pcap*"))
    return files


def tshark_flags(path: Path) -> dict[int, frozenset[str]]:
    """Frame number -> tshark analysis flags, for every frame tshark dissects as TCP."""
    cmd = ["tshark", "-2", "-n", "-r", str(path), "-T", "fields", "-E", "separator=\t",
           "-e", "frame.number", "-e", "tcp.srcport"]
    for name in FLAGS:
        cmd += ["-e", f"tcp.analysis.{name}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 2) or not proc.stdout:
        raise RuntimeError(f"tshark failed ({proc.returncode}): {proc.stderr.strip()[:200]}")
    out: dict[int, frozenset[str]] = {}
    for line in proc.stdout.splitlines():
        cols = line.split("\t")
        if len(cols) < 2 + len(FLAGS) or not cols[1]:
            continue
        flags = cols[2 : 2 + len(FLAGS)]
        out[int(cols[0])] = frozenset(n for n, v in zip(FLAGS, flags, strict=True) if v.strip(","))
    return out


def our_flags(path: Path) -> dict[int, frozenset[str]]:
    """Frame number -> our flags in wireshark mode (only frames with at least one)."""
    cfg = TrackerConfig(semantics="wireshark", checksums="off", max_events=1 << 30)
    report = analyze_to_report([str(path)], cfg)
    acc: dict[int, set[str]] = {}
    for conn in report["connections"]:
        for ev in conn["anomaly_events"]:
            name = ev["name"]
            if name in FLAGS:
                flags = acc.setdefault(ev["frame"], set())
                flags.add(name)
                if name in _IMPLIES:
                    flags.add(_IMPLIES[name])
    return {f: frozenset(v) for f, v in acc.items()}


def score_file(path: Path, label: str) -> FileScore:
    """Compare one capture frame by frame."""
    sc = FileScore(label)
    try:
        theirs = tshark_flags(path)
    except RuntimeError as exc:
        sc.error = str(exc)
        return sc
    ours = our_flags(path)
    for frame in sorted(set(theirs) | set(ours)):
        t = theirs.get(frame, frozenset())
        o = ours.get(frame, frozenset())
        sc.frames += 1
        ok = t == o
        sc.agree += ok
        if t or o:
            sc.flagged += 1
            sc.flagged_agree += ok
        if not ok:
            sc.missing.update(t - o)
            sc.extra.update(o - t)
            sc.diffs.append(f"  frame {frame}: tshark {sorted(t)} ours {sorted(o)}")
    return sc


def run(files: list[Path] | None = None, verbose: bool = False,
        max_diffs: int = 5) -> tuple[float, float, list[FileScore]]:
    """Score captures; return (per-frame agreement, agreement on flagged frames, scores)."""
    files = default_files() if files is None else files
    scores = []
    for path in files:
        label = path.parent.name if path.name.startswith("trace.") else path.name
        sc = score_file(path, label)
        scores.append(sc)
        if sc.error:
            print(f"ERR  {label}: {sc.error}")
            continue
        mark = "ok  " if sc.agree == sc.frames else "DIFF"
        print(f"{mark} {label}: TCP frames {sc.frames}, agree {sc.agree}, "
              f"flagged {sc.flagged_agree}/{sc.flagged}")
        if sc.diffs and (verbose or mark == "DIFF"):
            for d in sc.diffs[: max_diffs if not verbose else len(sc.diffs)]:
                print(d)
            if len(sc.diffs) > max_diffs and not verbose:
                print(f"  ... {len(sc.diffs) - max_diffs} more")
    frames = sum(s.frames for s in scores) or 1
    agree = sum(s.agree for s in scores)
    flagged = sum(s.flagged for s in scores) or 1
    flagged_agree = sum(s.flagged_agree for s in scores)
    missing: Counter[str] = Counter()
    extra: Counter[str] = Counter()
    for s in scores:
        missing.update(s.missing)
        extra.update(s.extra)
    print(f"files: {len(scores)} ({sum(1 for s in scores if s.agree == s.frames)} fully agreeing,"
          f" {sum(1 for s in scores if s.error)} errors)")
    if missing:
        print("tshark only: " + ", ".join(f"{k} {v}" for k, v in missing.most_common()))
    if extra:
        print("ours only:   " + ", ".join(f"{k} {v}" for k, v in extra.most_common()))
    print(f"flagged frames agreement: {flagged_agree / flagged:.2%} ({flagged_agree}/{flagged})")
    print(f"per-frame agreement: {agree / frames:.2%} ({agree}/{frames})")
    return agree / frames, flagged_agree / flagged, scores


def main() -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("-v", "--verbose", action="store_true", help="print every differing frame")
    ap.add_argument("--diffs", type=int, default=5, help="differing frames shown per file")
    args = ap.parse_args()
    if shutil.which("tshark") is None:
        print("tshark not found", file=sys.stderr)
        return 2
    run(args.files or None, args.verbose, args.diffs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
