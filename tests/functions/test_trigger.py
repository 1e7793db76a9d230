"""Trigger: classification, run naming, idempotency per object version and partial batch failures."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .builders import eventbridge_object_created, sqs_batch, sqs_record
from .conftest import REPO, Stack

CSV = (
    b"order_id,customer_id,amount,quantity,status,ordered_at\nORD-000001,C1,10.00,1,NEW,2026-11-24 10:00:00\n"
)


def executions(stack: Stack) -> list[dict[str, Any]]:
    sfn = boto3.client("stepfunctions")
    return sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]


def manifest_of(stack: Stack, run_id: str) -> dict[str, Any]:
    body = boto3.client("s3").get_object(Bucket=stack.artifacts_bucket, Key=f"runs/{run_id}/manifest.json")[
        "Body"
    ]
    return json.loads(body.read())


def emf_documents(output: str) -> list[dict[str, Any]]:
    """The CloudWatch embedded-metric-format documents Powertools Metrics printed."""
    return [json.loads(line) for line in output.splitlines() if line.startswith("{") and '"_aws"' in line]


def metric_total(documents: list[dict[str, Any]], name: str, without: str | None = None) -> float:
    total = 0.0
    for doc in documents:
        if name in doc and (without is None or without not in doc):
            value = doc[name]
            total += sum(value) if isinstance(value, list) else value
    return total


def test_one_upload_starts_one_run_with_manifest_record_and_claim_check_input(
    stack, load_handler, put_raw, lambda_context
):
    handler = load_handler("trigger")
    event = put_raw("incoming/orders/2026/11/24/export.csv", CSV)

    response = handler.lambda_handler(sqs_batch(sqs_record(event)), lambda_context)

    assert response == {"batchItemFailures": []}
    [execution] = executions(stack)
    run_id = execution["name"]
    assert run_id.startswith("orders-20261124T101458Z-") and len(run_id) <= 80
    manifest = manifest_of(stack, run_id)
    assert manifest["dataset"] == "orders"
    assert manifest["source"] == "eventbridge"
    [obj] = manifest["objects"]
    assert obj["key"] == "incoming/orders/2026/11/24/export.csv"
    assert obj["version_id"] == event["detail"]["object"]["version-id"]
    assert obj["size"] == len(CSV)

    sfn = boto3.client("stepfunctions")
    execution_input = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert execution_input == {
        "run_id": run_id,
        "dataset": "orders",
        "manifest_uri": f"s3://{stack.artifacts_bucket}/runs/{run_id}/manifest.json",
        "object_count": 1,
    }
    record = boto3.resource("dynamodb").Table(stack.runs_table).get_item(Key={"run_id": run_id})["Item"]
    assert record["status"] == "QUEUED"
    assert record["execution_arn"] == execution["executionArn"]
    assert record["objects"] == ["incoming/orders/2026/11/24/export.csv"]
    assert int(record["expires_at"]) > datetime.now(UTC).timestamp()


def test_the_manifest_and_the_run_record_say_who_caused_the_run_and_the_record_is_queryable_by_it(
    stack, load_handler, put_raw, lambda_context
):
    handler = load_handler("trigger")
    events = [put_raw(f"incoming/orders/{name}.csv", CSV) for name in ("a", "b", "c")]
    # Two uploads by one principal from one address, one by a service principal without an address.
    events[0]["detail"].update({"request-id": "REQ0000000000001"})
    events[1]["detail"].update({"request-id": "REQ0000000000002"})
    events[2]["detail"].update({"requester": "s3.amazonaws.com", "request-id": "REQ0000000000003"})
    del events[2]["detail"]["source-ip-address"]

    assert handler.lambda_handler(sqs_batch(*map(sqs_record, events)), lambda_context) == {
        "batchItemFailures": []
    }

    [execution] = executions(stack)
    run_id = execution["name"]
    objects = {obj["key"]: obj["trigger"] for obj in manifest_of(stack, run_id)["objects"]}
    assert objects["incoming/orders/a.csv"] == {
        "kind": "upload",
        "principal": events[0]["detail"]["requester"],
        "source_ip": "203.0.113.15",
        "request_id": "REQ0000000000001",
        "reason": "PutObject",
        "event_id": events[0]["id"],
    }
    assert objects["incoming/orders/c.csv"]["principal"] == "s3.amazonaws.com"
    assert objects["incoming/orders/c.csv"]["source_ip"] is None

    table = boto3.resource("dynamodb").Table(stack.runs_table)
    record = table.get_item(Key={"run_id": run_id})["Item"]
    account = events[0]["detail"]["requester"]
    assert record["trigger_principal"] == account  # the principal of most of the run's objects
    assert record["trigger_kind"] == "upload"
    assert record["triggers"] == [
        {"kind": "upload", "principal": account, "source_ip": "203.0.113.15", "objects": 2},
        {"kind": "upload", "principal": "s3.amazonaws.com", "objects": 1},
    ]
    found = table.query(
        IndexName="by-trigger-principal-created",
        KeyConditionExpression="trigger_principal = :who AND created_at >= :since",
        ExpressionAttributeValues={":who": account, ":since": "2026-11-24"},
    )["Items"]
    assert [item["run_id"] for item in found] == [run_id]
    assert not table.query(
        IndexName="by-trigger-principal-created",
        KeyConditionExpression="trigger_principal = :who",
        ExpressionAttributeValues={":who": "210987654321"},
    )["Items"]


@pytest.mark.parametrize(
    "key",
    [
        "incoming/orders/with space/a b.csv",
        "incoming/orders/plus+sign/a+b.csv",
        "incoming/orders/percent/100%25 done %.csv",
        "incoming/orders/ünïcödé/zażółć 東京.csv",
    ],
)
def test_keys_are_used_exactly_as_eventbridge_delivers_them(
    stack, load_handler, put_raw, lambda_context, key
):
    """EventBridge does not URL-encode detail.object.key: '+', '%' and spaces are literal characters."""
    handler = load_handler("trigger")
    event = put_raw(key, CSV)

    assert handler.lambda_handler(sqs_batch(sqs_record(event)), lambda_context) == {"batchItemFailures": []}

    [execution] = executions(stack)
    [obj] = manifest_of(stack, execution["name"])["objects"]
    assert obj["key"] == key
    # The manifest's key reaches the very object version that was uploaded.
    head = boto3.client("s3").head_object(Bucket=obj["bucket"], Key=obj["key"], VersionId=obj["version_id"])
    assert head["ContentLength"] == len(CSV)


def test_skipped_objects_start_nothing_and_are_not_failures(stack, load_handler, lambda_context, capsys):
    handler = load_handler("trigger")
    batch = sqs_batch(
        sqs_record(eventbridge_object_created("incoming/orders/folder/")),
        sqs_record(eventbridge_object_created("incoming/orders/empty.csv", size=0)),
        sqs_record(eventbridge_object_created("incoming/orders/report.xlsx")),
        sqs_record(eventbridge_object_created("incoming/unknown_dataset/a.csv")),
        sqs_record(eventbridge_object_created("elsewhere/a.csv")),
        sqs_record(eventbridge_object_created("incoming/orders/a.csv", bucket="someone-elses-bucket")),
        sqs_record(eventbridge_object_created("incoming/orders/a.csv", detail_type="Object Deleted")),
    )

    assert handler.lambda_handler(batch, lambda_context) == {"batchItemFailures": []}

    assert executions(stack) == []
    documents = emf_documents(capsys.readouterr().out)
    reasons = {doc["Reason"] for doc in documents if "Reason" in doc}
    assert reasons == {
        "folder_marker",
        "empty_object",
        "unsupported_suffix",
        "unknown_dataset",
        "outside_incoming",
        "other_bucket",
        "not_object_created",
    }
    assert metric_total(documents, "ObjectsSkipped", without="Reason") == 7
    assert metric_total(documents, "ObjectsReceived") == 7
    assert metric_total(documents, "ExecutionsStarted") == 0


def test_a_batch_groups_objects_per_dataset(stack, load_handler, put_raw, lambda_context):
    handler = load_handler("trigger")
    batch = sqs_batch(
        sqs_record(put_raw("incoming/orders/a.csv", CSV)),
        sqs_record(put_raw("incoming/orders/b.csv.gz", b"\x1f\x8b rest")),
        sqs_record(put_raw("incoming/clicks/c.jsonl", b'{"event_id": "e1"}\n')),
    )

    assert handler.lambda_handler(batch, lambda_context) == {"batchItemFailures": []}

    runs = {execution["name"].split("-")[0]: execution["name"] for execution in executions(stack)}
    assert set(runs) == {"orders", "clicks"}
    assert [obj["key"] for obj in manifest_of(stack, runs["orders"])["objects"]] == [
        "incoming/orders/a.csv",
        "incoming/orders/b.csv.gz",
    ]


def test_duplicate_deliveries_start_no_second_run(stack, load_handler, put_raw, lambda_context, capsys):
    handler = load_handler("trigger")
    first = put_raw("incoming/orders/a.csv", CSV)
    second = put_raw("incoming/orders/b.csv", CSV, time="2026-11-24T10:20:00Z")

    # The same event twice in one batch.
    handler.lambda_handler(sqs_batch(sqs_record(first), sqs_record(first)), lambda_context)
    [run] = executions(stack)
    assert len(manifest_of(stack, run["name"])["objects"]) == 1

    # Delivered again later, next to a new object: only the new object makes a run.
    response = handler.lambda_handler(sqs_batch(sqs_record(first), sqs_record(second)), lambda_context)
    assert response == {"batchItemFailures": []}
    runs = executions(stack)
    assert len(runs) == 2
    [new_run] = [execution for execution in runs if execution["name"] != run["name"]]
    assert [obj["key"] for obj in manifest_of(stack, new_run["name"])["objects"]] == ["incoming/orders/b.csv"]

    # Alone, it is indistinguishable from a retry of the first batch: same name, so no new run.
    handler.lambda_handler(sqs_batch(sqs_record(first)), lambda_context)
    assert len(executions(stack)) == 2
    assert metric_total(emf_documents(capsys.readouterr().out), "DuplicatesIgnored") == 2


def reprocess_event(
    event: dict[str, Any],
    failed_run: str,
    source: str = "tributary.sweep",
    time: str = "2026-11-25T08:00:00Z",
) -> dict[str, Any]:
    """What the sweep enqueues to reprocess ``failed_run``: the reprocess's time, the run it names."""
    return {
        **event,
        "source": source,
        "time": time,
        "detail": {**event["detail"], "reason": "Reprocess", "reprocess-of": failed_run},
    }


