"""The compiled flow table's index (``_ingest.FlowIndex``): an open-addressing hash table
that keeps no key objects and checks each candidate against the connection's own endpoints
and VLAN ids.  Its edge cases (colliding hashes, deleted slots in a probe sequence, growth
and shrinking, both keys of a --vlan auto connection) and, on generated segment streams,
the flow table's answers with it against a plain dict (runs on either engine: interpreted,
the class is plain Python)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcpflow_analyzer import _ingest
from tcpflow_analyzer.flowtable import FlowTable, _index_key
from tcpflow_analyzer.report import build_flow_report
from tcpflow_analyzer.segment import ACK, SYN, Segment
from tcpflow_analyzer.tracker import Connection, TrackerConfig

from .builders import replay_stream

FlowIndex = _ingest.FlowIndex
CLIENT = bytes([10, 0, 0, 1])
SERVER = bytes([10, 0, 0, 2])


def _seg(src: bytes, sport: int, dst: bytes, dport: int, vlan: tuple[int, ...] = (),
         flags: int = SYN, frame: int = 1, ts: float = 1000.0) -> Segment:
    return Segment(frame, ts, vlan, 4, src, dst, sport, dport, 1000, 0, flags, 65535, 0,
                   True, 0, 0, None, None, None, None)


def _conn(n: int, src: bytes = CLIENT, dst: bytes = SERVER, vlan: tuple[int, ...] = (),
          dport: int = 443) -> Connection:
    """Connection #n, from ``src`` port 10000 + n to ``dst``:``dport``."""
    return Connection(n, _seg(src, 10000 + n, dst, dport, vlan), TrackerConfig())


def _key(conn: Connection, vlan: tuple[int, ...] | None = None) -> tuple[Any, ...]:
    a, b = conn.a, conn.b
    return _index_key(a.addr, a.port, b.addr, b.port, conn.vlan if vlan is None else vlan)


@pytest.mark.parametrize("mask", [0, 0xFFFFFFFFFFFFFFFF], ids=["all-colliding", "hashed"])
def test_every_entry_is_found_under_its_key_in_both_directions_even_when_all_hashes_collide(
        mask: int) -> None:
    index = FlowIndex(False, hash_mask=mask)
    conns = [_conn(n) for n in range(1, 201)]
    for c in conns:
        index[_key(c)] = c
    assert len(index) == 200
    for c in conns:
        key = _key(c)
        assert index.get(key) is c and index[key] is c and key in index
        # the key the other direction's segment builds is the same key
        assert index.get(_index_key(SERVER, 443, CLIENT, c.a.port, ())) is c
    assert index.get(_index_key(CLIENT, 9999, SERVER, 443, ())) is None
    assert index.get(_index_key(CLIENT, 10001, SERVER, 444, ())) is None
    assert index.get(_index_key(SERVER, 10001, CLIENT, 443, ())) is None  # hosts swapped
    assert index.keys() == [_key(c) for c in conns]  # rebuilt, in connection-id order
    assert index.values() == conns


def test_deleting_inside_a_run_of_colliding_entries_keeps_the_later_ones_found() -> None:
    index = FlowIndex(False, hash_mask=0)  # one probe sequence for all of them
    conns = [_conn(n) for n in range(1, 6)]
    for c in conns:
        index[_key(c)] = c
    del index[_key(conns[1])]
    del index[_key(conns[2])]
    assert [index.get(_key(c)) for c in conns] == [conns[0], None, None, conns[3], conns[4]]
    with pytest.raises(KeyError):
        del index[_key(conns[1])]
    # a new entry reuses a deleted slot; nothing is found twice or lost
    index[_key(conns[2])] = conns[2]
    assert [index.get(_key(c)) for c in conns] == [conns[0], None, conns[2], conns[3],
                                                   conns[4]]
    assert len(index) == 4 and index.values() == [conns[0], conns[2], conns[3], conns[4]]


def test_the_table_grows_with_its_entries_and_shrinks_back_after_deletions() -> None:
    index = FlowIndex(False)
    assert index.slots == 8
    conns = [_conn(n) for n in range(1, 3001)]
    for c in conns:
        index[_key(c)] = c
    assert len(index) == 3000 and 4500 <= index.slots <= 4 * 3000
    for c in conns[:2990]:
        del index[_key(c)]
    peak = index.slots
    # churn: entries come and go, ten live at a time; the deleted slots do not pile up,
    # and a rebuild made room for the live entries only
    for n in range(3001, 13001):
        c = _conn(n)
        index[_key(c)] = c
        del index[_key(c)]
    assert len(index) == 10 and index.slots <= peak
    for n in range(13001, 19001):
        index[_key(_conn(n))] = _conn(n)
    for n in range(13001, 19001):
        del index[_key(_conn(n))]
    c = _conn(20000)
    index[_key(c)] = c
    assert index.slots <= 4 * 6011 and index.get(_key(c)) is c
    assert [index.get(_key(c)) for c in conns[2990:]] == conns[2990:]


def test_replacing_the_connection_under_a_key_keeps_one_entry() -> None:
    index = FlowIndex(False, hash_mask=0)
    old, new = _conn(1), Connection(2, _seg(CLIENT, 10001, SERVER, 443), TrackerConfig())
    index[_key(old)] = old
    index[_key(new)] = new  # a new incarnation of the 4-tuple
    assert len(index) == 1 and index.get(_key(old)) is new


