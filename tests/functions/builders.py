"""Builders of the events AWS delivers to the functions."""

from __future__ import annotations

import json
import uuid
from typing import Any

REGION = "us-east-1"
ACCOUNT = "123456789012"


def eventbridge_object_created(
    key: str,
    *,
    bucket: str = "tributary-raw",
    size: int = 120,
    version_id: str | None = "v1",
    etag: str = "d41d8cd98f00b204e9800998ecf8427e",
    time: str = "2026-11-24T10:14:58Z",
    source: str = "aws.s3",
    detail_type: str = "Object Created",
) -> dict[str, Any]:
    obj: dict[str, Any] = {"key": key, "size": size, "etag": etag, "sequencer": "0062E99A88DC407460"}
    if version_id is not None:
        obj["version-id"] = version_id
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": time,
        "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": obj,
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": ACCOUNT,
            "source-ip-address": "203.0.113.15",
            "reason": "PutObject",
        },
    }


def sqs_record(body: dict[str, Any] | str, message_id: str | None = None) -> dict[str, Any]:
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1795515298000",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1795515298010",
        },
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:tributary-ingest",
        "awsRegion": REGION,
    }


def sqs_batch(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}
