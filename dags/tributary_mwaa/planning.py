"""What the Airflow DAG decides before it starts the pipeline: which object versions a batch or backfill
takes, how its runs are named, and the documents it writes (manifest, QUEUED run record, execution input).

Plain Python without Airflow or boto3, so that it is tested beside the functions it must agree with
(the trigger's run names, etl_common's Manifest and ExecutionInput; tests/dags/test_planning.py). The
shapes are those of docs/interfaces.md: "Manifest", "DynamoDB" and "Object naming".
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

INCOMING_PREFIX = "incoming/"
# Suffixes the trigger accepts (docs/interfaces.md, "Object naming"); anything else is never run.
SUPPORTED_SUFFIXES = (
    ".csv.gz",
    ".jsonl.gz",
    ".ndjson.gz",
    ".json.gz",
    ".csv",
    ".jsonl",
    ".ndjson",
    ".json",
    ".gz",
)
DATASET = re.compile(r"[a-z][a-z0-9_]*")
# The trigger's run names: dataset (at most 40 characters) - latest object time - 10 hex of a digest.
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_-]")
DATASET_CHARS_IN_NAME = 40
DIGEST_CHARS = 10
# What one run may take (the template's TriggerBatchSize is at most 2,000; its default is 1,000).
MAX_OBJECTS_PER_RUN = 2000
MAX_KEYS_IN_RECORD = 100
RUN_TTL_DAYS = 90
# Statuses of runs that hold their object versions without having published them (lineage tells the
# published ones). Their versions are left to the run, or to `reprocess` for a failed one.
UNPUBLISHED_STATUSES = ("QUEUED", "RUNNING", "FAILED", "QUARANTINED")
# A run's created_at is its latest object's event time; S3's event time and LastModified may differ by
# a little. Runs created this long before a window's start are still searched for its objects.
RUN_SEARCH_MARGIN = timedelta(days=1)

# The trigger's claims on object versions (trigger/claims.py: Powertools Idempotency's DynamoDB records,
# key "object-version#<md5 of the JSON object id>", kept 7 days). The DAG claims the versions it runs in
# the same records, so an upload event that arrives later starts nothing, and it leaves out a version the
# trigger has claimed (tests/dags/test_planning.py holds this to the trigger's own ObjectClaims).
CLAIM_PREFIX = "object-version"
CLAIM_TTL = timedelta(days=7)
CLAIM_CONDITION = "attribute_not_exists(#id) OR #expiry < :now"

# The stack's CloudFormation Outputs the DAG needs, by the name of the field they fill.
STACK_OUTPUTS = {
    "state_machine_arn": "PipelineStateMachineArn",
    "raw_bucket": "RawBucketName",
    "artifacts_bucket": "ArtifactsBucketName",
    "runs_table": "RunsTableName",
    "lineage_table": "LineageTableName",
    "idempotency_table": "IdempotencyTableName",
}


class PlanError(ValueError):
    """A parameter or setting the DAG cannot run with; the message says which and why."""


@dataclass(frozen=True)
class Stack:
    state_machine_arn: str
    raw_bucket: str
    artifacts_bucket: str
    runs_table: str
    lineage_table: str
    idempotency_table: str

    @classmethod
    def from_outputs(cls, outputs: Any, *, state_machine_arn: str = "") -> Stack:
        """From the stack's Outputs: ``{"RawBucketName": "...", ...}`` or, as ``aws cloudformation
        describe-stacks`` prints them, ``[{"OutputKey": "RawBucketName", "OutputValue": "..."}, ...]``.
        ``state_machine_arn``, when given, replaces the output's."""
        if isinstance(outputs, Mapping) and "Outputs" in outputs:
            outputs = outputs["Outputs"]
        if isinstance(outputs, list):
            try:
                outputs = {item["OutputKey"]: item["OutputValue"] for item in outputs}
            except (TypeError, KeyError) as exc:
                raise PlanError("the stack outputs list must hold {OutputKey, OutputValue} items") from exc
        if not isinstance(outputs, Mapping):
            raise PlanError(f"the stack outputs must be a JSON object or list, not {type(outputs).__name__}")
        values = {field: str(outputs.get(key) or "") for field, key in STACK_OUTPUTS.items()}
        if state_machine_arn:
            values["state_machine_arn"] = state_machine_arn
        missing = [STACK_OUTPUTS[field] for field, value in values.items() if not value]
        if missing:
            raise PlanError(f"the stack outputs lack {', '.join(missing)}")
        if ":stateMachine:" not in values["state_machine_arn"]:
            raise PlanError(f"not a state machine ARN: {values['state_machine_arn']!r}")
        return cls(**values)


