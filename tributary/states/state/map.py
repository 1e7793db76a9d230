"""The Map state, inline and distributed: the items (ItemsPath / Items / ItemReader), each item's input
(ItemSelector or the legacy Parameters), ItemBatcher, the iterations through the ItemProcessor (or
the legacy Iterator), MaxConcurrency, tolerated failures and ResultWriter."""

from __future__ import annotations

import json
import threading
import uuid
from collections import deque
from collections.abc import Generator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tributary.states import errors
from tributary.states.definition import DefinitionError, Field, NestedLoader, State
from tributary.states.engine import (
    BranchAborted,
    ExecutionFailed,
    ExecutionTimedOut,
    Interpreter,
    iso_time,
    json_type_name,
)
from tributary.states.errors import NullableFailure, StatesError
from tributary.states.fan_out import Job, run_all, stopping_quietly
from tributary.states.history import History, payload_text
from tributary.states.state.map_io import (
    IoBlock,
    formatted_results,
    read_items,
    template_source,
    write_results,
)
from tributary.states.value_source import NO_VALUE, ExpressionValue, LiteralValue, PathValue, ValueSource

if TYPE_CHECKING:
    from tributary.states.engine import StateRun, Step


# An Express execution runs for five minutes at most; a child execution of a distributed Map with
# `ExecutionType: EXPRESS` that runs longer fails with States.Timeout.
EXPRESS_MAX_SECONDS = 300


@dataclass
class IterationOutcome:
    index: int
    output: Any = None
    failure: ExecutionFailed | None = None
    last_event_id: int = 0
    # A distributed Map's child execution: its ARN, name and when it started and stopped.
    child: ChildExecution | None = None


@dataclass
class ChildExecution:
    """A child workflow execution of a distributed Map (for ResultWriter's metadata)."""

    arn: str
    name: str
    state_machine_arn: str
    start: datetime
    stop: datetime | None = None


COUNT_KEYS = ("pending", "running", "succeeded", "failed", "timedOut", "aborted", "total", "resultsWritten")


class MapRunProgress:
    """A distributed Map run as DescribeMapRun describes it: its status and dates, its settings, and
    how many child executions (and items: a batch is one child of several items) are pending,
    running, succeeded, failed, timed out or aborted, and how many results ResultWriter wrote.
    Children on threads of their own update it; `describe()` is a snapshot."""

    def __init__(
        self, arn: str, execution_arn: str, start: datetime, items_per_child: list[int], max_concurrency: int,
        tolerated: tuple[int | None, float | None],
    ) -> None:  # fmt: skip
        self.arn, self.execution_arn, self.start = arn, execution_arn, start
        self.stop: datetime | None = None
        self.status = "RUNNING"
        self.max_concurrency = max_concurrency
        self.tolerated = tolerated
        self.items_per_child = items_per_child
        self.executions = dict.fromkeys(COUNT_KEYS, 0)
        self.items = dict.fromkeys(COUNT_KEYS, 0)
        for counts, amount in ((self.executions, len(items_per_child)), (self.items, sum(items_per_child))):
            counts["pending"] = counts["total"] = amount
        self._lock = threading.Lock()

    def _move(self, index: int, source: str, target: str) -> None:
        with self._lock:
            for counts, amount in ((self.executions, 1), (self.items, self.items_per_child[index])):
                counts[source] -= amount
                counts[target] += amount

    def child_started(self, index: int) -> None:
        self._move(index, "pending", "running")

    def child_ended(self, index: int, status: str) -> None:
        """`status`: succeeded, failed, timedOut or aborted."""
        self._move(index, "running", status)

    def results_written(self, index: int) -> None:
        with self._lock:
            self.executions["resultsWritten"] += 1
            self.items["resultsWritten"] += self.items_per_child[index]

    def finish(self, status: str, now: datetime) -> None:
        with self._lock:
            if self.status == "RUNNING":
                self.status, self.stop = status, now

    def describe(self) -> dict[str, Any]:
        count, percentage = self.tolerated
        with self._lock:
            return {
                "mapRunArn": self.arn,
                "executionArn": self.execution_arn,
                "status": self.status,
                "startDate": self.start,
                "stopDate": self.stop,
                "maxConcurrency": self.max_concurrency,
                "toleratedFailurePercentage": percentage or 0.0,
                "toleratedFailureCount": count or 0,
                "itemCounts": {**self.items, "failuresNotRedrivable": 0, "pendingRedrive": 0},
                "executionCounts": {**self.executions, "failuresNotRedrivable": 0, "pendingRedrive": 0},
                "redriveCount": 0,
            }


