"""The plan's per-row work: records split into column texts, texts made values, checks run in the
plan's order. `unique` needs the whole run and is applied later (see convert.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
from etl_common.plan import CheckPlan, ColumnPlan, TransformPlan

from transform_lite.csv_fields import CsvSplitter
from transform_lite.java_regex import java_pattern
from transform_lite.json_values import record_fields
from transform_lite.sources import Record
from transform_lite.values import MICROS_PER_DAY, OUTSIDE, iso_date, iso_timestamp, value_parser

MAX_QUOTED_CHARS = 200

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "date32": pa.date32(),
    "timestamp[us, tz=UTC]": pa.timestamp("us", tz="UTC"),
}


def arrow_type(name: str) -> pa.DataType:
    if name in ARROW_TYPES:
        return ARROW_TYPES[name]
    if name.startswith("decimal128(") and name.endswith(")"):
        precision, scale = (int(part) for part in name[len("decimal128(") : -1].split(","))
        return pa.decimal128(precision, scale)
    raise ValueError(f"the plan names an Arrow type this executor does not know: {name!r}")


Reason = dict[str, Any]
# (texts, values, outside flags) -> reason or None
RowCheck = Callable[[list[str | None], list[Any], list[bool]], Reason | None]


def _reason(check: CheckPlan, message: str) -> Reason:
    return {"column": check.column, "rule": check.rule, "message": message}


def _typed_set(column: ColumnPlan, values: Sequence[Any]) -> set[Any]:
    if column.type == "date":
        return {str(value) for value in values}
    if column.type == "timestamp":
        return {str(value) for value in values}
    if column.type.startswith("decimal"):
        return {Decimal(str(value)) for value in values}
    if column.type == "double":
        return {float(value) for value in values}
    return set(values)


def row_check(check: CheckPlan, index: int, column: ColumnPlan) -> RowCheck:
    """One of the plan's checks (not unique) on the column at `index`."""
    rule = check.rule
    if rule == "type":
        message, outside = check.message, check.outside_message or check.message

        def type_check(texts: list[str | None], values: list[Any], outsides: list[bool]) -> Reason | None:
            text = texts[index]
            if text is None or values[index] is not None:
                return None
            said = outside if outsides[index] else message
            return _reason(check, f"'{text[:MAX_QUOTED_CHARS]}' {said}" if check.quote_value else said)

        return type_check
    if rule in ("required", "not_null", "partition"):
        fixed = _reason(check, check.message)
        return lambda texts, values, outsides: fixed if texts[index] is None else None
    if rule in ("min", "max"):
        exact = Decimal(str(check.bound))
        bound: Any = float(exact) if column.type == "double" else exact
        below = rule == "min"
        fixed = _reason(check, check.message)

        def bound_check(texts: list[str | None], values: list[Any], outsides: list[bool]) -> Reason | None:
            value = values[index]
            if value is None:
                return None
            return fixed if (value < bound if below else value > bound) else None

        return bound_check
    if rule == "allowed_values":
        allowed = _typed_set(column, check.values or [])
        fixed = _reason(check, check.message)
        converters: dict[str, Callable[[Any], Any]] = {"date": iso_date, "timestamp": iso_timestamp}
        as_text: Callable[[Any], Any] = converters.get(column.type, lambda value: value)

        def allowed_check(texts: list[str | None], values: list[Any], outsides: list[bool]) -> Reason | None:
            value = values[index]
            return fixed if value is not None and as_text(value) not in allowed else None

        return allowed_check
    if rule == "regex":
        pattern = java_pattern(str(check.pattern))
        fixed = _reason(check, check.message)

        def regex_check(texts: list[str | None], values: list[Any], outsides: list[bool]) -> Reason | None:
            text = texts[index]
            return fixed if values[index] is not None and pattern.search(text or "") is None else None

        return regex_check
    raise ValueError(f"the plan has a check this executor does not know: {rule!r}")


