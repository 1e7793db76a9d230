"""Sweep: objects without lineage go back through the ingest queue and the trigger, like uploads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from pydantic import ValidationError
from sweep.models import RedriveRequest, ReprocessRequest, SweepRequest, parse_sweep_request

from .builders import eventbridge_object_created, sqs_batch, sqs_record
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


SCHEDULE_ARN = "arn:aws:scheduler:eu-west-1:123456789012:schedule/default/tributary-dev-sweep"


def swept_run_triggers(stack: Stack, load_handler: Any, lambda_context: Any, request: dict[str, Any]) -> Any:
    """Sweep one upload with ``request`` and deliver it: (event detail, manifest trigger, run record)."""
    s3 = boto3.client("s3")
    s3.put_object(Bucket=stack.raw_bucket, Key="incoming/orders/late.csv", Body=CSV)
    assert load_handler("sweep").lambda_handler(request, lambda_context) == {"enqueued": 1}
    [message] = queued_messages(stack)
    detail = json.loads(message["Body"])["detail"]
    trigger = load_handler("trigger")
    assert trigger.lambda_handler(sqs_batch(sqs_record(message["Body"])), lambda_context) == {
        "batchItemFailures": []
    }
    [run_id] = run_names(stack)
    body = boto3.client("s3").get_object(Bucket=stack.artifacts_bucket, Key=f"runs/{run_id}/manifest.json")
    [obj] = json.loads(body["Body"].read())["objects"]
    return detail, obj["trigger"], run_record(stack, run_id)


@pytest.mark.parametrize(
    ("request_", "kind", "principal"),
    [
        # The template's schedule passes Scheduler's <aws.scheduler.schedule-arn> as requested_by.
        ({"prefix": "incoming/", "requested_by": SCHEDULE_ARN}, "sweep", SCHEDULE_ARN),
        # A person asking for a backfill says who they are.
        (
            {"since": "2020-01-01T00:00:00Z", "requested_by": "alice@example.com"},
            "backfill",
            "alice@example.com",
        ),
        # Invoked by hand without saying who: recorded as such (CloudTrail's Invoke event has the identity).
        ({"prefix": "incoming/orders/"}, "backfill", "unattributed"),
    ],
)
def test_a_swept_object_records_the_schedule_or_the_person_that_asked(
    stack, load_handler, lambda_context, request_, kind, principal
):
    detail, trigger, record = swept_run_triggers(stack, load_handler, lambda_context, request_)

    assert detail["requester"] == principal
    assert detail["request-id"] == lambda_context.aws_request_id  # the sweep invocation's request id
    assert trigger == {
        "kind": kind,
        "principal": principal,
        "source_ip": None,
        "request_id": lambda_context.aws_request_id,
        "reason": kind.capitalize(),
        "event_id": trigger["event_id"],
    }
    assert (record["trigger_kind"], record["trigger_principal"]) == (kind, principal)


def test_a_scheduled_event_of_an_eventbridge_rule_is_recorded_as_that_rule(
    stack, load_handler, lambda_context
):
    scheduled = json.loads((REPO / "events" / "sweep" / "scheduled.json").read_text())
    scheduled["time"] = datetime.now(UTC).isoformat()
    _, trigger, _ = swept_run_triggers(stack, load_handler, lambda_context, scheduled)
    assert (trigger["kind"], trigger["principal"]) == ("sweep", scheduled["resources"][0])


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
    # A classic scheduled event names its rule: the schedule is who asked.
    assert parse_sweep_request(scheduled) == SweepRequest(requested_by=scheduled["resources"][0])
    wrapped = {**scheduled, "detail": {"prefix": "incoming/clicks/"}}
    assert parse_sweep_request(wrapped).prefix == "incoming/clicks/"
    assert parse_sweep_request({}) == SweepRequest()
    naive = parse_sweep_request({"since": "2026-11-01T00:00:00"}).since
    assert naive is not None and naive.utcoffset() == timedelta(0)
    with pytest.raises(ValidationError, match="must start with 'incoming/'"):
        parse_sweep_request({"prefix": "runs/"})


# ---------------------------------------------------------------- reprocess and redrive


@pytest.fixture(autouse=True)
def dead_letter_queues(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The two dead-letter queues of template.yaml, named in the sweep's environment."""
    sqs = boto3.client("sqs")
    urls = {
        "ingest": sqs.create_queue(QueueName="tributary-ingest-dlq")["QueueUrl"],
        "events": sqs.create_queue(QueueName="tributary-event-delivery-dlq")["QueueUrl"],
    }
    monkeypatch.setenv("INGEST_DEAD_LETTER_QUEUE_URL", urls["ingest"])
    monkeypatch.setenv("EVENT_DELIVERY_DEAD_LETTER_QUEUE_URL", urls["events"])
    return urls