@dataclass(frozen=True)
class ItemBatcher:
    """A Map's ItemBatcher: at most so many items, or so many bytes, a batch; BatchInput beside them."""

    max_items: Field
    max_bytes: Field
    batch_input: ValueSource

    @classmethod
    def read(cls, raw: Any, place: str, jsonata: bool) -> ItemBatcher:
        if not isinstance(raw, dict):
            raise DefinitionError("ItemBatcher must be an object", place)

        def number(name: str) -> Field:
            return Field.read(raw, name, place, jsonata=jsonata, label=f"ItemBatcher/{name}")

        batch_input = template_source(raw, "BatchInput", place, jsonata)
        return cls(number("MaxItemsPerBatch"), number("MaxInputBytesPerBatch"), batch_input)


class MapState(State):
    type = "Map"
    can_retry = True

    def __init__(self, name: str, raw: Mapping[str, Any], machine_language: str, load: NestedLoader) -> None:
        super().__init__(name, raw, machine_language, load)
        place = self.place
        # ItemProcessor, or the legacy Iterator; it inherits the machine's query language.
        key = "ItemProcessor" if raw.get("ItemProcessor") else "Iterator"
        processor = raw.get(key)
        if not isinstance(processor, dict):
            raise DefinitionError("ItemProcessor must be an object", place)
        config = processor.get("ProcessorConfig") or {}
        self.distributed = isinstance(config, dict) and config.get("Mode") == "DISTRIBUTED"
        self.execution_type = config.get("ExecutionType", "STANDARD") if self.distributed else None
        self.express_children = self.execution_type == "EXPRESS"
        self.label = raw.get("Label")
        self.processor = load(processor, key)
        # The items: `ItemsPath` (JSONPath) or `Items` (JSONata); the effective input when absent.
        self.items = _items_field(raw, place, self.jsonata)
        # The error when the items are not an array (a JSONata expression's has its own cause).
        self.not_an_array = errors.QUERY_EVALUATION_ERROR if self.jsonata else errors.RUNTIME
        # ItemSelector, or the legacy Parameters: each item's input.
        self.selector_key = (
            "ItemSelector" if "ItemSelector" in raw else "Parameters" if "Parameters" in raw else None
        )
        self.item_selector = (
            template_source(raw, self.selector_key, place, self.jsonata) if self.selector_key else NO_VALUE
        )
        batcher = raw.get("ItemBatcher")
        self.item_batcher = (
            ItemBatcher.read(batcher, f"{place}.ItemBatcher", self.jsonata) if batcher else None
        )
        self.item_reader = IoBlock.read(raw, "ItemReader", place, self.jsonata)
        self.result_writer = IoBlock.read(raw, "ResultWriter", place, self.jsonata)
        # Each a literal, its `…Path` (JSONPath) or an expression (JSONata), decided here.
        self.max_concurrency = Field.read(raw, "MaxConcurrency", place, jsonata=self.jsonata)
        self.tolerated_failure_count = Field.read(raw, "ToleratedFailureCount", place, jsonata=self.jsonata)
        self.tolerated_failure_percentage = Field.read(
            raw, "ToleratedFailurePercentage", place, jsonata=self.jsonata
        )

    def may_wait(self) -> bool:
        return super().may_wait() or self.processor.may_wait

    def body(self, engine: Interpreter, run: StateRun) -> Step:
        return run_map(engine, run, self)


