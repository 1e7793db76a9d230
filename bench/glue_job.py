"""The transform's executors on the same generated file: pyarrow, the small-run executor, the Glue job.

    python -m bench.glue_job [--sizes 100,1000] [--workdir bench/out/glue_job] [--baseline REF]
                             [--lite-max-mb 1000] [--no-warmup] [--rounds N]

For each size (MB) it generates one orders CSV (10 typed columns, 4 quality rules, rows over 7 days,
about 0.1% of rows rejected) and converts it with:

- pyarrow: `pyarrow.csv.read_csv` + `pyarrow.parquet.write_table` (types only, one snappy file), the floor;
- Spark's own floor: Spark's CSV reader with the contract's types, the rows written as snappy Parquet
  partitioned by day, as a plain Spark program would (no checks, no rejects, no unique rule, no line
  numbers, no run documents): what the job costs above it is the job's own work;
- the small-run executor (functions/transform_lite, `run_transform` on local folders), up to
  `--lite-max-mb`; its row is skipped, with a note, when that package cannot be imported;
- the Glue job (glue/transform.py) on a local[2] SparkSession; with `--baseline REF`, also the job as it
  was at git REF (for example the commit before a change), in the same session, on the same file.

Both executors get the same documents: the validated manifest (one staged object), the compiled plan
(plan.json) and the contract (contract.json, for a job older than the plan). It prints each one's
seconds, MB/s, time as a multiple of pyarrow's, rows written and rejected. The Spark figures exclude
the JVM start and, unless `--no-warmup`, the JIT's warm-up: each Glue job first converts a 10 MB file
(a warm worker, as the local Glue runtime keeps). Each Spark run gets its own session (same
SparkContext), so one job's session settings never reach the other's. With `--rounds N`, every
executor converts each file N times, in turn (round after round, so that load and the JIT's state
fall on all of them alike), and the table gives each one's best and median time; one run of a Spark
job on this shared machine can be a third off its best.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "glue"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions" / "common"))  # etl_common
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions" / "transform_lite"))

import transform  # the job script lives in glue/, which is not a package

REPO = Path(__file__).resolve().parents[1]

MB = 1024 * 1024
WARMUP_MB = 10
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


class BenchError(Exception):
    """A benchmark option cannot be honoured (one line for the user)."""


@dataclass(frozen=True)
class Measure:
    name: str
    seconds: float
    rows_written: int
    rows_rejected: int | None = None


@dataclass(frozen=True)
class RunFiles:
    """One executor's run over one staged input: its documents and where it writes (s3:// URIs are
    under `mirror`, the local bucket layout both executors read and write)."""

    run_id: str
    mirror: Path
    docs: Path

    def values(self) -> dict[str, Any]:
        plan = self.docs / "plan.json"
        return {
            "run_id": self.run_id,
            "manifest_uri": str(self.docs / "validated.json"),
            "plan_uri": str(plan) if plan.exists() else None,
            "contract_uri": str(self.docs / "contract.json"),
            "output_uri": f"s3://curated/{self.run_id}/orders/",
            "rejects_uri": f"s3://artifacts/rejects/orders/run_id={self.run_id}/",
            "result_uri": str(self.docs / "result.json"),
            "ingest_ts": datetime(2026, 11, 24, 10, 15, tzinfo=UTC),
            "spark_path_prefix": self.mirror.as_uri(),
        }


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


def input_csv(workdir: Path, size_mb: int) -> Path:
    path = workdir / "input" / f"orders-{size_mb}mb.csv"
    if not path.exists():
        generate_csv(path, size_mb * MB)
    return path


def plan_document() -> dict[str, Any] | None:
    """The bench contract compiled by etl_common's plan compiler (None in a tree without it)."""
    try:
        from etl_common.contracts import Contract
        from etl_common.plan import compile_plan
    except ImportError:
        return None
    plan = compile_plan(Contract.model_validate(CONTRACT))
    document: dict[str, Any] = plan.model_dump(mode="json")
    return document


