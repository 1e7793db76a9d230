"""Choice Rules: AWS's recorded choice_operators cases, evaluated directly, and edge cases of our own."""

from __future__ import annotations

import datetime
import json
import pathlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tributary.states.errors import StatesError
from tributary.states.state.choice import evaluate_choice_rule, parse_timestamp, string_matches

CASES = pathlib.Path(__file__).resolve().parents[3] / "shared" / "asl-conformance" / "executions"


def _recorded_cases() -> list[Any]:
    if not CASES.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"conformance cases not found at {CASES}"))]
    found = []
    for file in sorted(CASES.glob("choice_operators__*.json")):
        found.append(pytest.param(json.loads(file.read_text()), id=file.stem[len("choice_operators__") :]))
    return found


def _run_choice_machine(definition: dict[str, Any], state_input: Any) -> Any:
    """A Choice followed by Pass states with a literal Result: all these cases need."""
    name = definition["StartAt"]
    while True:
        state = definition["States"][name]
        if state["Type"] == "Pass":
            return state["Result"]
        assert state["Type"] == "Choice"
        for rule in state["Choices"]:
            if evaluate_choice_rule(rule, state_input, context={}, variables={}):
                name = rule["Next"]
                break
        else:
            name = state["Default"]


@pytest.mark.parametrize("case", _recorded_cases())
def test_recorded_choice_case(case: dict[str, Any]) -> None:
    assert case["expected"]["status"] == "SUCCEEDED"
    state_input = {} if case.get("input_omitted") else case["input"]
    assert _run_choice_machine(case["definition"], state_input) == case["expected"]["output"]


def _rule(**operator: Any) -> dict[str, Any]:
    return {"Variable": "$.v", **operator}


@pytest.mark.parametrize(
    ("rule", "value", "expected"),
    [
        (_rule(NumericEquals=1), {"v": True}, False),
        (_rule(NumericEquals=1), {"v": 1.0}, True),
        (_rule(NumericGreaterThan=1), {"v": "2"}, False),
        (_rule(StringLessThan="b"), {"v": "a"}, True),
        (_rule(StringGreaterThanEquals="a"), {"v": "a"}, True),
        # UTF-16 ordering: U+FFFD sorts after a surrogate pair (U+1F600), unlike code-point order.
        (_rule(StringGreaterThan="\U0001f600"), {"v": "\ufffd"}, True),
        (_rule(BooleanEquals=True), {"v": 1}, False),
        (_rule(IsNull=True), {"v": None}, True),
        (_rule(IsPresent=False), {"w": 1}, True),
        (_rule(IsPresent=True), {"v": None}, True),
        (_rule(IsTimestamp=True), {"v": "2024-02-29T23:59:59.123456789+05:30"}, True),
        (_rule(IsTimestamp=True), {"v": "2023-02-29T00:00:00Z"}, False),
        (_rule(IsTimestamp=True), {"v": "2023-02-24"}, False),
        (_rule(IsNumeric=True), {"v": False}, False),
        (_rule(TimestampEquals="2012-10-09T20:00:55+01:00"), {"v": "2012-10-09T19:00:55Z"}, True),
        (
            _rule(TimestampLessThan="2012-10-09T19:00:55.000000002Z"),
            {"v": "2012-10-09T19:00:55.000000001Z"},
            True,
        ),
        (_rule(StringMatches="log-*.txt"), {"v": "log-2024.txt"}, True),
        (_rule(StringMatches="log-*.txt"), {"v": "log-2024.txt.gz"}, False),
        (_rule(StringEqualsPath="$.w"), {"v": "x", "w": "x"}, True),
        (_rule(NumericLessThanPath="$$.limit"), {"v": 1}, True),
        (_rule(StringEqualsPath="$expected"), {"v": "x"}, True),
        ({"And": [_rule(IsPresent=True), {"Not": _rule(IsNull=True)}]}, {"v": 1}, True),
        ({"Or": [_rule(NumericEquals=2), _rule(NumericEquals=3)]}, {"v": 1}, False),
    ],
)
def test_rule(rule: dict[str, Any], value: Any, expected: bool) -> None:
    assert evaluate_choice_rule(rule, value, context={"limit": 2}, variables={"expected": "x"}) is expected


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("a\\*b", "a*b", True),
        ("a\\*b", "axb", False),
        ("a\\\\*", "a\\anything", True),
        ("*", "", True),
        ("a.c", "abc", False),
        ("*\n*", "x\ny", True),
    ],
)
def test_string_matches_wildcards_and_escapes(pattern: str, text: str, expected: bool) -> None:
    assert string_matches(text, pattern) is expected


def test_missing_variable_is_a_runtime_error() -> None:
    with pytest.raises(StatesError) as raised:
        evaluate_choice_rule(_rule(NumericEquals=1), {}, context={}, variables={})
    assert raised.value.error == "States.Runtime"
    assert (
        raised.value.cause
        == "Invalid path '$.v': The choice state's condition path references an invalid value."
    )


def test_parse_timestamp_normalizes_offsets() -> None:
    assert parse_timestamp("2012-10-09T20:00:55+01:00") == parse_timestamp("2012-10-09T19:00:55Z")
    assert parse_timestamp(12) is None


_moments = st.datetimes(
    min_value=datetime.datetime(1970, 1, 1),
    max_value=datetime.datetime(2100, 1, 1),
    timezones=st.just(datetime.UTC),
)
_offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: datetime.timedelta(minutes=minutes)
)


def _rfc3339(moment: datetime.datetime, offset: datetime.timedelta) -> str:
    local = moment.astimezone(datetime.timezone(offset))
    text = local.strftime("%Y-%m-%dT%H:%M:%S") + (f".{local.microsecond:06d}" if local.microsecond else "")
    return text + ("Z" if not offset else local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:])


@given(_moments, _offsets, _moments, _offsets)
def test_timestamp_comparisons_order_instants_whatever_the_offsets(
    first: datetime.datetime,
    first_offset: datetime.timedelta,
    second: datetime.datetime,
    second_offset: datetime.timedelta,
) -> None:
    value = {"v": _rfc3339(first, first_offset)}
    other = _rfc3339(second, second_offset)
    for name, expected in [
        ("TimestampEquals", first == second),
        ("TimestampLessThan", first < second),
        ("TimestampGreaterThanEquals", first >= second),
    ]:
        assert evaluate_choice_rule(_rule(**{name: other}), value, context={}, variables={}) is expected
