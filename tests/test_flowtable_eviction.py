"""Above the active-connection cap: evicted connections stay themselves, far beyond the cap,
in bounded memory (flowtable + evicted)."""

from __future__ import annotations

from collections import Counter

from tcpflow_analyzer.evicted import EvictedSet, evicted_slots
from tcpflow_analyzer.flowtable import FlowTable
from tcpflow_analyzer.report import build_flow_report
from tcpflow_analyzer.segment import ACK, FIN, PSH, SYN
from tcpflow_analyzer.tracker import TrackerConfig

from .builders import ORIG_ISN, RESP_ISN, make_segment

NEW_ISN = 3_000_000


class Driver:
    """Feeds segments of many connections (told apart by orig's address and port) to one
    flow table and collects the reports."""

    def __init__(self, config: TrackerConfig) -> None:
        self.flows: list[dict] = []
        self.table = FlowTable(config, lambda conn: self.flows.append(build_flow_report(conn)))
        self.frame = 0
        self.ts = 1000.0

    def send(self, n: int, from_orig: bool, seq: int, ack: int, flags: int,
             plen: int = 0, dt: float = 0.0001) -> None:
        self.frame += 1
        self.ts += dt
        seg = make_segment(frame=self.frame, ts=self.ts, from_orig=from_orig, seq=seq,
                           ack=ack, flags=flags, plen=plen)
        addr = bytes([10, n >> 16 & 255, n >> 8 & 255, n & 255])
        port = 10000 + n % 50000
        if from_orig:
            seg.src, seg.sport = addr, port
        else:
            seg.dst, seg.dport = addr, port
        conn, from_a = self.table.lookup(seg)
        if conn is not None:
            conn.process(seg, from_a)

    def open(self, n: int) -> None:
        self.send(n, True, ORIG_ISN, 0, SYN)
        self.send(n, False, RESP_ISN, ORIG_ISN + 1, SYN | ACK)
        self.send(n, True, ORIG_ISN + 1, RESP_ISN + 1, ACK)

    def carry_on(self, n: int, round_: int) -> None:
        off = 100 * round_
        self.send(n, True, ORIG_ISN + 1 + off, RESP_ISN + 1, ACK | PSH, 100)
        self.send(n, False, RESP_ISN + 1, ORIG_ISN + 101 + off, ACK)

    def close(self, n: int, rounds: int) -> None:
        seq = ORIG_ISN + 1 + 100 * rounds
        self.send(n, True, seq, RESP_ISN + 1, FIN | ACK)
        self.send(n, False, RESP_ISN + 1, seq + 1, FIN | ACK)
        self.send(n, True, seq + 1, RESP_ISN + 2, ACK)


def test_fifty_times_the_cap_of_interleaved_connections_are_each_reported_once() -> None:
    # 5,000 long connections open at once under a cap of 100: nearly every one is evicted
    # and each comes back twice and closes; the report has each exactly once
    n_conns, cap = 5_000, 100
    d = Driver(TrackerConfig(max_active=cap))
    for n in range(n_conns):
        d.open(n)
    for round_ in range(2):
        for n in range(n_conns):
            d.carry_on(n, round_)
    for n in range(n_conns):
        d.close(n, 2)
    d.table.flush()
    seen = Counter(f["orig"]["ip"] + f":{f['orig']['port']}" for f in d.flows)
    assert len(d.flows) == len(seen) == n_conns  # each once, none new
    assert {f["handshake"]["status"] for f in d.flows} == {"complete"}
    assert d.table.cut.folded == 0
    cut = sum("cut_short_by_cap" in f["anomalies"] for f in d.flows)
    assert cut == d.table.evicted >= n_conns - cap
    # bounded: 16 bytes per remembered connection, in packed arrays of at most 2^17 slots
    assert d.table.cut.slots <= evicted_slots(cap) == 1 << 17


def test_evicted_record_is_sized_by_the_cap() -> None:
    # 64 slots of 16 bytes per unit of the cap (at least 2^17), 3/4 of them usable: 48
    # times the cap, 256 MiB at most at the default cap
    assert evicted_slots(100) == 1 << 17
    assert evicted_slots(10_000) == 1 << 20
    assert evicted_slots(TrackerConfig().max_active) == 1 << 24


def test_an_evicted_connection_resends_its_syn_then_a_new_isn_opens_a_new_one() -> None:
    d = Driver(TrackerConfig(max_active=10))
    for n in range(30):
        d.open(n)
    d.send(0, True, ORIG_ISN, 0, SYN)  # connection 0 was evicted: its SYN re-sent
    d.send(0, False, RESP_ISN, ORIG_ISN + 1, SYN | ACK)  # and the SYN-ACK
    before = d.table.cut_segments
    assert before == 2
    d.send(0, True, NEW_ISN, 0, SYN)  # a new ISN: a new connection
    d.table.flush()
    ports = [f["orig"]["port"] for f in d.flows]
    assert ports.count(10000) == 2 and len(ports) == 31


def test_an_evicted_connection_idle_past_the_timeout_frees_its_tuple() -> None:
    d = Driver(TrackerConfig(max_active=10))
    for n in range(30):
        d.open(n)
    d.carry_on(0, 0)
    assert d.table.cut_segments == 2
    d.send(0, True, ORIG_ISN + 101, RESP_ISN + 1, ACK | PSH, 100, dt=301.0)
    d.table.flush()
    assert [f["orig"]["port"] for f in d.flows].count(10000) == 2
    assert d.table.cut_segments == 2


def _key(n: int) -> tuple[bytes, int, bytes, int, tuple[int, ...]]:
    return (bytes([10, 0, n >> 8 & 255, n & 255]), 1000 + (n >> 16), b"\xc0\x00\x02\x01",
            80, ())


def test_evicted_set_remembers_isns_and_forgets_on_remove() -> None:
    s = EvictedSet(10, 1e9)
    for n in range(5000):  # several rebuilds into larger arrays
        s.add(_key(n), n, None if n % 2 else n + 7, 1.0 + n, now=1.0 + n)
    assert len(s) == 5000 and s.slots == 8192
    for n in range(5000):
        slot = s.get(_key(n))
        assert slot is not None and s.is_its_syn(slot, True, n)
        assert not s.is_its_syn(slot, True, n + 1)
        assert s.is_its_syn(slot, False, n + 7) == (n % 2 == 0)
        assert s.last_ts(slot) == 1.0 + n
    for n in range(0, 5000, 3):
        slot = s.get(_key(n))
        assert slot is not None
        s.remove(slot)
    for n in range(5000):  # backward-shift deletion kept every other entry reachable
        assert (s.get(_key(n)) is None) == (n % 3 == 0)
    assert s.get(_key(70_000)) is None


def test_evicted_set_full_of_live_entries_folds_the_least_recent_half() -> None:
    s = EvictedSet(10, 1e9, max_slots=1024)
    for n in range(2000):
        s.add(_key(n), n, n, float(n), now=float(n))
    assert s.slots == 1024 and len(s) <= 768
    assert s.folded == 2000 - len(s) > 0
    kept = [n for n in range(2000) if s.get(_key(n)) is not None]
    assert len(kept) == len(s)
    assert min(kept) > 1000  # the most recent ones stay
    assert all(s.get(_key(n)) is not None for n in range(1990, 2000))


def test_evicted_set_drops_idle_entries_before_growing() -> None:
    s = EvictedSet(10, 10.0)
    for n in range(100_000):  # one eviction per second of capture: at most ~10 live
        s.add(_key(n), n, n, float(n), now=float(n))
    assert s.slots == 1024 and s.folded == 0
