# C declarations of _ingest.py for Cython (pure Python mode's augmenting .pxd): the flow
# lookup's fast path reads the Segment's and the connection record's C fields (segment.pxd,
# record.pxd) and keeps the table's fixed settings as C fields.

from tcpflow_analyzer.decode cimport Decoder
from tcpflow_analyzer.record cimport ConnRecord, Endpoint
from tcpflow_analyzer.segment cimport Segment
from tcpflow_analyzer.tracker cimport Connection


cdef object _port(int port)
cpdef tuple _index_key(Segment seg, bint vlan_free)


cdef class FlowLookup:
    cdef object _table
    cdef dict _index
    cdef object _slow
    cdef bint _vlan_free
    cdef bint _wireshark
    cdef double _min_timeout
    cdef double _next_sweep
    cdef bint _from_a

    cdef tuple _by_table(self, Segment seg)
    cdef object _find(self, Segment seg)
