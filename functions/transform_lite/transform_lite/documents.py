"""The documents a run writes beside result.json, in the Glue job's shapes (docs/interfaces.md):
result.json, summary.json, partition-batches.json and failed-objects.json."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# At most this many partitions in one ALTER TABLE statement (the state machine runs one per batch).
PARTITIONS_PER_BATCH = 100


@dataclass
class RunCounts:
    objects: dict[int, dict[str, int]] = field(default_factory=dict)
    partitions: dict[str, int] = field(default_factory=dict)
    rule_failures: dict[tuple[str, str], int] = field(default_factory=dict)
    valid_raw_chars: int = 0

    @property
    def rows_read(self) -> int:
        return sum(counts["rows_read"] for counts in self.objects.values())

    @property
    def rows_rejected(self) -> int:
        return sum(counts["rows_rejected"] for counts in self.objects.values())


@dataclass(frozen=True)
class PartitionOutput:
    value: str
    location: str  # ends with '/'
    rows: int
    files: list[str]


def sibling_uri(uri: str, name: str) -> str:
    folder, _, _ = uri.rpartition("/")
    return f"{folder}/{name}"


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def partition_spec(values: dict[str, str]) -> str:
    return "PARTITION (" + ", ".join(f"{name}={sql_literal(value)}" for name, value in values.items()) + ")"


def partition_clause(entries: Sequence[dict[str, Any]]) -> str:
    return " ".join(
        f"{partition_spec(entry['values'])} LOCATION {sql_literal(entry['location'])}" for entry in entries
    )


def partition_batches(entries: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    batches = [
        entries[start : start + PARTITIONS_PER_BATCH]
        for start in range(0, len(entries), PARTITIONS_PER_BATCH)
    ]
    return [
        {
            "clause": partition_clause(batch),
            "drop_clause": ", ".join(partition_spec(entry["values"]) for entry in batch),
        }
        for batch in batches
    ]


def partition_entries(
    outputs: Sequence[PartitionOutput], partition_column: str, run_id: str
) -> list[dict[str, Any]]:
    return [
        {
            "values": {partition_column: output.value, "run_id": run_id},
            "location": output.location,
            "rows": output.rows,
            "files": len(output.files),
        }
        for output in sorted(outputs, key=lambda output: output.value)
    ]


@dataclass
class RunInfo:
    run_id: str
    result_uri: str
    rejects_uri: str
    started_at: datetime
    started_clock: float
    dataset: str = ""


def timing(info: RunInfo, clock: float) -> dict[str, Any]:
    return {
        "started_at": iso_utc(info.started_at),
        "finished_at": iso_utc(datetime.now(UTC)),
        "seconds": round(clock - info.started_clock, 3),
    }


def result_document(
    info: RunInfo,
    objects: Sequence[Any],
    counts: RunCounts,
    outputs: Sequence[PartitionOutput],
    partition_column: str,
    rules: Sequence[tuple[str, str]],
    max_reject_ratio: float,
    failed_objects: Sequence[dict[str, Any]],
    clock: float,
) -> dict[str, Any]:
    rows_read, rows_rejected = counts.rows_read, counts.rows_rejected
    ratio = round(rows_rejected / rows_read, 6) if rows_read else 0.0
    entries = partition_entries(outputs, partition_column, info.run_id)
    by_value = {output.value: output for output in outputs}
    object_entries = []
    for item in objects:
        per_object = counts.objects.get(item.index, {"rows_read": 0, "rows_rejected": 0})
        object_entries.append(
            {
                "key": item.key,
                "version_id": item.version_id,
                "rows_read": per_object["rows_read"],
                "rows_written": per_object["rows_read"] - per_object["rows_rejected"],
                "rows_rejected": per_object["rows_rejected"],
            }
        )
    return {
        "run_id": info.run_id,
        "dataset": info.dataset,
        "status": "SUCCEEDED",
        "rows_read": rows_read,
        "rows_written": rows_read - rows_rejected,
        "rows_rejected": rows_rejected,
        "reject_ratio": ratio,
        "objects": object_entries,
        "failed_objects": list(failed_objects),
        "partitions": entries,
        "partition_clause": partition_clause(entries),
        "rejects_uri": info.rejects_uri,
        "outputs": [
            entry["location"] + name
            for entry in entries
            for name in by_value[entry["values"][partition_column]].files
        ],
        "quality": {
            "passed": ratio <= max_reject_ratio,
            "max_reject_ratio": max_reject_ratio,
            "reject_ratio": ratio,
            "rules": [
                {"column": column, "rule": rule, "failed_rows": counts.rule_failures.get((rule, column), 0)}
                for column, rule in rules
            ],
        },
        "timing": timing(info, clock),
    }


def failed_result(
    info: RunInfo, kind: str, message: str, failed_objects: Sequence[dict[str, Any]], clock: float
) -> dict[str, Any]:
    return {
        "run_id": info.run_id,
        "dataset": info.dataset,
        "status": "FAILED",
        "error": {"type": kind, "message": message},
        "rows_read": 0,
        "rows_written": 0,
        "rows_rejected": 0,
        "reject_ratio": 0.0,
        "objects": [],
        "failed_objects": list(failed_objects),
        "partitions": [],
        "partition_clause": "",
        "rejects_uri": info.rejects_uri,
        "outputs": [],
        "quality": {"passed": False, "max_reject_ratio": None, "reject_ratio": 0.0, "rules": []},
        "timing": timing(info, clock),
    }


def summary_document(result: dict[str, Any], result_uri: str) -> dict[str, Any]:
    quality = result["quality"]
    return {
        "run_id": result["run_id"],
        "dataset": result["dataset"],
        "status": result["status"],
        "rows_read": result["rows_read"],
        "rows_written": result["rows_written"],
        "rows_rejected": result["rows_rejected"],
        "reject_ratio": result["reject_ratio"],
        "object_count": len(result["objects"]),
        "objects_failed": len(result["failed_objects"]),
        "partition_count": len(result["partitions"]),
        "quality": {
            "passed": quality["passed"],
            "max_reject_ratio": quality["max_reject_ratio"],
            "reject_ratio": quality["reject_ratio"],
        },
        "result_uri": result_uri,
        "rejects_uri": result["rejects_uri"],
        "partition_batches_uri": sibling_uri(result_uri, "partition-batches.json"),
        "failed_objects_uri": sibling_uri(result_uri, "failed-objects.json"),
        **({"error": result["error"]} if "error" in result else {}),
    }


def run_documents(result: dict[str, Any], result_uri: str) -> list[tuple[str, bytes]]:
    """(uri, body) of result.json, partition-batches.json, failed-objects.json and summary.json, in the
    order the job writes them (summary last: its presence means the others are there)."""
    summary = summary_document(result, result_uri)
    batches = partition_batches(result["partitions"])
    failed = {
        "run_id": result["run_id"],
        "dataset": result["dataset"],
        "objects": result["failed_objects"],
        "quarantine_uri": None,
    }
    return [
        (result_uri, json.dumps(result, indent=1).encode()),
        (summary["partition_batches_uri"], json.dumps(batches).encode()),
        (summary["failed_objects_uri"], json.dumps(failed, indent=1).encode()),
        (sibling_uri(result_uri, "summary.json"), json.dumps(summary, indent=1).encode()),
    ]