def test_a_reprocess_event_takes_over_only_the_claim_of_the_run_it_names(
    stack, load_handler, put_raw, lambda_context, capsys
):
    handler = load_handler("trigger")
    event = put_raw("incoming/orders/a.csv", CSV)
    handler.lambda_handler(sqs_batch(sqs_record(event)), lambda_context)
    [first] = executions(stack)

    # Naming another run, or coming from S3 rather than the sweep, takes nothing over: a duplicate.
    handler.lambda_handler(sqs_batch(sqs_record(reprocess_event(event, "orders-other"))), lambda_context)
    spoofed = reprocess_event(event, first["name"], source="aws.s3")
    handler.lambda_handler(sqs_batch(sqs_record(spoofed)), lambda_context)
    assert len(executions(stack)) == 1

    handler.lambda_handler(sqs_batch(sqs_record(reprocess_event(event, first["name"]))), lambda_context)
    [second] = [e for e in executions(stack) if e["name"] != first["name"]]
    assert second["name"].startswith("orders-20261125T080000Z-")
    assert manifest_of(stack, second["name"])["source"] == "sweep"
    # The claim is the new run's now: another reprocess naming the first run is a duplicate.
    again = reprocess_event(event, first["name"], time="2026-11-25T09:00:00Z")
    handler.lambda_handler(sqs_batch(sqs_record(again)), lambda_context)
    assert len(executions(stack)) == 2
    assert metric_total(emf_documents(capsys.readouterr().out), "DuplicatesIgnored") == 3


