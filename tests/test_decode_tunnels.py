"""TCP inside tunnels: GRE, VXLAN, Geneve, GRE-in-UDP, GTP-U, AYIYA, Teredo."""

from __future__ import annotations

import struct

import pytest

from tcpflow_analyzer.decode import Decoder

from . import capbuild as cb

OUTER_SRC, OUTER_DST = bytes([203, 0, 113, 1]), bytes([203, 0, 113, 2])


def _udp(payload: bytes, dport: int, sport: int = 40000) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    return cb.ether(cb.ipv4(udp, src=OUTER_SRC, dst=OUTER_DST, proto=17))


def _gre(payload: bytes, ptype: int, flags: int = 0, extra: bytes = b"") -> bytes:
    gre = struct.pack("!HH", flags, ptype) + extra + payload
    return cb.ether(cb.ipv4(gre, src=OUTER_SRC, dst=OUTER_DST, proto=47))


INNER4 = cb.tcp4(sport=1234, dport=80, seq=1000, payload=b"hi")
INNER6 = cb.tcp6(sport=1234, dport=80, seq=1000, payload=b"hi")
INNER_ETH = cb.ether(INNER4)

CASES = {
    "gre-ipv4": _gre(INNER4, 0x0800),
    "gre-key-seq": _gre(INNER4, 0x0800, 0x2000 | 0x1000, b"\x00\x00\x00\x07" * 2),
    "gre-teb": _gre(INNER_ETH, 0x6558),
    "gre-erspan2": _gre(b"\x10" + b"\x00" * 7 + INNER_ETH, 0x88BE, 0x1000, b"\x00" * 4),
    "gre-pptp-ppp": _gre(b"\xff\x03\x00\x21" + INNER4, 0x880B, 0x3001,
                         struct.pack("!HHI", len(INNER4) + 4, 7, 1)),
    "vxlan": _udp(b"\x08\x00\x00\x00\x00\x00\x2a\x00" + INNER_ETH, 4789),
    "geneve": _udp(b"\x00\x00\x65\x58\x00\x00\x2a\x00" + INNER_ETH, 6081),
    "geneve-options": _udp(b"\x02\x00\x08\x00\x00\x00\x2a\x00" + b"\x01" * 8 + INNER4, 6081),
    "gre-in-udp": _udp(struct.pack("!HH", 0, 0x0800) + INNER4, 4754),
    "gtp-u": _udp(struct.pack("!BBHI", 0x30, 0xFF, len(INNER4), 1) + INNER4, 2152),
    "gtp-u-ext": _udp(struct.pack("!BBHIHBB", 0x34, 0xFF, len(INNER4) + 8, 1, 0, 0, 0x85)
                      + b"\x01\x00\x09\x00" + INNER4, 2152),
    "ayiya": _udp(bytes([0x41, 0x00, 0x11, 4]) + b"\x00" * 4 + b"\x00" * 16 + INNER4,
                  5072),
    "teredo-3544": _udp(INNER6, 3544),
    "teredo-origin": _udp(b"\x00\x00" + b"\x00" * 6 + INNER6, 3544),
    "teredo-any-port": _udp(INNER6, 32900),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_tcp_inside_a_tunnel_is_decoded(name: str) -> None:
    dec = Decoder()
    seg = dec.decode(1, 0.0, 1, CASES[name])
    assert seg is not None, dec.skipped
    assert (seg.sport, seg.dport, seg.seq, seg.plen) == (1234, 80, 1000, 2)
    assert seg.csum_ok is True


def test_plain_udp_that_is_no_tunnel_is_counted_as_udp() -> None:
    dec = Decoder()
    assert dec.decode(1, 0.0, 1, _udp(b"just some bytes, not ipv6", 32900)) is None
    assert dec.skipped == {"non_tcp:udp": 1}


def test_tunnels_inside_tunnels_are_bounded() -> None:
    pkt = INNER4
    for _ in range(20):
        pkt = cb.ipv4(struct.pack("!HH", 0, 0x0800) + pkt, src=OUTER_SRC, dst=OUTER_DST,
                      proto=47)
    dec = Decoder()
    assert dec.decode(1, 0.0, 101, pkt) is None
    assert dec.skipped == {"too_many_encapsulations": 1}
