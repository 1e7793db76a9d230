"""The benchmark's Spark floor (bench.glue_job.run_spark_floor) on a small generated file: every row
written, partitioned by day, with the contract's types; its output removed unless kept."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from pyspark.sql import SparkSession

from bench import glue_job

pytestmark = pytest.mark.slow


def test_the_floor_writes_every_row_by_day_with_the_contracts_types(
    spark: SparkSession, tmp_path: Path
) -> None:
    csv_path = tmp_path / "orders.csv"
    rows = glue_job.generate_csv(csv_path, 200_000)

    measure = glue_job.run_spark_floor(spark, csv_path, tmp_path, keep=True)

    assert measure.rows_written == rows and measure.rows_rejected is None
    table = ds.dataset(tmp_path / "spark-floor", format="parquet", partitioning="hive").to_table()
    assert table.num_rows == rows
    days = {value.as_py() for value in table.column("order_date").unique()}
    assert len(days) == 7  # the generator spreads rows over 7 days
    folders = {path.name for path in (tmp_path / "spark-floor").iterdir() if path.is_dir()}
    assert folders == {f"order_date={day}" for day in days}  # partitioned by day, not a column in a file
    for name, arrow_type in glue_job.ARROW_TYPES.items():
        written = table.schema.field(name).type
        if name == "ordered_at":  # Spark writes instants, read back in UTC
            assert written == pa.timestamp("us", tz="UTC")
        else:
            assert written == arrow_type, name


def test_the_floor_removes_its_output_by_default(spark: SparkSession, tmp_path: Path) -> None:
    csv_path = tmp_path / "orders.csv"
    glue_job.generate_csv(csv_path, 50_000)

    glue_job.run_spark_floor(spark, csv_path, tmp_path)

    assert not (tmp_path / "spark-floor").exists()
