"""TestState offline: statuses, retry and catch outcomes, variables, context, and refused requests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tributary.states.teststate import TestStateError
from tributary.states.teststate import test_state as run_test_state

TASK = {
    "Type": "Task",
    "Resource": "arn:aws:states:::lambda:invoke",
    "Parameters": {"FunctionName": "f", "Payload.$": "$"},
    "Retry": [{"ErrorEquals": ["Busy"], "IntervalSeconds": 2, "BackoffRate": 3, "MaxAttempts": 2}],
    "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Recover"}],
    "ResultSelector": {"answer.$": "$.Payload"},
    "ResultPath": "$.result",
    "Next": "After",
}


def _request(state: dict[str, Any], state_input: Any, **more: Any) -> dict[str, Any]:
    return {"definition": json.dumps(state), "input": json.dumps(state_input), **more}


def _error(error: str, cause: str = "c") -> dict[str, Any]:
    return {"errorOutput": {"error": error, "cause": cause}}


def test_mocked_task_result_goes_through_result_processing() -> None:
    response = run_test_state(_request(TASK, {"x": 1}, mock={"result": '{"Payload": 42}'}))
    assert response["status"] == "SUCCEEDED"
    assert json.loads(response["output"]) == {"x": 1, "result": {"answer": 42}}
    assert response["nextState"] == "After"
    assert "inspectionData" not in response  # INFO level shows none


@pytest.mark.parametrize(
    "retry_count, status, backoff",
    [(0, "RETRIABLE", 2), (1, "RETRIABLE", 6), (2, "CAUGHT_ERROR", None)],
)
def test_retriable_until_attempts_run_out_then_caught(
    retry_count: int, status: str, backoff: int | None
) -> None:
    response = run_test_state(
        _request(
            TASK,
            {"x": 1},
            mock=_error("Busy", "try later"),
            inspectionLevel="DEBUG",
            stateConfiguration={"retrierRetryCount": retry_count},
        )
    )
    assert (response["status"], response["error"], response["cause"]) == (status, "Busy", "try later")
    details = response["inspectionData"]["errorDetails"]
    if backoff is None:
        assert json.loads(response["output"]) == {"x": 1, "failure": {"Error": "Busy", "Cause": "try later"}}
        assert response["nextState"] == "Recover"
        assert details["catchIndex"] == 0
    else:
        assert details == {"retryIndex": 0, "retryBackoffIntervalSeconds": backoff}


def test_error_with_no_retrier_or_catcher_fails() -> None:
    state = {k: v for k, v in TASK.items() if k not in ("Retry", "Catch")}
    response = run_test_state(_request(state, {}, mock=_error("Boom", "bad")))
    assert response == {"status": "FAILED", "error": "Boom", "cause": "bad"}


def test_choice_reports_the_next_state() -> None:
    choice = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"}],
        "Default": "Small",
    }
    assert run_test_state(_request(choice, {"n": 11}))["nextState"] == "Big"
    assert run_test_state(_request(choice, {"n": 1}))["nextState"] == "Small"


def test_jsonata_state_sees_variables_and_reports_assignments() -> None:
    state = {
        "Type": "Pass",
        "QueryLanguage": "JSONata",
        "Output": "{% $states.input.a + $bonus %}",
        "Assign": {"total": "{% $states.input.a * 2 %}"},
        "End": True,
    }
    response = run_test_state(
        _request(state, {"a": 5}, variables=json.dumps({"bonus": 100}), inspectionLevel="DEBUG")
    )
    assert json.loads(response["output"]) == 105
    assert "nextState" not in response
    assert json.loads(response["inspectionData"]["variables"]) == {"bonus": 100, "total": 10}


def test_context_replaces_the_context_object() -> None:
    state = {"Type": "Pass", "Parameters": {"token.$": "$$.Task.Token"}, "End": True}
    response = run_test_state(_request(state, {}, context=json.dumps({"Task": {"Token": "t-1"}})))
    assert json.loads(response["output"]) == {"token": "t-1"}


def test_state_name_finds_a_state_nested_in_a_map() -> None:
    machine = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemProcessor": {
                    "StartAt": "Inner",
                    "States": {"Inner": {"Type": "Pass", "Result": "inner ran", "End": True}},
                },
                "End": True,
            }
        },
    }
    response = run_test_state(_request(machine, {}, stateName="Inner"))
    assert json.loads(response["output"]) == "inner ran"


def test_fail_state_fails_with_its_error() -> None:
    response = run_test_state(_request({"Type": "Fail", "Error": "E", "Cause": "why"}, {}))
    assert response == {"status": "FAILED", "error": "E", "cause": "why"}


@pytest.mark.parametrize(
    "request_fields, message",
    [
        ({"definition": "{nope"}, "not valid JSON"),
        (
            {"definition": json.dumps({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}})},
            "'stateName' is required",
        ),
        (
            {"definition": json.dumps({"Type": "Pass", "End": True}), "mock": {"result": "1"}},
            "A mock can only",
        ),
        (
            {"definition": json.dumps({"Type": "Pass", "End": True}), "inspectionLevel": "LOUD"},
            "inspectionLevel",
        ),
    ],
)
def test_refused_requests(request_fields: dict[str, Any], message: str) -> None:
    with pytest.raises(TestStateError, match=message):
        run_test_state(request_fields)


def test_callback_task_gets_a_task_token_in_its_context() -> None:
    state = {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {"QueueUrl": "q", "MessageBody": {"token.$": "$$.Task.Token"}},
        "End": True,
    }
    response = run_test_state(_request(state, {}, mock={"result": '{"answer": 1}'}, inspectionLevel="DEBUG"))
    assert response["status"] == "SUCCEEDED"
    assert json.loads(response["output"]) == {"answer": 1}
    token = json.loads(response["inspectionData"]["afterParameters"])["MessageBody"]["token"]
    assert isinstance(token, str) and len(token) == 32


def test_the_package_function_stays_callable_once_its_module_is_loaded() -> None:
    """`tributary.states.test_state` is the function: no module of the package has its name, so
    loading the TestState module does not replace it."""
    import tributary.states

    request = {"definition": json.dumps({"Type": "Pass", "End": True}), "input": "{}"}
    for _ in range(2):
        assert tributary.states.test_state(request)["status"] == "SUCCEEDED"
    assert callable(tributary.states.test_state)