def drain(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        messages += batch
    return messages


def ingest_url(stack: Stack) -> str:
    return boto3.client("sqs").get_queue_url(QueueName=stack.queue_name)["QueueUrl"]


def deliver_queued(stack: Stack, trigger: Any, lambda_context: Any) -> dict[str, Any]:
    """What the ingest queue holds, as one batch to the trigger (the event source mapping's job)."""
    records = [sqs_record(message["Body"]) for message in queued_messages(stack)]
    return (
        trigger.lambda_handler(sqs_batch(*records), lambda_context) if records else {"batchItemFailures": []}
    )


def run_names(stack: Stack) -> list[str]:
    sfn = boto3.client("stepfunctions")
    return sorted(
        e["name"] for e in sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]
    )


def run_record(stack: Stack, run_id: str) -> dict[str, Any]:
    return boto3.resource("dynamodb").Table(stack.runs_table).get_item(Key={"run_id": run_id})["Item"]


def set_status(stack: Stack, run_id: str, status: str) -> None:
    boto3.resource("dynamodb").Table(stack.runs_table).update_item(
        Key={"run_id": run_id},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": status},
    )


def manifest_keys(stack: Stack, run_id: str) -> list[str]:
    body = boto3.client("s3").get_object(Bucket=stack.artifacts_bucket, Key=f"runs/{run_id}/manifest.json")
    return [obj["key"] for obj in json.loads(body["Body"].read())["objects"]]


@pytest.fixture
def failed_run(stack, load_handler, put_raw, lambda_context) -> tuple[str, list[dict[str, Any]], Any]:
    """A run of two uploads, started by the trigger, then recorded FAILED (as the state machine would)."""
    trigger = load_handler("trigger")
    events = [put_raw("incoming/orders/a.csv", CSV), put_raw("incoming/orders/b c+.csv", CSV)]
    trigger.lambda_handler(sqs_batch(*(sqs_record(event) for event in events)), lambda_context)
    [run_id] = run_names(stack)
    set_status(stack, run_id, "FAILED")
    return run_id, events, trigger


def test_a_failed_runs_objects_start_a_new_run_after_reprocess(
    stack, load_handler, lambda_context, failed_run
):
    run_id, events, trigger = failed_run
    sweep = load_handler("sweep")
    # Before: the claims of the failed run make a new delivery of the same versions a duplicate.
    trigger.lambda_handler(sqs_batch(*(sqs_record(event) for event in events)), lambda_context)
    assert run_names(stack) == [run_id]

    report = sweep.lambda_handler({"reprocess_run_id": run_id}, lambda_context)

    assert report == {"run_id": run_id, "enqueued": 2, "skipped": [], "refused": None}
    assert deliver_queued(stack, trigger, lambda_context) == {"batchItemFailures": []}
    [new_run] = [name for name in run_names(stack) if name != run_id]
    assert sorted(manifest_keys(stack, new_run)) == ["incoming/orders/a.csv", "incoming/orders/b c+.csv"]
    assert run_record(stack, new_run)["status"] == "QUEUED"
    assert run_record(stack, run_id)["reprocessed_objects"] == 2
    assert run_record(stack, run_id)["reprocessed_by"] == "unattributed"
    # The new run holds the claims now: the original events are still duplicates.
    trigger.lambda_handler(sqs_batch(*(sqs_record(event) for event in events)), lambda_context)
    assert len(run_names(stack)) == 2


