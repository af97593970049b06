#!/usr/bin/env python3
"""Run the whole test suite on both engines: the README's test command ends with this.

1. The compiled engine, as ``pip install -e .`` built it.  ``TCPFLOW_REQUIRE_COMPILED=1``
   makes the engine tests fail (not skip) if the build silently fell back to pure Python.
2. The interpreted engine with Cython *not importable at all*: ``TCPFLOW_ANALYZER_PURE=1``
   and a directory first on ``PYTHONPATH`` whose ``cython`` module refuses to import, as on
   a machine where Cython was never installed, so the package's own stand-in
   (``tcpflow_analyzer/_cython.py``) runs.  Subprocesses of the tests inherit both.

Arguments are passed to both pytest runs (``python tests/run_ci.py -x -k decode``).  The
exit status is the first failing run's, 0 when both pass.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_NO_CYTHON = (
    '"""Stands in for a machine without Cython (tests/run_ci.py): importing it fails."""\n'
    'raise ModuleNotFoundError("No module named \'cython\'", name="cython")\n'
)


def run(label: str, env: dict[str, str], args: list[str]) -> int:
    print(f"== {label}", flush=True)
    start = time.monotonic()
    code = subprocess.call([sys.executable, "-m", "pytest", *args], cwd=ROOT, env=env)
    print(f"== {label}: exit {code} in {time.monotonic() - start:.0f} s", flush=True)
    return code


def main() -> int:
    args = sys.argv[1:]
    base = {k: v for k, v in os.environ.items() if k != "TCPFLOW_ANALYZER_PURE"}
    first = run("compiled engine", {**base, "TCPFLOW_REQUIRE_COMPILED": "1"}, args)
    with tempfile.TemporaryDirectory(prefix="tcpflow-no-cython-") as shim:
        Path(shim, "cython.py").write_text(_NO_CYTHON)
        path = os.pathsep.join(p for p in (shim, base.get("PYTHONPATH", "")) if p)
        env = {**base, "TCPFLOW_ANALYZER_PURE": "1", "PYTHONPATH": path}
        second = run("interpreted engine, Cython not importable", env, args)
    return first or second


if __name__ == "__main__":
    sys.exit(main())
