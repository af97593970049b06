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


def _row(f: FlowReport, row: dict[str, Any] | None = None, uid: str = "") -> list[str]:
    """One conn.log line: the connection's own, or ``row``, one of the rows Zeek splits it
    into (``zeek.earlier_rows``; those carry their own start, counters and no gaps)."""
    last = row is None
    z: dict[str, Any] = f["zeek"] if row is None else row
    dur = z["duration_s"]
    has_dur = dur > 0
    nbytes = z["bytes"] if "bytes" in z else f["bytes"]
    pkts = z["packets"] if "packets" in z else f["packets"]
    return [
        f"{z.get('start_ts', f['start_ts']):.6f}", f"C{f['id']}{uid}", f["orig"]["ip"],
        str(f["orig"]["port"]), f["resp"]["ip"], str(f["resp"]["port"]), "tcp", "-",
        f"{dur:.6f}" if has_dur else "-",
        str(nbytes["orig"]) if has_dur else "-", str(nbytes["resp"]) if has_dur else "-",
        z["conn_state"], "-", "-",
        str(f["missed_bytes"]["orig"] + f["missed_bytes"]["resp"]) if last else "0",
        z["history"] or "-", str(pkts["orig"]), "-", str(pkts["resp"]),
        "-", "-",
    ]


def _rows(f: FlowReport) -> list[list[str]]:
    earlier = f["zeek"].get("earlier_rows") or []
    return [_row(f, z, f".{i}") for i, z in enumerate(earlier, 1)] + [_row(f)]


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