@dataclass(frozen=True)
class Window:
    """Object versions last modified in [start, end) are taken; ``kind`` says why (manifest audit)."""

    start: datetime
    end: datetime
    kind: str  # "sweep" (a scheduled batch) or "backfill" (dates given by a person)


def parse_time(value: str, name: str) -> datetime:
    """An ISO-8601 date or date-time; without a zone it is UTC (as S3's LastModified is)."""
    text = value.strip()
    try:
        parsed = (
            datetime.combine(date.fromisoformat(text), datetime.min.time())
            if len(text) == 10
            else datetime.fromisoformat(text.replace("Z", "+00:00"))
        )
    except ValueError as exc:
        raise PlanError(f"{name}: {value!r} is not an ISO-8601 date or date-time") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def window(start: str | None, end: str | None, interval_start: datetime, interval_end: datetime) -> Window:
    """The backfill's dates when either is given (the other defaults to the data interval's), else the
    scheduled batch's data interval."""
    if not start and not end:
        result = Window(interval_start.astimezone(UTC), interval_end.astimezone(UTC), "sweep")
    else:
        result = Window(
            parse_time(start, "start") if start else interval_start.astimezone(UTC),
            parse_time(end, "end") if end else interval_end.astimezone(UTC),
            "backfill",
        )
    if result.start >= result.end:
        raise PlanError(
            f"start ({result.start:%Y-%m-%dT%H:%M:%SZ}) must be before end ({result.end:%Y-%m-%dT%H:%M:%SZ})"
        )
    return result


def datasets(requested: Iterable[str]) -> list[str]:
    names = sorted({str(name).strip() for name in requested if str(name).strip()})
    if not names:
        raise PlanError("no dataset: set the datasets parameter or the tributary_datasets Variable")
    bad = [name for name in names if not DATASET.fullmatch(name)]
    if bad:
        raise PlanError(f"not dataset names ([a-z][a-z0-9_]*): {bad}")
    return names


@dataclass(frozen=True)
class ObjectVersion:
    bucket: str
    key: str
    version_id: str | None
    etag: str
    size: int
    last_modified: datetime

    @property
    def object_id(self) -> str:
        """``s3://bucket/key#version``: the identity lineage and the trigger's claims use."""
        return f"s3://{self.bucket}/{self.key}#{self.version_id or self.etag or 'null'}"


def versions_in_window(
    bucket: str, dataset: str, listed: Iterable[Mapping[str, Any]], span: Window
) -> list[ObjectVersion]:
    """The runnable object versions of ``dataset`` among ListObjectVersions' ``Versions`` entries: every
    version (each upload is run once, as the upload path does) last modified in the window, not empty,
    not a folder marker, with a supported suffix, in a folder of the dataset."""
    prefix = f"{INCOMING_PREFIX}{dataset}/"
    found = []
    for entry in listed:
        key = str(entry["Key"])
        modified = entry["LastModified"]
        if not key.startswith(prefix) or key.endswith("/") or key == prefix or not int(entry["Size"]):
            continue
        if not key.lower().endswith(SUPPORTED_SUFFIXES) or not span.start <= modified < span.end:
            continue
        version_id = entry.get("VersionId")
        found.append(
            ObjectVersion(
                bucket=bucket,
                key=key,
                # "null" is the version id S3 lists for objects written while versioning was off.
                version_id=None if version_id in (None, "", "null") else str(version_id),
                etag=str(entry.get("ETag", "")).strip('"'),
                size=int(entry["Size"]),
                last_modified=modified.astimezone(UTC),
            )
        )
    return sorted(found, key=lambda obj: (obj.key, obj.last_modified, obj.version_id or ""))


