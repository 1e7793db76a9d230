"""The Parallel state: every branch on the same input, the outputs in branch order; the first
branch to fail fails the state with that branch's error."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import TYPE_CHECKING, Any

from tributary.states.definition import DefinitionError, Machine, NestedLoader, State
from tributary.states.engine import ExecutionFailed
from tributary.states.errors import NullableFailure
from tributary.states.fan_out import Job, run_all

if TYPE_CHECKING:
    from tributary.states.engine import Interpreter, StateRun, Step


class ParallelState(State):
    type = "Parallel"
    can_retry = True

    def __init__(self, name: str, raw: Mapping[str, Any], machine_language: str, load: NestedLoader) -> None:
        super().__init__(name, raw, machine_language, load)
        branches = raw.get("Branches")
        if not isinstance(branches, list) or not branches:
            raise DefinitionError("Branches must be a non-empty list", self.place)
        # Branches inherit the query language of the machine holding this state.
        self.branches = tuple(load(branch, f"Branches[{i}]") for i, branch in enumerate(branches))

    def may_wait(self) -> bool:
        return super().may_wait() or any(branch.may_wait for branch in self.branches)

    def body(self, engine: Interpreter, run: StateRun) -> Step:
        value = engine.arguments(run)
        started_id = engine.event(run, "ParallelStateStarted")
        # The last event of the branch that failed: ParallelStateFailed follows it.
        failed_at: list[int] = []

        def branch_job(machine: Machine) -> Job[tuple[Any, int]]:
            def job(branch_engine: Interpreter) -> Generator[None, None, tuple[Any, int]]:
                scope = run.scope.child()
                try:
                    return (yield from branch_engine.machine_steps(machine, value, scope, started_id))
                except ExecutionFailed:
                    failed_at.append(branch_engine.runtime.history.last_id)
                    raise

            return job

        jobs = [branch_job(m) for m in self.branches]
        try:
            outcomes = run_all(engine, jobs, max_concurrency=0, may_wait=self.may_wait())
        except ExecutionFailed as failed:
            # ParallelStateFailed follows the failed branch's last event (the siblings' aborted
            # states, if any, come between), once the state fails for good: a Retry starts the
            # Parallel again after that event instead, as AWS records a failed Map. The HistoryEvent
            # has no member for ParallelStateFailed details: the error and cause are in the events
            # that follow (a Catch's, ExecutionFailed).
            if failed_at:
                run.previous_id = failed_at[0]
            run.failed_event = "ParallelStateFailed"
            raise NullableFailure(failed.error, failed.cause) from None
        run.previous_id = max([started_id, *(last for _, last in outcomes)])
        engine.event(run, "ParallelStateSucceeded")
        return engine.finish(run, [output for output, _ in outcomes], self.next)
