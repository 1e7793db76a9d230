"""Run records in the runs table (PK ``run_id``; GSIs ``by-status-created`` and
``by-trigger-principal-created``)."""

from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from etl_common.aws import dynamodb_resource
from etl_common.models import ContractVersion, ExecutionInput, Manifest, utc_now

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

# A DynamoDB item is limited to 400 KB: the record lists the first keys only; the manifest has them all.
MAX_KEYS_IN_RECORD = 100


# Objects of manifests written before the trigger recorded who caused them.
UNRECORDED = "unrecorded"


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def trigger_attributes(manifest: Manifest) -> dict[str, Any]:
    """Who or what caused the run, for its record: ``trigger_principal`` (the GSI
    ``by-trigger-principal-created`` key: the principal of most of its objects, the first in sorted order
    on a tie), ``trigger_kind`` (``mixed`` when its objects came in different ways) and ``triggers``, one
    entry per distinct (kind, principal, source IP) with its object count. Each object's own trigger,
    request id included, is in the manifest and in its lineage item."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for obj in manifest.objects:
        trigger = obj.trigger
        if trigger is None:
            counts[(UNRECORDED, UNRECORDED, "")] += 1
        else:
            counts[(trigger.kind, trigger.principal, trigger.source_ip or "")] += 1
    by_principal: Counter[str] = Counter()
    for (_, principal, _), count in counts.items():
        by_principal[principal] += count
    principal = min(by_principal, key=lambda name: (-by_principal[name], name))
    kinds = {kind for kind, _, _ in counts}
    triggers = []
    for (kind, who, source_ip), count in sorted(counts.items()):
        entry: dict[str, Any] = {"kind": kind, "principal": who, "objects": count}
        if source_ip:
            entry["source_ip"] = source_ip
        triggers.append(entry)
    return {
        "trigger_principal": principal,
        "trigger_kind": kinds.pop() if len(kinds) == 1 else "mixed",
        "triggers": triggers[:MAX_KEYS_IN_RECORD],
    }


def version_attributes(versions: ContractVersion, plan_uri: str) -> dict[str, Any]:
    """Which contract and reference data the run used, for its record."""
    return {**versions.attributes(), "plan_uri": plan_uri}


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
            **trigger_attributes(manifest),
        }
        try:
            self._table().put_item(Item=item, ConditionExpression="attribute_not_exists(run_id)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def start_record(self, run_id: str) -> tuple[str, ExecutionInput | None] | None:
        """The run's status and the execution input its record was written with (None if the record
        lacks it); None when the run has no record (the trigger writes it, QUEUED, before it starts the
        run)."""
        item = (
            self._table()
            .get_item(
                Key={"run_id": run_id},
                ProjectionExpression="#s, dataset, manifest_uri, object_count",
                ExpressionAttributeNames={"#s": "status"},
                ConsistentRead=True,
            )
            .get("Item")
        )
        if item is None:
            return None
        if not {"dataset", "manifest_uri", "object_count"} <= item.keys():
            return str(item.get("status", "")), None
        return str(item.get("status", "")), ExecutionInput(
            run_id=run_id,
            dataset=str(item["dataset"]),
            manifest_uri=str(item["manifest_uri"]),
            object_count=int(str(item["object_count"])),
        )

    def record_versions(self, run_id: str, versions: ContractVersion, plan_uri: str) -> bool:
        """Set the contract and reference versions on an existing record (validate, once it compiled the
        run's plan); False when the run has no record. Writing the same values again is harmless."""
        attributes = version_attributes(versions, plan_uri)
        names = {f"#{name}": name for name in attributes}
        values = {f":{name}": value for name, value in attributes.items()}
        assignments = ", ".join(f"#{name} = :{name}" for name in attributes)
        try:
            self._table().update_item(
                Key={"run_id": run_id},
                UpdateExpression=f"SET {assignments}, updated_at = :now",
                ConditionExpression="attribute_exists(run_id)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={**values, ":now": _iso(utc_now())},
            )
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
