"""Builds the lineage entries of a run from its manifest and the Glue job's result document, and says
which entries a failed run must retract."""

from collections.abc import Iterator, Mapping
from typing import Any, Literal, cast

from etl_common.lineage import LineageEntry
from etl_common.models import JobResult, ManifestView, ObjectView
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt

Action = Literal["record", "retract"]
ACTIONS: tuple[Action, ...] = ("record", "retract")


class RetractRequest(BaseModel):
    """``{"action": "retract", "run_id", "dataset", "manifest_uri"}``: the run's validated manifest names
    every object version it may have written lineage for."""

    model_config = ConfigDict(extra="ignore")

    action: Literal["retract"]
    run_id: str = Field(min_length=1)
    dataset: str = Field(min_length=1)
    manifest_uri: str = Field(min_length=1)


class RetractResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    retracted: NonNegativeInt


def task_action(event: Mapping[str, Any]) -> Action:
    """The requested action; ``record`` when the event names none (requests written before actions)."""
    action = event.get("action", "record")
    if action not in ACTIONS:
        raise ValueError(f"unknown lineage action {action!r}: expected one of {', '.join(ACTIONS)}")
    return cast(Action, action)


def lineage_entries(manifest: ManifestView, result: JobResult) -> Iterator[LineageEntry]:
    if result.run_id != manifest.run_id:
        raise ValueError(f"result of run {result.run_id} does not belong to run {manifest.run_id}")
    rows_by_object = {(item.key, item.version_id): item.rows_written for item in result.objects}
    # Left out by the job (quarantined with their reasons): nothing of them was published.
    left_out = {(item.key, item.version_id) for item in result.failed_objects}
    # The job reports partitions per run, not per object: every input of the run points at all of them.
    outputs = [partition.location for partition in result.partitions]
    versions = run_versions(manifest)
    for obj in manifest.objects:
        if (obj.key, obj.version_id) in left_out:
            continue
        yield LineageEntry(
            object_id=obj.object_id,
            run_id=manifest.run_id,
            dataset=manifest.dataset,
            outputs=outputs,
            rows_written=rows_by_object.get((obj.key, obj.version_id), 0),
            audit={**upload_attributes(obj), **versions},
        )


def upload_attributes(obj: ObjectView) -> dict[str, Any]:
    """The upload an item's rows came from, and who or what caused it to be processed."""
    trigger = obj.trigger
    event_time = obj.event_time
    return {
        "source_bucket": obj.bucket,
        "source_key": obj.key,
        "source_version_id": obj.version_id,
        "source_etag": obj.etag,
        "uploaded_at": event_time.isoformat().replace("+00:00", "Z") if event_time else None,
        "trigger_kind": trigger.kind if trigger else None,
        "trigger_principal": trigger.principal if trigger else None,
        "trigger_source_ip": trigger.source_ip if trigger else None,
        "trigger_request_id": trigger.request_id if trigger else None,
        "trigger_reason": trigger.reason if trigger else None,
    }


def run_versions(manifest: ManifestView) -> dict[str, Any]:
    """The contract and reference versions the run used (from its validated manifest)."""
    return manifest.versions.attributes() if manifest.versions is not None else {}


def retracted_ids(manifest: ManifestView, run_id: str) -> list[str]:
    """The object ids whose (object, run) lineage items a failed run deletes: every object version of its
    validated manifest, which is exactly what ``lineage_entries`` wrote for."""
    if manifest.run_id != run_id:
        raise ValueError(f"manifest of run {manifest.run_id} does not belong to run {run_id}")
    return sorted({obj.object_id for obj in manifest.objects})