def test_redelivered_batch_resumes_its_own_run(stack, load_handler, put_raw, lambda_context):
    """A batch retried after a timeout claims the same versions under the same name: not duplicates."""
    handler = load_handler("trigger")
    batch = sqs_batch(
        sqs_record(put_raw("incoming/orders/a.csv", CSV)), sqs_record(put_raw("incoming/orders/b.csv", CSV))
    )

    assert handler.lambda_handler(batch, lambda_context) == {"batchItemFailures": []}
    assert handler.lambda_handler(batch, lambda_context) == {"batchItemFailures": []}

    [run] = executions(stack)
    assert len(manifest_of(stack, run["name"])["objects"]) == 2


def test_malformed_message_fails_alone(stack, load_handler, put_raw, lambda_context):
    handler = load_handler("trigger")
    good = sqs_record(put_raw("incoming/orders/a.csv", CSV))
    not_json = sqs_record("this is not json", message_id="bad-1")
    not_s3 = sqs_record({"detail-type": "Something", "detail": {}}, message_id="bad-2")

    response = handler.lambda_handler(sqs_batch(not_json, good, not_s3), lambda_context)

    assert response == {"batchItemFailures": [{"itemIdentifier": "bad-1"}, {"itemIdentifier": "bad-2"}]}
    assert len(executions(stack)) == 1


