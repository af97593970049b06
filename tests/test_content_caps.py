"""Tables keyed by capture content stay bounded (issue 12): a capture that names a new skip
reason, link type or offloading host in every frame gets a fixed number of table entries
and warning lines, plus one line that says what was folded."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpflow_analyzer import pipeline
from tcpflow_analyzer.decode import MAX_SKIP_REASONS, SKIP_OTHER, Decoder
from tcpflow_analyzer.pipeline import MAX_OFFLOAD_WARNINGS, Analyzer, analyze_to_report
from tcpflow_analyzer.tracker import TrackerConfig

from . import capbuild as cb


def _null_families(tmp_path: Path, name: str, families: range) -> str:
    """A NULL-link capture whose every frame carries another address family."""
    tcp = cb.tcp4()
    return cb.write(tmp_path, name, cb.pcap_bytes(
        [(1, 0, cb.null(tcp, af)) for af in families], linktype=0))


def test_a_new_address_family_per_frame_is_folded_into_other(tmp_path: Path) -> None:
    """Was one skip reason per frame: 504 MB and a million keys in the JSON."""
    families = range(100, 3100)
    report = analyze_to_report([_null_families(tmp_path, "af.pcap", families)], TrackerConfig())
    skipped = report["capture"]["skipped"]
    assert len(skipped) == MAX_SKIP_REASONS + 1
    assert sum(skipped.values()) == len(families)
    assert skipped[SKIP_OTHER] == len(families) - MAX_SKIP_REASONS
    folded = [w for w in report["capture"]["warnings"] if "distinct reasons" in w]
    assert folded == [f"frames were skipped for more than {MAX_SKIP_REASONS} distinct reasons: "
                      f"{len(families) - MAX_SKIP_REASONS} frames of the further ones are "
                      "counted as 'other'"]


def test_reasons_folded_across_files_are_said_once(tmp_path: Path) -> None:
    first = _null_families(tmp_path, "a.pcap", range(100, 140))
    second = _null_families(tmp_path, "b.pcap", range(200, 240))
    report = analyze_to_report([first, second], TrackerConfig())
    skipped = report["capture"]["skipped"]
    assert len(skipped) == MAX_SKIP_REASONS + 1 and sum(skipped.values()) == 80
    assert skipped[SKIP_OTHER] == 80 - MAX_SKIP_REASONS
    assert sum("distinct reasons" in w for w in report["capture"]["warnings"]) == 1


def test_known_reasons_keep_counting_after_the_cap() -> None:
    dec = Decoder()
    tcp = cb.tcp4()
    for af in range(100, 300):
        dec.decode(1, 0.0, 0, cb.null(tcp, af))
    dec.decode(2, 0.0, 0, cb.null(tcp, 100))
    assert dec.skipped["non_ip:af_100"] == 2
    assert len(dec.skipped) == MAX_SKIP_REASONS + 1


def test_unsupported_link_types_are_capped_in_the_table_and_the_warning(tmp_path: Path) -> None:
    linktypes = list(range(300, 400))
    data = cb.png_shb() + b"".join(cb.png_idb(lt) for lt in linktypes) + b"".join(
        cb.png_epb(i, i, b"\x00" * 40) for i in range(len(linktypes)))
    report = analyze_to_report([cb.write(tmp_path, "lt.pcapng", data)], TrackerConfig())
    (line,) = [w for w in report["capture"]["warnings"] if "unsupported link types" in w]
    assert line.count("linktype ") == MAX_SKIP_REASONS
    assert line.endswith(f"other link types: {len(linktypes) - MAX_SKIP_REASONS} frames)")


def _bad_checksum_frames(hosts: int) -> bytes:
    records = []
    for i in range(hosts):
        frame = bytearray(cb.ether(cb.tcp4(src=bytes([10, 0, i >> 8, i & 255]))))
        frame[50] ^= 0xFF  # the TCP checksum (14 + 20 + 16)
        records.append((1 + i, 0, bytes(frame)))
    return cb.pcap_bytes(records)


def test_checksum_offload_warnings_name_five_hosts_then_count(tmp_path: Path) -> None:
    """Was one warning per source address: 100k warnings, 939 MB."""
    path = cb.write(tmp_path, "offload.pcap", _bad_checksum_frames(300))
    warnings = analyze_to_report([path], TrackerConfig())["capture"]["warnings"]
    assert sum("every TCP checksum from" in w for w in warnings) == MAX_OFFLOAD_WARNINGS
    assert (f"checksum offload assumed for {300 - MAX_OFFLOAD_WARNINGS} more source "
            "addresses, not listed one by one") in warnings
    assert len(warnings) == MAX_OFFLOAD_WARNINGS + 1


def test_the_host_tables_of_the_checksum_rule_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "MAX_HOSTS", 8)
    analyzer = Analyzer(TrackerConfig(), lambda _flow: None)
    good = [(i, float(i), 1, cb.ether(cb.tcp4(src=bytes([10, 1, 0, i])))) for i in range(1, 40)]
    bad = []
    for i in range(1, 40):
        frame = bytearray(cb.ether(cb.tcp4(src=bytes([10, 2, 0, i]))))
        frame[50] ^= 0xFF
        bad.append((100 + i, 100.0 + i, 1, bytes(frame)))
    analyzer.feed(good + bad)
    stats = analyzer.finish()
    assert len(analyzer._host_good) == 8 and len(analyzer._offload_hosts) == 8
    assert stats.bad_checksums == 39
    assert ("checksum offload assumed for more than 3 more source addresses, not listed one "
            "by one") in stats.warnings


# -- the flow table's own capped tables --------------------------------------------------
def _handshake(sport: int, sec: int, us: int = 0, tags_o: tuple[int, ...] = (),
               tags_r: tuple[int, ...] = ()) -> list[cb.Packet]:
    """SYN, SYN-ACK, ACK on port ``sport`` from ``sec`` s + ``us`` µs, a millisecond apart;
    orig's frames tagged ``tags_o``, resp's ``tags_r``."""
    from tcpflow_analyzer.segment import ACK, SYN

    def o(flags: int, seq: int, ack: int) -> bytes:
        return cb.ether(cb.tcp4(sport=sport, seq=seq, ack=ack, flags=flags),
                        tags=[(cb.ETH_8021Q, v) for v in tags_o])

    resp = cb.ether(cb.tcp4(src=cb.RESP4, dst=cb.ORIG4, sport=cb.RESP_PORT, dport=sport,
                            seq=5000, ack=1001, flags=SYN | ACK),
                    tags=[(cb.ETH_8021Q, v) for v in tags_r], src=cb.RESP_MAC, dst=cb.ORIG_MAC)
    return [(sec, us, o(SYN, 1000, 0)), (sec, us + 1000, resp),
            (sec, us + 2000, o(ACK, 1001, 5001))]


def test_vlan_pairs_past_the_cap_are_counted_in_a_summary_line(tmp_path: Path) -> None:
    """Each connection tagged one way with its own VLAN id: a pair of stacks per connection.
    The first MAX_VLAN_PAIRS pairs get a line each; the rest were joined all the same, and
    one line says how many."""
    from tcpflow_analyzer.flowtable import MAX_VLAN_PAIRS

    extra = 6
    packets = [p for i in range(MAX_VLAN_PAIRS + extra)
               for p in _handshake(20000 + i, 1, i * 10_000, tags_o=(100 + i,))]
    path = cb.write(tmp_path, "vlans.pcap", cb.pcap_bytes(packets))
    report = analyze_to_report([path], TrackerConfig(vlan="auto"))
    assert len(report["connections"]) == MAX_VLAN_PAIRS + extra
    assert all(c["handshake"]["status"] == "complete" for c in report["connections"])
    warnings = report["capture"]["warnings"]
    assert sum("one way and" in w for w in warnings) == MAX_VLAN_PAIRS
    assert [w for w in warnings if "further pairs of VLAN stacks" in w] == [
        f"… and {extra} more connections joined the same way under further pairs of VLAN "
        f"stacks (more than {MAX_VLAN_PAIRS} pairs), not listed one by one"]


def test_tombstones_dropped_before_2msl_are_counted_in_a_summary_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten connections reset at once expire together; the record of closed connections
    (cut to 4 here) keeps the last four, and the six it forgot are said."""
    from tcpflow_analyzer import flowtable
    from tcpflow_analyzer.segment import ACK, RST

    monkeypatch.setattr(flowtable, "_RECENT_MAX", 4)
    packets = []
    for i in range(10):
        sport = 30000 + i
        packets += _handshake(sport, 1)
        packets.append((1, 3000, cb.ether(cb.tcp4(sport=sport, seq=1001, ack=5001,
                                                  flags=RST | ACK))))
    packets += _handshake(40000, 20)  # a sweep after the reset linger: all ten expire
    path = cb.write(tmp_path, "resets.pcap", cb.pcap_bytes(packets))
    report = analyze_to_report([path], TrackerConfig())
    assert len(report["connections"]) == 11
    assert [w for w in report["capture"]["warnings"] if "2MSL" in w] == [
        "more than 4 connections closed within 2MSL of each other: 6 were forgotten before "
        "their 2MSL ended, so a new connection on one of their 4-tuples was not checked "
        "against TIME-WAIT (reused_ports, premature_reuse) and their late segments may read "
        "as new connections"]


def test_stale_tombstones_pushed_out_are_not_counted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tombstone older than 2MSL is due to go anyway: pushing it out loses nothing.  The
    sweep at 600 s expires two idle connections while the tombstone of the one reset at
    1 s (expired at 20 s) is stale but not yet swept away."""
    from tcpflow_analyzer import flowtable
    from tcpflow_analyzer.segment import ACK, RST

    monkeypatch.setattr(flowtable, "_RECENT_MAX", 1)
    packets = [*_handshake(30000, 1),
               (1, 3000, cb.ether(cb.tcp4(sport=30000, seq=1001, ack=5001, flags=RST | ACK))),
               *_handshake(30001, 20), *_handshake(30002, 250), *_handshake(30003, 600)]
    path = cb.write(tmp_path, "spread.pcap", cb.pcap_bytes(packets))
    report = analyze_to_report([path], TrackerConfig())
    assert len(report["connections"]) == 4
    assert not [w for w in report["capture"]["warnings"] if "2MSL" in w]
