"""Executions as the Step Functions API sees them: start one (inline or in a background thread),
read its status, output, error, cause and history, stop it.

    execution = Execution(definition, input, integrations=..., clock=VirtualClock())
    execution.start()          # background thread; or execution.run() to run inline
    execution.wait()
    execution.status, execution.output, execution.history.events

The endpoint keeps these objects; `callbacks` is shared by all executions of one endpoint so that
SendTaskSuccess finds the task whatever execution it belongs to."""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from tributary.states import errors
from tributary.states.clock import Clock, VirtualClock
from tributary.states.engine import (
    PAYLOAD_LIMIT_BYTES,
    BranchAborted,
    ExecutionFailed,
    ExecutionStopped,
    ExecutionTimedOut,
    Interpreter,
    Runtime,
    Scope,
    iso_time,
)
from tributary.states.history import History, payload_text
from tributary.states.service_integrations import CallbackStore, Integration, IntegrationRegistry
from tributary.states.state import load_machine

logger = logging.getLogger(__name__)

Status = Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"


def state_machine_arn_for(name: str, region: str = DEFAULT_REGION, account: str = DEFAULT_ACCOUNT) -> str:
    return f"arn:aws:states:{region}:{account}:stateMachine:{name}"


def execution_arn_for(state_machine_arn: str, name: str, state_machine_type: str = "STANDARD") -> str:
    """`...:stateMachine:M` → `...:execution:M:name` (`express:` for EXPRESS), test case suffix dropped."""
    base = state_machine_arn.partition("#")[0]
    kind = "express" if state_machine_type == "EXPRESS" else "execution"
    return base.replace(":stateMachine:", f":{kind}:", 1) + f":{name}"


@dataclass(frozen=True)
class ExecutionResult:
    """What DescribeExecution says of a finished execution (check.py reads these fields)."""

    status: Status
    output: str | None = None  # JSON text, as the API returns it
    error: str | None = None
    cause: str | None = None


class Execution:
    """One execution of a state machine definition."""

    def __init__(
        self,
        definition: dict[str, Any] | str,
        input: Any = None,
        *,
        name: str | None = None,
        state_machine_arn: str | None = None,
        state_machine_type: str = "STANDARD",
        integrations: Integration | None = None,
        clock: Clock | None = None,
        callbacks: CallbackStore | None = None,
        role_arn: str = f"arn:aws:iam::{DEFAULT_ACCOUNT}:role/tributary-local",
        seed: int = 0,
    ) -> None:
        self.machine = load_machine(definition)
        self.input = {} if input is None else input
        self.name = name or str(uuid.uuid4())
        self.state_machine_arn = state_machine_arn or state_machine_arn_for("local")
        self.state_machine_type = state_machine_type
        self.arn = execution_arn_for(self.state_machine_arn, self.name, state_machine_type)
        self.clock: Clock = clock or VirtualClock()
        self.callbacks = callbacks or CallbackStore()
        self.history = History(self.clock.now)
        self.start_date: datetime = self.clock.now()
        self.stop_date: datetime | None = None
        self.status: Status = "RUNNING"
        self.output: str | None = None
        self.error: str | None = None
        self.cause: str | None = None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._stop_request: tuple[str | None, str | None] | None = None
        machine_name = self.state_machine_arn.partition("#")[0].rsplit(":", 1)[-1]
        self.runtime = Runtime(
            clock=self.clock,
            integrations=integrations or IntegrationRegistry(),
            callbacks=self.callbacks,
            history=self.history,
            execution_arn=self.arn,
            state_machine_arn=self.state_machine_arn,
            context={
                "Execution": {
                    "Id": self.arn,
                    "Input": self.input,
                    "Name": self.name,
                    "RoleArn": role_arn,
                    "StartTime": iso_time(self.start_date),
                    "RedriveCount": 0,
                },
                "StateMachine": {"Id": self.state_machine_arn.partition("#")[0], "Name": machine_name},
            },
        )
        self.runtime.rng.seed(seed)
        if self.machine.timeout_seconds is not None:
            self.runtime.deadline = self.start_date + timedelta(seconds=self.machine.timeout_seconds)
        self.role_arn = role_arn

    # --- running ----------------------------------------------------------------------------------

    def run(self) -> ExecutionResult:
        """Run to the end in this thread."""
        try:
            self._run()
        finally:
            self.stop_date = self.clock.now()
            self._done.set()
        return self.result

    def start(self) -> Execution:
        """Run in a background thread; `wait()` for the end."""
        self._thread = threading.Thread(target=self.run, name=f"execution-{self.name}", daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Wait (real seconds) until the execution ends; whether it has."""
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def stop(self, error: str | None = None, cause: str | None = None) -> None:
        """StopExecution: the execution ends ABORTED as soon as its current step lets it."""
        if self.done:
            return
        self._stop_request = (error, cause)
        self.runtime.request_stop()

    @property
    def result(self) -> ExecutionResult:
        return ExecutionResult(self.status, self.output, self.error, self.cause)

    def _run(self) -> None:
        history = self.history
        history.add(
            "ExecutionStarted",
            0,
            {
                "input": payload_text(self.input),
                "inputDetails": {"truncated": False},
                "roleArn": self.role_arn,
            },
        )
        if len(payload_text(self.input).encode()) > PAYLOAD_LIMIT_BYTES:
            self._fail(
                errors.DATA_LIMIT_EXCEEDED, "The input exceeds the maximum number of bytes service limit."
            )
            return
        interpreter = Interpreter(self.runtime)
        timer = self._start_timeout_timer()
        try:
            # AWS records the first state's entry with previousEventId 0, not ExecutionStarted's id.
            output, last = interpreter.run_machine(self.machine, self.input, Scope({}), 0)
        except ExecutionFailed as failed:
            self._fail(failed.error, failed.cause)
        except ExecutionStopped as stopped:
            if self._stop_request is None or isinstance(stopped, ExecutionTimedOut):
                self.status = "TIMED_OUT"
                self.error, self.cause = errors.TIMEOUT, None
                history.add("ExecutionTimedOut", history.last_id, {"error": errors.TIMEOUT})
            else:
                self.status = "ABORTED"
                self.error, self.cause = self._stop_request
                details = {k: v for k, v in (("error", self.error), ("cause", self.cause)) if v is not None}
                history.add("ExecutionAborted", history.last_id, details)
        # An engine bug (BranchAborted never reaches this far) must end the execution, not leave it RUNNING.
        except (Exception, BranchAborted) as exc:
            logger.exception("execution %s crashed", self.arn)
            self._fail(errors.RUNTIME, f"Internal error in the local engine: {type(exc).__name__}: {exc}")
        else:
            self.status = "SUCCEEDED"
            self.output = payload_text(output)
            history.add(
                "ExecutionSucceeded", last, {"output": self.output, "outputDetails": {"truncated": False}}
            )
        finally:
            if timer is not None:
                timer.cancel()

    def _fail(self, error: str | None, cause: str | None) -> None:
        self.status = "FAILED"
        self.error, self.cause = error, cause
        details = {k: v for k, v in (("error", error), ("cause", cause)) if v is not None}
        self.history.add("ExecutionFailed", self.history.last_id, details)

    def _start_timeout_timer(self) -> threading.Timer | None:
        """The state machine's TimeoutSeconds, on the real clock only (a virtual clock has no
        deadline that real work could overrun)."""
        from tributary.states.clock import RealClock

        seconds = self.machine.timeout_seconds
        if seconds is None or not isinstance(self.clock, RealClock):
            return None
        timer = threading.Timer(seconds, self.runtime.request_stop)
        timer.daemon = True
        timer.start()
        return timer