def test_failed_start_fails_only_that_dataset_and_releases_its_claims(
    stack, load_handler, put_raw, lambda_context, monkeypatch
):
    handler = load_handler("trigger")
    orders = sqs_record(put_raw("incoming/orders/a.csv", CSV), message_id="orders-1")
    clicks = sqs_record(put_raw("incoming/clicks/a.jsonl", b'{"event_id": "e1"}\n'), message_id="clicks-1")
    real_start = handler.starter._start_execution

    def flaky_start(state_machine_arn, execution_input):
        if execution_input.dataset == "clicks":
            raise RuntimeError("throttled")
        return real_start(state_machine_arn, execution_input)

    monkeypatch.setattr(handler.starter, "_start_execution", flaky_start)
    response = handler.lambda_handler(sqs_batch(orders, clicks), lambda_context)

    assert response == {"batchItemFailures": [{"itemIdentifier": "clicks-1"}]}
    assert [execution["name"].split("-")[0] for execution in executions(stack)] == ["orders"]

    # SQS redelivers the failed message alone: its claim was released, so it now starts a run.
    monkeypatch.setattr(handler.starter, "_start_execution", real_start)
    assert handler.lambda_handler(sqs_batch(clicks), lambda_context) == {"batchItemFailures": []}
    assert sorted(execution["name"].split("-")[0] for execution in executions(stack)) == ["clicks", "orders"]


def test_invalid_contract_fails_the_record_instead_of_dropping_it(
    stack, load_handler, lambda_context, monkeypatch, tmp_path: Path
):
    (tmp_path / "orders.yaml").write_text(
        (REPO / "contracts" / "orders.yaml").read_text().replace("csv", "xlsx", 1)
    )
    monkeypatch.setenv("CONTRACTS_DIR", str(tmp_path))
    handler = load_handler("trigger")

    record = sqs_record(eventbridge_object_created("incoming/orders/a.csv"), message_id="m-1")
    assert handler.lambda_handler(sqs_batch(record), lambda_context) == {
        "batchItemFailures": [{"itemIdentifier": "m-1"}]
    }
    assert executions(stack) == []


