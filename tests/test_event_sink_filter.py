"""A sink that declares ``only_states`` gets only the state changes into or out of those
states, and no other event; a plain sink gets every event (see tcpflow_analyzer/events.py)."""

from __future__ import annotations

from typing import Any

from tcpflow_analyzer.events import StateChanged
from tcpflow_analyzer.flowtable import FlowTable
from tcpflow_analyzer.states import TcpState
from tcpflow_analyzer.tracker import TrackerConfig

from .builders import Conv


class _Filtered(list[Any]):
    only_states = frozenset({TcpState.SYN_RECEIVED})


def _run(sink: list[Any]) -> None:
    c = Conv()
    c.table = FlowTable(c.config, c._done, sink)
    c.handshake()
    c.data("o", 100)
    c.ack("r")
    c.four_way_close("o")
    c.rst("o")  # one more segment after the close: an anomaly or a reset event
    c.finish()


def test_a_plain_sink_gets_every_event() -> None:
    sink: list[Any] = []
    _run(sink)
    kinds = {type(e).__name__ for e in sink}
    assert {"ConnectionOpened", "StateChanged", "HandshakeCompleted",
            "TimeWaitEntered"} <= kinds


def test_a_sink_with_only_states_gets_only_those_state_changes() -> None:
    every: list[Any] = []
    _run(every)
    wanted = [e for e in every if type(e) is StateChanged
              and "SYN-RECEIVED" in (e.from_state, e.to_state)]
    sink = _Filtered()
    _run(sink)
    assert wanted  # LISTEN -> SYN-RECEIVED -> ESTABLISHED at the responder
    assert list(sink) == wanted