def test_a_reprocess_records_who_asked_on_the_failed_run_and_on_the_new_runs_objects(
    stack, load_handler, lambda_context, failed_run
):
    run_id, _, trigger = failed_run
    load_handler("sweep").lambda_handler(
        {"reprocess_run_id": run_id, "requested_by": "bob@example.com"}, lambda_context
    )
    deliver_queued(stack, trigger, lambda_context)
    [new_run] = [name for name in run_names(stack) if name != run_id]

    assert run_record(stack, run_id)["reprocessed_by"] == "bob@example.com"
    record = run_record(stack, new_run)
    assert (record["trigger_kind"], record["trigger_principal"]) == ("reprocess", "bob@example.com")
    body = boto3.client("s3").get_object(Bucket=stack.artifacts_bucket, Key=f"runs/{new_run}/manifest.json")
    triggers = [obj["trigger"] for obj in json.loads(body["Body"].read())["objects"]]
    assert {(t["kind"], t["principal"], t["request_id"]) for t in triggers} == {
        ("reprocess", "bob@example.com", lambda_context.aws_request_id)
    }


def test_a_second_reprocess_of_the_same_run_is_refused_and_its_late_messages_start_nothing(
    stack, load_handler, lambda_context, failed_run
):
    run_id, _, trigger = failed_run
    sweep = load_handler("sweep")
    assert sweep.lambda_handler({"reprocess_run_id": run_id}, lambda_context)["enqueued"] == 2
    first_messages = queued_messages(stack)
    deliver_queued_bodies = [sqs_record(m["Body"]) for m in first_messages]
    trigger.lambda_handler(sqs_batch(*deliver_queued_bodies), lambda_context)
    assert len(run_names(stack)) == 2

    again = sweep.lambda_handler({"reprocess_run_id": run_id}, lambda_context)

    assert again["enqueued"] == 0
    assert again["refused"].startswith(f"run {run_id} was already reprocessed at ")
    assert queued_messages(stack) == []
    # Even a copy of the first reprocess's messages (SQS delivers at least once) starts nothing: the
    # versions are claimed by the new run, not by the failed run they name.
    trigger.lambda_handler(sqs_batch(*(sqs_record(m["Body"]) for m in first_messages)), lambda_context)
    assert len(run_names(stack)) == 2


@pytest.mark.parametrize("status", ["SUCCEEDED", "RUNNING", "QUEUED"])
def test_a_run_that_did_not_fail_is_not_reprocessed(stack, load_handler, lambda_context, failed_run, status):
    run_id, _, _ = failed_run
    set_status(stack, run_id, status)

    report = load_handler("sweep").lambda_handler({"reprocess_run_id": run_id}, lambda_context)

    assert report["enqueued"] == 0
    assert report["refused"] == (
        f"run {run_id} is {status}: only a run that failed (FAILED or QUARANTINED) is reprocessed"
    )
    assert queued_messages(stack) == []
    assert "reprocessed_at" not in run_record(stack, run_id)


def test_an_unknown_run_is_refused(stack, load_handler, lambda_context):
    report = load_handler("sweep").lambda_handler({"reprocess_run_id": "orders-nope"}, lambda_context)
    assert report["refused"] == "no run orders-nope in the runs table"


def test_reprocess_skips_versions_a_succeeded_run_published_and_versions_that_are_gone(
    stack, load_handler, lambda_context, failed_run
):
    run_id, events, _ = failed_run
    published, deleted = (event["detail"]["object"] for event in events)
    lineage = boto3.resource("dynamodb").Table(stack.lineage_table)
    runs = boto3.resource("dynamodb").Table(stack.runs_table)
    a_id = f"s3://{stack.raw_bucket}/{published['key']}#{published['version-id']}"
    runs.put_item(Item={"run_id": "orders-ok", "status": "SUCCEEDED"})
    runs.put_item(Item={"run_id": "orders-bad", "status": "FAILED"})
    lineage.put_item(Item={"object_id": a_id, "run_id": "orders-bad"})
    lineage.put_item(Item={"object_id": a_id, "run_id": "orders-ok"})
    boto3.client("s3").delete_object(
        Bucket=stack.raw_bucket, Key=deleted["key"], VersionId=deleted["version-id"]
    )

    report = load_handler("sweep").lambda_handler({"reprocess_run_id": run_id}, lambda_context)

    assert report["enqueued"] == 0
    assert report["skipped"] == [
        {
            "key": published["key"],
            "version_id": published["version-id"],
            "reason": "published by run orders-ok",
        },
        {
            "key": deleted["key"],
            "version_id": deleted["version-id"],
            "reason": "the object version no longer exists",
        },
    ]


