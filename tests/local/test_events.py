from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tributary.local.delivery.event_source_mapping import (
    MappingConfig,
    SqsEventSourceMapping,
    failed_item_ids,
)
from tributary.local.delivery.events import EventBus, Rule, listen_to_s3, target_input
from tributary.local.delivery.schedules import Schedule, Scheduler, interval_seconds
from tributary.local.endpoints.moto_server import MotoServer
from tributary.local.provisioning import ProvisionedStack, provision
from tributary.local.runtimes.lambda_runtime import InvocationResult

from .conftest import FIXTURE_APP


@pytest.fixture
def stack(moto_server: MotoServer) -> ProvisionedStack:
    return provision(FIXTURE_APP / "template.yaml", moto_server)


@pytest.fixture
def bus(moto_server: MotoServer, stack: ProvisionedStack) -> Iterator[EventBus]:
    sqs = moto_server.client("sqs")

    def to_queue(arn: str, body: str) -> None:
        url = sqs.get_queue_url(QueueName=arn.split(":")[-1])["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=body)

    rule = stack.resources["ObjectCreatedRule"].properties
    bus = EventBus(
        moto_server.client,
        {"sqs": to_queue},
        [Rule("created", json.dumps(rule["EventPattern"]), rule["Targets"])],
    )
    bus.start()
    unsubscribe = listen_to_s3(bus.put)
    yield bus
    unsubscribe()
    bus.stop()


def _receive(moto_server: MotoServer, url: str) -> list[dict[str, Any]]:
    response = moto_server.client("sqs").receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
    )
    return response.get("Messages", [])


def test_upload_becomes_an_object_created_event_on_the_ingest_queue(
    bus: EventBus, stack: ProvisionedStack, moto_server: MotoServer
) -> None:
    s3 = moto_server.client("s3")
    put = s3.put_object(Bucket="tiny-raw-dev", Key="incoming/demo/a b+é.csv", Body=b"x,y\n1,2\n")
    s3.put_object(Bucket="tiny-raw-dev", Key="elsewhere/skip.csv", Body=b"x")
    bus.drain()
    messages = _receive(moto_server, stack.physical_id("IngestQueue"))
    assert len(messages) == 1
    event = json.loads(messages[0]["Body"])
    assert event["source"] == "aws.s3"
    assert event["detail-type"] == "Object Created"
    assert event["resources"] == ["arn:aws:s3:::tiny-raw-dev"]
    assert event["time"].endswith("Z")
    detail = event["detail"]
    assert detail["bucket"] == {"name": "tiny-raw-dev"}
    assert detail["object"]["key"] == "incoming/demo/a b+é.csv"  # as stored, not URL-encoded
    assert detail["object"]["size"] == 8
    assert detail["object"]["etag"] == put["ETag"].strip('"')
    assert detail["object"]["version-id"] == put["VersionId"]
    assert detail["reason"] == "PutObject"


def test_target_input_forms() -> None:
    event = {"id": "1", "detail": {"jobName": "j", "state": "FAILED", "n": 3}}
    assert json.loads(target_input({}, event)) == event
    assert target_input({"Input": '{"a": 1}'}, event) == '{"a": 1}'
    assert json.loads(target_input({"InputPath": "$.detail"}, event)) == event["detail"]
    transformer = {
        "InputPathsMap": {"job": "$.detail.jobName", "state": "$.detail.state", "n": "$.detail.n"},
        "InputTemplate": '{"text": "Job <job> is <state>", "count": <n>}',
    }
    assert json.loads(target_input({"InputTransformer": transformer}, event)) == {
        "text": "Job j is FAILED",
        "count": 3,
    }
    plain = {"InputPathsMap": {"job": "$.detail.jobName"}, "InputTemplate": "Job <job> failed"}
    assert target_input({"InputTransformer": plain}, event) == "Job j failed"


def _result(payload: Any = None, error: str | None = None) -> InvocationResult:
    return InvocationResult("req", payload, error, "", 1.0, 0.0, 10.0, False)


def test_batch_item_failures_rules() -> None:
    ids = ["a", "b", "c"]
    assert failed_item_ids(_result({"errorType": "X"}, "Unhandled"), ids, True) == ids
    assert failed_item_ids(_result({"batchItemFailures": [{"itemIdentifier": "b"}]}), ids, True) == ["b"]
    assert failed_item_ids(_result({"batchItemFailures": [{"itemIdentifier": "b"}]}), ids, False) == []
    assert failed_item_ids(_result({"batchItemFailures": [{"itemIdentifier": "zz"}]}), ids, True) == ids
    assert failed_item_ids(_result({"batchItemFailures": []}), ids, True) == []
    assert failed_item_ids(_result(None), ids, True) == []


