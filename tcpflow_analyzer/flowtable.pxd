# C declarations of flowtable.py for Cython (pure Python mode's augmenting .pxd): the flow
# table is an extension type whose creation and finishing path (_open, _create, _finish,
# ...) are C methods on the Segment's and the connection record's C fields (segment.pxd,
# record.pxd).  Every field is public: the pipeline, the flow lookup's fast path
# (_ingest.FlowLookup), tools and tests read (and some tests write) them by name.

from tcpflow_analyzer.record cimport ConnRecord, Endpoint
from tcpflow_analyzer.segment cimport Segment
from tcpflow_analyzer.seqnum cimport seq_add, seq_diff
from tcpflow_analyzer.tracker cimport Connection

cdef double _SWEEP_INTERVAL
cdef int _FIN, _SYN, _RST, _ACK
cdef long long _FIT_SPAN, _OUTSIDE

cdef double _timeout(Connection conn, object cfg)
cdef bint _fin_resent_after_ack(Endpoint ep)
cdef bint _is_finished(Connection conn)
cdef void _late_for_prev(Connection conn, Connection prev, Segment seg, bint from_a,
                         bint p_from_a)
cdef long long _fit(Connection conn, Segment seg, bint from_a)
cdef tuple _canonical(tuple key)


cdef class FlowTable:
    cdef public object config, on_finished, sink, lookup, index, cut
    cdef public dict active, recent, _shared, tagged, vlan_joins
    cdef public list late_conns
    cdef public long long recent_folded, next_id, max_active, peak_active, evicted
    cdef public long long cut_segments, late_segments, vlan_joins_folded
    cdef public double _recent_horizon, next_sweep, _min_timeout
    cdef public bint wireshark, vlan_free, vlan_auto

    cdef tuple _open(self, Segment seg, tuple key)
    cdef Connection _other_vlan(self, Segment seg, tuple key)
    cdef bint _is_new_incarnation(self, Connection conn, bint from_a, Segment seg)
    cdef Connection _create(self, Segment seg, tuple key, object previous)
    cdef void _link(self, Connection conn, object old, Segment seg)
    cdef Connection _replace(self, Connection old, Segment seg, tuple key, bint reuse)
    cdef void _finish(self, Connection conn, bint remember)
    cdef void _evict(self, Segment seg)
    cdef bint _cut_is_over(self, tuple key, Py_ssize_t slot, Segment seg)
    cdef bint _cut_segment(self, Py_ssize_t slot, double ts)
    cdef void _sweep(self, double now)
