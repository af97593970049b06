"""``show`` folds long data phases: built captures with a 50-segment transfer (dpkt)."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import dpkt
import pytest
from typer.testing import CliRunner

from tcpflow_analyzer.cli import app

ORIG, RESP = "192.0.2.1", "198.51.100.2"
ORIG_PORT, RESP_PORT = 40000, 80
ORIG_ISN, RESP_ISN = 0x6F3A1C20, 0x2B94E7C1
MSS = 1000
DATA_SEGMENTS = 50
T0 = 1_700_000_000.0

runner = CliRunner()


def _frame(from_orig: bool, seq: int, ack: int, flags: int, payload: int = 0,
           bad_checksum: bool = False) -> bytes:
    """One Ethernet/IPv4/TCP frame with correct checksums (or a broken TCP checksum)."""
    src, dst = (ORIG, RESP) if from_orig else (RESP, ORIG)
    sport, dport = (ORIG_PORT, RESP_PORT) if from_orig else (RESP_PORT, ORIG_PORT)
    tcp = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq & 0xFFFFFFFF, ack=ack & 0xFFFFFFFF,
                       flags=flags, win=502, data=b"x" * payload)
    ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=6, ttl=64,
                    data=tcp)
    raw = bytearray(bytes(ip))
    if bad_checksum:
        raw[20 + 16] ^= 0xFF  # the TCP checksum field (IP header is 20 bytes)
    eth = dpkt.ethernet.Ethernet(src=b"\x02\x00\x00\x00\x00\x01", dst=b"\x02\x00\x00\x00\x00\x02",
                                 type=dpkt.ethernet.ETH_TYPE_IP, data=bytes(raw))
    return bytes(eth)


def build_transfer(path: Path, *, skip: frozenset[int] = frozenset(), ack_every: int = 0,
                   corrupt: frozenset[int] = frozenset()) -> None:
    """Handshake, ``DATA_SEGMENTS`` data segments orig -> resp (segment numbers in ``skip``
    are left out of the capture, those in ``corrupt`` get a bad TCP checksum), a resp ACK
    every ``ack_every`` segments (0: one ACK at the end), then a four-way close by orig."""
    o, r = ORIG_ISN, RESP_ISN
    frames: list[tuple[bool, int, int, int, int, bool]] = [
        (True, o, 0, dpkt.tcp.TH_SYN, 0, False),
        (False, r, o + 1, dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK, 0, False),
        (True, o + 1, r + 1, dpkt.tcp.TH_ACK, 0, False),
    ]
    ack = dpkt.tcp.TH_ACK
    for i in range(1, DATA_SEGMENTS + 1):
        seq = o + 1 + (i - 1) * MSS
        if i not in skip:
            frames.append((True, seq, r + 1, ack | dpkt.tcp.TH_PUSH, MSS, i in corrupt))
        if ack_every and i % ack_every == 0 and i != DATA_SEGMENTS:
            frames.append((False, r + 1, seq + MSS, ack, 0, False))
    end = o + 1 + DATA_SEGMENTS * MSS
    frames += [
        (False, r + 1, end, ack, 0, False),
        (True, end, r + 1, ack | dpkt.tcp.TH_FIN, 0, False),
        (False, r + 1, end + 1, ack, 0, False),
        (False, r + 1, end + 1, ack | dpkt.tcp.TH_FIN, 0, False),
        (True, end + 1, r + 2, ack, 0, False),
    ]
    with path.open("wb") as fh:
        writer = dpkt.pcap.Writer(fh)
        for n, (from_orig, seq, ackno, flags, plen, bad) in enumerate(frames):
            writer.writepkt(_frame(from_orig, seq, ackno, flags, plen, bad), ts=T0 + n * 0.001)


def _show(*args: str) -> str:
    result = runner.invoke(app, ["show", *args])
    assert result.exit_code == 0, result.stderr
    return result.stdout


def _arrows(text: str) -> list[str]:
    return [line for line in text.splitlines() if "▶" in line or "◀" in line or "✕" in line]


@pytest.fixture
def transfer(tmp_path: Path) -> Path:
    path = tmp_path / "transfer.pcap"
    build_transfer(path)
    return path


def test_long_data_phase_folds_into_one_line(transfer: Path) -> None:
    out = _show(str(transfer))
    # 50 data segments plus resp's ACK of all of them: 51 plain segments, frames 4-54
    assert re.search(r"^ *4…54 .*│ +… 51 segments in 50\.0 ms: orig 50\.0 kB, resp 0 B … +│$",
                     out, re.M), out
    assert "len=1000" not in out
    # handshake and close stay drawn: 3 + 4 arrows
    assert len(_arrows(out)) == 7
    assert "58 segments in" in out  # the heading still counts every segment


def test_all_unfolds_every_segment(transfer: Path) -> None:
    out = _show(str(transfer), "--all")
    assert "… " not in out.split("Verdict")[0]
    assert len(_arrows(out)) == 3 + DATA_SEGMENTS + 1 + 4
    assert sum("len=1000" in line for line in _arrows(out)) == DATA_SEGMENTS
    frames = [int(line.split()[0]) for line in _arrows(out)]
    assert frames == list(range(1, 59))


@pytest.mark.parametrize(("threshold", "folds"), [(50, True), (51, False), (100, False)])
def test_fold_threshold_is_more_than_n(transfer: Path, threshold: int, folds: bool) -> None:
    out = _show(str(transfer), "--fold", str(threshold))
    assert ("… 51 segments" in out) is folds
    assert len(_arrows(out)) == (7 if folds else 58)


def test_anomaly_breaks_the_fold(tmp_path: Path) -> None:
    path = tmp_path / "lost.pcap"
    # segment 15 is not captured; resp's ACK after segment 20 acknowledges it anyway
    build_transfer(path, skip=frozenset({15}), ack_every=10)
    out = _show(str(path))
    flagged = [line for line in out.splitlines() if "ack_lost_segment" in line]
    assert flagged, out
    lines = out.splitlines()
    at = lines.index(flagged[0])
    assert "◀" in lines[at - 1] and "ack=20001" in lines[at - 1]  # the ACK that shows it
    folds = [line for line in lines if re.search(r"… \d+ segments", line)]
    assert len(folds) == 2, out  # one run before the anomaly, one after


def test_bad_checksum_segment_is_drawn_dropped_and_breaks_the_fold(tmp_path: Path) -> None:
    path = tmp_path / "csum.pcap"
    build_transfer(path, corrupt=frozenset({25}))
    result = runner.invoke(app, ["show", str(path), "--checksums", "strict"])
    assert result.exit_code == 0, result.stderr
    dropped = [line for line in result.stdout.splitlines() if "✕" in line]
    assert len(dropped) == 1 and "len=1000" in dropped[0] and "╌" in dropped[0]
    assert "bad_checksum" in result.stdout
    assert len(re.findall(r"… \d+ segments", result.stdout)) == 2


def test_half_close_data_phase_folds(tmp_path: Path) -> None:
    """Data after orig's FIN (FIN-WAIT-2 / CLOSE-WAIT) folds like the ESTABLISHED phase."""
    o, r = ORIG_ISN, RESP_ISN
    ack, fin, syn = dpkt.tcp.TH_ACK, dpkt.tcp.TH_FIN, dpkt.tcp.TH_SYN
    frames = [(True, o, 0, syn, 0), (False, r, o + 1, syn | ack, 0), (True, o + 1, r + 1, ack, 0),
              (True, o + 1, r + 1, fin | ack, 0), (False, r + 1, o + 2, ack, 0)]
    for i in range(10):
        frames.append((False, r + 1 + i * MSS, o + 2, ack, MSS))
        frames.append((True, o + 2, r + 1 + (i + 1) * MSS, ack, 0))
    end = r + 1 + 10 * MSS
    frames += [(False, end, o + 2, fin | ack, 0), (True, o + 2, end + 1, ack, 0)]
    path = tmp_path / "half.pcap"
    with path.open("wb") as fh:
        writer = dpkt.pcap.Writer(fh)
        for n, (fo, seq, ackno, flags, plen) in enumerate(frames):
            writer.writepkt(_frame(fo, seq, ackno, flags, plen), ts=T0 + n * 0.001)
    out = _show(str(path))
    assert "… 20 segments in 19.0 ms: orig 0 B, resp 10.0 kB …" in out
    assert "Half-close" in out


