# C declarations of rounding.py for Cython (pure Python mode's augmenting .pxd): the
# report's exact rounding as C functions (seqanalysis, verdict and report cimport them).

from libc.math cimport rint

cdef double _round(double x, double scale, int digits)
cpdef double round_us(double x)
cpdef double round_ns(double x)
