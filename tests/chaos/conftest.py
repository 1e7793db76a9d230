from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tributary.chaos.data import DataFactory
from tributary.chaos.harness import Context, Settings, in_process_stack
from tributary.chaos.invariants import executions_by_dataset
from tributary.local.endpoints.moto_server import MotoServer

logging.getLogger("werkzeug").setLevel(logging.ERROR)


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@contextlib.contextmanager
def lite_stack(work_dir: Path, seed: int) -> Iterator[tuple[Context, dict[str, set[str]]]]:
    """An in-process stack whose runs take the small-run path (no Spark: the trigger's batching and
    claims are the same on both paths); a scenario context on it, and the executions it had."""
    settings = Settings(reduced=True, transform_path="lite", work_dir=work_dir)
    with in_process_stack(settings, real_time=False) as (view, faults, put):
        yield Context(view, faults, DataFactory(seed=seed), settings, put), executions_by_dataset(view)


@pytest.fixture
def before_each_event_delivery(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[], object]], None]:
    """Installs a call made before every event the stacks' event bus delivers to SQS (to slow the
    deliveries down, or hold them back)."""

    def install(before: Callable[[], object]) -> None:
        from tributary.local.stack import LocalStack

        deliverers = LocalStack._deliverers

        def patched(self: LocalStack) -> dict[str, Any]:
            found = deliverers(self)
            to_queue: Callable[[str, str], None] = found["sqs"]

            def deliver(arn: str, body: str) -> None:
                before()
                to_queue(arn, body)

            return {**found, "sqs": deliver}

        monkeypatch.setattr(LocalStack, "_deliverers", patched)

    return install
