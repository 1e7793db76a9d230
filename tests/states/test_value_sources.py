"""Field pairs read once into typed value sources (value_source.py): which source a field and its
`…Path` or JSONata expression load into, the errors refused at load (with their place), and the
values and run-time errors they give (Fail's Error/Cause, Wait's duration, Task's timeouts)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, cast

import pytest

from tributary.states import execute, execution_history
from tributary.states.definition import ABSENT, Field
from tributary.states.engine import Interpreter, StateRun
from tributary.states.errors import DefinitionError, StatesError
from tributary.states.state import load_machine
from tributary.states.state.fail import FailState
from tributary.states.state.task import TaskState
from tributary.states.state.wait import FixedMoment, FixedSeconds, MomentFrom, SecondsFrom, WaitState
from tributary.states.value_source import (
    NO_VALUE,
    ExpressionValue,
    IntrinsicValue,
    LiteralValue,
    PathValue,
    read_source,
)

PLACE = "States.X"


@pytest.mark.parametrize(
    ("raw", "jsonata", "expected"),
    [
        ({"Error": "Boom"}, False, LiteralValue("Error", "Boom")),
        ({"ErrorPath": "$.e"}, False, PathValue("ErrorPath", "$.e")),
        ({"Error": "{% $states.input.e %}"}, True, ExpressionValue("Error", "{% $states.input.e %}")),
        ({"Error": "Boom"}, True, LiteralValue("Error", "Boom")),  # no expression in it: a literal
        ({"Error": {"a": ["{% 1 %}"]}}, True, ExpressionValue("Error", {"a": ["{% 1 %}"]})),
        ({}, False, NO_VALUE),
        ({"ErrorPath": "$.e"}, True, NO_VALUE),  # JSONata has no …Path (the state refuses it)
    ],
)
def test_a_field_pair_loads_into_one_source(raw: dict[str, Any], jsonata: bool, expected: Any) -> None:
    assert read_source(raw, "Error", PLACE, jsonata=jsonata) == expected


def test_intrinsic_calls_only_where_the_field_allows_them() -> None:
    raw = {"CausePath": "States.Format('x{}', $.a)"}
    assert isinstance(read_source(raw, "Cause", PLACE, jsonata=False, intrinsics=True), IntrinsicValue)
    assert isinstance(read_source(raw, "Cause", PLACE, jsonata=False), PathValue)


def test_a_path_that_is_not_a_string_is_refused_at_load() -> None:
    with pytest.raises(DefinitionError) as raised:
        read_source({"SecondsPath": 3}, "Seconds", PLACE, jsonata=False)
    assert (raised.value.place, raised.value.problem) == (PLACE, "SecondsPath must be a string, not 3")


def _run(context: Any = None, variables: dict[str, Any] | None = None) -> StateRun:
    return cast(StateRun, SimpleNamespace(context=context or {}, variables=variables or {}))


def test_a_path_selects_from_the_value_the_context_and_variables() -> None:
    engine = cast(Interpreter, None)  # paths and literals need no engine
    run = _run({"Execution": {"Name": "n1"}}, {"limit": {"max": 7}})
    assert PathValue("SecondsPath", "$.a.b").evaluate(engine, run, {"a": {"b": 4}}) == 4
    assert PathValue("SecondsPath", "$$.Execution.Name").evaluate(engine, run, {}) == "n1"
    assert PathValue("SecondsPath", "$limit.max").evaluate(engine, run, {}) == 7
    assert LiteralValue("Seconds", 3).evaluate(engine, run, {"a": 1}) == 3
    assert NO_VALUE.evaluate(engine, run, {}) is None and not NO_VALUE.given
    with pytest.raises(StatesError) as raised:
        PathValue("SecondsPath", "$.nope").evaluate(engine, run, {})
    assert raised.value.error == "States.Runtime"


def test_field_keeps_what_was_written_and_carries_its_source() -> None:
    typed = Field.read({"TimeoutSecondsPath": "$.t"}, "TimeoutSeconds", PLACE, jsonata=False)
    assert typed == Field("TimeoutSeconds", ABSENT, "$.t")
    assert typed.source == PathValue("TimeoutSecondsPath", "$.t")
    assert typed.evaluate(cast(Interpreter, None), _run(), {"t": 9}) == 9
    expression = Field.read({"MaxConcurrency": "{% 2 %}"}, "MaxConcurrency", PLACE, jsonata=True)
    assert expression.source == ExpressionValue("MaxConcurrency", "{% 2 %}")


def _one_state(state: dict[str, Any], language: str = "JSONPath") -> dict[str, Any]:
    return {"QueryLanguage": language, "StartAt": "X", "States": {"X": state}}


def _loaded(state: dict[str, Any], language: str = "JSONPath") -> Any:
    return load_machine(_one_state(state, language)).states["X"]


def test_each_state_holds_its_fields_as_typed_sources() -> None:
    fail = _loaded({"Type": "Fail", "ErrorPath": "$.e", "Cause": "c"})
    assert isinstance(fail, FailState)
    assert isinstance(fail.error, PathValue) and (fail.error.field, fail.error.path) == ("ErrorPath", "$.e")
    assert fail.cause == LiteralValue("Cause", "c")
    task = _loaded(
        {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "TimeoutSeconds": 5, "End": True}
    )
    assert isinstance(task, TaskState) and task.timeout_seconds.source == LiteralValue("TimeoutSeconds", 5)
    durations: dict[str, tuple[dict[str, Any], str, type]] = {
        "Seconds": ({"Seconds": 3}, "JSONPath", FixedSeconds),
        "SecondsPath": ({"SecondsPath": "$.s"}, "JSONPath", SecondsFrom),
        "Seconds expression": ({"Seconds": "{% 3 %}"}, "JSONata", SecondsFrom),
        "Timestamp": ({"Timestamp": "2030-01-01T00:00:00Z"}, "JSONPath", FixedMoment),
        "TimestampPath": ({"TimestampPath": "$.t"}, "JSONPath", MomentFrom),
    }
    for fields, language, kind in durations.values():
        wait = _loaded({"Type": "Wait", **fields, "End": True}, language)
        assert isinstance(wait, WaitState) and type(wait.duration) is kind


@pytest.mark.parametrize(
    ("state", "place", "problem"),
    [
        (
            {"Type": "Wait", "Seconds": 1, "SecondsPath": "$.s", "End": True},
            "States.X",
            "Exactly one of the fields [Seconds, SecondsPath, Timestamp, TimestampPath] is required",
        ),
        (
            {"Type": "Wait", "End": True},
            "States.X",
            "Exactly one of the fields [Seconds, SecondsPath, Timestamp, TimestampPath] is required",
        ),
        (
            {"Type": "Wait", "Seconds": -1, "End": True},
            "States.X.Seconds",
            "The value for 'Seconds' must be an integer of at least 0",
        ),
        (
            {"Type": "Wait", "Timestamp": "2030-02-30T00:00:00Z", "End": True},
            "States.X.Timestamp",
            "String does not match RFC3339 timestamp",
        ),
        (
            {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "HeartbeatSeconds": 0,
                "End": True,
            },
            "States.X.HeartbeatSeconds",
            "The value for 'HeartbeatSeconds' must be an integer of at least 1",
        ),
        (
            {"Type": "Fail", "Error": "E", "ErrorPath": "$.e"},
            "States.X",
            "The fields 'Error' and 'ErrorPath' cannot both be set",
        ),
        ({"Type": "Fail", "Cause": 5}, "States.X.Cause", "The value for 'Cause' must be a string"),
    ],
)
def test_a_literal_is_checked_at_load(state: dict[str, Any], place: str, problem: str) -> None:
    with pytest.raises(DefinitionError) as raised:
        load_machine(_one_state(state))
    assert (raised.value.place, raised.value.problem) == (place, problem)


def test_fail_evaluates_its_sources() -> None:
    fail = {"Type": "Fail", "ErrorPath": "$.e", "CausePath": "States.Format('at {}', $.where)"}
    result = execute(_one_state(fail), {"e": "Custom.Boom", "where": "step 2"})
    assert (result.status, result.error, result.cause) == ("FAILED", "Custom.Boom", "at step 2")
    missing = execute(_one_state(fail), {"where": "x"})
    assert missing.error == "States.Runtime"
    assert missing.cause is not None and missing.cause.endswith(
        "The JSONPath '$.e' specified for the field 'ErrorPath' could not be found in the input "
        '\'{"where":"x"}\''
    )
    jsonata = {"Type": "Fail", "Error": "{% $states.input.e %}", "Cause": "plain"}
    result = execute(_one_state(jsonata, "JSONata"), {"e": "E1"})
    assert (result.error, result.cause) == ("E1", "plain")


def _wait_then_succeed(wait: dict[str, Any], language: str = "JSONPath") -> dict[str, Any]:
    return {
        "QueryLanguage": language,
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", **wait, "Next": "S"}, "S": {"Type": "Succeed"}},
    }


def _waited_seconds(events: list[dict[str, Any]]) -> float:
    entered = next(e for e in events if e["type"] == "WaitStateEntered")["timestamp"]
    exited = next(e for e in events if e["type"] == "WaitStateExited")["timestamp"]
    return float((exited - entered).total_seconds())


@pytest.mark.parametrize(
    ("wait", "language", "value"),
    [
        ({"Seconds": 30}, "JSONPath", {}),
        ({"SecondsPath": "$.s"}, "JSONPath", {"s": 30}),
        ({"Seconds": "{% $states.input.s %}"}, "JSONata", {"s": 30}),
    ],
)
def test_wait_waits_what_its_source_gives(wait: dict[str, Any], language: str, value: Any) -> None:
    events = execution_history(_wait_then_succeed(wait, language), value)
    assert events[-1]["type"] == "ExecutionSucceeded"
    assert _waited_seconds(events) == 30


@pytest.mark.parametrize(
    ("wait", "language", "value", "error", "cause_end"),
    [
        (
            {"SecondsPath": "$.s"},
            "JSONPath",
            {"s": -2},
            "States.Runtime",
            "The SecondsPath parameter references a negative value: $.s == -2",
        ),
        (
            {"SecondsPath": "$.s"},
            "JSONPath",
            {"s": 1.5},
            "States.Runtime",
            "The SecondsPath parameter cannot be parsed as a long value: $.s == 1.5",
        ),
        (
            {"Seconds": "{% $states.input.s %}"},
            "JSONata",
            {"s": "x"},
            "States.QueryEvaluationError",
            "specified for the field 'Seconds' returned an unexpected result type. Expected 'integer', "
            "but was '\"x\"'",
        ),
        (
            {"TimestampPath": "$.t"},
            "JSONPath",
            {"t": "soon"},
            "States.Runtime",
            "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time "
            "format string: $.t == soon",
        ),
        (
            {"Timestamp": "{% $states.input.t %}"},
            "JSONata",
            {"t": 5},
            "States.QueryEvaluationError",
            "The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: 5",
        ),
    ],
)
def test_wait_refuses_what_its_source_gives_with_aws_errors(
    wait: dict[str, Any], language: str, value: Any, error: str, cause_end: str
) -> None:
    result = execute(_wait_then_succeed(wait, language), value)
    assert result.status == "FAILED" and result.error == error
    assert result.cause is not None and result.cause.endswith(cause_end), result.cause


def test_task_timeout_from_a_jsonata_expression_is_scheduled_with_it() -> None:
    class Echo:
        def invoke(self, call: Any) -> Any:
            return {"ok": True}

    from tributary.states import IntegrationRegistry

    definition = _one_state(
        {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "TimeoutSeconds": "{% $states.input.t %}",
            "End": True,
        },
        "JSONata",
    )
    events = execution_history(definition, {"t": 42}, integrations=IntegrationRegistry({"lambda": Echo()}))
    scheduled = next(e for e in events if e["type"] == "TaskScheduled")
    assert scheduled["taskScheduledEventDetails"]["timeoutInSeconds"] == 42
    bad = execute(definition, {"t": 0}, integrations=IntegrationRegistry({"lambda": Echo()}))
    assert bad.error == "States.Runtime" and json.dumps(bad.cause).find("positive integer") > 0
