# C declarations of verdict.py for Cython (pure Python mode's augmenting .pxd): the
# derivations read the connection record's C fields (record.pxd) and are C functions the
# report builder (report.pxd) cimports; Python callers reach them under the same names.

from tcpflow_analyzer.record cimport ConnRecord, Endpoint
from tcpflow_analyzer.rounding cimport round_ns, round_us

cdef dict _options_dict(object opts)
cdef list _frames(object packed, Py_ssize_t stride)
cdef list _fin_frames(Endpoint ep, long long first)
cpdef dict derive_handshake(ConnRecord conn)
cpdef dict derive_close(ConnRecord conn)
cdef int _outcome(ConnRecord conn, str status, str pattern, object final_ack)
cpdef object derive_outcome(ConnRecord conn, dict handshake, dict close)
cpdef str outcome_text(ConnRecord conn, dict handshake, dict close)
cpdef dict derive_zeek(ConnRecord conn)
