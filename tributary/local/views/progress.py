"""Live progress of an execution, from its history events (GetExecutionHistory's shapes).

    tracker = ProgressTracker(color=use_color(sys.stdout))
    for line in tracker.feed(events):        # new events, or the whole history again: seen ids are skipped
        print(line)
    # or live, in the engine's process: execution.history.listeners.append(show), where
    # show(event) prints each line of tracker.feed([event]) (thread-safe; branches call from their threads)

    progress_lines(events)   -> list[str]          # the same, for a finished history in one go
    state_visits(events)     -> list[StateVisit]   # what happened to each state, for reports and graphs
    use_color(stream)        -> bool               # ANSI colour only on a TTY (and never with NO_COLOR)

Lines look like::

    ▶ ValidateObjects
    ✔ ValidateObjects 0.8s
    ↻ RunTransformJob retry 1 after Glue.ConcurrentRunsExceededException: too many runs
    ✘ TransformAndCatalog 3.1s States.TaskFailed: boom (caught)
    ■ SyncCatalogTable 2.0s stopped

States inside a Parallel branch or a Map iteration are indented; a Map iteration's states carry its
index (`Transform [3]`), and only the first `iteration_lines` iterations are shown unless they fail.

Events are matched to the state they belong to by following `previousEventId`, so concurrent Parallel
branches and Map iterations (real clock) are told apart. Timestamps may be datetimes (the engine,
boto3), epoch seconds or ISO-8601 text. Everything here is pure: no I/O, no clock.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TextIO

RUNNING, SUCCEEDED, FAILED, STOPPED = "running", "succeeded", "failed", "stopped"

_CONTAINERS = ("Parallel", "Map")
_ATTEMPT_STARTS = ("TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled")
_CAUSE_WIDTH = 200
_WAITED = timedelta(seconds=5)  # a Glue job run that started this much after its state: its own time

_GREEN, _RED, _YELLOW, _CYAN, _DIM, _RESET = (
    "\033[32m",
    "\033[31m",
    "\033[33m",
    "\033[36m",
    "\033[2m",
    "\033[0m",
)


# How often a state waiting for its task token (.waitForTaskToken) is said to be still waiting.
WAITING_TICK = 600.0


@dataclass
class StateVisit:
    """One entry into a state (a state of a Map is visited once per iteration)."""

    name: str
    type: str  # Task, Pass, Choice, Parallel, Map, ...
    entered_id: int
    entered_at: datetime | None
    depth: int = 0  # 0 at top level, +1 inside each Parallel branch or Map iteration
    parent: int | None = None  # entered_id of the enclosing Parallel/Map visit
    iteration: int | None = None  # index of the Map iteration this visit belongs to
    exited_at: datetime | None = None
    status: str = RUNNING  # running | succeeded | failed | stopped
    caught: bool = False  # failed, and a Catch sent the execution on
    error: str | None = None
    cause: str | None = None
    retries: int = 0
    iterations: int = 0  # for a Map: how many iterations started (a distributed Map: its items)
    items: int | None = None  # for a Map: how many items (or batches) MapStateStarted announced
    child_executions: int | None = None  # for a distributed Map: one child execution per item or batch
    child_failures: int = 0  # for a distributed Map: child executions that failed (tolerated ones)
    resource: str = ""  # a Task's integration as TaskScheduled names it, e.g. `glue:startJobRun.sync`
    parameters: dict[str, Any] = field(default_factory=dict)  # the Task's parameters (parsed)
    failed_event_id: int | None = None  # the event that sealed the failure (orders failures)
    failed_at: datetime | None = None  # when that event happened
    assigned: dict[str, Any] = field(default_factory=dict)  # variables the state assigned (parsed)

    @property
    def seconds(self) -> float | None:
        if self.entered_at is None or self.exited_at is None:
            return None
        return max(0.0, (self.exited_at - self.entered_at).total_seconds())


def parse_timestamp(value: Any) -> datetime | None:
    """A history timestamp (datetime, epoch seconds, ISO-8601 text) as an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            try:
                return datetime.fromtimestamp(float(value), UTC)
            except ValueError:
                return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def format_seconds(seconds: float | None) -> str:
    """`0.8s`, `12.3s`, `2m 05s`, `1h 02m`; empty when unknown."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


def short_cause(cause: str | None, width: int = _CAUSE_WIDTH) -> str:
    """A cause on one line: a Lambda error's `errorMessage` rather than its JSON, cut at `width`."""
    if not cause:
        return ""
    text = cause
    try:
        parsed = json.loads(cause)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        message = parsed.get("errorMessage") or parsed.get("ErrorMessage") or parsed.get("message")
        if isinstance(message, str) and message:
            text = message
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def describe_error(error: str | None, cause: str | None) -> str:
    """`Error: cause` on one line (either part may be missing)."""
    brief = short_cause(cause)
    if error and brief:
        return f"{error}: {brief}"
    return error or brief


