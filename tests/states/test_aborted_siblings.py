"""A Parallel branch or a Map iteration that fails while its siblings are inside a state that takes
time (a Wait, a task waiting for its callback or its back-off, a nested Parallel or Map): as the
Step Functions guide says, the whole Parallel (Map) fails and all its branches are stopped. The
stopped states end with the HistoryEvent types AWS has for that (TaskStateAborted, WaitStateAborted,
ParallelStateAborted, MapStateAborted, MapIterationAborted), before ParallelStateFailed /
MapStateFailed; on a virtual clock, siblings' waits overlap as they do on AWS."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from tributary.states import CallbackStore, Execution, IntegrationRegistry, VirtualClock
from tributary.states.errors import StatesError
from tributary.states.state import load_machine

CALLBACK = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"


def wait(name: str, seconds: int, then: str | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Wait", "Seconds": seconds}
    state.update({"Next": then} if then else {"End": True})
    return {name: state}


def fail(name: str) -> dict[str, Any]:
    return {name: {"Type": "Fail", "Error": f"{name}.Error", "Cause": f"{name} failed"}}


def machine(*states: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for state in states:
        merged.update(state)
    return {"StartAt": next(iter(states[0])), "States": merged}


def parallel(*branches: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "StartAt": "P",
        "States": {"P": {"Type": "Parallel", "Branches": list(branches), "End": True, **fields}},
    }


def run(definition: dict[str, Any], value: Any = None, integrations: Any = None) -> Execution:
    execution = Execution(definition, value or {}, integrations=integrations, clock=VirtualClock())
    execution.run()
    return execution


def typed(events: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """(type, state name) of each event."""
    out = []
    for event in events:
        details = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
        out.append((event["type"], details.get("name")))
    return out


def by_id(events: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {e["id"]: e for e in events}


def only(events: list[dict[str, Any]], event_type: str, name: str | None = None) -> dict[str, Any]:
    found = [
        e for e, (t, n) in zip(events, typed(events), strict=True) if t == event_type and name in (None, n)
    ]
    assert len(found) == 1, (event_type, name, typed(events))
    return found[0]


def elapsed(execution: Execution) -> float:
    assert execution.stop_date is not None
    return (execution.stop_date - execution.start_date).total_seconds()


def test_a_branch_failing_aborts_a_sibling_inside_its_wait_state():
    execution = run(parallel(machine(wait("Hold", 10)), machine(wait("Short", 3, "Boom"), fail("Boom"))))
    events = list(execution.history.events)
    assert (execution.status, execution.error, execution.cause) == ("FAILED", "Boom.Error", "Boom failed")
    assert typed(events) == [
        ("ExecutionStarted", None),
        ("ParallelStateEntered", "P"),
        ("ParallelStateStarted", None),
        ("WaitStateEntered", "Hold"),
        ("WaitStateEntered", "Short"),
        ("WaitStateExited", "Short"),
        ("FailStateEntered", "Boom"),
        ("WaitStateAborted", None),
        ("ParallelStateFailed", None),
        ("ExecutionFailed", None),
    ]
    ids = by_id(events)
    aborted = only(events, "WaitStateAborted")
    # The aborted state follows its own last event; the Parallel's failure follows the failed branch's.
    assert ids[aborted["previousEventId"]] == only(events, "WaitStateEntered", "Hold")
    assert ids[only(events, "ParallelStateFailed")["previousEventId"]] == only(
        events, "FailStateEntered", "Boom"
    )
    assert not any(k.endswith("EventDetails") for k in aborted)  # the HistoryEvent has no member for it
    # The failure came 3 s in: the 10 s wait did not run to its end.
    assert elapsed(execution) == 3


def test_siblings_waits_overlap_on_the_virtual_clock():
    execution = run(parallel(machine(wait("A", 10)), machine(wait("B", 10)), machine(wait("C", 4))))
    assert execution.status == "SUCCEEDED"
    assert elapsed(execution) == 10
    names = [
        n for t, n in typed(list(execution.history.events)) if t in ("WaitStateEntered", "WaitStateExited")
    ]
    assert names == ["A", "B", "C", "C", "A", "B"]


def test_a_task_waiting_for_its_callback_is_aborted_when_a_sibling_fails():
    callbacks = CallbackStore()
    sent: list[str] = []

    class Queue:
        def invoke(self, call: Any) -> Any:
            sent.append(call.task_token)
            return {"MessageId": "m-1"}

    callback_task = {
        "Type": "Task",
        "Resource": CALLBACK,
        "Parameters": {"QueueUrl": "q", "MessageBody": {"token.$": "$$.Task.Token"}},
        "TimeoutSeconds": 300,
        "End": True,
    }
    execution = Execution(
        parallel(machine({"Ask": callback_task}), machine(wait("Think", 5, "Boom"), fail("Boom"))),
        {},
        integrations=IntegrationRegistry({"sqs": Queue()}),
        clock=VirtualClock(),
        callbacks=callbacks,
    )
    execution.run()
    events = list(execution.history.events)
    assert (execution.status, execution.error) == ("FAILED", "Boom.Error")
    assert len(sent) == 1
    ids = by_id(events)
    aborted = only(events, "TaskStateAborted")
    assert ids[aborted["previousEventId"]]["type"] == "TaskSubmitted"
    kinds = [t for t, _ in typed(events)]
    assert (
        kinds.index("FailStateEntered") < kinds.index("TaskStateAborted") < kinds.index("ParallelStateFailed")
    )
    assert "TaskStateExited" not in kinds and "TaskTimedOut" not in kinds
    assert elapsed(execution) == 5


def test_a_task_in_its_retry_back_off_is_aborted_after_its_failure_event():
    class Flaky:
        def invoke(self, call: Any) -> Any:
            raise StatesError("Flaky.Error", "try again")

    task = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Retry": [{"ErrorEquals": ["Flaky.Error"], "IntervalSeconds": 30, "MaxAttempts": 3}],
        "End": True,
    }
    execution = run(
        parallel(machine({"Call": task}), machine(wait("Think", 5, "Boom"), fail("Boom"))),
        integrations=IntegrationRegistry({"lambda": Flaky()}),
    )
    events = list(execution.history.events)
    assert execution.error == "Boom.Error"
    assert [t for t, _ in typed(events)].count("TaskScheduled") == 1  # no retry before the abort
    aborted = only(events, "TaskStateAborted")
    assert by_id(events)[aborted["previousEventId"]]["type"] == "TaskFailed"
    assert elapsed(execution) == 5


def test_a_nested_parallel_in_a_sibling_aborts_its_own_branches_then_itself():
    inner = {"Type": "Parallel", "Branches": [machine(wait("Deep", 60))], "End": True}
    execution = run(parallel(machine({"Inner": inner}), machine(wait("Think", 2, "Boom"), fail("Boom"))))
    events = list(execution.history.events)
    kinds = [t for t, _ in typed(events)]
    ids = by_id(events)
    wait_aborted = only(events, "WaitStateAborted")
    inner_aborted = only(events, "ParallelStateAborted")
    assert ids[wait_aborted["previousEventId"]] == only(events, "WaitStateEntered", "Deep")
    # The nested Parallel's branches stop first; the nested Parallel follows its own start.
    assert wait_aborted["id"] < inner_aborted["id"] < only(events, "ParallelStateFailed")["id"]
    assert ids[inner_aborted["previousEventId"]]["type"] == "ParallelStateStarted"
    assert kinds.count("ParallelStateFailed") == 1 and kinds[-1] == "ExecutionFailed"
    assert elapsed(execution) == 2


def test_a_failed_iteration_aborts_the_iterations_waiting_and_their_states():
    processor = {
        "StartAt": "Pick",
        "States": {
            "Pick": {
                "Type": "Choice",
                "Choices": [{"Variable": "$", "NumericEquals": 1, "Next": "Soon"}],
                "Default": "Long",
            },
            **wait("Long", 100),
            **wait("Soon", 1, "Bad"),
            **fail("Bad"),
        },
    }
    definition = {"StartAt": "M", "States": {"M": {"Type": "Map", "ItemProcessor": processor, "End": True}}}
    execution = run(definition, [0, 1, 2])
    events = list(execution.history.events)
    assert (execution.status, execution.error) == ("FAILED", "Bad.Error")
    kinds = [t for t, _ in typed(events)]
    assert kinds.count("WaitStateAborted") == 2
    assert kinds.count("MapIterationAborted") == 2
    iteration_failed = only(events, "MapIterationFailed")
    map_failed = only(events, "MapStateFailed")
    bad = only(events, "FailStateEntered", "Bad")
    ids = by_id(events)
    for event in events:
        if event["type"] == "WaitStateAborted":
            assert ids[event["previousEventId"]]["type"] == "WaitStateEntered"
        if event["type"] == "MapIterationAborted":
            assert event["previousEventId"] == bad["id"]
            assert iteration_failed["id"] < event["id"] < map_failed["id"]
    assert [
        e["mapIterationAbortedEventDetails"]["index"] for e in events if e["type"] == "MapIterationAborted"
    ] == [
        0,
        2,
    ]
    assert elapsed(execution) == 1


def test_a_map_in_a_sibling_branch_is_aborted_with_its_iterations():
    processor = {"StartAt": "Long", "States": wait("Long", 50)}
    inner_map = {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": processor, "End": True}
    execution = run(
        parallel(machine({"Each": inner_map}), machine(wait("Think", 2, "Boom"), fail("Boom"))),
        {"items": [1, 2]},
    )
    events = list(execution.history.events)
    kinds = [t for t, _ in typed(events)]
    assert kinds.count("WaitStateAborted") == 2
    assert kinds.count("MapIterationAborted") == 2
    map_aborted = only(events, "MapStateAborted")
    assert map_aborted["id"] > max(e["id"] for e in events if e["type"] == "MapIterationAborted")
    assert map_aborted["id"] < only(events, "ParallelStateFailed")["id"]
    assert "MapStateFailed" not in kinds
    ids = by_id(events)
    for event in events:
        if (
            event["type"] == "MapIterationAborted"
        ):  # after its own chain: WaitStateAborted does not advance it
            assert ids[event["previousEventId"]]["type"] == "WaitStateEntered"


def test_a_caught_branch_failure_continues_after_the_aborted_sibling_and_nothing_of_it_follows():
    definition = parallel(
        machine(wait("Hold", 10, "Later"), {"Later": {"Type": "Pass", "End": True}}),
        machine(fail("Boom")),
        Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Handled"}],
    )
    definition["States"]["P"].pop("End")
    definition["States"]["P"]["Next"] = "Handled"
    definition["States"]["Handled"] = {"Type": "Pass", "End": True}
    execution = run(definition, {"a": 1})
    events = list(execution.history.events)
    assert execution.status == "SUCCEEDED"
    assert json.loads(execution.output or "{}") == {
        "a": 1,
        "error": {"Error": "Boom.Error", "Cause": "Boom failed"},
    }
    names = [n for _, n in typed(events)]
    assert "Later" not in names
    kinds = [t for t, _ in typed(events)]
    assert (
        kinds.index("WaitStateAborted")
        < kinds.index("ParallelStateFailed")
        < kinds.index("ParallelStateExited")
    )
    assert elapsed(execution) == 0


def test_a_branch_without_waits_is_unchanged_by_the_scheduler_and_ends_at_the_start_time():
    clock = VirtualClock()
    start = clock.now()
    execution = Execution(
        parallel(machine(fail("Boom")), machine({"A": {"Type": "Pass", "End": True}})), {}, clock=clock
    )
    execution.run()
    assert execution.error == "Boom.Error"
    assert clock.now() - start == timedelta(0)
    assert "PassStateExited" in [t for t, _ in typed(list(execution.history.events))]


def test_only_machines_that_can_wait_run_their_branches_in_threads_of_their_own():
    def loaded(*states: dict[str, Any]) -> Any:
        return load_machine(machine(*states))

    task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}
    assert not loaded({"A": {"Type": "Pass", "End": True}}).may_wait
    assert not loaded({"T": task}).may_wait  # request-response: answered at once
    assert loaded({"T": {**task, "Retry": [{"ErrorEquals": ["States.ALL"]}]}}).may_wait  # back-off
    assert loaded({"T": {**task, "Resource": CALLBACK}}).may_wait
    assert loaded({"T": {**task, "Resource": "arn:aws:states:::glue:startJobRun.sync"}}).may_wait
    assert loaded(wait("W", 1)).may_wait
    inner = {"Type": "Parallel", "Branches": [machine(wait("W", 1))], "End": True}
    assert loaded({"P": inner}).may_wait


def test_a_retried_parallel_writes_parallel_state_failed_only_once_it_fails_for_good():
    class Boom:
        def invoke(self, call: Any) -> Any:
            raise StatesError("Boom.Error", "boom")

    task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}
    definition = parallel(
        machine({"Call": task}),
        Retry=[{"ErrorEquals": ["Boom.Error"], "IntervalSeconds": 1, "MaxAttempts": 1}],
    )
    execution = run(definition, integrations=IntegrationRegistry({"lambda": Boom()}))
    events = list(execution.history.events)
    assert execution.error == "Boom.Error"
    kinds = [t for t, _ in typed(events)]
    assert kinds.count("ParallelStateStarted") == 2
    assert kinds.count("ParallelStateFailed") == 1
    ids = by_id(events)
    first_failure, last_failure = [e for e in events if e["type"] == "TaskFailed"]
    second_start = [e for e in events if e["type"] == "ParallelStateStarted"][1]
    # The retry starts the Parallel again after the failed branch's last event, as for a Map.
    assert ids[second_start["previousEventId"]] == first_failure
    assert ids[only(events, "ParallelStateFailed")["previousEventId"]] == last_failure


def test_branches_suspended_in_threads_give_the_same_history_on_every_run():
    processor = {
        "StartAt": "Pick",
        "States": {
            "Pick": {
                "Type": "Choice",
                "Choices": [{"Variable": "$", "NumericGreaterThan": 2, "Next": "Short"}],
                "Default": "Long",
            },
            **wait("Long", 7, "Done"),
            **wait("Short", 3, "Done"),
            "Done": {"Type": "Pass", "End": True},
        },
    }
    inner_map = {
        "Type": "Map",
        "ItemProcessor": processor,
        "MaxConcurrency": 3,
        "ItemsPath": "$.items",
        "End": True,
    }
    definition = parallel(machine({"Each": inner_map}), machine(wait("Think", 9, "Boom"), fail("Boom")))
    histories = []
    for _ in range(3):
        events = run(definition, {"items": [1, 2, 3, 4, 5, 6]}).history.events
        histories.append([(e["type"], e["previousEventId"], e["timestamp"]) for e in events])
    assert histories[0] == histories[1] == histories[2]
    # At 9 s the sibling fails: the last item, in its 3 s wait since 7 s, is aborted with its Map.
    assert [kind for kind, _, _ in histories[0][-5:]] == [
        "WaitStateAborted",
        "MapIterationAborted",
        "MapStateAborted",
        "ParallelStateFailed",
        "ExecutionFailed",
    ]
    assert {stamp.second for _, _, stamp in histories[0][-5:]} == {9}


def test_the_execution_timing_out_stops_waiting_branches_without_aborted_events():
    definition = parallel(machine(wait("A", 10)), machine(wait("B", 20)))
    definition["TimeoutSeconds"] = 5
    execution = run(definition)
    kinds = [t for t, _ in typed(list(execution.history.events))]
    assert execution.status == "TIMED_OUT"
    assert kinds[-1] == "ExecutionTimedOut"
    assert not [k for k in kinds if k.endswith("Aborted") or k == "ParallelStateFailed"]
    assert elapsed(execution) == 5
