# C declarations of ndjson.py for Cython (pure Python mode's augmenting .pxd): the direct
# NDJSON writer reads the finished connection record's C fields (record.pxd), calls the
# verdict's derivations and the exact rounding as C functions, and writes JSON text into a
# bytearray it grows itself.  The byte-level encoders (an integer's digits, a float's
# shortest text in orjson's notation, a string's escapes) are the C functions below; the
# interpreted engine has their Python equivalents in ndjson.py (``if not cython.compiled``).

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.conversion cimport PyOS_double_to_string, Py_DTSF_ADD_DOT_0
from cpython.mem cimport PyMem_Free
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.math cimport isfinite, rint, signbit
from libc.string cimport memcpy

from tcpflow_analyzer.listeners cimport _ip_text
from tcpflow_analyzer.record cimport ConnRecord, Endpoint
from tcpflow_analyzer.report cimport assemble_flow_report, reset_section
from tcpflow_analyzer.rounding cimport round_us
from tcpflow_analyzer.verdict cimport derive_close, derive_handshake, derive_zeek, outcome_text


cdef bytes _state_json(object state)


cdef class Lines:
    cdef public bytearray buf
    cdef public Py_ssize_t n
    cdef public bint fell_back
    cdef public object sink

    cdef void _raw(self, bytes b) except *
    cdef void _int(self, long long v) except *
    cdef void _float(self, double x) except *
    cdef void _str(self, str s) except *
    cdef void _value(self, object v) except *
    cpdef dict write(self, ConnRecord conn, str file=*)
    cdef dict _write(self, ConnRecord conn, str file, object measurements)


cdef inline char* _grow(Lines out, Py_ssize_t k) except NULL:
    # room for k more bytes after the n written; the bytearray's size is the capacity
    cdef Py_ssize_t need = out.n + k
    cdef Py_ssize_t cap = PyByteArray_GET_SIZE(out.buf)
    if need > cap:
        PyByteArray_Resize(out.buf, need if need > 2 * cap else 2 * cap)
    return PyByteArray_AS_STRING(out.buf) + out.n


cdef inline void _c_put(Lines out, const char* s, Py_ssize_t k) except *:
    memcpy(_grow(out, k), s, k)
    out.n += k


cdef inline void _c_int(Lines out, long long v) except *:
    cdef char tmp[24]
    cdef int i = 24
    cdef unsigned long long u = (0ULL - <unsigned long long>v) if v < 0 else <unsigned long long>v
    while True:
        i -= 1
        tmp[i] = <char>(48 + u % 10)
        u //= 10
        if u == 0:
            break
    if v < 0:
        i -= 1
        tmp[i] = 45
    _c_put(out, tmp + i, 24 - i)


cdef inline bint _c_fixed(Lines out, double x, double scale, long long unit, int digits,
                          double below) except -1:
    # x in plain decimal with at most ``digits`` fraction digits when that text is the
    # shortest that reads back as x (then True): k = x * 10**digits rounded, k / 10**digits
    # (an exact integer divided by an exact power of ten: IEEE's correctly rounded quotient)
    # equal to x proves that the decimal k / 10**digits reads back as x; it is the only
    # one with at most ``digits`` fraction digits, and so the shortest, when |x| < ``below``
    # (there x's rounding interval, one ulp wide, is narrower than 10**-digits)
    cdef double a = -x if x < 0 else x
    cdef double kd
    cdef long long k, q, f
    cdef char tmp[48]
    cdef int i = 48, j, nf
    if not (a < below and a >= 1e-5):
        return False
    kd = rint(a * scale)
    if kd / scale != a:
        return False
    k = <long long>kd
    q = k // unit
    f = k % unit
    nf = digits
    while nf > 1 and f % 10 == 0:  # the fraction's trailing zeros (one digit at least)
        f //= 10
        nf -= 1
    for j in range(nf):
        i -= 1
        tmp[i] = <char>(48 + f % 10)
        f //= 10
    i -= 1
    tmp[i] = 46
    while True:
        i -= 1
        tmp[i] = <char>(48 + q % 10)
        q //= 10
        if q == 0:
            break
    if x < 0:
        i -= 1
        tmp[i] = 45
    _c_put(out, tmp + i, 48 - i)
    return True


