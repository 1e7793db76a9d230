"""Running the branches of a Parallel state or the iterations of a Map state.

On a virtual clock they run one after the other, so that a run is deterministic (its history
included). On the real clock they run in threads, at most `max_concurrency` at once (0: no limit),
so that Wait states and slow tasks overlap as they do on AWS. Either way the first failure is
raised, after the others are told to stop."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import TypeVar

from tributary.states.clock import RealClock
from tributary.states.engine import Interpreter

T = TypeVar("T")

_MAX_THREADS = 40  # AWS runs up to 40 inline Map iterations at once


def run_all(engine: Interpreter, jobs: list[Callable[[Interpreter], T]], max_concurrency: int) -> list[T]:
    """The results of `jobs`, in order; the first exception is raised.

    On the real clock each job runs with an interpreter of its own whose stop event is set when
    the execution is stopped or once a sibling has failed: its Wait states and task calls end then,
    and it stops at its next state."""
    if not isinstance(engine.runtime.clock, RealClock) or len(jobs) <= 1:
        return [job(engine) for job in jobs]
    abandoned = engine.runtime.linked_stop()
    sibling = Interpreter(replace(engine.runtime, stop=abandoned))
    workers = min(len(jobs), max_concurrency or _MAX_THREADS, _MAX_THREADS)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sfn-fan-out")
    try:
        futures = [pool.submit(job, sibling) for job in jobs]
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
