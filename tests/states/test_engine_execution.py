"""The execution runtime: history shapes and ids, the context object, Wait on the virtual clock,
background runs, StopExecution, the state machine's TimeoutSeconds and the payload limit."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

from tributary.states import Execution, RealClock, VirtualClock, execute
from tributary.states.clock import DEFAULT_VIRTUAL_START, OutsideEvent
from tributary.states.service_integrations import CallbackStore


def test_history_of_a_task_run(kit):
    definition = kit.machine(
        ("P", {"Type": "Pass", "Result": {"a": 1}}), ("T", kit.task(Parameters={"x.$": "$.a"}))
    )
    execution = Execution(definition, {"in": True}, integrations=kit.Scripted({"ok": 1}))
    execution.run()
    events = execution.history.events
    assert [e["type"] for e in events] == [
        "ExecutionStarted",
        "PassStateEntered",
        "PassStateExited",
        "TaskStateEntered",
        "TaskScheduled",
        "TaskStarted",
        "TaskSucceeded",
        "TaskStateExited",
        "ExecutionSucceeded",
    ]
    assert [e["id"] for e in events] == list(range(1, 10))
    # The first state's entry follows no event (previousEventId 0), as AWS records it.
    assert [e["previousEventId"] for e in events] == [0, 0, *range(2, 9)]
    assert json.loads(events[0]["executionStartedEventDetails"]["input"]) == {"in": True}
    assert events[1]["stateEnteredEventDetails"]["name"] == "P"
    scheduled = events[4]["taskScheduledEventDetails"]
    assert (scheduled["resourceType"], scheduled["resource"]) == ("lambda", "invoke")
    assert json.loads(scheduled["parameters"]) == {"x": 1}
    assert json.loads(events[6]["taskSucceededEventDetails"]["output"]) == {"ok": 1}
    assert json.loads(events[-1]["executionSucceededEventDetails"]["output"]) == {"ok": 1}
    assert all(isinstance(e["timestamp"], datetime) for e in events)


def test_failure_history_and_assigned_variables(kit):
    definition = kit.machine(
        ("A", {"Type": "Pass", "Assign": {"v": 1}}), ("F", {"Type": "Fail", "Error": "E", "Cause": "C"})
    )
    execution = Execution(definition, {})
    result = execution.run()
    assert (result.status, result.error, result.cause) == ("FAILED", "E", "C")
    exited = execution.history.events[2]
    assert exited["stateExitedEventDetails"]["assignedVariables"] == {"v": "1"}
    assert execution.history.events[-1] == {
        **execution.history.events[-1],
        "type": "ExecutionFailed",
        "executionFailedEventDetails": {"error": "E", "cause": "C"},
    }


def test_context_object(kit):
    state = {
        "Type": "Pass",
        "Parameters": {
            "name.$": "$$.Execution.Name",
            "input.$": "$$.Execution.Input",
            "state.$": "$$.State.Name",
            "machine.$": "$$.StateMachine.Name",
            "entered.$": "$$.State.EnteredTime",
        },
    }
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:Orders"
    clock = VirtualClock(datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=UTC))
    result = execute(kit.machine(("S", state)), {"k": 1}, state_machine_arn=arn, name="run-1", clock=clock)
    assert json.loads(result.output) == {
        "name": "run-1",
        "input": {"k": 1},
        "state": "S",
        "machine": "Orders",
        "entered": "2026-03-04T05:06:07.891Z",
    }


def test_wait_moves_the_virtual_clock_only(kit):
    clock = VirtualClock(datetime(2026, 1, 1, tzinfo=UTC))
    definition = kit.machine(
        ("W1", {"Type": "Wait", "Seconds": 86400}),
        ("W2", {"Type": "Wait", "Timestamp": "2026-01-03T00:00:00Z"}),
        ("W3", {"Type": "Wait", "Timestamp": "2025-01-01T00:00:00Z"}),  # in the past: no wait
        ("Now", {"Type": "Pass", "Parameters": {"t.$": "$$.State.EnteredTime"}}),
    )
    result = execute(definition, {}, clock=clock)
    assert json.loads(result.output) == {"t": "2026-01-03T00:00:00.000Z"}


def test_state_machine_timeout_on_the_virtual_clock(kit):
    definition = kit.machine(
        ("W", {"Type": "Wait", "Seconds": 100}), ("P", {"Type": "Pass"}), TimeoutSeconds=60
    )
    execution = Execution(definition, {})
    result = execution.run()
    assert (result.status, result.error) == ("TIMED_OUT", "States.Timeout")
    assert execution.history.events[-1]["type"] == "ExecutionTimedOut"
    assert (execution.clock.now() - execution.start_date).total_seconds() == 60


def test_background_run_and_stop_on_the_real_clock(kit):
    definition = kit.machine(("W", {"Type": "Wait", "Seconds": 3600}))
    execution = Execution(definition, {}, clock=RealClock()).start()
    assert execution.status == "RUNNING"
    execution.stop()
    assert execution.wait(5)
    assert execution.status == "ABORTED"
    assert execution.history.events[-1]["type"] == "ExecutionAborted"


def test_payload_limit(kit):
    big = {"Type": "Pass", "Result": "x" * (256 * 1024)}
    catcher = {"ErrorEquals": ["States.ALL"], "Next": "After"}
    definition = kit.machine(("Big", {**big, "Catch": [catcher]}), ("After", {"Type": "Pass"}))
    result = execute(definition, {})
    assert (result.status, result.error) == ("FAILED", "States.DataLimitExceeded")
    assert result.cause == (
        "The state/task 'Big' returned a result with a size exceeding "
        "the maximum number of bytes service limit."
    )
    small = execute(kit.machine(("Ok", {"Type": "Pass", "Result": "x" * (256 * 1024 - 10)})), {})
    assert small.status == "SUCCEEDED"


def test_execution_arn_and_names(kit):
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:Orders#HappyPath"
    execution = Execution(kit.machine(("P", {"Type": "Pass"})), {}, state_machine_arn=arn, name="n1")
    assert execution.arn == "arn:aws:states:us-east-1:123456789012:execution:Orders:n1"
    express = Execution(
        kit.machine(("P", {"Type": "Pass"})),
        {},
        state_machine_arn=arn,
        name="n1",
        state_machine_type="EXPRESS",
    )
    assert express.arn == "arn:aws:states:us-east-1:123456789012:express:Orders:n1"


class RecordingEvent(threading.Event):
    """Records the real waits asked of it (and never really waits)."""

    def __init__(self) -> None:
        super().__init__()
        self.real_waits: list[float | None] = []

    def wait(self, timeout=None):
        self.real_waits.append(timeout)
        return self.is_set()


class RecordingOutsideEvent(OutsideEvent, RecordingEvent):
    pass


def test_patience_is_given_to_task_tokens_only():
    clock = VirtualClock(patience=30)
    start = clock.now()
    plain, outside = RecordingEvent(), RecordingOutsideEvent()
    assert clock.wait(plain, 3600) is False
    assert plain.real_waits == []  # a Wait state or a back-off never takes real time
    assert clock.wait(outside, 60) is False
    assert outside.real_waits == [30]  # a task token gets the patience, then time jumps
    assert (clock.now() - start).total_seconds() == 3660


def test_patience_never_exceeds_the_wait_itself():
    clock = VirtualClock(patience=60)
    outside = RecordingOutsideEvent()
    assert clock.wait(outside, 5) is False
    assert outside.real_waits == [5]  # a 5 s heartbeat window: 5 real seconds at most, as on AWS


def test_wait_states_and_back_off_take_no_real_time_whatever_the_patience(kit):
    retry = [{"ErrorEquals": ["Busy"], "IntervalSeconds": 600, "MaxAttempts": 2, "BackoffRate": 2}]
    definition = kit.machine(
        ("Nap", {"Type": "Wait", "Seconds": 3600}),
        ("T", kit.task(Retry=retry)),
    )
    clock = VirtualClock(patience=30)
    integration = kit.Scripted(kit.fail("Busy"), kit.fail("Busy"), {"ok": True})
    began = time.monotonic()
    result = Execution(definition, {}, clock=clock, integrations=integration).run()
    assert result.status == "SUCCEEDED"
    assert time.monotonic() - began < 5  # each of these waits alone would take 30 s of patience
    assert (clock.now() - DEFAULT_VIRTUAL_START).total_seconds() == 3600 + 600 + 1200


def test_patience_lets_a_worker_answer_a_token_in_real_time(kit):
    callbacks = CallbackStore()

    def answer_after_a_moment(call):
        timer = threading.Timer(0.2, callbacks.send_task_success, (call.task_token, {"late": "but fine"}))
        timer.start()
        return {}

    state = kit.task(
        "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        Parameters={"t.$": "$$.Task.Token"},
        HeartbeatSeconds=5,
    )
    execution = Execution(
        kit.machine(("T", state)),
        {},
        clock=VirtualClock(patience=10),
        callbacks=callbacks,
        integrations=kit.Scripted(answer_after_a_moment),
    )
    assert json.loads(execution.run().output) == {"late": "but fine"}


def test_history_of_retries_and_a_catch(kit):
    retry = [{"ErrorEquals": ["Boom"], "IntervalSeconds": 5, "MaxAttempts": 1}]
    catch = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Handled"}]
    definition = kit.machine(("T", kit.task(Retry=retry, Catch=catch)), ("Handled", {"Type": "Pass"}))
    definition["States"]["T"].pop("Next")  # a state that fails: only its Catch leads on
    definition["States"]["T"]["End"] = True
    execution = Execution(definition, {}, integrations=kit.Scripted(kit.fail("Boom", "bad")))
    execution.run()
    events = execution.history.events
    types = [e["type"] for e in events]
    assert types == [
        "ExecutionStarted",
        "TaskStateEntered",
        "TaskScheduled",
        "TaskStarted",
        "TaskFailed",
        "TaskScheduled",  # the retry: same state, no new TaskStateEntered
        "TaskStarted",
        "TaskFailed",
        "TaskStateExited",  # the catcher's output leaves the state
        "PassStateEntered",
        "PassStateExited",
        "ExecutionSucceeded",
    ]
    failed = events[4]["taskFailedEventDetails"]
    assert (failed["error"], failed["cause"], failed["resourceType"]) == ("Boom", "bad", "lambda")
    assert (events[5]["timestamp"] - events[4]["timestamp"]).total_seconds() == 5
    assert [e["previousEventId"] for e in events] == [0, 0] + [e["id"] - 1 for e in events[2:]]


def test_history_of_a_parallel_state_links_branches_to_its_start(kit):
    state = {
        "Type": "Parallel",
        "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}},
            {"StartAt": "B", "States": {"B": {"Type": "Pass", "End": True}}},
        ],
    }
    execution = Execution(kit.machine(("P", state)), {})
    execution.run()
    by_type: dict[str, list] = {}
    for event in execution.history.events:
        by_type.setdefault(event["type"], []).append(event)
    started = by_type["ParallelStateStarted"][0]
    assert [e["previousEventId"] for e in by_type["PassStateEntered"]] == [started["id"], started["id"]]
    succeeded = by_type["ParallelStateSucceeded"][0]
    assert succeeded["previousEventId"] == max(e["id"] for e in by_type["PassStateExited"])
    assert [e["type"] for e in execution.history.events][-3:] == [
        "ParallelStateSucceeded",
        "ParallelStateExited",
        "ExecutionSucceeded",
    ]


def test_jsonata_now_follows_the_execution_clock(kit):
    clock = VirtualClock(datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC))
    definition = kit.machine(
        ("W", {"Type": "Wait", "Seconds": 60}),
        ("Now", {"Type": "Pass", "Output": "{% {'now': $now(), 'millis': $millis()} %}"}),
        QueryLanguage="JSONata",
    )
    output = json.loads(execute(definition, {}, clock=clock).output)
    assert output["now"].startswith("2030-05-06T07:09:09")
    assert output["millis"] == int(datetime(2030, 5, 6, 7, 9, 9, tzinfo=UTC).timestamp() * 1000)
