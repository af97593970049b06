"""Header-only captures (issue 11): a snaplen that cuts inside the TCP options.

``tcpdump -s 64`` (or any snaplen of 60-96, common for privacy) keeps the fixed 20-byte TCP
header of every segment but cuts the options.  The fixed header holds everything the
tracker needs, so such segments are decoded with their options marked as not captured;
only a frame cut inside the fixed header is ``truncated``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpflow_analyzer.pipeline import analyze_to_report
from tcpflow_analyzer.segment import ACK, SYN
from tcpflow_analyzer.tracker import TrackerConfig

from . import capbuild as cb

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
OPTS = cb.NOP + cb.NOP + cb.opt_timestamps(1, 2)  # a 32-byte TCP header
SYN_OPTS = cb.opt_mss(1460) + cb.opt_sack_ok() + cb.opt_timestamps(5, 0) + cb.NOP + \
    cb.opt_wscale(7)  # Linux's 40-byte SYN header


@pytest.mark.parametrize("ipver", [4, 6])
@pytest.mark.parametrize("cut_into_tcp", [20, 21, 24, 31])
def test_frame_cut_inside_tcp_options_is_decoded_from_the_fixed_header(
    ipver: int, cut_into_tcp: int,
) -> None:
    l3 = (cb.tcp4 if ipver == 4 else cb.tcp6)(options=OPTS, flags=cb.DATA_FLAGS, payload=b"data")
    ip_len = 20 if ipver == 4 else 40
    seg, dec = cb.decode_one(101, l3[: ip_len + cut_into_tcp])
    assert seg is not None, dec.skipped
    assert cb.seg_fields(seg) == cb.expected_fields(ipver=ipver, flags=cb.DATA_FLAGS, plen=4,
                                                    csum_ok=None)
    assert (seg.tsval, seg.tsecr, seg.sack, seg.syn_opts) == (None, None, None, None)
    assert (dec.skipped, dec.options_not_captured, dec.payload_truncated) == ({}, 1, 1)


def test_syn_with_options_cut_has_no_syn_options_rather_than_empty_ones() -> None:
    """"No options captured" must not read as "a SYN without MSS / window scale"."""
    frame = cb.ether(cb.tcp4(options=SYN_OPTS, flags=SYN))
    seg, dec = cb.decode_one(1, frame[:64])
    assert seg is not None and seg.flags == SYN and seg.syn_opts is None
    assert (dec.options_not_captured, dec.payload_truncated) == (1, 0)
    whole, _ = cb.decode_one(1, frame)
    assert whole is not None and whole.syn_opts is not None and whole.syn_opts.wscale == 7


def test_pure_ack_with_options_cut_is_not_payload_truncated() -> None:
    frame = cb.ether(cb.tcp4(options=OPTS, flags=ACK, ack=1))
    seg, dec = cb.decode_one(1, frame[:60])
    assert seg is not None and seg.plen == 0
    assert (dec.skipped, dec.options_not_captured, dec.payload_truncated) == ({}, 1, 0)


def _cut_capture(src: Path, snaplen: int, tmp_path: Path) -> str:
    """The capture as ``tcpdump -s SNAPLEN`` would have written it."""
    _, frames = cb.read_all(str(src))
    packets = [(int(ts), round((ts - int(ts)) * 1e6), data) for _, ts, _, data in frames]
    return cb.write(tmp_path, f"{src.stem}-s{snaplen}.pcap",
                    cb.pcap_bytes(packets, snaplen=snaplen))


_KEEP = ("outcome", "handshake", "close", "reset", "packets", "bytes", "final_state",
         "transitions", "time_wait", "anomalies")


_CUTS = [(s, n) for s in ("kernel-basic.pcap", "kernel-server-closes.pcap",
                          "kernel-rst-linger0.pcap") for n in (60, 64, 68, 80, 96)]
_CUTS += [("kernel-ipv6.pcap", n) for n in (76, 80, 96)]  # 14 + 40 + 20 bytes of headers


@pytest.mark.parametrize(("sample", "snaplen"), _CUTS)
def test_header_only_kernel_capture_tracks_the_same_connections(
    sample: str, snaplen: int, tmp_path: Path,
) -> None:
    """A real Linux capture cut to a header-only snaplen tells the same story as the whole
    capture: same connections, outcome, states, Zeek history, packet and byte counts.  (The
    Zeek reading adds Zeek's own gap letters G/g where the snap length cut payload, as
    Zeek's reassembler does; the rest of its history is the same.)"""
    cfg = TrackerConfig()
    full = analyze_to_report([str(SAMPLES / sample)], cfg)
    cut = analyze_to_report([_cut_capture(SAMPLES / sample, snaplen, tmp_path)], cfg)
    assert cut["capture"]["tcp_segments"] == full["capture"]["tcp_segments"]
    assert cut["capture"]["skipped"] == {}
    assert [{k: c[k] for k in _KEEP if k != "handshake"} for c in cut["connections"]] == [
        {k: c[k] for k in _KEEP if k != "handshake"} for c in full["connections"]]
    for c, f in zip(cut["connections"], full["connections"], strict=True):
        assert c["zeek"]["conn_state"] == f["zeek"]["conn_state"]
        assert c["zeek"]["history"].replace("G", "").replace("g", "") == f["zeek"]["history"]
        hs = {k: v for k, v in c["handshake"].items() if k != "options"}
        assert hs == {k: v for k, v in f["handshake"].items() if k != "options"}
    if cut["capture"].get("options_not_captured"):
        assert any("header-only" in w for w in cut["capture"]["warnings"])


def test_header_only_capture_reports_options_and_window_scale_as_unknown(
    tmp_path: Path,
) -> None:
    rep = analyze_to_report([_cut_capture(SAMPLES / "kernel-basic.pcap", 64, tmp_path)],
                            TrackerConfig())
    conn = rep["connections"][0]
    assert conn["handshake"]["options"]["orig"] is None
    assert conn["handshake"]["options"]["resp"] is None
    assert conn["measurements"]["window_scale"]["status"] == "unknown"
    assert rep["capture"]["options_not_captured"] == rep["capture"]["tcp_segments"] == 11
