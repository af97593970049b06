"""Zeek ``conn.log`` renderer (TSV with Zeek's header lines, so ``zeek-cut`` works on it).

Columns we cannot know without Zeek's application analyzers (``service``, ``local_*``,
``tunnel_parents``) and the IP-level byte counters are written as unset (``-``); ``uid`` is
``C`` plus our connection id.  ``orig_bytes``/``resp_bytes`` are payload bytes on the wire.
"""

from __future__ import annotations

import time
from typing import TextIO

from ..report import FlowReport

FIELDS = [
    ("ts", "time"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"),
    ("id.resp_h", "addr"), ("id.resp_p", "port"), ("proto", "enum"), ("service", "string"),
    ("duration", "interval"), ("orig_bytes", "count"), ("resp_bytes", "count"),
    ("conn_state", "string"), ("local_orig", "bool"), ("local_resp", "bool"),
    ("missed_bytes", "count"), ("history", "string"), ("orig_pkts", "count"),
    ("orig_ip_bytes", "count"), ("resp_pkts", "count"), ("resp_ip_bytes", "count"),
    ("tunnel_parents", "set[string]"),
]


def _row(f: FlowReport) -> list[str]:
    dur = f["zeek"]["duration_s"]
    has_dur = dur > 0
    return [
        f"{f['start_ts']:.6f}", f"C{f['id']}", f["orig"]["ip"], str(f["orig"]["port"]),
        f["resp"]["ip"], str(f["resp"]["port"]), "tcp", "-",
        f"{dur:.6f}" if has_dur else "-",
        str(f["bytes"]["orig"]) if has_dur else "-", str(f["bytes"]["resp"]) if has_dur else "-",
        f["zeek"]["conn_state"], "-", "-",
        str(f["missed_bytes"]["orig"] + f["missed_bytes"]["resp"]),
        f["zeek"]["history"] or "-", str(f["packets"]["orig"]), "-", str(f["packets"]["resp"]),
        "-", "-",
    ]


def render_zeek(flows: list[FlowReport], out: TextIO, now: float | None = None) -> None:
    """Write a conn.log: header, one line per connection, ``#close`` trailer."""
    stamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(now if now is not None else time.time()))
    out.write("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n")
    out.write("#path\tconn\n")
    out.write(f"#open\t{stamp}\n")
    out.write("#fields\t" + "\t".join(n for n, _ in FIELDS) + "\n")
    out.write("#types\t" + "\t".join(t for _, t in FIELDS) + "\n")
    for f in sorted(flows, key=lambda x: (x["start_ts"], x["id"])):
        out.write("\t".join(_row(f)) + "\n")
    out.write(f"#close\t{stamp}\n")


def zeek_fields() -> list[str]:
    """Column names, for tests."""
    return [n for n, _ in FIELDS]


