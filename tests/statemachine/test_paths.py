"""The paths that are not one Task's errors: the happy path, a run with nothing to register, nothing
accepted by validate, and the quality gate refusing the job's result."""

from __future__ import annotations

import json

from tests.statemachine.checks import FAILURE_ROUTE, RESULT_URI, Run, check_failure_route, expect, verify
from tests.statemachine.pipeline import EXECUTION_INPUT, RUN_ID, SUBSTITUTIONS, Mocks, Pipeline, details

HAPPY = [
    "InitRun",
    "RecordStart",
    "ValidateObjects",
    "AnyObjectAccepted",
    "TransformAndCatalog",
    "RunTransformJob",
    "SyncCatalogTable",
    "ReadTransformResult",
    "QualityGate",
    "RegisterPartitions",
    "PublishRun",
    "RecordSuccess",
    "RecordLineage",
    "NotifySuccess",
    "RunSucceeded",
]


def mocked_return(mocks: Mocks, case: str, state: str) -> dict:
    return mocks.answer(mocks.response_of(case, state), 0)["Return"]


def test_happy_path(pipeline: Pipeline, mocks: Mocks, runs: dict[str, Run], happy: list[str]) -> None:
    run = runs["HappyPath"]
    assert happy == HAPPY
    verify(pipeline, mocks, "HappyPath", run, happy)
    history = run.history
    assert not {"TaskFailed", "TaskTimedOut", "ParallelStateFailed"} & set(history.types())
    for task in pipeline.tasks:
        calls = len(run.history_of(pipeline, task).of_type(task, "TaskScheduled"))
        assert calls == (0 if task in FAILURE_ROUTE else 1), task
    # Nothing waits on the happy path: no virtual time passes.
    assert history.events[-1]["timestamp"] == history.events[0]["timestamp"]

    # ReadTransformResult reads the run's summary.json; RegisterPartitions reads partition-batches.json
    # and registers each batch in a child execution of its own.
    read = history.parameters("ReadTransformResult")[0]
    assert read["Key"] == f"runs/{RUN_ID}/summary.json"
    summary = json.loads(mocked_return(mocks, "HappyPath", "ReadTransformResult")["Body"])
    batches = json.loads(mocked_return(mocks, "HappyPath", "RegisterPartitions")["Body"])
    assert summary["partition_count"] == 1 and len(batches) == 1
    (map_started,) = [e for e in history.events if e["type"] == "MapStateStarted"]
    assert details(map_started)["length"] == len(batches)
    job = mocked_return(mocks, "HappyPath", "RunTransformJob")
    (query,) = run.map_run.parameters("RegisterPartitionBatch")
    assert query["QueryString"] == "ALTER TABLE `{}`.`{}` ADD IF NOT EXISTS {}".format(
        mocked_return(mocks, "HappyPath", "SyncCatalogTable")["Payload"]["database"],
        mocked_return(mocks, "HappyPath", "SyncCatalogTable")["Payload"]["table"],
        batches[0]["clause"],
    )
    (success,) = history.parameters("RecordSuccess")
    values = success["ExpressionAttributeValues"]
    assert values[":glue_job_run_id"] == {"S": job["Id"]}
    assert values[":rows_written"] == {"N": str(summary["rows_written"])}
    assert values[":partition_count"] == {"N": str(summary["partition_count"])}
    (notify,) = history.parameters("NotifySuccess")
    message = json.loads(notify["Message"])
    assert (message["status"], message["rows_written"]) == ("SUCCEEDED", summary["rows_written"])
    assert message["partition_count"] == summary["partition_count"]
    assert notify["MessageAttributes"]["status"]["StringValue"] == "SUCCEEDED"


def test_a_run_with_no_rows_succeeds_without_registering(
    pipeline: Pipeline, mocks: Mocks, runs: dict[str, Run]
) -> None:
    run = runs["NothingToRegister"]
    verify(pipeline, mocks, "NothingToRegister", run, [s for s in HAPPY if s != "RegisterPartitions"])
    assert "RegisterPartitions" not in run.history.entered()
    assert run.map_run.task_events("RegisterPartitionBatch") == []
    (success,) = run.history.parameters("RecordSuccess")
    assert success["ExpressionAttributeValues"][":partition_count"] == {"N": "0"}


def test_nothing_accepted_fails_the_run_through_the_failure_route(
    pipeline: Pipeline, mocks: Mocks, runs: dict[str, Run], happy: list[str]
) -> None:
    run = runs["NothingAccepted"]
    history = run.history
    assert history.entered() == [*HAPPY[:4], "NoObjectAccepted", *FAILURE_ROUTE]
    validated = mocked_return(mocks, "NothingAccepted", "ValidateObjects")["Payload"]
    assert validated["accepted"] == 0
    cause = details(history.events[-1])["cause"]
    assert validated["rejected_uri"] in cause and str(validated["rejected"]) in cause
    attempts = expect(pipeline, mocks, "NothingAccepted", happy).attempts
    check_failure_route(pipeline, run, attempts, "Tributary.NoObjectAccepted", cause, glue_job_run_id="")
    for task in ("RunTransformJob", "SyncCatalogTable", "RegisterPartitions", "RecordSuccess"):
        assert history.task_events(task) == [], task


def test_a_failed_quality_gate_never_registers_partitions(
    pipeline: Pipeline, mocks: Mocks, runs: dict[str, Run], happy: list[str]
) -> None:
    run = runs["QualityGateFailed"]
    history = run.history
    gate = HAPPY.index("QualityGate")
    assert history.entered() == [*HAPPY[: gate + 1], "QualityGateFailed", *FAILURE_ROUTE]
    result = json.loads(mocked_return(mocks, "QualityGateFailed", "ReadTransformResult")["Body"])
    assert result["quality"]["passed"] is False
    cause = details(history.events[-1])["cause"]
    assert str(result["reject_ratio"]) in cause and str(result["quality"]["max_reject_ratio"]) in cause
    assert RESULT_URI in cause
    job = mocked_return(mocks, "QualityGateFailed", "RunTransformJob")
    attempts = expect(pipeline, mocks, "QualityGateFailed", happy).attempts
    check_failure_route(
        pipeline, run, attempts, "Tributary.QualityGateFailed", cause, glue_job_run_id=job["Id"]
    )
    for task in ("RegisterPartitions", "RecordSuccess", "RecordLineage", "NotifySuccess"):
        assert history.task_events(task) == [], task


def test_the_run_record_starts_with_the_execution_input(runs: dict[str, Run]) -> None:
    (start,) = runs["HappyPath"].history.parameters("RecordStart")
    assert start["TableName"] == SUBSTITUTIONS["RunsTableName"]
    assert start["Key"] == {"run_id": {"S": RUN_ID}}
    assert start["ExpressionAttributeValues"][":manifest_uri"] == {"S": EXECUTION_INPUT["manifest_uri"]}
