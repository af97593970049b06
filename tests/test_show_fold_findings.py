"""A fold counts the routine findings of a data phase instead of breaking on them."""

from __future__ import annotations

import re
from pathlib import Path

import dpkt
from typer.testing import CliRunner

from tcpflow_analyzer.cli import app

from .test_show_fold import MSS, ORIG_ISN, RESP_ISN, T0, _frame

runner = CliRunner()


def _transfer_with_a_retransmission(path: Path) -> None:
    o, r = ORIG_ISN, RESP_ISN
    ack, psh, syn, fin = dpkt.tcp.TH_ACK, dpkt.tcp.TH_PUSH, dpkt.tcp.TH_SYN, dpkt.tcp.TH_FIN
    frames = [(True, o, 0, syn, 0), (False, r, o + 1, syn | ack, 0), (True, o + 1, r + 1, ack, 0)]
    frames.extend((True, o + 1 + i * MSS, r + 1, ack | psh, MSS) for i in range(20))
    frames.append((True, o + 1 + 5 * MSS, r + 1, ack | psh, MSS))  # segment 6 sent again
    frames.extend((True, o + 1 + i * MSS, r + 1, ack | psh, MSS) for i in range(20, 30))
    end = o + 1 + 30 * MSS
    frames += [(False, r + 1, end, ack, 0), (True, end, r + 1, ack | fin, 0),
               (False, r + 1, end + 1, ack | fin, 0), (True, end + 1, r + 2, ack, 0)]
    with path.open("wb") as fh:
        w = dpkt.pcap.Writer(fh)
        for n, (from_orig, seq, ackno, flags, plen) in enumerate(frames):
            w.writepkt(_frame(from_orig, seq, ackno, flags, plen, False), ts=T0 + n * 0.001)


def test_retransmission_inside_a_data_phase_is_counted_in_the_fold(tmp_path: Path) -> None:
    path = tmp_path / "rexmit.pcap"
    _transfer_with_a_retransmission(path)
    out = runner.invoke(app, ["show", str(path)]).stdout
    folds = [line for line in out.splitlines() if re.search(r"… \d+ segments", line)]
    assert len(folds) == 1, out
    assert "1 retransmission" in folds[0]
    full = runner.invoke(app, ["show", str(path), "--all"]).stdout
    assert "retransmission" in full and not re.search(r"… \d+ segments", full)
