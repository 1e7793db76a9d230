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
from .harness import InputObject, differences, run_glue, run_lite

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("glue-spark")]
# Runs per format (each of 12 generated objects); raise it locally for a longer search.
GENERATED_RUNS = int(os.environ.get("TRIBUTARY_DIFFERENTIAL_RUNS", "4"))


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
