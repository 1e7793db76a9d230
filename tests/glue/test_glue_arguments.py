"""Argument parsing and plan reading of the Glue job: no Spark needed."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
import transform

from .conftest import plan_document

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
REQUIRED = [
    "--run_id",
    "orders-r1",
    "--manifest_uri",
    "s3://artifacts/runs/orders-r1/validated.json",
    "--plan_uri",
    "s3://artifacts/runs/orders-r1/plan.json",
    "--output_uri",
    "s3://curated/orders/",
    "--rejects_uri",
    "s3://artifacts/rejects/orders/run_id=orders-r1/",
    "--result_uri",
    "s3://artifacts/runs/orders-r1/result.json",
]


def test_glue_passes_its_own_arguments_and_they_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(transform.SPARK_PATH_PREFIX_ENV, raising=False)
    glue_extras = ["--JOB_ID", "j_1", "--enable-metrics", "--job-bookmark-option", "job-bookmark-disable"]
    args = transform.job_args_from_argv(["script.py", *glue_extras, *REQUIRED, "--TempDir=s3://tmp/"], NOW)

    assert args.run_id == "orders-r1" and args.output_uri == "s3://curated/orders/"
    assert args.ingest_ts == NOW and args.rows_per_file is None and args.spark_path_prefix is None


def test_optional_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(transform.SPARK_PATH_PREFIX_ENV, "file:///from-env")
    from_env = transform.job_args_from_argv([*REQUIRED, "--ingest_ts", "2026-11-24T10:15:00Z"], NOW)
    explicit = transform.job_args_from_argv(
        [
            *REQUIRED,
            "--ingest_ts=2026-11-24T11:15:00+01:00",
            "--rows_per_file",
            "5",
            "--spark_path_prefix",
            "/m",
        ],
        NOW,
    )

    assert from_env.spark_path_prefix == "file:///from-env"
    assert from_env.ingest_ts == datetime(2026, 11, 24, 10, 15, tzinfo=UTC) == explicit.ingest_ts
    assert explicit.rows_per_file == 5 and explicit.spark_path_prefix == "/m"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (REQUIRED[2:], "missing required argument(s): --run_id"),
        (REQUIRED[:-2], "missing required argument(s): --result_uri"),
        ([*REQUIRED[:-1], "--x"], "missing required argument(s): --result_uri"),
        ([*REQUIRED, "--ingest_ts", "yesterday"], "--ingest_ts must be an ISO-8601 timestamp"),
        ([*REQUIRED, "--rows_per_file", "0"], "--rows_per_file must be a positive integer"),
        ([*REQUIRED, "--run_id", "a b/c"], "--run_id must match"),
    ],
)
def test_missing_or_bad_arguments_are_refused(argv: list[str], message: str) -> None:
    with pytest.raises(transform.ArgumentError) as refused:
        transform.job_args_from_argv(argv, NOW)
    assert str(refused.value).startswith(message)


def test_main_exits_2_with_one_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert transform.main(REQUIRED[2:]) == 2
    assert capsys.readouterr().err == "transform.py: missing required argument(s): --run_id\n"


def test_s3_uris_become_spark_paths_only_with_a_prefix() -> None:
    assert transform.to_spark_path("s3://b/k/x.csv", None) == "s3://b/k/x.csv"
    assert transform.to_spark_path("s3://b/k/x.csv", "file:///mirror/") == "file:///mirror/b/k/x.csv"
    assert transform.to_spark_path("/tmp/out", "file:///mirror") == "/tmp/out"


def test_the_path_spark_reports_is_matched_to_the_path_given() -> None:
    given = transform.path_identity("file:///m/raw/incoming/a b+c%20é.csv", percent_encoded=False)
    reported = transform.path_identity("file:/m/raw/incoming/a%20b+c%2520é.csv", percent_encoded=True)
    assert given == reported == "|/m/raw/incoming/a b+c%20é.csv"
    assert transform.path_identity("s3://bucket/k", percent_encoded=False) == "bucket|/k"


COLUMNS = [{"name": "id", "type": "string"}, {"name": "at", "type": "timestamp"}]


def plan(**changes: Any) -> dict[str, Any]:
    contract = {
        "dataset": "orders",
        "format": "csv",
        "columns": COLUMNS,
        "partitioning": {"column": "order_date", "source": "at"},
        "quality": {"max_reject_ratio": 0.1, "rules": []},
        **changes,
    }
    return plan_document(contract)


def test_the_contract_argument_is_gone_the_plan_is_required() -> None:
    argv = [*REQUIRED[:4], "--contract_uri", "s3://artifacts/runs/orders-r1/contract.json", *REQUIRED[6:]]
    with pytest.raises(transform.ArgumentError, match=r"missing required argument\(s\): --plan_uri"):
        transform.job_args_from_argv(argv, NOW)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda doc: {**doc, "plan_version": 2}, "plan_version 2; this job runs version 1"),
        (lambda doc: {k: v for k, v in doc.items() if k != "plan_version"}, "plan_version None"),
        (lambda doc: {k: v for k, v in doc.items() if k != "checks"}, "the plan is incomplete: KeyError"),
        (lambda doc: [doc], "plan_version None"),
    ],
)
def test_a_plan_of_another_version_or_incomplete_is_refused(change: Any, message: str) -> None:
    with pytest.raises(transform.PlanError, match=re.escape(message)):
        transform.plan_from_document(change(plan()))


def test_the_job_takes_columns_checks_and_rules_from_the_plan_as_they_are() -> None:
    rules = [
        {"column": "id", "rule": "unique"},
        {"column": "id", "rule": "not_null"},
        {"column": "id", "rule": "unique"},
    ]
    document = plan(quality={"rules": rules})
    spec = transform.plan_from_document(document)

    assert [(rule.column, rule.rule) for rule in spec.rules] == [("id", "unique"), ("id", "not_null")]
    assert [(c.rule, c.column, c.message) for c in spec.checks] == [
        (c["rule"], c["column"], c["message"]) for c in document["checks"]
    ]
    assert spec.partition_source == "at" and spec.csv == transform.CsvSpec(",", '"', '"', True)
    assert (
        transform.plan_from_document(
            plan(partitioning={"column": "d", "source": "ingest_date"})
        ).partition_source
        is None
    )


def test_a_column_named_with_one_underscore_is_run_as_any_other() -> None:
    spec = transform.plan_from_document(plan(columns=[{"name": "_id", "type": "string"}, *COLUMNS[1:]]))
    assert [column.name for column in spec.columns] == ["_id", "at"]


def test_a_plan_that_fixes_gzip_speaks_for_a_manifest_without_compression() -> None:
    spec = transform.plan_from_document(plan(compression="gzip"))
    manifest = {"objects": [{"bucket": "raw", "key": "incoming/orders/a.csv", "version_id": "v"}]}

    objects, [failure] = transform.source_objects_from(manifest, spec, None)

    assert objects == [] and failure.code == "compression_mismatch" and failure.index == 0
    assert failure.entry() == {
        **manifest["objects"][0],
        "reasons": [{"code": "compression_mismatch", "message": failure.message}],
    }
    assert failure.message.endswith("is gzip-compressed but its name does not end with .gz")


def test_default_file_size_follows_the_average_row() -> None:
    counts = transform.RunCounts(
        objects={}, partitions={"d1": 3_000_000, "d2": 10}, rule_failures={}, valid_raw_bytes=0
    )
    counts.valid_raw_bytes = 100 * 3_000_010  # 100 bytes a row
    rows_per_file = transform.rows_per_file_for(counts, None)

    assert rows_per_file == transform.TARGET_RAW_BYTES_PER_FILE // 100
    assert transform.files_per_partition(counts.partitions, rows_per_file) == {"d1": 2, "d2": 1}
    assert transform.rows_per_file_for(counts, 7) == 7
