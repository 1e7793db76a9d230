"""Parser models of what the ingest queue delivers.

Each SQS message body is an EventBridge event as S3 emits it ("Object Created"), or the same shape
enqueued by the sweep function. Unlike S3 *event notifications* (whose ``s3.object.key`` is
form-URL-encoded: a space arrives as ``+``), the EventBridge event carries the key as stored:
``detail.object.key`` is not URL-encoded (S3 user guide, "EventBridge event message structure",
documents no encoding, in contrast to "Event notification message structure"). So the key is used
verbatim; decoding it would corrupt keys that contain ``+`` or ``%``.
"""

from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel, SqsRecordModel
from pydantic import Json

OBJECT_CREATED = "Object Created"


class ObjectCreatedEvent(S3EventNotificationEventBridgeModel):
    """An S3 EventBridge notification (``detail-type`` is checked by the trigger, not by the model)."""


class IngestQueueRecord(SqsRecordModel):
    body: Json[ObjectCreatedEvent]
