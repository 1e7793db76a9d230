"""The small-run transform Lambda on moto S3: the same outputs and documents as the Glue job (the
differential test in tests/differential compares them with the job's), object failures, run failures,
and the record readers against Spark's measured behaviour."""

from __future__ import annotations

import gzip
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "functions" / "transform_lite") not in sys.path:
    sys.path.insert(0, str(REPO / "functions" / "transform_lite"))

from etl_common.contracts import load_contract_file  # noqa: E402
from etl_common.plan import compile_plan  # noqa: E402
from transform_lite.csv_fields import CsvSplitter  # noqa: E402
from transform_lite.json_values import java_double, record_fields  # noqa: E402
from transform_lite.logic import TransformFailed, arguments_from  # noqa: E402

from .conftest import LambdaContext, Stack  # noqa: E402

RUN_ID = "orders-20261124T101500Z-abc"
ORDERS = (REPO / "events" / "data" / "orders-sample.csv").read_bytes()


def stage_run(s3: Any, stack: Stack, objects: list[tuple[str, bytes, str]]) -> dict[str, Any]:
    """Staged inputs, manifest and plan of one orders run in moto; returns the Lambda's event."""
    plan = compile_plan(load_contract_file(REPO / "contracts" / "orders.yaml"))
    artifacts = stack.artifacts_bucket
    entries = []
    for index, (key, body, compression) in enumerate(objects):
        staged_key = f"runs/{RUN_ID}/input/{index:05d}.csv{'.gz' if compression == 'gzip' else ''}"
        s3.put_object(Bucket=artifacts, Key=staged_key, Body=body)
        entries.append(
            {
                "bucket": stack.raw_bucket,
                "key": key,
                "version_id": f"v{index}",
                "etag": "e",
                "size": len(body),
                "event_time": "2026-11-24T10:14:58Z",
                "compression": compression,
                "encoding": "utf-8",
                "staged_uri": f"s3://{artifacts}/{staged_key}",
            }
        )
    manifest = {"run_id": RUN_ID, "dataset": "orders", "objects": entries}
    s3.put_object(Bucket=artifacts, Key=f"runs/{RUN_ID}/validated.json", Body=json.dumps(manifest))
    s3.put_object(Bucket=artifacts, Key=f"runs/{RUN_ID}/plan.json", Body=plan.model_dump_json())
    return {
        "run_id": RUN_ID,
        "manifest_uri": f"s3://{artifacts}/runs/{RUN_ID}/validated.json",
        "plan_uri": f"s3://{artifacts}/runs/{RUN_ID}/plan.json",
        "output_uri": f"s3://{stack.curated_bucket}/orders/",
        "rejects_uri": f"s3://{artifacts}/rejects/orders/run_id={RUN_ID}/",
        "result_uri": f"s3://{artifacts}/runs/{RUN_ID}/result.json",
        "ingest_ts": "2026-11-24T10:15:00Z",
    }


def document(s3: Any, bucket: str, key: str) -> Any:
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return sorted(item["Key"] for item in listed)