def _items_field(raw: Mapping[str, Any], place: str, jsonata: bool) -> Field:
    """The Map's items, typed at load like its other fields: in JSONPath a path (`ItemsPath`, a
    string); in JSONata `Items`, an expression or a JSON array (whose values may hold some). The
    other language's field is refused by `State` (foreign fields)."""
    items = Field.read(raw, "Items", place, jsonata=jsonata)
    source = items.source
    if isinstance(source, LiteralValue) and not isinstance(source.value, list):
        shown = json.dumps(source.value)
        raise DefinitionError(
            f"Items must be a JSON array or a JSONata expression {{% ... %}}, not {shown}", place
        )
    return items


def run_map(engine: Interpreter, run: StateRun, state: MapState) -> Step:
    distributed = state.distributed
    effective = engine.effective_input(run)
    items = _items(engine, run, state, effective)
    max_concurrency = _max_concurrency(engine, run, state, effective)
    inputs = [_item_input(engine, run, state, effective, index, item) for index, item in enumerate(items)]
    inputs = _batched(engine, run, state, effective, inputs)
    processor = state.processor

    engine.event(run, "MapStateStarted", {"length": len(inputs)})
    # AWS reads the tolerated failures once the Map has started: an invalid value fails the state
    # after MapStateStarted (and before a Map Run starts).
    tolerated_count, tolerated_percentage = _tolerated(engine, run, state, effective)
    map_run_arn = None
    if distributed:
        engine.runtime.map_run_counter += 1
        map_run_arn = (
            engine.runtime.execution_arn.replace(":execution:", ":mapRun:", 1)
            + f"/{run.name}:{engine.runtime.map_run_counter}"
        )
        engine.event(run, "MapRunStarted", {"mapRunArn": map_run_arn})
        per_child = [len(i["Items"]) if state.item_batcher is not None else 1 for i in inputs]
        progress = MapRunProgress(
            map_run_arn, engine.runtime.execution_arn, engine.runtime.clock.now(), per_child,
            max_concurrency, (tolerated_count, tolerated_percentage),
        )  # fmt: skip
        engine.runtime.map_runs[map_run_arn] = progress
    started_id = run.previous_id

    # A distributed Map's iterations are child executions: their events are not the parent's.
    child_engine = (
        Interpreter(replace(engine.runtime, history=History(engine.runtime.clock.now)))
        if distributed
        else engine
    )
    if map_run_arn:
        engine.runtime.map_run_histories[map_run_arn] = child_engine.runtime.history

    # The last state event of each failed inline iteration (MapStateFailed points to the first).
    failed_iteration_ids: list[int] = []
    # The last state event of each ended iteration whose place no later iteration has taken yet: an
    # iteration that starts in the place of one that ended points to it, as AWS records
    # (MapIterationStarted of item k+1 after item k's last state with MaxConcurrency 1).
    freed_places: deque[int] = deque()

    def iteration(index: int, value: Any) -> Job[IterationOutcome]:
        def job(iteration_engine: Interpreter) -> Generator[None, None, IterationOutcome]:
            history = iteration_engine.runtime.history
            details = {"name": run.name, "index": index}
            begun = 0
            child: ChildExecution | None = None
            if not distributed:
                after = freed_places.popleft() if freed_places else started_id
                begun = history.add("MapIterationStarted", after, details)
            else:
                assert map_run_arn is not None
                child = _child_execution(engine, state, run.name, map_run_arn, index)
                progress.child_started(index)
                if state.express_children:  # five minutes at most, within the parent's own time
                    iteration_engine = _express_child(iteration_engine)
                iteration_engine = _child_interpreter(iteration_engine, child, value)
            try:
                output, last = yield from iteration_engine.machine_steps(
                    processor, value, run.scope.child(), begun
                )
            except ExecutionFailed as failed:
                if not distributed:
                    last_state_event = history.last_id
                    failed_iteration_ids.append(last_state_event)
                    history.add("MapIterationFailed", last_state_event, details)
                    raise
                progress.child_ended(index, "failed")
                return _child_ended(iteration_engine, index, child, started_id, failure=failed)
            except ExecutionTimedOut:
                if child is None or not _child_timed_out(iteration_engine, engine):
                    raise
                timeout = ExecutionFailed(errors.TIMEOUT, None)
                progress.child_ended(index, "timedOut")
                return _child_ended(iteration_engine, index, child, started_id, failure=timeout)
            except (GeneratorExit, BranchAborted) as stopped:
                # Stopped (between two of its states, or inside one, which wrote its own
                # `<Type>StateAborted`) because another iteration failed or the Map itself is being
                # aborted: an iteration under way then ends with MapIterationAborted, after the
                # failed iteration's last event (or, for an abort from outside, its own).
                quiet = stopped.quiet if isinstance(stopped, BranchAborted) else stopping_quietly()
                if distributed:
                    progress.child_ended(index, "aborted")
                if not distributed and not quiet:
                    own = stopped.last_event_id if isinstance(stopped, BranchAborted) else None
                    after = failed_iteration_ids[0] if failed_iteration_ids else own or history.last_id
                    history.add("MapIterationAborted", after, details)
                raise
            if distributed:
                progress.child_ended(index, "succeeded")
                return _child_ended(iteration_engine, index, child, started_id, output=output)
            freed_places.append(last)
            last = history.add("MapIterationSucceeded", last, details)
            return IterationOutcome(index, output=output, last_event_id=last)

        return job

    try:
        jobs = [iteration(i, v) for i, v in enumerate(inputs)]
        outcomes = run_all(child_engine, jobs, max_concurrency, may_wait=processor.may_wait)
    except ExecutionFailed as failed:
        # After the first failed iteration (siblings that took their turn may have added events since).
        # MapStateFailed is written once the state fails for good (a Retry starts it again instead).
        run.previous_id = failed_iteration_ids[0] if failed_iteration_ids else engine.runtime.history.last_id
        run.failed_event = "MapStateFailed"
        raise NullableFailure(failed.error, failed.cause) from None
    except BaseException:
        if map_run_arn:  # the execution stopped or timed out: its Map Run with it
            progress.finish("ABORTED", engine.runtime.clock.now())
        raise
    run.previous_id = max([started_id, *(o.last_event_id for o in outcomes)])
    failures = [o for o in outcomes if o.failure is not None]
    if failures and not _tolerated_enough(
        len(failures), len(outcomes), tolerated_count, tolerated_percentage
    ):
        if map_run_arn:
            engine.event(run, "MapRunFailed", {"error": errors.EXCEED_TOLERATED_FAILURE_THRESHOLD})
            progress.finish("FAILED", engine.runtime.clock.now())
        run.failed_event = "MapStateFailed"
        raise StatesError(
            errors.EXCEED_TOLERATED_FAILURE_THRESHOLD,
            "The specified tolerated failure threshold was exceeded",
        )
    # MapStateExited points where the success events start from: the last MapIterationSucceeded
    # (inline), MapRunStarted (distributed, as AWS records it since late 2024).
    success_base = run.previous_id
    if map_run_arn:
        engine.event(run, "MapRunSucceeded")
        progress.finish("SUCCEEDED", engine.runtime.clock.now())
    engine.event(run, "MapStateSucceeded")
    run.previous_id = success_base
    if state.result_writer is not None and map_run_arn:
        result: Any = write_results(engine, run, map_run_arn, inputs, outcomes, state.result_writer)
        if result is not None:
            for outcome in outcomes:
                progress.results_written(outcome.index)
        if result is None:  # WriterConfig alone: the formatted results are the Map's result
            result = formatted_results(inputs, outcomes, state.result_writer)
    else:
        result = [
            o.output if o.failure is None else {"Error": o.failure.error, "Cause": o.failure.cause}
            for o in outcomes
        ]
    return engine.finish(run, result, state.next)


