# C declarations of _records.py for Cython (pure Python mode's augmenting .pxd): the pcap
# record cutter's state as C fields.  The fields the reader's own loop reads and writes are
# public; the byte layout of a record header is private.  A cutter given a decoder decodes
# the frames it cuts in place (decode.pxd's decode_at).

from tcpflow_analyzer.decode cimport Decoder, decode_at


cdef class _Cutter:
    cdef public bytes buf
    cdef public Py_ssize_t pos
    cdef public long long frame
    cdef public object slow
    cdef public Decoder dec
    cdef double _ts
    cdef long long _lt
    cdef Py_ssize_t _at, _len

    cdef int _cut(self) except -1


cdef class PcapCutter(_Cutter):
    cdef public long long last_sec
    cdef bint _big
    cdef Py_ssize_t _rec_size, _limit, _min_len
    cdef double _scale
    cdef long long _linktype

    cdef int _cut(self) except -1


cdef class PcapngCutter(_Cutter):
    cdef public double last_ts
    cdef list _ifaces
    cdef bint _big

    cdef int _cut(self) except -1
