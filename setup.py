"""Build the typed engine modules with Cython when a C compiler is there; else install them pure.

The metadata lives in pyproject.toml; this file only adds the compiled modules.

* The modules in ``tcpflow_analyzer/_engine.py:TYPED_MODULES`` are Cython 3 pure-Python-mode
  sources: compiled when Cython and a C compiler work, installed as plain ``.py`` (the same
  files, interpreted) when they do not, with a one-line warning instead of a failed install.
* ``TCPFLOW_ANALYZER_PURE=1`` at install time skips compiling altogether (a pure wheel).
* Every build writes ``tcpflow_analyzer/_build.json`` next to the modules: which sources were
  compiled, with their checksums.  The package trusts a compiled file only when that record
  matches the ``.py`` beside it, so an editable checkout never runs a stale ``.so``, and a
  stale ``.so`` left over in ``build/`` or in the tree is removed or ignored.
* ``pip install -e .`` builds the modules in place (setuptools copies them into the tree).
"""

from __future__ import annotations

import glob
import json
import os
import sys
import zlib

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

PKG = "tcpflow_analyzer"
# keep equal to _engine.TYPED_MODULES (a test checks)
TYPED_MODULES = (
    "seqnum", "checksum", "segment", "decode", "seqanalysis", "record", "history", "tracker",
    "_records", "_ingest", "rounding", "verdict", "report", "listeners", "flowtable",
    "ndjson",
)
MANIFEST = "_build.json"
HERE = os.path.dirname(os.path.abspath(__file__))


def _pure_requested() -> bool:
    return os.environ.get("TCPFLOW_ANALYZER_PURE", "") not in ("", "0")


def _checksum(path: str) -> str:
    with open(path, "rb") as f:
        data = f.read()
    return f"{zlib.crc32(data):08x}-{len(data):x}"  # as _engine.source_checksum


def _warn(msg: str) -> None:
    sys.stderr.write(f"tcpflow-analyzer: {msg}\n")


def _remove_compiled(pkg_dir: str) -> None:
    """Delete compiled typed modules in ``pkg_dir`` (stale files from an earlier build)."""
    for m in TYPED_MODULES:
        for path in glob.glob(os.path.join(pkg_dir, f"{m}.*.so")) + glob.glob(
                os.path.join(pkg_dir, f"{m}.*.pyd")):
            os.remove(path)


def _write_manifest(pkg_dir: str, compiled: dict[str, str], reason: str) -> None:
    os.makedirs(pkg_dir, exist_ok=True)
    with open(os.path.join(pkg_dir, MANIFEST), "w", encoding="utf-8") as f:
        json.dump({"compiled": compiled, "reason": reason}, f, indent=1, sort_keys=True)
        f.write("\n")


class BuildPy(build_py):
    """Copy the sources, drop stale compiled modules, and record a pure build (for now)."""

    def run(self) -> None:
        super().run()
        reason = ("built pure (TCPFLOW_ANALYZER_PURE was set at install)" if _pure_requested()
                  else "built without compiling")
        targets = [os.path.join(HERE, PKG)] if self.editable_mode else []
        if not self.editable_mode:
            targets.append(os.path.join(self.build_lib, PKG))
        for pkg_dir in targets:
            _remove_compiled(pkg_dir)  # BuildExt, which runs next, puts fresh ones back
            _write_manifest(pkg_dir, {}, reason)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:  # type: ignore[override]
        outs = list(super().get_outputs(include_bytecode))
        if not self.editable_mode:
            outs.append(os.path.join(self.build_lib, PKG, MANIFEST))
        return outs


class BuildExt(build_ext):
    """Compile the typed modules; on any failure warn in one line and keep the pure ones."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - no compiler, broken toolchain: stay pure
            detail = (str(exc).strip().splitlines() or [""])[0]
            detail = detail if len(detail) <= 80 else detail[:77] + "..."
            _warn(f"could not compile the engine ({type(exc).__name__}: {detail}); "
                  "installing the pure-Python one")
            for ext in self.extensions:
                path = self.get_ext_fullpath(ext.name)
                if os.path.exists(path):
                    os.remove(path)
            self._record({}, "built pure: compiling failed at install")
            return
        compiled = {m: _checksum(os.path.join(HERE, PKG, m + ".py")) for m in TYPED_MODULES}
        self._record(compiled, "")

    def _record(self, compiled: dict[str, str], reason: str) -> None:
        dirs = {os.path.join(self.build_lib, PKG)}
        if self.inplace or getattr(self, "editable_mode", False):
            dirs.add(os.path.join(HERE, PKG))
        for pkg_dir in dirs:
            if not compiled:
                _remove_compiled(pkg_dir)
            _write_manifest(pkg_dir, compiled, reason)


def _extensions() -> list[Extension]:
    if _pure_requested():
        _warn("TCPFLOW_ANALYZER_PURE is set: installing the pure-Python engine")
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        _warn("Cython is not available: installing the pure-Python engine")
        return []
    # no debug info: it would make the modules ten times larger and nobody steps through them
    flags = ["-g0"] if os.name == "posix" else []
    modules = [Extension(f"{PKG}.{m}", [os.path.join(PKG, f"{m}.py")], extra_compile_args=flags)
               for m in TYPED_MODULES]
    try:
        return list(cythonize(
            modules,
            language_level=3,
            build_dir=os.path.join("build", "cython"),
            quiet=True,
            compiler_directives={"annotation_typing": True, "embedsignature": True},
        ))
    except Exception as exc:  # noqa: BLE001 - a Cython error must not fail the install
        _warn(f"Cython could not translate the engine ({type(exc).__name__}); "
              "installing the pure-Python engine")
        return []


setup(ext_modules=_extensions(), cmdclass={"build_py": BuildPy, "build_ext": BuildExt})
