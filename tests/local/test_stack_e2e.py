"""The whole pipeline on the local stack, from template.yaml: uploads become Parquet, partitions,
run records, lineage and notifications; a malformed file is refused, recorded and quarantined."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tributary.local.commands.one_shot import OneShotResult, run_files
from tributary.local.runtimes.athena_runtime import AthenaRuntime, parse_s3_uri
from tributary.local.stack import NOTIFICATIONS_QUEUE, LocalStack, StackOptions

REPO = Path(__file__).resolve().parents[2]
SAMPLES = [REPO / "events" / "data" / "orders-sample.csv", REPO / "events" / "data" / "clicks-sample.jsonl"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("local_stack_e2e"),  # one stack, one worker
    pytest.mark.skipif(shutil.which("java") is None, reason="needs Java for local Spark"),
    pytest.mark.skipif(
        not all(p.exists() for p in [REPO / "template.yaml", REPO / "glue" / "transform.py", *SAMPLES]),
        reason="the application is not complete yet",
    ),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    options = StackOptions(
        REPO, work_dir=tmp_path_factory.mktemp("stack"), batch_window_cap=1.0, real_time=True
    )
    with LocalStack(options) as local:
        yield local


@pytest.fixture(scope="module")
def samples(stack: LocalStack) -> OneShotResult:
    return run_files(stack, SAMPLES, timeout=900, progress=False)


def _notifications(stack: LocalStack) -> list[dict[str, Any]]:
    sqs = stack.aws.client("sqs")
    url = sqs.get_queue_url(QueueName=NOTIFICATIONS_QUEUE)["QueueUrl"]
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        if not batch:
            return messages
        for message in batch:
            messages.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_both_datasets_become_queryable_parquet_with_records_lineage_and_notifications(
    stack: LocalStack, samples: OneShotResult
) -> None:
    assert samples.skipped == [] and not samples.timed_out
    assert sorted(r.dataset or "" for r in samples.reports) == ["clicks", "orders"]
    s3 = stack.aws.client("s3")
    dynamodb = stack.aws.client("dynamodb")
    athena = AthenaRuntime(stack.aws.client)
    notifications = _notifications(stack)
    for report in samples.reports:
        assert report.status == "SUCCEEDED", report
        assert report.rows_out and report.rows_out > 0
        assert report.rows_in == report.rows_out + (report.rows_rejected or 0)
        # Parquet content
        rows = 0
        for output in report.outputs:
            bucket, key = parse_s3_uri(output)
            table = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
            # run_id and the date are partition columns: in the path, not in the file
            assert f"/run_id={report.run_id}/" in key
            assert {"source_object_key", "ingested_at"} <= set(table.column_names)
            assert "run_id" not in table.column_names
            rows += table.num_rows
        assert rows == report.rows_out
        # partitions registered and queryable
        query_id = athena.start_query_execution(
            QueryString=f"SELECT count(*) FROM {report.dataset} WHERE run_id = '{report.run_id}'",
            QueryExecutionContext={"Database": stack.physical_id("GlueDatabase")},
            WorkGroup=stack.physical_id("AthenaWorkGroup"),
        )["QueryExecutionId"]
        execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
        result_rows = athena.get_query_results(QueryExecutionId=query_id)["ResultSet"]["Rows"]
        assert result_rows[1]["Data"][0]["VarCharValue"] == str(report.rows_out)
        # run record and lineage
        record = dynamodb.get_item(
            TableName=stack.physical_id("RunsTable"), Key={"run_id": {"S": report.run_id}}
        )["Item"]
        assert record["status"]["S"] == "SUCCEEDED"
        assert int(record["rows_written"]["N"]) == report.rows_out
        lineage = dynamodb.scan(TableName=stack.physical_id("LineageTable"))["Items"]
        assert any(item["run_id"]["S"] == report.run_id for item in lineage)
        # notification
        assert any(report.run_id in n.get("Message", "") for n in notifications), notifications


def test_a_malformed_file_is_rejected_recorded_quarantined_and_alerted(
    stack: LocalStack, samples: OneShotResult, tmp_path: Path
) -> None:
    broken = tmp_path / "orders-broken é.csv"
    broken.write_bytes(b"this,is,not\x00,the,orders,header\n\xff\xfe garbage\n")
    result = run_files(stack, [broken], timeout=600, progress=False)
    assert result.exit_code == 1
    (report,) = result.reports
    assert report.status in ("FAILED", "QUARANTINED"), report
    (obj,) = report.objects
    assert obj.outcome == "rejected" and obj.reason
    s3 = stack.aws.client("s3")
    raw = stack.physical_id("RawBucket")
    original = s3.get_object(Bucket=raw, Key="incoming/orders/orders-broken é.csv")["Body"].read()
    assert original == broken.read_bytes()  # the original is untouched
    record = stack.aws.client("dynamodb").get_item(
        TableName=stack.physical_id("RunsTable"), Key={"run_id": {"S": report.run_id}}
    )["Item"]
    assert record["status"]["S"] in ("FAILED", "QUARANTINED")
    if report.quarantine_uri:
        bucket, prefix = parse_s3_uri(report.quarantine_uri)
        copies = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        assert copies, "the quarantine holds a copy"
    assert any(report.run_id in n.get("Message", "") for n in _notifications(stack))


def test_an_upload_of_an_unknown_dataset_starts_no_run_and_says_why(
    stack: LocalStack, tmp_path: Path
) -> None:
    unknown = tmp_path / "inventory-2026.csv"
    unknown.write_text("sku,count\na,1\n")
    result = run_files(stack, [unknown], timeout=120, progress=False)
    assert result.reports == [] and result.exit_code == 1
    (entry,) = json.loads(result.to_json())
    assert entry["status"] == "SKIPPED"
    assert entry["objects"][0]["key"] == "incoming/inventory/inventory-2026.csv"
    assert entry["objects"][0]["reason"]
