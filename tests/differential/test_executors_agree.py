"""The Glue job and the small-run executor publish the same thing for the same run: rows, Arrow types,
partitions, rejected rows with their reasons and line/record numbers, quality rule counts and the
result, summary, partition-batches and failed-objects documents (timing and file names aside)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from pyspark.sql import SparkSession

from .cases import bad_input_runs, sample_runs
from .generated import runs
from .harness import InputObject, RunOutput, differences, run_glue, run_lite, without_file_counts

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("glue-spark")]
# Runs per format (each of 12 generated objects); raise it locally for a longer search.
GENERATED_RUNS = int(os.environ.get("TRIBUTARY_DIFFERENTIAL_RUNS", "4"))


def assert_agree(
    spark: SparkSession,
    root: Path,
    name: str,
    contract: dict[str, Any],
    objects: list[InputObject],
    rows_per_file: int | None = None,
) -> RunOutput:
    run_id = f"{contract['dataset']}-{name}"
    glue = run_glue(spark, root, run_id, contract, objects, rows_per_file)
    lite = run_lite(root, run_id, contract, objects, rows_per_file)
    found = differences(glue, lite)
    assert not found, f"run {name}: the executors differ:\n" + "\n".join(found)
    assert glue.result or glue.status == "FAILED"
    return glue


def test_a_reference_check_rejects_the_same_rows_in_both_executors(
    spark: SparkSession, tmp_path: Path
) -> None:
    """orders_checked: customers not in the reference list (in_reference, compiled into the plan's allowed
    values from events/reference/customers.csv) are rejected rows, alike in both executors."""
    [(name, contract, objects)] = [run for run in sample_runs() if run[0] == "orders_checked-sample"]
    output = assert_agree(spark, tmp_path, name, contract, objects)
    reasons = [reason for row in output.rejects for reason in row["reasons"]]
    unknown = [reason for reason in reasons if reason["message"] == "value is not in reference customers"]
    assert len(unknown) == 2 * len(objects)  # the sample's two unknown customers, in each copy
    assert {(reason["column"], reason["rule"]) for reason in unknown} == {("customer_id", "allowed_values")}
    [rule] = [rule for rule in output.result["quality"]["rules"] if rule["column"] == "customer_id"]
    assert rule == {"column": "customer_id", "rule": "allowed_values", "failed_rows": 2 * len(objects)}


@pytest.mark.parametrize(
    ("name", "contract", "objects"), sample_runs(), ids=lambda value: value if isinstance(value, str) else ""
)
def test_the_sample_files_give_the_same_output(
    spark: SparkSession, tmp_path: Path, name: str, contract: dict[str, Any], objects: list[InputObject]
) -> None:
    assert_agree(spark, tmp_path, name, contract, objects)


@pytest.mark.parametrize(
    ("name", "contract", "objects"),
    bad_input_runs(),
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_the_bad_inputs_of_the_project_tests_give_the_same_output(
    spark: SparkSession, tmp_path: Path, name: str, contract: dict[str, Any], objects: list[InputObject]
) -> None:
    assert_agree(spark, tmp_path, name, contract, objects)


def test_a_run_whose_every_object_fails_gives_the_same_output(spark: SparkSession, tmp_path: Path) -> None:
    _, notes, objects = next(run for run in bad_input_runs() if run[0] == "notes")
    unreadable = [
        item
        for item in objects
        if item.key.endswith((".gz", "latin1.csv", "ascii.csv")) and not item.key.endswith("good.csv.gz")
    ]
    assert_agree(spark, tmp_path, "all-failed", notes, unreadable)


ROWS_PER_FILE = 7


def split_run(spark: SparkSession, root: Path) -> tuple[RunOutput, RunOutput]:
    """The orders samples (84 rows over 3 days) with files of at most 7 rows."""
    _, orders, samples = sample_runs()[0]
    glue = run_glue(spark, root, "orders-split", orders, samples, ROWS_PER_FILE)
    lite = run_lite(root, "orders-split", orders, samples, ROWS_PER_FILE)
    return glue, lite


def test_a_run_split_into_files_gives_the_same_rows_and_respects_rows_per_file(
    spark: SparkSession, tmp_path: Path
) -> None:
    """How a partition's rows are cut into files is each executor's choice (docs/interfaces.md: at most
    rows_per_file rows per file), not part of the result the two must agree on: the Glue job spreads a
    partition's rows over its planned files by a hash and Spark opens another file when one reaches
    rows_per_file, so its count depends on the hash (here 5, 6 and 7 files where 4, 4 and 5 are
    planned); this executor writes the planned ceil(rows / rows_per_file) files. Everything else is
    equal, and no file exceeds the cap."""
    glue, lite = split_run(spark, tmp_path)
    found = differences(without_file_counts(glue), without_file_counts(lite))
    assert not found, "the executors differ:\n" + "\n".join(found)
    for output in (glue, lite):
        assert max(output.file_rows) <= ROWS_PER_FILE and sum(output.file_rows) == 84
    planned = [-(-entry["rows"] // ROWS_PER_FILE) for entry in lite.result["partitions"]]
    assert [entry["files"] for entry in lite.result["partitions"]] == planned


@pytest.mark.parametrize("data_format", ["csv", "jsonl", "json"])
def test_generated_runs_give_the_same_output(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory, data_format: str
) -> None:
    """Each example is one run of many generated objects (one Spark job checks them all)."""

    @settings(
        max_examples=GENERATED_RUNS,
        deadline=None,
        phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking would rerun Spark for minutes
        suppress_health_check=list(HealthCheck),
    )
    @given(run=runs(data_format))
    def check(run: tuple[dict[str, Any], list[InputObject]]) -> None:
        contract, objects = run
        assert_agree(spark, tmp_path_factory.mktemp(data_format), f"gen-{data_format}", contract, objects)

    check()