def run_name(dataset: str, objects: Iterable[ObjectVersion]) -> str:
    """The trigger's name for a run of these versions (Step Functions keeps a name unique for 90 days,
    so the same versions never make two executions, whoever starts them)."""
    chosen = list(objects)
    latest = max(obj.last_modified for obj in chosen)
    digest = hashlib.sha256("\n".join(sorted(obj.object_id for obj in chosen)).encode("utf-8")).hexdigest()
    prefix = _NOT_IN_NAME.sub("_", dataset[:DATASET_CHARS_IN_NAME])
    return f"{prefix}-{latest:%Y%m%dT%H%M%SZ}-{digest[:DIGEST_CHARS]}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class PlannedRun:
    run_id: str
    dataset: str
    objects: tuple[ObjectVersion, ...]

    def keeping(self, object_ids: set[str]) -> PlannedRun:
        """The run with only these of its versions (the others were claimed by another run); its name
        stays, as the trigger keeps the name of a batch some of whose versions were duplicates."""
        return PlannedRun(
            self.run_id, self.dataset, tuple(o for o in self.objects if o.object_id in object_ids)
        )

    def manifest_key(self) -> str:
        return f"runs/{self.run_id}/manifest.json"

    def manifest_uri(self, artifacts_bucket: str) -> str:
        return f"s3://{artifacts_bucket}/{self.manifest_key()}"

    def manifest(self, *, kind: str, principal: str, request_id: str) -> dict[str, Any]:
        """The trigger's manifest for these versions; each object says what made it enter the run."""
        trigger = {"kind": kind, "principal": principal, "request_id": request_id, "reason": "Airflow"}
        return {
            "run_id": self.run_id,
            "dataset": self.dataset,
            "created_at": _iso(max(obj.last_modified for obj in self.objects)),
            # Found by listing the bucket, as the sweep finds its objects.
            "source": "sweep",
            "objects": [
                {
                    "bucket": obj.bucket,
                    "key": obj.key,
                    "version_id": obj.version_id,
                    "etag": obj.etag or None,
                    "size": obj.size,
                    "event_time": _iso(obj.last_modified),
                    "trigger": trigger,
                }
                for obj in sorted(self.objects, key=lambda o: (o.key, o.version_id or o.etag))
            ],
        }

    def start(self, state_machine_arn: str, artifacts_bucket: str) -> dict[str, Any]:
        """The arguments of StepFunctionStartExecutionOperator for this run."""
        return {
            "state_machine_arn": state_machine_arn,
            "name": self.run_id,
            "state_machine_input": self.execution_input(artifacts_bucket),
        }

    def execution_input(self, artifacts_bucket: str) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "dataset": self.dataset,
            "manifest_uri": self.manifest_uri(artifacts_bucket),
            "object_count": len(self.objects),
        }

    def queued_record(self, *, artifacts_bucket: str, execution_arn: str, now: datetime) -> dict[str, Any]:
        """The QUEUED run record the trigger writes before it starts a run (the state machine's
        RecordStart then sets RUNNING)."""
        return {
            "run_id": self.run_id,
            "status": "QUEUED",
            "dataset": self.dataset,
            "created_at": _iso(max(obj.last_modified for obj in self.objects)),
            "updated_at": _iso(now),
            "execution_arn": execution_arn,
            "manifest_uri": self.manifest_uri(artifacts_bucket),
            "object_count": len(self.objects),
            "objects": [obj.key for obj in self.objects[:MAX_KEYS_IN_RECORD]],
            "expires_at": int((now + timedelta(days=RUN_TTL_DAYS)).timestamp()),
        }


@dataclass(frozen=True)
class QueuedRun:
    """A run record left QUEUED: the run's manifest is written, its execution may not exist."""

    run_id: str
    dataset: str
    manifest_uri: str
    object_count: int

    def start(self, state_machine_arn: str) -> dict[str, Any]:
        """The arguments of StepFunctionStartExecutionOperator that start it as the trigger would have."""
        return {
            "state_machine_arn": state_machine_arn,
            "name": self.run_id,
            "state_machine_input": {
                "run_id": self.run_id,
                "dataset": self.dataset,
                "manifest_uri": self.manifest_uri,
                "object_count": self.object_count,
            },
        }


