"""One local SparkSession for the whole test session, and a builder for a run's files and documents."""

from __future__ import annotations

import gzip
import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import transform
from etl_common.contracts import Contract
from etl_common.plan import compile_plan
from pyspark.sql import SparkSession

INGEST_TS = datetime(2026, 11, 24, 10, 15, tzinfo=UTC)
# Spark binds its driver to the host's first interface unless told otherwise; tests stay on loopback
# (the job run as a subprocess inherits this too).
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
# The job's Python workers (`mapInArrow`) run this interpreter, which has pyarrow, not the first
# `python3` on the PATH.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    session = (
        SparkSession.builder.master("local[2]")
        .appName("tributary-glue-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def contract_document(
    columns: Sequence[dict[str, Any]],
    *,
    data_format: str = "csv",
    rules: Sequence[dict[str, Any]] = (),
    partitioning: dict[str, str] | None = None,
    csv: dict[str, Any] | None = None,
    max_reject_ratio: float = 0.5,
) -> dict[str, Any]:
    """A contract as `Contract.model_dump(mode="json")` writes it (defaults filled in)."""
    csv_defaults = {"delimiter": ",", "quote": '"', "escape": '"', "header": True, "encoding": "utf-8"}
    return {
        "dataset": "orders",
        "description": "test contract",
        "format": data_format,
        "compression": "auto",
        "csv": {**csv_defaults, **(csv or {})} if data_format == "csv" else None,
        "columns": [{"nullable": True, "format": None, **column} for column in columns],
        "partitioning": partitioning or {"column": "order_date", "source": "ingest_date"},
        "quality": {"max_reject_ratio": max_reject_ratio, "rules": list(rules)},
        "limits": {"max_object_bytes": 5368709120},
    }


def plan_document(contract: dict[str, Any]) -> dict[str, Any]:
    """The plan validate writes for this contract (plan.json): what the job runs."""
    return compile_plan(Contract.model_validate(contract)).model_dump(mode="json")


@dataclass
class GlueRun:
    """Files of one run laid out as a local mirror of the buckets (`<root>/s3/<bucket>/<key>`)."""

    root: Path
    run_id: str = "orders-r1"
    objects: list[dict[str, Any]] = field(default_factory=list)

    @property
    def mirror(self) -> Path:
        return self.root / "s3"

    @property
    def spark_path_prefix(self) -> str:
        return self.mirror.as_uri()

    def put(
        self,
        key: str,
        text: str,
        *,
        gzipped: bool = False,
        encoding: str = "utf-8",
        version: str = "v1",
        staged: str | None = None,
        body: bytes | None = None,
    ) -> None:
        """An object of the run. `staged` (an extension: ".csv", ".jsonl", ".json") writes it only where
        validate stages it (`runs/<run_id>/input/<NNNNN><ext>[.gz]`, named by `staged_uri`), not under
        its key; otherwise it is written under its key in the raw bucket, as older manifests name it.
        `body` gives the exact bytes stored (for corrupt files), instead of `text` encoded."""
        data = body if body is not None else text.encode(encoding)
        entry: dict[str, Any] = {}
        if staged:
            name = f"{len(self.objects):05d}{staged}{'.gz' if gzipped else ''}"
            entry["staged_uri"] = f"s3://artifacts/runs/{self.run_id}/input/{name}"
            path = self.mirror / "artifacts" / "runs" / self.run_id / "input" / name
        else:
            path = self.mirror / "raw" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(data) if gzipped and body is None else data)
        self.objects.append(
            {
                "bucket": "raw",
                "key": key,
                "version_id": version,
                "etag": "e",
                "size": path.stat().st_size,
                "event_time": "2026-11-24T10:14:58Z",
                "compression": "gzip" if gzipped else "none",
                "encoding": encoding,
                **entry,
            }
        )

    def args(self, contract: dict[str, Any], **overrides: Any) -> transform.JobArgs:
        docs = self.root / "docs" / self.run_id
        docs.mkdir(parents=True, exist_ok=True)
        (docs / "plan.json").write_text(json.dumps(plan_document(contract)))
        manifest = {"run_id": self.run_id, "dataset": "orders", "objects": self.objects}
        (docs / "validated.json").write_text(json.dumps(manifest))
        values: dict[str, Any] = {
            "run_id": self.run_id,
            "manifest_uri": str(docs / "validated.json"),
            "plan_uri": str(docs / "plan.json"),
            "output_uri": "s3://curated/orders/",
            "rejects_uri": f"s3://artifacts/rejects/orders/run_id={self.run_id}/",
            "result_uri": str(docs / "result.json"),
            "ingest_ts": INGEST_TS,
            "spark_path_prefix": self.spark_path_prefix,
        }
        values.update(overrides)
        return transform.JobArgs(**values)

    def rerun_as(self, run_id: str) -> GlueRun:
        return GlueRun(self.root, run_id)

    def curated_dir(self) -> Path:
        return self.mirror / "curated" / "orders"

    def curated_files(self, run_id: str | None = None) -> list[Path]:
        return sorted(self.curated_dir().glob(f"*/run_id={run_id or self.run_id}/part-*.snappy.parquet"))

    def curated(self, run_id: str | None = None) -> list[dict[str, Any]]:
        """This run's curated rows, with the partition values taken from the paths."""
        rows: list[dict[str, Any]] = []
        for path in self.curated_files(run_id):
            partition = dict(part.split("=", 1) for part in path.parts[-3:-1])
            rows.extend({**row, **partition} for row in pq.read_table(path).to_pylist())
        return rows

    def curated_schema(self) -> pa.Schema:
        return pq.read_schema(self.curated_files()[0])

    def rejects(self) -> list[dict[str, Any]]:
        directory = self.mirror / "artifacts" / "rejects" / "orders" / f"run_id={self.run_id}"
        lines = [
            line for path in sorted(directory.glob("part-*.json")) for line in path.read_text().splitlines()
        ]
        return sorted(
            (json.loads(line) for line in lines),
            key=lambda r: (r["source_object_key"], r["line_number"] or 0, r["record_number"] or 0),
        )


@pytest.fixture
def glue_run(tmp_path: Path) -> GlueRun:
    return GlueRun(tmp_path)