cdef inline void _c_float(Lines out, double x) except *:
    # Python's repr (the shortest text that reads back as x: the digits orjson writes too),
    # respelt in orjson's notation: plain decimal from 1e-5 up to 1e16, repr writing an
    # exponent from 1e-4 down (1e-05 -> 0.00001); exponents without leading zeros (1e-7)
    cdef char tmp[64]
    cdef char* r
    cdef Py_ssize_t i, e, k, o
    cdef int ex, sign
    if not isfinite(x):
        _c_put(out, "null", 4)
        return
    if x == 0:
        if signbit(x):
            _c_put(out, "-0.0", 4)
        else:
            _c_put(out, "0.0", 3)
        return
    # the report's floats are rounded to the microsecond or the nanosecond: their texts
    # come from integers (2**33 s and 2**22 s: see _c_fixed); any other, from repr's
    if _c_fixed(out, x, 1e6, 1000000, 6, 8589934592.0):
        return
    if _c_fixed(out, x, 1e9, 1000000000, 9, 4194304.0):
        return
    r = PyOS_double_to_string(x, b'r', 0, Py_DTSF_ADD_DOT_0, NULL)
    k = 0
    e = -1
    while r[k] != 0:
        if r[k] == 101 and e < 0:  # 'e'
            e = k
        k += 1
    if e < 0 or k > 40:
        if k > 40:  # never: a double's repr is at most 24 characters
            k = 40
        memcpy(tmp, r, k)
        PyMem_Free(r)
        _c_put(out, tmp, k)
        return
    # exponent: r[e+1] is the sign, then its digits
    sign = -1 if r[e + 1] == 45 else 1
    ex = 0
    i = e + 2
    while i < k:
        ex = ex * 10 + (r[i] - 48)
        i += 1
    o = 0
    if sign < 0 and ex == 5:
        i = 0
        if r[0] == 45:
            tmp[o] = 45
            o += 1
            i = 1
        memcpy(tmp + o, b"0.0000", 6)
        o += 6
        while i < e:
            if r[i] != 46:
                tmp[o] = r[i]
                o += 1
            i += 1
    else:
        memcpy(tmp, r, e + 1)
        o = e + 1
        tmp[o] = 45 if sign < 0 else 43
        o += 1
        # the exponent's digits without leading zeros (at most three)
        if ex >= 100:
            tmp[o] = <char>(48 + ex // 100)
            o += 1
        if ex >= 10:
            tmp[o] = <char>(48 + ex // 10 % 10)
            o += 1
        tmp[o] = <char>(48 + ex % 10)
        o += 1
    PyMem_Free(r)
    _c_put(out, tmp, o)


cdef inline void _c_str(Lines out, str s) except *:
    # orjson's escapes: \" \\ \n \r \t \b \f, other bytes below 0x20 as \u00xx (lowercase
    # hex), everything else (DEL, non-ASCII) as raw UTF-8; a surrogate raises
    # UnicodeEncodeError (orjson refuses the string too: the caller falls back)
    cdef Py_ssize_t k, i, o
    cdef unsigned char c
    cdef const unsigned char* p = <const unsigned char*>PyUnicode_AsUTF8AndSize(s, &k)
    cdef char* w = _grow(out, 2 + 6 * k)
    w[0] = 34
    o = 1
    for i in range(k):
        c = p[i]
        if c >= 0x20 and c != 34 and c != 92:
            w[o] = <char>c
            o += 1
        elif c == 34 or c == 92:
            w[o] = 92
            w[o + 1] = <char>c
            o += 2
        elif c == 10:
            w[o] = 92
            w[o + 1] = 110
            o += 2
        elif c == 13:
            w[o] = 92
            w[o + 1] = 114
            o += 2
        elif c == 9:
            w[o] = 92
            w[o + 1] = 116
            o += 2
        elif c == 8:
            w[o] = 92
            w[o + 1] = 98
            o += 2
        elif c == 12:
            w[o] = 92
            w[o + 1] = 102
            o += 2
        else:
            memcpy(w + o, b"\\u00", 4)
            w[o + 4] = <char>(48 + (c >> 4))
            w[o + 5] = <char>((48 + (c & 15)) if (c & 15) < 10 else (87 + (c & 15)))
            o += 6
    w[o] = 34
    out.n += o + 1
