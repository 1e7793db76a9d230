"""Run records in the runs table (PK ``run_id``; GSI ``by-status-created``)."""

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from etl_common.aws import dynamodb_resource
from etl_common.models import Manifest, utc_now

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

# A DynamoDB item is limited to 400 KB: the record lists the first keys only; the manifest has them all.
MAX_KEYS_IN_RECORD = 100


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class RunRepository:
    def __init__(self, table_name: str, ttl_days: int = 90):
        self._table_name = table_name
        self._ttl = timedelta(days=ttl_days)
        self._table_resource: Table | None = None

    def _table(self) -> "Table":
        # Made on first use, not at import: a trigger batch whose objects are all skipped needs no DynamoDB.
        if self._table_resource is None:
            self._table_resource = dynamodb_resource().Table(self._table_name)
        return self._table_resource

    def create_queued(self, manifest: Manifest, manifest_uri: str, execution_arn: str) -> bool:
        """Create the QUEUED record; False when the run already has one (a redelivery, or the state
        machine already recorded its start). The condition keeps a later status from being overwritten.
        """
        now = utc_now()
        item: dict[str, Any] = {
            "run_id": manifest.run_id,
            "status": "QUEUED",
            "dataset": manifest.dataset,
            "created_at": _iso(manifest.created_at),
            "updated_at": _iso(now),
            "execution_arn": execution_arn,
            "manifest_uri": manifest_uri,
            "object_count": len(manifest.objects),
            "objects": [obj.key for obj in manifest.objects[:MAX_KEYS_IN_RECORD]],
            "expires_at": int((now + self._ttl).timestamp()),
        }
        try:
            self._table().put_item(Item=item, ConditionExpression="attribute_not_exists(run_id)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def mark_quarantined(self, run_id: str, quarantine_uri: str) -> bool:
        """Set QUARANTINED on an existing record (the state machine has recorded FAILED, error and cause)."""
        try:
            self._table().update_item(
                Key={"run_id": run_id},
                UpdateExpression="SET #status = :quarantined, quarantine_uri = :uri, updated_at = :now",
                ConditionExpression="attribute_exists(run_id)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":quarantined": "QUARANTINED",
                    ":uri": quarantine_uri,
                    ":now": _iso(utc_now()),
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True
