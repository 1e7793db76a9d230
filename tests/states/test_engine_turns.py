"""Parallel branches and Map iterations on a virtual clock take turns, one state each, in branch order:
every branch (every iteration up to MaxConcurrency) starts before a failure stops the rest, as on AWS,
and the run stays deterministic."""

from __future__ import annotations

import json
from typing import Any

from tributary.states import Execution, IntegrationRegistry
from tributary.states.errors import StatesError


def branch(*names: str, failing: str | None = None) -> dict[str, Any]:
    """A branch of Pass states (the one named `failing` is a Task whose call fails), in a row."""
    states: dict[str, Any] = {}
    for position, name in enumerate(names):
        state: dict[str, Any] = (
            {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"name": name}}
            if name == failing
            else {"Type": "Pass", "Result": name}
        )
        if position + 1 < len(names):
            state["Next"] = names[position + 1]
        else:
            state["End"] = True
        states[name] = state
    return {"StartAt": names[0], "States": states}


class Failing:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def invoke(self, call: Any) -> Any:
        name = call.arguments["name"]
        self.calls.append(name)
        raise StatesError(f"{name}.Failed", f"{name} failed")


def run(definition: dict[str, Any], value: Any = None) -> tuple[Execution, Failing]:
    failing = Failing()
    execution = Execution(definition, value or {}, integrations=IntegrationRegistry({"lambda": failing}))
    execution.run()
    return execution, failing


def parallel(*branches: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "StartAt": "P",
        "States": {"P": {"Type": "Parallel", "Branches": list(branches), "End": True, **fields}},
    }


def name_of(event: dict[str, Any]) -> str | None:
    details: dict[str, Any] = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
    return details.get("name")


def entered(events: list[dict[str, Any]]) -> list[str]:
    return [str(name_of(e)) for e in events if e["type"].endswith("StateEntered")]


def position(events: list[dict[str, Any]], event_type: str, name: str | None = None) -> int:
    return next(e["id"] for e in events if e["type"] == event_type and (name is None or name_of(e) == name))


def check_ids(events: list[dict[str, Any]]) -> None:
    """Ids count from 1 in history order; each event follows an earlier one (0: none)."""
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    for event in events:
        assert 0 <= event["previousEventId"] < event["id"], event


def test_a_branch_failing_at_once_lets_its_sibling_enter_its_first_state_only():
    execution, failing = run(parallel(branch("Boom", failing="Boom"), branch("First", "Second", "Third")))
    events = execution.history.events
    check_ids(events)
    assert (execution.status, execution.error, execution.cause) == ("FAILED", "Boom.Failed", "Boom failed")
    assert failing.calls == ["Boom"]
    assert entered(events) == ["P", "Boom", "First"]
    started = position(events, "ParallelStateStarted")
    first_entered = position(events, "PassStateEntered", "First")
    assert events[first_entered - 1]["previousEventId"] == started
    assert events[position(events, "PassStateExited", "First") - 1]["previousEventId"] == first_entered
    assert position(events, "TaskFailed") < position(events, "ParallelStateFailed")
    # Nothing of the sibling after the Parallel failed.
    failed = position(events, "ParallelStateFailed")
    assert [e["type"] for e in events[failed - 1 :]] == ["ParallelStateFailed", "ExecutionFailed"]


def test_a_later_branch_failing_at_once_stops_an_earlier_one_after_its_first_state():
    execution, failing = run(parallel(branch("First", "Second"), branch("Boom", failing="Boom")))
    assert failing.calls == ["Boom"]
    events = execution.history.events
    check_ids(events)
    assert (execution.status, execution.error) == ("FAILED", "Boom.Failed")
    assert entered(events) == ["P", "First", "Boom"]
    assert position(events, "PassStateExited", "First") < position(events, "TaskFailed")


