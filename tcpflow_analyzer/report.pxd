# C declarations of report.py for Cython (pure Python mode's augmenting .pxd): the report
# builder reads the finished connection record's C fields (record.pxd) and calls the
# verdict's derivations and the exact rounding as C functions.

from libc.stdlib cimport free, malloc

from tcpflow_analyzer.record cimport ConnRecord, Endpoint
from tcpflow_analyzer.rounding cimport round_us
from tcpflow_analyzer.verdict cimport derive_close, derive_handshake, derive_zeek, outcome_text


cdef inline bint _room(size_t nbytes) noexcept nogil:
    # the memory is never touched: no zero-filling, as a bytearray would
    cdef void *p = malloc(nbytes)
    if p is NULL:
        return False
    free(p)
    return True


cdef str _state_text(object state)
cpdef dict build_flow_report(ConnRecord conn, str file=*)
cpdef dict assemble_flow_report(ConnRecord conn, str file, object measurements)
cpdef object reset_section(ConnRecord conn)