def _child_execution(
    engine: Interpreter, state: MapState, name: str, map_run_arn: str, index: int
) -> ChildExecution:
    """A child execution's identity, as AWS names them: `<machine>/<label>:<uuid>` under the
    `execution` (STANDARD children) or `express` (EXPRESS children) resource type, the state's
    name standing for the Label when it has none (AWS uses a UUID then)."""
    machine_arn = engine.runtime.state_machine_arn.partition("#")[0]
    prefix, _, machine_name = machine_arn.rpartition(":stateMachine:")
    child_name = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{map_run_arn}/{index}"))
    kind = "express" if state.express_children else "execution"
    label = state.label or name
    arn = f"{prefix}:{kind}:{machine_name}/{label}:{child_name}"
    # The child workflow's state machine ARN is the parent's with `/<label>` (the guide's format).
    return ChildExecution(arn, child_name, f"{machine_arn}/{label}", engine.runtime.clock.now())


def _child_interpreter(engine: Interpreter, child: ChildExecution, child_input: Any) -> Interpreter:
    """The interpreter of a distributed Map's child execution: the parent's runtime, the child's
    own `$$.Execution` (Id: its ARN, Name, StartTime, Input: the item, or batch, it was started
    with; RoleArn: the parent's, which child workflow executions run with). An inline Map's
    iterations keep the parent's."""
    context = engine.runtime.context
    execution = {
        **context.get("Execution", {}),
        "Id": child.arn,
        "Name": child.name,
        "StartTime": iso_time(child.start),
        "Input": child_input,
    }
    return Interpreter(replace(engine.runtime, context={**context, "Execution": execution}))


