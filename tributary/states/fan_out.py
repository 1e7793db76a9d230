"""Running the branches of a Parallel state or the iterations of a Map state.

A job is a generator that pauses after each state of its branch or iteration (see
`Interpreter.machine_steps`) and returns its result. On a virtual clock the jobs take turns: in each
turn every job under way runs one state, in branch (or item) order, so that a run is deterministic
(its history included) and, as on AWS, every branch (every iteration up to MaxConcurrency) starts
before a failure stops the rest. A job that waits inside a state (a Wait, a task call, a retry's
back-off) runs in a thread of its own and is suspended there until the virtual time it waits for,
while its siblings take their turns; the clock moves when every job under way waits. A failure is
acted on at the end of its turn: the others are stopped where they are, a job waiting inside a
state with `BranchAborted` raised there (its state writes `<Type>StateAborted`), a job between two
states closed at its pause. On the real clock the jobs run in threads, at most `max_concurrency` at
once (0: no limit), so that Wait states and slow tasks overlap as they do on AWS. Either way the
first failure is raised (the first in branch order among those of the earliest turn on a virtual
clock), after the others are told to stop."""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from tributary.states.clock import RealClock, suspend_waits_in_this_thread
from tributary.states.engine import BranchAborted, ExecutionFailed, Interpreter, drive

T = TypeVar("T")

Job = Callable[[Interpreter], Generator[None, None, T]]

_MAX_THREADS = 40  # AWS runs up to 40 inline Map iterations at once


def run_all(engine: Interpreter, jobs: list[Job[T]], max_concurrency: int, may_wait: bool = True) -> list[T]:
    """The results of `jobs`, in order; the first exception is raised.

    On the real clock each job runs with an interpreter of its own whose stop event is set when
    the execution is stopped or once a sibling has failed: its Wait states and task calls end then,
    and it stops at its next state."""
    if not isinstance(engine.runtime.clock, RealClock):
        return take_turns(engine, jobs, max_concurrency, may_wait)
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


@dataclass
class _Report:
    kind: str  # "yield" (between two states), "wait" (in a state), "done", "error", "closed"
    value: Any = None
    wake: datetime | None = None
    event: threading.Event | None = None


class _Inline:
    """A job that never waits (no Task, Wait, Retry inside): run in the scheduler's own thread."""

    def __init__(self, steps: Generator[None, None, Any]) -> None:
        self.steps = steps
        self.waiting: _Report | None = None

    def step(self) -> _Report:
        try:
            next(self.steps)
        except StopIteration as done:
            return _Report("done", done.value)
        except Exception as error:  # the job's failure
            return _Report("error", error)
        return _Report("yield")

    def stop(self, quiet: bool) -> None:
        with _quietly(quiet):
            self.steps.close()


class _Worker:
    """A thread that runs jobs which may wait inside a state, one job at a time, handed the turn by
    their scheduler through two locks (`go`: the job's thread runs; `back`: the scheduler runs
    again). Idle workers are kept for the next jobs (starting a thread costs more than a turn)."""

    _idle: list[_Worker] = []
    _idle_lock = threading.Lock()
    _MAX_IDLE = 256

    def __init__(self) -> None:
        self.go = threading.Lock()
        self.back = threading.Lock()
        self.go.acquire()
        self.back.acquire()
        self.job: _Threaded | None = None
        self.command = "step"
        self.report = _Report("yield")
        threading.Thread(target=self._loop, name="sfn-branch", daemon=True).start()

    @classmethod
    def take(cls) -> _Worker:
        with cls._idle_lock:
            if cls._idle:
                return cls._idle.pop()
        return cls()

    def release(self) -> None:
        """Back to the idle workers once its job has ended (or let its thread end)."""
        self.job = None
        self.report = _Report("yield")  # holds nothing of the ended job
        with self._idle_lock:
            if len(self._idle) < self._MAX_IDLE:
                self._idle.append(self)
                return
        self.command = "exit"
        self.go.release()

    # --- the scheduler's side
    def hand(self, command: str) -> _Report:
        self.command = command
        self.go.release()
        self.back.acquire()
        return self.report

    # --- the worker's thread
    def pause(self, report: _Report) -> str:
        self.report = report
        self.back.release()
        self.go.acquire()
        return self.command

    def _wait(self, event: threading.Event, seconds: float) -> bool:
        job = self.job
        assert job is not None
        wake = job.engine.runtime.clock.now() + timedelta(seconds=max(0.0, seconds))
        command = self.pause(_Report("wait", wake=wake, event=event))
        if command.startswith("abort"):
            raise BranchAborted(quiet=command == "abort-quiet")
        return event.is_set()

    def _loop(self) -> None:
        suspend_waits_in_this_thread(self._wait)
        while True:
            self.go.acquire()
            job = self.job
            if self.command == "exit" or job is None:
                return
            self.report = job.run_here(self)
            self.back.release()


