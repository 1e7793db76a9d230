"""Fault injection for the local stack: a fault plan (JSON or YAML) says which invocations, API calls,
Task states and Glue runs fail, how, how often and for how long.

In the spirit of AWS Fault Injection Service: its Lambda actions (`aws:lambda:invocation-error`,
`aws:lambda:invocation-add-delay`) and its API error actions (internal error, throttle, unavailable),
each with a percentage and a count. `tributary up --fault-plan FILE` loads one; the chaos harness
(`python -m tributary.chaos`) sets plans per scenario. The plan format is in tributary/local/README.md.

    seed: 7                          # percentages draw from this seed (same plan, same faults)
    faults:
      - id: validate-down            # optional, for the report
        target: {function: ValidateFunction}   # logical id, function name or ARN
        action: error                # error | delay | kill | timeout
        error: Lambda.ServiceException
        percentage: 50               # of the matching calls (default 100)
        count: 3                     # at most this many injections (default: no limit)
        after: 1                     # let the first N matching calls through (default 0)
        expires_after_seconds: 120   # the fault ends this long after the plan is loaded
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ACTIONS = ("error", "delay", "kill", "timeout")
TARGET_KINDS = ("function", "api", "state", "glue_job")
# What each target kind accepts; a combination outside this is refused when the plan is loaded.
_ACTIONS_BY_KIND = {
    "function": ("error", "delay", "kill"),  # invocation error, added start-up delay, worker killed
    "api": ("error", "delay"),  # the call fails with an API error, or is slowed down
    "state": ("error", "delay"),  # the Task state fails (its Retry/Catch sees the error name)
    "glue_job": ("timeout", "kill", "delay"),  # the run times out, its process is killed, starts late
}
# API error codes when the plan names none: what AWS answers when the service is unavailable.
DEFAULT_API_ERROR = "ServiceUnavailableException"
DEFAULT_STATE_ERROR = "States.TaskFailed"
DEFAULT_FUNCTION_ERROR = "InjectedFault"
_RULE_FIELDS = {
    "id",
    "target",
    "action",
    "error",
    "message",
    "delay_seconds",
    "percentage",
    "count",
    "after",
    "expires_after_seconds",
    "execution",
    "prevent_execution",
}


class FaultPlanError(ValueError):
    """The plan file cannot be used; the message names the file, the fault and the field."""


@dataclass(frozen=True)
class Target:
    kind: str  # function | api | state | glue_job
    name: str  # function logical id/name/ARN, `service:Operation`, state name, Glue job logical id/name

    def matches(self, kind: str, names: tuple[str, ...]) -> bool:
        if kind != self.kind:
            return False
        if kind == "api":
            return any(_same_operation(self.name, name) for name in names)
        return self.name in names or self.name == "*"


def _same_operation(wanted: str, called: str) -> bool:
    """`glue:StartJobRun` matches `glue:startJobRun` (Step Functions' spelling) and `glue:start_job_run`."""
    service, _, operation = wanted.partition(":")
    called_service, _, called_operation = called.partition(":")
    if service.lower() != called_service.lower():
        return False
    return operation == "*" or operation.replace("_", "").lower() == called_operation.replace("_", "").lower()


@dataclass
class FaultRule:
    target: Target
    action: str
    id: str = ""
    error: str = ""
    message: str = ""
    delay_seconds: float = 0.0
    percentage: float = 100.0
    count: int | None = None
    after: int = 0
    expires_after_seconds: float | None = None
    execution: str = ""  # only executions whose ARN contains this (state and api faults of Tasks)
    prevent_execution: bool = True  # function errors: the handler does not run (as FIS's option)
    seen: int = 0  # matching calls so far
    injected: int = 0  # faults injected so far

    @property
    def label(self) -> str:
        return self.id or f"{self.action} {self.target.kind}={self.target.name}"


@dataclass(frozen=True)
class Fault:
    """One injected fault: what the call site must do."""

    rule_id: str
    action: str
    error: str
    message: str
    delay_seconds: float
    prevent_execution: bool = True


@dataclass
class FaultRecord:
    at: float
    rule_id: str
    action: str
    target: str


@dataclass
class FaultPlan:
    rules: list[FaultRule] = field(default_factory=list)
    seed: int | None = None

    @classmethod
    def load(cls, path: Path) -> FaultPlan:
        try:
            text = path.read_text()
        except OSError as exc:
            raise FaultPlanError(f"fault plan {path}: {exc.strerror or exc}") from None
        try:
            document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as exc:
            raise FaultPlanError(
                f"fault plan {path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: "
                f"{str(exc).splitlines()[0]}"
            ) from None
        return cls.parse(document, str(path))

    @classmethod
    def parse(cls, document: Any, source: str = "fault plan") -> FaultPlan:
        if isinstance(document, list):
            document = {"faults": document}
        if not isinstance(document, dict):
            raise FaultPlanError(f"{source}: expected a mapping with `faults:` (a list)")
        unknown = set(document) - {"seed", "faults"}
        if unknown:
            raise FaultPlanError(
                f"{source}: unknown field(s) {', '.join(sorted(unknown))} (expected seed, faults)"
            )
        faults = document.get("faults") or []
        if not isinstance(faults, list):
            raise FaultPlanError(f"{source}: `faults` must be a list")
        seed = document.get("seed")
        if seed is not None and not isinstance(seed, int):
            raise FaultPlanError(f"{source}: `seed` must be an integer")
        return cls([_rule(entry, f"{source}: fault {index + 1}") for index, entry in enumerate(faults)], seed)


def _rule(entry: Any, where: str) -> FaultRule:
    if not isinstance(entry, dict):
        raise FaultPlanError(f"{where}: expected a mapping")
    unknown = set(entry) - _RULE_FIELDS
    if unknown:
        raise FaultPlanError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    target = entry.get("target")
    if not isinstance(target, dict) or len(target) != 1:
        raise FaultPlanError(f"{where}: `target` must name one of {', '.join(TARGET_KINDS)}")
    ((kind, name),) = target.items()
    if kind not in TARGET_KINDS:
        raise FaultPlanError(f"{where}: unknown target {kind!r} (expected one of {', '.join(TARGET_KINDS)})")
    if not isinstance(name, str) or not name:
        raise FaultPlanError(f"{where}: target {kind} needs a name")
    if kind == "api" and ":" not in name:
        raise FaultPlanError(
            f"{where}: an api target is `service:Operation` (e.g. glue:StartJobRun), not {name!r}"
        )
    action = entry.get("action", "error")
    if action not in _ACTIONS_BY_KIND[kind]:
        raise FaultPlanError(
            f"{where}: action {action!r} does not apply to a {kind} (use {', '.join(_ACTIONS_BY_KIND[kind])})"
        )
    rule_id = str(entry.get("id", ""))
    try:
        percentage = float(entry.get("percentage", 100))
        delay = float(entry.get("delay_seconds", 0))
        after = int(entry.get("after", 0))
        count = None if entry.get("count") is None else int(entry["count"])
        expires = (
            None if entry.get("expires_after_seconds") is None else float(entry["expires_after_seconds"])
        )
    except (TypeError, ValueError) as exc:
        raise FaultPlanError(f"{where}: {exc}") from None
    if not 0 <= percentage <= 100:
        raise FaultPlanError(f"{where}: percentage must be between 0 and 100")
    if delay < 0 or after < 0 or (count is not None and count < 0) or (expires is not None and expires < 0):
        raise FaultPlanError(
            f"{where}: delay_seconds, after, count and expires_after_seconds cannot be negative"
        )
    if action in ("kill", "timeout", "delay") and "delay_seconds" not in entry:
        raise FaultPlanError(f"{where}: action {action} needs delay_seconds (when it happens / how long)")
    return FaultRule(
        Target(kind, name),
        action,
        id=rule_id,
        error=str(entry.get("error") or ""),
        message=str(entry.get("message") or ""),
        delay_seconds=delay,
        percentage=percentage,
        count=count,
        after=after,
        expires_after_seconds=expires,
        execution=str(entry.get("execution") or ""),
        prevent_execution=bool(entry.get("prevent_execution", True)),
    )


class FaultInjector:
    """Matches calls against the current plan. Thread-safe; `clock` is injectable for tests."""

    def __init__(self, plan: FaultPlan | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.records: list[FaultRecord] = []
        self.set_plan(plan or FaultPlan())

    def set_plan(self, plan: FaultPlan) -> None:
        """Replace the plan; its expiry times count from now."""
        with self._lock:
            self.plan = plan
            self._random = random.Random(plan.seed)
            self._loaded_at = self._clock()

    def clear(self) -> None:
        self.set_plan(FaultPlan())

    def match(self, kind: str, *names: str, execution: str = "") -> Fault | None:
        """The fault to inject into this call, if any: the first rule that targets it and fires.
        Each rule counts the matching calls it sees (for `after`) and the faults it injected (`count`)."""
        with self._lock:
            now = self._clock() - self._loaded_at
            for rule in self.plan.rules:
                if not rule.target.matches(kind, tuple(n for n in names if n)):
                    continue
                if rule.execution and rule.execution not in execution:
                    continue
                if rule.expires_after_seconds is not None and now >= rule.expires_after_seconds:
                    continue
                rule.seen += 1
                if rule.seen <= rule.after:
                    continue
                if rule.count is not None and rule.injected >= rule.count:
                    continue
                if rule.percentage < 100 and self._random.random() * 100 >= rule.percentage:
                    continue
                rule.injected += 1
                self.records.append(FaultRecord(time.time(), rule.label, rule.action, f"{kind}={names[0]}"))
                return Fault(
                    rule.label,
                    rule.action,
                    rule.error,
                    rule.message or f"fault injected by the fault plan ({rule.label})",
                    rule.delay_seconds,
                    rule.prevent_execution,
                )
        return None

    def summary(self) -> dict[str, int]:
        """Faults injected so far, per rule."""
        with self._lock:
            return {rule.label: rule.injected for rule in self.plan.rules}


# -- the injection points ---------------------------------------------------------------------------
def function_error_document(fault: Fault, request_id: str) -> dict[str, Any]:
    """Lambda's error document for an injected invocation error."""
    return {
        "errorType": fault.error or DEFAULT_FUNCTION_ERROR,
        "errorMessage": f"RequestId: {request_id} Error: {fault.message}",
    }


class FaultInjectingIntegrations:
    """Wraps the engine's task integrations: a `state` fault fails (or delays) the Task state by name;
    an `api` fault fails the service call the Task makes, named as Step Functions names that service's
    errors (`Glue.ConcurrentRunsExceededException`, `Athena.TooManyRequestsException`, ...)."""

    def __init__(self, inner: Any, injector: FaultInjector, error_name: Callable[[Any, str], str]) -> None:
        self.inner = inner
        self.injector = injector
        self._error_name = error_name

    def invoke(self, call: Any) -> Any:
        from tributary.states.errors import StatesError

        resource = call.resource
        fault = self.injector.match("state", call.state_name, execution=call.execution_arn)
        if fault is not None:
            if fault.action == "delay":
                time.sleep(fault.delay_seconds)
            else:
                raise StatesError(fault.error or DEFAULT_STATE_ERROR, fault.message)
        operation = f"{resource.service}:{resource.action}"
        fault = self.injector.match("api", operation, execution=call.execution_arn)
        if fault is not None:
            if fault.action == "delay":
                time.sleep(fault.delay_seconds)
            else:
                code = fault.error or DEFAULT_API_ERROR
                raise StatesError(
                    self._error_name(resource, code), f"{fault.message} (Service: {resource.service})"
                )
        return self.inner.invoke(call)
