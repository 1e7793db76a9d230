"""Running the branches of a Parallel state or the iterations of a Map state.

On a virtual clock they run one after the other, so that a run is deterministic (its history
included). On the real clock they run in threads, at most `max_concurrency` at once (0: no limit),
so that Wait states and slow tasks overlap as they do on AWS. Either way the first failure is
raised, after the others are told to stop."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, TypeVar

from tributary.states.clock import RealClock

if TYPE_CHECKING:
    from tributary.states.engine import Interpreter

T = TypeVar("T")

_MAX_THREADS = 40  # AWS runs up to 40 inline Map iterations at once


def run_all(engine: Interpreter, jobs: list[Callable[[], T]], max_concurrency: int) -> list[T]:
    """The results of `jobs`, in order; the first exception is raised."""
    if not isinstance(engine.runtime.clock, RealClock) or len(jobs) <= 1:
        return [job() for job in jobs]
    workers = min(len(jobs), max_concurrency or _MAX_THREADS, _MAX_THREADS)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sfn-fan-out") as pool:
        futures = [pool.submit(job) for job in jobs]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for future in futures:
            if future in done and future.exception() is not None:
                for other in futures:
                    other.cancel()
                raise future.exception()  # type: ignore[misc]
        return [future.result() for future in futures]
