"""Glue job on local Spark against a plain pyarrow CSV-to-Parquet conversion of the same file.

    python -m bench.glue_job [--sizes 100,1000] [--workdir bench/out/glue_job]

For each size (MB) it generates one orders CSV, converts it with `glue/transform.py` (types, quality
rules, rejects, lineage, partitioned snappy Parquet) on a local[2] SparkSession, then with
`pyarrow.csv.read_csv` + `pyarrow.parquet.write_table` (types only, one snappy file), and prints
MB/s of each and their ratio. The Spark figure excludes the JVM start, which is paid once per job.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "glue"))

import transform  # the job script lives in glue/, which is not a package

MB = 1024 * 1024
HEADER = "order_id,customer_id,amount,quantity,ordered_at,order_day,paid,status,email,discount\n"
STATUSES = ("NEW", "PAID", "SHIPPED")
CONTRACT = {
    "dataset": "orders",
    "format": "csv",
    "csv": {"delimiter": ",", "quote": '"', "escape": '"', "header": True, "encoding": "utf-8"},
    "columns": [
        {"name": "order_id", "type": "string", "nullable": False},
        {"name": "customer_id", "type": "bigint"},
        {"name": "amount", "type": "decimal(10,2)"},
        {"name": "quantity", "type": "int"},
        {"name": "ordered_at", "type": "timestamp", "format": "yyyy-MM-dd HH:mm:ss"},
        {"name": "order_day", "type": "date", "format": "yyyy-MM-dd"},
        {"name": "paid", "type": "boolean"},
        {"name": "status", "type": "string"},
        {"name": "email", "type": "string"},
        {"name": "discount", "type": "double"},
    ],
    "partitioning": {"column": "order_date", "source": "ordered_at"},
    "quality": {
        "max_reject_ratio": 0.05,
        "rules": [
            {"column": "order_id", "rule": "unique"},
            {"column": "amount", "rule": "min", "value": 0},
            {"column": "status", "rule": "allowed_values", "values": list(STATUSES)},
            {"column": "email", "rule": "regex", "pattern": "^[^@]+@[^@]+$"},
        ],
    },
}
ARROW_TYPES = {
    "order_id": pa.string(),
    "customer_id": pa.int64(),
    "amount": pa.decimal128(10, 2),
    "quantity": pa.int32(),
    "ordered_at": pa.timestamp("us"),
    "order_day": pa.date32(),
    "paid": pa.bool_(),
    "status": pa.string(),
    "email": pa.string(),
    "discount": pa.float64(),
}


@dataclass(frozen=True)
class Measure:
    name: str
    seconds: float
    rows: int

    def mb_per_second(self, input_bytes: int) -> float:
        return input_bytes / MB / self.seconds


def order_line(number: int, generator: random.Random, start: datetime) -> str:
    ordered_at = start + timedelta(seconds=generator.randrange(7 * 24 * 3600))
    # about one row in a thousand breaks a rule, so the rejects path does real work too
    amount = -1 if number % 997 == 0 else generator.randrange(1, 10_000_000) / 100
    return (
        f"ord-{number:010d},{generator.randrange(1, 10**9)},{amount:.2f},{generator.randrange(1, 20)},"
        f"{ordered_at:%Y-%m-%d %H:%M:%S},{ordered_at:%Y-%m-%d},{'true' if number % 3 else 'false'},"
        f"{STATUSES[number % 3]},customer{number % 50_000}@example.com,{generator.random():.4f}\n"
    )


def generate_csv(path: Path, target_bytes: int) -> int:
    """Deterministic orders CSV of about `target_bytes`; returns the number of data rows."""
    generator, start = random.Random(42), datetime(2026, 11, 17, tzinfo=UTC)
    path.parent.mkdir(parents=True, exist_ok=True)
    written, rows = 0, 0
    with path.open("w", encoding="utf-8") as output:
        output.write(HEADER)
        while written < target_bytes:
            chunk = "".join(order_line(rows + n, generator, start) for n in range(10_000))
            output.write(chunk)
            written += len(chunk)
            rows += 10_000
    return rows


def spark_session() -> transform.SparkSession:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # stay on loopback, as the local stack does
    return (
        transform.SparkSession.builder.master("local[2]")
        .appName("bench-glue-job")
        .config("spark.driver.memory", "3g")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )


def run_glue_job(spark: transform.SparkSession, csv_path: Path, workdir: Path) -> Measure:
    run_id = f"bench-{csv_path.stem}"
    mirror = workdir.resolve() / "s3"
    raw_path = mirror / "raw" / "incoming" / "orders" / csv_path.name
    raw_path.parent.mkdir(parents=True, exist_ok=True)
    if not raw_path.exists():
        raw_path.hardlink_to(csv_path)
    docs = workdir / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    objects = [
        {"bucket": "raw", "key": f"incoming/orders/{csv_path.name}", "version_id": None, "encoding": "utf-8"}
    ]
    (docs / "validated.json").write_text(json.dumps({"run_id": run_id, "objects": objects}))
    (docs / "contract.json").write_text(json.dumps(CONTRACT))
    args = transform.JobArgs(
        run_id=run_id,
        manifest_uri=str(docs / "validated.json"),
        contract_uri=str(docs / "contract.json"),
        output_uri="s3://curated/orders/",
        rejects_uri=f"s3://artifacts/rejects/orders/run_id={run_id}/",
        result_uri=str(docs / f"result-{run_id}.json"),
        ingest_ts=datetime.now(UTC),
        spark_path_prefix=mirror.as_uri(),
    )
    started = time.perf_counter()
    result = transform.transform(spark, args)
    return Measure("glue job (local Spark)", time.perf_counter() - started, result["rows_read"])


def run_pyarrow(csv_path: Path, workdir: Path) -> Measure:
    started = time.perf_counter()
    convert = pa_csv.ConvertOptions(column_types=ARROW_TYPES, timestamp_parsers=["%Y-%m-%d %H:%M:%S"])
    table = pa_csv.read_csv(csv_path, convert_options=convert)
    pq.write_table(table, workdir / "pyarrow.snappy.parquet", compression="snappy")
    return Measure("pyarrow csv->parquet", time.perf_counter() - started, table.num_rows)


def bench_size(spark: transform.SparkSession, size_mb: int, workdir: Path) -> None:
    csv_path = workdir / "input" / f"orders-{size_mb}mb.csv"
    if not csv_path.exists():
        generate_csv(csv_path, size_mb * MB)
    input_bytes = csv_path.stat().st_size
    run_dir = workdir / f"run-{size_mb}mb"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    arrow = run_pyarrow(csv_path, run_dir)
    glue = run_glue_job(spark, csv_path, run_dir)
    print(f"input {input_bytes / MB:.0f} MB, {arrow.rows} rows")
    for measure in (glue, arrow):
        rate = measure.mb_per_second(input_bytes)
        print(f"  {measure.name:<24} {measure.seconds:8.1f} s {rate:8.1f} MB/s  ({measure.rows} rows)")
    ratio = arrow.mb_per_second(input_bytes) / glue.mb_per_second(input_bytes)
    print(f"  ratio: pyarrow is {ratio:.1f}x the glue job's throughput", flush=True)
    shutil.rmtree(run_dir, ignore_errors=True)


def parse_sizes(text: str) -> list[int]:
    return [int(size) for size in text.split(",") if size.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.glue_job", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, default=[100], help="CSV sizes in MB, e.g. 100,1000")
    parser.add_argument("--workdir", type=Path, default=Path("bench/out/glue_job"))
    options = parser.parse_args(list(argv) if argv is not None else None)
    transform.configure_logging()
    transform.LOGGER.setLevel("WARNING")  # the job's own JSON logs would drown the figures
    started = time.perf_counter()
    spark = spark_session()
    spark.sparkContext.setLogLevel("ERROR")
    print(f"local[2] SparkSession started in {time.perf_counter() - started:.1f} s")
    try:
        for size_mb in options.sizes:
            bench_size(spark, size_mb, options.workdir)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
