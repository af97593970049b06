# C declarations of history.py for Cython (pure Python mode's augmenting .pxd): the Zeek
# model's per-segment helpers as C functions on the connection record's C fields.  The
# ``cpdef`` ones are the orchestrator's entry points (tracker.pxd cimports them); Python
# callers (tests, tools) reach them under the same names.

from tcpflow_analyzer.record cimport ConnExtra, ConnRecord, Endpoint
from tcpflow_analyzer.segment cimport Segment
from tcpflow_analyzer.seqnum cimport seq_diff

cdef void _add(ConnRecord conn, str letter, bint is_orig)
cdef bint _check(ConnRecord conn, long long bit, str letter, bint is_orig)
cdef void _scaled(ConnRecord conn, Endpoint ep, int idx, str letter, bint is_orig)
cdef bint _is_power_of_ten(unsigned int n) noexcept
cpdef void record_once(ConnRecord conn, long long bit, str letter, bint is_orig)
cpdef void zero_window(ConnRecord conn, Endpoint ep, bint is_orig)
cpdef void retransmitted(ConnRecord conn, Endpoint ep, bint is_orig)
cpdef void zeek_bad_checksum(ConnRecord conn, Endpoint ep, bint is_orig)
cpdef void zeek_gap(ConnRecord conn, Endpoint ep, bint is_orig)
cpdef void zeek_process(ConnRecord conn, Endpoint ep, Endpoint peer, bint is_orig, int flags,
                        long long seq, long long ack, long long plen, long long win,
                        int wscale)
cdef void _set(Endpoint ep, int state) noexcept
cdef void _zeek_state_machine(ConnRecord conn, Endpoint ep, Endpoint peer, bint is_orig,
                              int flags, long long plen)
cdef void _set_reset_state(Endpoint ep) noexcept
cdef void _life(ConnRecord conn)
cdef void _expire_clear(ConnRecord conn)
cdef void _expire_add(ConnRecord conn, double first)
cdef void _swap_roles(ConnRecord conn)
cdef void _connection_closed(ConnRecord conn, Endpoint ep, Endpoint peer)
cdef bint _timer_fired(ConnRecord conn, double ts)
cdef bint _is_reuse(ConnRecord conn, int flags, long long seq)
cpdef void zeek_before(ConnRecord conn, Segment seg, bint from_a)
cdef void _new_row(ConnRecord conn, Segment seg, bint from_a)
