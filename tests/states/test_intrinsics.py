"""Intrinsic functions: AWS's recorded intrinsic_functions cases (the JSONPath ones, Pass states
with Parameters), evaluated directly, and edge cases of our own."""

from __future__ import annotations

import json
import pathlib
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tributary.states.errors import StatesError
from tributary.states.intrinsic_functions import Call, Literal, Path, evaluate_intrinsic, parse_intrinsic
from tributary.states.payload import input_path, output_path, payload_template, result_path

CASES = pathlib.Path(__file__).resolve().parents[3] / "shared" / "asl-conformance" / "executions"


def _recorded_cases() -> list[Any]:
    if not CASES.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"conformance cases not found at {CASES}"))]
    found = []
    for file in sorted(CASES.glob("intrinsic_functions__*.json")):
        case = json.loads(file.read_text())
        if "QueryLanguage" in json.dumps(case["definition"]):
            continue  # the JSONata cases are test_jsonata's
        found.append(pytest.param(case, id=file.stem[len("intrinsic_functions__") :]))
    return found


def _run_pass_chain(definition: dict[str, Any], execution_input: Any) -> Any:
    """Pass states with Parameters, in JSONPath mode: all these cases need."""
    context = {"Execution": {"Input": execution_input}}
    value = execution_input
    name = definition["StartAt"]
    while True:
        state = definition["States"][name]
        assert state["Type"] == "Pass"
        effective = input_path(state.get("InputPath", "$"), value, context=context, variables={})
        result = payload_template(
            state.get("Parameters", effective), effective, context=context, variables={}, field="Parameters"
        )
        value = result_path(state.get("ResultPath", "$"), value, result)
        value = output_path(state.get("OutputPath", "$"), value, context=context, variables={})
        if state.get("End"):
            return value
        name = state["Next"]


@pytest.mark.parametrize("case", _recorded_cases())
def test_recorded_intrinsic_case(case: dict[str, Any]) -> None:
    execution_input = {} if case.get("input_omitted") else case["input"]
    expected = case["expected"]
    assert expected["status"] == "SUCCEEDED"
    assert _run_pass_chain(case["definition"], execution_input) == expected["output"]


def _evaluate(expression: str, value: Any = None) -> Any:
    return evaluate_intrinsic(
        expression, value, context={"Execution": {"Name": "run"}}, variables={"v": [1, 2]}
    )


def test_parser_builds_nested_calls_with_every_kind_of_argument() -> None:
    call = parse_intrinsic(
        "States.Array(States.Array(), 'it\\'s', -1.5e2, null, true, $.a[?(@.b, 1)], $$.X, $v)"
    )
    assert call == Call(
        "States.Array",
        (
            Call("States.Array", ()),
            Literal("it's", "it\\'s"),
            Literal(-150.0),
            Literal(None),
            Literal(True),
            Path("$.a[?(@.b, 1)]"),
            Path("$$.X"),
            Path("$v"),
        ),
    )


@pytest.mark.parametrize(
    ("expression", "value", "expected"),
    [
        ("States.Format('{} and \\{\\}', $.a)", {"a": [1, {"b": None}]}, "[1, {b=null}] and {}"),
        ("States.Format('{}', $$.Execution.Name)", None, "run"),
        ("States.Format('{}-{}', $v, true)", None, "[1, 2]-true"),
        (
            "States.ArrayUnique($.a)",
            {"a": [1, 1.0, True, "1", True, {"x": 1}, {"x": 1}]},
            [1, True, "1", {"x": 1}],
        ),
        ("States.ArrayContains($.a, 1)", {"a": [True]}, False),
        ("States.ArrayRange(5, 1, -2)", None, [5, 3, 1]),
        ("States.ArrayGetItem($v, 0)", None, 1),
        ("States.ArrayLength(States.StringSplit('a,b;c', ',;'))", None, 3),
        ("States.JsonToString($.a)", {"a": {"é": [1.5, None]}}, '{"é":[1.5,null]}'),
        ("States.StringToJson('{\"a\": [1]}')", None, {"a": [1]}),
        ("States.Base64Decode(States.Base64Encode('héllo'))", None, "héllo"),
        ("States.Hash('input data', 'SHA-1')", None, "aaff4a450a104cd177d28d18d74485e8cae074b7"),
        ("States.MathAdd(1, -3)", None, -2),
        ("States.MathRandom(7, 8)", None, 7),
        (
            "States.JsonMerge($.a, $.b, false)",
            {"a": {"x": 1, "y": {"z": 1}}, "b": {"y": 2}},
            {"x": 1, "y": 2},
        ),
    ],
)
def test_function(expression: str, value: Any, expected: Any) -> None:
    assert _evaluate(expression, value) == expected


def test_math_random_with_a_seed_is_repeatable() -> None:
    first = _evaluate("States.MathRandom(0, 1000, 42)")
    assert first == _evaluate("States.MathRandom(0, 1000, 42)")
    assert 0 <= first < 1000


def test_uuid_is_a_version_4_uuid() -> None:
    assert uuid.UUID(_evaluate("States.UUID()")).version == 4


@pytest.mark.parametrize(
    "expression",
    [
        "States.ArrayPartition($v, 0)",
        "States.ArrayGetItem($v, 2)",
        "States.Hash('x', 'SHA-3')",
        "States.JsonMerge($.a, $.a, true)",
        "States.Format('{} {}', 1)",
        "States.Format('{}', 1, 2)",
        "States.StringToJson('{')",
        "States.StringToJson('NaN')",
        "States.Base64Decode('%%%')",
        "States.ArrayRange(0, 2000, 1)",
        "States.MathAdd('1', 2)",
        "States.Nope(1)",
        "States.Array(1,",
        "States.Array('unterminated)",
        "States.Array(1) trailing",
        "States.Array(bareword)",
    ],
)
def test_failures_are_intrinsic_failures(expression: str) -> None:
    with pytest.raises(StatesError) as raised:
        _evaluate(expression, {"a": {}})
    assert raised.value.error == "States.IntrinsicFailure"


def test_missing_path_argument_is_a_runtime_error() -> None:
    with pytest.raises(StatesError) as raised:
        _evaluate("States.Array($.missing)", {})
    assert raised.value.error == "States.Runtime"
    assert raised.value.cause == "Invalid path '$.missing' : No results for path: $['missing']"


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)


def _quoted(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("{", "\\{").replace("}", "\\}")
    return f"'{escaped}'"


@given(st.lists(_text, max_size=5))
def test_string_literals_round_trip_through_the_parser(texts: list[str]) -> None:
    expression = "States.Array(" + ", ".join(_quoted(text) for text in texts) + ")"
    assert _evaluate(expression) == texts


@given(_text, st.lists(_text, max_size=4))
def test_format_fills_placeholders_in_order(prefix: str, texts: list[str]) -> None:
    template = _quoted(prefix)[:-1] + "{}" * len(texts) + "'"
    expression = "States.Format(" + ", ".join([template, *map(_quoted, texts)]) + ")"
    assert _evaluate(expression) == prefix + "".join(texts)


@given(st.text(alphabet="States.Array(Format'$,)\\ 1-e{}[]?@\"x", max_size=40))
def test_any_text_parses_and_evaluates_or_fails_with_a_states_error(text: str) -> None:
    try:
        call = parse_intrinsic("States." + text)
    except StatesError as error:
        assert error.error == "States.IntrinsicFailure"
    else:
        assert isinstance(call, Call)
        try:
            _evaluate("States." + text, {"x": [1]})
        except StatesError as error:
            assert error.error in ("States.IntrinsicFailure", "States.Runtime")