def stale_queued(items: Iterable[Mapping[str, Any]], *, now: datetime, min_age: timedelta) -> list[QueuedRun]:
    """The QUEUED run records last updated at least ``min_age`` ago (a younger one may be starting:
    the trigger and the DAG write the record just before they start the execution)."""
    stale = []
    for item in items:
        if item.get("status") != "QUEUED" or not item.get("manifest_uri"):
            continue
        try:
            updated = parse_time(str(item.get("updated_at") or item.get("created_at") or ""), "updated_at")
        except PlanError:
            continue
        if now - updated >= min_age:
            stale.append(
                QueuedRun(
                    run_id=str(item["run_id"]),
                    dataset=str(item["dataset"]),
                    manifest_uri=str(item["manifest_uri"]),
                    object_count=int(item.get("object_count") or 0),
                )
            )
    return stale


def plan_runs(
    dataset: str, candidates: Iterable[ObjectVersion], taken: set[str], max_objects: int
) -> list[PlannedRun]:
    """Runs of at most ``max_objects`` versions each, of the candidates no run has taken (``taken``:
    object ids with lineage, or in the manifest of a run that has not published)."""
    if not 1 <= max_objects <= MAX_OBJECTS_PER_RUN:
        raise PlanError(f"max_objects_per_run must be between 1 and {MAX_OBJECTS_PER_RUN}, not {max_objects}")
    free = [obj for obj in candidates if obj.object_id not in taken]
    runs = []
    for first in range(0, len(free), max_objects):
        chunk = tuple(free[first : first + max_objects])
        runs.append(PlannedRun(run_name(dataset, chunk), dataset, chunk))
    return runs


def claim_key(object_id: str) -> str:
    """The key of the claim record on an object version, as Powertools Idempotency makes it for the
    trigger (``event_key_jmespath="object_id"``, md5 of the JSON value, the trigger's key prefix)."""
    return f"{CLAIM_PREFIX}#{hashlib.md5(json.dumps(object_id, sort_keys=True).encode()).hexdigest()}"


def claim_item(object_id: str, run_id: str, now: datetime) -> dict[str, Any]:
    """A completed claim of the version for ``run_id``: what the trigger's claim stores when it wins."""
    return {
        "id": claim_key(object_id),
        "expiration": int((now + CLAIM_TTL).timestamp()),
        "status": "COMPLETED",
        "data": json.dumps({"run_id": run_id}, separators=(",", ":"), sort_keys=True),
    }


def claim_request(object_id: str, run_id: str, now: datetime) -> dict[str, Any]:
    """PutItem arguments (a boto3 Table) that claim the version unless a live claim exists."""
    return {
        "Item": claim_item(object_id, run_id, now),
        "ConditionExpression": CLAIM_CONDITION,
        "ExpressionAttributeNames": {"#id": "id", "#expiry": "expiration"},
        "ExpressionAttributeValues": {":now": int(now.timestamp())},
    }


def claim_owner(item: Mapping[str, Any] | None) -> str | None:
    """The run a claim record gives the version to (None: no record; "" for a claim in progress)."""
    if not item:
        return None
    if item.get("status") != "COMPLETED":
        return ""
    try:
        return str(json.loads(str(item.get("data") or "{}"))["run_id"])
    except (ValueError, KeyError, TypeError):
        return ""


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN Step Functions gives the execution ``name`` of ``state_machine_arn``."""
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"


def manifest_object_ids(manifest: Mapping[str, Any]) -> set[str]:
    """The object ids a run's manifest holds."""
    ids = set()
    for obj in manifest.get("objects", []):
        version = obj.get("version_id") or obj.get("etag") or "null"
        ids.add(f"s3://{obj['bucket']}/{obj['key']}#{version}")
    return ids


def runs_created_since(span: Window) -> str:
    """The lower bound of ``created_at`` for runs that may hold versions of the window."""
    return _iso(span.start - RUN_SEARCH_MARGIN)


def record_summary(item: Mapping[str, Any]) -> dict[str, Any]:
    """The run record's fields a DAG reports (numbers as int, as DynamoDB returns Decimal)."""
    fields = (
        "run_id", "status", "dataset", "object_count", "rows_read", "rows_written", "rows_rejected",
        "partition_count", "transform_path", "execution_arn", "result_uri", "started_at", "finished_at",
        "error", "cause", "objects_failed",
    )  # fmt: skip
    summary: dict[str, Any] = {}
    for name in fields:
        if name in item:
            value = item[name]
            if isinstance(value, Decimal):
                value = int(value) if value == value.to_integral_value() else float(value)
            summary[name] = value
    return summary
