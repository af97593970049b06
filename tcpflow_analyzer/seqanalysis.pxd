# C declarations of seqanalysis.py for Cython (pure Python mode's augmenting .pxd): the
# detector's per-direction state as C fields.  Every field is public (plain Python reads and
# writes it under its name: tests, the report builder); the per-segment helpers are C methods.
# Sequence numbers are 32-bit unsigned; ``known`` says which optional ones are set.

from libc.math cimport rint

from tcpflow_analyzer.segment cimport Segment

# A one-byte bint (as record.pxd's): Python reads and writes it as a bool
cdef extern from *:
    ctypedef bint bool8 "unsigned char"
from tcpflow_analyzer.seqnum cimport seq_add, seq_diff


cdef class _FlowMore:
    cdef public unsigned int sack_hi, recover, zwp, retx_segs, rtt_stride, rtt_skip
    cdef public long long retx_bytes, missed
    cdef public double zw_ts, stall_s
    cdef public object rtt, holes, retx, rst, oow


cdef class _Flow:
    cdef public unsigned int known
    cdef public unsigned int isn, nxt, max_ack, ack, right_last, right_max, right_ns
    cdef public unsigned int rtt_end, p_seq
    cdef public int win, p_csum, p_ipid, flight_max
    cdef public signed char shift, syn_ws
    cdef public unsigned char probe, zw_on
    cdef public unsigned int syn_len, dupacks, rtt_n
    cdef public long long data_bytes, ack_frame, last_frame, p_frame
    cdef public double p_ts, rtt_ts, rtt_min, rtt_max, rtt0, rtt1
    cdef public _FlowMore more


cdef _FlowMore _more(_Flow f)


cdef class _WsFlow:
    cdef public unsigned int base, nextseq, maxack, lastack
    cdef public bint base_set, first_ack
    cdef public int dupnum, lastflags, win_scale
    cdef public long long nextseq_t, lastack_t, lastnondup, window
    cdef public long long conv_syn, conv_rtt, conv_tfo
    cdef public object synacks


cdef class SeqAnalysis:
    cdef readonly _Flow _a, _b
    cdef readonly _WsFlow _wa, _wb
    cdef public double _hs_syn, _hs_synack, _hs_rtt
    cdef public object _tfo, _ws_state
    # one byte each, after the 8-byte fields (no padding between them)
    cdef public bool8 _emit, _finished, _hs_on

    cpdef void process(self, object conn, Segment seg, bint from_a)
    cdef void _say(self, object conn, str code, Segment seg, bint from_a, str detail=*)
    cdef double _full_rtt(self)
    cdef double _react_s(self)
    cdef void _first(self, object conn, Segment seg, bint from_a, _Flow s, _Flow r)
    cdef bint _same(self, _Flow s, Segment seg)
    cdef void _challenge(self, object conn, Segment seg, bint from_a, _Flow s, _Flow r)
    cdef void _syn(self, object conn, Segment seg, bint from_a, _Flow s, _Flow r)
    cdef void _set_scale(self, int a, int b, str state)
    cdef void _bare(self, object conn, Segment seg, bint from_a, _Flow s, _Flow r,
                    long long prev_ipid)
    cdef void _probe_or_keepalive(self, object conn, Segment seg, bint from_a, _Flow s, _Flow r)
    cdef void _data(self, object conn, Segment seg, bint from_a, _Flow s, _Flow r,
                    long long prev_ipid)
    cdef void _gap(self, object conn, Segment seg, bint from_a, _Flow s, _Flow r,
                   long long start, long long end, long long prev_ipid)
    cdef void _lost(self, object conn, _Flow s, list hole, bint from_a, str why)
    cdef void _fill(self, object conn, Segment seg, bint from_a, _Flow s, _Flow r, list hole,
                    long long end_data)
    cdef void _resent(self, object conn, Segment seg, bint from_a, _Flow s, _Flow r,
                      long long end_data, str extra)
    cdef void _ack(self, object conn, Segment seg, bint from_a, _Flow s, _Flow r,
                   int probe_answer)
    cdef void _acked(self, object conn, Segment seg, bint from_a, _Flow s, _Flow r,
                     long long ack)
    cdef void _sack(self, object conn, Segment seg, bint from_a, _Flow s, _Flow r, object sack,
                    long long ack)
    cdef void _ws_process(self, object conn, Segment seg, bint from_a)


cdef void _rtt_add(_Flow f, double sample)


# the end of a connection: its measurements, rounded as round(x, 6) exactly (rounding.pxd)
from tcpflow_analyzer.rounding cimport round_us

cdef dict _direction_report(_Flow f)