class _Threaded:
    """A job that may wait inside a state (a Wait, a task call, a retry's back-off), run by a worker
    thread so that it can be suspended there; only one thread of a scheduler runs at a time, so runs
    stay deterministic. Each `step` hands it the turn until its next pause."""

    def __init__(self, job: Job[Any], engine: Interpreter) -> None:
        self._job = job
        self.engine = engine
        self._worker: _Worker | None = None
        self._ended = False
        self.waiting: _Report | None = None

    # --- the scheduler's side
    def step(self) -> _Report:
        return self._hand("step")

    def stop(self, quiet: bool) -> None:
        """Abort the job where it is: inside a wait (BranchAborted), or between two states; `quiet`
        when the execution itself stops (no aborted events)."""
        command = "abort" if self.waiting is not None else "close"
        self._hand(f"{command}-quiet" if quiet else command)

    def _hand(self, command: str) -> _Report:
        if self._ended:
            return _Report("closed")
        if self._worker is None:  # a worker takes it on its first turn
            if command != "step":
                self._ended = True
                return _Report("closed")
            self._worker = _Worker.take()
            self._worker.job = self
        report = self._worker.hand(command)
        self.waiting = report if report.kind == "wait" else None
        if report.kind in ("done", "error", "closed"):
            self._ended = True
            self._worker.release()
            self._worker = None
        return report

    # --- the worker's thread
    def run_here(self, worker: _Worker) -> _Report:
        """The job from its start to its end in the worker's thread; its final report."""
        steps = self._job(self.engine)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                return _Report("done", done.value)
            except BaseException as error:  # the job's failure, or its abort
                return _Report("error", error)
            command = worker.pause(_Report("yield"))
            if command != "step":
                with _quietly(command == "close-quiet"):
                    steps.close()
                return _Report("closed")


def take_turns(
    engine: Interpreter, jobs: list[Job[T]], max_concurrency: int, may_wait: bool = True
) -> list[T]:
    """The jobs one state at a time, round-robin in order, at most `max_concurrency` under way (0: no
    limit); a job that ends frees its place for the next job, which starts in the following turn.

    A job waiting inside a state (`may_wait`: it runs in a thread of its own) sits out the turns
    until the virtual time it waits for; when every job under way waits, the clock moves to the
    earliest of their times (through the enclosing branch's turn, for nested branches), so that
    siblings' waits overlap as they do on AWS. A failure is acted on at the end of its turn: the
    jobs still under way are aborted, a job waiting inside a state with `BranchAborted` there."""
    limit = max_concurrency or len(jobs)
    clock = engine.runtime.clock
    results: dict[int, T] = {}
    under_way: dict[int, _Inline | _Threaded] = {}
    waiting = list(range(len(jobs)))
    try:
        while waiting or under_way:
            while waiting and len(under_way) < limit:
                index = waiting.pop(0)
                under_way[index] = (
                    _Threaded(jobs[index], engine) if may_wait else _Inline(jobs[index](engine))
                )
            now = clock.now()
            ready = [i for i, job in under_way.items() if _ready(job, now)]
            if not ready:
                wake = min(job.waiting.wake for job in under_way.values() if job.waiting and job.waiting.wake)
                clock.wait(threading.Event(), (wake - now).total_seconds())
                continue
            failure: BaseException | None = None
            for index in ready:
                report = under_way[index].step()
                if report.kind == "done":
                    results[index] = report.value
                    del under_way[index]
                elif report.kind == "error":  # the job's failure, raised at the end of the turn
                    del under_way[index]
                    failure = failure or report.value
            if failure is not None:
                raise failure
        return [results[index] for index in range(len(jobs))]
    except BaseException as stopping:
        # A failed branch aborts its siblings (and an aborted branch its own branches) with their
        # aborted events; the execution stopping (StopExecution, its TimeoutSeconds) stops them
        # quietly, as it always has: ExecutionAborted / ExecutionTimedOut say it all.
        loud = isinstance(stopping, ExecutionFailed) or (
            isinstance(stopping, BranchAborted) and not stopping.quiet
        )
        for job in under_way.values():
            job.stop(quiet=not loud)
        raise


_quiet = threading.local()


def stopping_quietly() -> bool:
    """Whether the branch being closed in this thread stops with its execution (no aborted events)."""
    return bool(getattr(_quiet, "on", False))


@contextmanager
def _quietly(on: bool) -> Iterator[None]:
    before = stopping_quietly()
    _quiet.on = on
    try:
        yield
    finally:
        _quiet.on = before


def _ready(job: _Inline | _Threaded, now: datetime) -> bool:
    report = job.waiting
    if report is None:
        return True
    return (report.wake is not None and report.wake <= now) or (
        report.event is not None and report.event.is_set()
    )
