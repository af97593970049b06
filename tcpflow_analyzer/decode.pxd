# C declarations for decode.py under Cython (pure Python mode's augmenting .pxd): the typed
# decoder builds Segments field by field and verifies checksums on C pointers; its counters
# and switches are C fields (public: the pipeline and the tests read and reset them), and
# ``decode_at`` decodes a frame in place, from a pointer into the reader's buffer (the
# record cutters of _records.pxd cimport it).

from cpython.ref cimport Py_REFCNT
from libc.string cimport memcmp, memcpy

from tcpflow_analyzer.checksum cimport tcp_verdict
from tcpflow_analyzer.segment cimport Segment


cdef class Decoder:
    cdef public dict skipped
    cdef public dict unsupported_linktypes
    cdef public long long payload_truncated
    cdef public long long options_not_captured
    cdef public long long ip_length_beyond_frame
    cdef public object fragments
    cdef public bint verify_checksums
    cdef public int _nest
    cdef Segment _spare


cdef object decode_at(Decoder dec, long long frame, double ts, long long linktype,
                      const unsigned char* p, Py_ssize_t nb, object data)
