"""Lists raw objects, keeps those with no lineage, and enqueues an "Object Created" event for each."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from etl_common.lineage import LineageRepository
from etl_common.objects import SWEEP_SOURCE, is_folder_marker, object_id

from sweep.models import UNATTRIBUTED, SweepRequest, is_schedule

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

logger = Logger(child=True)

SQS_BATCH = 10
# Field of the events the sweep enqueues to reprocess a run: the failed run whose claim the trigger may
# take over (trigger.events reads it under the same name).
REPROCESS_OF = "reprocess-of"


@dataclass(frozen=True)
class RawObject:
    bucket: str
    key: str
    version_id: str | None
    etag: str
    size: int
    last_modified: datetime

    @property
    def object_id(self) -> str:
        return object_id(self.bucket, self.key, self.version_id or self.etag)


def latest_objects(s3: S3Client, bucket: str, request: SweepRequest) -> Iterator[RawObject]:
    """Current versions under the prefix (ListObjectVersions gives the version ids ListObjectsV2 lacks)."""
    since = request.modified_since(datetime.now(UTC))
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=request.prefix):
        for version in page.get("Versions", []):
            key, size = version["Key"], version["Size"]
            if not version["IsLatest"] or is_folder_marker(key) or size == 0:
                continue
            if version["LastModified"] < since:
                continue
            version_id = version.get("VersionId")
            yield RawObject(
                bucket=bucket,
                key=key,
                # "null" is the version id S3 lists for objects written while versioning was off.
                version_id=None if version_id in (None, "null") else version_id,
                etag=version["ETag"].strip('"'),
                size=size,
                last_modified=version["LastModified"],
            )


@dataclass(frozen=True)
class Invoker:
    """Who asked the sweep function, recorded as each enqueued event's ``requester`` (the trigger keeps it
    as the objects' trigger principal), and the invocation's Lambda request id as its ``request-id``."""

    principal: str = UNATTRIBUTED
    request_id: str | None = None

    @classmethod
    def of(cls, requested_by: str | None, request_id: str | None) -> Invoker:
        return cls(requested_by or UNATTRIBUTED, request_id or None)


def object_created_event(
    obj: RawObject,
    *,
    account: str,
    region: str,
    reason: str = "Sweep",
    reprocess_of: str | None = None,
    invoker: Invoker | None = None,
) -> str:
    """The message S3 would have sent through EventBridge, built from the same model the trigger parses.

    ``reason`` is Sweep, Backfill or Reprocess (etl_common.objects.SWEEP_REASONS); ``reprocess_of`` names
    the failed run whose claim on the version the trigger may take over.
    """
    invoker = invoker or Invoker()
    detail_object: dict[str, object] = {"key": obj.key, "size": obj.size, "etag": obj.etag}
    if obj.version_id:
        detail_object["version-id"] = obj.version_id
    event = S3EventNotificationEventBridgeModel.model_validate(
        {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Object Created",
            "source": SWEEP_SOURCE,
            "account": account,
            # The object's time, not now: a repeated sweep then yields the same run name.
            "time": obj.last_modified,
            "region": region,
            "resources": [f"arn:aws:s3:::{obj.bucket}"],
            "detail": {
                "version": "0",
                "bucket": {"name": obj.bucket},
                "object": detail_object,
                "request-id": invoker.request_id or str(uuid.uuid4()),
                "requester": invoker.principal,
                "reason": reason,
            },
        }
    )
    body = event.model_dump(mode="json", by_alias=True, exclude_none=True)
    if reprocess_of is not None:
        body["detail"][REPROCESS_OF] = reprocess_of
    return json.dumps(body, ensure_ascii=False)


def enqueue(sqs: SQSClient, queue_url: str, messages: Iterable[tuple[str, str]]) -> int:
    """Send ``(label, body)`` messages in batches of 10; raise naming the labels of any that failed."""
    sent = 0
    pending = iter(messages)
    while batch := list(islice(pending, SQS_BATCH)):
        entries = [{"Id": str(index), "MessageBody": body} for index, (_, body) in enumerate(batch)]
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)  # type: ignore[arg-type]
        failed = response.get("Failed", [])
        if failed:
            labels = [batch[int(entry["Id"])][0] for entry in failed]
            raise RuntimeError(f"could not enqueue {len(failed)} objects: {labels}")
        sent += len(batch)
        logger.info("Enqueued", extra={"keys": [label for label, _ in batch]})
    return sent


class Sweeper:
    def __init__(self, *, s3: S3Client, sqs: SQSClient, lineage: LineageRepository, queue_url: str):
        self._s3 = s3
        self._sqs = sqs
        self._lineage = lineage
        self._queue_url = queue_url

    def unprocessed(self, bucket: str, request: SweepRequest) -> Iterator[RawObject]:
        # Objects claimed by a run still in flight are enqueued too; the trigger ignores them as duplicates.
        candidates = (
            obj
            for obj in latest_objects(self._s3, bucket, request)
            if not self._lineage.has_lineage(obj.object_id)
        )
        return islice(candidates, request.max_objects)

    def sweep(
        self, bucket: str, request: SweepRequest, *, account: str, region: str, request_id: str | None = None
    ) -> int:
        """Enqueue the unprocessed objects. Asked by a schedule it is a sweep; asked by anyone else (a
        person, who says who in ``requested_by``) a backfill: the reason the trigger records."""
        reason = "Sweep" if is_schedule(request.requested_by) else "Backfill"
        invoker = Invoker.of(request.requested_by, request_id)
        return enqueue(
            self._sqs,
            self._queue_url,
            (
                (
                    obj.key,
                    object_created_event(obj, account=account, region=region, reason=reason, invoker=invoker),
                )
                for obj in self.unprocessed(bucket, request)
            ),
        )
