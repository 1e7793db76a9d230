"""EventBridge Scheduler's `cron(...)` expressions: parsing and the next fire time, as AWS documents them.

Six fields: minutes hours day-of-month month day-of-week year. One of day-of-month and day-of-week is
`?`. Wildcards: `,` `-` `*` `/` in every field but day-of-week (no `/` there), `?` `L` `W` in
day-of-month, `?` `L` `#` in day-of-week; months JAN-DEC, weekdays 1-7 or SUN-SAT (1 is Sunday);
years 1970-2199. The expression is evaluated in the schedule's time zone: a time that does not exist
there (the hour skipped when clocks go forward) is skipped, and a time that occurs twice (clocks go
back) fires once, at its first occurrence.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MONTH_NAMES = {name.upper(): i for i, name in enumerate(calendar.month_abbr) if name}  # JAN → 1
_WEEKDAY_NAMES = {name: i + 1 for i, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
_CRON = re.compile(r"^cron\((.*)\)$", re.DOTALL)
MIN_YEAR, MAX_YEAR = 1970, 2199


class CronError(ValueError):
    """A cron expression EventBridge Scheduler would reject (ValidationException)."""


@dataclass(frozen=True)
class Cron:
    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    years: frozenset[int]
    days: Callable[[int, int], frozenset[int]]  # (year, month) → days of that month that match

    def fire_times(self, after: dt.datetime, timezone: str = "UTC") -> dt.datetime | None:
        return _next(self, after, zone(timezone))


def zone(name: str) -> dt.tzinfo:
    if name.upper() == "UTC":
        return dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"unknown ScheduleExpressionTimezone {name!r}") from None


def _number(text: str, low: int, high: int, names: dict[str, int], field: str) -> int:
    value = names.get(text.upper()) if names else None
    if value is None:
        if not text.isdigit():
            raise CronError(f"{field}: {text!r} is not a number{' or a name' if names else ''}")
        value = int(text)
    if not low <= value <= high:
        raise CronError(f"{field}: {value} is outside {low}-{high}")
    return value


def _values(
    text: str, low: int, high: int, field: str, names: dict[str, int], step_ok: bool = True
) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise CronError(f"{field}: empty item in {text!r}")
        base, slash, step_text = item.partition("/")
        if slash and not step_ok:
            raise CronError(f"{field}: '/' is not allowed")
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start = _number(first, low, high, names, field)
            end = _number(last, low, high, names, field)
            if start > end:
                raise CronError(f"{field}: range {base!r} ends before it starts")
        else:
            start = _number(base, low, high, names, field)
            end = high if slash else start  # 5/15: from 5, every 15
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{field}: step {step_text!r} is not a positive number")
            step = int(step_text)
        values.update(range(start, end + 1, step))
    return values


def _weekday(year: int, month: int, day: int) -> int:
    """1 = Sunday ... 7 = Saturday, as in the expression."""
    return (dt.date(year, month, day).weekday() + 1) % 7 + 1


def _nearest_weekday(year: int, month: int, day: int) -> int | None:
    last = calendar.monthrange(year, month)[1]
    if day > last:
        return None
    weekday = dt.date(year, month, day).weekday()  # Monday 0 ... Sunday 6
    if weekday == 5:  # Saturday: the Friday before, or the Monday after when that is in another month
        return day - 1 if day > 1 else day + 2
    if weekday == 6:  # Sunday: the Monday after, or the Friday before when that is in another month
        return day + 1 if day < last else day - 2
    return day


def _day_of_month(text: str) -> Callable[[int, int], frozenset[int]]:
    field = "day-of-month"
    plain: set[int] = set()
    last = last_weekday = False
    nearest: set[int] = set()
    for item in text.split(","):
        upper = item.upper()
        if upper == "L":
            last = True
        elif upper == "LW":
            last_weekday = True
        elif upper.endswith("W"):
            nearest.add(_number(upper[:-1], 1, 31, {}, field))
        else:
            plain |= _values(item, 1, 31, field, {})

    def days(year: int, month: int) -> frozenset[int]:
        length = calendar.monthrange(year, month)[1]
        found = {day for day in plain if day <= length}
        if last:
            found.add(length)
        if last_weekday:
            day = _nearest_weekday(year, month, length)
            assert day is not None
            found.add(day)
        for wanted in nearest:
            day = _nearest_weekday(year, month, wanted)
            if day is not None:
                found.add(day)
        return frozenset(found)

    return days


def _day_of_week(text: str) -> Callable[[int, int], frozenset[int]]:
    field = "day-of-week"
    weekdays: set[int] = set()
    last_of: set[int] = set()  # 6L: the last Friday of the month
    nth: set[tuple[int, int]] = set()  # 2#1: the first Monday of the month
    for item in text.split(","):
        upper = item.upper()
        if upper == "L":
            weekdays.add(7)  # the last day of the week: Saturday
        elif "#" in upper:
            day, _, which = upper.partition("#")
            if not which.isdigit() or not 1 <= int(which) <= 5:
                raise CronError(f"{field}: {item!r}: the number after '#' is 1-5")
            nth.add((_number(day, 1, 7, _WEEKDAY_NAMES, field), int(which)))
        elif upper.endswith("L"):
            last_of.add(_number(upper[:-1], 1, 7, _WEEKDAY_NAMES, field))
        else:
            weekdays |= _values(item, 1, 7, field, _WEEKDAY_NAMES, step_ok=False)

    def days(year: int, month: int) -> frozenset[int]:
        length = calendar.monthrange(year, month)[1]
        found = set()
        for day in range(1, length + 1):
            weekday = _weekday(year, month, day)
            if weekday in weekdays:
                found.add(day)
            if weekday in last_of and day + 7 > length:
                found.add(day)
            if (weekday, (day - 1) // 7 + 1) in nth:
                found.add(day)
        return frozenset(found)

    return days


@lru_cache(maxsize=256)
def parse(expression: str) -> Cron:
    """The parsed `cron(...)` expression; CronError says what is wrong with it."""
    match = _CRON.match(expression.strip())
    if not match:
        raise CronError(f"{expression!r} is not a cron(...) expression")
    fields = match.group(1).split()
    if len(fields) != 6:
        raise CronError(
            f"{len(fields)} fields; cron takes six: minutes hours day-of-month month day-of-week year"
        )
    minutes, hours, day_of_month, month, day_of_week, year = fields
    if (day_of_month == "?") == (day_of_week == "?"):
        raise CronError("one of day-of-month and day-of-week must be '?' (and only one)")
    days = _day_of_week(day_of_week) if day_of_month == "?" else _day_of_month(day_of_month)
    return Cron(
        expression=expression,
        minutes=frozenset(_values(minutes, 0, 59, "minutes", {})),
        hours=frozenset(_values(hours, 0, 23, "hours", {})),
        months=frozenset(_values(month, 1, 12, "month", _MONTH_NAMES)),
        years=frozenset(_values(year, MIN_YEAR, MAX_YEAR, "year", {})),
        days=lru_cache(maxsize=64)(days),
    )


def _exists(local: dt.datetime) -> bool:
    """False for a wall-clock time skipped when the clocks go forward."""
    back = local.astimezone(dt.UTC).astimezone(local.tzinfo)
    return back.replace(tzinfo=None) == local.replace(tzinfo=None, fold=0)


def _next(cron: Cron, after: dt.datetime, tz: dt.tzinfo) -> dt.datetime | None:
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    start = after.astimezone(tz).replace(second=0, microsecond=0, fold=0)
    start_date = start.date()
    for year in sorted(y for y in cron.years if y >= start.year):
        for month in sorted(cron.months):
            if (year, month) < (start.year, start.month):
                continue
            for day in sorted(cron.days(year, month)):
                if dt.date(year, month, day) < start_date:
                    continue
                for hour in sorted(cron.hours):
                    for minute in sorted(cron.minutes):
                        local = dt.datetime(year, month, day, hour, minute, tzinfo=tz)  # fold=0: first
                        if local.replace(tzinfo=None) < start.replace(tzinfo=None) or not _exists(local):
                            continue
                        fire = local.astimezone(dt.UTC)
                        if fire > after:
                            return fire
    return None


def next_fire_time(expression: str, after: dt.datetime, timezone: str = "UTC") -> dt.datetime | None:
    """The first time (UTC) strictly after `after` at which `cron(...)` fires, evaluated in `timezone`
    (an IANA name, as ScheduleExpressionTimezone); None when it never fires again (years end at 2199)."""
    return parse(expression).fire_times(after, timezone)
