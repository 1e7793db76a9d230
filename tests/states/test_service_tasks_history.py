"""Task states with service integrations, callbacks, timeouts, payload limits and failing Parallel
branches, held to what AWS documents and records for them in GetExecutionHistory:

- The API reference's HistoryEvent (botocore's stepfunctions service model): every event the engine
  writes has a type HistoryEventType names and, at most, the one `<type>EventDetails` member the
  shape has for it, with only the fields that member declares (ParallelStateFailed has none).
- Service integrations (developer guide, "Integrating services", request-response, .sync,
  .waitForTaskToken): TaskScheduled (resourceType, resource with the pattern suffix, region,
  parameters, timeoutInSeconds / heartbeatInSeconds when set), TaskStarted, TaskSubmitted (the start
  request's response, for .sync and .waitForTaskToken), then TaskSucceeded / TaskFailed / TaskTimedOut.
- Error handling ("Handling errors in Step Functions workflows"): a retried task writes its
  events again per attempt; States.Timeout and States.HeartbeatTimeout end a task that ran out of
  TimeoutSeconds / HeartbeatSeconds, with no cause; SendTaskFailure's error and cause are the task's,
  and a null one stays out of the events.
- Quotas ("Step Functions service quotas", 256 KiB payload): a task result over it fails the task
  with States.DataLimitExceeded (TaskFailed naming the resource type; LambdaFunctionFailed naming
  the function ARN), which a Catch on States.ALL handles, as AWS recorded it.
- Activities ("Learn about Activities"): ActivityScheduled, ActivityStarted, ActivitySucceeded /
  ActivityFailed / ActivityTimedOut.
"""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any

import botocore.session
import pytest

from tributary.states import Execution, VirtualClock, execute
from tributary.states.service_integrations import CallbackStore

CALLBACK = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:work"
ACTIVITY_ARN = "arn:aws:states:us-east-1:123456789012:activity:approve"
OVER_QUOTA = "x" * (256 * 1024)  # its JSON text (with quotes) is 2 bytes over 256 KiB

_MODEL = botocore.session.get_session().get_service_model("stepfunctions")
_HISTORY_EVENT: Any = _MODEL.shape_for("HistoryEvent")
_EVENT_TYPES = set(getattr(_MODEL.shape_for("HistoryEventType"), "enum", []))


def details_key(event_type: str) -> str | None:
    """The HistoryEvent member that holds an event type's details, None for a type that has none."""
    for suffix in ("StateEntered", "StateExited"):
        if event_type.endswith(suffix):
            return "state" + suffix[5:] + "EventDetails"
    key = event_type[0].lower() + event_type[1:] + "EventDetails"
    return key if key in _HISTORY_EVENT.members else None


def assert_fits_the_api(events: list[dict[str, Any]]) -> None:
    """Every event fits GetExecutionHistory's HistoryEvent shape."""
    for event in events:
        assert event["type"] in _EVENT_TYPES, event
        assert set(event) <= set(_HISTORY_EVENT.members), event
        extra = [k for k in event if k.endswith("EventDetails")]
        expected = details_key(event["type"])
        assert extra in ([], [expected]) if expected else extra == [], event
        for key in extra:
            allowed = set(_HISTORY_EVENT.members[key].members)
            assert set(event[key]) <= allowed, (event["type"], set(event[key]) - allowed)


def history(definition: dict[str, Any], integrations: Any, **options: Any) -> list[dict[str, Any]]:
    execution = Execution(definition, {}, integrations=integrations, **options)
    execution.run()
    events = list(execution.history.events)
    assert_fits_the_api(events)
    return events


def of_type(events: list[dict[str, Any]], *types: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] in types]


def details(event: dict[str, Any]) -> dict[str, Any]:
    return next((v for k, v in event.items() if k.endswith("EventDetails")), {})


