"""Differential test (STYLE §7): our reader and decoder agree with dpkt on every capture in
``samples/`` and on the Zeek corpus traces (``tests/data/zeek-corpus/*/trace.pcap*``,
skipped when absent).

Reader: frame count, bytes and timestamps equal dpkt.pcap.Reader / dpkt.pcapng.Reader.

Decoder: dpkt parses each frame with its own layer classes (Ethernet with 802.1Q/QinQ and
PPPoE, SLL, SLL2, Loopback, LLC, raw IP4/IP6, IP-in-IP).  dpkt's verdict is one of:

* **TCP** — ours must yield a Segment with the same ports, seq, ack, flags (low 8 bits),
  window, addresses, IP version, VLAN ids (when dpkt decoded the tags) and payload length.
  The payload length is computed from the IP header (IPv4 total length minus header
  lengths; IPv6 payload length minus extension headers), not from ``len(tcp.data)``,
  because dpkt's TCP data is what was captured (snaplen cuts it; a zero IPv4 length, as
  TSO leaves it, makes dpkt keep Ethernet padding); ours is ``plen + link_pad``, as dpkt
  ignores a PPPoE LENGTH shorter than the IP length (see ``Decoder._pppoe``).  The
  checksum verdict is checked against ``dpkt.in_cksum`` over the pseudo-header and segment
  when the whole segment was captured, and must be None otherwise.
* **fragment** — an IPv4 TCP fragment (MF or offset) or an IPv6 non-atomic fragment
  header: dpkt still parses a first fragment's TCP header, but we count ``ip_fragment``.
  (A fragment of UDP & co. is simply "not TCP".)
* **not TCP** — dpkt reached a known non-TCP protocol (UDP, ICMP, ARP, GRE, ...): ours
  must yield no segment.

Frames are **skipped** (and counted per reason in the failure message) when dpkt cannot
give a verdict: it raised while parsing (e.g. ``NeedData`` on a TCP header cut by the
snaplen), or it stopped at raw bytes because it does not know the encapsulation (802.1ah
PBB, Cisco FabricPath, VN-Tag, a third VLAN tag, MPLS after a VLAN tag, a link type it has
no class for), or it walked into ESP as if it were an extension header.
"""

from __future__ import annotations

import collections
import glob
import io
import struct
from dataclasses import dataclass
from pathlib import Path

import dpkt
import pytest

from tcpflow_analyzer.decode import Decoder
from tcpflow_analyzer.segment import Segment
from tcpflow_analyzer.sources.pcapfile import open_capture

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "data" / "zeek-corpus"
SAMPLE_FILES = sorted(glob.glob(str(ROOT / "samples" / "*.pcap*")))
CORPUS_FILES = sorted(glob.glob(str(CORPUS / "*" / "trace.pcap*"))
                      + glob.glob(str(CORPUS / "_extra" / "*" / "trace.pcap*")))


def _id(path: str) -> str:
    p = Path(path)
    return p.name if p.parent.name == "samples" else p.parent.name


@dataclass
class Verdict:
    """dpkt's reading of one frame: kind is tcp, fragment, not_tcp or skip."""

    kind: str
    why: str = ""
    fields: dict[str, object] | None = None


_NON_TCP = (dpkt.udp.UDP, dpkt.icmp.ICMP, dpkt.icmp6.ICMP6, dpkt.arp.ARP, dpkt.gre.GRE,
            dpkt.igmp.IGMP, dpkt.sctp.SCTP, dpkt.ospf.OSPF, dpkt.vrrp.VRRP, dpkt.pim.PIM,
            dpkt.llc.LLC, dpkt.esp.ESP, dpkt.stp.STP, dpkt.cdp.CDP, dpkt.ipx.IPX)


def _link(linktype: int, data: bytes) -> object:
    if linktype == 1:
        return dpkt.ethernet.Ethernet(data)
    if linktype == 113:
        return dpkt.sll.SLL(data)
    if linktype == 276:
        return dpkt.sll2.SLL2(data)
    if linktype == 0:
        return dpkt.loopback.Loopback(data)
    if linktype == 10:  # FDDI: frame control and two addresses, then 802.2 LLC
        return dpkt.llc.LLC(data[13:])
    if linktype in (101, 12, 14, 228, 229):
        return dpkt.ip.IP(data) if data and data[0] >> 4 == 4 else dpkt.ip6.IP6(data)
    raise LookupError(f"no dpkt class for link type {linktype}")


