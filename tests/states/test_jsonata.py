"""JSONata evaluation: AWS's recorded cases whose machines are only Pass states (JSONata and
mixed JSONPath/JSONata, with variables), run through a tiny Pass-state runner over our functions,
and edge cases of our own."""

from __future__ import annotations

import json
import pathlib
import time
import uuid
from typing import Any

import pytest

from tributary.states import jsonata
from tributary.states.errors import StatesError
from tributary.states.jsonata import evaluate, evaluate_expression, is_expression
from tributary.states.payload import input_path, output_path, payload_template, result_path

CASES = pathlib.Path(__file__).resolve().parents[3] / "shared" / "asl-conformance" / "executions"


def _uses_query_features(definition: dict[str, Any]) -> bool:
    text = json.dumps(definition)
    return "JSONata" in text or "Assign" in text


def _recorded_cases() -> list[Any]:
    if not CASES.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"conformance cases not found at {CASES}"))]
    found = []
    for file in sorted(CASES.glob("*.json")):
        case = json.loads(file.read_text())
        states = case["definition"]["States"].values()
        if _uses_query_features(case["definition"]) and all(state["Type"] == "Pass" for state in states):
            found.append(pytest.param(case, id=file.stem))
    return found


def _run_pass_machine(definition: dict[str, Any], execution_input: Any) -> Any:
    """Pass states in either query language, with variables: what these cases need of an engine."""
    variables: dict[str, Any] = {}
    value = execution_input
    name = definition["StartAt"]
    event_id = 2
    while True:
        state = definition["States"][name]
        context = {"Execution": {"Id": "arn:execution", "Input": execution_input}, "State": {"Name": name}}
        try:
            if state.get("QueryLanguage", definition.get("QueryLanguage", "JSONPath")) == "JSONata":
                value, assigned = _jsonata_pass(state, value, context, variables)
            else:
                value, assigned = _jsonpath_pass(state, value, context, variables)
        except StatesError as error:
            prefix = (
                f"An error occurred while executing the state '{name}' (entered at the event id #{event_id})."
            )
            return {"status": "FAILED", "error": error.error, "cause": f"{prefix} {error.cause}"}
        variables = {**variables, **assigned}
        if state.get("End"):
            return {"status": "SUCCEEDED", "output": value}
        name = state["Next"]
        event_id += 2


def _jsonata_pass(
    state: dict[str, Any], value: Any, context: Any, variables: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    states = {"input": value, "context": context}
    output = (
        evaluate(state["Output"], states=states, variables=variables, field="Output")
        if "Output" in state
        else value
    )
    assigned = evaluate(state.get("Assign", {}), states=states, variables=variables, field="Assign")
    return output, assigned


def _jsonpath_pass(
    state: dict[str, Any], value: Any, context: Any, variables: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    effective = input_path(state.get("InputPath", "$"), value, context=context, variables=variables)
    if "Parameters" in state:
        effective = payload_template(
            state["Parameters"], effective, context=context, variables=variables, field="Parameters"
        )
    result = state.get("Result", effective)
    assigned = payload_template(
        state.get("Assign", {}), result, context=context, variables=variables, field="Assign"
    )
    combined = result_path(state.get("ResultPath", "$"), value, result)
    return output_path(state.get("OutputPath", "$"), combined, context=context, variables=variables), assigned


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


_STATES = {"input": {"a": [1, 2, 3], "s": "x", "n": None}, "context": {"Execution": {"Name": "run"}}}


def _evaluate(value: Any, variables: dict[str, Any] | None = None) -> Any:
    return evaluate(value, states=_STATES, variables=variables or {}, field="Output")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{% 1 %}", True),
        ("{%1%}", True),
        (" {% 1 %}", False),
        ("{% 1 %} ", False),
        ("{%}", False),
        (1, False),
    ],
)
def test_is_expression(text: Any, expected: bool) -> None:
    assert is_expression(text) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            {"x": ["{% $states.input.a[1] %}", "literal", "$.not.a.path"]},
            {"x": [2, "literal", "$.not.a.path"]},
        ),
        ("{% $states.input.n %}", None),
        ("{% $states.context.Execution.Name %}", "run"),
        ("{% $sum($states.input.a) / 2 %}", 3),
        ("{% $sum($states.input.a) / 4 %}", 1.5),
        ("{% $partition([1,2,3], 2) %}", [[1, 2], [3]]),
        ("{% $range(10, 0, -5) %}", [10, 5, 0]),
        (
            "{% $hash('input data', 'SHA-256') %}",
            "b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3",
        ),
        ("{% $parse('{\"k\": [true]}') %}", {"k": [True]}),
        ("{% $random(7) = $random(7) %}", True),
        ("{% $v %}", None),
        ("{% $w.k %}", 1),
    ],
)
def test_evaluate(value: Any, expected: Any) -> None:
    assert _evaluate(value, {"v": None, "w": {"k": 1}}) == expected


