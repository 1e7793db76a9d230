"""Why a burst that S3 answered within one batching window can make more executions than batches of
its size, and why the harness's execution limit holds anyway (the case behind the `+1` the limit once
had for "a batch the trigger gives back", at load 9).

The cause is not the trigger: the in-process stack answers an upload before its event is delivered,
and its event bus delivers one event at a time (two requests to SQS each). On a loaded machine the
events of a burst reach the ingest queue over several windows, each window closes a batch of its own,
and the trigger starts one execution per batch, giving nothing back. Here the load is injected: every
delivery to SQS is slowed, so that the events arrive over many windows although S3 answered the puts
at once. The harness counts windows from when the events reached the queue (harness.record_arrivals).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tributary.chaos.invariants import _execution_limit, check
from tributary.local.delivery.event_source_mapping import BatchRecord, SqsEventSourceMapping

from .conftest import lite_stack

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("local_stack_e2e")]

FILES = 24
DELIVERY_SECONDS = 1.0  # each event's delivery to SQS: the 24 events reach the queue over ~23 s


@pytest.fixture
def trigger_batches(monkeypatch: pytest.MonkeyPatch) -> list[BatchRecord]:
    batches: list[BatchRecord] = []
    process = SqsEventSourceMapping.process

    def recorded(self: SqsEventSourceMapping, batch: list[dict[str, Any]]) -> BatchRecord:
        record = process(self, batch)
        if "TriggerFunction" in self.config.function:
            batches.append(record)
        return record

    monkeypatch.setattr(SqsEventSourceMapping, "process", recorded)
    return batches


def test_a_burst_whose_events_reach_the_queue_over_several_windows(
    tmp_path: Path,
    trigger_batches: list[BatchRecord],
    before_each_event_delivery: Callable[[Callable[[], object]], None],
) -> None:
    before_each_event_delivery(lambda: time.sleep(DELIVERY_SECONDS))
    with lite_stack(tmp_path, seed=3) as (context, before):
        specs = [
            context.data.orders(f"incoming/orders/spread-{i:05d}.csv", 3, must_publish=True)
            for i in range(FILES)
        ]
        uploads = context.upload(specs, threads=16)
        context.wait_quiet()
        view = context.view
        verdict = check(view, context.uploads, before, waves=context.waves)

    executions = verdict.executions["orders"]
    # One execution per batch the trigger received, and the trigger gave nothing back.
    assert executions == len(trigger_batches) == len({id(b) for b in trigger_batches})
    assert [(b.failed_ids, b.function_error) for b in trigger_batches] == [([], None)] * executions
    assert sum(len(b.message_ids) for b in trigger_batches) == FILES
    # Counted from when S3 answered, the wave is over the limit, as at load 9 in CI ...
    assert executions > _execution_limit(uploads, view.batch_size, view.batch_window)
    # ... counted from when its events reached the queue, it holds, with no allowance for give-backs.
    assert not verdict.violations, verdict.violations
    assert [o.outcome for o in verdict.outcomes] == ["published"] * FILES
    assert executions <= verdict.execution_limit["orders"]
