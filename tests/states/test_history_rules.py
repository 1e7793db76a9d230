"""Which event each history event points to (previousEventId) and what it holds, by the rules AWS
Step Functions follows in GetExecutionHistory, through `tributary.states.execution_history`."""

from __future__ import annotations

import json
from typing import Any

from tributary.states import Execution, execution_history


def chain(events: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    return [(e["id"], e["previousEventId"], e["type"]) for e in events]


def inline_map(**fields: Any) -> dict[str, Any]:
    processor = {
        "ProcessorConfig": {"Mode": "INLINE"},
        "StartAt": "Inner",
        "States": {"Inner": {"Type": "Pass", "End": True}},
    }
    return {
        "StartAt": "First",
        "States": {
            "First": {"Type": "Pass", "Next": "M"},
            "M": {"Type": "Map", "ItemProcessor": processor, "End": True, **fields},
        },
    }


def distributed(definition: dict[str, Any]) -> None:
    definition["States"]["M"]["ItemProcessor"]["ProcessorConfig"] = {
        "Mode": "DISTRIBUTED",
        "ExecutionType": "STANDARD",
    }


def test_execution_history_is_the_history_the_execution_keeps() -> None:
    definition = inline_map(MaxConcurrency=1)
    events = execution_history(definition, [1, 2])
    execution = Execution(definition, [1, 2])
    execution.run()
    strip = [{k: v for k, v in e.items() if k != "timestamp"} for e in events]
    assert strip == [{k: v for k, v in e.items() if k != "timestamp"} for e in execution.history.events]
    assert events[-1]["type"] == "ExecutionSucceeded"
    assert json.loads(events[-1]["executionSucceededEventDetails"]["output"]) == [1, 2]


def test_the_first_state_follows_no_event() -> None:
    events = execution_history({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}, {})
    assert chain(events) == [
        (1, 0, "ExecutionStarted"),
        (2, 0, "PassStateEntered"),
        (3, 2, "PassStateExited"),
        (4, 3, "ExecutionSucceeded"),
    ]


def test_an_iteration_taking_the_place_of_an_ended_one_follows_its_last_state() -> None:
    events = execution_history(inline_map(MaxConcurrency=1), [1, 2])
    assert chain(events)[3:] == [
        (4, 3, "MapStateEntered"),
        (5, 4, "MapStateStarted"),
        (6, 5, "MapIterationStarted"),
        (7, 6, "PassStateEntered"),
        (8, 7, "PassStateExited"),
        (9, 8, "MapIterationSucceeded"),
        (10, 8, "MapIterationStarted"),  # after item 0's last state, not after MapStateStarted
        (11, 10, "PassStateEntered"),
        (12, 11, "PassStateExited"),
        (13, 12, "MapIterationSucceeded"),
        (14, 13, "MapStateSucceeded"),
        (15, 13, "MapStateExited"),  # where the success events start from, not MapStateSucceeded
        (16, 15, "ExecutionSucceeded"),
    ]


def test_an_empty_map_exits_after_map_state_started() -> None:
    events = execution_history(inline_map(), [])
    assert chain(events)[3:] == [
        (4, 3, "MapStateEntered"),
        (5, 4, "MapStateStarted"),
        (6, 5, "MapStateSucceeded"),
        (7, 5, "MapStateExited"),
        (8, 7, "ExecutionSucceeded"),
    ]


def test_a_distributed_map_exits_after_map_run_started() -> None:
    definition = inline_map(MaxConcurrency=1)
    distributed(definition)
    events = execution_history(definition, [1, 2])
    assert chain(events)[3:] == [
        (4, 3, "MapStateEntered"),
        (5, 4, "MapStateStarted"),
        (6, 5, "MapRunStarted"),
        (7, 6, "MapRunSucceeded"),
        (8, 7, "MapStateSucceeded"),
        (9, 6, "MapStateExited"),
        (10, 9, "ExecutionSucceeded"),
    ]


def test_a_failed_iteration_and_the_map_failure_follow_its_last_state() -> None:
    definition = inline_map(MaxConcurrency=1)
    definition["States"]["M"]["ItemProcessor"]["States"]["Inner"] = {"Type": "Fail", "Error": "E"}
    events = execution_history(definition, [1])
    assert chain(events)[5:] == [
        (6, 5, "MapIterationStarted"),
        (7, 6, "FailStateEntered"),
        (8, 7, "MapIterationFailed"),
        (9, 7, "MapStateFailed"),
        (10, 9, "ExecutionFailed"),
    ]


def jsonata_pass(**fields: Any) -> dict[str, Any]:
    return {
        "QueryLanguage": "JSONata",
        "StartAt": "First",
        "States": {
            "First": {"Type": "Pass", "Next": "S"},
            "S": {"Type": "Pass", "End": True, **fields},
        },
    }


def test_an_expression_failing_writes_evaluation_failed_with_the_field_it_is_in() -> None:
    events = execution_history(jsonata_pass(Output={"result": "{% $nothing %}"}), {})
    assert chain(events)[3:] == [
        (4, 3, "PassStateEntered"),
        (5, 3, "EvaluationFailed"),  # follows what the state's entry followed
        (6, 5, "ExecutionFailed"),
    ]
    details = events[4]["evaluationFailedEventDetails"]
    assert details["location"] == "Output/result"
    assert details["state"] == "S"
    assert details["cause"].startswith(
        "An error occurred while executing the state 'S' (entered at the event id #4)."
    )
    assert events[5]["executionFailedEventDetails"]["cause"] == details["cause"]


def test_a_map_whose_items_are_no_array_fails_after_evaluation_failed() -> None:
    definition = inline_map(Items="{% 1 %}")
    definition["QueryLanguage"] = "JSONata"
    events = execution_history(definition, {})
    assert chain(events)[3:] == [
        (4, 3, "MapStateEntered"),
        (5, 3, "EvaluationFailed"),
        (6, 5, "MapStateFailed"),
        (7, 6, "ExecutionFailed"),
    ]
    assert events[4]["evaluationFailedEventDetails"]["location"] == "Items"


def test_a_wait_timestamp_that_is_no_timestamp_fails_after_the_wait_entered() -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "Timestamp": "{% $states.input.t %}", "End": True}},
    }
    events = execution_history(definition, {"t": "2016-12-05 21:29:29Z"})
    assert chain(events) == [
        (1, 0, "ExecutionStarted"),
        (2, 0, "WaitStateEntered"),
        (3, 2, "EvaluationFailed"),
        (4, 3, "ExecutionFailed"),
    ]
    details = events[2]["evaluationFailedEventDetails"]
    assert details["location"] == "Timestamp"
    assert details["cause"].endswith(
        "The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: "
        "2016-12-05 21:29:29Z"
    )
    path = {"StartAt": "W", "States": {"W": {"Type": "Wait", "TimestampPath": "$.t", "End": True}}}
    failed = execution_history(path, {"t": "2016-13-05T21:29:29Z"})[-1]["executionFailedEventDetails"]
    assert failed["error"] == "States.Runtime"
    assert failed["cause"].endswith(
        "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time "
        "format string: $.t == 2016-13-05T21:29:29Z"
    )


