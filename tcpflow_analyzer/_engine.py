"""Which engine runs: the typed modules compiled by Cython, or the very same files interpreted.

``setup.py`` compiles the modules in :data:`TYPED_MODULES` when it can and records, in
``_build.json`` next to them, a checksum of each source it compiled.  This module is
imported first by the package (before any typed module) and decides once, for all of them:

* ``TCPFLOW_ANALYZER_PURE`` set to anything but ``""``/``"0"`` at run time: interpreted,
  even where compiled modules exist (the differential test runs the engines side by side
  this way);
* every typed module has a compiled file whose recorded source checksum matches the
  ``.py`` beside it: compiled;
* otherwise (pure build, compile failure, no build at all, or a ``.py`` edited since it was
  compiled, as happens in an editable checkout): interpreted, never a stale compiled file.

All or nothing, so a run is never half compiled.  The interpreted choice is enforced by a
``sys.meta_path`` finder that loads those few modules from source; every other import is
untouched.  :func:`engine` reports what actually loaded (each typed module's
``cython.compiled``), and :func:`describe` says why, for ``tcpflow-analyzer --version``.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import sys
import zlib
from importlib.abc import MetaPathFinder
from types import ModuleType
from typing import Any

TYPED_MODULES = (
    "seqnum", "checksum", "segment", "decode", "seqanalysis", "record", "history", "tracker",
    "_records", "_ingest", "rounding", "verdict", "report", "listeners", "flowtable",
    "ndjson",
)
"""The modules written for Cython's pure Python mode (``setup.py`` compiles exactly these)."""

PURE_ENV = "TCPFLOW_ANALYZER_PURE"
MANIFEST = "_build.json"
_PKG = __name__.rpartition(".")[0]
_DIR = os.path.dirname(os.path.abspath(__file__))


def source_checksum(path: str) -> str:
    """The checksum ``setup.py`` records for a compiled source (CRC-32 and size, in hex)."""
    with open(path, "rb") as f:
        data = f.read()
    return f"{zlib.crc32(data):08x}-{len(data):x}"


def pure_requested(environ: Any = os.environ) -> bool:
    """True when ``TCPFLOW_ANALYZER_PURE`` asks for the interpreted engine."""
    return environ.get(PURE_ENV, "") not in ("", "0")


def _extension_file(name: str, names: set[str]) -> str | None:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        if name + suffix in names:
            return os.path.join(_DIR, name + suffix)
    return None


def _decide() -> tuple[bool, str, bool]:
    """(compiled?, why not, does any compiled file exist?) for this package directory."""
    try:
        names = set(os.listdir(_DIR))
    except OSError:
        names = set()
    exts = {m: _extension_file(m, names) for m in TYPED_MODULES}
    any_ext = any(exts.values())
    if pure_requested():
        return False, f"{PURE_ENV} is set", any_ext
    try:
        with open(os.path.join(_DIR, MANIFEST), encoding="utf-8") as f:
            manifest = json.load(f)
        built: dict[str, str] = manifest.get("compiled") or {}
        reason = str(manifest.get("reason") or "built without compiling")
    except (OSError, ValueError, AttributeError):
        return False, "not built by setup.py (pip install -e . compiles it)", any_ext
    if not built:
        return False, reason, any_ext
    for m in TYPED_MODULES:
        if m not in built or exts[m] is None:
            return False, f"{m} was not compiled", any_ext
        try:
            current = source_checksum(os.path.join(_DIR, m + ".py"))
        except OSError:
            current = built[m]  # an install without sources: the compiled file is all there is
        if current != built[m]:
            why = f"{m}.py changed since it was compiled (rebuild: pip install -e .)"
            return False, why, any_ext
    return True, "", any_ext


class _SourceFinder(MetaPathFinder):
    """Load the typed modules from their ``.py`` files, even where a compiled file exists."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        pkg, _, name = fullname.rpartition(".")
        if pkg != _PKG or name not in TYPED_MODULES:
            return None
        source = os.path.join(_DIR, name + ".py")
        loader = importlib.machinery.SourceFileLoader(fullname, source)
        return importlib.util.spec_from_file_location(fullname, source, loader=loader)


_COMPILED, _WHY_PURE, _ANY_EXT = _decide()
if not _COMPILED and _ANY_EXT:
    sys.meta_path.insert(0, _SourceFinder())


def _typed_modules() -> list[ModuleType]:
    import importlib

    return [importlib.import_module(f"{_PKG}.{m}") for m in TYPED_MODULES]


def engine() -> str:
    """``"compiled"`` or ``"pure"``: what the typed modules that actually loaded are."""
    flags = {bool(getattr(m, "COMPILED", False)) for m in _typed_modules()}
    if flags == {True}:
        return "compiled"
    return "pure" if flags == {False} else "mixed"


def describe() -> str:
    """``compiled engine``, or ``pure engine: <why>`` for ``--version``."""
    name = engine()
    if name == "pure" and _WHY_PURE:
        return f"pure engine: {_WHY_PURE}"
    return f"{name} engine"
