"""Segment templates and conversation builders for tracker tests (STYLE §7).

``Conv`` models the two endpoints of one connection and hands out well-formed segments
with correct sequence and acknowledgement numbers, so a test reads like the ladder diagram
it checks: ``c.syn(); c.synack(); c.ack(); c.data("o", 100); c.fin("o") ...``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tcpflow_analyzer.flowtable import FlowTable
from tcpflow_analyzer.report import FlowReport, build_flow_report
from tcpflow_analyzer.segment import ACK, FIN, PSH, RST, SYN, Segment, SynOptions
from tcpflow_analyzer.tracker import Connection, TrackerConfig

ORIG_ISN = 1_000_000
RESP_ISN = 5_000_000
ORIG_ADDR = bytes([192, 0, 2, 1])
RESP_ADDR = bytes([198, 51, 100, 2])
ORIG_PORT = 40000
RESP_PORT = 80
MASK = 0xFFFFFFFF


def make_segment(
    *, frame: int, ts: float, from_orig: bool, seq: int, ack: int, flags: int, plen: int = 0,
    win: int = 65535, syn_opts: SynOptions | None = None, tsval: int | None = None,
) -> Segment:
    """One segment between the test endpoints."""
    src, dst = (ORIG_ADDR, RESP_ADDR) if from_orig else (RESP_ADDR, ORIG_ADDR)
    sport, dport = (ORIG_PORT, RESP_PORT) if from_orig else (RESP_PORT, ORIG_PORT)
    return Segment(frame, ts, (), 4, src, dst, sport, dport, seq & MASK, ack & MASK, flags, win,
                   plen, True, 0, 0, tsval, None, None, syn_opts)


@dataclass
class Side:
    """One endpoint's next sequence number and what it last acknowledged."""

    nxt: int
    rcv: int = 0


@dataclass
class Conv:
    """A conversation: builds segments and feeds them to a flow table."""

    orig_isn: int = ORIG_ISN
    resp_isn: int = RESP_ISN
    dt: float = 0.01
    config: TrackerConfig = field(default_factory=TrackerConfig)

    def __post_init__(self) -> None:
        self.o = Side(self.orig_isn)
        self.r = Side(self.resp_isn)
        self.frame = 0
        self.ts = 1000.0
        self.flows: list[FlowReport] = []
        self.conns: list[Connection] = []
        self.table = FlowTable(self.config, self._done)

    def _done(self, conn: Connection) -> None:
        self.flows.append(build_flow_report(conn))

    def _side(self, who: str) -> tuple[Side, Side, bool]:
        return (self.o, self.r, True) if who == "o" else (self.r, self.o, False)

    def send(self, who: str, flags: int, plen: int = 0, *, seq: int | None = None,
             ack: int | None = None, win: int = 65535, opts: SynOptions | None = None,
             advance: bool = True, tsval: int | None = None) -> Segment:
        """Send one segment from ``who`` ('o' or 'r') and feed it to the tracker."""
        me, peer, from_orig = self._side(who)
        self.frame += 1
        self.ts += self.dt
        s = me.nxt if seq is None else seq
        a = peer.nxt if ack is None else ack
        seg = make_segment(frame=self.frame, ts=self.ts, from_orig=from_orig, seq=s, ack=a,
                           flags=flags, plen=plen, win=win, syn_opts=opts, tsval=tsval)
        if advance and seq is None:
            me.nxt = (me.nxt + plen + (1 if flags & (SYN | FIN) else 0)) & MASK
        self.feed(seg)
        return seg

    def feed(self, seg: Segment) -> None:
        """Feed an arbitrary segment."""
        conn, from_a = self.table.lookup(seg)
        if conn is None:  # of a connection cut short by the cap
            return
        if conn not in self.conns:
            self.conns.append(conn)
        conn.process(seg, from_a)

    # -- vocabulary --------------------------------------------------------------------------
    def syn(self, who: str = "o", **kw: object) -> Segment:
        """SYN (no ACK)."""
        kw.setdefault("ack", 0)
        return self.send(who, SYN, opts=SynOptions(1460, 7, True, None), **kw)  # type: ignore[arg-type]

    def synack(self, who: str = "r", **kw: object) -> Segment:
        """SYN-ACK."""
        return self.send(who, SYN | ACK, opts=SynOptions(1460, 7, True, None), **kw)  # type: ignore[arg-type]

    def ack(self, who: str = "o", **kw: object) -> Segment:
        """Pure ACK."""
        return self.send(who, ACK, **kw)  # type: ignore[arg-type]

    def data(self, who: str, n: int, **kw: object) -> Segment:
        """Data with PSH+ACK."""
        return self.send(who, ACK | PSH, n, **kw)  # type: ignore[arg-type]

    def fin(self, who: str, **kw: object) -> Segment:
        """FIN+ACK."""
        return self.send(who, FIN | ACK, **kw)  # type: ignore[arg-type]

    def rst(self, who: str, **kw: object) -> Segment:
        """RST+ACK at the sender's next sequence number."""
        return self.send(who, RST | ACK, advance=False, **kw)  # type: ignore[arg-type]

    def handshake(self) -> None:
        """SYN, SYN-ACK, ACK."""
        self.syn()
        self.synack()
        self.ack()

    def four_way_close(self, closer: str = "o") -> None:
        """FIN from ``closer``, the peer's ACK, the peer's FIN, the closer's ACK."""
        peer = "r" if closer == "o" else "o"
        self.fin(closer)
        self.ack(peer)
        self.fin(peer)
        self.ack(closer)

    def finish(self) -> list[FlowReport]:
        """End of capture: every connection's report, in creation order."""
        self.table.flush()
        return sorted(self.flows, key=lambda f: f["id"])

    @property
    def conn(self) -> Connection:
        """The most recent connection."""
        return self.conns[-1]

    def states(self) -> tuple[str, str]:
        """(orig state, resp state) of the most recent connection, RFC spelling."""
        c = self.conn
        return (c.orig.state.value, c.resp.state.value)


def established() -> Conv:
    """A conversation that has completed its handshake."""
    c = Conv()
    c.handshake()
    return c


def replay_stream(table: FlowTable, stream: list[tuple]) -> list[tuple[int | None, bool]]:  # type: ignore[type-arg]
    """Feed ``(frame, ts, vlan, src, dst, sport, dport, seq, ack, flags, plen)`` rows through
    ``table.lookup`` and each found connection's tracker; the (connection id, from_a) answers."""
    answers: list[tuple[int | None, bool]] = []
    for frame, ts, vlan, src, dst, sport, dport, seq, ack, flags, plen in stream:
        seg = Segment(frame, ts, vlan, 4, src, dst, sport, dport, seq, ack, flags, 65535,
                      plen, True, 0, 0, None, None, None, None)
        conn, from_a = table.lookup(seg)
        answers.append((None if conn is None else conn.id, from_a))
        if conn is not None:
            conn.process(seg, from_a)
    return answers
