"""The direct NDJSON writer: a finished connection's line written straight from its record.

``analyze -f ndjson`` with no filter writes, for every connection, exactly the bytes
``b'{"record":"connection",' + orjson.dumps(build_flow_report(conn))[1:] + b"\\n"`` (what
:class:`~.render.jsonout.NdjsonWriter` writes), without building the report's nested dict
and without orjson: the record's fields are read once and their JSON text appended to one
buffer, handed to the output in blocks of about 64 KB.  The sections the report takes
ready-made from the verdict and the detector (``handshake``, ``close``, ``measurements``,
``zeek``, ...) are small dicts, encoded here by the same rules.  The rules are orjson's:

* integers in decimal; ``true``/``false``/``null``;
* floats as the shortest text that reads back as the same double (``repr``'s digits), in
  plain decimal with a point for ``1e-5 <= |x| < 1e16`` (``1.0``, ``-0.0``, ``0.00001``),
  with an exponent otherwise (``1e-6``, ``1.5e+16``); ``inf`` and ``nan`` as ``null``;
* strings as UTF-8 with ``\\" \\\\ \\n \\r \\t \\b \\f`` escaped, the other bytes below 0x20
  as ``\\u00xx``, everything else raw;
* dict keys in insertion order.

A value orjson would refuse (a string with a lone surrogate, an integer beyond 64 bits, a
type it does not know) makes that one connection fall back to the report dict and
:func:`~.render.jsonout.dumps` (orjson, or the standard library where orjson refuses), so
the output is the dict path's in every case.  :meth:`Lines.write` returns a small dict
with the report fields :class:`~.report.Summary` and :meth:`.ListenerView.add_flow` read
(or the whole report when it fell back).

Typed for Cython 3 in pure Python mode (``ndjson.pxd``): compiled, the record's C fields
are read into C locals and the encoders are C functions writing into the buffer (the
``_c_*`` functions of ``ndjson.pxd``); interpreted, their Python equivalents below.
"""

from __future__ import annotations

import os
import re
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from .render.jsonout import dumps
from .record import STATES
from .report import _ROLES_ORIG_IS_A, _ROLES_ORIG_IS_B, _STATE_TEXTS

if TYPE_CHECKING:  # mypy reads the stand-in's signatures
    from tcpflow_analyzer import _cython as cython

    from .listeners import _ip_text
    from .record import ConnRecord, Endpoint
    from .report import assemble_flow_report, reset_section
    from .rounding import round_us
    from .verdict import derive_close, derive_handshake, derive_zeek, outcome_text
else:
    try:
        import cython  # compiled: Cython's directives; interpreted: Cython's Shadow module
    except ModuleNotFoundError:  # no Cython at all: the package's stand-in (_cython.py)
        from tcpflow_analyzer import _cython as cython

if not cython.compiled:  # compiled, ndjson.pxd cimports these (C types, C calls)
    from .listeners import _ip_text
    from .record import ConnRecord, Endpoint
    from .report import assemble_flow_report, reset_section
    from .rounding import round_us
    from .verdict import derive_close, derive_handshake, derive_zeek, outcome_text

    # ndjson.pxd's C encoders and buffer calls: only compiled branches name them
    _c_put = _c_int = _c_float = _c_str = _grow = memcpy = None
    PyBytes_AS_STRING = PyBytes_GET_SIZE = PyBytes_FromStringAndSize = None
    PyByteArray_AS_STRING = None

COMPILED: bool = cython.compiled
"""True when this module runs as a compiled extension (``tcpflow-analyzer --version``)."""

VIA_DICT_ENV = "TCPFLOW_ANALYZER_NDJSON_VIA_DICT"
"""Set to anything but ``""``/``"0"``: ``analyze -f ndjson`` builds each report dict and
encodes it with orjson, as every other format does (the tests compare the two ways)."""

FLUSH_AT = 1 << 16
"""Bytes gathered before the buffer is handed to the output."""

