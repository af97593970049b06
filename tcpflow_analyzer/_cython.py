"""A tiny stand-in for the ``cython`` module, used when Cython is not installed.

The typed modules (``_engine.TYPED_MODULES``: the engine's hot path) are Cython 3
"pure Python mode" sources: compiled, Cython reads their ``cython.*`` annotations,
decorators and declarations; interpreted, they are ordinary Python and need a ``cython``
module only for the names they evaluate at run time.  Annotations are never evaluated
(``from __future__ import annotations``), so only decorators, ``declare``, ``cast`` and the
types passed to those have to exist here.  ``tests/test_engine_standin.py`` checks that
every ``cython.X`` a typed module evaluates is defined below, because only a run with
Cython *not installed* would otherwise find a missing one.

Cython's own ``Shadow`` module plays this part when Cython is installed; this one is
smaller and faster (``cast`` is the identity), with one caveat that the typed code
respects: ``cast`` does not wrap integers the way C does, so sequence arithmetic masks
explicitly (``seqnum``) instead of relying on a C type's width.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias, TypeVar

_T = TypeVar("_T")

compiled = False  # the one name every typed module reads at run time

# C types: each stands for the Python type that holds its values when interpreted.
bint: TypeAlias = bool
char: TypeAlias = int
uchar: TypeAlias = int
schar: TypeAlias = int
short: TypeAlias = int
ushort: TypeAlias = int
uint: TypeAlias = int
long: TypeAlias = int
ulong: TypeAlias = int
longlong: TypeAlias = int
ulonglong: TypeAlias = int
Py_ssize_t: TypeAlias = int
size_t: TypeAlias = int
Py_hash_t: TypeAlias = int
double: TypeAlias = float
# pointers exist only in compiled branches (``if cython.compiled:``)
p_const_uchar: TypeAlias = Any
p_uchar: TypeAlias = Any
p_char: TypeAlias = Any
p_const_char: TypeAlias = Any
void: TypeAlias = None


def _identity(fn: _T) -> _T:
    return fn


def _factory(*_args: Any, **_kwargs: Any) -> Callable[[_T], _T]:
    return _identity


# decorators that take no arguments
cclass = ccall = cfunc = inline = final = no_gc = _identity
# decorators that take arguments (``@cython.exceptval(check=False)``, ``@cython.locals(i=int)``)
exceptval = locals = returns = boundscheck = wraparound = cdivision = annotation_typing = _factory
freelist = _factory


class _NoGil:
    """``@cython.nogil`` on a function, or ``with cython.nogil:`` around a block."""

    def __call__(self, fn: _T) -> _T:
        return fn

    def __enter__(self) -> None:
        return None

    def __exit__(self, *_exc: object) -> None:
        return None


nogil = _NoGil()


def declare(_type: type[_T], value: Any = None, **_kwargs: Any) -> _T:
    """``cython.declare(ctype, value)``: the value itself when interpreted."""
    return value  # type: ignore[no-any-return]


def address(value: _T) -> _T:
    """``cython.address(var)``, a C pointer to ``var``: only compiled code dereferences it
    (checksum's word loads); interpreted, the value itself."""
    return value


def cast(_type: type[_T], value: Any, *, typecheck: bool = False) -> _T:
    """``cython.cast(ctype, value)``: the identity when interpreted (no C wrap-around)."""
    return value  # type: ignore[no-any-return]


# ``cython.int`` and ``cython.float`` last: the names shadow the builtins in this module.
int = int  # noqa: A001
float = float  # noqa: A001
