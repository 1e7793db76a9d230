"""The approval function against moto: asking for a decision (task token on the run record, the SNS
message), and deciding through the function URL (who, when, why recorded, then the task answered);
refusals of bad requests, of late and of second decisions."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from .builders import ACCOUNT, REGION
from .conftest import Stack

RUN_ID = "orders-20261124T101500Z-3f2a9c1b7d"
EXECUTION_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:tributary-pipeline:{RUN_ID}"
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAeXampleTaskToken"
STEWARD = f"arn:aws:iam::{ACCOUNT}:user/data-steward"
CAUSE = "status SUCCEEDED, reject ratio 0.4 (max 0.05), rows written 60; details in s3://a/runs/r/result.json"
REJECTS = f"s3://tributary-artifacts/rejects/orders/run_id={RUN_ID}/"


class RecordingSfn:
    """The Step Functions client the function answers with: records each call; `fail_with` makes it
    raise that error code, as AWS does for a task that timed out or was answered already."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail_with: str | None = None

    def _call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((name, arguments))
        if self.fail_with:
            raise ClientError({"Error": {"Code": self.fail_with, "Message": "Task Timed Out"}}, name)
        return {}

    def send_task_success(self, **arguments: Any) -> dict[str, Any]:
        return self._call("SendTaskSuccess", arguments)

    def send_task_failure(self, **arguments: Any) -> dict[str, Any]:
        return self._call("SendTaskFailure", arguments)


