"""Parser models of what the ingest queue delivers.

Each SQS message body is an EventBridge event as S3 emits it ("Object Created"), or the same shape
enqueued by the sweep function. Unlike S3 *event notifications* (whose ``s3.object.key`` is
form-URL-encoded: a space arrives as ``+``), the EventBridge event carries the key as stored:
``detail.object.key`` is not URL-encoded (S3 user guide, "EventBridge event message structure",
documents no encoding, in contrast to "Event notification message structure"). So the key is used
verbatim; decoding it would corrupt keys that contain ``+`` or ``%``.

Events the sweep enqueues to reprocess a failed run also carry ``detail.reprocess-of``: the run whose
claim on the object version the new run may take over (S3 never sets this field; the trigger reads it
only from events whose source is the sweep).
"""

from aws_lambda_powertools.utilities.parser.models import (
    S3EventNotificationEventBridgeDetailModel,
    S3EventNotificationEventBridgeModel,
    SqsRecordModel,
)
from pydantic import Field, Json

OBJECT_CREATED = "Object Created"
REPROCESS_OF = "reprocess-of"


class ObjectCreatedDetail(S3EventNotificationEventBridgeDetailModel):
    reprocess_of: str | None = Field(default=None, alias=REPROCESS_OF)


class ObjectCreatedEvent(S3EventNotificationEventBridgeModel):
    """An S3 EventBridge notification (``detail-type`` is checked by the trigger, not by the model)."""

    detail: ObjectCreatedDetail


class IngestQueueRecord(SqsRecordModel):
    body: Json[ObjectCreatedEvent]
