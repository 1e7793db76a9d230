"""Service tasks answered by a MockConfigFile (Step Functions Local's "Using mocked service
integrations"): Step Functions Local makes the task token of a mocked `.waitForTaskToken` task
itself, and the mocked response is the task's outcome, so such a task (or an activity) never waits
for a worker: `Return` is what SendTaskSuccess would send, `Throw` what SendTaskFailure would; the
numbered responses ("0", "1-2") answer successive attempts, so Retry and Catch see them in turn."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tributary.states import Execution, VirtualClock
from tributary.states.mock_config import MockConfig, MockIntegration

CALLBACK = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
ACTIVITY = "arn:aws:states:us-east-1:123456789012:activity:approve"
RESPONSES = {
    "Approved": {"0": {"Return": {"approved": True}}},
    "Rejected": {"0": {"Throw": {"Error": "Rejected", "Cause": "not approved"}}},
    "RejectedThenApproved": {
        "0-1": {"Throw": {"Error": "Rejected", "Cause": "not yet"}},
        "2": {"Return": {"approved": True}},
    },
}


def run(definition: dict[str, Any], response: str) -> tuple[Any, list[dict[str, Any]]]:
    config = MockConfig(
        {"StateMachines": {"M": {"TestCases": {"Case": {"Ask": response}}}}, "MockedResponses": RESPONSES}
    )
    integration = MockIntegration(config, test_case="Case", state_machine="M")
    execution = Execution(definition, {}, integrations=integration, clock=VirtualClock())
    execution.start()
    # A mocked callback that waited for a worker would never end: it must end at once.
    finished = execution.wait(10)
    if not finished:
        execution.stop()
    assert finished, "the mocked task waited for a callback nobody sends"
    return execution.result, list(execution.history.events)


def ask(resource: str = CALLBACK, **fields: Any) -> dict[str, Any]:
    parameters = {"QueueUrl": "q", "MessageBody": {"token.$": "$$.Task.Token"}}
    state = {"Type": "Task", "Resource": resource, **fields}
    if resource == CALLBACK:
        state["Parameters"] = parameters
    return state


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


@pytest.mark.parametrize("resource", [CALLBACK, ACTIVITY])
def test_a_mocked_return_is_the_callbacks_output(kit, resource):
    result, events = run(kit.machine(("Ask", ask(resource))), "Approved")
    assert (result.status, json.loads(result.output)) == ("SUCCEEDED", {"approved": True})
    if resource == CALLBACK:
        assert types(events)[2:6] == ["TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded"]
    else:
        assert types(events)[2:5] == ["ActivityScheduled", "ActivityStarted", "ActivitySucceeded"]


def test_a_mocked_throw_is_the_callbacks_failure(kit):
    result, events = run(kit.machine(("Ask", ask())), "Rejected")
    assert (result.status, result.error, result.cause) == ("FAILED", "Rejected", "not approved")
    (failed,) = [e for e in events if e["type"] == "TaskFailed"]
    assert failed["taskFailedEventDetails"]["error"] == "Rejected"
    assert types(events)[-3:] == ["TaskSubmitted", "TaskFailed", "ExecutionFailed"]


def test_numbered_mocked_responses_answer_each_retry_of_a_callback(kit):
    state = ask(Retry=[{"ErrorEquals": ["Rejected"], "MaxAttempts": 3, "IntervalSeconds": 2}])
    result, events = run(kit.machine(("Ask", state)), "RejectedThenApproved")
    assert (result.status, json.loads(result.output)) == ("SUCCEEDED", {"approved": True})
    assert types(events).count("TaskScheduled") == 3
    assert types(events).count("TaskFailed") == 2


def test_a_mocked_callback_failure_is_caught(kit):
    state = ask(Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.why", "Next": "Handle"}])
    result, _ = run(kit.machine(("Ask", state), ("Handle", {"Type": "Pass"})), "Rejected")
    assert json.loads(result.output) == {"why": {"Error": "Rejected", "Cause": "not approved"}}