def _express_child(engine: Interpreter) -> Interpreter:
    """The interpreter of an Express child execution: the parent's, with a deadline five minutes on."""
    runtime = engine.runtime
    deadline = runtime.clock.now() + timedelta(seconds=EXPRESS_MAX_SECONDS)
    if runtime.deadline is not None:
        deadline = min(deadline, runtime.deadline)
    return Interpreter(replace(runtime, deadline=deadline))


def _child_timed_out(child: Interpreter, parent: Interpreter) -> bool:
    """Whether a child's own time ran out (not its parent's, which times the parent out)."""
    now = child.runtime.clock.now()
    parent_deadline = parent.runtime.deadline
    return parent_deadline is None or now < parent_deadline


def _child_ended(
    child_engine: Interpreter,
    index: int,
    child: ChildExecution | None,
    last_event_id: int,
    *,
    output: Any = None,
    failure: ExecutionFailed | None = None,
) -> IterationOutcome:
    if child is not None:
        child.stop = child_engine.runtime.clock.now()
    return IterationOutcome(index, output=output, failure=failure, last_event_id=last_event_id, child=child)


def _items(engine: Interpreter, run: StateRun, state: MapState, effective: Any) -> list[Any]:
    if state.item_reader is not None:
        return read_items(engine, run, state.item_reader, effective)
    source = state.items.source
    # Without Items / ItemsPath: the effective input (the state input in JSONata).
    items = source.evaluate(engine, run, effective) if source.given else effective
    if isinstance(source, ExpressionValue) and not isinstance(items, list):
        raise StatesError(
            errors.QUERY_EVALUATION_ERROR,
            f"The JSONata expression '{source.text}' specified for the field "
            f"'Items' returned an unexpected result type. Expected 'array', but was "
            f"'{json_type_name(items)}' for value: {payload_text(items)}",
            location="Items",
        )
    if not isinstance(items, list):
        raise StatesError(
            state.not_an_array, f"Map state input must be an array but was: {payload_text(items)}"
        )
    return items