def test_vlan_ids_tell_keys_apart_unless_the_index_is_vlan_free() -> None:
    keyed = FlowIndex(False, hash_mask=0)
    untagged, tagged, stacked = _conn(1), _conn(1, vlan=(7,)), _conn(1, vlan=(7, 8))
    for c in (untagged, tagged, stacked):
        keyed[_key(c)] = c
    assert len(keyed) == 3
    assert [keyed.get(_key(untagged, v)) for v in ((), (7,), (7, 8), (8,))] == [
        untagged, tagged, stacked, None]
    free = FlowIndex(True, hash_mask=0)  # --vlan ignore, wireshark mode: keys without VLANs
    free[_key(tagged, ())] = tagged
    assert free.get(_key(tagged, ())) is tagged and free.get(_key(tagged)) is None
    with pytest.raises(ValueError):
        free[_key(tagged)] = tagged  # its key carries no VLAN ids here


def test_a_connection_joined_under_a_second_vlan_key_is_found_and_deleted_by_each() -> None:
    index = FlowIndex(False, hash_mask=0)
    conn = _conn(1, vlan=(7,))
    index[_key(conn)] = conn
    with pytest.raises(ValueError):
        index[_key(conn, ())] = conn  # not a key of it (yet)
    conn.vlan_b = ()  # --vlan auto: the other direction came untagged
    index[_key(conn, ())] = conn
    assert len(index) == 2 and index.get(_key(conn)) is conn
    assert index.get(_key(conn, ())) is conn
    assert index.keys() == [_key(conn), _key(conn, ())]
    del index[_key(conn, ())]
    assert index.get(_key(conn, ())) is None and index.get(_key(conn)) is conn
    del index[_key(conn)]
    assert len(index) == 0


def test_an_entry_must_name_its_connections_endpoints() -> None:
    index = FlowIndex(False)
    conn = _conn(1)
    with pytest.raises(ValueError):
        index[_index_key(CLIENT, 10001, SERVER, 80, ())] = conn
    with pytest.raises(ValueError):
        index[_index_key(SERVER, 10001, SERVER, 443, ())] = conn
    assert len(index) == 0


# -- the flow table with this index against a plain dict ----------------------------------

_HOSTS = (bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]), bytes(range(16)))
_PORTS = (80, 80, 40000, 40001, 40002)
_FLAG_SETS = (0x02, 0x02, 0x12, 0x10, 0x10, 0x18, 0x11, 0x04, 0x14, 0x01, 0x00)
_SEQS = (0, 1000, 1001, 5000, 0xFFFFFFF0, 7)


@st.composite
def _segment_streams(draw: st.DrawFn) -> tuple[dict[str, object], list[tuple[object, ...]]]:
    """Segments among a few hosts and ports (4-tuples, ISNs and roles collide), gaps up to
    beyond every timeout, maybe VLAN tags, every semantics and VLAN mode, a small cap."""
    config = {"semantics": draw(st.sampled_from(["default", "wireshark"])),
              "vlan": draw(st.sampled_from(["auto", "key", "ignore"])),
              "max_active": draw(st.sampled_from([262_144, 3]))}
    ts = 1000.0
    segs = []
    for frame in range(1, draw(st.integers(1, 80)) + 1):
        ts += draw(st.sampled_from([0.0, 0.001, 0.5, 4.0, 6.0, 61.0, 301.0]))
        hosts = draw(st.permutations(_HOSTS))
        src, dst = (hosts[0], hosts[1]) if draw(st.booleans()) else (hosts[0],) * 2
        segs.append((frame, ts, draw(st.sampled_from([(), (), (7,), (7, 8)])), src, dst,
                     draw(st.sampled_from(_PORTS)), draw(st.sampled_from(_PORTS)),
                     draw(st.sampled_from(_SEQS)), draw(st.sampled_from(_SEQS)),
                     draw(st.sampled_from(_FLAG_SETS)), draw(st.sampled_from([0, 0, 10]))))
    return config, segs


def _run(config: dict[str, object], stream: list[tuple[object, ...]], index: str
         ) -> tuple[object, ...]:
    """Every lookup's answer and the reports and counters after, with the index ``dict``
    (and the table's own lookup method) or a colliding ``FlowIndex`` (and, compiled, the
    typed lookup)."""
    reports: list[object] = []
    table = FlowTable(TrackerConfig(**config), lambda c: reports.append(build_flow_report(c)))  # type: ignore[arg-type]
    table.lookup = table._lookup  # the method itself
    if index == "dict":
        table.index = {}
    else:
        table.index = FlowIndex(table.vlan_free, hash_mask=0)
        if _ingest.COMPILED:
            table.lookup = _ingest.FlowLookup(table, table.lookup)  # type: ignore[method-assign]
    answers = replay_stream(table, stream)
    held = sorted((k, v.id) for k, v in table.index.items())
    table.flush()
    return (answers, reports, held, table.cut_segments, table.late_segments, table.evicted,
            table.vlan_warnings())


@settings(max_examples=200, deadline=None)
@given(_segment_streams())
def test_the_flow_table_answers_alike_with_a_colliding_flow_index_and_with_a_dict(
        case: tuple[dict[str, object], list[tuple[object, ...]]]) -> None:
    config, stream = case
    assert _run(config, stream, "index") == _run(config, stream, "dict")


def test_the_compiled_flow_table_indexes_without_key_objects() -> None:
    table = FlowTable(TrackerConfig(), lambda _c: None)
    if not _ingest.COMPILED:
        assert type(table.index) is dict  # interpreted, a dict is fastest
        return
    assert isinstance(table.index, FlowIndex)
    seg = _seg(CLIENT, 10001, SERVER, 443)
    conn, from_a = table.lookup(seg)
    assert from_a and conn is not None
    reply = _seg(SERVER, 443, CLIENT, 10001, flags=SYN | ACK, frame=2)
    assert table.lookup(reply) == (conn, False)
    assert table.index.keys() == [_key(conn)]
