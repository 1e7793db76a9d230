"""Idempotency per object version, with Powertools Idempotency (DynamoDB persistence).

Claiming an object version records which run it belongs to. The first claim wins: a later delivery
of the same version gets the earlier run's id back, so the trigger can tell a duplicate (claimed by
another run) from a redelivery of the same batch (claimed by this run, which is then started again;
the deterministic execution name makes that safe).

A claim can outlive its invocation without a run: an invocation killed (its timeout, a crash) after
claiming some versions and before starting their run. Its messages come back, possibly in other
batches and so under another run id; the trigger then finds each such version claimed by a run that
has no record, and takes the claim over once the invocation that made it cannot be running any more
(`outlived`), rather than ignoring the version as a duplicate until the claim expires.

Taking a claim over (from such a run, or from a failed run being reprocessed) is a compare-and-swap:
the claim moves to the new run only if the run it is taken from still holds it. Two invocations can
both see the version held by the same run and both take it over; giving the claim back and claiming
anew would let the second delete the first's new claim and start a second run of the same version.
"""

import json
import time
from collections.abc import Callable
from functools import cached_property
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyItemNotFoundError
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS, DataRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from etl_common.aws import dynamodb_client
from pydantic import BaseModel

# Fixed prefix: the idempotency key must not change when this module or function is renamed.
KEY_PREFIX = "object-version"


class ObjectVersion(BaseModel):
    object_id: str


class ReleaseClaim(Exception):
    """Passed to the persistence layer when a claim is given back because its run did not start."""


def _claim_for(version: ObjectVersion, run_id: str) -> dict[str, str]:
    # Runs only on the first claim of a version; later claims return this stored result.
    return _claim_data(run_id)


def _claim_data(run_id: str) -> dict[str, str]:
    return {"run_id": run_id}


def _owner(record: DataRecord) -> str | None:
    try:
        return (record.response_json_as_dict() or {}).get("run_id")
    except (ValueError, AttributeError):
        return None  # not a claim this module wrote


