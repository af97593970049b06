"""``format_ip`` writes an address exactly as ``ipaddress`` does (the compiled engine
formats IPv6 in C, RFC 5952: the first longest run of two or more zero hextets as ``::``)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcpflow_analyzer.segment import format_ip

# hextets drawn mostly from 0 so that runs of zeros of every length and place occur
_HEXTET = st.one_of(st.just(0), st.just(0), st.integers(0, 0xFFFF), st.sampled_from(
    [0x1, 0xF, 0x10, 0xFF, 0x100, 0xFFF, 0x1000, 0xABCD, 0xFFFF]))


@settings(max_examples=3000, deadline=None)
@given(st.lists(_HEXTET, min_size=8, max_size=8))
def test_ipv6_text_is_ipaddress_text(hextets: list[int]) -> None:
    addr = b"".join(h.to_bytes(2, "big") for h in hextets)
    assert format_ip(addr) == str(ipaddress.ip_address(addr))


@pytest.mark.parametrize("text", [
    "::", "::1", "1::", "1::2", "2001:db8::1", "2001:db8:0:1:1:1:1:1", "1:0:0:2:0:0:0:3",
    "1:0:0:2:0:0:3:4", "fe80::abcd:ef01:2345:6789", "::ffff:1.2.3.4", "::1.2.3.4",
    "64:ff9b::c000:221", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
])
def test_ipv6_edge_cases(text: str) -> None:
    addr = ipaddress.ip_address(text).packed
    assert format_ip(addr) == str(ipaddress.ip_address(addr))


@settings(max_examples=500, deadline=None)
@given(st.binary(min_size=4, max_size=4))
def test_ipv4_text_is_ipaddress_text(addr: bytes) -> None:
    assert format_ip(addr) == str(ipaddress.ip_address(addr))


@pytest.mark.parametrize("text", ["0.0.0.0", "255.255.255.255", "10.0.0.9", "100.99.9.0",
                                  "1.10.100.199", "192.168.250.1"])
def test_ipv4_edge_cases(text: str) -> None:
    assert format_ip(ipaddress.ip_address(text).packed) == text
