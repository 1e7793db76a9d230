"""What the sweep is asked to do, from EventBridge Scheduler's input or a classic scheduled event."""

from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from etl_common.objects import INCOMING_PREFIX
from pydantic import BaseModel, ConfigDict, Field, field_validator


class SweepRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prefix: str = INCOMING_PREFIX
    since: datetime | None = Field(default=None, description="only objects last modified at or after this")
    # Without ``since``, look back this far only. Kept below the trigger's idempotency window (7 days),
    # so an object whose run failed is still recognised as claimed and not run again on every sweep;
    # a backfill passes an explicit ``since``.
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


def parse_sweep_request(event: dict[str, Any]) -> SweepRequest:
    """Scheduler passes its configured input as the event; an EventBridge rule wraps it in ``detail``."""
    if "detail-type" in event:
        detail = EventBridgeModel.model_validate(event).detail
        return SweepRequest.model_validate(detail if isinstance(detail, dict) else {})
    return SweepRequest.model_validate(event)
