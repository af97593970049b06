# C declarations of checksum.py for Cython (pure Python mode's augmenting .pxd): the
# checksum on C pointers, which the compiled decoder cimports (decode.pxd).

from libc.string cimport memcpy

cdef int tcp_verdict(const unsigned char* seg, Py_ssize_t seglen,
                     const unsigned char* addrs, Py_ssize_t alen,
                     unsigned int field) noexcept nogil