def _oracle(linktype: int, data: bytes) -> Verdict:
    try:
        layer = _link(linktype, data)
    except LookupError as exc:
        return Verdict("skip", str(exc))
    except (dpkt.NeedData, dpkt.UnpackError) as exc:
        return Verdict("skip", f"dpkt raised {type(exc).__name__} on the link layer")
    vlan: tuple[int, ...] = ()
    while not isinstance(layer, (dpkt.ip.IP, dpkt.ip6.IP6)):
        vlan += tuple(t.id for t in getattr(layer, "vlan_tags", None) or [])
        if isinstance(layer, _NON_TCP) and not isinstance(layer, dpkt.llc.LLC):
            return Verdict("not_tcp", type(layer).__name__)
        nxt = getattr(layer, "data", None)
        if not isinstance(nxt, dpkt.Packet):
            if isinstance(layer, dpkt.llc.LLC):
                return Verdict("not_tcp", "llc")
            if isinstance(layer, dpkt.ethernet.Ethernet) and layer.type == 0x0806:
                return Verdict("not_tcp", "arp")
            return Verdict("skip", f"dpkt stopped at raw bytes after {type(layer).__name__}")
        layer = nxt
    while True:  # IP, possibly IP-in-IP
        if isinstance(layer, dpkt.ip.IP):
            if layer.mf or layer.offset:  # we reassemble what can carry TCP (decode.py)
                return (Verdict("fragment") if layer.p in (6, 4, 41, 17, 47)
                        else Verdict("not_tcp", f"fragment of ip proto {layer.p}"))
        else:
            exts = layer.all_extension_headers
            if any(isinstance(e, dpkt.ip6.IP6FragmentHeader) and (e.frag_off or e.m_flag)
                   for e in exts):
                return Verdict("fragment")
            if layer.nxt == 50 or any(getattr(e, "nxt", None) == 50 for e in exts):
                return Verdict("skip", "dpkt treats ESP as an extension header")
        inner = layer.data
        if isinstance(inner, (dpkt.ip.IP, dpkt.ip6.IP6)):
            layer = inner
            continue
        break
    ip = layer
    tcp = ip.data
    if not isinstance(tcp, dpkt.tcp.TCP):
        if isinstance(tcp, dpkt.Packet):
            return Verdict("not_tcp", type(tcp).__name__)
        proto = ip.p
        return (Verdict("skip", f"dpkt left protocol {proto} as raw bytes") if proto == 6
                else Verdict("not_tcp", f"ip proto {proto}"))
    thl = tcp.off * 4
    if isinstance(ip, dpkt.ip.IP):
        ipver, hl = 4, ip.hl * 4
        # IPv4 total length 0 (TSO): both dpkt and we take the segment to be every
        # captured byte after the IP header
        seglen = ip.len - hl if ip.len else len(tcp.pack_hdr()) + len(tcp.opts) + len(tcp.data)
        pseudo = ip.src + ip.dst + struct.pack("!HHH", 6, seglen >> 16, seglen & 0xFFFF)
    else:
        ipver = 6
        ext_len = sum(e.length for e in ip.all_extension_headers)
        if not ip.plen:
            return Verdict("skip", "IPv6 payload length 0: dpkt keeps trailing bytes")
        seglen = ip.plen - ext_len
        pseudo = ip.src + ip.dst + seglen.to_bytes(4, "big") + b"\x00\x00\x00\x06"
    segment = tcp.pack_hdr() + bytes(tcp.opts) + bytes(tcp.data)
    whole = len(segment) >= seglen
    csum_ok = (dpkt.in_cksum(pseudo + segment[:seglen]) == 0) if whole else None
    if csum_ok is False:
        # checksum offload on the capturing host leaves the folded pseudo-header sum in the
        # field (Linux CHECKSUM_PARTIAL): "not computed", not "bad" (decode.checksum_verdict)
        partial = ~dpkt.in_cksum(pseudo) & 0xFFFF
        if tcp.sum == partial or (tcp.sum == 0 and partial == 0xFFFF):
            csum_ok = None
    return Verdict("tcp", fields={
        "vlan": vlan, "ipver": ipver, "src": bytes(ip.src), "dst": bytes(ip.dst),
        "sport": tcp.sport, "dport": tcp.dport, "seq": tcp.seq, "ack": tcp.ack,
        "flags": tcp.flags & 0xFF, "win": tcp.win, "plen": seglen - thl, "csum_ok": csum_ok,
    })


def _ours(seg: Segment) -> dict[str, object]:
    return {
        "vlan": seg.vlan, "ipver": seg.ipver, "src": seg.src, "dst": seg.dst,
        "sport": seg.sport, "dport": seg.dport, "seq": seg.seq, "ack": seg.ack,
        "flags": seg.flags, "win": seg.win, "plen": seg.plen + seg.link_pad,
        "csum_ok": seg.csum_ok,
    }


