"""One run converted: every readable object's records checked into a spill file in /tmp (Arrow IPC,
typed columns), run-wide duplicates found for the `unique` rules, then the spill read once more to
write the rejects (JSON Lines) and the curated Parquet (one file per partition value and
ceil(rows / rows_per_file) files when larger), with the counts of the result document.

Memory stays bounded by one batch of records plus, per `unique` column, its values (Arrow arrays);
the rows themselves wait on disk. An object that fails while read is dropped with its spill file.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from etl_common.plan import TransformPlan

from transform_lite.checks import CheckedBatch, RowChecker, arrow_type
from transform_lite.documents import PartitionOutput, RunCounts
from transform_lite.sources import ObjectFailed, SourceObject, object_records
from transform_lite.storage import Storage

BATCH_RECORDS = 20_000
TARGET_RAW_BYTES_PER_FILE = 256 * 1024 * 1024
MIN_ROWS_PER_FILE = 10_000
MAX_ROWS_PER_FILE = 20_000_000
REJECT_ROWS_PER_FILE = 1_000_000
# Curated rows gathered (over all partition values) before they are written, each partition's as one
# Parquet row group: fewer, larger row groups read faster; memory holds at most this many rows.
PENDING_ROWS = 200_000
UNIQUE_MESSAGE_RULE = "unique"


@dataclass
class Spill:
    """The checked records of the objects read so far, on local disk."""

    folder: Path
    files: dict[int, Path] = field(default_factory=dict)  # object index -> its Arrow IPC file
    unique_values: dict[str, list[pa.Array]] = field(default_factory=dict)


class Converter:
    def __init__(
        self,
        plan: TransformPlan,
        storage: Storage,
        *,
        run_id: str,
        ingest_ts: datetime,
        output_uri: str,
        rejects_uri: str,
        rows_per_file: int | None,
        work_folder: Path | None = None,
    ) -> None:
        self.plan = plan
        self.storage = storage
        self.run_id = run_id
        self.ingest_ts = ingest_ts
        self.output_uri = output_uri.rstrip("/")
        self.rejects_uri = rejects_uri
        self.rows_per_file = rows_per_file
        self.checker = RowChecker(plan, ingest_ts)
        self.data_columns = [column.name for column in plan.columns]
        self.data_types = {
            item.name: arrow_type(item.arrow) for item in plan.output_columns if item.role == "data"
        }
        self.unique = [check for check in plan.checks if check.rule == "unique"]
        self.rules = [(rule.column, rule.rule) for rule in plan.rules]
        if work_folder is None:
            remove_stale_work(Path(tempfile.gettempdir()))
        self.work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=work_folder))
        self.spill = Spill(self.work / "spill")
        self.spill.folder.mkdir()

    # ------------------------------------------------------------------------------------ pass 1

    def read_object(self, item: SourceObject) -> None:
        """Checks every record of `item` into its spill file; ObjectFailed leaves nothing behind."""
        path = self.spill.folder / f"{item.index:06d}.arrow"
        values: dict[str, list[pa.Array]] = {check.column or "": [] for check in self.unique}
        schema = self.spill_schema()
        try:
            # lz4: a third of the size in /tmp for little CPU
            options = ipc.IpcWriteOptions(compression="lz4")
            with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, schema, options=options) as writer:
                for records in self._batches(object_records(self.storage, item, self.plan)):
                    batch = self.to_arrow(self.checker.check(item.index, records), schema)
                    writer.write_batch(batch)
                    good = pc.invert(batch.column("__malformed"))
                    for name in values:
                        values[name].append(pc.drop_null(pc.filter(batch.column(name), good)))
        except ObjectFailed:
            path.unlink(missing_ok=True)
            raise
        self.spill.files[item.index] = path
        for name, arrays in values.items():
            self.spill.unique_values.setdefault(name, []).extend(arrays)

    @staticmethod
    def _batches(records: Iterator[Any]) -> Iterator[list[Any]]:
        batch = []
        for record in records:
            batch.append(record)
            if len(batch) >= BATCH_RECORDS:
                yield batch
                batch = []
        if batch:
            yield batch

    def spill_schema(self) -> pa.Schema:
        fields = [
            pa.field("__object", pa.int32()),
            pa.field("__line", pa.int64()),
            pa.field("__record", pa.int64()),
            pa.field("__raw", pa.string()),
            pa.field("__malformed", pa.bool_()),
            pa.field("__reasons", pa.string()),
            pa.field("__partition", pa.string()),
        ]
        fields += [pa.field(name, self.data_types[name]) for name in self.data_columns]
        return pa.schema(fields)

    def to_arrow(self, checked: CheckedBatch, schema: pa.Schema) -> pa.RecordBatch:
        size = len(checked.raws)
        reasons = [json.dumps(found) if found else None for found in checked.reasons]
        arrays = [
            pa.array([checked.object_index] * size, pa.int32()),
            pa.array(checked.line_numbers, pa.int64()),
            pa.array(checked.record_numbers, pa.int64()),
            pa.array(checked.raws, pa.string()),
            pa.array(checked.malformed, pa.bool_()),
            pa.array(reasons, pa.string()),
            pa.array(checked.partition_values, pa.string()),
        ]
        arrays += [
            pa.array(values, self.data_types[name])
            for name, values in zip(self.data_columns, checked.values, strict=True)
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    # ------------------------------------------------------------------------------- unique rule

    @staticmethod
    def _comparable(values: pa.Array | pa.ChunkedArray) -> Any:
        """Values as compared for `unique`: a double's -0.0 equals 0.0."""
        if pa.types.is_floating(values.type):
            return pc.add(values, pa.scalar(0.0, values.type))
        return values

    def duplicate_sets(self) -> dict[str, pa.Array]:
        duplicates = {}
        for check in self.unique:
            name = check.column or ""
            chunks = self.spill.unique_values.get(name) or []
            if not chunks:
                duplicates[name] = pa.array([], self.data_types[name])
                continue
            values = self._comparable(pa.chunked_array(chunks, self.data_types[name]))
            counted = pc.value_counts(values)
            repeated = pc.filter(counted.field("values"), pc.greater(counted.field("counts"), 1))
            duplicates[name] = repeated
            self.spill.unique_values[name] = []
        return duplicates

    # ------------------------------------------------------------------------------------ pass 2

    def write(self, objects: Sequence[SourceObject]) -> tuple[RunCounts, list[PartitionOutput]]:
        duplicates = self.duplicate_sets()
        counts = RunCounts(rule_failures={(rule, column): 0 for column, rule in self.rules})
        writers: dict[str, PartitionFile] = {}
        rejects = RejectsWriter(self.work / "rejects", self.run_id)
        output_schema = self.output_schema()
        try:
            for item in objects:
                path = self.spill.files.get(item.index)
                if path is None:
                    continue
                per_object = counts.objects.setdefault(item.index, {"rows_read": 0, "rows_rejected": 0})
                with pa.OSFile(str(path)) as source:  # read, not mapped: mapped pages would count as memory
                    reader = ipc.open_file(source)
                    for position in range(reader.num_record_batches):
                        batch = reader.get_batch(position)
                        self.write_batch(
                            batch, item, duplicates, counts, per_object, writers, rejects, output_schema
                        )
                path.unlink()
        finally:
            for partition_file in writers.values():
                partition_file.close()
            rejects.close()
        self.publish_rejects(rejects)
        outputs = self.publish_curated(counts, {value: file.path for value, file in writers.items()})
        return counts, outputs

    def write_batch(
        self,
        batch: pa.RecordBatch,
        item: SourceObject,
        duplicates: dict[str, pa.Array],
        counts: RunCounts,
        per_object: dict[str, int],
        writers: dict[str, PartitionFile],
        rejects: RejectsWriter,
        output_schema: pa.Schema,
    ) -> None:
        good = pc.invert(batch.column("__malformed"))
        flags = []
        for check in self.unique:
            name = check.column or ""
            repeated = pc.is_in(self._comparable(batch.column(name)), value_set=duplicates[name])
            flags.append((check, pc.and_(pc.fill_null(repeated, False), good)))
        rejected = pc.is_valid(batch.column("__reasons"))
        for _, flag in flags:
            rejected = pc.or_(rejected, flag)
        per_object["rows_read"] += batch.num_rows
        rejected_rows = pc.sum(rejected).as_py() or 0
        per_object["rows_rejected"] += rejected_rows
        if rejected_rows:
            self.reject(batch, rejected, flags, item, counts, rejects)
        if rejected_rows == batch.num_rows:
            return
        kept = batch.filter(pc.invert(rejected))
        counts.valid_raw_chars += pc.sum(pc.utf8_length(kept.column("__raw"))).as_py() or 0
        partitions = kept.column("__partition")
        values = pc.unique(partitions).to_pylist()
        for value in values:
            rows = kept if len(values) == 1 else kept.filter(pc.equal(partitions, value))
            counts.partitions[value] = counts.partitions.get(value, 0) + rows.num_rows
            if value not in writers:
                writers[value] = PartitionFile(
                    self.work / f"partition-{len(writers):06d}.parquet", output_schema
                )
            writers[value].add(self.curated_table(rows, item, output_schema))
        if sum(partition_file.pending_rows for partition_file in writers.values()) >= PENDING_ROWS:
            for partition_file in writers.values():
                partition_file.flush()

    def reject(
        self,
        batch: pa.RecordBatch,
        rejected: pa.Array,
        flags: list[tuple[Any, pa.Array]],
        item: SourceObject,
        counts: RunCounts,
        rejects: RejectsWriter,
    ) -> None:
        columns = {
            name: batch.column(name).filter(rejected).to_pylist()
            for name in ("__line", "__record", "__raw", "__reasons")
        }
        unique_flags = [(check, flag.filter(rejected).to_pylist()) for check, flag in flags]
        for row in range(len(columns["__raw"])):
            found = json.loads(columns["__reasons"][row]) if columns["__reasons"][row] else []
            for check, flag in unique_flags:
                if flag[row]:
                    found.append({"column": check.column, "rule": check.rule, "message": check.message})
            for reason in found:
                key = (reason["rule"], reason["column"])
                if key in counts.rule_failures:
                    counts.rule_failures[key] += 1
            rejects.add(item, columns["__line"][row], columns["__record"][row], columns["__raw"][row], found)

    def output_schema(self) -> pa.Schema:
        return pa.schema(
            [
                pa.field(item.name, arrow_type(item.arrow), nullable=item.nullable)
                for item in self.plan.output_columns
                if not item.in_path
            ]
        )

    def curated_table(self, rows: pa.RecordBatch, item: SourceObject, schema: pa.Schema) -> pa.Table:
        size = rows.num_rows
        arrays = [rows.column(name) for name in self.data_columns]
        arrays += [
            pa.array([item.key] * size, pa.string()),
            pa.array([item.version_id] * size, pa.string()),
            pa.array([self.ingest_ts] * size, pa.timestamp("us", tz="UTC")),
        ]
        return pa.Table.from_arrays(arrays, schema=schema)

    # --------------------------------------------------------------------------------- publishing

    def rows_per_file_for(self, counts: RunCounts) -> int:
        if self.rows_per_file:
            return self.rows_per_file
        valid_rows = sum(counts.partitions.values())
        average = counts.valid_raw_chars / valid_rows if valid_rows else 1.0
        estimate = int(TARGET_RAW_BYTES_PER_FILE / max(average, 1.0))
        return max(MIN_ROWS_PER_FILE, min(MAX_ROWS_PER_FILE, estimate))

    def publish_curated(self, counts: RunCounts, files: dict[str, Path]) -> list[PartitionOutput]:
        rows_per_file = self.rows_per_file_for(counts)
        column = self.plan.partition.column
        outputs = []
        for value, path in sorted(files.items()):
            rows = counts.partitions[value]
            location = f"{self.output_uri}/{column}={value}/run_id={self.run_id}/"
            names = []
            parts = max(1, math.ceil(rows / rows_per_file))
            job = uuid.uuid4()
            if parts == 1:
                name = f"part-00000-{job}.c000.snappy.parquet"
                self.storage.upload(location + name, path)
                names.append(name)
            else:
                table = pq.read_table(path)
                size = math.ceil(rows / parts)
                for part in range(parts):
                    name = f"part-{part:05d}-{job}.c000.snappy.parquet"
                    piece = self.work / f"piece-{part}.parquet"
                    with parquet_writer(piece, table.schema) as writer:
                        writer.write_table(table.slice(part * size, size))
                    self.storage.upload(location + name, piece)
                    piece.unlink()
                    names.append(name)
            path.unlink()
            outputs.append(PartitionOutput(value, location, rows, names))
        return outputs

    def publish_rejects(self, rejects: RejectsWriter) -> None:
        base = self.rejects_uri if self.rejects_uri.endswith("/") else self.rejects_uri + "/"
        job = uuid.uuid4()
        for part, path in enumerate(rejects.files):
            self.storage.upload(f"{base}part-{part:05d}-{job}-c000.json", path)
            path.unlink()

    def clear_earlier_output(self) -> int:
        """An earlier attempt's `*/run_id=<run_id>/` under the output, and its rejects."""
        self.storage.delete_prefix(
            self.rejects_uri if self.rejects_uri.endswith("/") else self.rejects_uri + "/"
        )
        removed = 0
        for prefix in self.storage.child_prefixes(self.output_uri + "/"):
            removed += self.storage.delete_prefix(f"{prefix}run_id={self.run_id}/")
        return removed

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


