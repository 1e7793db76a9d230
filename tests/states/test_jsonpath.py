"""JSONPath selection as AWS does it: roots ($, $$, $var), definite and indefinite paths."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tributary.states.jsonpath import PathError, definite_steps, is_definite, normalized, select

DATA = {
    "a": {"b": [10, 20, {"c": "deep"}]},
    "odd key": 1,
    "dash-key": 2,
    "items": [{"v": 1, "t": "x"}, {"v": 2, "t": "y"}, {"v": 3}],
    "null": None,
}
CONTEXT = {"Execution": {"Name": "run"}, "Map": {"Item": {"Index": 4}}}
VARIABLES = {"var": {"k": [5, 6]}, "nothing": None}


def _select(path: str, data: Any = DATA) -> Any:
    return select(data, path, context=CONTEXT, variables=VARIABLES)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", DATA),
        ("$.a.b[2].c", "deep"),
        ("$.a.b[-1].c", "deep"),
        ("$['odd key']", 1),
        ('$["odd key"]', 1),
        ("$.dash-key", 2),
        ("$.null", None),
        ("$$", CONTEXT),
        ("$$.Map.Item.Index", 4),
        ("$var.k[1]", 6),
        ("$var['k'][0]", 5),
        ("$nothing", None),
        ("$.items[*].v", [1, 2, 3]),
        ("$.items[1:].v", [2, 3]),
        ("$.items[:1]", [{"v": 1, "t": "x"}]),
        ("$..t", ["x", "y"]),
        ("$.items[?(@.v > 1)].v", [2, 3]),
        ("$.missing[*]", []),
        ("$.items[?(@.t =~ /x|y/)].v", [1, 2]),
        ("$.items[?(@.t =~ /X/i)].v", [1]),
        ("$.items[?(@.t =~ /./)].t", ["x", "y"]),
        ("$.items[?(@.v > 1 && @.v < 3)].v", [2]),
        ("$.items.length()", 3),
        ("$.items[*].v.sum()", 6),
        ("$.items[*].v.max()", 3),
        ("$.items[*].v.avg()", 2),
        ("$.a.keys()", ["b"]),
        ("$var.k.last()", 6),
    ],
)
def test_select(path: str, expected: Any) -> None:
    assert _select(path) == expected


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("$.a.x", "Invalid path '$.a.x' : No results for path: $['a']['x']"),
        ("$.a.b[3]", "Invalid path '$.a.b[3]' : No results for path: $['a']['b'][3]"),
        ("$undefinedVar", None),
        ("a.b", None),
        ("$[?(", None),
    ],
)
def test_select_failures(path: str, message: str | None) -> None:
    with pytest.raises(PathError) as raised:
        _select(path)
    if message is not None:
        assert raised.value.message == message


def test_index_into_an_object_or_key_into_a_list_selects_nothing() -> None:
    with pytest.raises(PathError):
        _select("$.a[0]")
    with pytest.raises(PathError):
        _select("$.items.v")


def test_definite_and_indefinite() -> None:
    assert is_definite("$.a['b'][0]")
    assert is_definite("$$.Execution.Input")
    assert is_definite("$var.x")
    assert not is_definite("$.a[*]")
    assert not is_definite("$..a")
    assert not is_definite("$.a[1:2]")
    assert definite_steps("$.a['b c'][0]") == ["a", "b c", 0]


_keys = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="'\\"), min_size=1)
_steps = st.lists(st.one_of(_keys, st.integers(min_value=0, max_value=3)), min_size=1, max_size=5)


def _nest(steps: list[str | int], leaf: Any) -> Any:
    value = leaf
    for step in reversed(steps):
        value = [None] * step + [value] if isinstance(step, int) else {step: value}
    return value


@given(_steps)
def test_normalized_paths_select_what_they_name(steps: list[str | int]) -> None:
    path = normalized(steps)
    assert definite_steps(path) == steps
    assert select(_nest(steps, "leaf"), path) == "leaf"