def test_run_names_are_deterministic_short_and_legal():
    from etl_common.models import ManifestObject
    from trigger.logic import run_id_for

    def obj(key: str, version: str) -> ManifestObject:
        return ManifestObject(
            bucket="raw",
            key=key,
            version_id=version,
            size=1,
            event_time=datetime(2026, 11, 24, 10, 15, tzinfo=UTC),
        )

    objects = [obj("incoming/d/a b+c.csv", "v1"), obj("incoming/d/ü.csv", "v2")]
    dataset = "d" * 64
    name = run_id_for(dataset, objects)

    assert name == run_id_for(dataset, list(reversed(objects)))
    assert name != run_id_for(dataset, [*objects[:1], obj("incoming/d/ü.csv", "v3")])
    assert len(name) <= 80
    # Step Functions forbids whitespace, brackets, wildcards, control and most punctuation characters.
    assert all(char.isascii() and (char.isalnum() or char in "-_") for char in name)


# StartExecution's documented rules for ``name``: 1 to 80 characters, none of whitespace, brackets
# < > { } [ ], wildcards ? *, special characters " # % \ ^ | ~ ` $ & , ; : /, or control characters
# (U+0000-001F, U+007F-009F); CloudWatch logging of the execution needs A-Z a-z 0-9 - _ only.
AWS_FORBIDDEN_IN_NAME = re.compile(r'[\s<>{}\[\]?*"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]')
LOGGABLE_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")

manifest_objects = st.lists(
    st.builds(
        dict,
        bucket=st.text(min_size=1, max_size=63),
        key=st.text(min_size=1, max_size=300),
        version_id=st.none() | st.text(max_size=40),
        etag=st.none() | st.text(max_size=40),
        size=st.integers(min_value=0, max_value=2**40),
        event_time=st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
        ),
    ),
    min_size=1,
    max_size=5,
)


@given(dataset=st.text(max_size=100), objects=manifest_objects)
@settings(max_examples=300, deadline=None)
def test_run_names_satisfy_the_step_functions_rules_for_any_dataset_and_keys(dataset, objects):
    from etl_common.models import ManifestObject
    from trigger.logic import run_id_for

    manifest_objects = [ManifestObject.model_validate(obj) for obj in objects]
    name = run_id_for(dataset, manifest_objects)

    assert 1 <= len(name) <= 80
    assert AWS_FORBIDDEN_IN_NAME.search(name) is None
    assert LOGGABLE_NAME.fullmatch(name)
    assert name == run_id_for(dataset, list(reversed(manifest_objects)))


def test_a_contract_dataset_keeps_its_name_and_others_are_made_legal():
    from etl_common.models import ManifestObject
    from trigger.logic import run_id_for

    objects = [
        ManifestObject(
            bucket="raw",
            key="incoming/x/a.csv",
            size=1,
            event_time=datetime(2026, 11, 24, 10, 15, tzinfo=UTC),
        )
    ]

    assert run_id_for("orders_v2", objects).startswith("orders_v2-20261124T101500Z-")
    assert run_id_for("Q4 report [draft]*/ü", objects).startswith("Q4_report__draft____-20261124T101500Z-")


def test_the_sample_sqs_batch_starts_one_run_per_dataset(stack, load_handler, lambda_context, monkeypatch):
    """events/trigger/sqs-batch.json, as `sam local invoke TriggerFunction -e` would pass it."""
    batch = json.loads((REPO / "events" / "trigger" / "sqs-batch.json").read_text(encoding="utf-8"))
    monkeypatch.setenv("RAW_BUCKET", "tributary-dev-raw-123456789012")
    handler = load_handler("trigger")

    assert handler.lambda_handler(batch, lambda_context) == {"batchItemFailures": []}

    runs = {execution["name"].split("-")[0]: execution["name"] for execution in executions(stack)}
    assert sorted(runs) == ["clicks", "orders"]
    assert sorted(obj["key"] for obj in manifest_of(stack, runs["orders"])["objects"]) == [
        "incoming/orders/2026/11/24/orders-sample.csv",
        "incoming/orders/exports/Q4 report+final (v2).csv",
    ]


key_segments = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/"),
    min_size=1,
    max_size=20,
)


