"""The interpreter: runs a machine's states one after the other, with each state's input and output
processing (through the state's `io`, JSONPath or JSONata as chosen at load: state_io.py), variables
and their scopes, Retry and Catch, and history.

Causes of States.Runtime and States.QueryEvaluationError raised by the expressions layer carry no
"An error occurred while executing the state ..." prefix: the engine adds it, since only it knows
the state and the event id it was entered at."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from tributary.states import errors, jsonata, jsonpath, payload
from tributary.states.clock import Clock
from tributary.states.definition import Machine, State, Transition
from tributary.states.errors import NullableFailure, StatesError
from tributary.states.history import History, payload_text
from tributary.states.retry import first_match, retry_delay
from tributary.states.service_integrations import CallbackStore, Integration
from tributary.states.state_io import Ending

T = TypeVar("T")
# Runs one attempt of a state (no Retry, no Catch): a state's `body`, or the TestState API's mock.
Handler = Callable[["Interpreter", "StateRun"], "Step"]

PAYLOAD_LIMIT_BYTES = 256 * 1024
_PREFIXED_ERRORS = frozenset({errors.RUNTIME, errors.QUERY_EVALUATION_ERROR})
_PREFIX_START = "An error occurred while executing the state"
# The states that can be under way when a sibling branch fails (the others take no time).
_ABORTABLE_TYPES = frozenset({"Task", "Wait", "Parallel", "Map"})


class ExecutionFailed(Exception):
    """A machine ended in failure: a Fail state, or an error no Catch handled."""

    def __init__(self, error: str | None, cause: str | None) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


class ExecutionStopped(Exception):
    """StopExecution (or the execution's own TimeoutSeconds) ended the run."""


class ExecutionTimedOut(ExecutionStopped):
    """The state machine's TimeoutSeconds passed on the clock."""


class BranchAborted(BaseException):
    """A sibling failed (or the enclosing branch was aborted): this branch or iteration stops where it
    is. Raised inside the wait it was suspended in; the state under way writes `<Type>StateAborted`
    (see `Interpreter.run_state`). A BaseException, so that no `except Exception` of a state or an
    integration turns it into a task failure. `last_event_id`: the last event of the branch's chain
    (the aborted state's event before `<Type>StateAborted`, which does not advance the chain).
    `quiet`: the execution itself is stopping (StopExecution, its TimeoutSeconds): no aborted events,
    as before an ExecutionAborted / ExecutionTimedOut."""

    def __init__(self, *, quiet: bool = False) -> None:
        super().__init__("aborted")
        self.last_event_id: int | None = None
        self.quiet = quiet


def drive(steps: Generator[None, None, T]) -> T:
    """Run a generator of steps (`Interpreter.machine_steps`, a fan-out job) to its end; its return value."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def iso_time(moment: datetime) -> str:
    """Timestamps in the context object: ISO-8601 UTC with milliseconds, as AWS writes them."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class Runtime:
    """What one execution shares across its states, branches and iterations."""

    clock: Clock
    integrations: Integration
    callbacks: CallbackStore
    history: History
    execution_arn: str
    state_machine_arn: str
    context: dict[str, Any]  # the context object's Execution and StateMachine parts
    stop: threading.Event = field(default_factory=threading.Event)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    payload_limit: int = PAYLOAD_LIMIT_BYTES
    map_run_counter: int = 0
    # The child executions' events of each distributed Map run, by map run ARN (AWS keeps them out of
    # the parent's history; tests read them here).
    map_run_histories: dict[str, History] = field(default_factory=dict)
    # What DescribeMapRun answers for each distributed Map run, by map run ARN (a
    # `tributary.states.state.map.MapRunProgress`; the endpoint serves it).
    map_runs: dict[str, Any] = field(default_factory=dict)
    deadline: datetime | None = None  # start + the state machine's TimeoutSeconds
    # The `cancelled` events of the task calls under way, set by request_stop so that a `.sync`
    # integration polling through `clock.wait(call.cancelled, ...)` ends its wait.
    _calls_under_way: list[threading.Event] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Stop events of branches and iterations running in threads (see fan_out), set with `stop`.
    _linked_stops: list[threading.Event] = field(default_factory=list)

    def request_stop(self) -> None:
        """StopExecution or the execution's timeout: every wait under way ends."""
        self.stop.set()
        with self._lock:
            under_way = [*self._calls_under_way, *self._linked_stops]
        for event in under_way:
            event.set()
        self.callbacks.wake_execution(self.execution_arn)

    def linked_stop(self) -> threading.Event:
        """A stop event of its own for threads of this execution, also set by `request_stop`."""
        event = threading.Event()
        with self._lock:
            self._linked_stops.append(event)
        if self.stop.is_set():
            event.set()
        return event

    def unlink_stop(self, event: threading.Event) -> None:
        with self._lock:
            if event in self._linked_stops:
                self._linked_stops.remove(event)

    def call_started(self, cancelled: threading.Event) -> None:
        with self._lock:
            self._calls_under_way.append(cancelled)
        if self.stop.is_set():
            cancelled.set()

    def call_ended(self, cancelled: threading.Event) -> None:
        with self._lock:
            if cancelled in self._calls_under_way:
                self._calls_under_way.remove(cancelled)


@dataclass
class Scope:
    """The variables visible to the states of one machine. A Parallel branch or Map iteration gets a
    copy of its parent's: it reads the outer values, and what it assigns stays inside it."""

    variables: dict[str, Any]

    def child(self) -> Scope:
        return Scope(dict(self.variables))


@dataclass
class Step:
    """Where a state's run has got to: its output, the next state (None at the end), and the
    variables it assigns (applied only once the state's output is computed)."""

    output: Any
    next_state: str | None
    assigned: dict[str, Any] | None = None


@dataclass
class StateRun:
    """One state being run: the state (typed, as loaded) and what its expressions can see."""

    name: str
    state: State
    machine: Machine
    state_input: Any
    scope: Scope
    context: dict[str, Any]
    entered_id: int
    previous_id: int  # the latest history event of this run, for previousEventId
    extra_context: dict[str, Any] = field(default_factory=dict)
    entered_after: int = 0  # the event the state's entry follows (its previousEventId)
    # The event a state writes when it fails for good (no retry left): `MapStateFailed` once a Map
    # state's iteration failed; None for none. Set by the state's body before it raises.
    failed_event: str | None = None

    @property
    def variables(self) -> dict[str, Any]:
        return self.scope.variables


def evaluate_jsonata(
    value: Any,
    *,
    states: dict[str, Any],
    variables: dict[str, Any],
    field: str,
    now: datetime | None = None,
) -> Any:
    """JSONata evaluation; `now` is what `$now()` and `$millis()` see (the execution's clock)."""
    now_millis = None if now is None else int(now.timestamp() * 1000)
    return jsonata.evaluate(value, states=states, variables=variables, field=field, now_millis=now_millis)


def json_type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def expression_text(value: Any) -> str:
    """`{% expr %}` → `expr`, as AWS quotes an expression in its causes."""
    if isinstance(value, str) and value.startswith("{%") and value.endswith("%}"):
        return value[2:-2].strip()
    return json.dumps(value)


class Interpreter:
    """Runs machines for one execution, every state through one lifecycle (`run_state`: entered
    event, input, the state's body, output and assign, size check, exited or failed events). The
    state types live in their own modules (tributary/states/state/), which import this one: a
    state's `body` runs one attempt of it, so that this module imports none of them."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    # --- the loop ---------------------------------------------------------------------------------

    def run_machine(
        self,
        machine: Machine,
        value: Any,
        scope: Scope,
        previous_id: int,
        extra_context: dict[str, Any] | None = None,
    ) -> tuple[Any, int]:
        """Run `machine` on `value`; return its output and the id of its last history event.
        Raises ExecutionFailed / ExecutionStopped."""
        return drive(self.machine_steps(machine, value, scope, previous_id, extra_context))

    def machine_steps(
        self,
        machine: Machine,
        value: Any,
        scope: Scope,
        previous_id: int,
        extra_context: dict[str, Any] | None = None,
    ) -> Generator[None, None, tuple[Any, int]]:
        """`run_machine` one state at a time: pauses (yields) after each state but the last, so that
        Parallel branches and Map iterations can take turns on a virtual clock (see fan_out)."""
        name: str | None = machine.start_at
        while name is not None:
            self.check_running()
            state = machine.states[name]
            step, previous_id = self.run_state(machine, name, state, value, scope, previous_id, extra_context)
            value, name = step.output, step.next_state
            if name is not None:
                yield
        return value, previous_id

    def run_state(
        self,
        machine: Machine,
        name: str,
        state: State,
        value: Any,
        scope: Scope,
        previous_id: int,
        extra_context: dict[str, Any] | None,
    ) -> tuple[Step, int]:
        state_type = state.type
        history = self.runtime.history
        entered_id = history.add(
            f"{state_type}StateEntered",
            previous_id,
            {"name": name, "input": payload_text(value), "inputDetails": {"truncated": False}},
        )
        run = StateRun(
            name,
            state,
            machine,
            value,
            scope,
            self.state_context(name, 0 if state.can_retry else None, extra_context),
            entered_id,
            entered_id,
            dict(extra_context or {}),
            previous_id,
        )
        try:
            step = self.with_retries(run)
        except BranchAborted as aborted:
            # A sibling failed while this state was under way: a state that takes time ends with
            # `<Type>StateAborted`, after its own last event (nothing of its branch follows it).
            if state.type in _ABORTABLE_TYPES and not aborted.quiet:
                history.add(f"{state_type}StateAborted", run.previous_id)
                aborted.last_event_id = run.previous_id
            raise
        except StatesError as err:
            failure = self.with_state_prefix(err, run)
            self.failed_for_good(run, failure)
            try:
                step = self.catch(run, failure)
            except StatesError as in_catcher:  # a catcher's own Output / Assign / ResultPath failed
                in_catcher = self.with_state_prefix(in_catcher, run)
                raise ExecutionFailed(in_catcher.error, in_catcher.cause) from None
        output_text = payload_text(step.output)
        self.check_size(run, output_text)
        if step.assigned:
            scope.variables.update(step.assigned)
        exited: dict[str, Any] = {
            "name": name,
            "output": output_text,
            "outputDetails": {"truncated": False},
        }
        if step.assigned:
            exited["assignedVariables"] = {k: payload_text(v) for k, v in step.assigned.items()}
            exited["assignedVariablesDetails"] = {"truncated": False}
        exit_id = history.add(f"{state_type}StateExited", run.previous_id, exited)
        return step, exit_id

    def failed_for_good(self, run: StateRun, failure: StatesError) -> None:
        """The events of a state that failed with no retry left, before its Catch (or the execution's
        failure). A query evaluation error writes EvaluationFailed (with the failing field as
        `location`); as AWS records it, the event follows the state's entry for a Wait state (its
        duration is evaluated once entered) and otherwise the event the entry followed, when the
        state wrote nothing else. A Map state then writes MapStateFailed, as it does after a failed
        iteration (a Parallel, ParallelStateFailed after a failed branch)."""
        if failure.error == errors.QUERY_EVALUATION_ERROR:
            details = {"error": failure.error, "cause": failure.cause, "state": run.name}
            if failure.location is not None:
                details["location"] = failure.location
            if run.previous_id == run.entered_id and run.state.type != "Wait":
                run.previous_id = run.entered_after
            self.event(run, "EvaluationFailed", details)
            if run.state.type == "Map":
                run.failed_event = "MapStateFailed"
        if run.failed_event is not None:
            self.event(run, run.failed_event)

    def with_retries(self, run: StateRun) -> Step:
        """The state's body, run again as its retriers say while it fails with an error they name."""
        body = run.state.body
        retriers = run.state.retriers
        retries_done = [0] * len(retriers)
        total = 0
        while True:
            try:
                return body(self, run)
            except StatesError as err:
                index = first_match(retriers, err.error) if retriers else None
                if index is None or retries_done[index] >= retriers[index].max_attempts:
                    raise
                delay = retry_delay(retriers[index], retries_done[index], self.runtime.rng)
                retries_done[index] += 1
                total += 1
                run.failed_event = None
                self.sleep(delay)
                run.context = self.state_context(run.name, total, run.extra_context)

    def catch(self, run: StateRun, failure: StatesError) -> Step:
        """The step a matching catcher takes, or ExecutionFailed when none matches."""
        catchers = run.state.catchers
        index = first_match(catchers, failure.error) if catchers else None
        if index is None:
            if isinstance(failure, NullableFailure):
                raise ExecutionFailed(failure.original_error, failure.original_cause) from None
            raise ExecutionFailed(failure.error, failure.cause) from None
        catcher = catchers[index]
        error_output = {"Error": failure.error, "Cause": failure.cause}
        return self.conclude(
            run,
            catcher,
            catcher.next,
            error_output,
            result_path=True,
            output_path=False,
            errorOutput=error_output,
        )

    def check_running(self) -> None:
        """Raise if the execution was stopped or its TimeoutSeconds have passed."""
        if self.runtime.stop.is_set():
            raise ExecutionStopped()
        deadline = self.runtime.deadline
        if deadline is not None and self.runtime.clock.now() >= deadline:
            raise ExecutionTimedOut()

    def sleep(self, seconds: float) -> None:
        """Let time pass (a Wait state, a retry's back-off), unless a stop or the deadline ends it."""
        runtime = self.runtime
        if runtime.deadline is not None:
            remaining = (runtime.deadline - runtime.clock.now()).total_seconds()
            if remaining < seconds:
                if not runtime.clock.wait(runtime.stop, max(0.0, remaining)):
                    raise ExecutionTimedOut()
                raise ExecutionStopped()
        if seconds > 0 and runtime.clock.wait(runtime.stop, seconds):
            raise ExecutionStopped()

    # --- helpers for state types ------------------------------------------------------------------

    def state_context(
        self, name: str, retry_count: int | None, extra: dict[str, Any] | None
    ) -> dict[str, Any]:
        """The context object of a state; `retry_count` None leaves `State.RetryCount` out, as AWS
        does for the states that cannot retry (Pass, Choice, Wait, Succeed, Fail)."""
        context = dict(self.runtime.context)
        state: dict[str, Any] = {"EnteredTime": iso_time(self.runtime.clock.now()), "Name": name}
        if retry_count is not None:
            state["RetryCount"] = retry_count
        context["State"] = state
        if extra:
            context.update(extra)
        return context

    def with_state_prefix(self, err: StatesError, run: StateRun) -> StatesError:
        if err.error in _PREFIXED_ERRORS and not err.cause.startswith(_PREFIX_START):
            return StatesError(
                err.error,
                f"{_PREFIX_START} '{run.name}' (entered at the event id #{run.entered_id}). {err.cause}",
                location=err.location,
            )
        return err

    def over_payload_limit(self, text: str) -> bool:
        """Whether a payload's JSON text is over the limit (256 KiB of UTF-8)."""
        limit = self.runtime.payload_limit
        # A character is at most 4 bytes: most payloads are decided without encoding them.
        return len(text) * 4 > limit and len(text.encode()) > limit

    def check_size(self, run: StateRun, output_text: str) -> None:
        """States.DataLimitExceeded for an output over the limit (UTF-8 bytes), which no Catch handles."""
        if self.over_payload_limit(output_text):
            raise ExecutionFailed(
                errors.DATA_LIMIT_EXCEEDED,
                f"The state/task '{run.name}' returned a result with a size exceeding "
                "the maximum number of bytes service limit.",
            )

    def now_millis(self) -> int:
        """What JSONata's `$now()` and `$millis()` see: the execution's clock, in epoch milliseconds."""
        return int(self.runtime.clock.now().timestamp() * 1000)

    def jsonata_states(self, run: StateRun, **more: Any) -> dict[str, Any]:
        return {"input": run.state_input, "context": run.context, **more}

    def jsonata_field(self, run: StateRun, value: Any, states: dict[str, Any], field: str) -> Any:
        return evaluate_jsonata(
            value, states=states, variables=run.variables, field=field, now=self.runtime.clock.now()
        )

    def input_of(self, run: StateRun) -> Any:
        """JSONPath: the effective input after InputPath."""
        return payload.input_path(
            run.state.input_path, run.state_input, context=run.context, variables=run.variables
        )

    def output_of(self, run: StateRun, value: Any) -> Any:
        """JSONPath: the output after OutputPath."""
        return payload.output_path(run.state.output_path, value, context=run.context, variables=run.variables)

    def select(self, run: StateRun, value: Any, path: str) -> Any:
        try:
            return jsonpath.select(value, path, context=run.context, variables=run.variables)
        except jsonpath.PathError as exc:
            raise StatesError(errors.RUNTIME, str(exc)) from None

    # --- the lifecycle every state shares: input, (the state's body), output and assign -------------
    # The steps that differ between the query languages are the state's `io` (state_io.py), chosen
    # when it was loaded: nothing here asks which language a state is written in.

    def effective_input(self, run: StateRun) -> Any:
        """The input the state's body works on: after InputPath (JSONPath); the state input (JSONata)."""
        return run.state.io.effective_input(self, run)

    def arguments(self, run: StateRun) -> Any:
        """The request of a Task, Parallel or Pass state: Arguments (JSONata), InputPath then
        Parameters (JSONPath); the effective input when the state has none."""
        return run.state.io.arguments(self, run)

    def conclude(
        self,
        run: StateRun,
        holder: Transition,
        next_state: str | None,
        value: Any,
        *,
        result_path: bool = False,
        output_path: bool = True,
        assign: bool = True,
        output_holder: Transition | None = None,
        **states: Any,
    ) -> Step:
        """The end of a state's run (or of a catcher's): its output and the variables it assigns,
        from `holder` (the state, a Choice rule, a catcher). JSONata: `Output` (of `output_holder`,
        by default `holder`) over `$states` (input, context, and `states`), `value` when absent,
        then `Assign`. JSONPath: `Assign` over `value`, then `ResultPath` into the state input
        (`result_path`), then the state's `OutputPath` (`output_path`)."""
        chosen = holder if output_holder is None else output_holder
        ending = Ending(holder, result_path, output_path, assign, chosen, states)
        output, assigned = run.state.io.conclude(self, run, value, ending)
        return Step(output, next_state, assigned)

    def finish(self, run: StateRun, result: Any, next_state: str | None) -> Step:
        """The common tail of Task, Parallel and Map: ResultSelector, ResultPath, OutputPath and
        Assign (JSONPath), or Output and Assign (JSONata), from the state's result."""
        selected = run.state.io.select_result(self, run, result)
        return self.conclude(run, run.state, next_state, selected, result_path=True, result=selected)

    def event(self, run: StateRun, event_type: str, details: dict[str, Any] | None = None) -> int:
        run.previous_id = self.runtime.history.add(event_type, run.previous_id, details)
        return run.previous_id