def test_branches_take_turns_one_state_each_in_branch_order():
    execution, _ = run(parallel(branch("A1", "A2", "A3"), branch("B1"), branch("C1", "C2")))
    events = execution.history.events
    check_ids(events)
    assert execution.status == "SUCCEEDED"
    assert json.loads(execution.output or "null") == ["A3", "B1", "C2"]
    assert entered(events) == ["P", "A1", "B1", "C1", "A2", "C2", "A3"]
    started = position(events, "ParallelStateStarted")
    # Each branch's events chain from the Parallel's start, whatever came between them.
    for first in ("A1", "B1", "C1"):
        assert events[position(events, "PassStateEntered", first) - 1]["previousEventId"] == started
    for earlier, later in (("A1", "A2"), ("A2", "A3"), ("C1", "C2")):
        exited = position(events, "PassStateExited", earlier)
        assert events[position(events, "PassStateEntered", later) - 1]["previousEventId"] == exited


def test_the_failure_of_the_earliest_turn_wins_and_a_catch_sees_no_sibling_after_it():
    catcher = {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Handled"}
    definition = parallel(
        branch("A1", "Late", failing="Late"),
        branch("Early", failing="Early"),
        branch("C1", "C2", "C3"),
        Catch=[catcher],
    )
    definition["States"]["P"].pop("End")
    definition["States"]["P"]["Next"] = "Handled"
    definition["States"]["Handled"] = {"Type": "Pass", "End": True}
    execution, failing = run(definition)
    events = execution.history.events
    check_ids(events)
    assert execution.status == "SUCCEEDED"
    assert json.loads(execution.output or "null")["error"] == {
        "Error": "Early.Failed",
        "Cause": "Early failed",
    }
    assert failing.calls == ["Early"]
    assert entered(events) == ["P", "A1", "Early", "C1", "Handled"]
    failed = position(events, "ParallelStateFailed")
    assert [e["type"] for e in events[failed - 1 :]] == [
        "ParallelStateFailed",
        "ParallelStateExited",
        "PassStateEntered",
        "PassStateExited",
        "ExecutionSucceeded",
    ]


def test_map_iterations_take_turns_up_to_max_concurrency():
    processor = {
        "ProcessorConfig": {"Mode": "INLINE"},
        "StartAt": "Check",
        "States": {
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$", "StringEquals": "bad", "Next": "Boom"}],
                "Default": "Then",
            },
            "Boom": {"Type": "Fail", "Error": "Bad.Item", "Cause": "bad item"},
            "Then": {"Type": "Pass", "Next": "Last"},
            "Last": {"Type": "Pass", "End": True},
        },
    }
    definition = {
        "StartAt": "M",
        "States": {"M": {"Type": "Map", "MaxConcurrency": 2, "ItemProcessor": processor, "End": True}},
    }
    execution, _ = run(definition, ["ok", "bad", "ok"])
    events = execution.history.events
    check_ids(events)
    assert (execution.status, execution.error) == ("FAILED", "Bad.Item")
    started = [
        e["mapIterationStartedEventDetails"]["index"] for e in events if e["type"] == "MapIterationStarted"
    ]
    assert started == [0, 1]  # the third item waits for a place, and the failure comes first
    assert entered(events) == ["M", "Check", "Check", "Then", "Boom"]
    iteration_failed = position(events, "MapIterationFailed")
    map_failed = position(events, "MapStateFailed")
    # MapStateFailed follows the failed iteration's last state event, as MapIterationFailed does.
    assert events[map_failed - 1]["previousEventId"] == events[iteration_failed - 1]["previousEventId"]
    assert all(e["type"] != "MapIterationSucceeded" for e in events)

    execution, _ = run(definition, ["ok", "ok", "ok"])
    assert execution.status == "SUCCEEDED"
    check_ids(execution.history.events)
    started = [
        e["mapIterationStartedEventDetails"]["index"]
        for e in execution.history.events
        if e["type"] == "MapIterationStarted"
    ]
    assert started == [0, 1, 2]
