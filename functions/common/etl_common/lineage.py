"""Lineage items in the lineage table: object version (PK ``object_id``) -> run (SK ``run_id``) -> outputs."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from etl_common.aws import dynamodb_resource
from etl_common.models import utc_now


@dataclass(frozen=True)
class LineageEntry:
    object_id: str
    run_id: str
    dataset: str
    outputs: list[str]
    rows_written: int
    # The audit trail: the upload (key, version, ETag, event time), who or what caused it
    # (etl_common.models.TriggerSource) and the contract and reference versions the run used
    # (etl_common.models.ContractVersion). Attributes without a value are left out of the item.
    audit: dict[str, Any] = field(default_factory=dict)


class LineageRepository:
    def __init__(self, table_name: str):
        self._table = dynamodb_resource().Table(table_name)

    def put_all(self, entries: Iterable[LineageEntry]) -> int:
        """Write one item per object version. Rewriting the same (object, run) pair is harmless, so a
        retried task needs no condition."""
        recorded_at = utc_now().isoformat().replace("+00:00", "Z")
        count = 0
        with self._table.batch_writer(overwrite_by_pkeys=["object_id", "run_id"]) as batch:
            for entry in entries:
                audit = {name: value for name, value in entry.audit.items() if value not in (None, "")}
                batch.put_item(
                    Item={
                        **audit,
                        "object_id": entry.object_id,
                        "run_id": entry.run_id,
                        "dataset": entry.dataset,
                        "outputs": entry.outputs,
                        "rows_written": entry.rows_written,
                        "recorded_at": recorded_at,
                    }
                )
                count += 1
        return count

    def delete_all(self, run_id: str, object_ids: Iterable[str]) -> int:
        """Delete the (object, run) items of one run. Deleting an item that is not there is no error, so a
        retried retraction, or one for a run that never wrote its lineage, needs no condition."""
        count = 0
        with self._table.batch_writer(overwrite_by_pkeys=["object_id", "run_id"]) as batch:
            for object_id in object_ids:
                batch.delete_item(Key={"object_id": object_id, "run_id": run_id})
                count += 1
        return count

    def has_lineage(self, object_id: str) -> bool:
        response = self._table.query(
            KeyConditionExpression="object_id = :id",
            ExpressionAttributeValues={":id": object_id},
            ProjectionExpression="object_id",
            Limit=1,
        )
        return bool(response.get("Items"))
