"""The Zeek reading reproduces Zeek's own mechanics; our own fields say what really happened.

Zeek's reassembler never receives payload that the snap length cut, or segments the capture
missed, so the peer's ACK of them is a content gap (``G``/``g``).  Its SYN-attempt timer and
its reuse rule log one connection attempt as several conn.log rows (``zeek.rows``).
"""

from __future__ import annotations

import io
from pathlib import Path

from tcpflow_analyzer.pipeline import analyze_to_report
from tcpflow_analyzer.render.zeeklog import render_zeek
from tcpflow_analyzer.segment import ACK, FIN, PSH, SYN
from tcpflow_analyzer.tracker import TrackerConfig

from .builders import Conv
from .capbuild import ether, pcap_bytes, tcp4

O_ISN, R_ISN = 1000, 5000


def _frames(steps: list[tuple[str, int, int, int, int]]) -> list[bytes]:
    """(who, flags, seq offset, ack offset, payload length) -> Ethernet frames."""
    out = []
    for who, flags, seq, ack, plen in steps:
        o = who == "o"
        kw = {"sport": 40000, "dport": 80} if o else {"sport": 80, "dport": 40000}
        src, dst = (b"\xc0\x00\x02\x01", b"\xc6\x33\x64\x02")
        if not o:
            src, dst = dst, src
        isn, peer = (O_ISN, R_ISN) if o else (R_ISN, O_ISN)
        frame = tcp4(src=src, dst=dst, seq=isn + seq, ack=(peer + ack) if flags & ACK else 0,
                     flags=flags, payload=b"x" * plen, **kw)  # type: ignore[arg-type]
        out.append(ether(frame))
    return out


_CONVERSATION = [
    ("o", SYN, 0, 0, 0), ("r", SYN | ACK, 0, 1, 0), ("o", ACK, 1, 1, 0),
    ("o", PSH | ACK, 1, 1, 100), ("r", PSH | ACK, 1, 101, 200), ("o", ACK, 101, 201, 0),
    ("o", FIN | ACK, 101, 201, 0), ("r", FIN | ACK, 201, 102, 0), ("o", ACK, 102, 202, 0),
]


def _analyze(tmp_path: Path, frames: list[bytes], snaplen: int = 65535) -> dict:  # type: ignore[type-arg]
    path = tmp_path / "c.pcap"
    path.write_bytes(pcap_bytes([(1000 + i, 0, f) for i, f in enumerate(frames)], snaplen=snaplen))
    return analyze_to_report([str(path)], TrackerConfig(checksums="off"))  # type: ignore[return-value]


def test_header_only_capture_is_a_zeek_content_gap_in_both_directions(tmp_path: Path) -> None:
    # snaplen 54 = Ethernet + IPv4 + TCP headers: every payload is cut
    (c,) = _analyze(tmp_path, _frames(_CONVERSATION), snaplen=54)["connections"]
    # our own fields: the bytes were sent and acknowledged, nothing was lost
    assert (c["bytes"], c["missed_bytes"], c["anomalies"]) == (
        {"orig": 100, "resp": 200}, {"orig": 0, "resp": 0}, {})
    # Zeek's reassembler got none of it: resp's ACK reveals G, orig's ACK g
    assert (c["zeek"]["conn_state"], c["zeek"]["history"]) == ("SF", "ShADdGgFf")


def test_whole_capture_has_no_zeek_gap(tmp_path: Path) -> None:
    (c,) = _analyze(tmp_path, _frames(_CONVERSATION))["connections"]
    assert (c["zeek"]["conn_state"], c["zeek"]["history"]) == ("SF", "ShADdFf")


def test_ack_above_anything_captured_is_a_zeek_gap(tmp_path: Path) -> None:
    # the capture missed orig's only data segment; resp's ACK of it is beyond orig's SND.NXT
    steps = [s for s in _CONVERSATION if s[4] != 100]
    (c,) = _analyze(tmp_path, _frames(steps))["connections"]
    assert c["anomalies"]["ack_above_snd_nxt"] == 1
    assert c["zeek"]["history"] == "ShAdGFf"


def test_syn_attempt_timer_splits_one_attempt_into_two_zeek_rows() -> None:
    c = Conv(dt=1.0)
    for _ in range(3):  # SYNs at 1, 2, 3 s: the 5 s attempt timer fires at 6 s
        c.send("o", SYN, seq=O_ISN, ack=0, advance=False)
    c.dt = 5.0
    c.send("o", SYN, seq=O_ISN, ack=0, advance=False)  # 8 s: a new Zeek connection
    (f,) = c.finish()
    assert f["anomalies"] == {"syn_retransmission": 3}  # ours: one attempt, retried
    assert [(r["conn_state"], r["history"], r["packets"]["orig"], r["duration_s"])
            for r in f["zeek"]["rows"]] == [("S0", "S", 3, 2.0), ("S0", "S", 1, 0.0)]


def test_zeek_conn_log_writes_every_row(tmp_path: Path) -> None:
    c = Conv(dt=6.0)
    c.send("o", SYN, seq=O_ISN, ack=0, advance=False)
    c.send("o", SYN, seq=O_ISN, ack=0, advance=False)
    out = io.StringIO()
    render_zeek(c.finish(), out, now=0)
    rows = [ln.split("\t") for ln in out.getvalue().splitlines() if not ln.startswith("#")]
    assert [(r[0], r[11], r[15], r[16]) for r in rows] == [
        ("1006.000000", "S0", "S", "1"), ("1012.000000", "S0", "S", "1")]
    assert len({r[1] for r in rows}) == 2  # one uid per row


def _offloaded(frames: list[bytes]) -> list[bytes]:
    """orig's segments as a host with checksum offload captures them: the TCP checksum
    field holds only the folded pseudo-header sum."""
    out = []
    for f in frames:
        ip = f[14:]
        if ip[12:16] == b"\xc0\x00\x02\x01":  # from orig
            seglen = len(ip) - 20
            partial = (int.from_bytes(ip[12:20], "big") + 6 + seglen) % 0xFFFF or 0xFFFF
            f = f[:14 + 20 + 16] + partial.to_bytes(2, "big") + f[14 + 20 + 18:]
        out.append(f)
    return out


def test_strict_checksums_zeek_drops_offloaded_segments_we_keep(tmp_path: Path) -> None:
    frames = _offloaded(_frames(_CONVERSATION))
    path = tmp_path / "c.pcap"
    path.write_bytes(pcap_bytes([(1000 + i, 0, f) for i, f in enumerate(frames)]))
    (c,) = analyze_to_report([str(path)], TrackerConfig(checksums="strict"))["connections"]
    # ours: offload is not corruption, the connection happened as captured
    assert (c["outcome"], c["bytes"], "bad_checksum" in c["anomalies"]) == (
        "closed", {"orig": 100, "resp": 200}, False)
    # Zeek validates them and drops every orig segment: its bad SYN alone is one row, the
    # SYN-ACK starts another (flipped: port 80 is a likely server port)
    assert [(r["conn_state"], r["history"]) for r in c["zeek"]["rows"]] == [
        ("OTH", "C"), ("SHR", "^hCdf")]
    (auto,) = analyze_to_report([str(path)], TrackerConfig())["connections"]
    assert (auto["zeek"]["conn_state"], auto["zeek"]["history"]) == ("SF", "ShADdFf")
