# C declarations of _ingest.py for Cython (pure Python mode's augmenting .pxd): the flow
# lookup's fast path reads the Segment's C fields (segment.pxd) and keeps the table's fixed
# settings as C fields.

from tcpflow_analyzer.segment cimport Segment


cdef class FlowLookup:
    cdef object _table
    cdef dict _index
    cdef object _slow
    cdef bint _vlan_free
    cdef bint _wireshark
    cdef double _min_timeout
