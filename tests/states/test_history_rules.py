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
    definition["States"]["M"]["ItemProcessor"]["ProcessorConfig"] = {
        "Mode": "DISTRIBUTED",
        "ExecutionType": "STANDARD",
    }
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
