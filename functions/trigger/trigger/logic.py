"""What the trigger decides: which objects to take, how runs are named, and how a run is started."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from enum import StrEnum
from pathlib import Path

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from etl_common.artifacts import put_document
from etl_common.contracts import ContractNotFoundError, load_contract
from etl_common.models import ExecutionInput, Manifest, ManifestObject, TriggerKind, TriggerSource
from etl_common.objects import (
    SWEEP_REASONS,
    SWEEP_SOURCE,
    dataset_of,
    is_folder_marker,
    supported_suffix,
)
from etl_common.runs import RunRepository
from etl_common.s3_uri import run_artifact_key

from trigger.claims import ObjectClaims
from trigger.events import OBJECT_CREATED, ObjectCreatedEvent

logger = Logger(child=True)

# Step Functions execution names: at most 80 characters. dataset(<=40) + 1 + 16 + 1 + 10 = 68.
MAX_EXECUTION_NAME = 80
DATASET_CHARS_IN_NAME = 40
DIGEST_CHARS = 10
# AWS refuses whitespace, brackets, wildcards, special and control characters in execution names, and
# CloudWatch logging of an execution needs names of these characters only. Contract datasets already are
# ([a-z][a-z0-9_]*), so their names are unchanged; anything else in a dataset segment becomes "_" (the
# digest of the object ids, which contain the raw key, still tells such runs apart).
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_-]")


class SkipReason(StrEnum):
    NOT_OBJECT_CREATED = "not_object_created"
    OTHER_BUCKET = "other_bucket"
    OUTSIDE_INCOMING = "outside_incoming"
    FOLDER_MARKER = "folder_marker"
    EMPTY_OBJECT = "empty_object"
    UNSUPPORTED_SUFFIX = "unsupported_suffix"
    UNKNOWN_DATASET = "unknown_dataset"


@dataclass(frozen=True)
class Skipped:
    reason: SkipReason
    bucket: str
    key: str


@dataclass(frozen=True)
class Accepted:
    dataset: str
    obj: ManifestObject
    message_id: str
    from_sweep: bool = False
    # The failed run whose claim on this object version may be taken over (a reprocess by the sweep).
    reprocess_of: str | None = None


def classify(
    event: ObjectCreatedEvent, message_id: str, *, contracts_dir: Path, raw_bucket: str = ""
) -> Accepted | Skipped:
    """Accept the object of an event, or say why it is skipped.

    A dataset whose contract file is missing is unknown (skipped); one whose contract is invalid
    raises ``ContractError``, so the message is retried and ends in the DLQ rather than being dropped.
    """
    detail = event.detail
    bucket, key = detail.bucket.name, detail.object.key  # key as stored: see trigger.events

    def skip(reason: SkipReason) -> Skipped:
        return Skipped(reason, bucket, key)

    if event.detail_type != OBJECT_CREATED:
        return skip(SkipReason.NOT_OBJECT_CREATED)
    if raw_bucket and bucket != raw_bucket:
        return skip(SkipReason.OTHER_BUCKET)
    if is_folder_marker(key):
        return skip(SkipReason.FOLDER_MARKER)
    dataset = dataset_of(key)
    if dataset is None:
        return skip(SkipReason.OUTSIDE_INCOMING)
    if not detail.object.size:
        return skip(SkipReason.EMPTY_OBJECT)
    if supported_suffix(key) is None:
        return skip(SkipReason.UNSUPPORTED_SUFFIX)
    try:
        load_contract(dataset, contracts_dir)
    except ContractNotFoundError:
        return skip(SkipReason.UNKNOWN_DATASET)
    obj = ManifestObject(
        bucket=bucket,
        key=key,
        # "null" is what S3 reports for an object written while versioning was suspended or off.
        version_id=None if detail.object.version_id in (None, "", "null") else detail.object.version_id,
        etag=detail.object.etag.strip('"') or None,
        size=int(detail.object.size),
        event_time=event.time,
        trigger=trigger_source(event),
    )
    from_sweep = event.source == SWEEP_SOURCE
    return Accepted(
        dataset,
        obj,
        message_id,
        from_sweep=from_sweep,
        reprocess_of=detail.reprocess_of if from_sweep else None,
    )


def trigger_source(event: ObjectCreatedEvent) -> TriggerSource:
    """Who or what caused the event: S3's requester, source IP and request id for an upload; for an
    event the sweep enqueued, the kind its ``reason`` names and the principal it recorded as requester."""
    detail = event.detail
    kind: TriggerKind = "upload"
    if event.source == SWEEP_SOURCE:
        kind = SWEEP_REASONS.get(detail.reason or "", "sweep")
    return TriggerSource(
        kind=kind,
        principal=detail.requester or "unattributed",
        source_ip=detail.source_ip_address or None,
        request_id=detail.request_id or None,
        reason=detail.reason,
        event_id=event.id or None,
    )


def run_id_for(dataset: str, objects: Sequence[ManifestObject]) -> str:
    """Deterministic execution name: the same objects always give the same name, so a redelivered
    batch cannot start a second run (Step Functions keeps names unique for 90 days)."""
    latest = max(obj.event_time for obj in objects).astimezone(UTC)
    digest = hashlib.sha256("\n".join(sorted(obj.object_id for obj in objects)).encode("utf-8"))
    prefix = _NOT_IN_NAME.sub("_", dataset[:DATASET_CHARS_IN_NAME])
    name = f"{prefix}-{latest:%Y%m%dT%H%M%SZ}-{digest.hexdigest()[:DIGEST_CHARS]}"
    assert len(name) <= MAX_EXECUTION_NAME and not _NOT_IN_NAME.search(name), name
    return name


@dataclass
class StartReport:
    started: list[str] = field(default_factory=list)  # run ids started by this invocation
    resumed: list[str] = field(default_factory=list)  # run ids an earlier delivery had started
    duplicates: int = 0
    failed_message_ids: list[str] = field(default_factory=list)


def group_by_dataset(accepted: Iterable[Accepted]) -> dict[str, list[Accepted]]:
    groups: dict[str, list[Accepted]] = {}
    for item in accepted:
        groups.setdefault(item.dataset, []).append(item)
    return groups


StartExecution = Callable[[str, ExecutionInput], tuple[str, bool]]


class RunStarter:
    """Claims a dataset group's object versions, writes its manifest, records and starts its run."""

    def __init__(
        self,
        *,
        artifacts_bucket: str,
        state_machine_arn: str,
        claims: ObjectClaims,
        runs: RunRepository,
        start_execution: StartExecution,
        execution_arn: Callable[[str, str], str],
    ):
        self._bucket = artifacts_bucket
        self._state_machine_arn = state_machine_arn
        self._claims = claims
        self._runs = runs
        self._start_execution = start_execution
        self._execution_arn = execution_arn

    def start_all(self, accepted: Iterable[Accepted]) -> StartReport:
        report = StartReport()
        for dataset, items in group_by_dataset(accepted).items():
            try:
                self._start_group(dataset, items, report)
            except Exception:
                # Only this dataset's messages are retried; the other groups of the batch stand.
                logger.exception("Could not start a run", extra={"dataset": dataset})
                report.failed_message_ids.extend(item.message_id for item in items)
        return report

    def _start_group(self, dataset: str, items: list[Accepted], report: StartReport) -> None:
        unique: dict[str, Accepted] = {}
        for item in items:
            if item.obj.object_id in unique:
                report.duplicates += 1  # the same version twice in one batch
            else:
                unique[item.obj.object_id] = item
        run_id = run_id_for(dataset, [item.obj for item in unique.values()])

        fresh: list[Accepted] = []
        try:
            for object_id, item in unique.items():
                try:
                    owner = self._claims.claim(object_id, run_id)
                    if owner != run_id and owner == item.reprocess_of:
                        owner = self._take_over(object_id, run_id, failed_run=owner)
                    elif owner != run_id:
                        owner = self._claimed_by_another(object_id, run_id, owner, report)
                except IdempotencyAlreadyInProgressError:
                    logger.info(
                        "Object is being claimed by another invocation", extra={"object_id": object_id}
                    )
                    report.failed_message_ids.append(item.message_id)
                    continue
                if owner == run_id:
                    fresh.append(item)
                else:
                    logger.info(
                        "Duplicate delivery ignored", extra={"object_id": object_id, "owner_run_id": owner}
                    )
                    report.duplicates += 1
            if not fresh:
                return
            started = self._start_run(run_id, dataset, fresh)
        except Exception:
            # Give the claims back: the redelivered messages may start a run in whatever batch they land.
            for item in fresh:
                self._release(item.obj.object_id)
            raise
        (report.started if started else report.resumed).append(run_id)

    def _start_run(self, run_id: str, dataset: str, items: list[Accepted]) -> bool:
        manifest = Manifest(
            run_id=run_id,
            dataset=dataset,
            # Derived from the events, not the clock, so a redelivery writes the identical manifest.
            created_at=max(item.obj.event_time for item in items),
            source="sweep" if all(item.from_sweep for item in items) else "eventbridge",
            objects=sorted((item.obj for item in items), key=lambda obj: (obj.key, obj.version or "")),
        )
        manifest_uri = put_document(self._bucket, run_artifact_key(run_id, "manifest.json"), manifest)
        arn = self._execution_arn(self._state_machine_arn, run_id)
        # The record exists before the execution does, so the state machine can always update it.
        self._runs.create_queued(manifest, manifest_uri, arn)
        execution_input = ExecutionInput(
            run_id=run_id, dataset=dataset, manifest_uri=manifest_uri, object_count=len(manifest.objects)
        )
        _, started = self._start_execution(self._state_machine_arn, execution_input)
        logger.info(
            "Run started" if started else "Run had already been started",
            extra={"run_id": run_id, "dataset": dataset, "objects": len(items), "manifest_uri": manifest_uri},
        )
        return started

    def _claimed_by_another(self, object_id: str, run_id: str, owner: str, report: StartReport) -> str:
        """The run that now owns a version claimed for ``owner``, another run than this batch's."""
        record = self._runs.start_record(owner)
        if record is None:
            # A run with no record: the invocation that claimed the version is still starting that run,
            # or it died first (see trigger.claims). Retried until it cannot be running any more; then
            # the claim is taken over.
            if not self._claims.outlived(object_id):
                raise IdempotencyAlreadyInProgressError(f"{object_id}: run {owner} not started")
            return self._take_over(object_id, run_id, failed_run=owner)
        status, execution_input = record
        if status == "QUEUED" and execution_input is not None:
            # Its record is written but the run is still QUEUED: the invocation that wrote it is starting
            # it, or died before it could. Start it by its name with the same input: a start that did
            # happen (or happens later) is the same execution, so nothing runs twice and nothing is left
            # unstarted. This delivery is its duplicate.
            self._start_execution(self._state_machine_arn, execution_input)
            if owner not in report.resumed:
                report.resumed.append(owner)
            logger.info("Queued run started or already running", extra={"run_id": owner})
        return owner

    def _take_over(self, object_id: str, run_id: str, *, failed_run: str) -> str:
        """A reprocess (or a claim whose run never started): the version's claim is held by the failed
        run, so it is moved to ``run_id``, only if that run still holds it (a compare-and-swap). Another
        invocation may be taking over the same claim at the same time (both saw it held by the failed
        run): the one that loses gets the winner's run back, and the object is its duplicate. So is a
        later reprocess of the same run: an earlier one already took the claim over."""
        owner = self._claims.take_over(object_id, run_id, held_by=failed_run)
        logger.info(
            "Claim taken over from a failed run" if owner == run_id else "Claim already taken over",
            extra={"object_id": object_id, "failed_run_id": failed_run, "owner_run_id": owner},
        )
        return owner

    def _release(self, object_id: str) -> None:
        try:
            self._claims.release(object_id)
        except Exception:
            # The claim then expires with the idempotency TTL; the sweep picks the object up after that.
            logger.exception("Could not release a claim", extra={"object_id": object_id})