def test_synack_first_capture_flips_roles_and_infers_the_isn(tmp_path: Path) -> None:
    """The SYN was missed: the tracker flips roles (the SYN-ACK's sender is resp), the
    drawing puts the client on the left and numbers orig's bytes from the ISN the SYN-ACK
    acknowledges."""
    o, r = ORIG_ISN, RESP_ISN
    ack, fin, syn, psh = dpkt.tcp.TH_ACK, dpkt.tcp.TH_FIN, dpkt.tcp.TH_SYN, dpkt.tcp.TH_PUSH
    frames = [(False, r, o + 1, syn | ack, 0), (True, o + 1, r + 1, ack, 0),
              (True, o + 1, r + 1, ack | psh, 100), (False, r + 1, o + 101, ack | psh, 50),
              (True, o + 101, r + 51, ack | fin, 0), (False, r + 51, o + 102, ack | fin, 0),
              (True, o + 102, r + 52, ack, 0)]
    path = tmp_path / "synack-first.pcap"
    with path.open("wb") as fh:
        writer = dpkt.pcap.Writer(fh)
        for n, (fo, seq, ackno, flags, plen) in enumerate(frames):
            writer.writepkt(_frame(fo, seq, ackno, flags, plen), ts=T0 + n * 0.01)
    out = _show(str(path))
    assert out.startswith(f"Connection #1: orig {ORIG}:{ORIG_PORT} → resp {RESP}:{RESP_PORT}")
    arrows = _arrows(out)
    assert "◀" in arrows[0] and "SYN+ACK seq=0 ack=1 " in arrows[0]
    assert "PSH+ACK seq=1 ack=1 len=100" in arrows[2] and "▶" in arrows[2]
    assert "The SYN was not captured" in out


