"""The Task state: the request it makes (Parameters / Arguments), the call through the integrations
passed in, the three patterns (request-response, `.sync` inside the integration, `.waitForTaskToken`
and activities through the callback store), TimeoutSeconds(Path), HeartbeatSeconds(Path), and the
Task* / LambdaFunction* history events."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tributary.states import errors
from tributary.states.clock import RealClock
from tributary.states.definition import DefinitionError, Field, NestedLoader, State, required_text
from tributary.states.errors import NullableFailure, StatesError
from tributary.states.history import payload_text
from tributary.states.service_integrations import (
    PendingTask,
    Resource,
    ResourceError,
    TaskCall,
    parse_resource,
)
from tributary.states.value_source import LiteralValue

if TYPE_CHECKING:
    from tributary.states.engine import Interpreter, StateRun, Step


class TaskState(State):
    type = "Task"
    can_retry = True

    def __init__(self, name: str, raw: Mapping[str, Any], machine_language: str, load: NestedLoader) -> None:
        super().__init__(name, raw, machine_language, load)
        self.resource_arn = required_text(raw, "Resource", self.place)
        # A Resource the engine does not know fails the state when it runs (States.Runtime).
        self.resource: Resource | None = None
        self.resource_error: str | None = None
        try:
            self.resource = parse_resource(self.resource_arn)
        except ResourceError as exc:
            self.resource_error = str(exc)
        self.timeout_seconds = _seconds_field(raw, "TimeoutSeconds", self.place, self.jsonata)
        self.heartbeat_seconds = _seconds_field(raw, "HeartbeatSeconds", self.place, self.jsonata)
        self.credentials = raw.get("Credentials")

    def may_wait(self) -> bool:
        """A `.sync` job polls and a callback or activity waits for its answer (on the clock); a
        request-response call answers at once, unless the state retries."""
        resource = self.resource
        waits = resource is not None and (
            resource.pattern in ("sync", "sync:2", "waitForTaskToken") or resource.kind == "activity"
        )
        return waits or super().may_wait()

    def body(self, engine: Interpreter, run: StateRun) -> Step:
        return run_task(engine, run, self)


def run_task(engine: Interpreter, run: StateRun, state: TaskState) -> Step:
    resource = state.resource
    if resource is None:
        raise StatesError(errors.RUNTIME, str(state.resource_error))
    pending: PendingTask | None = None
    if resource.pattern == "waitForTaskToken" or resource.kind == "activity":
        pending = engine.runtime.callbacks.open(engine.runtime.execution_arn, run.name)
        run.context = {**run.context, "Task": {"Token": pending.token}}
    try:
        arguments = engine.arguments(run)
        timeout = _seconds(engine, run, state.timeout_seconds)
        heartbeat = _seconds(engine, run, state.heartbeat_seconds)
        call = TaskCall(
            resource=resource,
            arguments=arguments,
            state_name=run.name,
            execution_arn=engine.runtime.execution_arn,
            state_machine_arn=engine.runtime.state_machine_arn,
            clock=engine.runtime.clock,
            task_token=pending.token if pending else None,
            callbacks=engine.runtime.callbacks if pending else None,
            timeout_seconds=timeout,
            heartbeat_seconds=heartbeat,
            attempt=int(run.context["State"]["RetryCount"]),
            credentials=state.credentials,
            context=run.context,
        )
        engine.runtime.call_started(call.cancelled)
        try:
            result = _call(engine, run, call, pending)
        finally:
            engine.runtime.call_ended(call.cancelled)
    finally:
        if pending is not None:
            engine.runtime.callbacks.close(pending.token)
    return engine.finish(run, result, state.next)


def _seconds_field(raw: Mapping[str, Any], name: str, place: str, jsonata: bool) -> Field:
    """TimeoutSeconds / HeartbeatSeconds as loaded: a number (checked here), a `...Path` (JSONPath)
    or an expression (JSONata)."""
    spec = Field.read(raw, name, place, jsonata=jsonata)
    if isinstance(spec.source, LiteralValue) and not _is_positive_integer(spec.source.value):
        raise DefinitionError(f"The value for '{name}' must be an integer of at least 1", f"{place}.{name}")
    return spec


def _is_positive_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _seconds(engine: Interpreter, run: StateRun, spec: Field) -> float | None:
    """TimeoutSeconds / HeartbeatSeconds for this attempt (None when the state has neither)."""
    source = spec.source
    if not source.given:
        return None
    value = source.evaluate(engine, run, engine.input_of(run) if source.reads_input else None)
    if not _is_positive_integer(value):
        raise StatesError(
            errors.RUNTIME, f"The {spec.name} value must be a positive integer, but was {value!r}"
        )
    return float(value)


def _history_names(resource: Resource) -> tuple[str, str]:
    """(resourceType, resource) as TaskScheduled names them."""
    suffix = "" if resource.pattern == "request-response" else "." + resource.pattern
    service = f"aws-sdk:{resource.service}" if resource.sdk else resource.service
    return service, resource.action + suffix


def _call(engine: Interpreter, run: StateRun, call: TaskCall, pending: PendingTask | None) -> Any:
    if call.resource.kind == "lambda-function":
        return _call_lambda_function(engine, run, call)
    if call.resource.kind == "activity" and pending is not None:
        return _call_activity(engine, run, call, pending)
    resource_type, resource_name = _history_names(call.resource)
    names = {"resourceType": resource_type, "resource": resource_name}
    scheduled: dict[str, Any] = {
        **names,
        "region": call.resource.region or "us-east-1",
        "parameters": payload_text(call.arguments),
    }
    if call.timeout_seconds is not None:
        scheduled["timeoutInSeconds"] = int(call.timeout_seconds)
    if call.heartbeat_seconds is not None:
        scheduled["heartbeatInSeconds"] = int(call.heartbeat_seconds)
    engine.event(run, "TaskScheduled", scheduled)
    engine.event(run, "TaskStarted", names)
    if call.resource.pattern in ("sync", "sync:2"):

        def record_submitted(response: Any) -> None:
            details = {**names, "output": payload_text(response), "outputDetails": {"truncated": False}}
            engine.event(run, "TaskSubmitted", details)

        call.on_submitted = record_submitted
    started = engine.runtime.clock.now()
    try:
        result = _invoke_within_timeout(engine, call)
        if engine.runtime.stop.is_set():
            from tributary.states.engine import ExecutionStopped

            raise ExecutionStopped()
        if pending is not None:
            engine.event(
                run,
                "TaskSubmitted",
                {**names, "output": payload_text(result), "outputDetails": {"truncated": False}},
            )
            result = _wait_for_callback(engine, pending, call, started)
        output = _result_text(engine, result, call.resource.service)
    except StatesError as err:
        timed_out = err.error in (errors.TIMEOUT, errors.HEARTBEAT_TIMEOUT)
        engine.event(run, "TaskTimedOut" if timed_out else "TaskFailed", {**names, **failure_details(err)})
        raise
    engine.event(run, "TaskSucceeded", {**names, "output": output, "outputDetails": {"truncated": False}})
    return result


def failure_details(err: StatesError) -> dict[str, str]:
    """`error` and `cause` as a Task*/LambdaFunction* failure event carries them: a null one (a
    SendTaskFailure without it, a timeout, which has no cause) is left out, not written as ""."""
    if isinstance(err, NullableFailure):
        pairs = (("error", err.original_error), ("cause", err.original_cause))
    else:
        pairs = (("error", err.error), ("cause", err.cause or None))
    return {key: value for key, value in pairs if value is not None}


def _result_text(engine: Interpreter, result: Any, task_name: str) -> str:
    """The task's result as history text; a result over the payload quota (256 KiB of UTF-8) fails
    the task with States.DataLimitExceeded, which a Retry or Catch can handle (AWS records a
    TaskFailed naming the resource type, or the function ARN for a Lambda function resource)."""
    text = payload_text(result)
    if engine.over_payload_limit(text):
        raise StatesError(
            errors.DATA_LIMIT_EXCEEDED,
            f"The state/task '{task_name}' returned a result with a size exceeding "
            "the maximum number of bytes service limit.",
        )
    return text


def _scheduled_by_arn(call: TaskCall, *, heartbeat: bool) -> dict[str, Any]:
    """LambdaFunctionScheduled / ActivityScheduled details: the ARN, the input, the timeouts set
    (a Lambda function's event has no heartbeat)."""
    scheduled: dict[str, Any] = {
        "resource": call.resource.arn,
        "input": payload_text(call.arguments),
        "inputDetails": {"truncated": False},
    }
    if call.timeout_seconds is not None:
        scheduled["timeoutInSeconds"] = int(call.timeout_seconds)
    if heartbeat and call.heartbeat_seconds is not None:
        scheduled["heartbeatInSeconds"] = int(call.heartbeat_seconds)
    return scheduled


def _call_lambda_function(engine: Interpreter, run: StateRun, call: TaskCall) -> Any:
    """A Lambda function ARN as Resource: LambdaFunction* events, the function's output as result."""
    engine.event(run, "LambdaFunctionScheduled", _scheduled_by_arn(call, heartbeat=False))
    engine.event(run, "LambdaFunctionStarted")
    try:
        result = _invoke_within_timeout(engine, call)
        output = _result_text(engine, result, call.resource.arn)
    except StatesError as err:
        timed_out = err.error == errors.TIMEOUT
        engine.event(
            run, "LambdaFunctionTimedOut" if timed_out else "LambdaFunctionFailed", failure_details(err)
        )
        raise
    engine.event(run, "LambdaFunctionSucceeded", {"output": output, "outputDetails": {"truncated": False}})
    return result


def _call_activity(engine: Interpreter, run: StateRun, call: TaskCall, pending: PendingTask) -> Any:
    """An activity ARN as Resource: Activity* events (GetExecutionHistory's ActivityScheduled,
    ActivityStarted, ActivitySucceeded / ActivityFailed / ActivityTimedOut); the integration hands
    the task to a worker, whose SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat answer it."""
    engine.event(run, "ActivityScheduled", _scheduled_by_arn(call, heartbeat=True))
    started = engine.runtime.clock.now()
    try:
        _invoke_within_timeout(engine, call)
        engine.event(run, "ActivityStarted")
        result = _wait_for_callback(engine, pending, call, started)
        output = _result_text(engine, result, call.resource.arn)
    except StatesError as err:
        timed_out = err.error in (errors.TIMEOUT, errors.HEARTBEAT_TIMEOUT)
        engine.event(run, "ActivityTimedOut" if timed_out else "ActivityFailed", failure_details(err))
        raise
    engine.event(run, "ActivitySucceeded", {"output": output, "outputDetails": {"truncated": False}})
    return result


def _invoke(engine: Interpreter, call: TaskCall) -> Any:
    try:
        return engine.runtime.integrations.invoke(call)
    except StatesError:
        raise
    except Exception as exc:  # an integration's own bug or an unexpected service answer
        raise StatesError(errors.TASK_FAILED, f"{type(exc).__name__}: {exc}") from exc


def _invoke_within_timeout(engine: Interpreter, call: TaskCall) -> Any:
    """Call the integration; States.Timeout once TimeoutSeconds have passed on the clock.

    On the real clock the call runs in a worker thread so that the state can time out while it is
    still going; on a virtual clock it runs inline and the virtual time it took is compared."""
    clock = engine.runtime.clock
    timeout = call.timeout_seconds
    if not isinstance(clock, RealClock):
        started = clock.now()
        result = _invoke(engine, call)
        if timeout is not None and (clock.now() - started).total_seconds() > timeout:
            raise NullableFailure(errors.TIMEOUT, None)
        return result
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            outcome["result"] = _invoke(engine, call)
        except BaseException as exc:  # handed over to the state's thread
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=work, name=f"task-{call.state_name}", daemon=True).start()
    finished = clock.wait(done, timeout)
    if not finished:
        call.cancelled.set()
        raise NullableFailure(errors.TIMEOUT, None)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def _wait_for_callback(engine: Interpreter, pending: PendingTask, call: TaskCall, started: datetime) -> Any:
    """Wait for SendTaskSuccess / SendTaskFailure, within what is left of the task's TimeoutSeconds
    (counted from `started`) and its HeartbeatSeconds."""
    clock = engine.runtime.clock
    heartbeat = call.heartbeat_seconds
    remaining = None
    if call.timeout_seconds is not None:
        remaining = max(0.0, call.timeout_seconds - (clock.now() - started).total_seconds())
    while True:
        window = (
            remaining
            if heartbeat is None
            else (heartbeat if remaining is None else min(heartbeat, remaining))
        )
        before = clock.now()
        clock.wait(pending.signal, window)
        pending.signal.clear()
        if engine.runtime.stop.is_set():
            from tributary.states.engine import ExecutionStopped

            raise ExecutionStopped()
        if pending.answered.is_set():
            if pending.succeeded:
                return pending.output
            raise NullableFailure(pending.error, pending.cause)
        if remaining is not None:
            remaining -= (clock.now() - before).total_seconds()
            if remaining <= 0:
                raise NullableFailure(errors.TIMEOUT, None)
        if pending.heartbeat.is_set():
            pending.heartbeat.clear()
            continue
        raise NullableFailure(errors.HEARTBEAT_TIMEOUT, None)
