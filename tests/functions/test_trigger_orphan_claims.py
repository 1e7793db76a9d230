"""A trigger invocation killed after claiming some object versions and before starting their run (its
timeout, a crash: the chaos harness's stack killed mid-batch lost 8 of 20 such versions) leaves claims
for a run that never existed. Its messages come back, in other batches and so under another run id:
the versions must not be ignored as duplicates of that run, or they are lost until the claims expire."""

from __future__ import annotations

import time
from typing import Any

import pytest

from .builders import sqs_batch, sqs_record
from .conftest import LambdaContext
from .test_trigger import CSV, executions, manifest_of


def killed_invocation(handler: Any, events: list[dict[str, Any]], claimed: int) -> str:
    """What the killed invocation left: the run id of its batch, and claims on the first `claimed`
    versions for it; no manifest, no run record, no execution."""
    from trigger.events import IngestQueueRecord
    from trigger.logic import Accepted, classify, run_id_for

    accepted = []
    for event in events:
        outcome = classify(
            IngestQueueRecord.model_validate(sqs_record(event)).body,
            "m",
            contracts_dir=handler.settings.contracts_dir,
        )
        assert isinstance(outcome, Accepted)
        accepted.append(outcome.obj)
    run_id = run_id_for("orders", accepted)
    handler.claims.register_lambda_context(LambdaContext())  # as the killed invocation's handler did
    for obj in accepted[:claimed]:
        assert handler.claims.claim(obj.object_id, run_id) == run_id
    return run_id


def keys_per_run(stack: Any) -> list[list[str]]:
    return sorted(
        [obj["key"].rsplit("/", 1)[-1] for obj in manifest_of(stack, e["name"])["objects"]]
        for e in executions(stack)
    )


@pytest.fixture
def later(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Moves the trigger's clock on (the claims' age), as the queue's visibility timeout does."""

    def move(seconds: float) -> None:
        now = time.time() + seconds
        monkeypatch.setattr("trigger.claims.time.time", lambda: now)

    return move


def test_claims_of_a_killed_invocation_are_taken_over_once_it_cannot_be_running(
    stack, load_handler, put_raw, lambda_context, later
):
    handler = load_handler("trigger")
    a, b = put_raw("incoming/orders/a.csv", CSV), put_raw("incoming/orders/b.csv", CSV)
    c = put_raw("incoming/orders/c.csv", CSV, time="2026-11-24T10:20:00Z")
    dead_run = killed_invocation(handler, [a, b], claimed=1)  # a claimed, then killed

    # Redelivered next to a new upload while the killed invocation could still be running (the
    # local stack's visibility timeout is shorter than the trigger's): a is retried, not dropped.
    records = [
        sqs_record(a, message_id="m-a"),
        sqs_record(b, message_id="m-b"),
        sqs_record(c, message_id="m-c"),
    ]
    assert handler.lambda_handler(sqs_batch(*records), lambda_context) == {
        "batchItemFailures": [{"itemIdentifier": "m-a"}]
    }
    assert keys_per_run(stack) == [["b.csv", "c.csv"]]

    # Past the trigger's timeout (60 s here) and the margin: the claim is taken over.
    later(66)
    assert handler.lambda_handler(sqs_batch(records[0]), lambda_context) == {"batchItemFailures": []}
    assert keys_per_run(stack) == [["a.csv"], ["b.csv", "c.csv"]]
    assert dead_run not in [e["name"] for e in executions(stack)]
    # and it is its run's claim now: a later delivery is a duplicate
    handler.lambda_handler(sqs_batch(records[0]), lambda_context)
    assert len(executions(stack)) == 2


def test_a_claim_of_a_run_that_has_a_record_stays_a_duplicate_however_old(
    stack, load_handler, put_raw, lambda_context, later
):
    handler = load_handler("trigger")
    a = put_raw("incoming/orders/a.csv", CSV)
    c = put_raw("incoming/orders/c.csv", CSV, time="2026-11-24T10:20:00Z")
    handler.lambda_handler(sqs_batch(sqs_record(a)), lambda_context)
    later(3600)
    response = handler.lambda_handler(sqs_batch(sqs_record(a), sqs_record(c)), lambda_context)
    assert response == {"batchItemFailures": []}
    assert keys_per_run(stack) == [["a.csv"], ["c.csv"]]


class ContextWithoutTime(LambdaContext):
    def get_remaining_time_in_millis(self) -> int:
        return 0  # how long an invocation may run is not known


def test_without_the_invocation_time_no_claim_is_taken_over(stack, load_handler, put_raw, later):
    handler = load_handler("trigger")
    a, b = put_raw("incoming/orders/a.csv", CSV), put_raw("incoming/orders/b.csv", CSV)
    killed_invocation(handler, [a, b], claimed=2)
    later(3600)
    response = handler.lambda_handler(sqs_batch(sqs_record(b, message_id="m-b")), ContextWithoutTime())
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-b"}]}
    assert executions(stack) == []


def test_a_run_left_queued_by_a_killed_invocation_is_started_by_the_next_delivery(
    stack, load_handler, put_raw, lambda_context, monkeypatch
):
    """Killed between writing the run's QUEUED record and starting its execution: the versions' messages
    come back in another batch (another run id). They must start the queued run, not be dropped as its
    duplicates (nothing else would ever start it); starting it by its name and input again starts
    nothing twice."""
    handler = load_handler("trigger")
    a, b = put_raw("incoming/orders/a.csv", CSV), put_raw("incoming/orders/b.csv", CSV)
    c = put_raw("incoming/orders/c.csv", CSV, time="2026-11-24T10:20:00Z")

    def killed(*args: Any, **kwargs: Any) -> Any:
        raise SystemExit("killed before StartExecution")

    records = [sqs_record(a, message_id="m-a"), sqs_record(b, message_id="m-b")]
    with monkeypatch.context() as patch:
        patch.setattr(handler.starter, "_start_execution", killed)
        with pytest.raises(SystemExit):
            handler.lambda_handler(sqs_batch(*records), lambda_context)
    assert executions(stack) == []

    # a and b come back next to c: the queued run is started, a and b are its duplicates.
    mixed = [*records, sqs_record(c, message_id="m-c")]
    assert handler.lambda_handler(sqs_batch(*mixed), lambda_context) == {"batchItemFailures": []}
    assert keys_per_run(stack) == [["a.csv", "b.csv"], ["c.csv"]]
    # Delivered again: still two executions.
    handler.lambda_handler(sqs_batch(*mixed), lambda_context)
    assert len(executions(stack)) == 2
