"""Task integrations, passed in to the engine: the core knows none of them.

- `parse_resource(arn)` reads a Task state's `Resource` into a `Resource` (service, action, pattern).
- An integration implements `Integration.invoke(call: TaskCall) -> result`. It raises `StatesError`
  with AWS's error names (`Lambda.ServiceException`, `Glue.ConcurrentRunsExceededException`,
  `States.TaskFailed`, ...). For `.sync` it starts the job and polls it to completion itself, waiting
  through `call.clock` (instant on the virtual clock), and calls `call.submitted(response)` once the
  job is started (history's TaskSubmitted); it should end early when `call.cancelled` is set.
  For `.waitForTaskToken` it only makes the request (the token is in `call.task_token` and already
  substituted into the arguments by the state's `$$.Task.Token` path); the engine then waits for
  the answer in the `CallbackStore`.
- `IntegrationRegistry` routes a call to an integration by service name (`lambda`, `glue`, `s3`, ...),
  with an optional fallback for anything not registered.
- `CallbackStore` holds the open task tokens: SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from tributary.states.clock import Clock, OutsideEvent
from tributary.states.errors import StatesError

Pattern = Literal["request-response", "sync", "sync:2", "waitForTaskToken"]
ResourceKind = Literal["integration", "lambda-function", "activity"]


@dataclass(frozen=True)
class Resource:
    """A Task state's `Resource`, understood.

    - `arn:aws:states:::glue:startJobRun.sync` → kind "integration", service "glue",
      action "startJobRun", pattern "sync".
    - `arn:aws:states:::aws-sdk:s3:getObject` → service "s3", action "getObject", sdk True.
    - `arn:aws:lambda:us-east-1:123456789012:function:f[:alias]` → kind "lambda-function",
      service "lambda", action "invoke", function_name "f" (the input is the payload and the result
      is the function's own output, not the `lambda:invoke` envelope).
    - `arn:aws:states:us-east-1:123456789012:activity:name` → kind "activity", service "activity".
    """

    arn: str
    kind: ResourceKind
    service: str
    action: str
    pattern: Pattern = "request-response"
    sdk: bool = False
    region: str = ""
    account: str = ""
    function_name: str = ""  # lambda-function only (qualifier included: "f:prod")
    activity_name: str = ""  # activity only


class ResourceError(ValueError):
    """A `Resource` that is not an ARN Step Functions can call."""


_PATTERN_SUFFIXES: tuple[tuple[str, Pattern], ...] = (
    (".waitForTaskToken", "waitForTaskToken"),
    (".sync:2", "sync:2"),
    (".sync", "sync"),
)


def parse_resource(arn: str) -> Resource:
    """The `Resource` an ARN names; raises `ResourceError` for anything else."""
    parts = arn.split(":", 6)
    if len(parts) < 6 or parts[0] != "arn" or not parts[1].startswith("aws"):
        raise ResourceError(f"not a resource ARN: {arn!r}")
    _, _, arn_service, region, account, resource_type = parts[:6]
    rest = parts[6] if len(parts) > 6 else ""
    if arn_service == "lambda" and resource_type == "function" and rest:
        return Resource(
            arn, "lambda-function", "lambda", "invoke", region=region, account=account, function_name=rest
        )
    if arn_service == "states" and resource_type == "activity" and rest:
        return Resource(arn, "activity", "activity", "", region=region, account=account, activity_name=rest)
    if arn_service != "states" or not resource_type or not rest:
        raise ResourceError(f"not a resource ARN Step Functions can call: {arn!r}")
    # arn:aws:states:::<service>:<action>[.pattern]   or   arn:aws:states:::aws-sdk:<service>:<action>
    api = rest
    pattern: Pattern = "request-response"
    for suffix, name in _PATTERN_SUFFIXES:
        if api.endswith(suffix):
            api, pattern = api[: -len(suffix)], name
            break
    if resource_type == "aws-sdk":
        service, _, action = api.partition(":")
        if not service or not action:
            raise ResourceError(f"aws-sdk resource needs a service and an action: {arn!r}")
        return Resource(arn, "integration", service, action, pattern, True, region, account)
    if ":" in api:
        raise ResourceError(f"unexpected ':' in the action of {arn!r}")
    return Resource(arn, "integration", resource_type, api, pattern, False, region, account)


@dataclass
class TaskCall:
    """Everything an integration may need for one attempt of one Task state."""

    resource: Resource
    arguments: Any  # Parameters/Arguments after evaluation: the API request
    state_name: str
    execution_arn: str
    state_machine_arn: str  # may end with `#TestCase` (Step Functions Local's mock selection)
    clock: Clock
    task_token: str | None = None  # set for .waitForTaskToken (and activities)
    timeout_seconds: float | None = None
    heartbeat_seconds: float | None = None
    attempt: int = 0  # 0 for the first attempt, then 1, 2, ... for each retry
    credentials: Any = None  # the state's Credentials field, if any
    context: Mapping[str, Any] = field(default_factory=dict)  # the context object ($$)
    # Set when the execution is being stopped (or the task timed out): long waits should end.
    cancelled: threading.Event = field(default_factory=threading.Event)
    # For `.sync`: the engine records TaskSubmitted when the integration reports the start request's
    # response through `submitted(...)`, before it polls the job to its end.
    on_submitted: Callable[[Any], None] | None = None
    # For `.waitForTaskToken` and activities: the store holding `task_token`, for an integration that
    # answers the token itself (a mocked response stands for the worker's SendTaskSuccess/Failure).
    callbacks: CallbackStore | None = None

    def submitted(self, response: Any) -> None:
        """A `.sync` integration calls this once the job is started, with the start API's response."""
        if self.on_submitted is not None:
            self.on_submitted(response)


class Integration(Protocol):
    def invoke(self, call: TaskCall) -> Any:
        """The task's result (JSON value), or raise `StatesError`."""
        ...


class FunctionIntegration:
    """An integration from a plain function of the call."""

    def __init__(self, fn: Callable[[TaskCall], Any]) -> None:
        self._fn = fn

    def invoke(self, call: TaskCall) -> Any:
        return self._fn(call)


class IntegrationRegistry:
    """Routes a call to the integration registered for its service (`lambda`, `glue`, `athena`,
    `s3`, `dynamodb`, `sns`, `activity`, ...); `fallback` takes anything else."""

    def __init__(
        self, integrations: Mapping[str, Integration] | None = None, *, fallback: Integration | None = None
    ) -> None:
        self._by_service: dict[str, Integration] = dict(integrations or {})
        self.fallback = fallback

    def register(self, service: str, integration: Integration) -> None:
        self._by_service[service] = integration

    def resolve(self, resource: Resource) -> Integration | None:
        return self._by_service.get(resource.service, self.fallback)

    def invoke(self, call: TaskCall) -> Any:
        integration = self.resolve(call.resource)
        if integration is None:
            # What a local run says when nothing can serve the resource; catchable like AWS's own
            # failures to reach a service.
            raise StatesError(
                "States.TaskFailed", f"No integration is registered for resource '{call.resource.arn}'"
            )
        return integration.invoke(call)


# --- callbacks -----------------------------------------------------------------------------------


class TaskTokenError(Exception):
    """SendTask* with a token that is unknown or no longer open (AWS: InvalidToken / TaskTimedOut)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code  # "InvalidToken" or "TaskTimedOut"


@dataclass
class PendingTask:
    """One open task token and, once answered, its outcome."""

    token: str
    execution_arn: str
    state_name: str
    answered: threading.Event = field(default_factory=threading.Event)
    heartbeat: threading.Event = field(default_factory=threading.Event)
    # Set on an answer, a heartbeat, or a stop of the execution: what the waiting task wakes on.
    signal: threading.Event = field(default_factory=OutsideEvent)
    output: Any = None
    error: str | None = None
    cause: str | None = None
    succeeded: bool | None = None


class CallbackStore:
    """The task tokens that executions wait on, shared by the engine and the endpoint
    (SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, PendingTask] = {}
        self._closed: set[str] = set()

    def open(self, execution_arn: str, state_name: str) -> PendingTask:
        token = uuid.uuid4().hex + uuid.uuid4().hex
        pending = PendingTask(token, execution_arn, state_name)
        with self._lock:
            self._open[token] = pending
        return pending

    def close(self, token: str) -> None:
        with self._lock:
            if self._open.pop(token, None) is not None:
                self._closed.add(token)

    def _take(self, token: str) -> PendingTask:
        with self._lock:
            pending = self._open.get(token)
            if pending is None:
                if token in self._closed:
                    raise TaskTokenError("TaskTimedOut", "Task Timed Out")
                raise TaskTokenError("InvalidToken", "Invalid token")
            return pending

    def send_task_success(self, token: str, output: Any) -> None:
        """`output` is the JSON value (the endpoint parses SendTaskSuccess's output text)."""
        pending = self._take(token)
        pending.output, pending.succeeded = output, True
        self.close(token)
        pending.answered.set()
        pending.signal.set()

    def send_task_failure(self, token: str, error: str | None = None, cause: str | None = None) -> None:
        pending = self._take(token)
        pending.error, pending.cause, pending.succeeded = error, cause, False
        self.close(token)
        pending.answered.set()
        pending.signal.set()

    def send_task_heartbeat(self, token: str) -> None:
        pending = self._take(token)
        pending.heartbeat.set()
        pending.signal.set()

    def wake_execution(self, execution_arn: str) -> None:
        """Wake the tasks of an execution that is being stopped."""
        with self._lock:
            waiting = [p for p in self._open.values() if p.execution_arn == execution_arn]
        for pending in waiting:
            pending.signal.set()

    def is_open(self, token: str) -> bool:
        with self._lock:
            return token in self._open
