"""How the engine is chosen and built: the stand-in for ``cython``, the build's record,
the run-time switch to the interpreted engine, and ``--version``."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from tcpflow_analyzer import _cython, _engine

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "tcpflow_analyzer"


def _evaluated_cython_names(source: str) -> set[str]:
    """Every ``cython.X`` outside annotations (annotations are never evaluated)."""
    tree = ast.parse(source)
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            skip |= {id(n) for n in ast.walk(node.annotation)}
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns:
            skip |= {id(n) for n in ast.walk(node.returns)}
        elif isinstance(node, ast.AnnAssign):
            skip |= {id(n) for n in ast.walk(node.annotation)}
    return {n.attr for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
            and n.value.id == "cython" and id(n) not in skip}


def test_the_standin_defines_every_cython_name_the_typed_modules_evaluate() -> None:
    for mod in _engine.TYPED_MODULES:
        names = _evaluated_cython_names((PKG / f"{mod}.py").read_text())
        assert "compiled" in names
        missing = {n for n in names if not hasattr(_cython, n)}
        assert not missing, f"{mod}.py evaluates cython.{missing} that _cython.py lacks"


def test_setup_compiles_exactly_the_typed_modules() -> None:
    tree = ast.parse((ROOT / "setup.py").read_text())
    assigned = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)}
    assert ast.literal_eval(assigned["TYPED_MODULES"]) == _engine.TYPED_MODULES


def _version(**env: str) -> str:
    full = {k: v for k, v in os.environ.items() if k != _engine.PURE_ENV} | env
    proc = subprocess.run([sys.executable, "-m", "tcpflow_analyzer", "--version"], env=full,
                          capture_output=True, text=True, check=True, timeout=60)
    return proc.stdout


def _build_without_switch() -> tuple[bool, str, bool]:
    saved = os.environ.pop(_engine.PURE_ENV, None)
    try:
        return _engine._decide()
    finally:
        if saved is not None:
            os.environ[_engine.PURE_ENV] = saved


def test_version_names_the_engine_and_the_pure_switch_works_at_run_time() -> None:
    assert _version(**{_engine.PURE_ENV: "1"}) == (
        "tcpflow-analyzer 0.1.0 (pure engine: TCPFLOW_ANALYZER_PURE is set)\n")
    default = _version()
    assert default.startswith("tcpflow-analyzer 0.1.0 (")
    # without the switch, the build decides (this process may run with the switch set)
    compiled_build, _why, _any = _build_without_switch()
    assert ("(compiled engine)" in default) == compiled_build


def test_a_compiled_file_whose_source_changed_is_never_loaded(tmp_path: Path) -> None:
    # a copy of the package whose record does not match the sources: interpreted, and said so
    import shutil

    copy = tmp_path / "tcpflow_analyzer"
    shutil.copytree(PKG, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / _engine.MANIFEST).write_text('{"compiled": {"seqnum": "0-0", "checksum": "0-0"}}')
    for mod in _engine.TYPED_MODULES:  # a fake "compiled" file, which would fail to load
        (copy / f"{mod}{__import__('importlib.machinery').machinery.EXTENSION_SUFFIXES[0]}"
         ).write_bytes(b"not an extension")
    env = {k: v for k, v in os.environ.items() if k != _engine.PURE_ENV}
    env["PYTHONPATH"] = str(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "tcpflow_analyzer", "--version"], env=env,
                          cwd=tmp_path, capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "pure engine: seqnum.py changed since it was compiled" in proc.stdout


def test_lean_start_up_analyze_imports_neither_rich_nor_other_commands() -> None:
    code = ("import sys; from tcpflow_analyzer.cli import main; sys.argv = ['x', 'analyze', "
            "'samples/handshake-basic.pcap', '-f', 'json', '-o', '/dev/null']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('rich', 'scapy') or "
            "m.startswith(('tcpflow_analyzer.cmd_', 'tcpflow_analyzer.render.csv', "
            "'tcpflow_analyzer.render.zeek', 'tcpflow_analyzer.render.terminal', "
            "'tcpflow_analyzer.ladder')) or m == 'tcpflow_analyzer.checks')\n"
            "print(bad)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True, timeout=60)
    assert proc.stdout.strip() == "[]", proc.stdout
