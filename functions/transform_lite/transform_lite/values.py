"""A column's text made a value, as the plan's parse spec says (etl_common/plan.py's docstring is the
reference). Dates are days since 1970-01-01 and timestamps microseconds since 1970-01-01T00:00:00Z,
both proleptic Gregorian, so that years outside 1..9999 can be told apart from invalid text."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from typing import Any

from etl_common.plan import ColumnPlan, DatetimeParse

MICROS_PER_DAY = 86_400_000_000
OUTSIDE = "outside"  # a date/timestamp that parses but lies outside [min, max]


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (any year; year 0 is a leap year)."""
    year -= month <= 2
    era = year // 400  # floor division: no adjustment for negative years
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def civil_from_days(days: int) -> tuple[int, int, int]:
    days += 719_468
    era = days // 146_097
    day_of_era = days - era * 146_097
    year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36524 - day_of_era // 146_096) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    month_part = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * month_part + 2) // 5 + 1
    month = month_part + (3 if month_part < 10 else -9)
    return year_of_era + era * 400 + (month <= 2), month, day


def is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@lru_cache(maxsize=4096)  # a run's rows share few days (the partition value of each row)
def iso_date(days: int) -> str:
    year, month, day = civil_from_days(days)
    return f"{year:04d}-{month:02d}-{day:02d}"


def iso_timestamp(micros: int) -> str:
    days, rest = divmod(micros, MICROS_PER_DAY)
    seconds, fraction = divmod(rest, 1_000_000)
    hour, minute, second = seconds // 3600, seconds // 60 % 60, seconds % 60
    return f"{iso_date(days)}T{hour:02d}:{minute:02d}:{second:02d}.{fraction:06d}"


def _bound(text: str, kind: str) -> int:
    """The plan's min/max of a date (YYYY-MM-DD) or timestamp (YYYY-MM-DDTHH:MM:SS[.ffffff], UTC)."""
    day = days_from_civil(int(text[0:4]), int(text[5:7]), int(text[8:10]))
    if kind == "date":
        return day
    hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
    fraction = int((text[20:] + "000000")[:6]) if len(text) > 19 else 0
    return day * MICROS_PER_DAY + ((hour * 60 + minute) * 60 + second) * 1_000_000 + fraction


Parser = Callable[[str], Any]


FIELDS = ("year", "month", "day", "hour", "minute", "second")


def datetime_parser(spec: DatetimeParse) -> Parser:
    """text -> days (date) / microseconds (timestamp), OUTSIDE, or None (not a valid value)."""
    pattern = re.compile(spec.regex)
    groups = spec.groups
    kind = spec.kind
    low, high = _bound(spec.min, kind), _bound(spec.max, kind)
    digits = spec.fraction_digits
    fraction_scale = 10 ** max(0, 6 - digits)
    defaults = [spec.defaults[name] for name in FIELDS]
    # (position in FIELDS, group number, first, last) of each field the format has
    taken_fields = [
        (position, groups[name], *spec.field_ranges.get(name, (-(10**9), 10**9)))
        for position, name in enumerate(FIELDS)
        if name in groups
    ]
    year_group = groups.get("year")
    year_base = spec.year_base
    fraction_group = groups.get("fraction")
    sign_group, hour_group = groups.get("offset_sign"), groups.get("offset_hour")
    minute_group = groups.get("offset_minute")
    offset_hours = spec.field_ranges["offset_hour"]
    offset_minutes = spec.field_ranges["offset_minute"]
    is_date = kind == "date"
    iso_lengths = frozenset(spec.iso_lengths)
    iso_ranges = [spec.field_ranges[name] for name in FIELDS[1:]]

    def iso_fields(text: str) -> list[int] | None:
        """The fields of a text the plan's hint says is in ISO-8601 layout (YYYY-MM-DD[?HH:MM:SS])."""
        fields = [int(text[0:4]), int(text[5:7]), int(text[8:10])]
        fields += [int(text[11:13]), int(text[14:16]), int(text[17:19])] if len(text) > 10 else [0, 0, 0]
        if all(first <= number <= last for number, (first, last) in zip(fields[1:], iso_ranges, strict=True)):
            return fields
        return None

    def parse(text: str) -> Any:
        match = pattern.fullmatch(text)
        if match is None:
            return None
        if len(text) in iso_lengths:
            taken_iso = iso_fields(text)
            if taken_iso is None:
                return None
            return finish(taken_iso, 0, 0)
        fields = defaults.copy()
        for position, group, first, last in taken_fields:
            taken = match.group(group)
            if taken:
                number = int(taken)
                if group == year_group:
                    number += year_base
                elif not first <= number <= last:
                    return None
                fields[position] = number
        micros = 0
        if fraction_group is not None:
            taken = match.group(fraction_group)
            if taken:
                micros = int((taken + "000000000")[:digits]) * fraction_scale
        shift = 0
        if sign_group is not None and match.group(sign_group):
            hours = int(match.group(hour_group) or 0) if hour_group is not None else 0
            minutes = int(match.group(minute_group) or 0) if minute_group is not None else 0
            if not offset_hours[0] <= hours <= offset_hours[1]:
                return None
            if not offset_minutes[0] <= minutes <= offset_minutes[1]:
                return None
            shift = (hours * 60 + minutes) * 60_000_000 * (1 if match.group(sign_group) == "+" else -1)
        return finish(fields, micros, shift)

    def finish(fields: list[int], micros: int, shift: int) -> Any:
        """The value of valid fields (a day that exists), OUTSIDE or None."""
        year, month, day, hour, minute, second = fields
        if day > DAYS_IN_MONTH[month - 1] + (month == 2 and is_leap(year)):
            return None
        instant = (
            days_from_civil(year, month, day) * MICROS_PER_DAY
            + ((hour * 60 + minute) * 60 + second) * 1_000_000
            + micros
            - shift
        )
        value = instant // MICROS_PER_DAY if is_date else instant
        return value if low <= value <= high else OUTSIDE

    return parse


def value_parser(column: ColumnPlan) -> Parser | None:
    """text (already trimmed when the column says so, never empty) -> value, OUTSIDE or None;
    None for string columns (the text is the value)."""
    spec = column.parse
    if spec.kind == "string":
        return None
    if spec.kind == "integer":
        integer = re.compile(spec.regex)
        low, high = spec.min, spec.max

        def parse_integer(text: str) -> Any:
            if integer.fullmatch(text) is None:
                return None
            number = int(text)
            return number if low <= number <= high else None

        return parse_integer
    if spec.kind == "double":
        double = re.compile(spec.regex)
        return lambda text: float(text) if double.fullmatch(text) else None
    if spec.kind == "decimal":
        decimal = re.compile(spec.regex)
        return lambda text: Decimal(text) if decimal.fullmatch(text) else None
    if spec.kind == "boolean":
        true, false = re.compile(spec.true_regex), re.compile(spec.false_regex)

        def parse_boolean(text: str) -> Any:
            if true.fullmatch(text):
                return True
            return False if false.fullmatch(text) else None

        return parse_boolean
    return datetime_parser(spec)