@dataclass
class CheckedBatch:
    """Records of one object, checked row by row (unique aside), with their typed values."""

    object_index: int
    line_numbers: list[int | None] = field(default_factory=list)
    record_numbers: list[int | None] = field(default_factory=list)
    raws: list[str] = field(default_factory=list)
    malformed: list[bool] = field(default_factory=list)
    reasons: list[list[Reason]] = field(default_factory=list)
    partition_values: list[str | None] = field(default_factory=list)
    values: list[list[Any]] = field(default_factory=list)  # per column


class RowChecker:
    def __init__(self, plan: TransformPlan, ingest_ts: datetime) -> None:
        self.plan = plan
        self.columns = plan.columns
        self.names = [column.name for column in plan.columns]
        self.parsers = [value_parser(column) for column in plan.columns]
        self.trims = [column.trim for column in plan.columns]
        position = {name: index for index, name in enumerate(self.names)}
        self.checks = [
            row_check(check, position[str(check.column)], plan.column(str(check.column)))
            for check in plan.checks
            if check.rule != "unique"
        ]
        self.format_reason = {"column": None, "rule": plan.malformed.rule}
        self.messages = plan.malformed.messages
        self.splitter = CsvSplitter(plan.csv.delimiter, plan.csv.quote, plan.csv.escape) if plan.csv else None
        from transform_lite.sources import CsvQuotes

        self.quotes = CsvQuotes.of(plan.csv.delimiter, plan.csv.quote, plan.csv.escape) if plan.csv else None
        partition = plan.partition
        self.ingest_partition = (
            ingest_ts.strftime("%Y-%m-%d") if partition.source_kind == "ingest_date" else None
        )
        if partition.source_kind == "column":
            self.partition_index = position[partition.source]
            self.partition_is_date = plan.column(partition.source).type == "date"

    def texts(self, raw: str, malformed_file: bool) -> tuple[list[str | None] | None, str | None]:
        """The column texts of a record, or None and the malformed message."""
        if malformed_file:
            return None, self.messages["json_file"]
        if self.splitter is not None:
            fields = self.splitter.split(raw)
            if len(fields) == len(self.names):
                return fields, None
            assert self.quotes is not None
            key = "csv_unclosed_quote" if self.quotes.unclosed(raw) else "csv_field_count"
            return None, self.messages[key]
        found, reason = record_fields(raw, self.names)
        if found is not None:
            return [found[name] for name in self.names], None
        key, _, keys = str(reason).partition(":")
        return None, self.messages[key] + keys

    def check(self, object_index: int, records: Sequence[Record]) -> CheckedBatch:
        batch = CheckedBatch(object_index, values=[[] for _ in self.names])
        parsers, trims, checks = self.parsers, self.trims, self.checks
        count = len(self.names)
        for line_number, record_number, raw, malformed_file in records:
            batch.line_numbers.append(line_number)
            batch.record_numbers.append(record_number)
            batch.raws.append(raw)
            texts, problem = self.texts(raw, malformed_file)
            if texts is None:
                batch.malformed.append(True)
                batch.reasons.append([{**self.format_reason, "message": problem}])
                batch.partition_values.append(None)
                for column_values in batch.values:
                    column_values.append(None)
                continue
            values: list[Any] = [None] * count
            outsides = [False] * count
            for index in range(count):
                text = texts[index]
                if text is None:
                    continue
                parser = parsers[index]
                if parser is None:
                    values[index] = text
                    continue
                if trims[index]:
                    text = text.strip(" ")
                if not text:
                    continue
                value = parser(text)
                if value is OUTSIDE:
                    outsides[index] = True
                elif value is not None:
                    values[index] = value
            reasons = []
            for row_check_ in checks:
                reason = row_check_(texts, values, outsides)
                if reason is not None:
                    reasons.append(reason)
            batch.malformed.append(False)
            batch.reasons.append(reasons)
            batch.partition_values.append(self.partition_of(values))
            for index in range(count):
                batch.values[index].append(values[index])
        return batch

    def partition_of(self, values: list[Any]) -> str | None:
        if self.ingest_partition is not None:
            return self.ingest_partition
        value = values[self.partition_index]
        if value is None:
            return None
        return iso_date(value if self.partition_is_date else value // MICROS_PER_DAY)
