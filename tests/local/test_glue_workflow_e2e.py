"""The Glue Workflow variant (templates/glue-workflow.yaml) on the local stack, on the sample files: the
uploads' events reach the workflow's EVENT trigger through EventBridge, one batch starts one workflow
run, its transform step validates and runs glue/transform.py on local Spark, and the publish step
registers the partitions in the Glue catalog."""

from __future__ import annotations

import io
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest

from tributary.local.stack import LocalStack, StackOptions

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "templates" / "glue-workflow.yaml"
SAMPLES = {
    "incoming/orders/orders-sample.csv": REPO / "events" / "data" / "orders-sample.csv",
    "incoming/clicks/clicks-sample.jsonl": REPO / "events" / "data" / "clicks-sample.jsonl",
}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("local_stack_e2e"),
    pytest.mark.skipif(shutil.which("java") is None, reason="needs Java for local Spark"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    # The batch window (EventBatchWindowSeconds, 60 s in templates/samconfig.toml) shortened to 2 s.
    options = StackOptions(
        REPO, template_file=TEMPLATE, work_dir=tmp_path_factory.mktemp("wf"), batch_window_cap=2.0
    )
    with LocalStack(options) as local:
        yield local


def _wait_for_run(stack: LocalStack, timeout: float) -> dict[str, Any]:
    glue = boto3.client(  # through the local Glue endpoint, as a user's boto3 would
        "glue",
        endpoint_url=stack.endpoints["GLUE"],
        region_name=stack.aws.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    workflow = stack.physical_id("Workflow")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = glue.get_workflow_runs(Name=workflow)["Runs"]
        if runs and runs[0]["Status"] != "RUNNING":
            return dict(runs[0])
        time.sleep(1)
    raise AssertionError(f"no workflow run ended in {timeout} s")


@pytest.fixture(scope="module")
def workflow_run(stack: LocalStack) -> dict[str, Any]:
    s3 = stack.aws.client("s3")
    raw = stack.physical_id("RawBucket")
    started = time.monotonic()
    for key, path in SAMPLES.items():
        s3.put_object(Bucket=raw, Key=key, Body=path.read_bytes())
    run = _wait_for_run(stack, 900)
    run["seconds"] = time.monotonic() - started
    print(f"upload to COMPLETED: {run['seconds']:.1f} s")
    return run


def test_one_batch_one_run_both_steps_succeed(stack: LocalStack, workflow_run: dict[str, Any]) -> None:
    assert workflow_run["Status"] == "COMPLETED"
    assert workflow_run["Statistics"]["SucceededActions"] == 2, workflow_run["Statistics"]
    assert workflow_run["Statistics"]["FailedActions"] == 0
    assert workflow_run["StartingEventBatchCondition"]["BatchSize"] == 2
    properties = workflow_run["WorkflowRunProperties"]
    assert len(json.loads(properties["aws:eventIds"])) == 2
    runs = json.loads(properties["tributary:runs"])
    assert sorted(run["dataset"] for run in runs) == ["clicks", "orders"]
    assert json.loads(properties["tributary:missingEventIds"]) == []
    # the batch's events were taken from the queue
    sqs = stack.aws.client("sqs")
    url = stack.physical_id("WorkflowEventsQueue")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_parquet_and_partitions(stack: LocalStack, workflow_run: dict[str, Any]) -> None:
    s3 = stack.aws.client("s3")
    glue = stack.aws.client("glue")
    curated = stack.physical_id("CuratedBucket")
    database = "tributary_workflow_dev"
    runs = {
        run["dataset"]: run for run in json.loads(workflow_run["WorkflowRunProperties"]["tributary:runs"])
    }
    for dataset, run in runs.items():
        keys = [
            item["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=curated, Prefix=f"{dataset}/")
            for item in page.get("Contents", [])
            if item["Key"].endswith(".parquet")
        ]
        assert keys, dataset
        assert all(f"/run_id={run['run_id']}/" in key for key in keys)
        rows = sum(
            pq.read_table(io.BytesIO(s3.get_object(Bucket=curated, Key=key)["Body"].read())).num_rows
            for key in keys
        )
        result = json.loads(
            s3.get_object(
                Bucket=stack.physical_id("ArtifactsBucket"), Key=f"runs/{run['run_id']}/result.json"
            )["Body"].read()
        )
        assert rows == result["rows_written"] > 0
        table = glue.get_table(DatabaseName=database, Name=dataset)["Table"]
        assert [key["Name"] for key in table["PartitionKeys"]][-1] == "run_id"
        partitions = glue.get_partitions(DatabaseName=database, TableName=dataset)["Partitions"]
        registered = {(tuple(p["Values"]), p["StorageDescriptor"]["Location"]) for p in partitions}
        expected = {
            (tuple(str(v) for v in entry["values"].values()), entry["location"])
            for entry in result["partitions"]
        }
        assert registered == expected and expected
    # orders-sample.csv has bad rows on purpose: they are rejects, not failures
    assert int(runs["orders"]["accepted"]) == 1
