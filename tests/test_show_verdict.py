"""``show``'s verdict says only what the ladder above it draws, on every capture we have.

Each sentence is checked against the ladder's own rows: every frame it cites is an arrow of
the (folded) ladder, of the kind the sentence names; the state paths it names are the states
drawn beside the arrows; and what it says never happened (no reply, no final ACK, no FIN, no
data) is not drawn.  The captures are ``samples/`` and the Zeek corpus in ``tests/data``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tcpflow_analyzer.ladder import Arrow, Ladder, LadderCollector, build_ladder
from tcpflow_analyzer.pipeline import Analyzer
from tcpflow_analyzer.segment import ACK, FIN, RST, SYN
from tcpflow_analyzer.seqnum import seq_add, seq_diff
from tcpflow_analyzer.sources.pcapfile import open_capture
from tcpflow_analyzer.tracker import TrackerConfig

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = sorted(
    [p for p in (ROOT / "samples").rglob("*") if p.suffix in (".pcap", ".pcapng")]
    + sorted((ROOT / "tests" / "data" / "zeek-corpus").glob("*/trace.*")))
_KIND = {"SYN": lambda f: f & SYN and not f & ACK, "SYN+ACK": lambda f: f & SYN and f & ACK,
         "FIN": lambda f: f & FIN, "ACK": lambda f: f & ACK, "RST": lambda f: f & RST}
_STATE = r"[A-Z][A-Z0-9-]+"


def _ladders(path: Path) -> list[tuple[Ladder, Ladder]]:
    """(default folded ladder, every-segment ladder) per connection."""
    collector = LadderCollector(None)
    analyzer = Analyzer(TrackerConfig(), collector.on_flow)
    analyzer.feed(open_capture(str(path)), collector.on_segment)
    analyzer.finish()
    return [(build_ladder(t), build_ladder(t, fold=None)) for t in collector.sorted_traces()]


def _states(arrows: list[Arrow], role: str) -> list[str]:
    return [s for a in arrows for s in (a.orig_states if role == "orig" else a.resp_states)]


def disagreements(folded: Ladder, full: Ladder) -> list[str]:
    """What the verdict says that the ladder does not draw (empty when they agree)."""
    arrows = full.arrows
    drawn = {a.frame: a for a in folded.arrows}
    # durations and sizes are not frame numbers
    text = re.sub(r"\d+(\.\d+)? ?(µs|ms|s|kB|MB|GB|B)\b", "#", " ".join(full.verdict))
    out = []
    for m in re.finditer(r"frames? (\d+(?:(?:, | and )\d+)*)", text):
        out += [f"frame {f} is not drawn" for f in re.findall(r"\d+", m.group(1))
                if int(f) not in drawn]
    # a segment kind and the frame in the parentheses after it, with no other kind between
    for m in re.finditer(r"\b(SYN\+ACK|SYN|FIN|ACK|RST)\b(?:(?!SYN|FIN|ACK|RST)[^().;]){0,40}?"
                         r"\(frames? (\d+)", text):
        a = drawn.get(int(m.group(2)))
        if a is not None and not _KIND[m.group(1)](a.flags):
            out.append(f"names frame {a.frame} a {m.group(1)}; the ladder draws {a.label}")
    # "(FIN, frame 8)", "(FIN+ACK, frame 10)", "with RST at frame 9"
    for m in re.finditer(r"(?:\(|with )(SYN\+ACK|SYN|FIN|ACK|RST)[A-Z+]*(?:, | at )frames? (\d+)",
                         text):
        a = drawn.get(int(m.group(2)))
        if a is not None and not _KIND[m.group(1)](a.flags):
            out.append(f"names frame {a.frame} a {m.group(1)}; the ladder draws {a.label}")
    # who sent it: "orig's ACK (frame 3)", "resp ACKed it ... (frame 9)", "orig ACKed resp's
    # FIN at frame 11", "orig closed first (FIN, frame 8)"
    for m in re.finditer(r"\b(orig|resp)(?:'s [A-Z+]+(?: # later)? \(| ACKed it[^()]*\("
                         r"| ACKed \w+'s FIN at | closed[^()]*\(FIN[A-Z+]*, )frame (\d+)", text):
        a = drawn.get(int(m.group(2)))
        if a is not None and a.sender != m.group(1):
            out.append(f"says {m.group(1)} sent frame {a.frame}; the ladder draws {a.sender}'s")
        if a is not None and "ACKed" in m.group(0) and not a.flags & ACK:
            out.append(f"says frame {a.frame} ACKs; the ladder draws {a.label}")
    for m in re.finditer(r"\b(orig|resp|both|each) (?:went|entered) (" + _STATE + r"(?: → " + _STATE
                         + r")*)", text):
        for role in ("orig", "resp") if m.group(1) in ("both", "each") else (m.group(1),):
            path = _states(arrows, role)
            want = m.group(2).split(" → ")
            it = iter(path)
            if not all(st in it for st in want):  # a subsequence of the states drawn
                out.append(f"says {role} went {m.group(2)}; the ladder draws {path}")
    if "each answered the other with a SYN+ACK" in text:
        out += [f"says each answered with a SYN+ACK; {r} drew none" for r in ("orig", "resp")
                if not any(a.sender == r and a.flags & SYN and a.flags & ACK for a in arrows)]
    if "final ACK never came" in text:
        synack = next((a for a in arrows if a.sender == "resp" and a.flags & SYN
                       and a.flags & ACK), None)
        acks = [a.frame for a in arrows if synack is not None and a.sender == "orig"
                and a.frame > synack.frame and a.flags & ACK and not a.flags & SYN
                and seq_diff(a.raw_ack, seq_add(synack.raw_seq, 1)) >= 0]
        if acks:
            out.append(f"says the final ACK never came; the ladder draws it at frame {acks[0]}")
    for role in ("orig", "resp"):
        if f"{role} never replied" in text and any(a.sender == role for a in arrows):
            out.append(f"says {role} never replied; the ladder draws its segments")
        if f"{role} never sent a FIN" in text and any(a.sender == role and a.flags & FIN
                                                     for a in arrows):
            out.append(f"says {role} never sent a FIN; the ladder draws one")
    if "No FIN or RST was seen" in text and any(a.flags & (FIN | RST) for a in arrows):
        out.append("says no FIN or RST was seen; the ladder draws one")
    if "No data was exchanged" in text and any(a.plen and not a.dropped for a in arrows):
        out.append("says no data was exchanged; the ladder draws data")
    m = re.search(r"both ESTABLISHED at frame (\d+)", text)
    if m and not (m.group(1).isdigit() and int(m.group(1)) in drawn
                  and "ESTABLISHED" in _states([drawn[int(m.group(1))]], "orig")
                  + _states([drawn[int(m.group(1))]], "resp")):
        out.append(f"says both ESTABLISHED at frame {m.group(1)}; nothing enters it there")
    m = re.search(r"final states: orig (\S+), resp (\S+)\.", text)
    if m and (m.group(1), m.group(2)) != full.final:
        out.append(f"final states {m.groups()} but the ladder ends in {full.final}")
    return out


@pytest.mark.parametrize("capture", CAPTURES, ids=[str(p.relative_to(ROOT)) for p in CAPTURES])
def test_verdict_agrees_with_the_ladder(capture: Path) -> None:
    bad = {f.conn_id: d for f, full in _ladders(capture) if (d := disagreements(f, full))}
    assert not bad


@pytest.mark.parametrize("lie", [
    "so both went SYN-SENT → CLOSING → ESTABLISHED.", "No data was exchanged.",
    "resp closed first (FIN, frame 8).", "orig's SYN+ACK 20.0 ms later (frame 2).",
    "orig reset the connection with RST at frame 8.", "resp never replied.",
    "orig ACKed resp's FIN at frame 10.", "orig's ACK (frame 99).",
])
def test_the_check_catches_a_verdict_that_contradicts_its_ladder(lie: str) -> None:
    from dataclasses import replace

    ((folded, full),) = _ladders(ROOT / "samples" / "handshake-basic.pcap")
    assert disagreements(folded, full) == []
    assert disagreements(folded, replace(full, verdict=(lie,)))


def _capture(tmp_path: Path, steps: list[tuple[str, int, int, int, bool]]) -> Path:
    """(who, flags, seq offset, ack offset, bad checksum) -> a pcap between two hosts."""
    from .capbuild import ether, pcap_bytes, tcp4

    o_addr, r_addr = bytes([192, 0, 2, 1]), bytes([198, 51, 100, 2])
    frames = []
    for i, (who, flags, seq, ack, bad) in enumerate(steps):
        o = who == "o"
        src, dst = (o_addr, r_addr) if o else (r_addr, o_addr)
        isn, peer = (1000, 5000) if o else (5000, 1000)
        frame = tcp4(src=src, dst=dst, sport=40000 if o else 80, dport=80 if o else 40000,
                     seq=isn + seq, ack=peer + ack if flags & ACK else 0, flags=flags,
                     checksum=0x1234 if bad else None)
        frames.append((1000 + i // 100, (i % 100) * 10000, ether(frame)))
    path = tmp_path / "c.pcap"
    path.write_bytes(pcap_bytes(frames))
    return path


def test_a_discarded_final_ack_is_not_a_final_ack_that_never_came(tmp_path: Path) -> None:
    path = _capture(tmp_path, [("o", SYN, 0, 0, False), ("r", SYN | ACK, 0, 1, False),
                               ("o", ACK, 1, 1, True)])
    ((folded, full),) = _ladders(path)
    assert disagreements(folded, full) == []
    assert "orig's ACK (frame 3) was discarded for its bad checksum" in full.verdict[0]


def test_a_simultaneous_open_answered_once_says_so(tmp_path: Path) -> None:
    # both SYNs cross; orig answers with a SYN+ACK, resp with a plain ACK
    path = _capture(tmp_path, [("o", SYN, 0, 0, False), ("r", SYN, 0, 0, False),
                               ("o", SYN | ACK, 0, 1, False), ("r", ACK, 1, 1, False)])
    ((folded, full),) = _ladders(path)
    assert disagreements(folded, full) == []
    assert "each answered" not in full.verdict[0]
