"""Reprocess a failed run: its object versions go through the ingest queue and the trigger again.

The trigger claims each object version for one run (Powertools idempotency, kept 7 days), so the same
versions uploaded again by a sweep would be duplicates of the failed run. A reprocess event names the
failed run (``detail.reprocess-of``), and the trigger takes over a claim only when that run holds it.
Why this rather than the sweep deleting the claims itself: the claim logic stays in one function, and
a second reprocess of the same run, or a late copy of a reprocess message, finds the versions owned by
the new run and starts nothing, by construction rather than by timing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError
from etl_common.artifacts import get_document
from etl_common.models import ManifestView
from etl_common.s3_uri import run_artifact_key, s3_uri

from sweep.logic import Invoker, RawObject, enqueue, object_created_event

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource, Table
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

logger = Logger(child=True)

# A run in one of these states published nothing: its object versions may be reprocessed.
FAILED_STATUSES = ("FAILED", "QUARANTINED")
PUBLISHED_STATUS = "SUCCEEDED"
BATCH_GET = 100  # BatchGetItem's limit


class Refused(Exception):
    """The run cannot be reprocessed (the message says why)."""


@dataclass
class ReprocessReport:
    run_id: str
    enqueued: int = 0
    skipped: list[dict[str, str | None]] = field(default_factory=list)
    refused: str | None = None


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class Reprocessor:
    def __init__(
        self,
        *,
        s3: S3Client,
        sqs: SQSClient,
        dynamodb: DynamoDBServiceResource,
        runs_table: str,
        lineage_table: str,
        artifacts_bucket: str,
        queue_url: str,
    ):
        self._s3 = s3
        self._sqs = sqs
        self._dynamodb = dynamodb
        self._runs: Table = dynamodb.Table(runs_table)
        self._lineage: Table = dynamodb.Table(lineage_table)
        self._runs_table = runs_table
        self._artifacts_bucket = artifacts_bucket
        self._queue_url = queue_url

    def reprocess(
        self, run_id: str, *, account: str, region: str, invoker: Invoker | None = None
    ) -> ReprocessReport:
        invoker = invoker or Invoker()
        report = ReprocessReport(run_id)
        try:
            record = self._failed_run(run_id)
        except Refused as refusal:
            report.refused = str(refusal)
            logger.warning("Reprocess refused", extra={"run_id": run_id, "reason": report.refused})
            return report
        manifest = get_document(
            str(
                record.get("manifest_uri")
                or s3_uri(self._artifacts_bucket, run_artifact_key(run_id, "manifest.json"))
            ),
            ManifestView,
        )
        now = datetime.now(UTC).replace(microsecond=0)
        todo: list[RawObject] = []
        published = self._published(obj.object_id for obj in manifest.objects)
        for obj in manifest.objects:
            reason = published.get(obj.object_id) or self._gone(obj.bucket, obj.key, obj.version_id, obj.etag)
            if reason:
                report.skipped.append({"key": obj.key, "version_id": obj.version_id, "reason": reason})
                continue
            # The event's time is the reprocess's: the new run gets a new name (a run's name is derived
            # from its objects and their latest event time, and Step Functions keeps names 90 days).
            todo.append(
                RawObject(obj.bucket, obj.key, obj.version_id, obj.etag or "", obj.size, last_modified=now)
            )
        try:
            self._mark(run_id, now, len(todo), invoker.principal)
        except Refused as refusal:
            report.refused, report.skipped = str(refusal), []
            logger.warning("Reprocess refused", extra={"run_id": run_id, "reason": report.refused})
            return report
        try:
            report.enqueued = enqueue(
                self._sqs,
                self._queue_url,
                (
                    (
                        raw.key,
                        object_created_event(
                            raw,
                            account=account,
                            region=region,
                            reason="Reprocess",
                            reprocess_of=run_id,
                            invoker=invoker,
                        ),
                    )
                    for raw in todo
                ),
            )
        except Exception:
            # Let the reprocess be asked again. Messages already sent are harmless: the first to reach
            # the trigger takes the claim over, the others find it owned by the new run.
            self._unmark(run_id, now)
            raise
        logger.info(
            "Run reprocessed",
            extra={"run_id": run_id, "enqueued": report.enqueued, "skipped": len(report.skipped)},
        )
        return report

    def _failed_run(self, run_id: str) -> dict[str, Any]:
        record = self._runs.get_item(Key={"run_id": run_id}, ConsistentRead=True).get("Item")
        if record is None:
            raise Refused(f"no run {run_id} in the runs table")
        status = str(record.get("status", ""))
        if status not in FAILED_STATUSES:
            raise Refused(
                f"run {run_id} is {status or 'without status'}: only a run that failed "
                f"({' or '.join(FAILED_STATUSES)}) is reprocessed"
            )
        if "reprocessed_at" in record:
            when = str(record["reprocessed_at"])
            raise Refused(f"run {run_id} was already reprocessed at {when}")
        return record

    def _mark(self, run_id: str, now: datetime, objects: int, principal: str) -> None:
        """Record the reprocess on the failed run, once: a concurrent second request is refused here."""
        try:
            self._runs.update_item(
                Key={"run_id": run_id},
                UpdateExpression="SET reprocessed_at = :now, reprocessed_objects = :n, reprocessed_by = :by",
                ConditionExpression=(
                    "#status IN (:failed, :quarantined) AND attribute_not_exists(reprocessed_at)"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":now": _iso(now),
                    ":n": objects,
                    ":by": principal,
                    ":failed": FAILED_STATUSES[0],
                    ":quarantined": FAILED_STATUSES[1],
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise Refused(f"run {run_id} changed while being reprocessed; look at its record") from None
            raise

    def _unmark(self, run_id: str, now: datetime) -> None:
        try:
            self._runs.update_item(
                Key={"run_id": run_id},
                UpdateExpression="REMOVE reprocessed_at, reprocessed_objects, reprocessed_by",
                ConditionExpression="reprocessed_at = :now",
                ExpressionAttributeValues={":now": _iso(now)},
            )
        except Exception:
            logger.exception("Could not clear the reprocess mark", extra={"run_id": run_id})

    def _published(self, object_ids: Iterator[str]) -> dict[str, str]:
        """Object versions with lineage to a SUCCEEDED run: reason "published by run R" per object id."""
        runs_of: dict[str, list[str]] = {}
        for object_id in object_ids:
            response = self._lineage.query(
                KeyConditionExpression="object_id = :id",
                ExpressionAttributeValues={":id": object_id},
                ProjectionExpression="run_id",
            )
            runs_of[object_id] = [str(item["run_id"]) for item in response.get("Items", [])]
        statuses = self._statuses({run for runs in runs_of.values() for run in runs})
        published: dict[str, str] = {}
        for object_id, runs in runs_of.items():
            succeeded = sorted(run for run in runs if statuses.get(run) == PUBLISHED_STATUS)
            if succeeded:
                published[object_id] = f"published by run {succeeded[0]}"
        return published

    def _statuses(self, run_ids: set[str]) -> dict[str, str]:
        statuses: dict[str, str] = {}
        ordered = sorted(run_ids)
        for start in range(0, len(ordered), BATCH_GET):
            request: Any = {
                self._runs_table: {
                    "Keys": [{"run_id": run} for run in ordered[start : start + BATCH_GET]],
                    "ProjectionExpression": "run_id, #status",
                    "ExpressionAttributeNames": {"#status": "status"},
                }
            }
            while request:
                response = self._dynamodb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._runs_table, []):
                    statuses[str(item["run_id"])] = str(item.get("status", ""))
                request = response.get("UnprocessedKeys") or None
        return statuses

    def _gone(self, bucket: str, key: str, version_id: str | None, etag: str | None) -> str | None:
        """Why the version cannot be reprocessed any more, or None while it is still there.

        Listed rather than HEAD: the sweep may list versions already, and needs no read of any object.
        """
        pages = self._s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key)
        for page in pages:
            for version in page.get("Versions", []):
                if version["Key"] != key:
                    continue
                if version_id and version.get("VersionId") == version_id:
                    return None
                if not version_id and version["IsLatest"]:
                    if etag and version["ETag"].strip('"') != etag:
                        return "the object was replaced (unversioned bucket): its new content is a new upload"
                    return None
        return "the object version no longer exists"
