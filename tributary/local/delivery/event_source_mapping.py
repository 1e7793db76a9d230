"""Lambda's SQS event source mapping, locally: poll the queue, batch, invoke, delete what succeeded.

As Lambda's poller does: up to BatchSize messages, gathered for up to MaximumBatchingWindowInSeconds
(a local cap can shorten it), one synchronous invocation per batch; on success the batch is deleted,
on a function error nothing is (the messages reappear after the queue's visibility timeout and, past
the redrive policy's maxReceiveCount, move to the dead-letter queue: SQS's own behaviour, moto's);
with ReportBatchItemFailures only the listed messages stay.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tributary.local.runtimes.lambda_runtime import InvocationResult

LOGGER = logging.getLogger("tributary.local.esm")


@dataclass(frozen=True)
class MappingConfig:
    function: str
    queue_arn: str
    queue_url: str
    batch_size: int = 10
    batching_window_seconds: float = 0.0
    report_batch_item_failures: bool = False
    enabled: bool = True


@dataclass
class BatchRecord:
    """One invocation of the mapping, for `tributary` to show and tests to check."""

    message_ids: list[str]
    failed_ids: list[str]
    function_error: str | None
    result: Any = None
    logs: str = ""  # the invocation's log output (the trigger says there why it skipped an object)


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """A received SQS message as Lambda's SQS event record."""
    attributes = message.get("Attributes", {})
    record_attributes = {
        key: attributes[key]
        for key in (
            "ApproximateReceiveCount",
            "SentTimestamp",
            "SenderId",
            "ApproximateFirstReceiveTimestamp",
            "MessageGroupId",
            "MessageDeduplicationId",
            "SequenceNumber",
            "AWSTraceHeader",
        )
        if key in attributes
    }
    message_attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value.get("DataType"),
        }
        for name, value in message.get("MessageAttributes", {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": record_attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }


def failed_item_ids(result: InvocationResult, batch_ids: list[str], report_failures: bool) -> list[str]:
    """Which messages of a batch stay on the queue after an invocation."""
    if result.function_error:
        return list(batch_ids)
    if not report_failures:
        return []
    payload = result.payload
    if payload is None or payload == {} or payload == "":
        return []
    failures = payload.get("batchItemFailures") if isinstance(payload, dict) else None
    if failures is None:
        return [] if isinstance(payload, dict) else list(batch_ids)
    ids = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in batch_ids:
            return list(batch_ids)  # an invalid response fails the whole batch, as in Lambda
        ids.append(identifier)
    return ids


@dataclass
class SqsEventSourceMapping:
    config: MappingConfig
    sqs: Any
    invoke: Callable[[dict[str, Any]], InvocationResult]
    window_cap_seconds: float | None = None  # shortens MaximumBatchingWindowInSeconds locally
    batches: list[BatchRecord] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def window(self) -> float:
        window = self.config.batching_window_seconds
        return min(window, self.window_cap_seconds) if self.window_cap_seconds is not None else window

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"esm-{self.config.function}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self.collect()
                if batch:
                    self.process(batch)
            except Exception:
                LOGGER.exception("event source mapping of %s", self.config.function)
                self._stop.wait(1)

    def collect(self) -> list[dict[str, Any]]:
        """Messages for one batch: wait for a first one, then fill up for the batching window."""
        batch: list[dict[str, Any]] = []
        first_at = 0.0
        while len(batch) < self.config.batch_size and not self._stop.is_set():
            remaining = self.window - (time.monotonic() - first_at) if batch else 1.0
            if batch and remaining <= 0:
                break
            response = self.sqs.receive_message(
                QueueUrl=self.config.queue_url,
                MaxNumberOfMessages=min(10, self.config.batch_size - len(batch)),
                WaitTimeSeconds=1 if not batch else min(1, max(0, int(remaining))),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            messages = response.get("Messages", [])
            if messages and not batch:
                first_at = time.monotonic()
            batch.extend(messages)
            if batch and self.window <= 0:
                break
            if not messages and batch and remaining < 1:
                time.sleep(max(0.0, min(remaining, 0.05)))
        return batch

    def process(self, batch: list[dict[str, Any]]) -> BatchRecord:
        records = [sqs_record(message, self.config.queue_arn) for message in batch]
        ids = [record["messageId"] for record in records]
        result = self.invoke({"Records": records})
        failed = failed_item_ids(result, ids, self.config.report_batch_item_failures)
        done = [
            {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
            for index, message in enumerate(batch)
            if message["MessageId"] not in failed
        ]
        for start in range(0, len(done), 10):
            self.sqs.delete_message_batch(QueueUrl=self.config.queue_url, Entries=done[start : start + 10])
        record = BatchRecord(ids, failed, result.function_error, result.payload, result.logs)
        self.batches.append(record)
        return record
