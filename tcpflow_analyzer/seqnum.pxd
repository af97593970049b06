# C declarations of seqnum.py for Cython (pure Python mode's augmenting .pxd): typed modules
# cimport these helpers and call them as C functions (no Python call, no boxing).

cpdef long long seq_add(long long a, long long n) noexcept nogil
cpdef long long seq_diff(long long a, long long b) noexcept nogil
cpdef bint seq_lt(long long a, long long b) noexcept nogil
cpdef bint seq_le(long long a, long long b) noexcept nogil
cpdef bint seq_gt(long long a, long long b) noexcept nogil
cpdef bint seq_ge(long long a, long long b) noexcept nogil
cpdef long long seq_max(long long a, long long b) noexcept nogil
cpdef bint in_window(long long seq, long long left, long long size) noexcept nogil
cpdef long long unwrap(long long seq, long long ref_abs) noexcept nogil
