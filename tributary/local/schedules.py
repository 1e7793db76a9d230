"""EventBridge Scheduler schedules and scheduled rules, locally: fired on demand
(`tributary schedule fire NAME`) or by time for `rate(...)` and `at(...)` expressions.

`cron(...)` schedules are fired on demand only: evaluating cron with time zones and flexible
windows is not worth a dependency for a local run (reported as such at start-up).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

LOGGER = logging.getLogger("tributary.local.schedules")
_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Schedule:
    name: str
    expression: str
    target_arn: str
    input: str = "{}"
    enabled: bool = True


def interval_seconds(expression: str) -> float | None:
    match = _RATE.match(expression.strip())
    if not match:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


def fires_by_time(expression: str) -> bool:
    return bool(_RATE.match(expression.strip()) or _AT.match(expression.strip()))


Fire = Callable[[Schedule], object]  # delivers the schedule's input to its target


@dataclass
class Scheduler:
    schedules: list[Schedule]
    fire_target: Fire
    fired: list[tuple[str, dt.datetime]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def find(self, name: str) -> Schedule:
        for schedule in self.schedules:
            if schedule.name == name or schedule.name.endswith(f"-{name}"):
                return schedule
        known = ", ".join(s.name for s in self.schedules) or "none"
        raise KeyError(f"no schedule {name!r} (known: {known})")

    def fire(self, name: str) -> object:
        schedule = self.find(name)
        self.fired.append((schedule.name, dt.datetime.now(dt.UTC)))
        return self.fire_target(schedule)

    def start(self) -> None:
        for schedule in self.schedules:
            if schedule.enabled and fires_by_time(schedule.expression):
                thread = threading.Thread(
                    target=self._run, args=(schedule,), name=f"schedule-{schedule.name}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)

    def _run(self, schedule: Schedule) -> None:
        interval = interval_seconds(schedule.expression)
        if interval is None:  # at(...): once, at that UTC time
            match = _AT.match(schedule.expression.strip())
            assert match is not None
            when = dt.datetime.fromisoformat(match.group(1)).replace(tzinfo=dt.UTC)
            delay = (when - dt.datetime.now(dt.UTC)).total_seconds()
            if delay >= 0 and not self._stop.wait(delay):
                self._safe_fire(schedule)
            return
        while not self._stop.wait(interval):
            self._safe_fire(schedule)

    def _safe_fire(self, schedule: Schedule) -> None:
        try:
            self.fire(schedule.name)
        except Exception:
            LOGGER.exception("schedule %s failed", schedule.name)
