"""The public API is exactly ``__all__``: sorted, complete, and every name importable."""

from __future__ import annotations

import tcpflow_analyzer


def test_all_is_sorted_and_importable() -> None:
    names = tcpflow_analyzer.__all__
    assert names == sorted(names)
    for name in names:
        assert hasattr(tcpflow_analyzer, name), name


def test_every_public_name_of_the_package_is_exported() -> None:
    module = type(tcpflow_analyzer)
    public = {
        n for n, v in vars(tcpflow_analyzer).items()
        if not n.startswith("_") and not isinstance(v, module) and n != "annotations"
    }
    assert public | {"__version__"} == set(tcpflow_analyzer.__all__)
