"""EventBridge Scheduler schedules and scheduled rules, locally: fired by time (`rate(...)`, `at(...)`,
`cron(...)`) and on demand (`tributary schedule fire NAME`).

A DISABLED schedule never fires by time; firing it on demand still works and logs that it is disabled.
`cron(...)` and `at(...)` are evaluated in ScheduleExpressionTimezone (`cron.py`), between StartDate and
EndDate. FlexibleTimeWindow OFF fires at the time; a FLEXIBLE window fires at its start (AWS picks a
random time within it). An invalid expression or time zone stops start-up with the schedule's name,
as CreateSchedule's ValidationException stops a deployment.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tributary.local.delivery.cron import CronError, zone
from tributary.local.delivery.cron import next_fire_time as next_cron_time

LOGGER = logging.getLogger("tributary.local.delivery.schedules")
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
    timezone: str = "UTC"  # ScheduleExpressionTimezone
    start_date: dt.datetime | None = None  # StartDate (UTC)
    end_date: dt.datetime | None = None  # EndDate (UTC)
    flexible_window_minutes: int | None = None  # FlexibleTimeWindow FLEXIBLE; None for OFF

    def delivered_input(self, *, region: str, account: str, when: dt.datetime, attempt: int = 1) -> str:
        """The input as Scheduler delivers it, its context attributes replaced (Scheduler user guide,
        "Adding context attributes"): the schedule's ARN (default group), the scheduled time, an
        execution id and the attempt number."""
        arn = f"arn:aws:scheduler:{region}:{account}:schedule/default/{self.name}"
        replacements = {
            "<aws.scheduler.schedule-arn>": arn,
            "<aws.scheduler.scheduled-time>": when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "<aws.scheduler.execution-id>": uuid.uuid4().hex[:16],
            "<aws.scheduler.attempt-number>": str(attempt),
        }
        text = self.input
        for keyword, value in replacements.items():
            text = text.replace(keyword, value)
        return text

    @classmethod
    def of_scheduler(cls, name: str, properties: dict[str, Any]) -> Schedule:
        """An AWS::Scheduler::Schedule's properties (as CloudFormation passes them) as a Schedule."""
        target = properties.get("Target") or {}
        window = properties.get("FlexibleTimeWindow") or {}
        return cls(
            name,
            str(properties["ScheduleExpression"]),
            str(target.get("Arn", "")),
            str(target.get("Input", "{}")),
            properties.get("State", "ENABLED") == "ENABLED",
            timezone=str(properties.get("ScheduleExpressionTimezone") or "UTC"),
            start_date=_date(properties.get("StartDate")),
            end_date=_date(properties.get("EndDate")),
            flexible_window_minutes=(
                int(window.get("MaximumWindowInMinutes", 0)) if window.get("Mode") == "FLEXIBLE" else None
            ),
        )


class InvalidSchedule(ValueError):
    """A schedule AWS would refuse to create; its message names the schedule."""


def _date(value: object) -> dt.datetime | None:
    if value is None or value == "":
        return None
    when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def interval_seconds(expression: str) -> float | None:
    match = _RATE.match(expression.strip())
    if not match:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


def fires_by_time(expression: str) -> bool:
    """Every expression Scheduler accepts fires by time (an invalid one is refused by `Scheduler.start`)."""
    text = expression.strip()
    return bool(_RATE.match(text) or _AT.match(text) or text.startswith("cron("))


def next_fire_time(expression: str, after: dt.datetime, timezone: str = "UTC") -> dt.datetime | None:
    """When a `cron(...)` or `at(...)` expression next fires strictly after `after` (UTC), evaluated in
    `timezone`; None when it never fires again. CronError when the expression or time zone is invalid.
    (`rate(...)` has no fire times of its own: they count from when the schedule starts.)"""
    text = expression.strip()
    if text.startswith("cron("):
        return next_cron_time(text, after, timezone)
    match = _AT.match(text)
    if match:
        when = dt.datetime.fromisoformat(match.group(1)).replace(tzinfo=zone(timezone)).astimezone(dt.UTC)
        return when if when > after else None
    if _RATE.match(text):
        raise CronError(f"{expression!r} fires at a rate, not at times")
    raise CronError(f"{expression!r} is not a rate(...), at(...) or cron(...) expression")


def next_fire(schedule: Schedule, after: dt.datetime) -> dt.datetime | None:
    """The schedule's next fire time after `after`, within its StartDate and EndDate."""
    if schedule.start_date is not None and after < schedule.start_date:
        after = schedule.start_date - dt.timedelta(microseconds=1)  # StartDate itself may fire
    when = next_fire_time(schedule.expression, after, schedule.timezone)
    if when is None or (schedule.end_date is not None and when > schedule.end_date):
        return None
    return when


def check(schedule: Schedule) -> None:
    """Raise InvalidSchedule, naming the schedule, for what CreateSchedule would refuse."""
    text = schedule.expression.strip()
    try:
        zone(schedule.timezone)
        if not _RATE.match(text):
            next_fire_time(text, dt.datetime(1970, 1, 1, tzinfo=dt.UTC), schedule.timezone)
    except (CronError, ValueError) as exc:
        raise InvalidSchedule(
            f"schedule {schedule.name}: invalid ScheduleExpression {text!r}: {exc}"
        ) from None


Fire = Callable[[Schedule], object]  # delivers the schedule's input to its target


@dataclass
class Scheduler:
    schedules: list[Schedule]
    fire_target: Fire
    fired: list[tuple[str, dt.datetime]] = field(default_factory=list)
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    # waits up to the given seconds; True when the scheduler is stopped (tests pass a virtual clock's)
    wait: Callable[[float], bool] | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _wait(self, seconds: float) -> bool:
        return (self.wait or self._stop.wait)(max(seconds, 0.0))

    def find(self, name: str) -> Schedule:
        for schedule in self.schedules:
            if schedule.name == name or schedule.name.endswith(f"-{name}"):
                return schedule
        known = ", ".join(s.name for s in self.schedules) or "none"
        raise KeyError(f"no schedule {name!r} (known: {known})")

    def fire(self, name: str) -> object:
        schedule = self.find(name)
        if not schedule.enabled:
            LOGGER.warning("schedule %s is DISABLED: it never fires by time; fired on demand", schedule.name)
        self.fired.append((schedule.name, self.clock()))
        return self.fire_target(schedule)

    def start(self) -> None:
        for schedule in self.schedules:
            check(schedule)
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
        if interval is not None:
            while not self._wait(interval):
                if schedule.end_date is not None and self.clock() > schedule.end_date:
                    return
                if schedule.start_date is None or self.clock() >= schedule.start_date:
                    self._safe_fire(schedule)
            return
        after = self.clock()
        while (when := next_fire(schedule, after)) is not None:
            now = self.clock()
            while now < when:  # in steps, so that a clock that jumps (a laptop asleep) is followed
                if self._wait(min((when - now).total_seconds(), 60.0)):
                    return
                now = self.clock()
            self._safe_fire(schedule)
            after = max(when, now)

    def _safe_fire(self, schedule: Schedule) -> None:
        try:
            self.fire(schedule.name)
        except Exception:
            LOGGER.exception("schedule %s failed", schedule.name)