def task_part(events: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(type, details) of the events between a state's entry and its exit (the task's own events)."""
    return [(e["type"], details(e)) for e in events if not e["type"].endswith(("Entered", "Exited"))][1:-1]


def test_request_response_events_name_the_service_the_api_and_the_request(kit):
    state = kit.task(
        "arn:aws:states:::dynamodb:putItem",
        Parameters={"TableName": "runs", "Item": {"id": {"S.$": "$$.Execution.Name"}}},
        TimeoutSeconds=30,
        HeartbeatSeconds=10,
    )
    events = history(kit.machine(("Put", state)), kit.Scripted({"ok": 1}))
    names = {"resourceType": "dynamodb", "resource": "putItem"}
    scheduled, started, succeeded = of_type(events, "TaskScheduled", "TaskStarted", "TaskSucceeded")
    assert details(scheduled) == {
        **names,
        "region": "us-east-1",
        "parameters": details(scheduled)["parameters"],
        "timeoutInSeconds": 30,
        "heartbeatInSeconds": 10,
    }
    assert json.loads(details(scheduled)["parameters"])["TableName"] == "runs"
    assert details(started) == names
    assert details(succeeded) == {**names, "output": '{"ok":1}', "outputDetails": {"truncated": False}}
    chain = [e["id"] for e in events]
    assert [e["previousEventId"] for e in events[2:]] == chain[1:-1]  # each follows the one before


def test_each_retry_writes_the_task_events_again_and_the_catch_follows_the_last_failure(kit):
    state = kit.task(
        Retry=[{"ErrorEquals": ["Lambda.ServiceException"], "MaxAttempts": 2, "IntervalSeconds": 1}],
        Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Handle"}],
    )
    events = history(
        kit.machine(("Call", state), ("Handle", {"Type": "Pass"})),
        kit.Scripted(kit.fail("Lambda.ServiceException", "busy")),
    )
    failed = {
        "resourceType": "lambda",
        "resource": "invoke",
        "error": "Lambda.ServiceException",
        "cause": "busy",
    }
    types = [t for t, _ in task_part(events)]
    assert types[:9] == ["TaskScheduled", "TaskStarted", "TaskFailed"] * 3
    assert [details(e) for e in of_type(events, "TaskFailed")] == [failed] * 3
    (exited,) = of_type(events, "TaskStateExited")
    assert exited["previousEventId"] == of_type(events, "TaskFailed")[-1]["id"]
    assert json.loads(details(exited)["output"]) == {
        "error": {"Error": "Lambda.ServiceException", "Cause": "busy"}
    }
    # The retry waits 1 s and then 2 s (BackoffRate 2.0) between the failure and the next attempt.
    scheduled = of_type(events, "TaskScheduled")
    gaps = [(b["timestamp"] - a["timestamp"]).total_seconds() for a, b in itertools.pairwise(scheduled)]
    assert gaps == [1, 2]


def test_a_timeout_has_no_cause_in_the_task_event_nor_the_execution_failure(kit):
    def slow(call):
        call.clock.advance(11)
        return {}

    state = kit.task(Parameters={"FunctionName": "f"}, TimeoutSeconds=10)
    events = history(kit.machine(("Call", state)), kit.Scripted(slow), clock=VirtualClock())
    timed_out, failed = events[-2:]
    assert (timed_out["type"], details(timed_out)) == (
        "TaskTimedOut",
        {"resourceType": "lambda", "resource": "invoke", "error": "States.Timeout"},
    )
    assert (failed["type"], details(failed), failed["previousEventId"]) == (
        "ExecutionFailed",
        {"error": "States.Timeout"},
        timed_out["id"],
    )


def test_a_lambda_function_resource_times_out_with_lambda_function_timed_out(kit):
    def slow(call):
        call.clock.advance(6)
        return {}

    state = kit.task(FUNCTION_ARN, TimeoutSeconds=5)
    events = history(kit.machine(("Call", state)), kit.Scripted(slow), clock=VirtualClock())
    assert [e["type"] for e in events[2:]] == [
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionTimedOut",
        "ExecutionFailed",
    ]
    assert details(events[2])["timeoutInSeconds"] == 5
    assert details(events[4]) == {"error": "States.Timeout"}


def test_a_heartbeat_timeout_is_states_heartbeat_timeout_and_can_be_caught(kit):
    state = kit.task(
        CALLBACK,
        Parameters={"QueueUrl": "q", "MessageBody": {"token.$": "$$.Task.Token"}},
        HeartbeatSeconds=5,
        TimeoutSeconds=600,
        Catch=[{"ErrorEquals": ["States.HeartbeatTimeout"], "Next": "Late"}],
    )
    events = history(
        kit.machine(("Send", state), ("Late", {"Type": "Pass"})),
        kit.Scripted({"MessageId": "m-1"}),
        clock=VirtualClock(),
    )
    assert [t for t, _ in task_part(events)][:4] == [
        "TaskScheduled",
        "TaskStarted",
        "TaskSubmitted",
        "TaskTimedOut",
    ]
    (timed_out,) = of_type(events, "TaskTimedOut")
    assert details(timed_out) == {
        "resourceType": "sqs",
        "resource": "sendMessage.waitForTaskToken",
        "error": "States.HeartbeatTimeout",
    }
    (submitted,) = of_type(events, "TaskSubmitted")
    assert (timed_out["timestamp"] - submitted["timestamp"]).total_seconds() == 5
    assert events[-1]["type"] == "ExecutionSucceeded"
    assert json.loads(details(events[-1])["output"])["Error"] == "States.HeartbeatTimeout"


def answered(callbacks: CallbackStore, *answer: Any, how: str = "success"):
    """A .waitForTaskToken integration whose worker answers the token from another thread."""

    def send(call):
        target = callbacks.send_task_success if how == "success" else callbacks.send_task_failure
        threading.Thread(target=target, args=(call.task_token, *answer)).start()
        return {"MessageId": "m-1"}

    return send


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (("Rejected", "not approved"), {"error": "Rejected", "cause": "not approved"}),
        (("Rejected",), {"error": "Rejected"}),
        ((None, "only a cause"), {"cause": "only a cause"}),
        ((), {}),
    ],
)
def test_send_task_failure_error_and_cause_are_the_tasks_and_nulls_stay_out(kit, answer, expected):
    callbacks = CallbackStore()
    state = kit.task(CALLBACK, Parameters={"QueueUrl": "q", "MessageBody": {"token.$": "$$.Task.Token"}})
    events = history(
        kit.machine(("Send", state)),
        kit.Scripted(answered(callbacks, *answer, how="failure")),
        callbacks=callbacks,
    )
    names = {"resourceType": "sqs", "resource": "sendMessage.waitForTaskToken"}
    assert [t for t, _ in task_part(events)] == [
        "TaskScheduled",
        "TaskStarted",
        "TaskSubmitted",
        "TaskFailed",
    ]
    (submitted,) = of_type(events, "TaskSubmitted")
    assert details(submitted) == {
        **names,
        "output": '{"MessageId":"m-1"}',
        "outputDetails": {"truncated": False},
    }
    (failed,) = of_type(events, "TaskFailed")
    assert details(failed) == {**names, **expected}
    assert details(events[-1]) == expected


def test_send_task_success_output_is_the_task_result_after_task_submitted(kit):
    callbacks = CallbackStore()
    state = kit.task(CALLBACK, Parameters={"QueueUrl": "q", "MessageBody": {"token.$": "$$.Task.Token"}})
    events = history(
        kit.machine(("Send", state)),
        kit.Scripted(answered(callbacks, {"approved": True})),
        callbacks=callbacks,
    )
    submitted, succeeded = of_type(events, "TaskSubmitted", "TaskSucceeded")
    assert succeeded["previousEventId"] == submitted["id"]
    assert details(succeeded)["output"] == '{"approved":true}'
    assert details(events[-1])["output"] == '{"approved":true}'


def test_sync_reads_the_context_object_and_reports_submission_before_the_result(kit):
    def start_execution_sync(call):
        call.submitted({"ExecutionArn": "arn:child", "StartDate": 1})
        call.clock.advance(30)
        return {"Status": "SUCCEEDED", "Output": "{}", "Input": json.dumps(call.arguments["Input"])}

    state = kit.task(
        "arn:aws:states:::states:startExecution.sync:2",
        Parameters={
            "StateMachineArn": "arn:child-machine",
            "Input": {
                "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id",
                "state.$": "$$.State.Name",
                "retry.$": "$$.State.RetryCount",
            },
        },
    )
    integration = kit.Scripted(start_execution_sync)
    execution = Execution(kit.machine(("Child", state)), {}, integrations=integration, clock=VirtualClock())
    execution.run()
    events = list(execution.history.events)
    assert_fits_the_api(events)
    assert integration.calls[0].arguments["Input"] == {
        "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": execution.arn,
        "state": "Child",
        "retry": 0,
    }
    scheduled, submitted, succeeded = of_type(events, "TaskScheduled", "TaskSubmitted", "TaskSucceeded")
    assert details(scheduled)["resource"] == "startExecution.sync:2"
    assert details(scheduled)["resourceType"] == "states"
    assert json.loads(details(submitted)["output"]) == {"ExecutionArn": "arn:child", "StartDate": 1}
    assert (succeeded["timestamp"] - submitted["timestamp"]).total_seconds() == 30
    assert succeeded["previousEventId"] == submitted["id"]


@pytest.mark.parametrize(
    ("resource", "failed_type", "named"),
    [
        ("arn:aws:states:::lambda:invoke", "TaskFailed", "lambda"),
        (FUNCTION_ARN, "LambdaFunctionFailed", FUNCTION_ARN),
    ],
)
def test_a_task_result_over_the_quota_fails_the_task_and_states_all_catches_it(
    kit, resource, failed_type, named
):
    state = kit.task(resource, Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Handle"}])
    events = history(kit.machine(("Call", state), ("Handle", {"Type": "Pass"})), kit.Scripted(OVER_QUOTA))
    cause = (
        f"The state/task '{named}' returned a result with a size exceeding "
        "the maximum number of bytes service limit."
    )
    (failed,) = of_type(events, failed_type)
    assert details(failed)["error"] == "States.DataLimitExceeded"
    assert details(failed)["cause"] == cause
    assert not of_type(events, "TaskSucceeded", "LambdaFunctionSucceeded")
    assert json.loads(details(events[-1])["output"]) == {"Error": "States.DataLimitExceeded", "Cause": cause}


def test_a_result_of_exactly_the_quota_is_accepted(kit):
    exactly = "x" * (256 * 1024 - 2)  # with its quotes, 262144 bytes of JSON
    result = execute(kit.machine(("Call", kit.task(ResultPath=None))), {}, integrations=kit.Scripted(exactly))
    assert result.status == "SUCCEEDED"


def test_a_state_output_over_the_quota_is_not_caught(kit):
    # The task's result is under the quota, its output (input + result) is not: no Catch applies.
    task = kit.task(Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Handle"}], ResultPath="$.copy")
    half = "y" * (140 * 1024)
    definition = kit.machine(("Call", task), ("Handle", {"Type": "Pass"}))
    result = execute(definition, {"text": half}, integrations=kit.Scripted(half))
    assert (result.status, result.error) == ("FAILED", "States.DataLimitExceeded")


def test_an_activity_writes_activity_events(kit):
    callbacks = CallbackStore()
    state = kit.task(ACTIVITY_ARN, TimeoutSeconds=60, HeartbeatSeconds=20)
    events = history(
        kit.machine(("Approve", state)), kit.Scripted(answered(callbacks, {"ok": True})), callbacks=callbacks
    )
    assert [e["type"] for e in events[2:-2]] == ["ActivityScheduled", "ActivityStarted", "ActivitySucceeded"]
    assert details(events[2]) == {
        "resource": ACTIVITY_ARN,
        "input": "{}",
        "inputDetails": {"truncated": False},
        "timeoutInSeconds": 60,
        "heartbeatInSeconds": 20,
    }
    assert details(events[4]) == {"output": '{"ok":true}', "outputDetails": {"truncated": False}}


def test_an_activity_nobody_answers_times_out_with_activity_timed_out(kit):
    state = kit.task(ACTIVITY_ARN, TimeoutSeconds=60)
    events = history(kit.machine(("Approve", state)), kit.Scripted(None), clock=VirtualClock())
    assert [(e["type"], details(e)) for e in events[-2:]] == [
        ("ActivityTimedOut", {"error": "States.Timeout"}),
        ("ExecutionFailed", {"error": "States.Timeout"}),
    ]


def test_a_failed_branch_fails_its_parallel_with_no_details_on_parallel_state_failed(kit):
    branches: list[dict[str, Any]] = [
        {"StartAt": "Boom", "States": {"Boom": {**kit.task(), "End": True}}},
        {"StartAt": "Fine", "States": {"Fine": {"Type": "Pass", "End": True}}},
    ]

    def answer(call):
        raise_it = call.arguments == {"which": "boom"}
        if raise_it:
            raise kit.fail("Custom.Error", "it broke")
        return {}

    branches[0]["States"]["Boom"]["Parameters"] = {"which": "boom"}
    parallel = {
        "Type": "Parallel",
        "Branches": branches,
        "Catch": [{"ErrorEquals": ["Custom.Error"], "ResultPath": "$.failure", "Next": "Handle"}],
    }
    events = history(kit.machine(("Both", parallel), ("Handle", {"Type": "Pass"})), kit.Scripted(answer))
    (parallel_failed,) = of_type(events, "ParallelStateFailed")
    assert "parallelStateFailedEventDetails" not in parallel_failed
    (task_failed,) = of_type(events, "TaskFailed")
    assert parallel_failed["id"] > task_failed["id"]
    (exited,) = of_type(events, "ParallelStateExited")
    assert exited["previousEventId"] == parallel_failed["id"]
    assert json.loads(details(exited)["output"])["failure"] == {"Error": "Custom.Error", "Cause": "it broke"}
    assert not of_type(events, "ParallelStateSucceeded")


def test_a_branch_timing_out_fails_the_parallel_and_the_execution_with_states_timeout(kit):
    def slow(call):
        call.clock.advance(5)
        return {}

    branches = [
        {"StartAt": "Slow", "States": {"Slow": {**kit.task(), "TimeoutSeconds": 2, "End": True}}},
        {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 1, "End": True}}},
    ]
    events = history(
        kit.machine(("Both", {"Type": "Parallel", "Branches": branches})),
        kit.Scripted(slow),
        clock=VirtualClock(),
    )
    assert [e["type"] for e in events[-2:]] == ["ParallelStateFailed", "ExecutionFailed"]
    assert details(events[-1]) == {"error": "States.Timeout"}
    (timed_out,) = of_type(events, "TaskTimedOut")
    assert "cause" not in details(timed_out)


def test_a_failed_iteration_aborts_the_iterations_under_way_before_map_state_failed(kit):
    def answer(call):
        if call.arguments == {"i": 1}:
            raise kit.fail("Item.Bad", "one")
        return {}

    processor = {
        "ProcessorConfig": {"Mode": "INLINE"},
        "StartAt": "Call",
        "States": {
            "Call": {**kit.task(), "Parameters": {"i.$": "$"}, "Next": "After"},
            "After": {"Type": "Pass", "End": True},
        },
    }
    state = {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": processor}
    execution = Execution(
        kit.machine(("Each", state)), {"items": [0, 1, 2]}, integrations=kit.Scripted(answer)
    )
    execution.run()
    events = list(execution.history.events)
    assert_fits_the_api(events)
    (failed_task,) = of_type(events, "TaskFailed")
    (iteration_failed,) = of_type(events, "MapIterationFailed")
    aborted = of_type(events, "MapIterationAborted")
    (map_failed,) = of_type(events, "MapStateFailed")
    # Items 0 and 2 had run their first state when item 1 failed: both are aborted, after the
    # failure and before MapStateFailed, all pointing at the failed task's event as AWS records.
    assert [details(e)["index"] for e in aborted] == [0, 2]
    assert details(iteration_failed)["index"] == 1
    assert iteration_failed["id"] < aborted[0]["id"] < aborted[-1]["id"] < map_failed["id"]
    assert {e["previousEventId"] for e in [*aborted, map_failed]} == {failed_task["id"]}
    assert not of_type(events, "MapIterationSucceeded")
    assert [e["type"] for e in events[-1:]] == ["ExecutionFailed"]
