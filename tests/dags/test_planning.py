"""What the DAG decides before it starts the state machine (dags/tributary_mwaa/planning.py), held to the
parts it must agree with: the trigger's run names, etl_common's documents and the run record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from etl_common import objects as etl_objects
from etl_common import runs as etl_runs
from etl_common.aws import reset_clients
from etl_common.models import ExecutionInput, Manifest, ManifestObject
from moto import mock_aws
from tributary_mwaa import planning
from trigger.claims import ObjectClaims
from trigger.logic import run_id_for

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
DAY = planning.Window(T0, T0 + timedelta(days=1), "sweep")


def _listed(key: str, *, minutes: int = 5, size: int = 10, version: str | None = "v1") -> dict[str, Any]:
    entry: dict[str, Any] = {
        "Key": key,
        "Size": size,
        "ETag": '"etag-' + key + '"',
        "LastModified": T0 + timedelta(minutes=minutes),
        "IsLatest": True,
    }
    if version is not None:
        entry["VersionId"] = version
    return entry


def test_the_window_takes_every_runnable_version_of_the_dataset_and_nothing_else() -> None:
    listed = [
        _listed("incoming/orders/a.csv"),
        _listed("incoming/orders/a.csv", version="v2", minutes=6),  # a second upload of the key: run too
        _listed("incoming/orders/day=1/b.jsonl.gz", version="null"),
        _listed("incoming/orders/c.CSV"),
        _listed("incoming/orders/"),  # folder marker
        _listed("incoming/orders/sub/"),  # folder marker
        _listed("incoming/orders/empty.csv", size=0),
        _listed("incoming/orders/notes.txt"),  # unsupported suffix
        _listed("incoming/orders_v2/d.csv"),  # another dataset sharing the prefix's letters
        _listed("incoming/orders/early.csv", minutes=-1),  # before the window
        _listed("incoming/orders/at-end.csv", minutes=24 * 60),  # the window's end is excluded
        _listed("incoming/orders/at-start.csv", minutes=0),  # its start is included
    ]
    found = planning.versions_in_window("raw", "orders", listed, DAY)
    assert [(obj.key, obj.version_id) for obj in found] == [
        ("incoming/orders/a.csv", "v1"),
        ("incoming/orders/a.csv", "v2"),
        ("incoming/orders/at-start.csv", "v1"),
        ("incoming/orders/c.CSV", "v1"),
        ("incoming/orders/day=1/b.jsonl.gz", None),
    ]
    assert found[0].etag == "etag-incoming/orders/a.csv"


def test_identities_and_suffixes_are_those_of_etl_common() -> None:
    assert set(planning.SUPPORTED_SUFFIXES) == set(etl_objects.SUPPORTED_SUFFIXES)
    assert planning.MAX_KEYS_IN_RECORD == etl_runs.MAX_KEYS_IN_RECORD
    versioned, unversioned = planning.versions_in_window(
        "raw",
        "orders",
        [_listed("incoming/orders/a.csv"), _listed("incoming/orders/b.csv", version="null")],
        DAY,
    )
    assert versioned.object_id == etl_objects.object_id("raw", "incoming/orders/a.csv", "v1")
    # An unversioned object is told apart by its ETag, as the trigger does.
    assert unversioned.object_id == etl_objects.object_id("raw", "incoming/orders/b.csv", unversioned.etag)


def test_a_run_is_named_as_the_trigger_names_the_same_versions() -> None:
    listed = [_listed(f"incoming/odd dataset/{index}.csv", minutes=index) for index in range(3)]
    found = planning.versions_in_window("raw", "odd dataset", listed, DAY)
    as_trigger = [
        ManifestObject(
            bucket=obj.bucket,
            key=obj.key,
            version_id=obj.version_id,
            etag=obj.etag,
            size=obj.size,
            event_time=obj.last_modified,
        )
        for obj in found
    ]
    assert planning.run_name("odd dataset", found) == run_id_for("odd dataset", as_trigger)
    assert planning.run_name("odd dataset", reversed(found)) == planning.run_name("odd dataset", found)
    assert planning.run_name("odd dataset", found[:2]) != planning.run_name("odd dataset", found)


def test_the_documents_are_the_pipelines_own() -> None:
    found = planning.versions_in_window(
        "raw",
        "orders",
        [_listed("incoming/orders/b.csv"), _listed("incoming/orders/a.csv", version=None)],
        DAY,
    )
    (run,) = planning.plan_runs("orders", found, set(), 1000)
    manifest = Manifest.model_validate(
        run.manifest(kind="backfill", principal="airflow:dag", request_id="r1")
    )
    assert manifest.run_id == run.run_id and manifest.source == "sweep"
    assert [obj.key for obj in manifest.objects] == ["incoming/orders/a.csv", "incoming/orders/b.csv"]
    assert {obj.object_id for obj in manifest.objects} == {obj.object_id for obj in found}
    assert all(obj.trigger and obj.trigger.kind == "backfill" for obj in manifest.objects)
    assert manifest.created_at == max(obj.last_modified for obj in found)
    assert planning.manifest_object_ids(manifest.model_dump(mode="json")) == {obj.object_id for obj in found}

    execution_input = ExecutionInput.model_validate(run.execution_input("artifacts"))
    assert execution_input.manifest_uri == f"s3://artifacts/runs/{run.run_id}/manifest.json"
    assert execution_input.object_count == 2

    arn = planning.execution_arn("arn:aws:states:us-east-1:1:stateMachine:sm", run.run_id)
    assert arn == f"arn:aws:states:us-east-1:1:execution:sm:{run.run_id}"
    record = run.queued_record(artifacts_bucket="artifacts", execution_arn=arn, now=T0)
    assert record["status"] == "QUEUED" and record["execution_arn"] == arn
    assert record["manifest_uri"] == execution_input.manifest_uri
    assert record["objects"] == ["incoming/orders/a.csv", "incoming/orders/b.csv"]


def test_versions_a_run_holds_are_left_out_and_the_rest_is_cut_into_runs() -> None:
    listed = [_listed(f"incoming/orders/{index:02}.csv") for index in range(7)]
    found = planning.versions_in_window("raw", "orders", listed, DAY)
    taken = {found[0].object_id, found[3].object_id}
    runs = planning.plan_runs("orders", found, taken, 2)
    assert [len(run.objects) for run in runs] == [2, 2, 1]
    planned = [obj for run in runs for obj in run.objects]
    assert {obj.object_id for obj in planned} == {obj.object_id for obj in found} - taken
    assert len({run.run_id for run in runs}) == 3
    assert planning.plan_runs("orders", found, {obj.object_id for obj in found}, 2) == []
    for bad in (0, planning.MAX_OBJECTS_PER_RUN + 1):
        with pytest.raises(planning.PlanError, match="max_objects_per_run must be between 1 and 2000"):
            planning.plan_runs("orders", found, set(), bad)


def test_batch_and_backfill_windows() -> None:
    start, end = T0, T0 + timedelta(days=1)
    assert planning.window(None, None, start, end) == planning.Window(start, end, "sweep")
    backfill = planning.window("2026-11-01", "2026-11-03T12:00:00+01:00", start, end)
    assert backfill == planning.Window(
        datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 3, 11, tzinfo=UTC), "backfill"
    )
    assert planning.window("2026-12-07T09:00:00Z", None, start, end).end == end
    assert planning.window(None, "2026-12-07T11:00", start, end).start == start
    with pytest.raises(planning.PlanError, match=r"start: 'yesterday' is not an ISO-8601 date or date-time"):
        planning.window("yesterday", None, start, end)
    with pytest.raises(planning.PlanError, match=r"start \(2026-12-09T00:00:00Z\) must be before end"):
        planning.window("2026-12-09", "2026-12-08", start, end)
    assert planning.runs_created_since(backfill) == "2026-10-31T00:00:00Z"


def test_stack_outputs_in_either_form_and_what_is_missing() -> None:
    outputs = {
        "PipelineStateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:sm",
        "RawBucketName": "raw",
        "ArtifactsBucketName": "artifacts",
        "RunsTableName": "runs",
        "LineageTableName": "lineage",
        "IdempotencyTableName": "claims",
        "DashboardUrl": "ignored",
    }
    stack = planning.Stack.from_outputs(outputs)
    as_listed = [{"OutputKey": key, "OutputValue": value} for key, value in outputs.items()]
    assert (
        planning.Stack.from_outputs({"Outputs": as_listed}) == stack == planning.Stack.from_outputs(as_listed)
    )
    other = planning.Stack.from_outputs(
        outputs, state_machine_arn="arn:aws:states:us-east-1:1:stateMachine:x"
    )
    assert other.state_machine_arn.endswith(":x") and other.raw_bucket == "raw"
    with pytest.raises(
        planning.PlanError, match="lack RunsTableName, LineageTableName, IdempotencyTableName"
    ):
        planning.Stack.from_outputs({k: v for k, v in outputs.items() if not k.endswith("TableName")})
    with pytest.raises(planning.PlanError, match="not a state machine ARN: 'sm'"):
        planning.Stack.from_outputs({**outputs, "PipelineStateMachineArn": "sm"})
    with pytest.raises(planning.PlanError, match="must be a JSON object or list, not str"):
        planning.Stack.from_outputs("raw")


def test_dataset_names_are_checked() -> None:
    assert planning.datasets(["orders", " clicks ", "orders"]) == ["clicks", "orders"]
    with pytest.raises(planning.PlanError, match="no dataset: set the datasets parameter"):
        planning.datasets([])
    with pytest.raises(planning.PlanError, match=r"not dataset names .*\['Orders', 'a/b'\]"):
        planning.datasets(["Orders", "a/b"])


def test_run_record_numbers_become_plain_json() -> None:
    item = {"run_id": "r", "status": "SUCCEEDED", "rows_read": Decimal(50), "partition_count": Decimal("3")}
    item |= {"objects": ["k"], "cause": "c", "reject_ratio_unlisted": Decimal("0.5")}
    assert planning.record_summary(item) == {
        "run_id": "r",
        "status": "SUCCEEDED",
        "rows_read": 50,
        "partition_count": 3,
        "cause": "c",
    }


def test_a_queued_run_is_started_again_only_once_it_is_old_enough() -> None:
    def record(run_id: str, minutes_ago: float, **extra: Any) -> dict[str, Any]:
        updated = T0 - timedelta(minutes=minutes_ago)
        return {
            "run_id": run_id,
            "status": "QUEUED",
            "dataset": "orders",
            "manifest_uri": f"s3://artifacts/runs/{run_id}/manifest.json",
            "object_count": Decimal(2),
            "updated_at": updated.strftime("%Y-%m-%dT%H:%M:%SZ"),
            **extra,
        }

    items = [
        record("old", 20),
        record("young", 5),  # may be starting right now
        record("running", 30, status="RUNNING"),
        record("no-manifest", 30, manifest_uri=""),
        record("bad-time", 30, updated_at="soon"),
    ]
    (stale,) = planning.stale_queued(items, now=T0, min_age=timedelta(minutes=15))
    assert stale.run_id == "old"
    start = stale.start("arn:aws:states:us-east-1:1:stateMachine:sm")
    assert start["name"] == "old" and start["state_machine_arn"].endswith(":sm")
    assert ExecutionInput.model_validate(start["state_machine_input"]).object_count == 2
    assert [q.run_id for q in planning.stale_queued(items, now=T0, min_age=timedelta(0))] == ["old", "young"]


@pytest.fixture
def claims_table(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The trigger's idempotency table (the template's IdempotencyTable) in moto."""
    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        reset_clients()
        dynamodb = boto3.resource("dynamodb")
        table = dynamodb.create_table(
            TableName="claims",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield table
        reset_clients()


@pytest.mark.filterwarnings("ignore:Couldn't determine the remaining time")
def test_a_version_the_dag_claimed_is_a_duplicate_to_the_trigger(claims_table: Any) -> None:
    object_id = "s3://raw/incoming/orders/a b+ü.csv#v1"
    claims_table.put_item(**planning.claim_request(object_id, "orders-dag-run", datetime.now(UTC)))
    trigger = ObjectClaims("claims", ttl_seconds=7 * 24 * 3600)
    # The trigger's own claim, for the run of a late upload event, returns the DAG's run as the owner.
    assert trigger.claim(object_id, "orders-trigger-run") == "orders-dag-run"
    assert planning.claim_owner(claims_table.get_item(Key={"id": planning.claim_key(object_id)})["Item"]) == (
        "orders-dag-run"
    )


@pytest.mark.filterwarnings("ignore:Couldn't determine the remaining time")
def test_a_version_the_trigger_claimed_is_refused_to_the_dag(claims_table: Any) -> None:
    object_id = "s3://raw/incoming/orders/b.csv#v1"
    trigger = ObjectClaims("claims", ttl_seconds=7 * 24 * 3600)
    assert trigger.claim(object_id, "orders-trigger-run") == "orders-trigger-run"
    with pytest.raises(claims_table.meta.client.exceptions.ConditionalCheckFailedException):
        claims_table.put_item(**planning.claim_request(object_id, "orders-dag-run", datetime.now(UTC)))
    item = claims_table.get_item(Key={"id": planning.claim_key(object_id)})["Item"]
    assert planning.claim_owner(item) == "orders-trigger-run"
    # An expired claim is claimed again, as Powertools does.
    later = datetime.now(UTC) + planning.CLAIM_TTL + timedelta(minutes=1)
    claims_table.put_item(**planning.claim_request(object_id, "orders-dag-run", later))
    assert planning.claim_owner(claims_table.get_item(Key={"id": planning.claim_key(object_id)})["Item"]) == (
        "orders-dag-run"
    )


def test_claim_owners_of_odd_records() -> None:
    assert planning.claim_owner(None) is None
    assert planning.claim_owner({"status": "INPROGRESS"}) == ""
    assert planning.claim_owner({"status": "COMPLETED", "data": "not json"}) == ""
    found = planning.versions_in_window("raw", "orders", [_listed("incoming/orders/a.csv")], DAY)
    (run,) = planning.plan_runs("orders", found, set(), 10)
    assert run.keeping(set()).objects == () and run.keeping(set()).run_id == run.run_id
    assert run.keeping({found[0].object_id}) == run
