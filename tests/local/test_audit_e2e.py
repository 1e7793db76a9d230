"""The audit trail end to end on the local stack (template.yaml, the Glue job on local Spark): for a
curated row, its run record and lineage answer which upload (object version) it came from, who uploaded
it and when, which run processed it, under which contract version, against which reference data version.

The orders_checked example: its customer list (reference data) is uploaded twice, so that the run must
record the version it read, not merely the latest; an order of an unknown customer is a rejected row.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow.parquet as pq
import pytest
from boto3.dynamodb.types import TypeDeserializer

from tributary.cli import main
from tributary.local.commands import operate
from tributary.local.commands.one_shot import OneShotResult, run_files
from tributary.local.runtimes.athena_runtime import parse_s3_uri
from tributary.local.stack import LocalStack, StackOptions

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "events" / "reference" / "customers.csv"
SAMPLE = REPO / "events" / "data" / "orders_checked-sample.csv"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("local_stack_e2e"),  # one stack, one worker
    pytest.mark.skipif(shutil.which("java") is None, reason="needs Java for local Spark"),
]


def item(raw: dict[str, Any]) -> dict[str, Any]:
    deserialize = TypeDeserializer().deserialize
    return {name: deserialize(value) for name, value in raw.items()}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    # SmallRunMaxBytes=0: the Glue job on local Spark runs the plan with the reference values.
    options = StackOptions(
        REPO,
        work_dir=tmp_path_factory.mktemp("audit-stack"),
        batch_window_cap=1.0,
        real_time=True,
        parameter_overrides={"SmallRunMaxBytes": "0"},
    )
    with LocalStack(options) as local:
        yield local


@pytest.fixture(scope="module")
def run(stack: LocalStack) -> tuple[OneShotResult, dict[str, str]]:
    s3 = stack.aws.client("s3")
    bucket = stack.physical_id("RawBucket")
    # An older customer list first: the run must record the version current when it is validated.
    older = s3.put_object(Bucket=bucket, Key="reference/customers.csv", Body=b"customer_id\nC0001\n")
    result = run_files(stack, [REFERENCE, SAMPLE], timeout=900, progress=False)
    versions = s3.list_object_versions(Bucket=bucket, Prefix="reference/customers.csv")["Versions"]
    [current] = [version for version in versions if version["IsLatest"]]
    assert current["VersionId"] != older["VersionId"]
    return result, {"version_id": current["VersionId"], "etag": current["ETag"].strip('"')}


def test_a_curated_rows_record_and_lineage_answer_the_audit_questions(
    stack: LocalStack, run: tuple[OneShotResult, dict[str, str]]
) -> None:
    result, reference = run
    assert result.skipped == [] and not result.timed_out, result.to_json()
    [report] = result.reports
    assert (report.dataset, report.status) == ("orders_checked", "SUCCEEDED"), report
    assert (report.rows_in, report.rows_rejected) == (10, 2)  # two orders of unknown customers
    s3 = stack.aws.client("s3")
    dynamodb = stack.aws.client("dynamodb")
    raw_bucket = stack.physical_id("RawBucket")

    # A curated row names its upload (key and version) and run.
    bucket, key = parse_s3_uri(report.outputs[0])
    table = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
    row = table.slice(0, 1).to_pylist()[0]
    upload_key, upload_version = row["source_object_key"], row["source_object_version"]
    run_id = key.split("/run_id=", 1)[1].split("/", 1)[0]  # a path column (Hive-style partition)
    assert (upload_key, run_id) == ("incoming/orders_checked/orders_checked-sample.csv", report.run_id)
    head = s3.head_object(Bucket=raw_bucket, Key=upload_key, VersionId=upload_version)
    assert head["VersionId"] == upload_version

    # Its lineage item: the upload, who uploaded it and when, the contract and reference versions.
    lineage = item(
        dynamodb.get_item(
            TableName=stack.physical_id("LineageTable"),
            Key={
                "object_id": {"S": f"s3://{raw_bucket}/{upload_key}#{upload_version}"},
                "run_id": {"S": run_id},
            },
        )["Item"]
    )
    account = stack.aws.client("sts").get_caller_identity()["Account"]
    assert lineage["source_version_id"] == upload_version and lineage["source_key"] == upload_key
    assert lineage["source_etag"] == head["ETag"].strip('"')
    assert lineage["uploaded_at"].startswith(head["LastModified"].strftime("%Y-%m-%dT%H:%M"))
    assert (lineage["trigger_kind"], lineage["trigger_principal"]) == ("upload", account)
    assert lineage["trigger_source_ip"] == "127.0.0.1" and lineage["trigger_reason"] == "PutObject"
    assert lineage["trigger_request_id"]
    assert lineage["contract_version"] == "2026.12.1" and len(lineage["contract_sha256"]) == 64
    [used] = lineage["references"]
    assert (used["name"], used["key"], used["bucket"]) == ("customers", "reference/customers.csv", raw_bucket)
    assert (used["version_id"], used["etag"], used["values"]) == (
        reference["version_id"],
        reference["etag"],
        8,
    )

    # The run record: the same answers per run, and the run found by who caused it.
    record = item(
        dynamodb.get_item(TableName=stack.physical_id("RunsTable"), Key={"run_id": {"S": run_id}})["Item"]
    )
    assert (record["status"], record["transform_path"]) == ("SUCCEEDED", "glue")
    assert (record["trigger_kind"], record["trigger_principal"]) == ("upload", account)
    assert record["triggers"] == [
        {"kind": "upload", "principal": account, "source_ip": "127.0.0.1", "objects": 1}
    ]
    assert (record["contract_version"], record["contract_sha256"]) == (
        lineage["contract_version"],
        lineage["contract_sha256"],
    )
    assert record["references"] == lineage["references"]
    found = dynamodb.query(
        TableName=stack.physical_id("RunsTable"),
        IndexName="by-trigger-principal-created",
        KeyConditionExpression="trigger_principal = :who",
        ExpressionAttributeValues={":who": {"S": account}},
    )["Items"]
    assert run_id in [entry["run_id"]["S"] for entry in found]

    # The manifest keeps each object's trigger, the request id with it (CloudTrail's requestID).
    manifest_bucket, manifest_key = parse_s3_uri(str(record["manifest_uri"]))
    manifest = s3.get_object(Bucket=manifest_bucket, Key=manifest_key)["Body"].read()
    assert lineage["trigger_request_id"].encode() in manifest


def test_tributary_runs_lists_the_runs_a_principal_caused(
    stack: LocalStack,
    run: tuple[OneShotResult, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    [report] = run[0].reports
    info = SimpleNamespace(client=stack.aws.client, runs_table=stack.physical_id("RunsTable"))
    monkeypatch.setattr(operate, "_readable", lambda args: info)
    account = stack.aws.client("sts").get_caller_identity()["Account"]

    assert main(["runs", "--triggered-by", account, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(entry["run_id"], entry["trigger_principal"]) for entry in listed] == [(report.run_id, account)]
    assert main(["runs", "--triggered-by", "arn:aws:iam::123456789012:user/nobody", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_the_quality_checks_rejected_the_orders_of_unknown_customers_by_the_reference(
    stack: LocalStack, run: tuple[OneShotResult, dict[str, str]]
) -> None:
    result, _ = run
    [report] = result.reports
    rules = {(rule["column"], rule["rule"]): rule["failed_rows"] for rule in report.quality["rules"]}
    assert rules[("customer_id", "allowed_values")] == 2