def _item_input(
    engine: Interpreter, run: StateRun, state: MapState, effective: Any, index: int, item: Any
) -> Any:
    selector = state.item_selector
    if not selector.given:
        return item
    saved = run.context
    run.context = {**saved, "Map": {"Item": {"Index": index, "Value": item}}}
    try:
        return selector.evaluate(engine, run, effective)
    finally:
        run.context = saved


def _number_field(
    engine: Interpreter, run: StateRun, effective: Any, spec: Field, kind: str
) -> float | int | None:
    """A numeric Map field given literally, by `<name>Path` (JSONPath) or as an expression
    (JSONata), as loaded; text holding a number is accepted, as AWS does."""
    source = spec.source
    if not source.given:
        return None
    value = source.evaluate(engine, run, effective)
    parsed = _parse_number(value, kind)
    if parsed is None:
        path = source.path if isinstance(source, PathValue) else None
        raise StatesError(
            errors.RUNTIME,
            f'The {source.field} field refers to value "{_as_text(value)}" '
            f"which is not a valid {kind}: {path}",
        )
    return parsed


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else payload_text(value)


def _parse_number(value: Any, kind: str) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = int(value) if kind == "integer" else float(value)
        except ValueError:
            return None
    if kind == "integer":
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value if isinstance(value, int) else None
    return float(value) if isinstance(value, int | float) else None


def _max_concurrency(engine: Interpreter, run: StateRun, state: MapState, effective: Any) -> int:
    value = _number_field(engine, run, effective, state.max_concurrency, "integer")
    return int(value or 0)


def _tolerated(
    engine: Interpreter, run: StateRun, state: MapState, effective: Any
) -> tuple[int | None, float | None]:
    count = _number_field(engine, run, effective, state.tolerated_failure_count, "integer")
    if count is not None and count < 0:
        raise StatesError(errors.RUNTIME, "ToleratedFailureCount cannot be negative.")
    percentage = _number_field(engine, run, effective, state.tolerated_failure_percentage, "float")
    if percentage is not None and not 0 <= percentage <= 100:
        raise StatesError(errors.RUNTIME, "ToleratedFailurePercentage must be between 0 and 100.")
    return (None if count is None else int(count)), percentage


def _tolerated_enough(failed: int, total: int, count: int | None, percentage: float | None) -> bool:
    """Whether `failed` of `total` iterations stay within the tolerated failures: none by default;
    given both, exceeding either threshold fails the Map Run."""
    if count is None and percentage is None:
        return False
    if count is not None and failed > count:
        return False
    return not (percentage is not None and total > 0 and failed * 100.0 / total > percentage)


def _batched(
    engine: Interpreter, run: StateRun, state: MapState, effective: Any, inputs: list[Any]
) -> list[Any]:
    batcher = state.item_batcher
    if batcher is None:
        return inputs
    size_field = _batcher_number(engine, run, effective, batcher.max_items)
    bytes_field = _batcher_number(engine, run, effective, batcher.max_bytes)
    batch_input = batcher.batch_input.evaluate(engine, run, effective)
    batches: list[dict[str, Any]] = []
    current: list[Any] = []
    for item in inputs:
        too_many = size_field is not None and len(current) >= size_field
        too_big = (
            bytes_field is not None
            and current
            and (len(payload_text({"Items": [*current, item], **(batch_input or {})}).encode()) > bytes_field)
        )
        if current and (too_many or too_big):
            batches.append({**(batch_input or {}), "Items": current})
            current = []
        current.append(item)
    if current:
        batches.append({**(batch_input or {}), "Items": current})
    return batches


def _batcher_number(engine: Interpreter, run: StateRun, effective: Any, spec: Field) -> int | None:
    name = spec.name
    source = spec.source
    if not source.given:
        return None
    value = source.evaluate(engine, run, effective)
    parsed = _parse_number(value, "integer")
    if parsed is None or parsed <= 0:
        raise StatesError(
            errors.RUNTIME, f"The ItemBatcher field {name} must be a positive integer: {value!r}"
        )
    return int(parsed)
