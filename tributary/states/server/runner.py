"""One whole execution on the engine, as the endpoint needs it: the context object, the
ExecutionStarted / Succeeded / Failed / Aborted / TimedOut events around the engine's own, and the
outcome DescribeExecution reports."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tributary.states.clock import Clock, RealClock
from tributary.states.definition import Machine
from tributary.states.engine import ExecutionFailed, ExecutionStopped, Interpreter, Runtime, Scope, iso_time
from tributary.states.errors import StatesError
from tributary.states.history import History, payload_text
from tributary.states.integrations import CallbackStore, Integration, IntegrationRegistry

ROLE_ARN = "arn:aws:iam::123456789012:role/tributary-local"


@dataclass
class ExecutionOutcome:
    status: str  # SUCCEEDED, FAILED, TIMED_OUT or ABORTED
    output: str | None
    error: str | None
    cause: str | None
    stop_date: datetime


def run_execution(
    *,
    definition: dict[str, Any],
    execution_input: Any,
    execution_arn: str,
    execution_name: str,
    state_machine_arn: str,
    state_machine_name: str,
    start: datetime,
    clock: Clock,
    integrations: Integration | None,
    callbacks: CallbackStore,
    stop: threading.Event,
    on_event: Callable[[dict[str, Any]], None],
) -> ExecutionOutcome:
    """Run the execution to its end on the calling thread; `stop` set from elsewhere aborts it."""
    history = History(clock.now)
    history.listeners.append(on_event)
    context = {
        "Execution": {
            "Id": execution_arn,
            "Input": execution_input,
            "Name": execution_name,
            "RoleArn": ROLE_ARN,
            "StartTime": iso_time(start),
            "RedriveCount": 0,
        },
        "StateMachine": {"Id": state_machine_arn.partition("#")[0], "Name": state_machine_name},
    }
    runtime = Runtime(
        clock=clock,
        integrations=integrations if integrations is not None else IntegrationRegistry(),
        callbacks=callbacks,
        history=history,
        execution_arn=execution_arn,
        state_machine_arn=state_machine_arn,
        context=context,
        stop=stop,
    )
    started = history.add(
        "ExecutionStarted",
        0,
        {"input": payload_text(execution_input), "inputDetails": {"truncated": False}, "roleArn": ROLE_ARN},
    )
    machine = Machine.from_definition(definition)
    timed_out = threading.Event()
    timer = _timeout_watch(machine, clock, stop, timed_out)
    try:
        output, last = Interpreter(runtime).run_machine(machine, execution_input, Scope({}), started)
    except ExecutionFailed as failed:
        return _failed(history, clock, failed.error, failed.cause)
    except StatesError as err:  # an error the engine let through: fail as AWS would
        return _failed(history, clock, err.error, err.cause)
    except ExecutionStopped:
        if timed_out.is_set():
            history.add("ExecutionTimedOut", history.last_id, {"error": "States.Timeout"})
            return ExecutionOutcome("TIMED_OUT", None, "States.Timeout", None, clock.now())
        return ExecutionOutcome("ABORTED", None, None, None, clock.now())
    finally:
        if timer is not None:
            timer.cancel()
    text = payload_text(output)
    history.add("ExecutionSucceeded", last, {"output": text, "outputDetails": {"truncated": False}})
    return ExecutionOutcome("SUCCEEDED", text, None, None, clock.now())


def _failed(history: History, clock: Clock, error: str | None, cause: str | None) -> ExecutionOutcome:
    details = {key: value for key, value in (("error", error), ("cause", cause)) if value is not None}
    history.add("ExecutionFailed", history.last_id, details)
    return ExecutionOutcome("FAILED", None, error, cause, clock.now())


def _timeout_watch(
    machine: Machine, clock: Clock, stop: threading.Event, timed_out: threading.Event
) -> threading.Timer | None:
    """The machine's TimeoutSeconds, in real time only: a virtual-clock execution has no real duration
    to time out on (its waits are checked against the clock by the engine)."""
    if machine.timeout_seconds is None or not isinstance(clock, RealClock):
        return None

    def expire() -> None:
        timed_out.set()
        stop.set()

    timer = threading.Timer(machine.timeout_seconds, expire)
    timer.daemon = True
    timer.start()
    return timer