class ObjectClaims:
    def __init__(self, table_name: str, ttl_seconds: int):
        self._table_name = table_name
        self._ttl_seconds = ttl_seconds
        self._config = IdempotencyConfig(event_key_jmespath="object_id", expires_after_seconds=ttl_seconds)
        self._invocation_seconds = 0.0  # how long an invocation may run (its remaining time at the start)

    # The persistence layer is made on the first claim, not at import: a batch whose objects are all
    # skipped never needs it. Its client comes from etl_common.aws (default session, shared config), so
    # the DynamoDB service model is not loaded a second time by a session of its own.
    @cached_property
    def _persistence(self) -> DynamoDBPersistenceLayer:
        return DynamoDBPersistenceLayer(table_name=self._table_name, boto3_client=dynamodb_client())

    @cached_property
    def _claim(self) -> Callable[..., Any]:
        return idempotent_function(
            _claim_for,
            data_keyword_argument="version",
            persistence_store=self._persistence,
            config=self._config,
            key_prefix=KEY_PREFIX,
        )

    def register_lambda_context(self, context: LambdaContext) -> None:
        """Lets an in-progress claim expire with the invocation if the function times out."""
        self._config.register_lambda_context(context)
        self._invocation_seconds = context.get_remaining_time_in_millis() / 1000

    def claim(self, object_id: str, run_id: str) -> str:
        """Return the run that owns the object version: ``run_id`` if this is the first claim.

        Raises ``IdempotencyAlreadyInProgressError`` while another invocation holds the claim.
        """
        result: dict[str, str] = self._claim(version=ObjectVersion(object_id=object_id), run_id=run_id)
        return result["run_id"]

    def release(self, object_id: str) -> None:
        """Forget a claim, so that a redelivery of the object can start a run again."""
        self._persistence.configure(self._config, key_prefix=KEY_PREFIX)
        self._persistence.delete_record(
            data=ObjectVersion(object_id=object_id).model_dump(), exception=ReleaseClaim(object_id)
        )

    def take_over(self, object_id: str, run_id: str, *, held_by: str) -> str:
        """Move the version's claim from run ``held_by`` to ``run_id`` if ``held_by`` still holds it;
        return the run that owns the version afterwards: ``run_id``, or the run that took it over first.

        One conditional UpdateItem on the claim as it was read (its owner and expiry), so of several
        invocations taking over the same claim exactly one succeeds; the others find the winner's claim.
        The claim never disappears on the way, so no other run can slip in between. Raises
        ``IdempotencyAlreadyInProgressError`` while another invocation holds the claim.
        """
        self._persistence.configure(self._config, key_prefix=KEY_PREFIX)
        try:
            record = self._persistence.get_record(ObjectVersion(object_id=object_id).model_dump())
        except IdempotencyItemNotFoundError:
            record = None  # given back meanwhile (a run that could not start): an ordinary claim
        if record is None or record.status != STATUS_CONSTANTS["COMPLETED"] or _owner(record) != held_by:
            # Not (or no longer) held by that run: the claim returns whoever owns the version now, or
            # claims it for ``run_id`` if nobody does.
            return self.claim(object_id, run_id)
        try:
            self._swap(record, run_id)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return self.claim(object_id, run_id)  # another invocation took it over first
        return run_id

    def _swap(self, held: DataRecord, run_id: str) -> None:
        """Rewrite the claim ``held`` (as read) for ``run_id``, unless it changed since it was read.

        Relies on Powertools' stored format, which it reads back on every later claim: the attribute
        names are the persistence layer's (constructor parameters), the status is COMPLETED, the data
        is the JSON text of ``_claim_for``'s result, the expiry epoch seconds. Checked by
        tests/functions/test_trigger_takeover_race.py (a later ordinary claim returns the new owner,
        and the record has the shape of one Powertools wrote itself).
        """
        store = self._persistence
        key = {store.key_attr: {"S": held.idempotency_key}}
        if store.sort_key_attr:
            key = {
                store.key_attr: {"S": store.static_pk_value},
                store.sort_key_attr: {"S": held.idempotency_key},
            }
        store.client.update_item(
            TableName=store.table_name,
            Key=key,
            UpdateExpression="SET #data = :data, #expiry = :expiry",
            # The same status, owner and expiry as read: a claim taken over meanwhile has another owner
            # and a later expiry, one given back has no status.
            ConditionExpression="#status = :completed AND #data = :held_data AND #expiry = :held_expiry",
            ExpressionAttributeNames={
                "#status": store.status_attr,
                "#data": store.data_attr,
                "#expiry": store.expiry_attr,
            },
            ExpressionAttributeValues={
                ":completed": {"S": STATUS_CONSTANTS["COMPLETED"]},
                ":held_data": {"S": held.response_data},
                ":held_expiry": {"N": str(held.expiry_timestamp)},
                ":data": {"S": json.dumps(_claim_data(run_id), sort_keys=True)},
                # As Powertools computes it for a new claim, so `outlived` dates the claim from now.
                ":expiry": {"N": str(int(time.time()) + self._ttl_seconds)},
            },
        )

    def outlived(self, object_id: str, margin_seconds: float = 5.0) -> bool:
        """Whether the invocation that claimed the version has ended for sure: the claim is older than
        an invocation may run (this one's remaining time at its start, as every invocation of the
        function has the same timeout), plus a margin for clocks. False when that is not known."""
        if self._invocation_seconds <= 0:
            return False
        self._persistence.configure(self._config, key_prefix=KEY_PREFIX)
        record = self._persistence.get_record(ObjectVersion(object_id=object_id).model_dump())
        if record is None or record.expiry_timestamp is None:
            return False
        claimed_at = int(record.expiry_timestamp) - self._ttl_seconds  # Powertools: saved at + expires_after
        return time.time() - claimed_at > self._invocation_seconds + margin_seconds