def _dpkt_frames(path: str) -> list[tuple[float, bytes]] | None:
    raw = Path(path).read_bytes()
    try:
        if raw[:4] == b"\x0a\x0d\x0d\x0a":
            reader = dpkt.pcapng.Reader(io.BytesIO(raw))
        else:
            reader = dpkt.pcap.Reader(io.BytesIO(raw))
        return [(float(ts), bytes(buf)) for ts, buf in reader]  # Decimal for ns pcap
    except (ValueError, dpkt.NeedData, dpkt.UnpackError):
        return None


def _check_capture(path: str, *, must_compare: bool = True) -> None:
    reader = open_capture(path)
    frames = list(reader)
    assert reader.warnings == [], reader.warnings
    assert frames, "an empty capture proves nothing"

    # the reader: same frames, bytes and timestamps as dpkt's reader
    reference = _dpkt_frames(path)
    if reference is not None and len({lt for _, _, lt, _ in frames}) == 1:
        assert len(frames) == len(reference)
        assert [d for *_, d in frames] == [d for _, d in reference]
        for (_, ts, _, _), (ref_ts, _) in zip(frames, reference, strict=True):
            assert ts == pytest.approx(ref_ts, abs=2e-6)

    # the decoder: frame by frame against dpkt
    decoder = Decoder()
    compared = 0
    skipped: collections.Counter[str] = collections.Counter()
    mismatches: list[str] = []
    for frame_no, ts, linktype, data in frames:
        before = dict(decoder.skipped)
        seg = decoder.decode(frame_no, ts, linktype, data)
        verdict = _oracle(linktype, data)
        if verdict.kind == "skip":
            skipped[verdict.why] += 1
            continue
        compared += 1
        if verdict.kind == "tcp":
            assert verdict.fields is not None
            if seg is None:
                mismatches.append(f"frame {frame_no}: dpkt sees TCP, we skipped it as "
                                  f"{set(decoder.skipped.items()) - set(before.items())}")
                continue
            ours = _ours(seg)
            if ours != verdict.fields:
                diff = {k: (ours[k], v) for k, v in verdict.fields.items() if ours[k] != v}
                mismatches.append(f"frame {frame_no}: (ours, dpkt) differ in {diff}")
        elif verdict.kind == "fragment":
            if seg is not None:
                # the fragment that completed a datagram: we reassemble, dpkt does not
                compared -= 1
                skipped["reassembled from fragments: dpkt does not reassemble"] += 1
                continue
            grew = {k for k, v in decoder.skipped.items() if v != before.get(k, 0)}
            if not grew or not grew <= {"ip_fragment", "ip_fragment_truncated"} and not all(
                    k.startswith("non_tcp:") for k in grew):
                mismatches.append(f"frame {frame_no}: a fragment, counted as {grew}")
        elif seg is not None and verdict.why in ("UDP", "GRE", "ip proto 17", "ip proto 47"):
            # a tunnel (VXLAN, Geneve, GRE, Teredo, GTP-U, AYIYA): dpkt stops at the outer
            # UDP/GRE header, our decoder reaches the inner TCP, which dpkt cannot check
            compared -= 1
            skipped["tunnelled TCP: dpkt stops at the outer UDP/GRE"] += 1
        elif seg is not None:
            mismatches.append(f"frame {frame_no}: dpkt sees {verdict.why}, we decoded {seg}")
    assert mismatches == [], f"{len(mismatches)} disagreements; skipped {dict(skipped)}"
    if compared == 0 and not must_compare:
        pytest.skip(f"dpkt gives no verdict on any frame: {dict(skipped)}")
    assert compared > 0, f"no frame could be compared; skipped {dict(skipped)}"


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=[_id(p) for p in SAMPLE_FILES])
def test_samples_agree_with_dpkt(path: str) -> None:
    _check_capture(path)


def test_samples_exist() -> None:
    assert len(SAMPLE_FILES) >= 10, "samples/ is missing its captures"


@pytest.mark.skipif(not CORPUS_FILES, reason=f"Zeek corpus not present under {CORPUS}")
@pytest.mark.parametrize("path", CORPUS_FILES, ids=[_id(p) for p in CORPUS_FILES])
def test_zeek_corpus_agrees_with_dpkt(path: str) -> None:
    _check_capture(path, must_compare=False)


def test_oracle_catches_a_wrong_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison is not vacuous: a decoder that is off by one in the payload length
    (the classic Ethernet-padding or option-length bug) fails it."""

    class OffByOne(Decoder):  # (the compiled Decoder is an extension type: subclass it)
        def decode(self, frame: int, ts: float, linktype: int, data: bytes,
                   ) -> Segment | None:
            seg = super().decode(frame, ts, linktype, data)
            if seg is not None:
                seg.plen += 1
            return seg

    monkeypatch.setitem(globals(), "Decoder", OffByOne)
    with pytest.raises(AssertionError, match="disagreements"):
        _check_capture(SAMPLE_FILES[0])
