"""Keep the README true: the two commands, the anomaly catalogue, the CLI it documents."""

from __future__ import annotations

import re
from pathlib import Path

from tcpflow_analyzer.anomalies import CATALOGUE

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_first_code_block_holds_the_two_commands() -> None:
    block = re.search(r"```\n(.*?)```", README, re.S)
    assert block is not None
    lines = [ln for ln in block.group(1).splitlines() if ln.strip()]
    assert len(lines) == 2
    assert "tcpflow-analyzer analyze samples/" in lines[0]
    assert "tests/run_ci.py" in lines[1]  # the suite on both engines (it runs pytest)
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text(encoding="utf-8")
    assert lines[1] in ci  # .ci/run runs exactly the README's test command


def test_every_anomaly_code_is_in_the_readme_table() -> None:
    for code, (severity, meaning) in CATALOGUE.items():
        assert f"| `{code}` | {severity.value} | {meaning} |" in README, code


def test_samples_named_in_the_readme_exist() -> None:
    root = Path(__file__).resolve().parents[1]
    for name in re.findall(r"samples/[\w./-]+\.pcap(?:ng)?", README):
        assert (root / name).exists(), name