@pytest.fixture
def topic(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The notification topic, with a queue subscribed to read what was published."""
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    arn = sns.create_topic(Name="tributary-notifications")["TopicArn"]
    url = sqs.create_queue(QueueName="notifications")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    monkeypatch.setenv("NOTIFICATION_TOPIC_ARN", arn)
    return {"arn": arn, "queue_url": url}


@pytest.fixture
def sfn() -> RecordingSfn:
    return RecordingSfn()


@pytest.fixture
def approval(
    load_handler: Callable[[str], ModuleType],
    topic: dict[str, str],
    sfn: RecordingSfn,
    monkeypatch: pytest.MonkeyPatch,
) -> ModuleType:
    handler = load_handler("approval")
    monkeypatch.setattr(handler, "sfn_client", lambda: sfn)
    return handler


@pytest.fixture
def runs(stack: Stack) -> Any:
    return boto3.resource("dynamodb", region_name=REGION).Table(stack.runs_table)


def running_record(runs: Any, **extra: Any) -> None:
    runs.put_item(
        Item={
            "run_id": RUN_ID,
            "status": "RUNNING",
            "execution_arn": EXECUTION_ARN,
            "dataset": "orders",
            **extra,
        }
    )


def request(**overrides: Any) -> dict[str, Any]:
    return {
        "action": "request",
        "task_token": TOKEN,
        "run_id": RUN_ID,
        "dataset": "orders",
        "execution_arn": EXECUTION_ARN,
        "timeout_seconds": 3600,
        "cause": CAUSE,
        "summary": {
            "status": "SUCCEEDED",
            "rows_read": 100,
            "rows_written": 60,
            "rows_rejected": 40,
            "reject_ratio": 0.4,
            "partition_count": 1,
            "objects_failed": 0,
            "quality": {"passed": False, "max_reject_ratio": 0.05},
        },
        "rejects_uri": REJECTS,
        "result_uri": f"s3://tributary-artifacts/runs/{RUN_ID}/result.json",
        "failed_objects_uri": "",
        **overrides,
    }


def url_event(
    body: Any, *, caller: str | None = STEWARD, method: str = "POST", b64: bool = False
) -> dict[str, Any]:
    text = body if isinstance(body, str) else json.dumps(body)
    context: dict[str, Any] = {"http": {"method": method, "path": "/"}}
    if caller is not None:
        context["authorizer"] = {"iam": {"userArn": caller, "accountId": ACCOUNT}}
    return {
        "version": "2.0",
        "requestContext": context,
        "body": base64.b64encode(text.encode()).decode() if b64 else text,
        "isBase64Encoded": b64,
    }


def decide(approval: ModuleType, context: Any, body: Any, **options: Any) -> tuple[int, dict[str, Any]]:
    response = approval.lambda_handler(url_event(body, **options), context)
    return response["statusCode"], json.loads(response["body"])


def published(topic: dict[str, str]) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    messages = sqs.receive_message(QueueUrl=topic["queue_url"], MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def awaiting(approval: ModuleType, context: Any, runs: Any) -> None:
    running_record(runs)
    approval.lambda_handler(request(), context)


# ---------------------------------------------------------------- asking


def test_asking_keeps_the_token_on_the_run_record_and_says_what_failed(
    approval: ModuleType, lambda_context: Any, runs: Any, topic: dict[str, str]
) -> None:
    running_record(runs)
    answer = approval.lambda_handler(request(), lambda_context)
    record = runs.get_item(Key={"run_id": RUN_ID})["Item"]
    assert record["status"] == "AWAITING_APPROVAL"
    assert record["approval_token"] == TOKEN
    assert record["quality_failure"] == CAUSE and record["rejects_uri"] == REJECTS
    assert record["approval_expires_at"] == answer["decide_before"] > record["approval_requested_at"]
    (message,) = published(topic)
    assert (message["run_id"], message["status"], message["what_failed"]) == (
        RUN_ID,
        "AWAITING_APPROVAL",
        CAUSE,
    )
    assert (message["reject_ratio"], message["max_reject_ratio"], message["rows_rejected"]) == (0.4, 0.05, 40)
    assert message["rejects_uri"] == REJECTS and message["decide_before"] == answer["decide_before"]
    how = message["how_to_decide"]
    assert '"decision": "approve"' in how and "refuse" in how and "ApprovalFunctionUrl" in how
    assert f"tributary approve {RUN_ID}" in how and f"tributary refuse {RUN_ID}" in how
    assert TOKEN not in json.dumps(message)  # the token stays on the run record


def test_asking_again_replaces_the_token(approval: ModuleType, lambda_context: Any, runs: Any) -> None:
    """A retried AwaitApproval (a Lambda error) asks again with a new token."""
    awaiting(approval, lambda_context, runs)
    approval.lambda_handler(request(task_token="second-token"), lambda_context)
    assert runs.get_item(Key={"run_id": RUN_ID})["Item"]["approval_token"] == "second-token"


def test_asking_for_a_run_record_of_another_execution_fails(
    approval: ModuleType, lambda_context: Any, runs: Any, topic: dict[str, str]
) -> None:
    running_record(runs, execution_arn=EXECUTION_ARN + "-other")
    with pytest.raises(RuntimeError, match="not RUNNING for execution"):
        approval.lambda_handler(request(), lambda_context)
    assert "approval_token" not in runs.get_item(Key={"run_id": RUN_ID})["Item"]
    assert published(topic) == []


def test_an_event_of_neither_kind_is_refused(approval: ModuleType, lambda_context: Any) -> None:
    with pytest.raises(ValueError, match="unknown event"):
        approval.lambda_handler({"run_id": RUN_ID}, lambda_context)


# ---------------------------------------------------------------- deciding


@pytest.mark.parametrize("b64", [False, True])
def test_an_approval_is_recorded_then_sent_with_the_callers_identity(
    approval: ModuleType, lambda_context: Any, runs: Any, sfn: RecordingSfn, b64: bool
) -> None:
    awaiting(approval, lambda_context, runs)
    body = {"run_id": RUN_ID, "decision": "approve", "reason": "known upstream defect"}
    status, answer = decide(approval, lambda_context, body, b64=b64)
    assert status == 200, answer
    record = runs.get_item(Key={"run_id": RUN_ID})["Item"]
    assert (record["approval_decision"], record["approval_decided_by"]) == ("approve", STEWARD)
    assert record["approval_reason"] == "known upstream defect"
    assert record["approval_decided_at"] == answer["decided_at"]
    ((name, arguments),) = sfn.calls
    assert name == "SendTaskSuccess" and arguments["taskToken"] == TOKEN
    assert json.loads(arguments["output"]) == {
        "decision": "approve",
        "decided_by": STEWARD,
        "decided_at": answer["decided_at"],
        "reason": "known upstream defect",
    }


def test_a_refusal_fails_the_task_with_who_and_why(
    approval: ModuleType, lambda_context: Any, runs: Any, sfn: RecordingSfn
) -> None:
    awaiting(approval, lambda_context, runs)
    status, _ = decide(
        approval, lambda_context, {"run_id": RUN_ID, "decision": "refuse", "reason": "too many"}
    )
    assert status == 200
    ((name, arguments),) = sfn.calls
    assert (name, arguments["taskToken"], arguments["error"]) == (
        "SendTaskFailure",
        TOKEN,
        "Tributary.ApprovalRefused",
    )
    cause = json.loads(arguments["cause"])
    assert (cause["decision"], cause["decided_by"], cause["reason"]) == ("refuse", STEWARD, "too many")
    assert runs.get_item(Key={"run_id": RUN_ID})["Item"]["approval_decision"] == "refuse"


def test_a_second_decision_loses(
    approval: ModuleType, lambda_context: Any, runs: Any, sfn: RecordingSfn
) -> None:
    awaiting(approval, lambda_context, runs)
    assert (
        decide(approval, lambda_context, {"run_id": RUN_ID, "decision": "refuse", "reason": "no"})[0] == 200
    )
    status, answer = decide(
        approval, lambda_context, {"run_id": RUN_ID, "decision": "approve", "reason": "yes"}
    )
    assert status == 409 and "another decision" in answer["message"]
    assert len(sfn.calls) == 1
    assert runs.get_item(Key={"run_id": RUN_ID})["Item"]["approval_decision"] == "refuse"


@pytest.mark.parametrize("code", ["TaskTimedOut", "InvalidToken", "TaskDoesNotExist"])
def test_a_decision_after_the_timeout_is_taken_back(
    approval: ModuleType, lambda_context: Any, runs: Any, sfn: RecordingSfn, code: str
) -> None:
    awaiting(approval, lambda_context, runs)
    sfn.fail_with = code
    status, answer = decide(
        approval, lambda_context, {"run_id": RUN_ID, "decision": "approve", "reason": "late"}
    )
    assert status == 410 and "refused by timeout" in answer["message"]
    record = runs.get_item(Key={"run_id": RUN_ID})["Item"]
    assert not {"approval_decision", "approval_decided_by", "approval_decided_at", "approval_reason"} & set(
        record
    )


def test_another_error_of_step_functions_takes_the_decision_back_and_fails(
    approval: ModuleType, lambda_context: Any, runs: Any, sfn: RecordingSfn
) -> None:
    awaiting(approval, lambda_context, runs)
    sfn.fail_with = "ThrottlingException"
    with pytest.raises(ClientError):
        decide(approval, lambda_context, {"run_id": RUN_ID, "decision": "approve", "reason": "ok"})
    assert "approval_decision" not in runs.get_item(Key={"run_id": RUN_ID})["Item"]


def test_a_run_not_awaiting_a_decision_is_refused(
    approval: ModuleType, lambda_context: Any, runs: Any, sfn: RecordingSfn
) -> None:
    running_record(runs, status="SUCCEEDED", approval_decision="approve", approval_decided_by=STEWARD)
    status, answer = decide(approval, lambda_context, {"run_id": RUN_ID, "decision": "refuse", "reason": "x"})
    assert status == 409
    assert "is SUCCEEDED, not AWAITING_APPROVAL" in answer["message"] and STEWARD in answer["message"]
    assert sfn.calls == []


@pytest.mark.parametrize(
    ("event_options", "body", "status", "says"),
    [
        ({"caller": None}, {"run_id": RUN_ID, "decision": "approve", "reason": "r"}, 403, "IAM identity"),
        ({"method": "GET"}, {"run_id": RUN_ID, "decision": "approve", "reason": "r"}, 405, "POST"),
        ({}, "approve it", 400, "must be JSON"),
        ({}, ["approve"], 400, "JSON object"),
        ({}, {"decision": "approve", "reason": "r"}, 400, "run_id is required"),
        ({}, {"run_id": RUN_ID, "decision": "yes", "reason": "r"}, 400, "approve, refuse"),
        ({}, {"run_id": RUN_ID, "decision": "approve"}, 400, "reason is required"),
        ({}, {"run_id": RUN_ID, "decision": "approve", "reason": "  "}, 400, "reason is required"),
        ({}, {"run_id": RUN_ID, "decision": "approve", "reason": "x" * 1001}, 400, "at most 1000"),
        ({}, {"run_id": "no-such-run", "decision": "approve", "reason": "r"}, 404, "no run no-such-run"),
    ],
)
def test_bad_requests_get_a_clear_answer_and_change_nothing(
    approval: ModuleType,
    lambda_context: Any,
    runs: Any,
    sfn: RecordingSfn,
    event_options: dict[str, Any],
    body: Any,
    status: int,
    says: str,
) -> None:
    awaiting(approval, lambda_context, runs)
    got, answer = decide(approval, lambda_context, body, **event_options)
    assert (got, says in answer["message"]) == (status, True), answer
    assert sfn.calls == []
    assert "approval_decision" not in runs.get_item(Key={"run_id": RUN_ID})["Item"]