def test_a_lineage_item_of_a_failed_run_does_not_count_as_published(
    stack, load_handler, lambda_context, failed_run
):
    run_id, events, _ = failed_run
    obj = events[0]["detail"]["object"]
    boto3.resource("dynamodb").Table(stack.lineage_table).put_item(
        Item={"object_id": f"s3://{stack.raw_bucket}/{obj['key']}#{obj['version-id']}", "run_id": run_id}
    )
    report = load_handler("sweep").lambda_handler({"reprocess_run_id": run_id}, lambda_context)
    assert (report["enqueued"], report["skipped"]) == (2, [])


def test_a_reprocess_that_could_not_enqueue_can_be_asked_again(
    stack, load_handler, lambda_context, failed_run, monkeypatch
):
    run_id, _, trigger = failed_run
    sweep = load_handler("sweep")
    from etl_common.aws import sqs_client

    client = sqs_client()
    real_send = client.send_message_batch
    monkeypatch.setattr(
        client,
        "send_message_batch",
        lambda **kw: {
            "Successful": [],
            "Failed": [{"Id": "0", "SenderFault": False, "Code": "InternalError"}],
        },
    )
    with pytest.raises(RuntimeError, match=r"could not enqueue 1 objects: \['incoming/orders/a.csv'\]"):
        sweep.lambda_handler({"reprocess_run_id": run_id}, lambda_context)
    assert "reprocessed_at" not in run_record(stack, run_id)

    monkeypatch.setattr(client, "send_message_batch", real_send)
    assert sweep.lambda_handler({"reprocess_run_id": run_id}, lambda_context)["enqueued"] == 2
    deliver_queued(stack, trigger, lambda_context)
    assert len(run_names(stack)) == 2


def dlq_event(stack: Stack, key: str, body: bytes = CSV) -> dict[str, Any]:
    response = boto3.client("s3").put_object(Bucket=stack.raw_bucket, Key=key, Body=body)
    return eventbridge_object_created(
        key, bucket=stack.raw_bucket, size=len(body), version_id=response["VersionId"], etag=response["ETag"]
    )


def test_redrive_of_the_ingest_dlq_moves_events_back_and_keeps_what_cannot_succeed(
    stack, load_handler, lambda_context, dead_letter_queues
):
    sqs = boto3.client("sqs")
    dlq = dead_letter_queues["ingest"]
    event = dlq_event(stack, "incoming/orders/late.csv")
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(event))
    sqs.send_message(QueueUrl=dlq, MessageBody="not json")

    report = load_handler("sweep").lambda_handler({"redrive": "ingest"}, lambda_context)

    assert (report["source"], report["moved"], report["failed"], report["more"]) == ("ingest", 1, 0, False)
    assert [k["kind"] for k in report["kept"]] == ["not an EventBridge event"]
    assert [json.loads(m["Body"]) for m in queued_messages(stack)] == [event]
    # What stays is visible again at once, for whoever reads the DLQ next.
    assert [m["Body"] for m in drain(dlq)] == ["not json"]


def test_redrive_of_the_event_delivery_dlq_sends_undelivered_uploads_to_the_trigger(
    stack, load_handler, lambda_context, dead_letter_queues
):
    sqs = boto3.client("sqs")
    dlq = dead_letter_queues["events"]
    error = {
        "ERROR_CODE": {"DataType": "String", "StringValue": "SQS.KMS.AccessDenied"},
        "ERROR_MESSAGE": {"DataType": "String", "StringValue": "KMS key not accessible"},
    }
    upload = dlq_event(stack, "incoming/orders/undelivered.csv")
    glue_alert = eventbridge_object_created("x", detail_type="Glue Job State Change", source="aws.glue")
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(upload), MessageAttributes=error)
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(glue_alert), MessageAttributes=error)
    schedule = {
        "X-Amz-Scheduler-Schedule-Arn": {"DataType": "String", "StringValue": "arn:x:schedule/default/s"}
    }
    sqs.send_message(QueueUrl=dlq, MessageBody="{}", MessageAttributes=schedule)

    report = load_handler("sweep").lambda_handler({"redrive": "events"}, lambda_context)

    assert (report["moved"], report["failed"]) == (1, 0)
    assert sorted((k["kind"], k["error"]) for k in report["kept"]) == [
        ("Glue Job State Change event from aws.glue", "KMS key not accessible"),
        ("input of schedule s (the schedule could not invoke its target)", None),
    ]
    assert len(drain(dlq)) == 2
    trigger = load_handler("trigger")
    assert deliver_queued(stack, trigger, lambda_context) == {"batchItemFailures": []}
    [run] = run_names(stack)
    assert manifest_keys(stack, run) == ["incoming/orders/undelivered.csv"]


