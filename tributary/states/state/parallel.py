"""The Parallel state: every branch on the same input, the outputs in branch order; the first
branch to fail fails the state with that branch's error."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from tributary.states.definition import Machine
from tributary.states.engine import ExecutionFailed
from tributary.states.errors import NullableFailure
from tributary.states.fan_out import Job, run_all

if TYPE_CHECKING:
    from tributary.states.engine import Interpreter, StateRun, Step


def run_parallel(engine: Interpreter, run: StateRun) -> Step:
    state = run.state
    value = engine.arguments(run)
    started_id = engine.event(run, "ParallelStateStarted")
    branches = run.machine.nested(run.name, state)

    def branch_job(machine: Machine) -> Job[tuple[Any, int]]:
        def job(branch_engine: Interpreter) -> Generator[None, None, tuple[Any, int]]:
            return (yield from branch_engine.machine_steps(machine, value, run.scope.child(), started_id))

        return job

    try:
        outcomes = run_all(engine, [branch_job(m) for m in branches], max_concurrency=0)
    except ExecutionFailed as failed:
        # GetExecutionHistory's HistoryEvent has no member for ParallelStateFailed details: the
        # error and cause are in the events that follow (TaskStateExited of a Catch, ExecutionFailed).
        engine.event(run, "ParallelStateFailed")
        raise NullableFailure(failed.error, failed.cause) from None
    run.previous_id = max([started_id, *(last for _, last in outcomes)])
    engine.event(run, "ParallelStateSucceeded")
    return engine.finish(run, [output for output, _ in outcomes], state.get("Next"))
