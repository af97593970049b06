# C declarations of listeners.py for Cython (pure Python mode's augmenting .pxd): the
# listener view's records and the view itself are extension types with C fields, so the
# tracker's state hook (twice a connection) and add_flow (once) run on C fields and C
# locals; they read the connection record's C fields (record.pxd) and the segment's.
# Every field is public (tests and tools read them by name).

from tcpflow_analyzer.record cimport ConnRecord, Endpoint
from tcpflow_analyzer.rounding cimport round_us
from tcpflow_analyzer.segment cimport Segment

cpdef str _ip_text(bytes addr)


cdef class _Listener:
    cdef public object ip, port
    cdef public long long attempted, established, refused, unanswered, incomplete
    cdef public long long syn_retransmissions, synack_retransmissions
    cdef public long long reset_after_established, reset_by_listener
    cdef public long long accept_queue_full, synack_after_ack, first_data_retransmitted
    cdef public long long half_open, half_open_peak, rtt_n
    cdef public object half_open_peak_ts, half_open_peak_frame, rtt_max
    cdef public list rtt
    cdef public dict hist
    cdef public set sources
    cdef public Py_ssize_t rtt_exact, max_sources


cdef class ListenerView:
    cdef public Py_ssize_t max_listeners
    cdef public dict _by_key, _by_ip, _by_addr, _pending
    cdef public set _folded_keys
    cdef public _Listener _folded
    cdef public bint _folded_more
    cdef public object _table
    cdef public dict _active

    cdef _Listener _slot(self, str ip, object port)
    cdef void _half_open(self, object cid, ConnRecord conn, Endpoint ep, double ts,
                         long long frame)
    cdef void _settled(self, object cid, object conn)
