"""Running the branches of a Parallel state or the iterations of a Map state.

A job is a generator that pauses after each state of its branch or iteration (see
`Interpreter.machine_steps`) and returns its result. On a virtual clock the jobs take turns: in each
turn every job under way runs one state, in branch (or item) order, so that a run is deterministic
(its history included) and, as on AWS, every branch (every iteration up to MaxConcurrency) starts
before a failure stops the rest. A failure is acted on at the end of its turn: the jobs that ran in
that turn have run their state, and the others are closed at their pause and never run another state.
On the real clock the jobs run in threads, at most `max_concurrency` at once (0: no limit), so that
Wait states and slow tasks overlap as they do on AWS. Either way the first failure is raised (the
first in branch order among those of the earliest turn on a virtual clock), after the others are told
to stop."""

from __future__ import annotations

from collections.abc import Callable, Generator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import TypeVar

from tributary.states.clock import RealClock
from tributary.states.engine import Interpreter, drive

T = TypeVar("T")

Job = Callable[[Interpreter], Generator[None, None, T]]

_MAX_THREADS = 40  # AWS runs up to 40 inline Map iterations at once


def run_all(engine: Interpreter, jobs: list[Job[T]], max_concurrency: int) -> list[T]:
    """The results of `jobs`, in order; the first exception is raised.

    On the real clock each job runs with an interpreter of its own whose stop event is set when
    the execution is stopped or once a sibling has failed: its Wait states and task calls end then,
    and it stops at its next state."""
    if not isinstance(engine.runtime.clock, RealClock):
        return take_turns(engine, jobs, max_concurrency)
    if len(jobs) <= 1:
        return [drive(job(engine)) for job in jobs]
    abandoned = engine.runtime.linked_stop()
    sibling = Interpreter(replace(engine.runtime, stop=abandoned))
    workers = min(len(jobs), max_concurrency or _MAX_THREADS, _MAX_THREADS)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sfn-fan-out")
    try:
        futures = [pool.submit(_run_to_end, job, sibling) for job in jobs]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for future in futures:
            error = future.exception() if future in done else None
            if error is not None:
                abandoned.set()
                raise error
        return [future.result() for future in futures]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        engine.runtime.unlink_stop(abandoned)


def _run_to_end(job: Job[T], engine: Interpreter) -> T:
    return drive(job(engine))


def take_turns(engine: Interpreter, jobs: list[Job[T]], max_concurrency: int) -> list[T]:
    """The jobs one state at a time, round-robin in order, at most `max_concurrency` under way (0: no
    limit); a job that ends frees its place for the next job, which starts in the following turn."""
    limit = max_concurrency or len(jobs)
    results: dict[int, T] = {}
    under_way: dict[int, Generator[None, None, T]] = {}
    waiting = list(range(len(jobs)))
    try:
        while waiting or under_way:
            while waiting and len(under_way) < limit:
                index = waiting.pop(0)
                under_way[index] = jobs[index](engine)
            failure: BaseException | None = None
            for index, steps in list(under_way.items()):
                try:
                    next(steps)
                except StopIteration as done:
                    results[index] = done.value
                    del under_way[index]
                except Exception as error:  # the job's failure, raised at the end of the turn
                    del under_way[index]
                    failure = failure or error
            if failure is not None:
                raise failure
        return [results[index] for index in range(len(jobs))]
    finally:
        for steps in under_way.values():
            steps.close()
