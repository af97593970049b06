"""A TCP state's display text is read without running Python code (the tracker reads it per
state change it emits)."""

import pickle
import sys
from operator import attrgetter

from tcpflow_analyzer.states import TcpState


def test_reading_a_state_value_calls_no_python_function():
    calls = []
    states = list(TcpState)

    def prof(frame, event, arg):
        if event == "call":
            calls.append(frame.f_code.co_name)

    sys.setprofile(prof)
    try:
        texts = list(map(attrgetter("value"), states))  # no comprehension frame
    finally:
        sys.setprofile(None)
    assert calls == []
    assert texts[:3] == ["INACTIVE", "PARTIAL", "CLOSED"]


def test_states_keep_values_identity_lookup_and_pickling():
    assert TcpState.SYN_SENT.value == "SYN-SENT"
    assert TcpState("SYN-SENT") is TcpState.SYN_SENT
    assert TcpState["TIME_WAIT"] is TcpState.TIME_WAIT
    assert pickle.loads(pickle.dumps(TcpState.CLOSED)) is TcpState.CLOSED
    assert str(TcpState.FIN_WAIT_1) == "FIN-WAIT-1"
    assert TcpState.CLOSED.name == "CLOSED"
