# C declarations of record.py for Cython (pure Python mode's augmenting .pxd): the connection
# record, both endpoints' fields as C fields.  Every field is public (plain Python reads and
# writes it under its name: verdict, report, ladder, flow table, tests).  The optional
# sequence numbers (``_isn``, ``_snd_nxt``, ...) hold -1 for "none yet"; the properties
# ``isn``, ``snd_nxt``, ... give the None-or-int view of them (``_last_tsval`` likewise).

# A one-byte bint: Python reads and writes it as a bool (as a ``bint``), C stores it in a
# byte instead of an int (4 bytes), so the flags of a record sit side by side.
cdef extern from *:
    ctypedef bint bool8 "unsigned char"


cdef class EndpointMore:
    cdef public object rst_frames, ooo, _fin_more
    cdef public long long fin_delivered_frame, fin_ack_frame, missed_bytes, _z_hole
    cdef public double _fin_0, _fin_1


cdef class Endpoint:
    cdef public object addr
    # small fields side by side (16 bytes): a port, a window-scale option, the RFC state and
    # initial state (indices in record.STATES), Zeek states, flags
    cdef public unsigned short port
    cdef public short z_wscale
    cdef public unsigned char _st, _st0
    cdef public signed char z_state, z_prev
    cdef public unsigned char _rec_in
    cdef public bool8 is_a, moved, syn_delivered, fin_delivered, data_after_peer_fin
    cdef public bool8 z_did_close
    # 32-bit fields, four bytes each: the Zeek model's counters and sequence numbers (always
    # set, modulo 2**32), the advertised window (the TCP header's 16 bits) and the SYN's
    # payload (at most a frame's captured length, a 32-bit field in pcap and pcapng)
    cdef public unsigned int z_n_c, z_n_w, z_n_t, z_n_g
    cdef public unsigned int z_start, z_last, syn_plen, win
    cdef public long long _isn, _snd_nxt, _fin_seq, _last_ack, _contig, _last_tsval
    cdef public long long pkts, data_pkts
    cdef public long long z_hist_syn, z_hist_fin, z_hist_rst
    cdef public object opts
    # the rarely set fields (record.py: EndpointMore, the rst_frames ... fin_ack_frame
    # properties)
    cdef public EndpointMore _more
    cdef public long long bytes
    # the first SYN or SYN-ACK and the first FIN (record.py: the syn_rec ... views)
    cdef public double _hs_0, _hs_1, _hs_2
    cdef public object _syn_more, _synack_more

    cdef EndpointMore _extra(self)
    cdef bint sent_syn(self)
    cdef bint sent_synack(self)
    cdef bint sent_fin(self)
    cdef double first_fin_frame(self)
    cdef Py_ssize_t n_syn(self)
    cdef double syn_at(self, Py_ssize_t i, int k)
    cdef Py_ssize_t n_synack(self)
    cdef double synack_at(self, Py_ssize_t i, int k)


cdef class ConnExtra:
    cdef public object vlan_b, _tr, _resets, _time_wait, port_reuse
    cdef public object z_expire_more, z_base, z_rows


cdef class ConnRecord:
    cdef public long long id, first_frame, last_frame, hist_seen
    cdef public Endpoint a, b
    cdef public bool8 orig_is_a, roles_inferred, z_swap, sim_open, fin_crossed, _steady_ok
    cdef public bool8 z_life, z_active
    cdef public unsigned char _tr_n
    cdef public int z_n_expire
    cdef public double first_ts, last_ts, zeek_last_ts
    cdef public str history
    cdef public double z_attempt, z_delete, z_row_start, z_expire0
    cdef public object config, sink, vlan, seq, _anomalies, _events, prev
    # the rarely set fields (record.py: ConnExtra, the vlan_b ... z_rows properties)
    cdef public ConnExtra _x
    cdef public long long _hsa_frame
    cdef public double _hsa_ts
    cdef public double _tr0, _tr1, _tr2, _tr3, _tr4, _tr5, _tr6, _tr7

    cdef ConnExtra _extra(self)
    cdef void _tr_add(self, double code, double ts)
    cdef void _init(self, long long conn_id, object seg, object config, object sink)