@pytest.mark.parametrize("seed", range(40))
def test_random_traffic_always_draws(tmp_path: Path, seed: int) -> None:
    """Arbitrary segments between two endpoints (odd flags, numbers near 2**32, bad
    checksums, long gaps) never break the drawing, and it stays within 100 columns."""
    import random

    rnd = random.Random(seed)
    base = {True: rnd.choice([0, 0xFFFFFF00, rnd.getrandbits(32)]), False: rnd.getrandbits(32)}
    flag_choices = [0x02, 0x12, 0x10, 0x18, 0x11, 0x19, 0x04, 0x14, 0x01, 0x03, 0x06, 0x00, 0x29]
    path = tmp_path / "random.pcap"
    with path.open("wb") as fh:
        writer = dpkt.pcap.Writer(fh)
        ts = T0
        for _ in range(rnd.randint(1, 40)):
            fo = rnd.random() < 0.5
            ts += rnd.choice([0, 1e-5, 0.001, 0.2, 3, 100])
            writer.writepkt(_frame(fo, base[fo] + rnd.randint(-5, 3000),
                                   base[not fo] + rnd.randint(-5, 3000), rnd.choice(flag_choices),
                                   rnd.choice([0, 0, 1, 100]), bad_checksum=rnd.random() < 0.05),
                            ts=ts)
    for extra in ([], ["--all"], ["--fold", "1"], ["--raw-seq"]):
        out = _show(str(path), *extra)
        assert "Verdict" in out
        assert max(len(line) for line in out.splitlines()) <= 100