def stage_run(csv_path: Path, run_dir: Path, run_id: str) -> RunFiles:
    """The documents validate would write for `csv_path`, with the object staged (hard-linked)."""
    mirror, docs = run_dir / "s3", run_dir / "docs" / run_id
    staged_key = f"runs/{run_id}/input/00000.csv"
    staged = mirror / "artifacts" / staged_key
    staged.parent.mkdir(parents=True, exist_ok=True)
    staged.hardlink_to(csv_path)
    docs.mkdir(parents=True, exist_ok=True)
    item = {
        "bucket": "raw",
        "key": f"incoming/orders/{csv_path.name}",
        "version_id": None,
        "size": csv_path.stat().st_size,
        "encoding": "utf-8",
        "compression": "none",
        "staged_uri": f"s3://artifacts/{staged_key}",
    }
    (docs / "validated.json").write_text(json.dumps({"run_id": run_id, "objects": [item]}))
    (docs / "contract.json").write_text(json.dumps(CONTRACT))
    plan = plan_document()
    if plan is not None:
        (docs / "plan.json").write_text(json.dumps(plan))
    return RunFiles(run_id, mirror.resolve(), docs.resolve())


def job_module_at(ref: str, workdir: Path) -> ModuleType:
    """glue/transform.py as it was at git `ref`, imported under its own module name."""
    shown = subprocess.run(
        ["git", "show", f"{ref}:glue/transform.py"], cwd=REPO, capture_output=True, text=True, check=False
    )
    if shown.returncode != 0:
        raise BenchError(f"--baseline: git cannot show glue/transform.py at {ref!r}")
    name = "transform_at_" + re.sub(r"\W", "_", ref)
    path = workdir / "baseline" / f"{name}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(shown.stdout)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def spark_session() -> Any:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # stay on loopback, as the local stack does
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # the job's Python workers need pyarrow
    return (
        transform.SparkSession.builder.master("local[2]")
        .appName("bench-glue-job")
        .config("spark.driver.memory", "3g")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )


def run_glue_job(spark: Any, job: ModuleType, name: str, files: RunFiles) -> Measure:
    known = {item.name for item in fields(job.JobArgs)}
    args = job.JobArgs(**{key: value for key, value in files.values().items() if key in known})
    started = time.perf_counter()
    result = job.transform(spark.newSession(), args)  # its own SQL settings, the same SparkContext
    seconds = time.perf_counter() - started
    return Measure(name, seconds, result["rows_written"], result["rows_rejected"])


def lite_runner() -> Callable[[RunFiles, Path], Measure] | str:
    """The small-run executor's measure function, or why it cannot run (one line)."""
    try:
        from transform_lite.logic import run_transform
        from transform_lite.storage import LocalStorage
    except ImportError as error:
        return f"small-run executor not importable ({error})"

    def run(files: RunFiles, work_folder: Path) -> Measure:
        event = {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in files.values().items()
            if key not in ("contract_uri", "spark_path_prefix") and value is not None
        }
        work_folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        summary = run_transform(event, LocalStorage(files.mirror), work_folder)
        seconds = time.perf_counter() - started
        return Measure(
            "small-run executor (pyarrow)", seconds, summary["rows_written"], summary["rows_rejected"]
        )

    return run


def run_pyarrow(csv_path: Path, run_dir: Path) -> Measure:
    started = time.perf_counter()
    convert = pa_csv.ConvertOptions(column_types=ARROW_TYPES, timestamp_parsers=["%Y-%m-%d %H:%M:%S"])
    table = pa_csv.read_csv(csv_path, convert_options=convert)
    pq.write_table(table, run_dir / "pyarrow.snappy.parquet", compression="snappy")
    return Measure("pyarrow csv->parquet", time.perf_counter() - started, table.num_rows)