def test_a_run_is_written_as_the_glue_job_writes_it(
    s3: Any, stack: Stack, load_handler: Any, lambda_context: LambdaContext, tmp_path: Path
) -> None:
    event = stage_run(s3, stack, [("incoming/orders/a.csv", ORDERS, "none")])
    handler = load_handler("transform_lite")
    summary = handler.lambda_handler(event, lambda_context)

    assert summary == document(s3, stack.artifacts_bucket, f"runs/{RUN_ID}/summary.json")
    assert (summary["status"], summary["rows_read"], summary["rows_rejected"]) == ("SUCCEEDED", 50, 8)
    assert summary["partition_count"] == 3 and summary["objects_failed"] == 0
    result = document(s3, stack.artifacts_bucket, f"runs/{RUN_ID}/result.json")
    parts = keys(s3, stack.curated_bucket, "orders/")
    assert len(parts) == 3 and all(f"/run_id={RUN_ID}/part-" in key for key in parts)
    assert sorted(result["outputs"]) == [f"s3://{stack.curated_bucket}/{key}" for key in parts]
    local = tmp_path / "part.parquet"
    local.write_bytes(s3.get_object(Bucket=stack.curated_bucket, Key=parts[0])["Body"].read())
    schema = pq.read_schema(local)
    assert schema.names == [
        "order_id", "customer_id", "amount", "quantity", "status", "ordered_at",
        "source_object_key", "source_object_version", "ingested_at",
    ]  # fmt: skip
    assert schema.field("amount").type == pa.decimal128(10, 2)
    assert schema.field("ordered_at").type == pa.timestamp("us", tz="UTC")
    # decimals stored as integers and timestamps as INT64 microseconds, as Spark writes them
    parquet_schema = pq.ParquetFile(local).schema
    assert parquet_schema.column(2).physical_type == "INT64"
    assert parquet_schema.column(5).physical_type == "INT64"
    rejects = [
        json.loads(line)
        for key in keys(s3, stack.artifacts_bucket, f"rejects/orders/run_id={RUN_ID}/")
        for line in s3.get_object(Bucket=stack.artifacts_bucket, Key=key)["Body"].read().splitlines()
    ]
    by_line = {reject["line_number"]: reject for reject in rejects}
    assert by_line[45]["reasons"] == [
        {"column": "quantity", "rule": "type", "message": "'two' is not a valid int"}
    ]
    assert list(by_line[45]) == [
        "run_id", "source_object_key", "source_object_version",
        "line_number", "record_number", "raw", "reasons",
    ]  # fmt: skip
    batches = document(s3, stack.artifacts_bucket, f"runs/{RUN_ID}/partition-batches.json")
    assert [batch["drop_clause"].count("PARTITION") for batch in batches] == [3]
    assert document(s3, stack.artifacts_bucket, f"runs/{RUN_ID}/failed-objects.json")["objects"] == []


def test_an_object_that_cannot_be_read_is_left_out_and_a_rerun_replaces_its_own_output(
    s3: Any, stack: Stack, load_handler: Any, lambda_context: LambdaContext
) -> None:
    packed = gzip.compress(ORDERS.replace(b"ORD-", b"ZZZ-"))
    event = stage_run(
        s3,
        stack,
        [("incoming/orders/a.csv", ORDERS, "none"), ("incoming/orders/cut.csv.gz", packed[:-40], "gzip")],
    )
    handler = load_handler("transform_lite")
    first = handler.lambda_handler(event, lambda_context)
    again = handler.lambda_handler(event, lambda_context)

    assert first == again and first["objects_failed"] == 1 and first["object_count"] == 1
    failed = document(s3, stack.artifacts_bucket, f"runs/{RUN_ID}/failed-objects.json")
    assert [(o["key"], o["reasons"]) for o in failed["objects"]] == [
        (
            "incoming/orders/cut.csv.gz",
            [
                {
                    "code": "corrupt_gzip",
                    "message": "cannot read the object: EOFException: Unexpected end of input stream",
                }
            ],
        )
    ]
    assert len(keys(s3, stack.curated_bucket, "orders/")) == 3  # the first attempt's files were replaced


