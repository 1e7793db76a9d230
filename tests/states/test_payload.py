"""JSONPath input and output processing: AWS's recorded cases whose machines are only JSONPath Pass
states (outside the choice and intrinsic categories, which have their own tests), run through a
tiny Pass-state runner over our functions, and edge cases of our own."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tributary.states.errors import StatesError
from tributary.states.jsonpath import normalized, select
from tributary.states.payload import input_path, output_path, payload_template, result_path

CASES = pathlib.Path(__file__).resolve().parents[3] / "shared" / "asl-conformance" / "executions"
_COVERED_ELSEWHERE = ("choice_operators", "intrinsic_functions")


def _recorded_cases() -> list[Any]:
    if not CASES.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"conformance cases not found at {CASES}"))]
    found = []
    for file in sorted(CASES.glob("*.json")):
        case = json.loads(file.read_text())
        text = json.dumps(case["definition"])
        if case["category"] in _COVERED_ELSEWHERE or "JSONata" in text or "Assign" in text:
            continue
        if not all(state["Type"] == "Pass" for state in case["definition"]["States"].values()):
            continue
        if case["expected"].get("error") == "States.DataLimitExceeded":
            continue  # the 256 KB payload limit is the engine's to enforce, not this layer's
        found.append(pytest.param(case, id=file.stem))
    return found


def _run_pass_machine(definition: dict[str, Any], execution_input: Any) -> dict[str, Any]:
    value = execution_input
    name = definition["StartAt"]
    event_id = 2
    while True:
        state = definition["States"][name]
        context = {"Execution": {"Input": execution_input}, "State": {"Name": name}}
        try:
            effective = input_path(state.get("InputPath", "$"), value, context=context, variables={})
            if "Parameters" in state:
                effective = payload_template(
                    state["Parameters"], effective, context=context, variables={}, field="Parameters"
                )
            result = state.get("Result", effective)
            value = result_path(state.get("ResultPath", "$"), value, result)
            value = output_path(state.get("OutputPath", "$"), value, context=context, variables={})
        except StatesError as error:
            prefix = (
                f"An error occurred while executing the state '{name}' (entered at the event id #{event_id})."
            )
            return {"status": "FAILED", "error": error.error, "cause": f"{prefix} {error.cause}"}
        if state.get("End"):
            return {"status": "SUCCEEDED", "output": value}
        name = state["Next"]
        event_id += 2


@pytest.mark.parametrize("case", _recorded_cases())
def test_recorded_pass_machine_case(case: dict[str, Any]) -> None:
    execution_input = {} if case.get("input_omitted") else case["input"]
    outcome = _run_pass_machine(case["definition"], execution_input)
    expected = case["expected"]
    assert outcome["status"] == expected["status"]
    if expected["status"] == "SUCCEEDED":
        assert outcome["output"] == expected["output"]
    else:
        for key in ("error", "cause"):
            if expected.get(key) is not None:
                assert outcome[key] == expected[key]


_CONTEXT = {"Execution": {"Name": "run"}}
_VARIABLES = {"limit": 3, "config": {"mode": "fast"}}


def _template(template: Any, value: Any) -> Any:
    return payload_template(template, value, context=_CONTEXT, variables=_VARIABLES, field="Parameters")


def test_template_resolves_paths_context_variables_and_intrinsics_at_every_depth() -> None:
    template = {
        "literal": "$.not.resolved",
        "nested": {"fromInput.$": "$.a", "list": [{"name.$": "$$.Execution.Name"}, "$x"]},
        "mode.$": "$config.mode",
        "count.$": "States.MathAdd($limit, 1)",
        "whole.$": "$",
    }
    assert _template(template, {"a": [1]}) == {
        "literal": "$.not.resolved",
        "nested": {"fromInput": [1], "list": [{"name": "run"}, "$x"]},
        "mode": "fast",
        "count": 4,
        "whole": {"a": [1]},
    }


def test_template_path_that_selects_nothing_names_the_field_and_the_input() -> None:
    with pytest.raises(StatesError) as raised:
        _template({"outer": {"JobName.$": "$.JobName"}}, {"a": 1})
    assert raised.value.error == "States.Runtime"
    assert raised.value.cause == (
        "The JSONPath '$.JobName' specified for the field 'JobName.$' "
        "could not be found in the input '{\"a\":1}'"
    )


def test_template_indefinite_path_gives_a_list_even_when_empty() -> None:
    assert _template({"v.$": "$.items[*].v"}, {"items": [{"v": 1}, {"w": 2}]}) == {"v": [1]}
    assert _template({"v.$": "$.missing[1:]"}, {}) == {"v": []}


def test_template_value_of_a_dollar_key_must_be_a_string() -> None:
    with pytest.raises(StatesError) as raised:
        _template({"v.$": 3}, {})
    assert raised.value.error == "States.Runtime"


@pytest.mark.parametrize(
    ("path", "state_input", "expected"),
    [
        (None, {"a": 1}, {"a": 1}),
        ("$", {"a": 1}, "R"),
        ("$.b", {"a": 1}, {"a": 1, "b": "R"}),
        ("$.a", {"a": 1}, {"a": "R"}),
        ("$.x.y.z", {"x": {"k": 0}}, {"x": {"k": 0, "y": {"z": "R"}}}),
        ("$['odd key'].v", {}, {"odd key": {"v": "R"}}),
        ("$.list[1]", {"list": [0, 1]}, {"list": [0, "R"]}),
    ],
)
def test_result_path(path: str | None, state_input: Any, expected: Any) -> None:
    assert result_path(path, state_input, "R") == expected


def test_result_path_leaves_the_input_unchanged() -> None:
    state_input = {"x": {"k": 0}}
    result_path("$.x.y", state_input, "R")
    assert state_input == {"x": {"k": 0}}


@pytest.mark.parametrize(
    ("path", "state_input"),
    [("$.a.b", {"a": "text"}), ("$.a", "text"), ("$.list[5]", {"list": []}), ("$.a[*]", {}), ("$$.a", {})],
)
def test_result_path_that_cannot_apply_is_a_match_failure(path: str, state_input: Any) -> None:
    with pytest.raises(StatesError) as raised:
        result_path(path, state_input, "R")
    assert raised.value.error == "States.ResultPathMatchFailure"


@pytest.mark.parametrize("apply", [input_path, output_path])
def test_input_and_output_paths(apply: Any) -> None:
    assert apply(None, {"a": 1}, context=_CONTEXT, variables=_VARIABLES) == {}
    assert apply("$", {"a": 1}, context=_CONTEXT, variables=_VARIABLES) == {"a": 1}
    assert apply("$.a", {"a": 1}, context=_CONTEXT, variables=_VARIABLES) == 1
    assert apply("$limit", {}, context=_CONTEXT, variables=_VARIABLES) == 3
    assert apply("$$.Execution", {}, context=_CONTEXT, variables=_VARIABLES) == {"Name": "run"}
    with pytest.raises(StatesError) as raised:
        apply("$.NoSuchPath", {"a": 1}, context=_CONTEXT, variables=_VARIABLES)
    assert raised.value.error == "States.Runtime"
    assert raised.value.cause == "Invalid path '$.NoSuchPath' : No results for path: $['NoSuchPath']"


_names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="'\\"), min_size=1, max_size=8
)
_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5))
_objects = st.recursive(
    st.dictionaries(_names, _json_leaf, max_size=3),
    lambda children: st.dictionaries(_names, children, max_size=3),
    max_leaves=10,
)


def _blocked(state_input: Any, steps: list[str]) -> bool:
    """Whether a value that is not an object stands where the path needs an object."""
    current = state_input
    for step in steps:
        if not isinstance(current, dict):
            return True
        if step not in current:
            return False
        current = current[step]
    return False


@given(_objects, st.lists(_names, min_size=1, max_size=4), _json_leaf)
def test_result_path_puts_the_result_where_the_same_path_selects_it(
    state_input: dict[str, Any], steps: list[str], result: Any
) -> None:
    path = normalized(steps)
    if _blocked(state_input, steps):
        with pytest.raises(StatesError) as raised:
            result_path(path, state_input, result)
        assert raised.value.error == "States.ResultPathMatchFailure"
    else:
        assert select(result_path(path, state_input, result), path) == result