_INT_MIN = -(1 << 63)
_INT_END = 1 << 63  # compiled, an integer must fit a C long long (else: the dict path)

_BY_FRAME = itemgetter(1)
_CONNECTION_HEAD = b'{"record":"connection",'

# JSON texts written as they are: the state texts and roles (ASCII, nothing to escape)
_STATE_JSON: tuple[bytes, ...] = tuple(b'"' + t.encode("ascii") + b'"' for t in _STATE_TEXTS)
_ROLE_JSON_ORIG_IS_A = tuple(b'"' + t.encode("ascii") + b'"' for t in _ROLES_ORIG_IS_A)
_ROLE_JSON_ORIG_IS_B = tuple(b'"' + t.encode("ascii") + b'"' for t in _ROLES_ORIG_IS_B)
_INITIATOR_JSON = {"both": b',"initiator":"both","roles_inferred":',
                   "unknown": b',"initiator":"unknown","roles_inferred":',
                   "orig": b',"initiator":"orig","roles_inferred":'}

# interpreted string escapes (compiled: _c_str)
_ESCAPE = re.compile(rb'[\x00-\x1f"\\]')
_ESCAPES = {bytes([c]): b"\\u%04x" % c for c in range(0x20)}
_ESCAPES.update({b'"': b'\\"', b"\\": b"\\\\", b"\n": b"\\n", b"\r": b"\\r", b"\t": b"\\t",
                 b"\b": b"\\b", b"\f": b"\\f"})


def via_dict() -> bool:
    """Whether :data:`VIA_DICT_ENV` asks for the report-dict path."""
    return os.environ.get(VIA_DICT_ENV, "") not in ("", "0")


@cython.cfunc
def _state_json(state: object) -> bytes:
    """The JSON text of an RFC state's display text (report.py's ``_state_text``)."""
    i: cython.Py_ssize_t
    states: tuple = STATES  # type: ignore[type-arg]  # compiled: C-level item reads
    for i in range(len(states)):
        if states[i] is state:
            return _STATE_JSON[i]  # type: ignore[no-any-return]
    return py_str(state.value)  # type: ignore[attr-defined]


class Refused(Exception):
    """A value orjson would not encode as such (this connection takes the dict path)."""


def _escape(m: re.Match[bytes]) -> bytes:
    return _ESCAPES[m.group()]


def py_str(s: str) -> bytes:
    """A string's JSON text as orjson writes it (the interpreted encoder)."""
    b = s.encode("utf-8")  # a lone surrogate: UnicodeEncodeError, as orjson refuses it
    if _ESCAPE.search(b) is None:
        return b'"' + b + b'"'
    return b'"' + _ESCAPE.sub(_escape, b) + b'"'


def py_float(x: float) -> bytes:
    """A float's JSON text as orjson writes it (the interpreted encoder)."""
    if x != x or x == float("inf") or x == float("-inf"):
        return b"null"
    r = repr(x)
    e = r.find("e")
    if e < 0:
        return r.encode("ascii")
    ex = int(r[e + 1:])
    if ex == -5:  # repr's exponents start at 1e-4 down, orjson's at 1e-6
        neg = r[0] == "-"
        return (("-0.0000" if neg else "0.0000") + r[1 if neg else 0:e].replace(".", "")
                ).encode("ascii")
    return (r[:e] + ("e+" if ex > 0 else "e-") + str(abs(ex))).encode("ascii")


def py_int(v: int) -> bytes:
    """An integer's JSON text (the interpreted encoder; beyond a C long long: Refused)."""
    if not _INT_MIN <= v < _INT_END:
        raise Refused(f"integer beyond 64 bits: {v}")
    return b"%d" % v


