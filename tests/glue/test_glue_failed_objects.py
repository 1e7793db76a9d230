"""Failure is per object: an object the job cannot read is left out with its reason, the rest is published;
a failure the job cannot pin on an object fails the run with one line, never a stack frame."""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import transform
from pyspark.sql import SparkSession

from tributary.local.runtimes.glue_runtime import _error_message

from .conftest import GlueRun, contract_document, plan_document

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("glue-spark")]

COLUMNS: list[dict[str, Any]] = [{"name": "order_id", "type": "string"}, {"name": "qty", "type": "int"}]
GOOD = "order_id,qty\n{0}1,1\n{0}2,2\n"
SCRIPT = Path(__file__).resolve().parents[2] / "glue" / "transform.py"


def put_bad_objects(run: GlueRun) -> None:
    packed = gzip.compress(GOOD.format("t").encode() * 200)
    run.put(
        "incoming/orders/truncated.csv.gz", "", staged=".csv", gzipped=True, body=packed[: len(packed) // 2]
    )
    run.put("incoming/orders/not-gzip.csv.gz", "", staged=".csv", gzipped=True, body=b"order_id,qty\nx,1\n")
    run.put("incoming/orders/latin1.csv", "", staged=".csv", body=b"order_id,qty\nok,1\ncaf\xe9,2\n")
    run.put(
        "incoming/orders/ascii.csv", "", staged=".csv", encoding="ascii", body="order_id,qty\né,1\n".encode()
    )


def test_unreadable_objects_are_left_out_with_their_reason_and_the_good_ones_are_published(
    spark: SparkSession, glue_run: GlueRun
) -> None:
    glue_run.put("incoming/orders/good-a.csv", GOOD.format("a"), staged=".csv")
    put_bad_objects(glue_run)
    glue_run.put("incoming/orders/good-b.csv.gz", GOOD.format("b"), staged=".csv", gzipped=True)
    args = glue_run.args(contract_document(COLUMNS))
    result = transform.transform(spark, args)

    reasons = {
        o["key"]: (o["reasons"][0]["code"], o["reasons"][0]["message"]) for o in result["failed_objects"]
    }
    assert {key: code for key, (code, _) in reasons.items()} == {
        "incoming/orders/truncated.csv.gz": "corrupt_gzip",
        "incoming/orders/not-gzip.csv.gz": "corrupt_gzip",
        "incoming/orders/latin1.csv": "encoding",
        "incoming/orders/ascii.csv": "encoding",
    }
    assert reasons["incoming/orders/latin1.csv"][1] == "line 3 is not valid UTF-8"
    assert reasons["incoming/orders/ascii.csv"][1] == "line 2 is not valid US-ASCII"
    for _code, message in reasons.values():
        assert "\n" not in message and "\tat " not in message
    rows = sorted(row["order_id"] for row in glue_run.curated())
    assert rows == ["a1", "a2", "b1", "b2"] and glue_run.rejects() == []
    assert [o["key"] for o in result["objects"]] == [
        "incoming/orders/good-a.csv",
        "incoming/orders/good-b.csv.gz",
    ]
    assert result["status"] == "SUCCEEDED" and result["rows_written"] == 4

    folder = Path(args.result_uri).parent
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["objects_failed"] == 4 and summary["failed_objects_uri"] == str(
        folder / "failed-objects.json"
    )
    failed = json.loads((folder / "failed-objects.json").read_text())
    assert failed["run_id"] == "orders-r1" and failed["quarantine_uri"] is None
    assert failed["objects"] == result["failed_objects"]
    listed = {item["key"]: item for item in glue_run.objects}
    for entry in failed["objects"]:  # the validated object's fields, and the reasons
        assert {k: v for k, v in entry.items() if k != "reasons"} == listed[entry["key"]]


def test_a_json_array_file_that_is_not_valid_text_is_left_out(spark: SparkSession, glue_run: GlueRun) -> None:
    glue_run.put("incoming/orders/good.json", '[{"order_id": "j1", "qty": 1}]', staged=".json")
    glue_run.put("incoming/orders/bad.json", "", staged=".json", body=b'[{"order_id": "caf\xe9", "qty": 1}]')
    result = transform.transform(spark, glue_run.args(contract_document(COLUMNS, data_format="json")))

    assert [(o["key"], o["reasons"][0]["code"]) for o in result["failed_objects"]] == [
        ("incoming/orders/bad.json", "encoding")
    ]
    assert [row["order_id"] for row in glue_run.curated()] == ["j1"]


def test_a_run_whose_every_object_fails_publishes_nothing(spark: SparkSession, glue_run: GlueRun) -> None:
    put_bad_objects(glue_run)
    result = transform.transform(spark, glue_run.args(contract_document(COLUMNS)))

    assert result["status"] == "SUCCEEDED" and len(result["failed_objects"]) == 4
    assert (result["rows_read"], result["objects"], result["partitions"]) == (0, [], [])
    assert glue_run.curated_files() == []


def test_a_failure_no_object_explains_fails_the_run_with_one_line(
    spark: SparkSession, glue_run: GlueRun
) -> None:
    glue_run.put("incoming/orders/good.csv", GOOD.format("a"), staged=".csv")
    args = glue_run.args(contract_document(COLUMNS))
    manifest = json.loads(Path(args.manifest_uri).read_text())
    Path(args.manifest_uri).write_text(json.dumps({**manifest, "run_id": "another-run"}))

    with pytest.raises(transform.ManifestError, match="belongs to run 'another-run'"):
        transform.transform(spark, args)

    summary = json.loads((Path(args.result_uri).parent / "summary.json").read_text())
    assert summary["status"] == "FAILED" and summary["error"] == {
        "type": "ManifestError",
        "message": "ManifestError: the manifest belongs to run 'another-run', not 'orders-r1'",
    }
    assert json.loads(Path(args.result_uri).read_text())["status"] == "FAILED"


def test_a_spark_failure_is_one_line_in_the_exit_exception_and_in_glue_error_message(
    glue_run: GlueRun, tmp_path: Path
) -> None:
    glue_run.put("incoming/orders/good.csv", GOOD.format("a"), staged=".csv")
    args = glue_run.args(contract_document(COLUMNS))
    glue_run.curated_dir().parent.mkdir(parents=True)
    glue_run.curated_dir().write_text("a file where the output folder should be")
    argv = [
        f"--{name}={getattr(args, name)}"
        for name in ("run_id", "manifest_uri", "plan_uri", "output_uri", "rejects_uri", "result_uri")
    ]
    log = tmp_path / "job.log"
    with log.open("w") as output:
        finished = subprocess.run(
            [sys.executable, str(SCRIPT), *argv, f"--spark_path_prefix={glue_run.spark_path_prefix}"],
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=300,
        )

    assert finished.returncode == 1
    summary = json.loads((Path(args.result_uri).parent / "summary.json").read_text())
    line = summary["error"]["message"]
    assert summary["status"] == "FAILED" and line and "\n" not in line and "\tat " not in line
    assert line.startswith(summary["error"]["type"] + ": ")
    assert log.read_text().rstrip().splitlines()[-1] == f"TransformFailed: {line}"
    assert _error_message(log, 1) == line  # the local Glue's ErrorMessage


def test_an_error_naming_a_file_blames_it_only_if_it_fails_when_read_alone(
    spark: SparkSession, glue_run: GlueRun
) -> None:
    glue_run.put("incoming/orders/good.csv", GOOD.format("a"), staged=".csv")
    packed = gzip.compress(GOOD.format("t").encode() * 50)
    glue_run.put("incoming/orders/cut.csv.gz", "", staged=".csv", gzipped=True, body=packed[:-30])
    manifest = {"objects": glue_run.objects}
    objects, _ = transform.source_objects_from(
        manifest,
        transform.plan_from_document(plan_document(contract_document(COLUMNS))),
        glue_run.spark_path_prefix,
    )
    named = RuntimeError("; ".join(f"Encountered error while reading file {o.spark_path}." for o in objects))

    [failure] = transform.failures_named_in(spark, named, objects)
    assert (failure.item["key"], failure.code) == ("incoming/orders/cut.csv.gz", "corrupt_gzip")
    assert failure.message.startswith("cannot read the object: ") and "\n" not in failure.message
    assert transform.failures_named_in(spark, RuntimeError("no file named here"), objects) == []


def test_a_gzip_cut_deep_inside_is_left_out_although_spark_names_no_file(
    spark: SparkSession, glue_run: GlueRun
) -> None:
    """A gzip of several hundred KB cut near its end fails in Spark with a bare EOFException that names
    no file: the job still finds the object by reading each one alone, and publishes the others."""
    rng = random.Random(7)
    rows = "".join(f"{rng.getrandbits(64):016x},{rng.randrange(1000)}\n" for _ in range(40_000))
    packed = gzip.compress(("order_id,qty\n" + rows).encode())
    assert len(packed) > 256 * 1024  # past validate's sample: only the job can see the damage
    glue_run.put("incoming/orders/good.csv", GOOD.format("a"), staged=".csv")
    glue_run.put("incoming/orders/cut.csv.gz", "", staged=".csv", gzipped=True, body=packed[:-2000])
    result = transform.transform(spark, glue_run.args(contract_document(COLUMNS)))

    assert result["status"] == "SUCCEEDED"
    assert [(o["key"], o["reasons"][0]["code"]) for o in result["failed_objects"]] == [
        ("incoming/orders/cut.csv.gz", "corrupt_gzip")
    ]
    assert [(o["key"], o["rows_written"]) for o in result["objects"]] == [("incoming/orders/good.csv", 2)]
