"""Runs one run's inputs through both executors and returns what each published, normalised for
comparison: the Glue job (glue/transform.py on a local SparkSession) and the small-run executor
(functions/transform_lite on local folders). Only timing and output file names are left out."""

from __future__ import annotations

import dataclasses
import gzip
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[2]
for folder in ("functions/common", "functions/transform_lite", "glue"):
    if str(REPO / folder) not in sys.path:
        sys.path.insert(0, str(REPO / folder))

import transform  # noqa: E402  (glue/transform.py)
from etl_common.contracts import Contract  # noqa: E402
from etl_common.plan import compile_plan  # noqa: E402
from etl_common.references import read_local_references  # noqa: E402
from transform_lite.logic import TransformFailed, run_transform  # noqa: E402
from transform_lite.storage import LocalStorage  # noqa: E402

INGEST_TS = datetime(2026, 11, 24, 10, 15, tzinfo=UTC)


@dataclass(frozen=True)
class InputObject:
    """One object of a run: its key, the bytes stored, how validate staged it."""

    key: str
    body: bytes
    ext: str = ".csv"  # the staged name's extension (".csv", ".jsonl", ".json")
    gzipped: bool = False  # stored gzip-compressed (`body` is compressed here when `compress`)
    encoding: str = "utf-8"
    version: str = "v1"
    compress: bool = True  # False: `body` is already the stored bytes (a corrupt gzip, say)


@dataclass
class RunOutput:
    """What one executor published for a run."""

    status: str
    error: str | None
    rows: list[dict[str, Any]] = field(default_factory=list)
    schemas: list[list[tuple[str, str, bool]]] = field(default_factory=list)
    file_rows: list[int] = field(default_factory=list)  # rows of each curated file
    rejects: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    batches: list[dict[str, str]] = field(default_factory=list)
    failed: dict[str, Any] = field(default_factory=dict)