@cython.cclass
class Lines:
    """The NDJSON lines of finished connections, gathered in one buffer and handed to
    ``sink`` (a callable taking bytes) every :data:`FLUSH_AT` bytes and at :meth:`flush`."""

    # (not TYPE_CHECKING: mypy would check the compiled class's C fields against the slots)
    if not cython.compiled and not TYPE_CHECKING:
        __slots__ = ("buf", "fell_back", "n", "sink")

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        # compiled: the bytearray's size is the capacity, ``n`` the bytes written;
        # interpreted: the bytearray holds exactly what was written
        self.buf = bytearray(FLUSH_AT + (1 << 14)) if cython.compiled else bytearray()
        self.n = 0
        self.fell_back = False  # some connection took the dict path (for tests)

    def flush(self) -> None:
        """Hand everything gathered to the sink."""
        data = self.take()
        if data:
            self.sink(data)

    def take(self) -> bytes:
        """Everything gathered, removed from the buffer."""
        if cython.compiled:
            data = PyBytes_FromStringAndSize(PyByteArray_AS_STRING(self.buf), self.n)
            self.n = 0
            return data  # type: ignore[no-any-return]
        data = bytes(self.buf)
        self.buf.clear()
        return data

    @cython.ccall
    def write(self, conn: ConnRecord, file: str | None = None) -> dict[str, Any]:
        """Write one finished connection's line; return what the summary and the listener
        view read of its report (``id``, ``outcome``, ``handshake``, ``close``, ``reset``,
        ``anomalies``, ``anomaly_events``, ``time_wait``, ``initiator``, ``resp``,
        ``data_packets``)."""
        at: cython.Py_ssize_t
        # first: the detector settles late verdicts (lost segments, TFO, D-SACK) when asked
        seq = conn.seq
        measurements = seq.measurements(conn) if seq is not None else None
        at = self.n if cython.compiled else len(self.buf)
        try:
            f = self._write(conn, file, measurements)
        except (Refused, OverflowError, UnicodeError):
            # the dict path for this one connection (what NdjsonWriter.flow writes)
            if cython.compiled:
                self.n = at
            else:
                del self.buf[at:]
            f = assemble_flow_report(conn, file, measurements)
            self._raw(_CONNECTION_HEAD + dumps(f, newline=True)[1:])
            self.fell_back = True
        if (self.n if cython.compiled else len(self.buf)) >= FLUSH_AT:
            self.flush()
        return f

    # -- encoders ------------------------------------------------------------------------------
    @cython.cfunc
    def _raw(self, b: bytes) -> cython.void:
        if cython.compiled:
            _c_put(self, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))
        else:
            self.buf += b

    @cython.cfunc
    def _int(self, v: cython.longlong) -> cython.void:
        if cython.compiled:
            _c_int(self, v)
        else:
            self.buf += py_int(v)

    @cython.cfunc
    def _float(self, x: cython.double) -> cython.void:
        if cython.compiled:
            _c_float(self, x)
        else:
            self.buf += py_float(x)

    @cython.cfunc
    def _str(self, s: str) -> cython.void:
        if cython.compiled:
            _c_str(self, s)
        else:
            self.buf += py_str(s)

    @cython.cfunc
    def _value(self, v: object) -> cython.void:
        """Any JSON-ready value: None, bool, int, float, str, dict (str keys), list, tuple."""
        i: cython.Py_ssize_t
        if v is None:
            self._raw(b"null")
            return
        t = type(v)
        if t is str:
            if cython.compiled:
                _c_str(self, v)
            else:
                self.buf += py_str(v)
        elif t is int:
            if cython.compiled:
                _c_int(self, v)  # beyond a C long long: OverflowError
            else:
                self.buf += py_int(v)
        elif t is float:
            if cython.compiled:
                _c_float(self, v)
            else:
                self.buf += py_float(v)
        elif v is True:
            self._raw(b"true")
        elif v is False:
            self._raw(b"false")
        elif t is dict:
            d: dict[Any, Any] = v
            if not d:
                self._raw(b"{}")
                return
            sep = b"{"
            for k, x in d.items():
                if type(k) is not str:
                    raise Refused(f"dict key {k!r}")
                self._raw(sep)
                sep = b","
                if cython.compiled:
                    _c_str(self, k)
                else:
                    self.buf += py_str(k)
                self._raw(b":")
                self._value(x)
            self._raw(b"}")
        elif t is list or t is tuple:
            if not v:
                self._raw(b"[]")
                return
            sep = b"["
            for x in v:
                self._raw(sep)
                sep = b","
                self._value(x)
            self._raw(b"]")
        else:
            raise Refused(f"a {t.__name__}")

    # -- the line ------------------------------------------------------------------------------
    @cython.cfunc
    def _write(self, conn: ConnRecord, file: str | None, measurements: object) -> dict:  # type: ignore[type-arg]
        """The line of :func:`~.report.assemble_flow_report`'s report, field by field in
        its order (keep the two in step: tests/test_ndjson_direct.py compares them)."""
        o: Endpoint
        r: Endpoint
        i: cython.Py_ssize_t
        n: cython.Py_ssize_t
        n_c: cython.Py_ssize_t
        code: cython.longlong
        code_d: cython.double
        ts: cython.double
        prev_ts: cython.double
        prev_us: cython.double
        first_ts: cython.double
        last_ts: cython.double
        duration: cython.double
        duration_us: cython.double
        zeek_duration: cython.double
        role_json: tuple  # type: ignore[type-arg]
        if conn.orig_is_a:
            o, r = conn.a, conn.b
            roles = _ROLES_ORIG_IS_A
            role_json = _ROLE_JSON_ORIG_IS_A
        else:
            o, r = conn.b, conn.a
            roles = _ROLES_ORIG_IS_B
            role_json = _ROLE_JSON_ORIG_IS_B
        handshake = derive_handshake(conn)
        close = derive_close(conn)
        outcome = outcome_text(conn, handshake, close)
        anomalies = conn._anomalies
        reset = reset_section(conn)
        first_ts = conn.first_ts
        last_ts = conn.last_ts
        duration = last_ts - first_ts
        duration_us = round_us(duration)
        initiator = "both" if conn.sim_open else ("unknown" if conn.roles_inferred else "orig")
        resp_ip = _ip_text(r.addr)

        self._raw(b'{"record":"connection","id":')
        self._int(conn.id)
        self._raw(b',"orig":{"ip":')
        self._str(_ip_text(o.addr))
        self._raw(b',"port":')
        self._int(o.port)
        self._raw(b'},"resp":{"ip":')
        self._str(resp_ip)
        self._raw(b',"port":')
        self._int(r.port)
        self._raw(b'},"vlan":')
        vlan = conn.vlan
        if vlan:
            self._value(list(vlan))
        else:
            self._raw(b"[]")
        self._raw(_INITIATOR_JSON[initiator])
        self._raw(b"true" if conn.roles_inferred else b"false")
        self._raw(b',"start_ts":')
        self._float(round_us(first_ts))
        self._raw(b',"end_ts":')
        self._float(round_us(last_ts))
        self._raw(b',"duration_s":')
        self._float(duration_us)
        self._raw(b',"first_frame":')
        self._int(conn.first_frame)
        self._raw(b',"last_frame":')
        self._int(conn.last_frame)
        self._raw(b',"outcome":')
        self._str(outcome)
        self._raw(b',"handshake":')
        self._value(handshake)
        self._raw(b',"close":')
        self._value(close)
        self._raw(b',"reset":')
        self._value(reset)
        self._raw(b',"time_wait":')
        time_wait = []
        tw = conn._time_wait
        if tw:
            for tw_a, tw_frame, tw_ts in tw:
                time_wait.append({"endpoint": roles[tw_a], "frame": tw_frame,
                                  "ts": round_us(tw_ts)})
            self._value(time_wait)
        else:
            self._raw(b"[]")
        self._raw(b',"initial_state":{"orig":')
        self._raw(_state_json(o.initial))
        self._raw(b',"resp":')
        self._raw(_state_json(r.initial))
        self._raw(b'},"final_state":{"orig":')
        self._raw(_state_json(o.state))
        self._raw(b',"resp":')
        self._raw(_state_json(r.state))
        self._raw(b'},"transitions":[')
        # the packed transitions, read as the report builder reads them (report.py)
        n_c = 0
        if cython.compiled:
            tr = conn._tr
            n_c = conn._tr_n if conn._tr_n < 4 else 4
        else:
            tr = conn._trp
        n = n_c + (len(tr) // 2 if tr is not None else 0)
        prev_ts = first_ts
        prev_us = round_us(first_ts)
        for i in range(n):
            if i >= n_c:
                code_d = tr[2 * (i - n_c)]
                ts = tr[2 * (i - n_c) + 1]
            elif i == 0:
                code_d, ts = conn._tr0, conn._tr1
            elif i == 1:
                code_d, ts = conn._tr2, conn._tr3
            elif i == 2:
                code_d, ts = conn._tr4, conn._tr5
            else:
                code_d, ts = conn._tr6, conn._tr7
            code = int(code_d)
            if ts != prev_ts or ts == 0:  # zero again: 0.0 == -0.0, printed apart
                prev_ts = ts
                prev_us = round_us(ts)
            self._raw(b'{"frame":' if i == 0 else b',{"frame":')
            self._int(code >> 9)
            self._raw(b',"ts":')
            self._float(prev_us)
            self._raw(b',"endpoint":')
            self._raw(role_json[code >> 8 & 1])
            self._raw(b',"from":')
            self._raw(_STATE_JSON[code >> 4 & 15])
            self._raw(b',"to":')
            self._raw(_STATE_JSON[code & 15])
            self._raw(b"}")
        self._raw(b'],"port_reuse":')
        self._value(conn.port_reuse)
        self._raw(b',"anomalies":')
        if anomalies:
            sep = b"{"
            for k, v in sorted(anomalies.items()):
                self._raw(sep)
                sep = b","
                self._value(k)
                self._raw(b":")
                self._value(v)
            self._raw(b"}")
        else:
            self._raw(b"{}")
        self._raw(b',"anomaly_events":')
        events = conn._events
        anomaly_events = [
            {"name": ev[0], "frame": ev[1], "ts": round_us(ev[2]), "endpoint": roles[ev[3]],
             "detail": ev[4]}
            for ev in sorted(events, key=_BY_FRAME)
        ] if events else []
        self._value(anomaly_events)
        self._raw(b',"measurements":')
        self._value(measurements)
        self._raw(b',"packets":{"orig":')
        self._int(o.pkts)
        self._raw(b',"resp":')
        self._int(r.pkts)
        self._raw(b'},"data_packets":{"orig":')
        self._int(o.data_pkts)
        self._raw(b',"resp":')
        self._int(r.data_pkts)
        self._raw(b'},"bytes":{"orig":')
        self._int(o.bytes)
        self._raw(b',"resp":')
        self._int(r.bytes)
        self._raw(b'},"missed_bytes":{"orig":')
        self._int(o.missed_bytes)
        self._raw(b',"resp":')
        self._int(r.missed_bytes)
        self._raw(b'},"zeek":')
        zeek = derive_zeek(conn)
        zeek_duration = conn.zeek_last_ts - (conn.z_row_start if conn.z_life else first_ts)
        zeek["duration_s"] = (
            duration_us if zeek_duration == duration and duration != 0
            else round_us(zeek_duration)
        )
        self._value(zeek)
        if file is not None:
            self._raw(b',"file":')
            self._value(file)
        self._raw(b"}\n")
        return {
            "id": conn.id,
            "outcome": outcome,
            "handshake": handshake,
            "close": close,
            "reset": reset,
            "anomalies": anomalies,
            "anomaly_events": anomaly_events,
            "time_wait": time_wait,
            "initiator": initiator,
            "resp": {"ip": resp_ip, "port": r.port},
            "data_packets": {"orig": o.data_pkts},
        }


def encode(value: Any) -> bytes:
    """``value``'s JSON text as the direct writer writes it (orjson's bytes; for tests)."""
    out: Lines = Lines(None)
    out._value(value)
    return out.take()
