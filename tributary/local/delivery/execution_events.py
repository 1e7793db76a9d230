"""Step Functions "Execution Status Change" events, locally: each execution of the stack's state
machines that ends (SUCCEEDED, FAILED, TIMED_OUT, ABORTED) is put on the event bus once, in the shape
EventBridge delivers it (detail: executionArn, stateMachineArn, name, status, startDate, stopDate in
epoch milliseconds, input, output), so rules on `source: aws.states` (RunCostRule) get it.

The engine has no end-of-execution hook for a stack that keeps no journal, so a thread looks at the
executions twice a second; executions already ended when it starts (restored from saved state) are
not announced again.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from tributary.local.delivery.events import aws_event

LOGGER = logging.getLogger("tributary.local.delivery.execution_events")
ENDED = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def _millis(moment: Any) -> int | None:
    return int(moment.timestamp() * 1000) if isinstance(moment, dt.datetime) else None


def status_change_event(execution: Any, region: str, account: str) -> dict[str, Any]:
    """The EventBridge event of an execution's status."""
    detail = {
        "executionArn": execution.arn,
        "stateMachineArn": execution.state_machine.arn,
        "name": execution.arn.rsplit(":", 1)[-1],
        "status": execution.status,
        "startDate": _millis(execution.start_date),
        "stopDate": _millis(execution.stop_date),
        "input": execution.input,
        "output": execution.output,
        "error": execution.error,
        "cause": execution.cause,
    }
    return aws_event(
        "aws.states", "Step Functions Execution Status Change", detail, region, account, [execution.arn]
    )


class ExecutionStatusEvents:
    """Announces ended executions of `machines()` (state machine ARNs) through `put`."""

    def __init__(
        self,
        backend: Any,
        machines: Callable[[], Iterable[str]],
        put: Callable[[dict[str, Any]], None],
        region: str,
        account: str,
        interval: float = 0.5,
    ) -> None:
        self._backend, self._machines, self._put = backend, machines, put
        self._region, self._account, self._interval = region, account, interval
        self._announced: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _ended(self) -> list[Any]:
        found: list[Any] = []
        for arn in self._machines():
            executions, _ = self._backend.list_executions(arn)
            found.extend(e for e in executions if e.status in ENDED)
        return found

    def check(self) -> int:
        """Announce the executions that ended since the last check; how many were announced."""
        announced = 0
        for execution in self._ended():
            if execution.arn in self._announced:
                continue
            self._announced.add(execution.arn)
            self._put(status_change_event(execution, self._region, self._account))
            announced += 1
        return announced

    def start(self) -> None:
        self._announced.update(e.arn for e in self._ended())
        self._thread = threading.Thread(target=self._loop, name="execution-status-events", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.check()
            except Exception:  # an execution listed while it is being removed, ...: next time
                LOGGER.debug("execution status check failed", exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