def _queue_with_dlq(
    moto_server: MotoServer, max_receive: int = 2, visibility: int = 1
) -> tuple[str, str, str]:
    sqs = moto_server.client("sqs")
    dlq = sqs.create_queue(QueueName="esm-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName="esm-queue",
        Attributes={
            "VisibilityTimeout": str(visibility),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive}),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn, dlq


def test_batching_window_gathers_messages_into_one_invocation(moto_server: MotoServer) -> None:
    url, arn, _ = _queue_with_dlq(moto_server, visibility=30)
    sqs = moto_server.client("sqs")
    seen: list[dict[str, Any]] = []

    def invoke(event: dict[str, Any]) -> InvocationResult:
        seen.append(event)
        return _result({})

    mapping = SqsEventSourceMapping(
        MappingConfig("f", arn, url, batch_size=10, batching_window_seconds=1.5), sqs, invoke
    )
    for index in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{index}")
    batch = mapping.collect()
    assert len(batch) == 3
    record = mapping.process(batch)
    assert record.failed_ids == []
    assert [r["body"] for r in seen[0]["Records"]] == ["m0", "m1", "m2"]
    first = seen[0]["Records"][0]
    assert first["eventSource"] == "aws:sqs" and first["eventSourceARN"] == arn
    assert first["attributes"]["ApproximateReceiveCount"] == "1"
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)


def test_failed_batches_return_to_the_queue_and_end_in_the_dlq(moto_server: MotoServer) -> None:
    url, arn, dlq = _queue_with_dlq(moto_server, max_receive=2)
    sqs = moto_server.client("sqs")
    calls: list[list[str]] = []

    def invoke(event: dict[str, Any]) -> InvocationResult:
        bodies = [r["body"] for r in event["Records"]]
        calls.append(bodies)
        failures = [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "bad"]
        return _result({"batchItemFailures": failures})

    config = MappingConfig("f", arn, url, batch_size=10, report_batch_item_failures=True)
    mapping = SqsEventSourceMapping(config, sqs, invoke)
    mapping.start()
    try:
        sqs.send_message(QueueUrl=url, MessageBody="good")
        sqs.send_message(QueueUrl=url, MessageBody="bad")
        deadline = time.monotonic() + 20
        dead: list[dict[str, Any]] = []
        while not dead and time.monotonic() < deadline:
            dead = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages", [])
    finally:
        mapping.stop()
    assert [m["Body"] for m in dead] == ["bad"]
    assert sum(bodies.count("good") for bodies in calls) == 1
    assert sum(bodies.count("bad") for bodies in calls) == 2


def test_schedules_fire_on_demand_and_by_rate() -> None:
    fired: list[str] = []
    scheduler = Scheduler(
        [Schedule("tiny-Sweep", "cron(0 3 * * ? *)", "arn:aws:lambda:us-east-1:1:function:f", '{"a": 1}')],
        lambda schedule: fired.append(schedule.input),
    )
    scheduler.fire("Sweep")
    assert fired == ['{"a": 1}']
    with pytest.raises(KeyError, match="tiny-Sweep"):
        scheduler.fire("nope")
    assert interval_seconds("rate(5 minutes)") == 300
    assert interval_seconds("rate(1 day)") == 86400
    assert interval_seconds("cron(0 3 * * ? *)") is None


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"source": ["aws.s3"]}, True),
        ({"source": ["aws.glue"]}, False),
        ({"detail": {"object": {"key": [{"prefix": "incoming/"}]}}}, True),
        ({"detail": {"object": {"key": [{"suffix": ".CSV"}]}}}, False),
        ({"detail": {"object": {"key": [{"suffix": {"equals-ignore-case": ".CSV"}}]}}}, True),
        ({"detail": {"object": {"size": [{"numeric": [">", 0, "<=", 8]}]}}}, True),
        ({"detail": {"object": {"version-id": [{"exists": False}]}}}, True),
        ({"detail": {"object": {"key": [{"exists": True}]}}}, True),
        ({"detail": {"reason": [{"anything-but": ["PutObject"]}]}}, False),
        ({"detail": {"object": {"key": [{"wildcard": "incoming/*/a*.csv"}]}}}, True),
        ({"$or": [{"source": ["x"]}, {"detail": {"reason": ["PutObject"]}}]}, True),
        ({"resources": ["arn:aws:s3:::b"]}, True),
        ({"detail": {"missing": ["x"]}}, False),
    ],
)
def test_event_patterns(pattern: dict[str, Any], expected: bool) -> None:
    from tributary.local.delivery.event_patterns import matches

    event = {
        "source": "aws.s3",
        "resources": ["arn:aws:s3:::b"],
        "detail": {"object": {"key": "incoming/x/a.csv", "size": 8}, "reason": "PutObject"},
    }
    assert matches(pattern, event) is expected
