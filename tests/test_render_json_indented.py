"""``--format json`` writes exactly what ``json.dump(doc, out, indent=2)`` would."""

from __future__ import annotations

import io
import json
import math
from enum import Enum, IntEnum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcpflow_analyzer.render.jsonout import write_indented

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(), st.text(alphabet=st.characters(max_codepoint=0x2FFFF)),
)
keys = st.one_of(st.text(), st.integers(), st.floats(allow_nan=False), st.booleans(), st.none())
trees = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.tuples(inner, inner),
                            st.dictionaries(keys, inner, max_size=5)),
    max_leaves=40,
)


def _both(obj: Any) -> tuple[str, str]:
    ours = io.StringIO()
    write_indented(obj, ours)
    theirs = io.StringIO()
    json.dump(obj, theirs, indent=2)
    return ours.getvalue(), theirs.getvalue()


@settings(max_examples=1500, deadline=None)
@given(trees)
def test_same_text_as_json_dump(obj: Any) -> None:
    ours, theirs = _both(obj)
    assert ours == theirs


class Colour(str, Enum):
    RED = "red"


class Level(IntEnum):
    HIGH = 3


def test_subclasses_encode_as_json_does() -> None:
    obj = {"c": Colour.RED, "l": Level.HIGH, Level.HIGH: [1.5, -math.inf], "n": [], "d": {}}
    ours, theirs = _both(obj)
    assert ours == theirs


def test_long_lists_are_written_in_pieces_with_the_same_text() -> None:
    obj = {"connections": [{"id": i, "ts": i / 7, "ip": "192.0.2.1"} for i in range(20000)]}
    ours, theirs = _both(obj)
    assert ours == theirs


def test_unencodable_values_raise_type_error() -> None:
    with pytest.raises(TypeError):
        write_indented({"x": object()}, io.StringIO())
    with pytest.raises(TypeError):
        write_indented({(1, 2): 3}, io.StringIO())
