"""Two invocations taking over the same object version's claim at the same time (both found it held by
the same failed run: a reprocess message delivered twice in different batches, or an orphan claim of a
killed invocation redelivered twice) must start one run of it, not two: every upload becomes Parquet
exactly once. The takeover is a compare-and-swap on the claim; these tests interleave two takeovers
deterministically, as two Lambda containers (each its own RunStarter and claims) would race."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from .builders import sqs_record
from .conftest import LambdaContext, Stack
from .test_trigger import CSV, executions, manifest_of, reprocess_event
from .test_trigger_orphan_claims import killed_invocation

PATHS = ["reprocess", "orphan"]


def accepted(handler: Any, event: dict[str, Any], message_id: str = "m") -> Any:
    from trigger.events import IngestQueueRecord
    from trigger.logic import Accepted, classify

    outcome = classify(
        IngestQueueRecord.model_validate(sqs_record(event, message_id=message_id)).body,
        message_id,
        contracts_dir=handler.settings.contracts_dir,
    )
    assert isinstance(outcome, Accepted)
    return outcome


def container_claims(handler: Any) -> Any:
    from trigger.claims import ObjectClaims

    claims = ObjectClaims(handler.settings.idempotency_table, handler.settings.idempotency_ttl_seconds)
    claims.register_lambda_context(LambdaContext())  # as the handler does on every invocation
    return claims


def container(handler: Any) -> Any:
    """Another warm trigger container: its own claims and RunStarter, the same tables and state machine."""
    from etl_common.runs import RunRepository
    from trigger.logic import RunStarter

    settings = handler.settings
    return RunStarter(
        artifacts_bucket=settings.artifacts_bucket,
        state_machine_arn=settings.state_machine_arn,
        claims=container_claims(handler),
        runs=RunRepository(settings.runs_table, settings.run_ttl_days),
        start_execution=handler.start_execution,
        execution_arn=handler.execution_arn,
    )


def runs_of(stack: Stack, key: str) -> list[str]:
    """The executions whose manifest holds the object ``key``."""
    return sorted(
        e["name"]
        for e in executions(stack)
        if key in [obj["key"] for obj in manifest_of(stack, e["name"])["objects"]]
    )


def move_clock(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """The claims' clock, past the killed invocation's timeout (as the queue's visibility timeout does)."""
    now = time.time() + seconds
    monkeypatch.setattr("trigger.claims.time.time", lambda: now)


def racing_batches(
    path: str, stack: Stack, handler: Any, put_raw: Callable[..., dict[str, Any]], monkeypatch: Any
) -> tuple[list[Any], list[Any], str]:
    """Two batches that both find incoming/orders/a.csv claimed by the same failed run (returned), each
    under its own run id: two reprocess messages for a.csv naming the same failed run (told apart here by
    their time, as by other objects in their batches), or the message of a killed invocation's orphan
    claim delivered twice, alone and next to c."""
    handler.claims.register_lambda_context(LambdaContext())
    a = put_raw("incoming/orders/a.csv", CSV)
    if path == "reprocess":
        handler.lambda_handler({"Records": [sqs_record(a)]}, LambdaContext())
        [failed] = [e["name"] for e in executions(stack)]
        first = [accepted(handler, reprocess_event(a, failed, time="2026-11-25T08:00:00Z"), "m-a1")]
        second = [accepted(handler, reprocess_event(a, failed, time="2026-11-25T09:00:00Z"), "m-a2")]
        return first, second, failed
    b = put_raw("incoming/orders/b.csv", CSV)
    c = put_raw("incoming/orders/c.csv", CSV, time="2026-11-24T10:20:00Z")
    failed = killed_invocation(handler, [a, b], claimed=1)  # a claimed for a run that never started
    move_clock(monkeypatch, 66)  # past the trigger's timeout (60 s here) and the margin
    return [accepted(handler, a, "m-a1")], [accepted(handler, a, "m-a2"), accepted(handler, c, "m-c")], failed


def owner_of(handler: Any, object_id: str) -> str:
    """The run a later ordinary claim (Powertools reading the record back) finds owning the version."""
    return container_claims(handler).claim(object_id, "orders-a-later-claim")


def assert_a_won(stack: Stack, handler: Any, reports: dict[str, Any], failed: str, first: list[Any]) -> None:
    """A started the one new run of a.csv and owns its claim; B found a.csv a duplicate of it."""
    [run_a] = reports["a"].started
    assert [run for run in runs_of(stack, "incoming/orders/a.csv") if run != failed] == [run_a]
    assert reports["b"].duplicates == 1 and reports["b"].failed_message_ids == []
    assert owner_of(handler, first[0].obj.object_id) == run_a


@pytest.mark.parametrize("path", PATHS)
def test_a_takeover_after_another_took_the_claim_over_starts_no_second_run(
    path, stack, load_handler, put_raw, monkeypatch
):
    """Both containers saw the version held by the failed run; A takes it over and starts its run before
    B's takeover begins. Giving the claim back and claiming anew (the old takeover) deleted A's claim
    here and started a second run of a.csv."""
    handler = load_handler("trigger")
    first, second, failed = racing_batches(path, stack, handler, put_raw, monkeypatch)
    a_starter, b_starter = container(handler), container(handler)
    reports: dict[str, Any] = {}
    real_take_over = b_starter._take_over

    def a_wins_first(object_id: str, run_id: str, *, failed_run: str) -> str:
        assert failed_run == failed  # B did see the version held by the failed run
        reports["a"] = a_starter.start_all(first)
        return real_take_over(object_id, run_id, failed_run=failed_run)

    monkeypatch.setattr(b_starter, "_take_over", a_wins_first)
    reports["b"] = b_starter.start_all(second)

    assert_a_won(stack, handler, reports, failed, first)
    if path == "orphan":
        [run_b] = reports["b"].started  # c alone
        assert [obj["key"] for obj in manifest_of(stack, run_b)["objects"]] == ["incoming/orders/c.csv"]
    else:
        assert reports["b"].started == []


@pytest.fixture
def before_conditional_update(stack: Stack) -> Iterator[Callable[[Callable[[], None]], list[int]]]:
    """Runs a callback once, just before the first conditional UpdateItem on the claims table is sent
    (the takeover's compare-and-swap; Powertools' own UpdateItem, completing a claim, has no condition)."""
    from etl_common.aws import dynamodb_client

    events = dynamodb_client().meta.events
    hooks: list[Callable[..., None]] = []

    def install(callback: Callable[[], None]) -> list[int]:
        fired: list[int] = []

        def hook(params: dict[str, Any], **_: Any) -> None:
            conditional = "ConditionExpression" in params
            if conditional and params.get("TableName") == stack.idempotency_table and not fired:
                fired.append(1)
                callback()

        hooks.append(hook)
        events.register("before-parameter-build.dynamodb.UpdateItem", hook)
        return fired

    yield install
    for hook in hooks:
        events.unregister("before-parameter-build.dynamodb.UpdateItem", hook)


@pytest.mark.parametrize("path", PATHS)
def test_a_takeover_whose_claim_is_taken_over_between_its_read_and_its_write_loses(
    path, stack, load_handler, put_raw, monkeypatch, before_conditional_update
):
    """B has read the claim (held by the failed run) and is about to move it; A takes the claim over in
    between. B's write must fail on the changed claim, and B gets A's run back: a duplicate."""
    handler = load_handler("trigger")
    first, second, failed = racing_batches(path, stack, handler, put_raw, monkeypatch)
    a_starter, b_starter = container(handler), container(handler)
    reports: dict[str, Any] = {}
    fired = before_conditional_update(lambda: reports.setdefault("a", a_starter.start_all(first)))

    reports["b"] = b_starter.start_all(second)

    assert fired == [1], "the takeover is not a conditional write"
    assert_a_won(stack, handler, reports, failed, first)


# ---------------------------------------------------------------- the record Powertools reads back


@pytest.fixture
def claims(stack: Stack) -> Any:
    from trigger.claims import ObjectClaims

    made = ObjectClaims(stack.idempotency_table, ttl_seconds=7 * 24 * 3600)
    made.register_lambda_context(LambdaContext())
    return made


def stored_items(stack: Stack) -> list[dict[str, Any]]:
    return boto3.client("dynamodb").scan(TableName=stack.idempotency_table)["Items"]


def test_a_taken_over_claim_is_stored_as_powertools_stores_a_claim_and_read_back_by_it(stack, claims):
    """The takeover writes Powertools' record format itself (the one place the trigger does). If Powertools
    changed that format (attribute names or types, status, JSON data, expiry in epoch seconds), this fails."""
    version = "s3://tributary-raw/incoming/orders/a.csv#v1"
    assert claims.claim(version, "orders-failed") == "orders-failed"
    [by_powertools] = stored_items(stack)

    before = int(time.time())
    assert claims.take_over(version, "orders-new", held_by="orders-failed") == "orders-new"
    [taken_over] = stored_items(stack)

    assert {name: set(value) for name, value in taken_over.items()} == {
        name: set(value) for name, value in by_powertools.items()
    }
    assert taken_over["id"] == by_powertools["id"] and taken_over["status"] == {"S": "COMPLETED"}
    assert json.loads(by_powertools["data"]["S"]) == {"run_id": "orders-failed"}
    assert json.loads(taken_over["data"]["S"]) == {"run_id": "orders-new"}
    ttl = 7 * 24 * 3600
    assert before + ttl <= int(taken_over["expiration"]["N"]) <= int(time.time()) + ttl
    # Powertools reads it back: a later claim (another run, another delivery) finds the new owner, and
    # the claim is dated from the takeover (not the failed run's claim), so it is not outlived yet.
    assert claims.claim(version, "orders-other") == "orders-new"
    assert not claims.outlived(version)
    # and only the run that holds a claim can have it taken over from it
    assert claims.take_over(version, "orders-third", held_by="orders-failed") == "orders-new"
    assert json.loads(stored_items(stack)[0]["data"]["S"]) == {"run_id": "orders-new"}


def test_a_takeover_of_a_claim_given_back_meanwhile_is_an_ordinary_first_claim(stack, claims):
    version = "s3://tributary-raw/incoming/orders/a.csv#v1"
    assert claims.claim(version, "orders-failed") == "orders-failed"
    claims.release(version)  # the run could not start: its invocation gave the claim back
    assert claims.take_over(version, "orders-new", held_by="orders-failed") == "orders-new"
    assert claims.claim(version, "orders-other") == "orders-new"


def test_a_claim_being_made_by_another_invocation_is_not_taken_over(stack, claims):
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
    from trigger.claims import KEY_PREFIX, ObjectVersion

    version = "s3://tributary-raw/incoming/orders/a.csv#v1"
    # Another invocation is claiming the version right now: Powertools' INPROGRESS record.
    persistence = claims._persistence
    persistence.configure(claims._config, key_prefix=KEY_PREFIX)
    persistence.save_inprogress(
        ObjectVersion(object_id=version).model_dump(), remaining_time_in_millis=60_000
    )
    [item] = stored_items(stack)
    assert item["status"] == {"S": "INPROGRESS"}
    with pytest.raises(IdempotencyAlreadyInProgressError):
        claims.take_over(version, "orders-new", held_by="orders-starting")
    assert stored_items(stack) == [item]
