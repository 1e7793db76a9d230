"""What the sweep is asked to do, from EventBridge Scheduler's input, a classic scheduled event, or a
person invoking it: sweep a prefix (the default), reprocess a failed run, or redrive a dead-letter queue.
"""

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from etl_common.objects import INCOMING_PREFIX
from pydantic import BaseModel, ConfigDict, Field, field_validator

# Who asked: the schedule (the template passes Scheduler's ``<aws.scheduler.schedule-arn>``; a classic
# EventBridge rule's ARN is taken from its event) or the person invoking the function by hand.
RequestedBy = Annotated[
    str | None,
    Field(default=None, min_length=1, max_length=512, description="who asks: a schedule's ARN or a person"),
]
UNATTRIBUTED = "unattributed"
_SCHEDULE_ARN = re.compile(r"^arn:aws[a-z-]*:(scheduler|events):")


def is_schedule(requested_by: str | None) -> bool:
    return requested_by is not None and _SCHEDULE_ARN.match(requested_by) is not None


class SweepRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requested_by: RequestedBy

    prefix: str = INCOMING_PREFIX
    since: datetime | None = Field(default=None, description="only objects last modified at or after this")
    # Without ``since``, look back this far only. Kept below the trigger's idempotency window (7 days),
    # so an object whose run failed is still recognised as claimed and not run again on every sweep;
    # a backfill passes an explicit ``since``, a failed run is reprocessed with ``reprocess_run_id``.
    lookback_hours: int = Field(default=48, gt=0)
    max_objects: int = Field(default=1000, gt=0, le=100_000)

    def modified_since(self, now: datetime) -> datetime:
        return self.since or now - timedelta(hours=self.lookback_hours)

    @field_validator("prefix")
    @classmethod
    def _under_incoming(cls, value: str) -> str:
        if not value.startswith(INCOMING_PREFIX):
            raise ValueError(f"prefix must start with {INCOMING_PREFIX!r}")
        return value

    @field_validator("since")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        # S3 reports LastModified in UTC; a time given without a zone is read as UTC too.
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class ReprocessRequest(BaseModel):
    """Send a failed run's object versions through the trigger again (``{"reprocess_run_id": "RUN"}``)."""

    model_config = ConfigDict(extra="forbid")

    reprocess_run_id: str = Field(min_length=1, max_length=80)
    requested_by: RequestedBy


class RedriveRequest(BaseModel):
    """Move the messages of a dead-letter queue back to the ingest queue (``{"redrive": "ingest"}``)."""

    model_config = ConfigDict(extra="forbid")

    redrive: Literal["ingest", "events"] = Field(
        description="ingest: the ingest queue's DLQ; events: the DLQ of EventBridge and Scheduler targets"
    )
    max_messages: int = Field(default=10_000, gt=0, le=100_000)


Request = SweepRequest | ReprocessRequest | RedriveRequest


def parse_sweep_request(event: dict[str, Any]) -> Request:
    """Scheduler passes its configured input as the event; an EventBridge rule wraps it in ``detail``."""
    if "detail-type" in event:
        envelope = EventBridgeModel.model_validate(event)
        detail = envelope.detail
        event = dict(detail) if isinstance(detail, dict) else {}
        # A classic scheduled event names its rule in ``resources``: the schedule that asked.
        if envelope.resources and "requested_by" not in event:
            event["requested_by"] = envelope.resources[0]
    if "reprocess_run_id" in event:
        return ReprocessRequest.model_validate(event)
    if "redrive" in event:
        return RedriveRequest.model_validate(event)
    return SweepRequest.model_validate(event)
