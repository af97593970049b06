# C declarations for decode.py under Cython (pure Python mode's augmenting .pxd): the typed
# decoder builds Segments field by field and verifies checksums on C pointers.

from tcpflow_analyzer.checksum cimport tcp_verdict
from tcpflow_analyzer.segment cimport Segment

from libc.string cimport memcmp
