# C declarations of tracker.py for Cython (pure Python mode's augmenting .pxd): the
# orchestrator extends the connection record (record.pxd) and calls the Zeek model's and
# seqnum's helpers as C functions.  Internal methods are C methods of a final class.

from tcpflow_analyzer.history cimport (
    record_once,
    retransmitted,
    zeek_bad_checksum,
    zeek_before,
    zeek_gap,
    zeek_process,
    zero_window,
)
from tcpflow_analyzer.record cimport ConnExtra, ConnRecord, Endpoint, EndpointMore
from tcpflow_analyzer.segment cimport Segment
from tcpflow_analyzer.seqanalysis cimport SeqAnalysis
from tcpflow_analyzer.seqnum cimport in_window, seq_diff

cdef bint _is_steady(Endpoint ep)
cdef bint _all_events(object sink)
cdef bint _acks_syn(Endpoint ep, long long ack)
cdef long long _rcv_window(long long win, int shift) noexcept


cdef class Connection(ConnRecord):
    cpdef void process(self, Segment seg, bint from_a)
    cdef void _set_state(self, Endpoint ep, int new, Segment seg)
    cdef void _retag_initial(self, Endpoint ep, int state)
    cpdef void anomaly(self, str code, object seg, Endpoint ep, str detail=*)
    cdef void _general(self, Segment seg, Endpoint s, Endpoint r, bint from_a)
    cdef void _count(self, Endpoint s, Segment seg)
    cdef void _steady(self, Segment seg, Endpoint s, Endpoint r, bint from_a)
    cdef void _advance(self, Endpoint s, long long seq, long long plen, int flags)
    cdef void _stream_add(self, Endpoint s, long long start, long long end)
    cdef void _stream_merge(self, Endpoint s)
    cdef void _send_syn(self, Endpoint s, Endpoint r, Segment seg)
    cdef void _send_synack(self, Endpoint s, Endpoint r, Segment seg)
    cdef bint _network_copy(self, Segment seg, Endpoint s)
    cdef void _recv_syn(self, Endpoint x, Segment seg, Endpoint sender)
    cdef void _unseen_handshake(self, Endpoint s, Endpoint r, Segment seg)
    cdef void _data(self, Endpoint s, Endpoint r, Segment seg)
    cdef void _send_fin(self, Endpoint s, Endpoint r, Segment seg)
    cdef void _recv_fin(self, Endpoint x, Endpoint peer, Segment seg)
    cdef void _ack_arrives(self, Endpoint s, Endpoint r, Segment seg)
    cdef void _zeek_gap(self, Endpoint s, Endpoint r, Segment seg, bint gap)
    cdef void _handshake_done(self, Segment seg)
    cdef void _analyse(self, Segment seg, bint from_a)
    cdef void _send_rst(self, Endpoint s, Endpoint r, Segment seg)
    cdef int _window_shift(self, Endpoint ep)
