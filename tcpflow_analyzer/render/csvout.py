"""CSV renderer: one row per connection with the fields scripts filter on most.

With several captures every row ends with one more column, ``file``: the capture the
connection came from (as the JSON report's ``file``).  It goes last so that every other
column keeps its position whatever the number of captures, and a single capture's CSV is
unchanged.

Streams: each row is formatted as its connection ends and kept only as text, in a
:class:`~.base.SortedSpool`, so the rows come out in id order with bounded memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any, TextIO

from ..report import FlowReport
from .base import BinaryOut, SortedSpool

COLUMNS = [
    "id", "orig_ip", "orig_port", "resp_ip", "resp_port", "vlan", "initiator", "start_ts",
    "end_ts", "duration_s", "first_frame", "last_frame", "outcome", "handshake",
    "handshake_rtt_s", "syn_retransmissions", "close", "first_fin_by", "reset_by",
    "reset_validity", "time_wait", "final_state_orig", "final_state_resp", "packets_orig",
    "packets_resp", "bytes_orig", "bytes_resp", "anomalies", "zeek_conn_state", "zeek_history",
]
#: The column added, last, when the report spans several captures.
FILE_COLUMN = "file"


def flow_row(f: FlowReport) -> dict[str, Any]:
    """Flatten one flow report into the CSV columns."""
    reset = f["reset"] or {}
    return {
        "id": f["id"], "orig_ip": f["orig"]["ip"], "orig_port": f["orig"]["port"],
        "resp_ip": f["resp"]["ip"], "resp_port": f["resp"]["port"],
        "vlan": ".".join(str(v) for v in f["vlan"]), "initiator": f["initiator"],
        "start_ts": f"{f['start_ts']:.6f}", "end_ts": f"{f['end_ts']:.6f}",
        "duration_s": f"{f['duration_s']:.6f}", "first_frame": f["first_frame"],
        "last_frame": f["last_frame"], "outcome": f["outcome"],
        "handshake": f["handshake"]["status"],
        "handshake_rtt_s": "" if f["handshake"]["rtt_s"]["total"] is None
        else f"{f['handshake']['rtt_s']['total']:.6f}",
        "syn_retransmissions": f["handshake"]["syn_retransmissions"],
        "close": f["close"]["pattern"], "first_fin_by": f["close"]["first_fin_by"] or "",
        "reset_by": reset.get("by", ""), "reset_validity": reset.get("validity", ""),
        "time_wait": ";".join(f"{t['endpoint']}@{t['frame']}" for t in f["time_wait"]),
        "final_state_orig": f["final_state"]["orig"], "final_state_resp": f["final_state"]["resp"],
        "packets_orig": f["packets"]["orig"], "packets_resp": f["packets"]["resp"],
        "bytes_orig": f["bytes"]["orig"], "bytes_resp": f["bytes"]["resp"],
        "anomalies": ";".join(f"{k}={v}" for k, v in f["anomalies"].items()),
        "zeek_conn_state": f["zeek"]["conn_state"], "zeek_history": f["zeek"]["history"],
    }


class CsvWriter:
    """``--format csv``: a header, then one row per connection in id order."""

    def __init__(self, out: TextIO, spool_dir: str | None = None) -> None:
        self.out = out
        self.spool = SortedSpool(spool_dir)
        self._text = io.StringIO()
        self._csv = csv.writer(self._text, lineterminator="\n")
        self._files = False  # whether the connections carry the capture they came from

    def _line(self, values: list[Any]) -> bytes:
        text = self._text
        text.seek(0)
        text.truncate()
        self._csv.writerow(values)
        return text.getvalue().encode("utf-8", "surrogateescape")

    def flow(self, flow: FlowReport) -> None:
        """Format one finished connection's row and keep its text until :meth:`finish`."""
        row = flow_row(flow)
        values = [row[c] for c in COLUMNS]
        if FILE_COLUMN in flow:  # every connection has it when there are several captures
            self._files = True
            values.append(flow[FILE_COLUMN])
        self.spool.add((0.0, flow["id"]), self._line(values))

    def finish(self, capture: dict[str, Any], summary: dict[str, Any],
               sections: Mapping[str, Any] | None = None) -> None:
        """Write the header and every row (a CSV holds one table: ``capture``, ``summary``
        and extra ``sections`` are not part of it); with several captures the header ends
        with ``file`` (even when no connection passed the filters)."""
        out = BinaryOut(self.out)
        several = self._files or len(capture.get("files", ())) > 1
        out.write(self._line([*COLUMNS, FILE_COLUMN] if several else COLUMNS))
        out.write_all(self.spool.drain())
        out.flush()


def render_csv(flows: list[FlowReport], out: TextIO) -> None:
    """Write a header and one row per connection."""
    writer = CsvWriter(out)
    for f in flows:
        writer.flow(f)
    writer.finish({}, {})