def canonical(value: Any) -> Any:
    """Row values made comparable and printable (Decimal, dates and timestamps as text)."""
    if isinstance(value, dict):
        return {key: canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    return f"{type(value).__name__}:{value}"


def sort_key(value: Any) -> str:
    return json.dumps(canonical(value), sort_keys=True, ensure_ascii=False)


class RunLayout:
    """The files of a run under `root`: `s3/` the bucket mirror, `docs/` the run's documents."""

    def __init__(self, root: Path, run_id: str, dataset: str) -> None:
        self.root = root
        self.run_id = run_id
        self.dataset = dataset
        self.mirror = root / "s3"
        self.docs = root / "docs"

    def stage(self, objects: Sequence[InputObject], contract: dict[str, Any]) -> dict[str, Any]:
        """Writes the staged inputs, manifest, contract and plan; returns the job arguments."""
        entries = []
        for index, item in enumerate(objects):
            name = f"{index:05d}{item.ext}{'.gz' if item.gzipped else ''}"
            staged = f"s3://artifacts/runs/{self.run_id}/input/{name}"
            path = self.mirror / "artifacts" / "runs" / self.run_id / "input" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            data = gzip.compress(item.body, mtime=0) if item.gzipped and item.compress else item.body
            path.write_bytes(data)
            entries.append(
                {
                    "bucket": "raw",
                    "key": item.key,
                    "version_id": item.version,
                    "etag": "e",
                    "size": len(data),
                    "event_time": "2026-11-24T10:14:58Z",
                    "compression": "gzip" if item.gzipped else "none",
                    "encoding": item.encoding,
                    "staged_uri": staged,
                }
            )
        self.docs.mkdir(parents=True, exist_ok=True)
        validated = Contract.model_validate(contract)
        (self.docs / "contract.json").write_text(json.dumps(validated.model_dump(mode="json")))
        # Reference data (contract ``references``) as validate would read it: the demo's files under events/.
        references = read_local_references(validated, REPO / "events")
        plan = compile_plan(validated, references)
        (self.docs / "plan.json").write_text(json.dumps(plan.model_dump(mode="json")))
        manifest = {"run_id": self.run_id, "dataset": self.dataset, "objects": entries}
        (self.docs / "validated.json").write_text(json.dumps(manifest))
        return {
            "run_id": self.run_id,
            "manifest_uri": str(self.docs / "validated.json"),
            "plan_uri": str(self.docs / "plan.json"),
            "output_uri": f"s3://curated/{self.dataset}/",
            "rejects_uri": f"s3://artifacts/rejects/{self.dataset}/run_id={self.run_id}/",
            "result_uri": str(self.docs / "result.json"),
            "ingest_ts": INGEST_TS.isoformat(),
        }

    def collect(self, status: str, error: str | None) -> RunOutput:
        output = RunOutput(status=status, error=error)
        curated = self.mirror / "curated" / self.dataset
        for path in sorted(curated.glob(f"*/run_id={self.run_id}/part-*.parquet")):
            table = pq.read_table(path, partitioning=None)
            output.schemas.append([(item.name, str(item.type), item.nullable) for item in table.schema])
            output.file_rows.append(table.num_rows)
            partition = dict(part.split("=", 1) for part in path.parts[-3:-1])
            output.rows.extend(canonical({**row, **partition}) for row in table.to_pylist())
        output.rows.sort(key=sort_key)
        rejects = self.mirror / "artifacts" / "rejects" / self.dataset / f"run_id={self.run_id}"
        for path in sorted(rejects.glob("part-*.json")):
            output.rejects.extend(json.loads(line) for line in path.read_text().split("\n") if line)
        output.rejects.sort(key=sort_key)
        for name, attribute in (
            ("result.json", "result"),
            ("summary.json", "summary"),
            ("partition-batches.json", "batches"),
            ("failed-objects.json", "failed"),
        ):
            path = self.docs / name
            if path.exists():
                setattr(output, attribute, normalised_document(name, json.loads(path.read_text()), self.root))
        return output


def normalised_document(name: str, document: Any, root: Path) -> Any:
    """A document without timing and file names; local paths relative to the run's root; lists whose
    order the job does not fix (failed objects: Spark meets failing files in task order) sorted."""
    text = json.dumps(document).replace(str(root), "<root>")
    document = json.loads(text)
    if name == "result.json":
        document.pop("timing", None)
        document["outputs"] = sorted(uri.rsplit("/", 1)[0] + "/<file>" for uri in document.get("outputs", []))
        document["failed_objects"] = sorted(document.get("failed_objects", []), key=sort_key)
    if name == "failed-objects.json":
        document["objects"] = sorted(document.get("objects", []), key=sort_key)
    return document


def glue_arguments(spark_args: dict[str, Any], layout: RunLayout) -> Any:
    """JobArgs for the Glue job as it is committed (plan_uri since issue 9; contract_uri before)."""
    names = {item.name for item in dataclasses.fields(transform.JobArgs)}
    values = dict(spark_args)
    if "plan_uri" not in names:
        values["contract_uri"] = str(layout.docs / "contract.json")
        values.pop("plan_uri")
    values["ingest_ts"] = INGEST_TS
    values["spark_path_prefix"] = layout.mirror.as_uri()
    return transform.JobArgs(**{key: value for key, value in values.items() if key in names})


def run_glue(
    spark: Any,
    root: Path,
    run_id: str,
    contract: dict[str, Any],
    objects: Sequence[InputObject],
    rows_per_file: int | None = None,
) -> RunOutput:
    layout = RunLayout(root / "glue", run_id, contract["dataset"])
    arguments = {**layout.stage(objects, contract), "rows_per_file": rows_per_file}
    # Every run whose plan pyarrow can decide goes through `fast_checked`, whatever share of its
    # records is odd (the job leaves a run of mostly odd records to Spark's expressions alone): the
    # records pyarrow decides meet the small-run executor's on every generated input.
    share, transform.MAX_UNDECIDED_SHARE = transform.MAX_UNDECIDED_SHARE, 1.0
    try:
        transform.transform(spark, glue_arguments(arguments, layout))
    except Exception as error:
        return layout.collect("FAILED", transform.error_line(error)[1])
    finally:
        transform.MAX_UNDECIDED_SHARE = share
    return layout.collect("SUCCEEDED", None)


def run_lite(
    root: Path,
    run_id: str,
    contract: dict[str, Any],
    objects: Sequence[InputObject],
    rows_per_file: int | None = None,
) -> RunOutput:
    layout = RunLayout(root / "lite", run_id, contract["dataset"])
    arguments = {**layout.stage(objects, contract), "rows_per_file": rows_per_file}
    try:
        run_transform(arguments, LocalStorage(layout.mirror), work_folder=root)
    except TransformFailed as failed:
        return layout.collect("FAILED", str(failed))
    return layout.collect("SUCCEEDED", None)


def without_file_counts(output: RunOutput) -> RunOutput:
    """The output without how many files each partition has (see test_a_run_split_into_files...)."""
    result = {**output.result, "outputs": sorted(set(output.result.get("outputs", [])))}
    result["partitions"] = [{**entry, "files": "?"} for entry in output.result.get("partitions", [])]
    schemas = [schema for index, schema in enumerate(output.schemas) if schema not in output.schemas[:index]]
    return dataclasses.replace(output, result=result, schemas=schemas, file_rows=[])


def differences(glue: RunOutput, lite: RunOutput) -> list[str]:
    """Every way the two outputs differ, as readable lines (empty when they agree)."""
    found = []
    for name in ("status", "error", "schemas", "file_rows", "result", "summary", "batches", "failed"):
        ours, theirs = getattr(glue, name), getattr(lite, name)
        if name == "file_rows":
            ours, theirs = sorted(ours), sorted(theirs)
        if ours != theirs:
            found.append(f"{name}: glue={ours!r}\n   lite={theirs!r}")
    for name in ("rows", "rejects"):
        ours, theirs = getattr(glue, name), getattr(lite, name)
        if ours != theirs:
            only_glue = [row for row in ours if row not in theirs][:5]
            only_lite = [row for row in theirs if row not in ours][:5]
            found.append(
                f"{name}: {len(ours)} vs {len(theirs)}; glue only {only_glue}\n   lite only {only_lite}"
            )
    return found