WORK_PREFIX = "transform-lite-"


# Older than any invocation can run (Lambda's limit is 15 minutes).
STALE_SECONDS = 16 * 60


def remove_stale_work(folder: Path) -> None:
    """What an earlier invocation in this execution environment left in /tmp (one that timed out never
    cleaned up): work folders older than any invocation can be."""
    now = time.time()
    for stale in folder.glob(WORK_PREFIX + "*"):
        with contextlib.suppress(OSError):
            if now - stale.stat().st_mtime > STALE_SECONDS:
                shutil.rmtree(stale, ignore_errors=True)


def parquet_writer(path: Path, schema: pa.Schema) -> pq.ParquetWriter:
    """Snappy, timestamps as INT64 microseconds, decimals as INT32/INT64 when they fit (as Spark writes)."""
    return pq.ParquetWriter(
        str(path),
        schema,
        compression="snappy",
        coerce_timestamps="us",
        store_decimal_as_integer=True,
    )


class PartitionFile:
    """The curated rows of one partition value, in one local Parquet file of large row groups."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self._writer = parquet_writer(path, schema)
        self._pending: list[pa.Table] = []
        self.pending_rows = 0

    def add(self, table: pa.Table) -> None:
        self._pending.append(table)
        self.pending_rows += table.num_rows

    def flush(self) -> None:
        if self._pending:
            table = pa.concat_tables(self._pending)
            self._writer.write_table(table, row_group_size=max(self.pending_rows, 1))
        self._pending, self.pending_rows = [], 0

    def close(self) -> None:
        self.flush()
        self._writer.close()


class RejectsWriter:
    """Rejected rows as JSON Lines in local files of at most REJECT_ROWS_PER_FILE rows."""

    def __init__(self, folder: Path, run_id: str) -> None:
        folder.mkdir(exist_ok=True)
        self.folder = folder
        self.run_id = run_id
        self.files: list[Path] = []
        self._handle: Any = None
        self._rows = 0

    def add(
        self,
        item: SourceObject,
        line: int | None,
        record: int | None,
        raw: str,
        reasons: list[dict[str, Any]],
    ) -> None:
        if self._handle is None or self._rows >= REJECT_ROWS_PER_FILE:
            self.close()
            path = self.folder / f"rejects-{len(self.files):05d}.json"
            self.files.append(path)
            self._handle = path.open("w", encoding="utf-8")
            self._rows = 0
        entry = {
            "run_id": self.run_id,
            "source_object_key": item.key,
            "source_object_version": item.version_id,
            "line_number": line,
            "record_number": record,
            "raw": raw,
            "reasons": reasons,
        }
        self._handle.write(json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._rows += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