def test_a_failure_no_object_explains_writes_a_failed_summary_and_raises_one_line(
    s3: Any, stack: Stack, load_handler: Any, lambda_context: LambdaContext
) -> None:
    event = stage_run(s3, stack, [("incoming/orders/a.csv", ORDERS, "none")])
    manifest = document(s3, stack.artifacts_bucket, f"runs/{RUN_ID}/validated.json")
    body = json.dumps({**manifest, "run_id": "another-run"})
    s3.put_object(Bucket=stack.artifacts_bucket, Key=f"runs/{RUN_ID}/validated.json", Body=body)

    handler = load_handler("transform_lite")
    with pytest.raises(handler.TransformFailed) as failed:  # the class of the freshly imported handler
        handler.lambda_handler(event, lambda_context)

    line = "ManifestError: the manifest belongs to run 'another-run', not 'orders-20261124T101500Z-abc'"
    assert str(failed.value) == line
    summary = document(s3, stack.artifacts_bucket, f"runs/{RUN_ID}/summary.json")
    assert summary["status"] == "FAILED" and summary["error"] == {"type": "ManifestError", "message": line}


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"run_id": "r"}, "missing required argument(s): manifest_uri, plan_uri"),
        ({"run_id": "no spaces", "manifest_uri": "m", "plan_uri": "p", "output_uri": "o",
          "rejects_uri": "r", "result_uri": "x"}, "run_id must match"),
        ({"run_id": "r", "manifest_uri": "m", "plan_uri": "p", "output_uri": "o", "rejects_uri": "r",
          "result_uri": "x", "ingest_ts": "yesterday"}, "ingest_ts must be an ISO-8601 timestamp"),
        ([], "the event must be a JSON object"),
    ],
)  # fmt: skip
def test_a_bad_event_is_one_clear_line(event: Any, message: str) -> None:
    with pytest.raises(TransformFailed, match=message.replace("(", r"\(").replace(")", r"\)")):
        arguments_from(event, now=datetime.now(UTC))


# Measured on Spark 3.5's from_csv (tests/differential compares whole runs; these pin a few rules).
@pytest.mark.parametrize(
    ("record", "fields"),
    [
        ("a,b", ["a", "b"]),
        (",a,", [None, "a", None]),
        ('"a,b",c', ["a,b", "c"]),
        ('"say ""hi""",x', ['say "hi"', "x"]),
        ('"x" ,y', ["x", "y"]),  # whitespace after a closing quote is dropped
        ('"x"y,z', ['"x"y', "z"]),  # an unescaped quote: the raw text up to the delimiter
        (' "x",y', [' "x"', "y"]),  # not quoted: it does not start with the quote
        ('a,"', ["a", '"']),  # a lone quote at the end is itself
        ('a,"open', ["a", "open"]),  # a quote left open keeps what was read
        ('"", x', [None, " x"]),
        ("line\nbreak,z", ["line\nbreak", "z"]),
    ],
)
def test_csv_records_split_as_spark_splits_them(record: str, fields: list[str | None]) -> None:
    assert CsvSplitter(",", '"', '"').split(record) == fields


def test_json_values_are_the_text_spark_gives_a_string_column() -> None:
    names = ["a", "b"]
    assert record_fields('{"a": 1.50, "b": 1e2}', names) == ({"a": "1.5", "b": "100.0"}, None)
    assert record_fields("{'a': 'single', 'b': NaN}", names) == ({"a": "single", "b": '"NaN"'}, None)
    assert record_fields('{"a": {"k": 1, "k": 2}} tail', names) == ({"a": '{"k":1,"k":2}', "b": None}, None)
    assert record_fields("\t", names) == ({"a": None, "b": None}, None)
    assert record_fields('{"a": 1, "a": 2}', names) == (None, "json_duplicate_key:a")
    assert record_fields("[1]", names) == (None, "json_invalid")
    assert record_fields('{"a": ' + "[" * 1000 + "]" * 1000 + "}", names) == (None, "json_too_deep")
    assert [java_double(x) for x in (1e-4, 1e7, 9999999.0, 0.001, 5e-324, -0.0)] == [
        "1.0E-4", "1.0E7", "9999999.0", "0.001", "4.9E-324", "-0.0",
    ]  # fmt: skip


def test_work_folders_a_timed_out_invocation_left_in_tmp_are_removed(tmp_path: Path) -> None:
    import os
    import time

    from transform_lite.convert import STALE_SECONDS, remove_stale_work

    stale, recent = tmp_path / "transform-lite-old", tmp_path / "transform-lite-new"
    for folder in (stale, recent):
        (folder / "spill").mkdir(parents=True)
        (folder / "spill" / "000000.arrow").write_bytes(b"x" * 10)
    old = time.time() - STALE_SECONDS - 60
    os.utime(stale, (old, old))
    remove_stale_work(tmp_path)
    assert not stale.exists() and recent.exists()  # a folder in use (younger) is left alone