def use_color(stream: TextIO | Any) -> bool:
    """True when ANSI colours suit `stream`: a TTY, NO_COLOR unset, TERM not `dumb`."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):
        return False


def _details(event: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _is_failure(event_type: str) -> bool:
    if event_type.startswith(("Execution", "MapIteration")):
        return False
    return event_type.endswith(("Failed", "TimedOut"))


def _container_of(event_type: str) -> str | None:
    for kind in _CONTAINERS:
        if event_type.startswith(kind) and event_type.endswith(("Succeeded", "Failed", "Aborted")):
            return kind
    return None


def _error_in_output(output: Any) -> tuple[str | None, str | None]:
    if not isinstance(output, str):
        return None, None
    try:
        parsed = json.loads(output)
    except ValueError:
        return None, None
    if isinstance(parsed, dict) and isinstance(parsed.get("Error"), str):
        cause = parsed.get("Cause")
        return parsed["Error"], cause if isinstance(cause, str) else None
    return None, None


class ProgressTracker:
    """Keeps what `feed` needs between batches of events: entered times, open states, failures.

    `visits` (in the order states were entered), `status` (RUNNING, SUCCEEDED, FAILED, TIMED_OUT,
    ABORTED), `error`, `cause`, `started_at` and `finished_at` describe the execution so far.
    """

    def __init__(self, *, color: bool = False, iteration_lines: int = 3) -> None:
        self.color = color
        self.iteration_lines = iteration_lines
        self.visits: list[StateVisit] = []
        self.status = "RUNNING"
        self.error: str | None = None
        self.cause: str | None = None
        self.started_at: datetime | None = None
        self.finished_at: datetime | None = None
        self._by_entered: dict[int, StateVisit] = {}
        self._owner: dict[int, int | None] = {}  # event id -> entered id of the visit it belongs to
        self._types: dict[int, str] = {}
        self._iteration_of: dict[int, int] = {}  # MapIterationStarted event id -> index
        self._seen: set[int] = set()
        self._open: dict[int | None, set[int]] = {}  # parent entered id -> its open visits
        self._lock = threading.Lock()  # History listeners call from the threads of branches/iterations
        self._started: set[int] = set()  # entered ids of the Parallel/Map visits that started
        self._ticked: dict[int, datetime] = {}  # entered id -> when `still_running` last spoke of it

    # ------------------------------------------------------------------ feeding
    def feed(self, events: Iterable[Mapping[str, Any]]) -> list[str]:
        """Consume new events (any order within the batch; already seen ids are ignored) and return
        the lines they produce."""
        lines: list[str] = []
        with self._lock:
            fresh = [e for e in events if isinstance(e.get("id"), int) and e["id"] not in self._seen]
            for event in sorted(fresh, key=lambda e: int(e["id"])):
                self._seen.add(int(event["id"]))
                lines.extend(self._one(event))
        return lines

    def still_running(
        self,
        now: datetime,
        *,
        every: float = 10.0,
        detail: Callable[[StateVisit], str | None] | None = None,
    ) -> list[str]:
        """A line for each state running for `every` seconds or more, at most once per `every`
        seconds each: `… RunTransformJob running 1m 05s`, then what `detail(visit)` adds (e.g. the
        Glue job run's Spark stages). Parallel and inline Map states are left out: their inner states
        speak for them; a distributed Map is in (its child executions are not in this history)."""
        lines: list[str] = []
        with self._lock:
            if self.status != "RUNNING":
                return []
            for visit in self.visits:
                if visit.status != RUNNING or visit.entered_at is None or not self._shown(visit):
                    continue
                if visit.type == "Parallel" or (visit.type == "Map" and visit.child_executions is None):
                    continue
                seconds = (now - visit.entered_at).total_seconds()
                last = self._ticked.get(visit.entered_id, visit.entered_at)
                # A task waiting for its token (a person's approval) may wait for hours: said less often.
                waiting = visit.resource.endswith(".waitForTaskToken")
                interval = max(every, WAITING_TICK) if waiting else every
                if seconds < interval or (now - last).total_seconds() < interval:
                    continue
                self._ticked[visit.entered_id] = now
                extra = detail(visit) if detail is not None else None
                doing = "waiting for its task token" if waiting else "running"
                text = f"{doing} {format_seconds(seconds)}" + (f" · {extra}" if extra else "")
                lines.append(self._line(visit, "…", _DIM, text))
        return lines

    def _one(self, event: Mapping[str, Any]) -> list[str]:
        event_id = int(event["id"])
        event_type = str(event.get("type", ""))
        previous = event.get("previousEventId")
        previous = int(previous) if isinstance(previous, int) else 0
        at = parse_timestamp(event.get("timestamp"))
        details = _details(event)
        self._types[event_id] = event_type
        if event_type.endswith("StateEntered"):
            return self._entered(event_id, event_type[: -len("StateEntered")], previous, at, details)
        if event_type.endswith("StateExited"):
            return self._exited(event_id, previous, at, details)
        if event_type.startswith("Execution"):
            self._owner[event_id] = None
            return self._execution(event_type, at, details)
        kind = _container_of(event_type)
        if event_type in ("MapIterationStarted", "MapStateStarted"):  # it may follow the last state of
            kind = "Map"  # an earlier iteration, or the failed one a Retry starts the Map again after
        elif event_type == "ParallelStateStarted":
            kind = "Parallel"
        owner = self._open_container(self._owner.get(previous), kind) if kind else self._owner.get(previous)
        self._owner[event_id] = owner
        visit = self._by_entered.get(owner) if owner is not None else None
        if visit is not None and event_type == "MapStateStarted":
            length = details.get("length")
            visit.items = length if isinstance(length, int) else None
        if visit is not None and event_type == "MapRunStarted":
            # A distributed Map's iterations are child executions with histories of their own: the
            # parent's history says only how many items (or batches) there are.
            visit.child_executions = visit.items or 0
            visit.iterations = visit.items or 0
            return [
                self._line(visit, "…", _CYAN, f"{_plural(visit.child_executions, 'child execution')} started")
            ]
        if event_type == "MapIterationStarted":
            index = details.get("index")
            self._iteration_of[event_id] = int(index) if isinstance(index, int) else 0
            if visit is not None:
                visit.iterations += 1
            return []
        if visit is None:
            return []
        lines: list[str] = []
        if event_type == "TaskScheduled":
            visit.resource = f"{details.get('resourceType', '')}:{details.get('resource', '')}"
            try:
                parameters = json.loads(str(details.get("parameters") or "{}"))
            except ValueError:
                parameters = {}
            visit.parameters = parameters if isinstance(parameters, dict) else {}
        if event_type in _ATTEMPT_STARTS or event_type in ("ParallelStateStarted", "MapStateStarted"):
            again = kind is not None and visit.entered_id in self._started  # a container retried
            self._started.add(visit.entered_id)
            if visit.error is not None or visit.failed_event_id is not None or again:
                lines += self._close_descendants(visit, at, event_id)
                if visit.error is None:  # retried without a MapStateFailed: the iteration's error
                    visit.error, visit.cause = self._inner_error(visit)
                visit.retries += 1
                visit.iterations = 0 if again else visit.iterations
                lines.append(self._retry_line(visit))
                visit.error = visit.cause = None
                visit.failed_event_id = None
        elif _is_failure(event_type):
            error, cause = details.get("error"), details.get("cause")
            if isinstance(error, str) or visit.error is None:
                visit.error = error if isinstance(error, str) else visit.error
                visit.cause = cause if isinstance(cause, str) else visit.cause
            visit.failed_event_id = event_id
            visit.failed_at = at
            if kind is not None:  # a Parallel or Map failed: its branches' failures are final
                lines += self._close_descendants(visit, at, event_id)
                if visit.error is None:  # MapStateFailed has no details: the iteration's error
                    visit.error, visit.cause = self._inner_error(visit)
        return lines

    def _entered(
        self, event_id: int, state_type: str, previous: int, at: datetime | None, details: dict[str, Any]
    ) -> list[str]:
        previous_type = self._types.get(previous, "")
        owner = self._owner.get(previous)
        parent: int | None = None
        iteration: int | None = None
        if previous_type in ("ParallelStateStarted", "MapIterationStarted"):
            parent = owner
            iteration = self._iteration_of.get(previous)
        elif owner is not None and owner in self._by_entered:
            sibling = self._by_entered[owner]
            parent, iteration = sibling.parent, sibling.iteration
        enclosing = self._by_entered.get(parent) if parent is not None else None
        if iteration is None and enclosing is not None and enclosing.type != "Map":
            iteration = enclosing.iteration  # a Parallel inside an iteration belongs to it
        visit = StateVisit(
            name=str(details.get("name", "?")),
            type=state_type,
            entered_id=event_id,
            entered_at=at,
            depth=enclosing.depth + 1 if enclosing is not None else 0,
            parent=parent,
            iteration=iteration,
        )
        self.visits.append(visit)
        self._open.setdefault(parent, set()).add(event_id)
        self._by_entered[event_id] = visit
        self._owner[event_id] = event_id
        if not self._shown(visit):
            return []
        return [self._line(visit, "▶", _CYAN, "")]

    def _exited(
        self, event_id: int, previous: int, at: datetime | None, details: dict[str, Any]
    ) -> list[str]:
        name = details.get("name")
        visit = self._match_exit(self._owner.get(previous), name)
        if visit is None:
            self._owner[event_id] = None
            return []
        self._owner[event_id] = visit.entered_id
        lines = self._close_descendants(visit, at, event_id)
        visit.exited_at = at
        if visit.child_executions is not None:
            visit.child_failures = _failed_children(details.get("output"))
        assigned = details.get("assignedVariables")
        if isinstance(assigned, dict):
            for key, text in assigned.items():
                try:
                    visit.assigned[key] = json.loads(text) if isinstance(text, str) else text
                except ValueError:
                    visit.assigned[key] = text
        if _is_failure(self._types.get(previous, "")) or visit.failed_event_id is not None:
            if visit.error is None:
                visit.error, visit.cause = _error_in_output(details.get("output"))
            visit.status, visit.caught = FAILED, True
            if visit.failed_event_id is None:
                visit.failed_event_id = previous
        else:
            visit.status = SUCCEEDED
            visit.error = visit.cause = None
        self._open.get(visit.parent, set()).discard(visit.entered_id)
        return lines + self._closed_line(visit)

    def _execution(self, event_type: str, at: datetime | None, details: dict[str, Any]) -> list[str]:
        if event_type == "ExecutionStarted":
            self.started_at = at
            return []
        outcome = {
            "ExecutionSucceeded": "SUCCEEDED",
            "ExecutionFailed": "FAILED",
            "ExecutionTimedOut": "TIMED_OUT",
            "ExecutionAborted": "ABORTED",
        }.get(event_type)
        if outcome is None:
            return []
        self.status, self.finished_at = outcome, at
        error, cause = details.get("error"), details.get("cause")
        self.error = error if isinstance(error, str) else None
        self.cause = cause if isinstance(cause, str) else None
        lines: list[str] = []
        open_visits = [v for v in self.visits if v.status == RUNNING]
        if outcome == "FAILED" and open_visits and not any(v.failed_event_id for v in open_visits):
            blamed = max(
                (v for v in open_visits if v.type not in _CONTAINERS),
                key=lambda v: v.entered_id,
                default=None,
            )
            for visit in open_visits:  # nothing recorded a failure: the error is the state's own
                if visit is blamed or visit.type == "Fail" or visit.type in _CONTAINERS:
                    visit.error, visit.cause, visit.failed_event_id = self.error, self.cause, 0
        for visit in sorted(open_visits, key=lambda v: -v.depth):
            if visit.failed_event_id is None and (
                outcome == "TIMED_OUT" or (outcome == "FAILED" and visit.type in _CONTAINERS)
            ):
                visit.failed_event_id = 0
                visit.error, visit.cause = visit.error or self.error, visit.cause or self.cause
            lines += self._seal(visit, at)
        seconds = (
            (at - self.started_at).total_seconds() if at is not None and self.started_at is not None else None
        )
        took = f" in {format_seconds(seconds)}" if seconds is not None else ""
        if outcome == "SUCCEEDED":
            lines.append(self._paint(f"✔ execution succeeded{took}", _GREEN))
        else:
            word = {"FAILED": "failed", "TIMED_OUT": "timed out", "ABORTED": "aborted"}[outcome]
            reason = describe_error(self.error, self.cause)
            lines.append(self._paint(f"✘ execution {word}{took}" + (f": {reason}" if reason else ""), _RED))
        return lines

    # ------------------------------------------------------------------ matching
    def _open_container(self, entered: int | None, kind: str | None) -> int | None:
        while entered is not None:
            visit = self._by_entered.get(entered)
            if visit is None:
                return None
            if visit.type == kind and visit.status == RUNNING:
                return entered
            entered = visit.parent
        return None

    def _match_exit(self, entered: int | None, name: Any) -> StateVisit | None:
        probe = entered
        while probe is not None:
            visit = self._by_entered.get(probe)
            if visit is None:
                break
            if visit.name == name and visit.status == RUNNING:
                return visit
            probe = visit.parent
        for visit in reversed(self.visits):  # history with gaps: the latest open visit of that name
            if visit.name == name and visit.status == RUNNING:
                return visit
        return None

    def _close_descendants(self, container: StateVisit, at: datetime | None, event_id: int) -> list[str]:
        """Close what is still open inside `container` (a branch that failed, or was cancelled)."""
        inside: list[StateVisit] = []
        stack = list(self._open.get(container.entered_id, ()))
        while stack:
            visit = self._by_entered[stack.pop()]
            inside.append(visit)
            stack.extend(self._open.get(visit.entered_id, ()))
        lines: list[str] = []
        for visit in sorted(inside, key=lambda v: -v.depth):
            lines += self._seal(visit, at)
        return lines

    def _inner_error(self, container: StateVisit) -> tuple[str | None, str | None]:
        """The error and cause of the last failed state inside `container` (None, None if none)."""
        inner = [
            v
            for v in self.visits
            if v.status == FAILED and v.error is not None and self._within(v, container)
        ]
        if not inner:
            return None, None
        last = max(inner, key=lambda v: v.failed_event_id or 0)
        return last.error, last.cause

    def _within(self, visit: StateVisit, container: StateVisit) -> bool:
        parent = visit.parent
        while parent is not None:
            if parent == container.entered_id:
                return True
            enclosing = self._by_entered.get(parent)
            parent = enclosing.parent if enclosing is not None else None
        return False

    def _seal(self, visit: StateVisit, at: datetime | None) -> list[str]:
        """End a visit that has no StateExited: failed if a failure was recorded (then, when it was),
        else stopped."""
        visit.exited_at = visit.failed_at if visit.failed_event_id and visit.failed_at else at
        visit.status = FAILED if visit.failed_event_id is not None else STOPPED
        self._open.get(visit.parent, set()).discard(visit.entered_id)
        return self._closed_line(visit)

    # ------------------------------------------------------------------ lines
    def _shown(self, visit: StateVisit) -> bool:
        return visit.iteration is None or visit.iteration < self.iteration_lines

    def _closed_line(self, visit: StateVisit) -> list[str]:
        took = format_seconds(visit.seconds)
        if visit.status == SUCCEEDED:
            if not self._shown(visit):
                return []
            extra = ""
            if visit.type == "Map":
                extra += f" ({map_count(visit)})"
            if visit.retries:
                extra += f" after {visit.retries} retr{'ies' if visit.retries != 1 else 'y'}"
            return [self._line(visit, "✔", _GREEN, f"{took}{extra}")]
        if visit.status == FAILED:
            reason = describe_error(visit.error, visit.cause)
            text = " ".join(part for part in (took, reason) if part)
            return [self._line(visit, "✘", _RED, text + (" (caught)" if visit.caught else ""))]
        if not self._shown(visit):
            return []
        return [self._line(visit, "■", _YELLOW, " ".join(part for part in (took, "stopped") if part))]

    def _retry_line(self, visit: StateVisit) -> str:
        reason = describe_error(visit.error, visit.cause)
        return self._line(
            visit, "↻", _YELLOW, f"retry {visit.retries}" + (f" after {reason}" if reason else "")
        )

    def _line(self, visit: StateVisit, mark: str, colour: str, rest: str) -> str:
        label = visit.name if visit.iteration is None else f"{visit.name} [{visit.iteration}]"
        head = "  " * visit.depth + self._paint(mark, colour) + " " + label
        if not rest:
            return head
        return f"{head} {self._paint(rest, _DIM) if mark == '✔' else rest}"

    def _paint(self, text: str, colour: str) -> str:
        return f"{colour}{text}{_RESET}" if self.color else text


def _failed_children(output: Any) -> int:
    """How many results of a distributed Map's output are a child execution's error."""
    try:
        results = json.loads(output) if isinstance(output, str) else None
    except ValueError:
        return 0
    if not isinstance(results, list):
        return 0
    return sum(1 for r in results if isinstance(r, dict) and set(r) == {"Error", "Cause"})


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def map_count(visit: StateVisit) -> str:
    """`3 iterations` for an inline Map; `3 child executions` for a distributed one."""
    if visit.child_executions is not None:
        failed = f", {visit.child_failures} failed" if visit.child_failures else ""
        return _plural(visit.child_executions, "child execution") + failed
    return _plural(visit.iterations, "iteration")


# Spark's console progress bar (ConsoleProgressBar): `[Stage 3:=====>      (120 + 2) / 200]`, one
# bracket per active stage.
_SPARK_BAR = re.compile(r"\[Stage (\d+):[=> ]*\((\d+) \+ (\d+)\) / (\d+)\]")


def spark_progress(log: str) -> str | None:
    """The stages of the last Spark progress bar in `log`: `Spark stage 3: 120/200 tasks (2 running)`;
    None when there is none, or Spark cleared it (a line of spaces: its stages ended)."""
    last_line = None
    for line in reversed(re.split(r"[\r\n]", log)):
        if _SPARK_BAR.search(line):
            last_line = line
            break
        if len(line) >= 20 and not line.strip():
            return None
    if last_line is None:
        return None
    return stages_text(
        {"stage": int(stage), "done": int(done), "running": int(active), "total": int(total)}
        for stage, done, active, total in _SPARK_BAR.findall(last_line)
    )


def stages_text(stages: Iterable[Mapping[str, Any]]) -> str | None:
    """`Spark stage 3: 120/200 tasks (2 running), stage 4: 0/8 tasks` for stages given as
    `{"stage", "done", "running", "total"}` (Spark's progress bar, or a warm worker's status tracker);
    None when no stage is active."""
    shown = []
    for stage in stages:
        running = f" ({stage['running']} running)" if stage.get("running") else ""
        shown.append(f"stage {stage['stage']}: {stage['done']}/{stage['total']} tasks{running}")
    return "Spark " + ", ".join(shown) if shown else None


class GlueRuns(Protocol):
    """What `glue_progress` reads of the local Glue runtime (tributary/local/runtimes/glue_runtime.py).
    A runtime may also have `spark_stages(run_id)`, the active stages its warm worker reports (a list,
    or None when it reports none: the log's progress bar is read instead)."""

    def get_job_runs(self, JobName: str) -> dict[str, Any]: ...  # Glue's parameter name

    def logs(self, run_id: str) -> str: ...


def glue_progress(glue: GlueRuns, visit: StateVisit, now: datetime | None = None) -> str | None:
    """For a Task running a Glue job: its running job run, how long it has run and Spark's active stages
    (tasks done of each), from the warm worker's status tracker or, in cold mode, the progress bar in
    the run's log. None for other states."""
    job = visit.parameters.get("JobName")
    if not visit.resource.startswith("glue:") or not isinstance(job, str):
        return None
    try:
        runs = glue.get_job_runs(JobName=job).get("JobRuns", [])
    except Exception:  # progress must not stop a run: an unknown job shows nothing
        return None
    running = [r for r in runs if r.get("JobRunState") in ("STARTING", "RUNNING", "WAITING")]
    if not running:
        return None
    run = max(running, key=lambda r: parse_timestamp(r.get("StartedOn")) or datetime.min.replace(tzinfo=UTC))
    run_id = str(run.get("Id"))
    shown_id = run_id if len(run_id) <= 16 else run_id[:15] + "…"
    text = f"Glue job run {shown_id} {str(run.get('JobRunState', '')).lower()}"
    started = parse_timestamp(run.get("StartedOn"))
    waited = started is not None and visit.entered_at is not None and started - visit.entered_at >= _WAITED
    if waited and started is not None and now is not None:  # it waited for a slot: its own time
        text += f" {format_seconds((now - started).total_seconds())}"
    reported = getattr(glue, "spark_stages", None)
    tracked = reported(run_id) if callable(reported) else None
    stages = stages_text(tracked) if tracked is not None else spark_progress(glue.logs(run_id))
    return f"{text} · {stages}" if stages else text


def glue_detail(glue: GlueRuns, now: datetime) -> Callable[[StateVisit], str | None]:
    """`still_running`'s `detail` for a stack whose Glue runtime is `glue`."""
    return lambda visit: glue_progress(glue, visit, now)


def progress_lines(events: Iterable[Mapping[str, Any]], *, color: bool = False) -> list[str]:
    """All the lines of a history at once (e.g. for `tributary history`)."""
    return ProgressTracker(color=color, iteration_lines=1_000_000).feed(events)


def state_visits(events: Iterable[Mapping[str, Any]]) -> list[StateVisit]:
    """Every state visit of a history, in the order they were entered."""
    tracker = ProgressTracker()
    tracker.feed(events)
    return tracker.visits