def spark_floor_schema() -> str:
    """The contract's columns as a Spark DDL schema (the contract's types are Spark type names)."""
    return ", ".join(f"{column['name']} {column['type']}" for column in CONTRACT["columns"])


def run_spark_floor(spark: Any, csv_path: Path, run_dir: Path, keep: bool = False) -> Measure:
    """A plain Spark program: the CSV read with the contract's types and written partitioned by day
    (under run_dir/spark-floor, removed after the count unless `keep`)."""
    session = spark.newSession()
    session.conf.set("spark.sql.session.timeZone", "UTC")
    session.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")  # as the job writes
    output = run_dir / "spark-floor"
    started = time.perf_counter()
    frame = (
        session.read.option("header", True)
        .option("timestampFormat", "yyyy-MM-dd HH:mm:ss")
        .schema(spark_floor_schema())
        .csv(str(csv_path))
    )
    day = transform.F.to_date(frame["ordered_at"]).alias("order_date")
    frame.select("*", day).write.mode("overwrite").partitionBy("order_date").parquet(str(output))
    seconds = time.perf_counter() - started
    rows = session.read.parquet(str(output)).count()  # after the clock: from the files' footers
    if not keep:
        shutil.rmtree(output, ignore_errors=True)
    return Measure("Spark floor (read + write only)", seconds, rows)


@dataclass(frozen=True)
class Options:
    sizes: list[int]
    workdir: Path
    baseline: str | None
    lite_max_mb: int
    warmup: bool
    rounds: int = 1


@dataclass(frozen=True)
class Summary:
    """One executor over every round: its best and median seconds, and the rows of its last round."""

    name: str
    best: float
    median: float
    rows_written: int
    rows_rejected: int | None


def summarise(rounds: Sequence[Sequence[Measure]]) -> list[Summary]:
    """Per executor (the same order in every round): best and median of its seconds."""
    summaries = []
    for runs in zip(*rounds, strict=True):
        seconds = [run.seconds for run in runs]
        last = runs[-1]
        summaries.append(
            Summary(
                last.name, min(seconds), statistics.median(seconds), last.rows_written, last.rows_rejected
            )
        )
    return summaries


def print_table(input_bytes: int, rounds: Sequence[Sequence[Measure]], notes: Sequence[str]) -> None:
    """Each executor's seconds, MB/s and time as a multiple of pyarrow's; over several rounds its best
    (MB/s at best) and its median, each against pyarrow's best and median."""
    summaries, several = summarise(rounds), len(rounds) > 1
    pyarrow = summaries[0]  # the reference every ratio is taken against
    medians = f" {'median s':>9}" if several else ""
    median_ratio = f" {'(median)':>9}" if several else ""
    print(
        f"  {'executor':<34} {'best s' if several else 'seconds':>8}{medians} {'MB/s':>8} {'x pyarrow':>10}"
        f"{median_ratio} {'written':>10} {'rejected':>9}"
    )
    for item in summaries:
        rejected = "-" if item.rows_rejected is None else str(item.rows_rejected)
        medians = f" {item.median:9.2f}" if several else ""
        median_ratio = f" {item.median / pyarrow.median:9.1f}" if several else ""
        print(
            f"  {item.name:<34} {item.best:8.{2 if several else 1}f}{medians}"
            f" {input_bytes / MB / item.best:8.1f} {item.best / pyarrow.best:10.1f}{median_ratio}"
            f" {item.rows_written:>10} {rejected:>9}"
        )
    if several:
        print(f"  {len(rounds)} rounds, each executor once per round, in this order")
    for note in notes:
        print(f"  note: {note}")
    print(flush=True)


