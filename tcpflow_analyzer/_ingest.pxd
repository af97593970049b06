# C declarations of _ingest.py for Cython (pure Python mode's augmenting .pxd): the flow
# lookup's fast path reads the Segment's and the connection record's C fields (segment.pxd,
# record.pxd) and keeps the table's fixed settings as C fields.

from libc.string cimport memcpy

from tcpflow_analyzer.decode cimport Decoder
from tcpflow_analyzer.record cimport ConnRecord, Endpoint
from tcpflow_analyzer.segment cimport Segment
from tcpflow_analyzer.tracker cimport Connection


cdef object _port(int port)
cpdef tuple _index_key(Segment seg, bint vlan_free)


cdef unsigned long long _fmix(unsigned long long h) noexcept
cdef unsigned int _ld4(const unsigned char* p) noexcept
cdef unsigned long long _ld(const unsigned char* p, Py_ssize_t n) noexcept
cdef unsigned long long _mix_bytes(unsigned long long h, bytes data)
cdef unsigned long long _mix_pair(unsigned long long h, bytes first, bytes second)


cdef class FlowIndex:
    cdef unsigned long long _seed
    cdef unsigned long long _hash_mask
    cdef bint _vlan_free
    cdef public bint _from_a
    cdef Py_ssize_t _used
    cdef Py_ssize_t _deleted
    cdef Py_ssize_t _mask
    cdef unsigned int[::1] _tags
    cdef unsigned long long[::1] _keys
    cdef list _conns

    cdef unsigned long long _hash(self, bytes src, int sport, bytes dst, int dport, tuple vlan)
    cdef tuple _key_vlan(self, ConnRecord conn, bint second)
    cdef unsigned long long _conn_hash(self, ConnRecord conn, bint second)
    cdef bint _matches(self, ConnRecord conn, bint second, bytes src, int sport, bytes dst,
                       int dport, tuple vlan)
    cdef Py_ssize_t _probe(self, unsigned long long h, bytes src, int sport, bytes dst,
                           int dport, tuple vlan)
    cdef object _find(self, Segment seg, tuple vlan)
    cdef void _put(self, unsigned long long h, Py_ssize_t i, ConnRecord conn, bint second)
    cdef bint _room(self)
    cdef void _add(self, unsigned long long h, Py_ssize_t i, Segment seg, tuple vlan,
                   ConnRecord conn)
    cdef Py_ssize_t _slot(self, tuple key)


cdef class FlowLookup:
    cdef object _table
    cdef FlowIndex _index
    cdef object _slow
    cdef bint _vlan_free
    cdef bint _wireshark
    cdef double _min_timeout
    cdef double _next_sweep
    cdef bint _from_a

    cdef tuple _by_table(self, Segment seg)
    cdef object _find(self, Segment seg)


cdef ConnRecord _bare_record(Segment seg, long long n)
