"""Both transform paths through the local stack, from template.yaml: the same sample files as a small run
(at most SmallRunMaxBytes: ChooseTransformPath → RunSmallTransform, TransformLiteFunction on the local
Lambda runtime) and, in a stack whose SmallRunMaxBytes is overridden below their size, as a large run
(RunTransformJob, the Glue script on local Spark). Each SUCCEEDS with curated Parquet under its run_id=
prefixes and its partitions registered (Athena returns the rows), and both give the same rows, types,
partitions and rejected rows.

The Glue half starts Spark: on a shared machine, run this file under `flock /tmp/tributary-spark.lock`."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tributary.local.commands.one_shot import run_files
from tributary.local.endpoints.moto_server import MotoServer
from tributary.local.provisioning import provision
from tributary.local.runtimes.athena_runtime import AthenaRuntime, parse_s3_uri
from tributary.local.stack import LocalStack, StackOptions
from tributary.local.views.report import RunReport

REPO = Path(__file__).resolve().parents[2]
SAMPLES = [REPO / "events" / "data" / "orders-sample.csv", REPO / "events" / "data" / "clicks-sample.jsonl"]
LITE, GLUE = "RunSmallTransform", "RunTransformJob"
# Columns that differ between two runs of the same files by design: the run, its start, the object version.
PER_RUN = {"run_id", "ingested_at", "source_object_version"}
# Below the size of either sample: the override makes their runs large.
LOW_THRESHOLD = "1024"

E2E_MARKS = [
    pytest.mark.slow,
    pytest.mark.xdist_group("local_stack_e2e"),  # one stack, one worker
    pytest.mark.skipif(shutil.which("java") is None, reason="needs Java for local Spark"),
]
Test = TypeVar("Test", bound=Callable[..., None])


def e2e(test: Test) -> Test:
    for mark in E2E_MARKS:
        test = mark(test)
    return test


@dataclass
class PathRun:
    """What one stack made of the samples: a report per dataset, and what can be read back."""

    reports: dict[str, RunReport]
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # run records by dataset
    queried: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # Athena rows of the run
    parquet: dict[str, pa.Table] = field(default_factory=dict)  # the run's Parquet files, read together
    layout: dict[str, list[str]] = field(default_factory=dict)  # object keys relative to the run
    rejects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    documents: dict[str, list[str]] = field(default_factory=dict)  # runs/<run_id>/ document names


def _query(stack: LocalStack, sql: str) -> list[dict[str, Any]]:
    athena = AthenaRuntime(stack.aws.client)
    query_id = athena.start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": stack.physical_id("GlueDatabase")},
        WorkGroup=stack.physical_id("AthenaWorkGroup"),
    )["QueryExecutionId"]
    execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    rows = athena.get_query_results(QueryExecutionId=query_id)["ResultSet"]["Rows"]
    header = [cell.get("VarCharValue") for cell in rows[0]["Data"]]
    return [
        dict(zip(header, [cell.get("VarCharValue") for cell in row["Data"]], strict=True)) for row in rows[1:]
    ]


def _collect(stack: LocalStack) -> PathRun:
    result = run_files(stack, SAMPLES, timeout=900, progress=False)
    assert result.skipped == [] and not result.timed_out, result.to_json()
    collected = PathRun({report.dataset or "": report for report in result.reports})
    s3 = stack.aws.client("s3")
    dynamodb = stack.aws.client("dynamodb")
    for dataset, report in collected.reports.items():
        if report.status != "SUCCEEDED":
            continue
        collected.records[dataset] = dynamodb.get_item(
            TableName=stack.physical_id("RunsTable"), Key={"run_id": {"S": report.run_id}}
        )["Item"]
        collected.queried[dataset] = _query(
            stack, f"SELECT * FROM {dataset} WHERE run_id = '{report.run_id}'"
        )
        tables, keys = [], []
        for output in report.outputs:
            bucket, key = parse_s3_uri(output)
            tables.append(pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())))
            keys.append(key.split(f"/run_id={report.run_id}/")[0] + "/run_id=R/part")
        collected.parquet[dataset] = pa.concat_tables(tables) if tables else pa.table({})
        collected.layout[dataset] = sorted(keys)
        rejects: list[dict[str, Any]] = []
        if report.rejects_uri:
            bucket, prefix = parse_s3_uri(report.rejects_uri)
            for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode()
                rejects += [json.loads(line) for line in body.splitlines() if line.strip()]
        collected.rejects[dataset] = rejects
        artifacts = stack.physical_id("ArtifactsBucket")
        listed = s3.list_objects_v2(Bucket=artifacts, Prefix=f"runs/{report.run_id}/").get("Contents", [])
        collected.documents[dataset] = sorted(
            item["Key"].rsplit("/", 1)[1] for item in listed if "/input/" not in item["Key"]
        )
    return collected


def _run_on(tmp: Path, overrides: dict[str, str]) -> PathRun:
    options = StackOptions(
        REPO, work_dir=tmp, batch_window_cap=1.0, real_time=True, parameter_overrides=overrides
    )
    with LocalStack(options) as stack:
        return _collect(stack)


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory) -> PathRun:
    return _run_on(tmp_path_factory.mktemp("lite-stack"), {})


@pytest.fixture(scope="module")
def glue(tmp_path_factory: pytest.TempPathFactory) -> PathRun:
    return _run_on(tmp_path_factory.mktemp("glue-stack"), {"SmallRunMaxBytes": LOW_THRESHOLD})


def _states(report: RunReport) -> set[str]:
    return {state.name for state in report.states}


def _comparable(rows: list[dict[str, Any]]) -> list[tuple[tuple[str, Any], ...]]:
    return sorted(tuple(sorted((k, v) for k, v in row.items() if k not in PER_RUN)) for row in rows)


def _fields(table: pa.Table) -> list[tuple[str, str]]:
    return [(field.name, str(field.type)) for field in table.schema]


def _nullability(table: pa.Table) -> dict[str, bool]:
    return {field.name: field.nullable for field in table.schema}


def _partitions(report: RunReport) -> list[list[tuple[str, str]]]:
    return sorted(sorted((k, v) for k, v in p.values.items() if k not in PER_RUN) for p in report.partitions)


def _check_published(run: PathRun, path: str) -> None:
    assert sorted(run.reports) == ["clicks", "orders"]
    for dataset, report in run.reports.items():
        assert report.status == "SUCCEEDED", report
        assert path in _states(report) and ({LITE, GLUE} - {path}).isdisjoint(_states(report)), report.states
        assert "ChooseTransformPath" in _states(report)
        record = run.records[dataset]
        assert record["transform_path"]["S"] == ("lite" if path == LITE else "glue")
        assert bool(record["glue_job_run_id"]["S"]) == (path == GLUE)
        assert report.rows_out and report.rows_out > 0
        assert report.rows_in == report.rows_out + (report.rows_rejected or 0)
        # Curated Parquet under <partition>=<value>/run_id=<run_id>/, run_id only in the path.
        assert run.layout[dataset] and all("=" in key.split("/")[1] for key in run.layout[dataset])
        assert run.parquet[dataset].num_rows == report.rows_out
        assert "run_id" not in run.parquet[dataset].column_names
        # Partitions registered: Athena returns every row of the run.
        assert len(run.queried[dataset]) == report.rows_out
        assert {"result.json", "summary.json", "partition-batches.json", "plan.json"} <= set(
            run.documents[dataset]
        ), run.documents[dataset]


@e2e
def test_small_files_take_the_lite_path_and_are_published(lite: PathRun) -> None:
    _check_published(lite, LITE)


@e2e
def test_a_threshold_below_the_files_sends_them_to_glue(glue: PathRun) -> None:
    _check_published(glue, GLUE)


@e2e
def test_both_paths_give_the_same_rows_types_partitions_and_rejects(lite: PathRun, glue: PathRun) -> None:
    for dataset in ("orders", "clicks"):
        small, large = lite.reports[dataset], glue.reports[dataset]
        assert (small.rows_in, small.rows_out, small.rows_rejected) == (
            large.rows_in,
            large.rows_out,
            large.rows_rejected,
        )
        assert small.quality == large.quality
        assert _partitions(small) == _partitions(large)
        assert lite.layout[dataset] == glue.layout[dataset]
        # Names and Arrow types (Spark adds its own schema metadata, which no reader uses).
        assert _fields(lite.parquet[dataset]) == _fields(glue.parquet[dataset])
        assert _comparable(lite.queried[dataset]) == _comparable(glue.queried[dataset])
        assert _comparable(lite.parquet[dataset].to_pylist()) == _comparable(
            glue.parquet[dataset].to_pylist()
        )
        assert _comparable(lite.rejects[dataset]) == _comparable(glue.rejects[dataset])


@e2e
def test_both_paths_write_the_same_nullability(lite: PathRun, glue: PathRun) -> None:
    for dataset in ("orders", "clicks"):
        assert _nullability(lite.parquet[dataset]) == _nullability(glue.parquet[dataset])


# ---------------------------------------------------------------- the override itself (fast)


def test_a_parameter_override_reaches_the_state_machine_definition() -> None:
    with MotoServer() as server:
        stack = provision(REPO / "template.yaml", server, "default", {"SmallRunMaxBytes": "0"})
        definition = json.loads(stack.resources["PipelineStateMachine"].attributes["Definition"])
    assert definition["States"]["InitRun"]["Assign"]["smallRunMaxBytes"] == "{% $number('0') %}"


def test_an_override_that_names_no_parameter_is_refused() -> None:
    with MotoServer() as server, pytest.raises(KeyError, match="SmallRunMaxByte"):
        provision(REPO / "template.yaml", server, "default", {"SmallRunMaxByte": "0"})
