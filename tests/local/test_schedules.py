"""Schedules of the local stack: EventBridge Scheduler's cron expressions (fields, wildcards, time zones and
daylight saving time), StartDate/EndDate, State, and cron schedules fired by time on a virtual clock."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest

from tributary.local.delivery.cron import CronError, parse
from tributary.local.delivery.schedules import (
    InvalidSchedule,
    Schedule,
    Scheduler,
    fires_by_time,
    next_fire,
    next_fire_time,
)

UTC = dt.UTC
ARN = "arn:aws:lambda:us-east-1:123456789012:function:sweep"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def fire_times(expression: str, after: dt.datetime, count: int, timezone: str = "UTC") -> list[dt.datetime]:
    times: list[dt.datetime] = []
    for _ in range(count):
        when = next_fire_time(expression, after, timezone)
        assert when is not None
        times.append(when)
        after = when
    return times


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # the template's sweep: every day at 03:00 UTC
        ("cron(0 3 * * ? *)", utc(2026, 11, 24, 7, 6), utc(2026, 11, 25, 3, 0)),
        ("cron(0 3 * * ? *)", utc(2026, 11, 24, 2, 59, 59), utc(2026, 11, 24, 3, 0)),
        ("cron(0 3 * * ? *)", utc(2026, 11, 24, 3, 0), utc(2026, 11, 25, 3, 0)),  # strictly after
        ("cron(0 3 * * ? *)", utc(2026, 12, 31, 4, 0), utc(2027, 1, 1, 3, 0)),
        # lists, ranges, steps
        ("cron(0/15 * * * ? *)", utc(2026, 1, 1, 10, 46), utc(2026, 1, 1, 11, 0)),
        ("cron(5/20 * * * ? *)", utc(2026, 1, 1, 10, 46), utc(2026, 1, 1, 11, 5)),
        ("cron(0 10,15 * * ? *)", utc(2026, 1, 1, 10, 0), utc(2026, 1, 1, 15, 0)),
        ("cron(0 22-23 * * ? *)", utc(2026, 1, 1, 23, 30), utc(2026, 1, 2, 22, 0)),
        ("cron(0 0 1-3 * ? *)", utc(2026, 1, 3, 1, 0), utc(2026, 2, 1, 0, 0)),
        ("cron(0 0 1/10 * ? *)", utc(2026, 1, 21, 1, 0), utc(2026, 1, 31, 0, 0)),
        # weekdays: 1-7 is SUN-SAT; 2026-11-24 is a Tuesday
        ("cron(0 9 ? * MON-FRI *)", utc(2026, 11, 27, 10, 0), utc(2026, 11, 30, 9, 0)),
        ("cron(0 9 ? * 2-6 *)", utc(2026, 11, 27, 10, 0), utc(2026, 11, 30, 9, 0)),
        ("cron(0 9 ? * 1 *)", utc(2026, 11, 24, 0, 0), utc(2026, 11, 29, 9, 0)),  # 1 is Sunday
        ("cron(0 9 ? * sat,sun *)", utc(2026, 11, 24, 0, 0), utc(2026, 11, 28, 9, 0)),
        ("cron(0 9 ? * L *)", utc(2026, 11, 24, 0, 0), utc(2026, 11, 28, 9, 0)),  # L: Saturday
        # month names, years
        ("cron(0 0 1 JAN,JUL ? *)", utc(2026, 2, 1, 0, 0), utc(2026, 7, 1, 0, 0)),
        ("cron(0 0 1 jun-aug ? *)", utc(2026, 9, 1, 0, 0), utc(2027, 6, 1, 0, 0)),
        ("cron(0 0 1 1 ? 2030-2032)", utc(2026, 9, 1, 0, 0), utc(2030, 1, 1, 0, 0)),
        ("cron(0 0 1 1 ? 2028/2)", utc(2028, 1, 1, 0, 0), utc(2030, 1, 1, 0, 0)),
        # last day of the month: 30, 31, 28 and 29 days
        ("cron(0 18 L * ? *)", utc(2026, 11, 1, 0, 0), utc(2026, 11, 30, 18, 0)),
        ("cron(0 18 L * ? *)", utc(2026, 12, 1, 0, 0), utc(2026, 12, 31, 18, 0)),
        ("cron(0 18 L * ? *)", utc(2027, 2, 1, 0, 0), utc(2027, 2, 28, 18, 0)),
        ("cron(0 18 L * ? *)", utc(2028, 2, 1, 0, 0), utc(2028, 2, 29, 18, 0)),
        # leap years: 29 February (2100 is not a leap year)
        ("cron(0 0 29 2 ? *)", utc(2026, 1, 1, 0, 0), utc(2028, 2, 29, 0, 0)),
        ("cron(0 0 29 FEB ? *)", utc(2096, 3, 1, 0, 0), utc(2104, 2, 29, 0, 0)),
        ("cron(0 0 31 * ? *)", utc(2026, 4, 1, 0, 0), utc(2026, 5, 31, 0, 0)),  # no 31 April
        # W: the weekday nearest the day, within the month
        ("cron(0 0 15W * ? *)", utc(2026, 11, 1, 0, 0), utc(2026, 11, 16, 0, 0)),  # Sun 15 → Mon 16
        ("cron(0 0 15W * ? *)", utc(2026, 8, 1, 0, 0), utc(2026, 8, 14, 0, 0)),  # Sat 15 → Fri 14
        ("cron(0 0 1W * ? *)", utc(2026, 8, 1, 0, 0), utc(2026, 8, 3, 0, 0)),  # Sat 1 → Mon 3
        ("cron(0 0 31W * ? *)", utc(2026, 5, 1, 0, 0), utc(2026, 5, 29, 0, 0)),  # Sun 31 → Fri 29
        ("cron(0 0 LW * ? *)", utc(2026, 10, 1, 0, 0), utc(2026, 10, 30, 0, 0)),  # Sat 31 → Fri 30
        ("cron(0 0 3W * ? *)", utc(2026, 11, 1, 0, 0), utc(2026, 11, 3, 0, 0)),  # a Tuesday already
        # nth weekday (#) and last weekday of the month (nL)
        ("cron(0 10 ? * 2#1 *)", utc(2026, 11, 24, 0, 0), utc(2026, 12, 7, 10, 0)),  # first Monday
        ("cron(0 10 ? * MON#1 *)", utc(2026, 11, 24, 0, 0), utc(2026, 12, 7, 10, 0)),
        ("cron(0 10 ? * 5#4 *)", utc(2026, 11, 1, 0, 0), utc(2026, 11, 26, 10, 0)),  # Thanksgiving
        ("cron(0 10 ? * 6#5 *)", utc(2026, 11, 1, 0, 0), utc(2027, 1, 29, 10, 0)),  # a fifth Friday
        ("cron(0 10 ? * 6L *)", utc(2026, 11, 1, 0, 0), utc(2026, 11, 27, 10, 0)),  # last Friday
        ("cron(0 10 ? * FRIL *)", utc(2026, 11, 28, 0, 0), utc(2026, 12, 25, 10, 0)),
    ],
)
def test_next_fire_time_in_utc(expression: str, after: dt.datetime, expected: dt.datetime) -> None:
    assert next_fire_time(expression, after, "UTC") == expected


def test_consecutive_fire_times() -> None:
    assert fire_times("cron(0 3 * * ? *)", utc(2026, 11, 24, 7, 6), 3) == [
        utc(2026, 11, 25, 3),
        utc(2026, 11, 26, 3),
        utc(2026, 11, 27, 3),
    ]
    assert fire_times("cron(*/20 9-10 ? * TUE *)", utc(2026, 11, 24, 9, 30), 4) == [
        utc(2026, 11, 24, 9, 40),
        utc(2026, 11, 24, 10, 0),
        utc(2026, 11, 24, 10, 20),
        utc(2026, 11, 24, 10, 40),
    ]
    assert fire_times("cron(0 0 ? * 2#5 *)", utc(2026, 1, 1), 2) == [utc(2026, 3, 30), utc(2026, 6, 29)]


def test_time_zones_and_daylight_saving_time() -> None:
    # 03:00 in New York is 08:00 UTC in winter (EST) and 07:00 UTC in summer (EDT)
    assert next_fire_time("cron(0 3 * * ? *)", utc(2026, 1, 10), "America/New_York") == utc(2026, 1, 10, 8)
    assert next_fire_time("cron(0 3 * * ? *)", utc(2026, 7, 10), "America/New_York") == utc(2026, 7, 10, 7)
    # spring forward (8 March 2026, 02:00 → 03:00): 02:30 does not exist that day and is skipped
    assert fire_times("cron(30 2 * * ? *)", utc(2026, 3, 7, 12), 2, "America/New_York") == [
        utc(2026, 3, 9, 6, 30),
        utc(2026, 3, 10, 6, 30),
    ]
    # fall back (1 November 2026, 02:00 → 01:00): 01:30 happens twice and fires once, the first time (EDT)
    assert fire_times("cron(30 1 * * ? *)", utc(2026, 10, 31, 12), 2, "America/New_York") == [
        utc(2026, 11, 1, 5, 30),
        utc(2026, 11, 2, 6, 30),
    ]
    hourly = fire_times("cron(0 * * * ? *)", utc(2026, 11, 1, 4, 30), 3, "America/New_York")
    assert hourly == [utc(2026, 11, 1, 5), utc(2026, 11, 1, 7), utc(2026, 11, 1, 8)]  # 01:00 once
    # Europe: the last Sunday of March; Australia is a day ahead and on the other side of the year
    assert next_fire_time("cron(30 2 ? * 1L *)", utc(2026, 3, 1), "Europe/Berlin") == utc(2026, 4, 26, 0, 30)
    assert next_fire_time("cron(0 9 ? * MON *)", utc(2026, 11, 24), "Australia/Sydney") == utc(
        2026, 11, 29, 22
    )
    assert next_fire_time("cron(0 3 * * ? *)", utc(2026, 1, 10), "Asia/Kolkata") == utc(2026, 1, 10, 21, 30)


def test_expressions_that_never_fire_again() -> None:
    assert next_fire_time("cron(0 0 30 2 ? *)", utc(2026, 1, 1)) is None
    assert next_fire_time("cron(0 0 1 1 ? 2020)", utc(2026, 1, 1)) is None
    assert next_fire_time("cron(0 0 31 12 ? 2199)", utc(2199, 12, 31, 0, 0)) is None
    assert next_fire_time("at(2026-11-24T10:00:00)", utc(2026, 11, 24, 9), "UTC") == utc(2026, 11, 24, 10)
    assert next_fire_time("at(2026-11-24T10:00:00)", utc(2026, 11, 24, 8), "Europe/Paris") == utc(
        2026, 11, 24, 9
    )
    assert next_fire_time("at(2026-11-24T10:00:00)", utc(2026, 11, 24, 11)) is None


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("cron(0 3 * * *)", "six"),
        ("cron(0 3 * * ? * *)", "six"),
        ("cron(0 3 * * * *)", "one of day-of-month and day-of-week"),
        ("cron(0 3 ? * ? *)", "one of day-of-month and day-of-week"),
        ("cron(0 3 1 * MON *)", "one of day-of-month and day-of-week"),
        ("cron(60 3 * * ? *)", "minutes: 60"),
        ("cron(0 24 * * ? *)", "hours: 24"),
        ("cron(0 3 32 * ? *)", "day-of-month: 32"),
        ("cron(0 3 0 * ? *)", "day-of-month: 0"),
        ("cron(0 3 * 13 ? *)", "month: 13"),
        ("cron(0 3 * FOO ? *)", "month"),
        ("cron(0 3 ? * 8 *)", "day-of-week: 8"),
        ("cron(0 3 ? * MON#6 *)", "1-5"),
        ("cron(0 3 ? * */2 *)", "'/'"),
        ("cron(0 3 * * ? 1969)", "year: 1969"),
        ("cron(0 3 * * ? 2200)", "year: 2200"),
        ("cron(0/0 3 * * ? *)", "step"),
        ("cron(0 5-2 * * ? *)", "ends before it starts"),
        ("cron(0 3 1,,2 * ? *)", "empty"),
        ("cron(a 3 * * ? *)", "not a number"),
        ("0 3 * * ? *", "not a cron"),
    ],
)
def test_invalid_expressions_say_what_is_wrong(expression: str, message: str) -> None:
    with pytest.raises(CronError, match=message.replace("*", r"\*").replace("(", r"\(")):
        parse(expression)


def test_an_invalid_schedule_stops_start_up_naming_the_schedule() -> None:
    schedules = [
        Schedule("tributary-dev-Good", "cron(0 3 * * ? *)", ARN),
        Schedule("tributary-dev-SweepSchedule", "cron(0 3 * * *)", ARN, enabled=False),
    ]
    scheduler = Scheduler(schedules, lambda schedule: None)
    with pytest.raises(InvalidSchedule) as raised:
        scheduler.start()
    assert str(raised.value).startswith(
        "schedule tributary-dev-SweepSchedule: invalid ScheduleExpression 'cron(0 3 * * *)': 5 fields"
    )
    bad_zone = Scheduler([Schedule("s", "cron(0 3 * * ? *)", ARN, timezone="Mars/Olympus")], print)
    with pytest.raises(InvalidSchedule, match=r"schedule s: .*Mars/Olympus"):
        bad_zone.start()
    assert fires_by_time("cron(0 3 * * ? *)") and fires_by_time("rate(5 minutes)")
    assert not fires_by_time("every day")


def test_scheduler_properties_and_start_and_end_dates() -> None:
    schedule = Schedule.of_scheduler(
        "s",
        {
            "ScheduleExpression": "cron(0 3 * * ? *)",
            "ScheduleExpressionTimezone": "Europe/London",
            "State": "DISABLED",
            "StartDate": "2026-12-01T00:00:00Z",
            "EndDate": "2026-12-03T12:00:00+00:00",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {"Arn": ARN, "Input": '{"prefix": "incoming/"}'},
        },
    )
    assert (schedule.enabled, schedule.timezone, schedule.flexible_window_minutes) == (
        False,
        "Europe/London",
        None,
    )
    assert schedule.input == '{"prefix": "incoming/"}'
    assert next_fire(schedule, utc(2026, 11, 24)) == utc(2026, 12, 1, 3)  # not before StartDate
    assert next_fire(schedule, utc(2026, 12, 2, 3)) == utc(2026, 12, 3, 3)
    assert next_fire(schedule, utc(2026, 12, 3, 3)) is None  # after EndDate
    at_start = Schedule("t", "cron(0 0 * * ? *)", ARN, start_date=utc(2026, 12, 1))
    assert next_fire(at_start, utc(2026, 11, 1)) == utc(2026, 12, 1)  # StartDate itself may fire
    flexible = Schedule.of_scheduler(
        "f",
        {
            "ScheduleExpression": "rate(1 hour)",
            "FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
        },
    )
    assert (flexible.enabled, flexible.timezone, flexible.flexible_window_minutes) == (True, "UTC", 15)


class VirtualClock:
    """Time that passes only when the scheduler waits; stops it after `limit` waits."""

    def __init__(self, now: dt.datetime, limit: int = 10_000) -> None:
        self.now = now
        self.limit = limit
        self.waits: list[float] = []

    def __call__(self) -> dt.datetime:
        return self.now

    def wait(self, seconds: float) -> bool:
        if len(self.waits) >= self.limit:
            return True
        self.waits.append(seconds)
        self.now += dt.timedelta(seconds=seconds)
        return False


def run_by_time(
    schedule: Schedule, now: dt.datetime, days: int = 4
) -> tuple[list[dt.datetime], VirtualClock]:
    """Fire times of one schedule over `days` of virtual time (the scheduler waits a minute at most)."""
    clock = VirtualClock(now, limit=days * 24 * 60)
    fired: list[dt.datetime] = []
    scheduler = Scheduler([schedule], lambda s: fired.append(clock()), clock=clock, wait=clock.wait)
    scheduler.start()
    scheduler.stop()
    return fired, clock


def test_cron_schedules_fire_by_time_in_their_time_zone() -> None:
    now = utc(2026, 3, 6, 12)
    sweep, clock = run_by_time(Schedule("tributary-dev-SweepSchedule", "cron(0 3 * * ? *)", ARN), now)
    assert sweep == [utc(2026, 3, 7, 3), utc(2026, 3, 8, 3), utc(2026, 3, 9, 3), utc(2026, 3, 10, 3)]
    assert clock.waits and all(0 < seconds <= 60 for seconds in clock.waits)
    new_york, _ = run_by_time(Schedule("ny", "cron(30 2 * * ? *)", ARN, timezone="America/New_York"), now)
    assert new_york == [
        utc(2026, 3, 7, 7, 30),
        utc(2026, 3, 9, 6, 30),
        utc(2026, 3, 10, 6, 30),
    ]  # 8 March has no 02:30
    ended, _ = run_by_time(Schedule("e", "cron(* * * * ? *)", ARN, end_date=utc(2026, 3, 6, 12, 2)), now)
    assert ended == [utc(2026, 3, 6, 12, 1), utc(2026, 3, 6, 12, 2)]
    disabled, clock = run_by_time(Schedule("off", "cron(* * * * ? *)", ARN, enabled=False), now)
    assert disabled == [] and clock.waits == []  # DISABLED never fires by time


def test_a_disabled_schedule_fires_on_demand_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    fired: list[str] = []

    def target(schedule: Schedule) -> str:
        fired.append(schedule.input)
        return "done"

    scheduler = Scheduler(
        [Schedule("tributary-dev-SweepSchedule", "cron(0 3 * * ? *)", ARN, '{"prefix": "incoming/"}', False)],
        target,
        clock=lambda: utc(2026, 11, 24, 7),
    )
    with caplog.at_level(logging.WARNING, logger="tributary.local.delivery.schedules"):
        assert scheduler.fire("SweepSchedule") == "done"
    assert fired == ['{"prefix": "incoming/"}']
    assert scheduler.fired == [("tributary-dev-SweepSchedule", utc(2026, 11, 24, 7))]
    assert "tributary-dev-SweepSchedule is DISABLED" in caplog.text


def test_scheduler_context_attributes_are_replaced_in_the_delivered_input() -> None:
    """The template's sweep schedule passes <aws.scheduler.schedule-arn> as requested_by: the sweep
    records the schedule as the trigger of what it enqueues."""
    schedule = Schedule(
        "tributary-dev-sweep",
        "rate(1 hour)",
        ARN,
        input='{"requested_by": "<aws.scheduler.schedule-arn>", "at": "<aws.scheduler.scheduled-time>",'
        ' "id": "<aws.scheduler.execution-id>", "attempt": "<aws.scheduler.attempt-number>"}',
    )
    delivered = json.loads(
        schedule.delivered_input(region="eu-west-1", account="123456789012", when=utc(2026, 12, 7, 3))
    )
    assert (
        delivered["requested_by"]
        == "arn:aws:scheduler:eu-west-1:123456789012:schedule/default/tributary-dev-sweep"
    )
    assert (delivered["at"], delivered["attempt"]) == ("2026-12-07T03:00:00Z", "1")
    assert len(delivered["id"]) == 16 and "<" not in delivered["id"]
    assert (
        Schedule("plain", "rate(1 hour)", ARN, input='{"prefix": "incoming/"}').delivered_input(
            region="eu-west-1", account="123456789012", when=utc(2026, 12, 7)
        )
        == '{"prefix": "incoming/"}'
    )
