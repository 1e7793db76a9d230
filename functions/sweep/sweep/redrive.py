"""Redrive a dead-letter queue: its "Object Created" events go back to the ingest queue.

Both dead-letter queues hold the same kind of body the ingest queue receives: the ingest DLQ holds
ingest messages the trigger failed ``maxReceiveCount`` times; the event-delivery DLQ holds the events
EventBridge could not deliver to a target (the ingest rule's events among them; SQS adds the error as
message attributes). A message is deleted from the DLQ only after the ingest queue accepted its copy,
so a failure part-way loses nothing; a message sent twice that way is a duplicate the trigger ignores
(idempotency per object version). What is not an "Object Created" event (a Glue failure alert that
could not reach the topic, a schedule that could not invoke the sweep, a malformed body) has nowhere
to go back to: it stays in the DLQ, visible again, and is listed with the error it carries.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from etl_common.objects import SWEEP_SOURCE

from sweep.logic import SQS_BATCH

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

logger = Logger(child=True)

OBJECT_CREATED = "Object Created"
# Long enough that no message is received twice within one invocation (the sweep's timeout is 300 s).
RECEIVE_VISIBILITY_SECONDS = 600
# Stop receiving when less time than this is left, to finish the sends and deletes in hand.
SAFETY_MILLIS = 20_000


def kind_of(body: str, attributes: dict[str, Any]) -> str | None:
    """None for an "Object Created" event the trigger takes; otherwise what the message is."""
    try:
        event = json.loads(body)
    except ValueError:
        event = None
    if isinstance(event, dict) and "detail-type" in event:
        if event["detail-type"] == OBJECT_CREATED and event.get("source") in ("aws.s3", SWEEP_SOURCE):
            return None
        return f"{event['detail-type']} event from {event.get('source', 'an unknown source')}"
    schedule = attributes.get("X-Amz-Scheduler-Schedule-Arn", {}).get("StringValue")
    if schedule:
        return f"input of schedule {schedule.rsplit('/', 1)[-1]} (the schedule could not invoke its target)"
    return "not an EventBridge event"


@dataclass
class RedriveReport:
    source: str
    moved: int = 0
    failed: int = 0  # sends the ingest queue refused: still in the DLQ, back after the visibility timeout
    kept: list[dict[str, str | None]] = field(default_factory=list)
    more: bool = False  # stopped by max_messages or time: invoke again


class Redriver:
    def __init__(self, *, sqs: SQSClient, ingest_queue_url: str):
        self._sqs = sqs
        self._ingest = ingest_queue_url

    def redrive(
        self, source: str, queue_url: str, *, max_messages: int, remaining_millis: Callable[[], int]
    ) -> RedriveReport:
        report = RedriveReport(source)
        kept_handles: list[str] = []
        seen = 0
        try:
            while True:
                if seen >= max_messages or remaining_millis() < SAFETY_MILLIS:
                    report.more = True
                    break
                messages = self._sqs.receive_message(
                    QueueUrl=queue_url,
                    MaxNumberOfMessages=min(SQS_BATCH, max_messages - seen),
                    WaitTimeSeconds=1,  # long polling asks every server: an empty answer means empty
                    VisibilityTimeout=RECEIVE_VISIBILITY_SECONDS,
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
                if not messages:
                    break
                seen += len(messages)
                movable: list[MessageTypeDef] = []
                for message in messages:
                    attributes: dict[str, Any] = dict(message.get("MessageAttributes", {}))
                    kind = kind_of(message["Body"], attributes)
                    if kind is None:
                        movable.append(message)
                        continue
                    kept_handles.append(message["ReceiptHandle"])
                    error = attributes.get("ERROR_MESSAGE", {}).get("StringValue")
                    report.kept.append({"message_id": message["MessageId"], "kind": kind, "error": error})
                self._move(queue_url, movable, report)
        finally:
            for handle in kept_handles:
                # Visible again at once, for the person who reads the DLQ next.
                self._sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0
                )
        logger.info("Redrive done", extra=asdict(report))
        return report

    def _move(self, queue_url: str, messages: list[MessageTypeDef], report: RedriveReport) -> None:
        if not messages:
            return
        response = self._sqs.send_message_batch(
            QueueUrl=self._ingest,
            Entries=[{"Id": str(index), "MessageBody": m["Body"]} for index, m in enumerate(messages)],
        )
        sent = [messages[int(entry["Id"])] for entry in response.get("Successful", [])]
        report.failed += len(response.get("Failed", []))
        if sent:
            deleted = self._sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": m["ReceiptHandle"]} for index, m in enumerate(sent)
                ],
            )
            # A copy sent but not deleted comes back to the DLQ; redriven again, the trigger ignores it.
            report.moved += len(deleted.get("Successful", []))
