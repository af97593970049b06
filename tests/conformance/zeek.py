"""Zeek conformance scoreboard: our ``conn_state`` / ``history`` against Zeek's own baselines.

Usage: ``python tests/conformance/zeek.py [CORPUS_DIR] [-v]`` (default ``tests/data/zeek-corpus``).

For every entry of the corpus MANIFEST we analyze the trace with the checksum policy the
btest used (``-C`` means checksums are ignored; otherwise Zeek drops bad ones, which is our
``strict`` mode), take the TCP rows of the expected ``conn.log`` and match them to our
connections by 4-tuple and order (by order alone when a zeek-cut baseline has no 4-tuple
columns).  Where Zeek's own mechanics log one of our connections as several rows, the
Zeek reading lists them (``zeek.rows``) and each is matched as a row of its own.  A row that
Zeek has and we lack (or the other way round) counts as a disagreement.  The last lines are
the totals; the test suite holds the line on the figure *without* the 1,333 identical rows of
``mac-logging--conn3`` (``OTHER_ROWS``), which would otherwise lift every total above 98 %.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tcpflow_analyzer.pipeline import analyze_to_report  # noqa: E402
from tcpflow_analyzer.tracker import TrackerConfig  # noqa: E402

DEFAULT_CORPUS = ROOT / "tests" / "data" / "zeek-corpus"
#: the entry left out of the headline figure: 1,333 identical one-RST rows
BULK_ENTRY = "scripts.policy.protocols.conn.mac-logging--conn3"
_ID_ALIASES = {
    "src_ip": "id.orig_h", "src_port": "id.orig_p", "dst_ip": "id.resp_h", "dst_port": "id.resp_p",
}


@dataclass
class EntryScore:
    """Per-entry result: matched rows and the differences found."""

    name: str
    rows: int = 0
    state_ok: int = 0
    history_ok: int = 0
    diffs: list[str] = field(default_factory=list)


def read_conn_log(path: Path) -> list[dict[str, str]]:
    """Rows of a btest baseline conn.log (zeek-ascii or zeek-cut), as dicts."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    lines = [ln for ln in lines if not ln.startswith("### ")]
    fields: list[str] | None = None
    rows: list[dict[str, str]] = []
    for ln in lines:
        if ln.startswith("#fields"):
            fields = [_ID_ALIASES.get(f, f) for f in ln.split("\t")[1:]]
            continue
        if ln.startswith("#") or not ln.strip():
            continue
        if fields is None:  # zeek-cut: the first line is the header
            fields = [_ID_ALIASES.get(f, f) for f in ln.split("\t")]
            continue
        rows.append(dict(zip(fields, ln.split("\t"), strict=False)))
    return rows


#: services of UDP rows (tunnels, NetBIOS name service) in zeek-cut baselines that lack a
#: ``proto`` column; a row whose service is one of them is not a TCP connection
_UDP_SERVICES = frozenset({"geneve", "vxlan", "teredo", "ayiya", "gtpv1", "dns", "netbios-ns",
                           "dhcp", "ntp", "snmp", "syslog"})


def tcp_rows(rows: list[dict[str, str]], tcp_rows: int | None = None) -> list[dict[str, str]]:
    """Only the TCP rows.  Without a ``proto`` column: rows whose service is a UDP one go,
    and rows beyond the MANIFEST's ``tcp_rows`` count whose history is a lone ``D`` (an
    outer UDP flow, which the baseline cannot tell apart otherwise) go too."""
    if rows and "proto" in rows[0]:
        return [r for r in rows if r.get("proto") == "tcp"]
    rows = [r for r in rows if r.get("service", "-") not in _UDP_SERVICES]
    while tcp_rows is not None and len(rows) > tcp_rows and rows[-1].get("history") == "D":
        rows = rows[:-1]
    return rows


def _norm_history(h: str) -> str:
    return "" if h in ("-", "(empty)") else h


