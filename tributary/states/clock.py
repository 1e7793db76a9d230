"""The clock an execution runs on, passed in: virtual by default (Wait states, Retry back-off and
`.sync` polling advance it instantly and deterministically), real on request.

Every wait goes through `Clock.wait(event, seconds)`, so that a StopExecution or a task token
answered from another thread ends the wait early on either clock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    def wait(self, event: threading.Event, seconds: float | None) -> bool:
        """Wait until `event` is set (True) or `seconds` have passed on this clock (False).
        `None` waits for the event only."""
        ...


def sleep(clock: Clock, seconds: float) -> None:
    """Let `seconds` pass on `clock` (nothing can interrupt it)."""
    clock.wait(threading.Event(), seconds)


class OutsideEvent(threading.Event):
    """An event that a party outside the execution sets (SendTaskSuccess, SendTaskHeartbeat): the
    only kind of wait a virtual clock gives real time to (its `patience`)."""


# The waits of the thread running a branch or iteration that takes turns with its siblings on a
# virtual clock (see fan_out): such a wait hands the turn back until the time it waits for comes.
_suspend = threading.local()


def suspend_waits_in_this_thread(waiter: Callable[[threading.Event, float], bool] | None) -> None:
    """Route this thread's virtual-clock waits to `waiter(event, seconds)` (None: wait as usual)."""
    _suspend.waiter = waiter


# A fixed, recognisable start so that histories and `$$.Execution.StartTime` are reproducible.
DEFAULT_VIRTUAL_START = datetime(2026, 1, 1, tzinfo=UTC)


class VirtualClock:
    """Time that moves only when someone waits: a wait for `seconds` returns at once, `seconds`
    later in virtual time.

    A wait on an `OutsideEvent` (a task token that a worker answers with SendTaskSuccess, Failure or
    Heartbeat) first gives that worker up to `patience` real seconds, because virtual time cannot
    know when a real outside party will answer; only then does virtual time jump to the deadline.
    The real wait never exceeds the wait's own `seconds` (a virtual clock is never slower than the
    real one: a 5 s heartbeat window gives a worker 5 real seconds at most). Other waits (Wait
    states, retry back-off, `.sync` polling) never take real time, whatever the patience."""

    def __init__(self, start: datetime = DEFAULT_VIRTUAL_START, *, patience: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.patience = patience

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=max(0.0, seconds))

    def wait(self, event: threading.Event, seconds: float | None) -> bool:
        if event.is_set():
            return True
        if seconds is None:
            return event.wait()
        if isinstance(event, OutsideEvent):
            real_seconds = min(self.patience, seconds)
            if real_seconds > 0 and event.wait(real_seconds):
                return True
        waiter = getattr(_suspend, "waiter", None)
        if waiter is not None:  # a branch or iteration: its siblings run meanwhile
            return bool(waiter(event, seconds))
        self.advance(seconds)
        return event.is_set()


class RealClock:
    """Wall-clock time: waits take real seconds."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def wait(self, event: threading.Event, seconds: float | None) -> bool:
        return event.wait(seconds)