def bench_size(spark: Any, jobs: Sequence[tuple[str, ModuleType]], size_mb: int, options: Options) -> None:
    csv_path = input_csv(options.workdir, size_mb)
    input_bytes = csv_path.stat().st_size
    run_dir = options.workdir / f"run-{size_mb}mb"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    notes: list[str] = []
    runner = lite_runner()
    lite: Callable[[RunFiles, Path], Measure] | None = None
    if isinstance(runner, str):
        notes.append(runner)
    elif size_mb > options.lite_max_mb:
        notes.append(f"small-run executor skipped above --lite-max-mb {options.lite_max_mb}")
    else:
        lite = runner
    rounds: list[list[Measure]] = []
    for round_index in range(options.rounds):
        suffix = f"-r{round_index}" if options.rounds > 1 else ""
        measures = [run_pyarrow(csv_path, run_dir)]
        if lite is not None:
            staged = stage_run(csv_path, run_dir, f"bench-{size_mb}mb-lite{suffix}")
            measures.append(lite(staged, run_dir / f"lite-tmp{suffix}"))
        measures.append(run_spark_floor(spark, csv_path, run_dir))
        for index, (name, job) in enumerate(jobs):
            files = stage_run(csv_path, run_dir, f"bench-{size_mb}mb-job{index}{suffix}")
            measures.append(run_glue_job(spark, job, name, files))
        rounds.append(measures)
        shutil.rmtree(run_dir / "s3" / "curated", ignore_errors=True)  # a round's output, not needed again
    print(f"input {input_bytes / MB:.0f} MB, {rounds[0][0].rows_written} rows")
    print_table(input_bytes, rounds, notes)
    shutil.rmtree(run_dir, ignore_errors=True)


def warm_up(spark: Any, jobs: Sequence[tuple[str, ModuleType]], options: Options) -> None:
    csv_path = input_csv(options.workdir, WARMUP_MB)
    run_dir = options.workdir / "run-warmup"
    for index, (_name, job) in enumerate(jobs):
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        run_glue_job(spark, job, "warm-up", stage_run(csv_path, run_dir, f"bench-warmup-job{index}"))
    shutil.rmtree(run_dir, ignore_errors=True)


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(size) for size in text.split(",") if size.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"sizes must be whole MB separated by commas, not {text!r}"
        ) from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be whole MB separated by commas, not {text!r}")
    return sizes


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.glue_job", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, default=[100], help="CSV sizes in MB, e.g. 100,1000")
    parser.add_argument("--workdir", type=Path, default=Path("bench/out/glue_job"))
    parser.add_argument("--baseline", metavar="REF", help="also run glue/transform.py as it was at git REF")
    parser.add_argument(
        "--lite-max-mb", type=int, default=1000, help="largest size for the small-run executor"
    )
    parser.add_argument(
        "--no-warmup", action="store_true", help="measure the Spark jobs without a warm-up run"
    )
    parser.add_argument(
        "--rounds", type=parse_rounds, default=1, help="convert each file this many times per executor"
    )
    parsed = parser.parse_args(list(argv) if argv is not None else None)
    return Options(
        parsed.sizes, parsed.workdir, parsed.baseline, parsed.lite_max_mb, not parsed.no_warmup, parsed.rounds
    )


def parse_rounds(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"rounds must be a whole number of at least 1, not {text!r}")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    jobs: list[tuple[str, ModuleType]] = []
    try:
        if options.baseline:
            jobs.append(
                (
                    f"glue job at {options.baseline[:12]} (Spark)",
                    job_module_at(options.baseline, options.workdir),
                )
            )
    except BenchError as error:
        print(f"python -m bench.glue_job: {error}", file=sys.stderr)
        return 2
    jobs.append(("glue job (local Spark)", transform))
    transform.configure_logging()
    transform.LOGGER.setLevel("WARNING")  # the job's own JSON logs would drown the figures
    started = time.perf_counter()
    spark = spark_session()
    spark.sparkContext.setLogLevel("ERROR")
    print(f"local[2] SparkSession started in {time.perf_counter() - started:.1f} s; load: {os.getloadavg()}")
    try:
        if options.warmup:
            warm_up(spark, jobs, options)
        for size_mb in options.sizes:
            bench_size(spark, jobs, size_mb, options)
    finally:
        spark.stop()
    print(f"load average at the end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