def score_entry(name: str, trace: Path, conn_log: Path, command: str,
                tcp_count: int | None = None) -> EntryScore:
    """Analyze one trace and compare its TCP rows with the baseline."""
    no_checks = re.search(r"(^|\s)-[A-Za-z]*C", command) or "ignore_checksums" in command
    checksums = "off" if no_checks else "strict"
    report = analyze_to_report([str(trace)], TrackerConfig(checksums=checksums))
    ours = sorted(_zeek_rows(report["connections"]), key=lambda c: (c["start_ts"], c["id"]))
    expected = tcp_rows(read_conn_log(conn_log), tcp_count)
    res = EntryScore(name, rows=len(expected))
    has_ids = bool(expected) and all(
        k in expected[0] for k in ("id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p"))
    pools: dict[Any, list[dict[str, Any]]] = {}
    for c in ours:
        key = _key(c["orig"]["ip"], c["orig"]["port"], c["resp"]["ip"], c["resp"]["port"]) \
            if has_ids else None
        pools.setdefault(key, []).append(c)
    # Without 4-tuple columns only the order is left, and Zeek writes a row when it removes
    # the connection: at the end of a trace in its hash table's order, which says nothing
    # about ours.  So a row first takes one of ours that agrees with it, if any, and only the
    # rest are paired in order.
    picked: dict[int, dict[str, Any]] = {}
    if not has_ids:
        pool = pools.get(None) or []
        for i, row in enumerate(expected):
            same = next((c for c in pool if _agrees(row, c)), None)
            if same is not None:
                pool.remove(same)
                picked[i] = same
    for i, row in enumerate(expected):
        key = _key(row["id.orig_h"], row["id.orig_p"], row["id.resp_h"], row["id.resp_p"]) \
            if has_ids else None
        pool = pools.get(key) or []
        if not pool and key is not None:  # same 4-tuple, roles the other way round
            pool = pools.get((key[2], key[3], key[0], key[1])) or []
        mine = picked.get(i) or (pool.pop(0) if pool else None)
        want_state = row.get("conn_state")
        want_hist = _norm_history(row.get("history", ""))
        got_state = mine["zeek"]["conn_state"] if mine else "<missing>"
        got_hist = mine["zeek"]["history"] if mine else "<missing>"
        state_ok = want_state is None or want_state == got_state
        hist_ok = want_hist == got_hist
        res.state_ok += state_ok
        res.history_ok += hist_ok
        if not (state_ok and hist_ok):
            tup = f"{row.get('id.orig_h')}:{row.get('id.orig_p')}->" \
                  f"{row.get('id.resp_h')}:{row.get('id.resp_p')}" if has_ids else "(no ids)"
            res.diffs.append(
                f"  {tup}: conn_state {want_state} vs ours {got_state}; "
                f"history {want_hist or '-'} vs ours {got_hist or '-'}"
            )
    extra = sum(len(p) for p in pools.values())
    if extra and has_ids:
        res.diffs.append(f"  we report {extra} TCP connection(s) that Zeek does not log")
    return res


def _agrees(row: dict[str, str], c: dict[str, Any]) -> bool:
    want = row.get("conn_state")
    return (want is None or want == c["zeek"]["conn_state"]) and \
        _norm_history(row.get("history", "")) == c["zeek"]["history"]


def _zeek_rows(conns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per conn.log row of the Zeek reading (most connections are one row)."""
    out = []
    for c in conns:
        rows = c["zeek"].get("rows")
        if not rows:
            out.append(c)
            continue
        for i, row in enumerate(rows):
            o, r = (c["resp"], c["orig"]) if row["flipped"] else (c["orig"], c["resp"])
            out.append({"id": (c["id"], i), "start_ts": row["ts"], "orig": o, "resp": r,
                        "zeek": row})
    return out


def _key(oh: str, op: Any, rh: str, rp: Any) -> tuple[str, int, str, int]:
    return (oh, int(op), rh, int(rp))


def run(corpus: Path, verbose: bool) -> tuple[float, float, list[EntryScore]]:
    """Score every MANIFEST entry; return (conn_state ratio, history ratio, entries)."""
    with (corpus / "MANIFEST.tsv").open(encoding="utf-8") as fh:
        manifest = list(csv.DictReader(fh, delimiter="\t"))
    scores = []
    for entry in manifest:
        name = entry["test_name"]
        trace = corpus / entry["trace_file"]
        log = corpus / name / "conn.log"
        count = entry.get("tcp_rows", "")
        sc = score_entry(name, trace, log, entry["zeek_command"],
                         int(count) if count.isdigit() else None)
        scores.append(sc)
        mark = "ok " if sc.state_ok == sc.rows and sc.history_ok == sc.rows else "DIFF"
        print(f"{mark} {name}: rows {sc.rows}, conn_state {sc.state_ok}/{sc.rows}, "
              f"history {sc.history_ok}/{sc.rows}")
        if verbose or mark == "DIFF":
            for d in sc.diffs[: 20 if verbose else 5]:
                print(d)
    rows = sum(s.rows for s in scores) or 1
    st = sum(s.state_ok for s in scores) / rows
    hi = sum(s.history_ok for s in scores) / rows
    entries_ok = sum(1 for s in scores if s.state_ok == s.rows and s.history_ok == s.rows)
    print(f"entries fully agreeing: {entries_ok}/{len(scores)}")
    print(f"TCP rows: {rows}")
    print(f"conn_state agreement: {st:.2%} ({sum(s.state_ok for s in scores)}/{rows})")
    print(f"history agreement: {hi:.2%} ({sum(s.history_ok for s in scores)}/{rows})")
    return st, hi, scores


def other_rows(scores: list[EntryScore]) -> tuple[float, float, int]:
    """(conn_state ratio, history ratio, rows) over every entry but ``BULK_ENTRY``."""
    rest = [s for s in scores if s.name != BULK_ENTRY]
    rows = sum(s.rows for s in rest) or 1
    return (sum(s.state_ok for s in rest) / rows, sum(s.history_ok for s in rest) / rows, rows)


def print_other_rows(scores: list[EntryScore]) -> tuple[float, float]:
    """Print and return the headline figure (without ``BULK_ENTRY``)."""
    st, hi, rows = other_rows(scores)
    print(f"without {BULK_ENTRY} ({rows} rows): conn_state {st:.2%} "
          f"({round(st * rows)}/{rows}), history {hi:.2%} ({round(hi * rows)}/{rows})")
    return st, hi


def main() -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", nargs="?", default=str(DEFAULT_CORPUS))
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    print_other_rows(run(Path(args.corpus), args.verbose)[2])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
