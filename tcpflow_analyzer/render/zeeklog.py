"""Zeek ``conn.log`` renderer (TSV with Zeek's header lines, so ``zeek-cut`` works on it).

Columns we cannot know without Zeek's application analyzers (``service``, ``local_*``,
``tunnel_parents``) and the IP-level byte counters are written as unset (``-``); ``uid`` is
``C`` plus our connection id.  ``orig_bytes``/``resp_bytes`` are payload bytes on the wire.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, TextIO

from ..report import FlowReport
from .base import BinaryOut, SortedSpool

FIELDS = [
    ("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"),
    ("id.resp_h", "addr"), ("id.resp_p", "port"), ("proto", "enum"), ("service", "string"),
    ("duration", "interval"), ("orig_bytes", "count"), ("resp_bytes", "count"),
    ("conn_state", "string"), ("local_orig", "bool"), ("local_resp", "bool"),
    ("missed_bytes", "count"), ("history", "string"), ("orig_pkts", "count"),
    ("orig_ip_bytes", "count"), ("resp_pkts", "count"), ("resp_ip_bytes", "count"),
    ("tunnel_parents", "set[string]"),
]


def _rows(f: FlowReport) -> list[list[str]]:
    """The connection's conn.log lines: one, or one per row of ``zeek.rows`` when Zeek's own
    mechanics (its SYN-attempt timer, its reuse rule) log it as several (uid ``C<id>``, then
    ``C<id>n2``, ``C<id>n3`` ...).  Missed bytes go to the last row."""
    z = f["zeek"]
    rows = z.get("rows")
    if not rows:
        return [_line(f, f"C{f['id']}", f["start_ts"], z["duration_s"], False, f["bytes"],
                      f["packets"], z["conn_state"], z["history"],
                      f["missed_bytes"]["orig"] + f["missed_bytes"]["resp"])]
    out = []
    for i, row in enumerate(rows):
        last = i == len(rows) - 1
        missed = f["missed_bytes"]["orig"] + f["missed_bytes"]["resp"] if last else 0
        out.append(_line(f, f"C{f['id']}" if i == 0 else f"C{f['id']}n{i + 1}", row["ts"],
                         row["duration_s"], row["flipped"], row["bytes"], row["packets"],
                         row["conn_state"], row["history"], missed))
    return out


def _line(f: FlowReport, uid: str, ts: float, dur: float, flipped: bool,
          byts: dict[str, int], pkts: dict[str, int], state: str, history: str,
          missed: int) -> list[str]:
    has_dur = dur > 0
    o, r = (f["resp"], f["orig"]) if flipped else (f["orig"], f["resp"])
    return [
        f"{ts:.6f}", uid, o["ip"], str(o["port"]), r["ip"], str(r["port"]), "tcp", "-",
        f"{dur:.6f}" if has_dur else "-",
        str(byts["orig"]) if has_dur else "-", str(byts["resp"]) if has_dur else "-",
        state, "-", "-", str(missed), history or "-", str(pkts["orig"]), "-",
        str(pkts["resp"]), "-", "-",
    ]


class ZeekWriter:
    """``--format zeek``: the conn.log header, one line per connection in order of start
    time (then id), and the ``#close`` trailer.  Each line is formatted as its connection
    ends and kept only as text, in a :class:`~.base.SortedSpool` (bounded memory)."""

    def __init__(self, out: TextIO, spool_dir: str | None = None,
                 now: float | None = None) -> None:
        self.out = out
        self.now = now
        self.spool = SortedSpool(spool_dir)

    def flow(self, flow: FlowReport) -> None:
        """Format one finished connection's line and keep it until :meth:`finish`."""
        line = "".join("\t".join(row) + "\n" for row in _rows(flow))
        self.spool.add((flow["start_ts"], flow["id"]),
                       line.encode("utf-8", "surrogateescape"))

    def finish(self, capture: dict[str, Any], summary: dict[str, Any],
               sections: Mapping[str, Any] | None = None) -> None:
        """Write the log (a conn.log has one row per connection and nothing else)."""
        now = self.now
        stamp = time.strftime("%Y-%m-%d-%H-%M-%S",
                              time.gmtime(now if now is not None else time.time()))
        out = BinaryOut(self.out)
        head = ("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n"
                "#unset_field\t-\n#path\tconn\n"
                f"#open\t{stamp}\n"
                "#fields\t" + "\t".join(n for n, _ in FIELDS) + "\n"
                "#types\t" + "\t".join(t for _, t in FIELDS) + "\n")
        out.write(head.encode("utf-8"))
        out.write_all(self.spool.drain())
        out.write(f"#close\t{stamp}\n".encode())
        out.flush()


def render_zeek(flows: list[FlowReport], out: TextIO, now: float | None = None) -> None:
    """Write a conn.log: header, one line per connection, ``#close`` trailer."""
    writer = ZeekWriter(out, now=now)
    for f in flows:
        writer.flow(f)
    writer.finish({}, {})


def zeek_fields() -> list[str]:
    """Column names, for tests."""
    return [n for n, _ in FIELDS]


