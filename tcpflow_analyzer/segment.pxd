# C declarations of segment.py for Cython (pure Python mode's augmenting .pxd): the fields
# of the compiled Segment.  Every field is public: plain Python reads and writes it under
# the same name.  Keep these types wide enough for every value a caller may store
# (seq/ack take any 64-bit value, so a test's unmasked number round-trips unchanged).

cdef class Segment:
    cdef public long long frame
    cdef public double ts
    cdef public tuple vlan
    cdef public int ipver
    cdef public bytes src
    cdef public bytes dst
    cdef public int sport
    cdef public int dport
    cdef public long long seq
    cdef public long long ack
    cdef public int flags
    cdef public long long win
    cdef public long long plen
    cdef public object csum_ok
    cdef public long long ip_id
    cdef public int tcp_csum
    cdef public long long _tsval  # -1: no timestamps option (the tsval/tsecr views)
    cdef public long long _tsecr
    cdef public object sack
    cdef public object syn_opts
    cdef public long long link_pad