def test_now_and_millis_follow_the_clock_given() -> None:
    moment = 1_700_000_000_123
    text = "{% [$now(), $millis(), $now('[Y0001]-[M01]-[D01]')] %}"
    outcome = evaluate(text, states=_STATES, variables={}, field="Output", now_millis=moment)
    assert outcome == ["2023-11-14T22:13:20.123Z", moment, "2023-11-14"]


def test_now_is_the_time_of_the_evaluation_even_for_a_cached_expression(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _evaluate("{% $millis() %}")
    _evaluate("{% 'another expression, compiled later' %}")
    monkeypatch.setattr(time, "time_ns", lambda: 1_000_000_000_000 * 1_000_000)
    assert _evaluate("{% $millis() %}") == 1_000_000_000_000


def test_an_endless_expression_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonata, "EVALUATION_TIME_LIMIT_SECONDS", 0.05)
    with pytest.raises(StatesError) as raised:
        _evaluate("{% ($loop := function($n){ $loop($n + 1) }; $loop(0)) %}")
    assert raised.value.error == "States.QueryEvaluationError"
    assert "D1012: Evaluation timeout after 50 milliseconds" in raised.value.cause


def test_random_without_seed_is_between_zero_and_one() -> None:
    assert 0 <= _evaluate("{% $random() %}") < 1


def test_uuid_is_a_version_4_uuid() -> None:
    assert uuid.UUID(_evaluate("{% $uuid() %}")).version == 4


@pytest.mark.parametrize(
    ("value", "expression", "field", "ending"),
    [
        ("{% $nothing %}", "$nothing", "Output", "returned nothing (undefined)."),
        ({"k": ["{% $nothing %}"]}, "$nothing", "Output/k/0", "returned nothing (undefined)."),
        ("{% function($x){$x} %}", "function($x){$x}", "Output", "returned an unsupported result type."),
        (
            "{% $eval('1') %}",
            "$eval('1')",
            "Output",
            "threw an error during evaluation. T1006: Attempted to invoke a non-function",
        ),
        (
            "{% $number('x') %}",
            "$number('x')",
            "Output",
            'threw an error during evaluation. D3030: Unable to cast value to a number: "x"',
        ),
        (
            "{% $nope(1) %}",
            "$nope(1)",
            "Output",
            "threw an error during evaluation. T1006: Attempted to invoke a non-function",
        ),
    ],
)
def test_failures_have_aws_causes(value: Any, expression: str, field: str, ending: str) -> None:
    with pytest.raises(StatesError) as raised:
        _evaluate(value)
    assert raised.value.error == "States.QueryEvaluationError"
    assert (
        raised.value.cause
        == f"The JSONata expression '{expression}' specified for the field '{field}' {ending}"
    )


@pytest.mark.parametrize(
    "text",
    [
        "$partition('a', 1)",
        "$range(1, 2, 0)",
        "$hash('x', 'MD4')",
        "$parse('{')",
        "$parse('Infinity')",
        "1/0",
    ],
)
def test_bad_arguments_are_query_evaluation_errors(text: str) -> None:
    with pytest.raises(StatesError) as raised:
        evaluate_expression(text, states=_STATES, variables={}, field="Arguments")
    assert raised.value.error == "States.QueryEvaluationError"
    assert raised.value.cause.startswith(
        f"The JSONata expression '{text}' specified for the field 'Arguments' threw"
    )
