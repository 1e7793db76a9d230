"""Versions claimed by a trigger invocation that died before starting their run are still published.

`make chaos` at full size lost 8 of 40 versions in "whole stack killed and restarted": the stack was
killed while the trigger had claimed 8 versions of a batch for its run and not yet started it; after the
restart their messages came back in other batches (under other run ids), found the claims held by a run
that never existed, and were dropped as duplicates (until the claims' 7-day expiry). Here the claims such
an invocation leaves are injected into the stack's idempotency table (made as the trigger makes them,
then dated two minutes back) before the versions' events reach the queue.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from tributary.chaos.harness import REPO
from tributary.chaos.invariants import StackView, Uploaded, check

from .conftest import lite_stack

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("local_stack_e2e")]

DEAD_RUN = "orders-20261207T000000Z-0123456789"  # the run id the killed invocation claimed them for
TTL_SECONDS = 7 * 24 * 3600  # the trigger's idempotency_ttl_seconds


def leave_claims(view: StackView, uploads: list[Uploaded], seconds_ago: float) -> None:
    """The claims of an invocation killed `seconds_ago` after claiming `uploads` for DEAD_RUN."""
    for folder in ("common", "trigger"):
        if str(REPO / "functions" / folder) not in sys.path:
            sys.path.insert(0, str(REPO / "functions" / folder))
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
    from etl_common.objects import object_id
    from trigger.claims import ObjectClaims

    table = view.name("IdempotencyTable")
    dynamodb = view.client("dynamodb")
    claims = ObjectClaims(table, TTL_SECONDS)
    claims.__dict__["_persistence"] = DynamoDBPersistenceLayer(table_name=table, boto3_client=dynamodb)
    # As the killed invocation's handler did (the claims record how long it could still run).
    claims.register_lambda_context(SimpleNamespace(get_remaining_time_in_millis=lambda: 60_000))  # type: ignore[arg-type]
    raw = view.name("RawBucket")
    for uploaded in uploads:
        assert claims.claim(object_id(raw, uploaded.spec.key, uploaded.version_id), DEAD_RUN) == DEAD_RUN
    expiration = str(int(time.time() - seconds_ago) + TTL_SECONDS)
    for item in dynamodb.scan(TableName=table)["Items"]:
        dynamodb.update_item(
            TableName=table,
            Key={"id": item["id"]},
            UpdateExpression="SET expiration = :e",
            ExpressionAttributeValues={":e": {"N": expiration}},
        )


def test_versions_claimed_by_an_invocation_that_died_are_published(
    tmp_path: Path, before_each_event_delivery: Callable[[Callable[[], object]], None]
) -> None:
    held = threading.Event()  # the versions' events reach the queue once the claims are there
    before_each_event_delivery(lambda: held.wait(60))
    with lite_stack(tmp_path, seed=5) as (context, before):
        specs = [
            context.data.orders(f"incoming/orders/orphan-{i}.csv", 3, must_publish=True) for i in range(3)
        ]
        uploads = context.upload(specs, threads=1)
        # the killed invocation's batch held the first two; its messages come back with the third
        leave_claims(context.view, uploads[:2], seconds_ago=120)
        held.set()
        context.wait_quiet()
        verdict = check(context.view, context.uploads, before, waves=context.waves)
        runs = context.view.client("dynamodb").scan(TableName=context.view.name("RunsTable"))["Items"]

    assert [o.outcome for o in verdict.outcomes] == ["published"] * 3, verdict.violations
    assert not verdict.violations
    assert DEAD_RUN not in {item["run_id"]["S"] for item in runs}
