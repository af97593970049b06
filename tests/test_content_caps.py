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