def test_a_message_the_ingest_queue_refused_stays_in_the_dlq(
    stack, load_handler, lambda_context, dead_letter_queues, monkeypatch
):
    sqs = boto3.client("sqs")
    dlq = dead_letter_queues["ingest"]
    for name in ("one.csv", "two.csv"):
        sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(dlq_event(stack, f"incoming/orders/{name}")))
    sweep = load_handler("sweep")
    from etl_common.aws import sqs_client

    client = sqs_client()
    real_send = client.send_message_batch

    def send_first_only(**request: Any) -> Any:
        first, *rest = request["Entries"]
        response = real_send(QueueUrl=request["QueueUrl"], Entries=[first])
        response["Failed"] = [{"Id": e["Id"], "SenderFault": False, "Code": "InternalError"} for e in rest]
        return response

    monkeypatch.setattr(client, "send_message_batch", send_first_only)
    report = sweep.lambda_handler({"redrive": "ingest"}, lambda_context)

    assert (report["moved"], report["failed"]) == (1, 1)
    assert len(queued_messages(stack)) == 1
    # The refused one is still in the DLQ (it comes back after the receive's visibility timeout).
    attributes = sqs.get_queue_attributes(
        QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )
    assert attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "1"


def test_redrive_stops_at_max_messages_and_says_there_is_more(
    stack, load_handler, lambda_context, dead_letter_queues
):
    sqs = boto3.client("sqs")
    for index in range(3):
        body = json.dumps(dlq_event(stack, f"incoming/orders/{index}.csv"))
        sqs.send_message(QueueUrl=dead_letter_queues["ingest"], MessageBody=body)
    report = load_handler("sweep").lambda_handler({"redrive": "ingest", "max_messages": 2}, lambda_context)
    assert (report["moved"], report["more"]) == (2, True)


def test_reprocess_and_redrive_requests_are_checked():
    assert parse_sweep_request({"reprocess_run_id": "r"}) == ReprocessRequest(reprocess_run_id="r")
    assert parse_sweep_request({"redrive": "events"}) == RedriveRequest(redrive="events")
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        parse_sweep_request({"reprocess_run_id": "r", "prefix": "incoming/"})
    with pytest.raises(ValidationError, match="'ingest' or 'events'"):
        parse_sweep_request({"redrive": "main"})
    with pytest.raises(ValidationError, match="at least 1 character"):
        parse_sweep_request({"reprocess_run_id": ""})


def test_a_run_that_changes_while_being_reprocessed_is_refused_not_an_error(
    stack, load_handler, lambda_context, failed_run, monkeypatch
):
    run_id, _, _ = failed_run
    sweep = load_handler("sweep")
    from sweep.reprocess import Reprocessor

    read = Reprocessor._failed_run

    def read_then_another_reprocess_wins(self: Any, run: str) -> dict[str, Any]:
        record = read(self, run)
        boto3.resource("dynamodb").Table(stack.runs_table).update_item(
            Key={"run_id": run},
            UpdateExpression="SET reprocessed_at = :t",
            ExpressionAttributeValues={":t": "2026-11-25T08:00:00Z"},
        )
        return record

    monkeypatch.setattr(Reprocessor, "_failed_run", read_then_another_reprocess_wins)
    report = sweep.lambda_handler({"reprocess_run_id": run_id}, lambda_context)

    assert report == {
        "run_id": run_id,
        "enqueued": 0,
        "skipped": [],
        "refused": f"run {run_id} changed while being reprocessed; look at its record",
    }
    assert queued_messages(stack) == []
