"""Conformance scoreboards against independent oracles (Zeek conn.log, tshark)."""
