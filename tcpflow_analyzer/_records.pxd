# C declarations of _records.py for Cython (pure Python mode's augmenting .pxd): the pcap
# record cutter's state as C fields.  The fields the reader's own loop reads and writes are
# public; the byte layout of a record header is private.  A cutter given a decoder decodes
# the frames it cuts in place (decode.pxd's decode_at).

from tcpflow_analyzer.decode cimport Decoder, decode_at


cdef extern from *:
    """
    /* The guard of the mapped read windows (_records.py: guard_install).  A file that
       shrinks under a mapping makes the pages past its new end raise SIGBUS on access;
       the handler maps a page of zeros over such a page of one of our windows, counts it
       and returns, so the access reads zeros and the reader, which checks the count,
       stops with a one-line error.  A SIGBUS anywhere else gets the previous action. */
    #include <signal.h>
    #include <stdint.h>
    #include <string.h>
    #include <sys/mman.h>
    #include <unistd.h>
    #define TFA_WINDOWS 8
    static volatile uintptr_t tfa_lo[TFA_WINDOWS], tfa_hi[TFA_WINDOWS];
    static volatile int tfa_next_window = 0;
    static volatile long tfa_faults = 0;
    static int tfa_installed = 0;
    static uintptr_t tfa_page = 4096;
    static struct sigaction tfa_previous;

    static void tfa_on_sigbus(int sig, siginfo_t *info, void *ctx) {
        uintptr_t a = (uintptr_t)info->si_addr;
        int i;
        (void)ctx;
        for (i = 0; i < TFA_WINDOWS; i++) {
            if (a >= tfa_lo[i] && a < tfa_hi[i]) {
                void *page = (void *)(a & ~(tfa_page - 1));
                if (mmap(page, tfa_page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                         -1, 0) != MAP_FAILED) {
                    tfa_faults++;
                    return;
                }
                break;
            }
        }
        sigaction(SIGBUS, &tfa_previous, NULL);  /* not ours: the action it had before */
        (void)sig;
    }

    static int tfa_guard_install(void) {
        struct sigaction sa;
        long page;
        if (tfa_installed)
            return 1;
        page = sysconf(_SC_PAGESIZE);
        if (page > 0)
            tfa_page = (uintptr_t)page;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = tfa_on_sigbus;
        sa.sa_flags = SA_SIGINFO | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGBUS, &sa, &tfa_previous) != 0)
            return 0;
        tfa_installed = 1;
        return 1;
    }

    static void tfa_guard_window(const unsigned char *p, Py_ssize_t n) {
        int i = tfa_next_window;
        tfa_lo[i] = 0;  /* never a half-written range */
        tfa_hi[i] = (uintptr_t)p + (uintptr_t)n;
        tfa_lo[i] = (uintptr_t)p;
        tfa_next_window = (i + 1) % TFA_WINDOWS;
    }

    static long tfa_guard_faults(void) { return tfa_faults; }
    """
    int tfa_guard_install() nogil
    void tfa_guard_window(const unsigned char* p, Py_ssize_t n) nogil
    long tfa_guard_faults() nogil


cdef class _Cutter:
    cdef public object buf
    cdef const unsigned char[::1] _view
    cdef const unsigned char* _p
    cdef Py_ssize_t _n
    cdef public Py_ssize_t pos
    cdef public long long frame
    cdef public object slow
    cdef public Decoder dec
    cdef double _ts
    cdef long long _lt
    cdef Py_ssize_t _at, _len

    cdef int _cut(self) except -1
    cdef void _take(self, object buf) except *


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


cdef class _Pin:
    cdef const unsigned char[::1] view