def test_a_retried_map_writes_map_state_failed_only_once_it_fails_for_good() -> None:
    definition = inline_map(
        MaxConcurrency=1, Retry=[{"ErrorEquals": ["States.ALL"], "MaxAttempts": 1, "IntervalSeconds": 1}]
    )
    definition["States"]["M"]["ItemProcessor"]["States"]["Inner"] = {"Type": "Fail", "Error": "E"}
    events = execution_history(definition, [1])
    assert chain(events)[4:] == [
        (5, 4, "MapStateStarted"),
        (6, 5, "MapIterationStarted"),
        (7, 6, "FailStateEntered"),
        (8, 7, "MapIterationFailed"),
        (9, 7, "MapStateStarted"),  # the retry starts after the failed iteration's last state
        (10, 9, "MapIterationStarted"),
        (11, 10, "FailStateEntered"),
        (12, 11, "MapIterationFailed"),
        (13, 11, "MapStateFailed"),
        (14, 13, "ExecutionFailed"),
    ]


def test_an_invalid_tolerated_failure_count_fails_the_map_after_it_started() -> None:
    definition = inline_map(ToleratedFailureCountPath="$.count", ItemsPath="$.items")
    distributed(definition)
    events = execution_history(definition, {"items": [0], "count": -1})
    assert chain(events)[3:] == [
        (4, 3, "MapStateEntered"),
        (5, 4, "MapStateStarted"),
        (6, 5, "ExecutionFailed"),
    ]
    assert events[-1]["executionFailedEventDetails"]["error"] == "States.Runtime"


def test_an_error_path_that_selects_nothing_names_the_field_and_the_input() -> None:
    for field in ("ErrorPath", "CausePath"):
        definition = {"StartAt": "F", "States": {"F": {"Type": "Fail", field: "$.missing"}}}
        failed = execution_history(definition, {"a": 1})[-1]["executionFailedEventDetails"]
        assert failed["error"] == "States.Runtime"
        assert failed["cause"] == (
            "An error occurred while executing the state 'F' (entered at the event id #2). The JSONPath "
            f"'$.missing' specified for the field '{field}' could not be found in the input '{{\"a\":1}}'"
        )


def test_only_states_that_can_retry_have_a_retry_count_in_the_context_object() -> None:
    definition = {
        "StartAt": "P",
        "States": {
            "P": {"Type": "Pass", "Parameters": {"state.$": "$$.State", "items": [1]}, "Next": "M"},
            "M": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemSelector": {"state.$": "$$.State"},
                "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}},
                "End": True,
            },
        },
    }
    events = execution_history(definition, {})
    pass_state = json.loads(events[2]["stateExitedEventDetails"]["output"])["state"]
    assert (sorted(pass_state), pass_state["Name"]) == (["EnteredTime", "Name"], "P")
    output = json.loads(events[-1]["executionSucceededEventDetails"]["output"])
    assert output[0]["state"]["Name"] == "M"
    assert output[0]["state"]["RetryCount"] == 0
