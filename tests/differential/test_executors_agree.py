"""The Glue job and the small-run executor publish the same thing for the same run: rows, Arrow types,
partitions, rejected rows with their reasons and line/record numbers, quality rule counts and the
result, summary, partition-batches and failed-objects documents (timing and file names aside)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from .cases import bad_input_runs, sample_runs
from .harness import InputObject, differences, run_glue, run_lite

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("glue-spark")]


def assert_agree(
    spark: SparkSession, root: Path, name: str, contract: dict[str, Any], objects: list[InputObject]
) -> None:
    run_id = f"{contract['dataset']}-{name}"
    glue = run_glue(spark, root, run_id, contract, objects)
    lite = run_lite(root, run_id, contract, objects)
    found = differences(glue, lite)
    assert not found, f"run {name}: the executors differ:\n" + "\n".join(found)
    assert glue.result or glue.status == "FAILED"


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