@given(folder=key_segments, stem=key_segments, suffix=st.sampled_from([".csv", ".csv.gz", ".jsonl", ".JSON"]))
@settings(max_examples=200, deadline=None)
def test_any_key_under_a_known_dataset_is_taken_verbatim(folder, stem, suffix):
    from trigger.events import ObjectCreatedEvent
    from trigger.logic import Accepted, classify

    key = f"incoming/orders/{folder}/{stem}{suffix}"
    event = ObjectCreatedEvent.model_validate(eventbridge_object_created(key))

    outcome = classify(event, "m-1", contracts_dir=REPO / "contracts", raw_bucket="tributary-raw")

    assert isinstance(outcome, Accepted)
    assert outcome.obj.key == key and outcome.dataset == "orders"


def test_a_claim_failure_gives_back_the_claims_already_taken(
    stack, load_handler, put_raw, lambda_context, monkeypatch
):
    handler = load_handler("trigger")
    first = sqs_record(put_raw("incoming/orders/a.csv", CSV), message_id="m-a")
    second = sqs_record(put_raw("incoming/orders/b.csv", CSV), message_id="m-b")
    real_claim = handler.claims.claim

    def failing_claim(object_id, run_id):
        if "b.csv" in object_id:
            raise RuntimeError("DynamoDB unavailable")
        return real_claim(object_id, run_id)

    monkeypatch.setattr(handler.claims, "claim", failing_claim)
    response = handler.lambda_handler(sqs_batch(first, second), lambda_context)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-a"}, {"itemIdentifier": "m-b"}]}
    assert executions(stack) == []

    # Redelivered in another batch composition, a.csv is not mistaken for a duplicate.
    monkeypatch.setattr(handler.claims, "claim", real_claim)
    assert handler.lambda_handler(sqs_batch(first), lambda_context) == {"batchItemFailures": []}
    [run] = executions(stack)
    assert [obj["key"] for obj in manifest_of(stack, run["name"])["objects"]] == ["incoming/orders/a.csv"]


@pytest.mark.parametrize("version_id", [None, "null"])
def test_unversioned_objects_are_identified_by_their_etag(stack, load_handler, lambda_context, version_id):
    handler = load_handler("trigger")
    event = eventbridge_object_created("incoming/orders/a.csv", version_id=version_id, etag="abc123")

    assert handler.lambda_handler(sqs_batch(sqs_record(event)), lambda_context) == {"batchItemFailures": []}

    [run] = executions(stack)
    [obj] = manifest_of(stack, run["name"])["objects"]
    assert (obj["version_id"], obj["etag"]) == (None, "abc123")
    # A second upload of the same key with other content is another object version.
    changed = eventbridge_object_created("incoming/orders/a.csv", version_id=version_id, etag="def456")
    handler.lambda_handler(sqs_batch(sqs_record(changed)), lambda_context)
    assert len(executions(stack)) == 2


@pytest.mark.slow
def test_a_batch_of_the_default_size_becomes_one_run_per_dataset_with_a_small_execution_input(
    stack, load_handler, lambda_context
):
    """TriggerBatchSize's default (1000): one manifest holds them all; the state machine's input stays a
    few hundred bytes whatever the count (claim check), far below Step Functions' 256 KB."""
    from tests.template.cfn import load_template

    size = int(load_template()["Parameters"]["TriggerBatchSize"]["Default"])
    handler = load_handler("trigger")
    records = [
        sqs_record(
            eventbridge_object_created(
                f"incoming/{'orders' if index % 2 else 'clicks'}/burst/{index:05d}.csv",
                version_id=f"v{index}",
                size=100,
            )
        )
        for index in range(size)
    ]

    assert handler.lambda_handler(sqs_batch(*records), lambda_context) == {"batchItemFailures": []}

    runs = executions(stack)
    assert sorted(run["name"].split("-")[0] for run in runs) == ["clicks", "orders"]
    sfn = boto3.client("stepfunctions")
    for run in runs:
        assert len(manifest_of(stack, run["name"])["objects"]) == size // 2
        assert len(sfn.describe_execution(executionArn=run["executionArn"])["input"]) < 500
