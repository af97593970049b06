"""Compiled, the flow index keeps a key of two IPv4 addresses, their ports and no VLAN
ids in the slot itself and compares a probe with those words, never reading the
connection (``_ingest.FlowIndex._put`` / ``_probe``); every other key is checked against
the connection's endpoints and VLAN ids.  Both kinds share the probe sequences: here they
all collide (``hash_mask=0``) and each key must find its own connection, from either end,
and nothing else (runs on either engine: interpreted, every key is checked the long way)."""

from __future__ import annotations

from typing import Any

from tcpflow_analyzer import _ingest
from tcpflow_analyzer.flowtable import _index_key
from tcpflow_analyzer.segment import SYN, Segment
from tcpflow_analyzer.tracker import Connection, TrackerConfig

V4A, V4B = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
V6A, V6B = bytes(15) + b"\x01", bytes(15) + b"\x02"


def _conn(n: int, src: bytes, sport: int, dst: bytes, dport: int,
          vlan: tuple[int, ...] = ()) -> Connection:
    seg = Segment(n, 1000.0, vlan, 6 if len(src) == 16 else 4, src, dst, sport, dport, 1, 0,
                  SYN, 65535, 0, True, 0, 0, None, None, None, None)
    return Connection(n, seg, TrackerConfig())


def _key(src: bytes, sport: int, dst: bytes, dport: int, vlan: tuple[int, ...] = ()) -> Any:
    return _index_key(src, sport, dst, dport, vlan)


def test_inline_and_checked_keys_that_collide_each_find_only_their_own_connection() -> None:
    index = _ingest.FlowIndex(False, hash_mask=0)
    flows = [
        (V4A, 1000, V4B, 80, ()),  # inline
        (V4B, 1000, V4A, 80, ()),  # the hosts swapped: another flow
        (V4A, 80, V4B, 80, ()),  # equal ports
        (V4A, 1000, V4B, 80, (7,)),  # tagged: checked against the connection
        (V6A, 1000, V6B, 80, ()),  # IPv6: checked
        (V4A, 1001, V4B, 80, ()),  # one port apart
        (V4A, 0, V4B, 65535, ()),  # the extreme ports
    ]
    conns = [_conn(n, *f) for n, f in enumerate(flows, 1)]
    for f, c in zip(flows, conns, strict=True):
        index[_key(*f)] = c
    assert len(index) == len(flows)
    for f, c in zip(flows, conns, strict=True):
        src, sport, dst, dport, vlan = f
        assert index.get(_key(src, sport, dst, dport, vlan)) is c, f
        assert index.get(_key(dst, dport, src, sport, vlan)) is c, f  # from the other end
    for absent in [(V4A, 1000, V4B, 81, ()), (V4A, 1000, V4B, 80, (8,)),
                   (V6A, 1000, V6B, 81, ()), (V4A, 1002, V4B, 80, ())]:
        assert index.get(_key(*absent)) is None, absent
    del index[_key(*flows[0])]
    assert index.get(_key(*flows[0])) is None
    assert [index.get(_key(*f)) for f in flows[1:]] == conns[1:]

