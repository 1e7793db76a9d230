"""Sweep: objects without lineage go back through the ingest queue and the trigger, like uploads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from pydantic import ValidationError
from sweep.models import SweepRequest, parse_sweep_request

from .builders import sqs_batch, sqs_record
from .conftest import REPO, Stack

CSV = (
    b"order_id,customer_id,amount,quantity,status,ordered_at\nORD-000001,C1,1.00,1,NEW,2026-11-24 10:00:00\n"
)


def queued_messages(stack: Stack) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=stack.queue_name)["QueueUrl"]
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        messages += batch
    return messages


def test_enqueues_only_current_versions_without_lineage(stack, load_handler, lambda_context):
    s3 = boto3.client("s3")
    for key, body in [
        ("incoming/orders/new one+.csv", CSV),
        ("incoming/orders/done.csv", CSV),
        ("incoming/orders/folder/", b""),
        ("incoming/orders/empty.csv", b""),
        ("incoming/clicks/été.jsonl", b'{"event_id": "e"}\n'),
    ]:
        s3.put_object(Bucket=stack.raw_bucket, Key=key, Body=body)
    replaced = s3.put_object(Bucket=stack.raw_bucket, Key="incoming/orders/new one+.csv", Body=CSV + CSV)
    done = s3.head_object(Bucket=stack.raw_bucket, Key="incoming/orders/done.csv")
    boto3.resource("dynamodb").Table(stack.lineage_table).put_item(
        Item={
            "object_id": f"s3://{stack.raw_bucket}/incoming/orders/done.csv#{done['VersionId']}",
            "run_id": "r1",
        }
    )
    handler = load_handler("sweep")

    assert handler.lambda_handler({"prefix": "incoming/"}, lambda_context) == {"enqueued": 2}

    bodies = [json.loads(message["Body"]) for message in queued_messages(stack)]
    objects = sorted(
        (body["detail"]["object"]["key"], body["detail"]["object"].get("version-id")) for body in bodies
    )
    assert objects[0] == ("incoming/clicks/été.jsonl", objects[0][1])
    assert objects[1] == ("incoming/orders/new one+.csv", replaced["VersionId"])
    assert {body["source"] for body in bodies} == {"tributary.sweep"}
    assert {body["detail-type"] for body in bodies} == {"Object Created"}


def test_swept_objects_become_runs_through_the_trigger(stack, load_handler, lambda_context):
    s3 = boto3.client("s3")
    s3.put_object(Bucket=stack.raw_bucket, Key="incoming/orders/late arrival.csv", Body=CSV)
    load_handler("sweep").lambda_handler({"prefix": "incoming/orders/"}, lambda_context)
    records = [sqs_record(message["Body"]) for message in queued_messages(stack)]

    trigger = load_handler("trigger")
    assert trigger.lambda_handler(sqs_batch(*records), lambda_context) == {"batchItemFailures": []}

    sfn = boto3.client("stepfunctions")
    [execution] = sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]
    manifest = json.loads(
        s3.get_object(Bucket=stack.artifacts_bucket, Key=f"runs/{execution['name']}/manifest.json")[
            "Body"
        ].read()
    )
    assert manifest["source"] == "sweep"
    assert [obj["key"] for obj in manifest["objects"]] == ["incoming/orders/late arrival.csv"]


def test_since_and_max_objects_bound_the_sweep(stack, load_handler, lambda_context):
    s3 = boto3.client("s3")
    for index in range(3):
        s3.put_object(Bucket=stack.raw_bucket, Key=f"incoming/orders/{index}.csv", Body=CSV)
    handler = load_handler("sweep")
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()

    assert handler.lambda_handler({"since": tomorrow}, lambda_context) == {"enqueued": 0}
    assert handler.lambda_handler({"since": "2026-01-01T00:00:00Z", "max_objects": 1}, lambda_context) == {
        "enqueued": 1
    }
    assert handler.lambda_handler({"max_objects": 2}, lambda_context) == {"enqueued": 2}


def test_without_since_only_recent_uploads_are_swept():
    request = SweepRequest(lookback_hours=6)
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert request.modified_since(now) == datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    since = datetime(2020, 1, 1, tzinfo=UTC)
    assert SweepRequest(since=since, lookback_hours=6).modified_since(now) == since


def test_requests_come_from_scheduler_input_or_a_scheduled_event():
    scheduled = json.loads((REPO / "events" / "sweep" / "scheduled.json").read_text())
    assert parse_sweep_request(scheduled) == SweepRequest()
    wrapped = {**scheduled, "detail": {"prefix": "incoming/clicks/"}}
    assert parse_sweep_request(wrapped).prefix == "incoming/clicks/"
    assert parse_sweep_request({}) == SweepRequest()
    naive = parse_sweep_request({"since": "2026-11-01T00:00:00"}).since
    assert naive is not None and naive.utcoffset() == timedelta(0)
    with pytest.raises(ValidationError, match="must start with 'incoming/'"):
        parse_sweep_request({"prefix": "runs/"})
