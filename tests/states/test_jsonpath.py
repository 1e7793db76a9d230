"""JSONPath selection as AWS does it: roots ($, $$, $var), definite and indefinite paths."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tributary.states import jsonpath
from tributary.states.jsonpath import (
    PathError,
    check,
    definite_steps,
    is_definite,
    is_valid,
    normalized,
    select,
)

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


@pytest.mark.parametrize(
    ("path", "valid"),
    [
        ("$", True),
        ("$$", True),
        ("$.a['b'][0]", True),
        ("$$.Execution.Input", True),
        ("$var.k[1]", True),
        ("$.items[*].v", True),
        ("$..v", True),
        ("$.items[0:2]", True),
        ("$.items[?(@.v > 1)].t", True),
        ("$.items[?(@.t =~ /X|y/i)]", True),
        ("$.items[?(@.t =~ /a\\/b/)]", True),  # an escaped slash inside the regex
        ("$.items.length()", True),
        ("$.a.b.max() ", True),
        ("$.length()", True),
        ("$.items.length().length()", False),  # a Jayway function ends the path
        ("$.items.nosuch()", False),
        ("$.a.", False),
        ("$[?(", False),
        ("$1abc", False),
        ("a.b", False),
        ("", False),
    ],
)
def test_check_is_the_syntax_check_of_paths(path: str, valid: bool) -> None:
    assert is_valid(path) is valid
    if valid:
        check(path)
    else:
        with pytest.raises(PathError, match="Invalid path"):
            check(path)


@pytest.mark.parametrize(
    "path",
    ["$.items[?(@.t =~ /X|y/i)].v", "$.items.length()", "$var.k.sum()", "$..v", "$.items[?(@.v > 1)].t"],
)
def test_what_check_accepts_select_can_evaluate(path: str) -> None:
    check(path)
    _select(path)


def test_check_accepts_only_strings() -> None:
    assert is_valid(None) is False  # type: ignore[arg-type]
    assert is_valid(["$.a"]) is False  # type: ignore[arg-type]


def test_validation_checks_paths_with_this_module(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from tributary.states.validation import validate

    checked: list[str] = []
    real_check = jsonpath.check
    monkeypatch.setattr(jsonpath, "check", lambda path: checked.append(path) or real_check(path))
    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Pass",
                "InputPath": "$.items[?(@.t =~ /x/)]",
                "Parameters": {"n.$": "$.length()", "f.$": "States.Format('{}', $.a.b.max())"},
                "End": True,
            }
        },
    }
    assert validate(json.dumps(definition)) == []
    assert {"$.items[?(@.t =~ /x/)]", "$.length()", "$.a.b.max()"} <= set(checked)
