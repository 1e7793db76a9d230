"""The transform plan: every contract compiles, and the plan alone decides a row's fate."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "functions" / "common"))

from etl_common.contracts import Contract, ContractError, load_contract_file, parse_contract  # noqa: E402
from etl_common.plan import (  # noqa: E402
    DatetimeFormatError,
    DatetimeParse,
    TransformPlan,
    compile_datetime_format,
    compile_plan,
    contract_sha256,
    decimal_regex,
)
from etl_common.references import read_local_references  # noqa: E402

CONTRACTS = sorted((REPO / "contracts").glob("*.yaml"))


def contract(columns: list[dict[str, Any]], **extra: Any) -> Contract:
    document = {
        "dataset": "orders",
        "format": "csv",
        "columns": columns,
        "partitioning": {"column": "order_date", "source": "ingest_date"},
        **extra,
    }
    return parse_contract(yaml.safe_dump(document), "orders.yaml")


def every_regex(plan: dict[str, Any]) -> list[str]:
    found = []
    for column in plan["columns"]:
        parse = column["parse"]
        found += [parse[key] for key in ("regex", "true_regex", "false_regex") if key in parse]
    return found


# ------------------------------------------------------------------ a reference reading of the plan


def datetime_value(parse: dict[str, Any], text: str) -> tuple[str, Any]:
    """What the plan says a date/timestamp text is: ("ok", value), ("invalid", None) or ("outside", None).
    Written from the plan's documented semantics only (plan.py's docstring), as an executor would."""
    match = re.fullmatch(parse["regex"], text)
    if match is None:
        return "invalid", None
    groups = parse["groups"]

    def field(name: str) -> str:
        number = groups.get(name)
        return (match.group(number) or "") if number else ""

    values = {}
    for name in ("year", "month", "day", "hour", "minute", "second"):
        raw = field(name)
        values[name] = int(raw) if raw else parse["defaults"][name]
    if field("year"):
        values["year"] += parse["year_base"]
    digits = field("fraction")[: parse["fraction_digits"]]
    micros = int(digits.ljust(parse["fraction_digits"], "0")) if digits else 0
    offset_hour, offset_minute = int(field("offset_hour") or 0), int(field("offset_minute") or 0)
    for name, (low, high) in parse["field_ranges"].items():
        value = {"offset_hour": offset_hour, "offset_minute": offset_minute}.get(name, values.get(name))
        if not low <= value <= high:
            return "invalid", None
    year = values["year"]
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)  # proleptic: year 0 is leap
    days = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][values["month"] - 1]
    if values["day"] > days:
        return "invalid", None
    offset = (offset_hour * 60 + offset_minute) * (-1 if field("offset_sign") == "-" else 1)
    # Shift the year into Python's range by whole 400-year cycles (same calendar), then back.
    cycles = (year - 2000) // 400
    local = datetime(year - cycles * 400, values["month"], values["day"], values["hour"], values["minute"])
    moment = local + timedelta(seconds=values["second"], microseconds=micros) - timedelta(minutes=offset)
    utc_year = moment.year + cycles * 400
    if not 1 <= utc_year <= 9999:
        return "outside", None
    moment = moment.replace(year=utc_year, tzinfo=UTC)
    return "ok", moment.date() if parse["kind"] == "date" else moment


# ------------------------------------------------------------------------------------ contracts


@pytest.mark.parametrize("path", CONTRACTS, ids=lambda path: path.stem)
def test_every_shipped_contract_compiles_to_a_plan_that_reads_back_equal(path: Path) -> None:
    source = load_contract_file(path)
    # The demo's reference files (events/reference/) stand for the ones validate reads from S3.
    plan = compile_plan(source, read_local_references(source, REPO / "events"))
    document = json.loads(json.dumps(plan.model_dump(mode="json")))
    assert TransformPlan.model_validate(document) == plan
    assert document["plan_version"] == 1 and document["dataset"] == source.dataset
    assert document["contract_sha256"] == contract_sha256(source)
    assert [c["name"] for c in document["columns"]] == source.column_names
    names = [c["name"] for c in document["output_columns"]]
    part = source.partitioning.column
    tail = ["source_object_key", "source_object_version", "ingested_at", part, "run_id"]
    assert names == [*source.column_names, *tail]
    for regex in every_regex(document):
        re.compile(regex)
        # only syntax Java and Python read alike
        assert not re.search(r"\\[dDwWsShHzZAGRX]|\(\?P|\(\?<|\(\?[imsux]|[*+?}]\+", regex), regex


def test_orders_plan_orders_its_checks_as_the_rows_reasons_are_listed() -> None:
    plan = compile_plan(load_contract_file(REPO / "contracts" / "orders.yaml"))
    checks = [(check.rule, check.column) for check in plan.checks]
    assert checks == [
        ("required", "order_id"),
        ("required", "customer_id"),
        ("type", "amount"),
        ("required", "amount"),
        ("type", "quantity"),
        ("required", "quantity"),
        ("required", "status"),
        ("type", "ordered_at"),
        ("required", "ordered_at"),
        ("regex", "order_id"),
        ("not_null", "customer_id"),
        ("min", "amount"),
        ("max", "amount"),
        ("min", "quantity"),
        ("allowed_values", "status"),
        ("unique", "order_id"),
    ]
    by_rule = {(check.rule, check.column): check for check in plan.checks}
    assert by_rule[("min", "amount")].bound == "0" and by_rule[("max", "amount")].bound == "100000"
    assert by_rule[("min", "amount")].message == "value is below the minimum 0.0"
    assert by_rule[("type", "ordered_at")].message == "is not a valid timestamp (yyyy-MM-dd HH:mm:ss)"
    assert by_rule[("allowed_values", "status")].values == ["NEW", "PAID", "SHIPPED", "CANCELLED"]
    assert plan.partition.model_dump() == {
        "column": "order_date",
        "source": "ordered_at",
        "source_kind": "column",
        "value_format": "yyyy-MM-dd",
    }
    assert [(rule.rule, rule.column) for rule in plan.rules][-1] == ("allowed_values", "status")
    assert plan.malformed.messages["csv_field_count"] == "malformed CSV record: expected 6 fields"


def test_a_repeated_unique_rule_is_one_check_and_one_counted_rule() -> None:
    rules = [{"column": "id", "rule": "unique"}, {"column": "id", "rule": "unique"}]
    plan = compile_plan(contract([{"name": "id", "type": "string"}], quality={"rules": rules}))
    assert [check.rule for check in plan.checks] == ["unique"]
    assert [rule.rule for rule in plan.rules] == ["unique"]


def test_output_types_are_the_arrow_types_the_parquet_files_hold() -> None:
    columns = [
        {"name": "s", "type": "string"},
        {"name": "i", "type": "int"},
        {"name": "b", "type": "bigint"},
        {"name": "d", "type": "double"},
        {"name": "f", "type": "boolean"},
        {"name": "day", "type": "date"},
        {"name": "at", "type": "timestamp"},
        {"name": "m", "type": "decimal(38, 9)"},
    ]
    plan = compile_plan(contract(columns))
    assert {c.name: c.arrow for c in plan.output_columns} == {
        "s": "string",
        "i": "int32",
        "b": "int64",
        "d": "float64",
        "f": "bool",
        "day": "date32",
        "at": "timestamp[us, tz=UTC]",
        "m": "decimal128(38, 9)",
        "source_object_key": "string",
        "source_object_version": "string",
        "ingested_at": "timestamp[us, tz=UTC]",
        "order_date": "string",
        "run_id": "string",
    }
    assert [c.name for c in plan.output_columns if c.in_path] == ["order_date", "run_id"]


# ---------------------------------------------------------------------------------- column names


def test_a_column_named_id_with_one_underscore_goes_through_the_plan() -> None:
    source = contract(
        [{"name": "_id", "type": "bigint", "nullable": False}, {"name": "_at", "type": "date"}],
        partitioning={"column": "_day", "source": "_at"},
        quality={
            "rules": [{"column": "_id", "rule": "unique"}, {"column": "_id", "rule": "min", "value": 1}]
        },
    )
    plan = compile_plan(source)
    assert [c.name for c in plan.columns] == ["_id", "_at"]
    assert ("unique", "_id") in [(c.rule, c.column) for c in plan.checks]
    assert plan.partition.column == "_day" and plan.partition.source == "_at"
    assert [c.name for c in plan.output_columns][:2] == ["_id", "_at"]


@pytest.mark.parametrize(
    "change",
    [
        {"columns": [{"name": "__id", "type": "string"}]},
        {"partitioning": {"column": "__day", "source": "ingest_date"}},
    ],
)
def test_names_starting_with_two_underscores_are_reserved_for_the_executors(change: dict[str, Any]) -> None:
    document = {"columns": [{"name": "id", "type": "string"}], **change}
    with pytest.raises(ContractError, match="names starting with '__' are reserved for the executors"):
        contract(**document)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ datetime formats


@pytest.mark.parametrize(
    ("pattern", "regex", "matches", "refuses"),
    [
        (
            "yyyy-MM-dd",
            r"^([0-9]{4}|-[0-9]{4,9}|\+[0-9]{5,9})-([0-9]{2})-([0-9]{2})$",
            ["2026-11-24", "0000-12-31", "-0001-01-01", "+10000-01-01"],
            ["2026-1-24", "10000-01-01", "+2026-11-24", "2026/11/24", " 2026-11-24", "2026-11-24\n"],
        ),
        (
            "yy/M/d",
            r"^([0-9]{2})/([0-9]{1,2})/([0-9]{1,2})$",
            ["26/1/5", "26/11/24"],
            ["2026/1/5", "26/123/1"],
        ),
        ("y.M", r"^(-?[0-9]{1,9})\.([0-9]{1,2})$", ["7.3", "-44.3", "2026.12"], ["+7.3", "7x3"]),
        (
            "yyyyMMddHHmmss",
            r"^([0-9]{4}|-[0-9]{4,9}|\+[0-9]{5,9})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})$",
            ["20261124101500"],
            ["2026112410150"],
        ),
        (
            "dd.MM.yyyy H:mm",
            r"^([0-9]{2})\.([0-9]{2})\.([0-9]{4}|-[0-9]{4,9}|\+[0-9]{5,9}) ([0-9]{1,2}):([0-9]{2})$",
            ["24.11.2026 9:05", "24.11.2026 19:05"],
            ["24-11-2026 9:05", "24.11.2026 9:5"],
        ),
        (
            "yyyy-MM-dd'T'HH:mm:ss.SSSSSS",
            r"^([0-9]{4}|-[0-9]{4,9}|\+[0-9]{5,9})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
            r"\.([0-9]{1,6})$",
            ["2026-11-24T10:15:00.5", "2026-11-24T10:15:00.123456"],
            ["2026-11-24T10:15:00", "2026-11-24T10:15:00.1234567", "2026-11-24t10:15:00.5"],
        ),
        (
            "HH:mm[:ss[.SSS]]",
            r"^([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,3}))?)?$",
            ["10:15", "10:15:30", "10:15:30.1"],
            ["10:15:", "10:15.1", "10"],
        ),
        (
            "yyyy-MM-dd HH:mmX",
            None,
            ["2026-11-24 10:15Z", "2026-11-24 10:15+01", "2026-11-24 10:15-0130"],
            ["2026-11-24 10:15+01:30", "2026-11-24 10:15z"],
        ),
        ("yyyy-MM-dd HH:mmXX", None, ["2026-11-24 10:15Z", "2026-11-24 10:15+0130"], ["2026-11-24 10:15+01"]),
        (
            "yyyy-MM-dd HH:mmXXX",
            None,
            ["2026-11-24 10:15Z", "2026-11-24 10:15-01:30"],
            ["2026-11-24 10:15+0130"],
        ),
        ("yyyy-MM-dd HH:mmx", None, ["2026-11-24 10:15+01", "2026-11-24 10:15+0130"], ["2026-11-24 10:15Z"]),
        ("yyyy-MM-dd HH:mmxx", None, ["2026-11-24 10:15+0000"], ["2026-11-24 10:15Z", "2026-11-24 10:15+00"]),
        ("yyyy-MM-dd HH:mmxxx", None, ["2026-11-24 10:15+00:00"], ["2026-11-24 10:15Z"]),
        (
            "yyyy-MM-dd HH:mm Z",
            None,
            ["2026-11-24 10:15 +0100"],
            ["2026-11-24 10:15 Z", "2026-11-24 10:15 +01"],
        ),
        (
            "yyyy-MM-dd'T'HH:mm:ss[.SSS]XXX",
            None,
            ["2026-11-24T10:15:00Z", "2026-11-24T10:15:00.25+01:00"],
            ["2026-11-24T10:15:00"],
        ),
        ("'at' HH 'o''clock' ''", r"^at ([0-9]{2}) o'clock '$", ["at 10 o'clock '"], ["at 10 oclock '"]),
        (
            "yyyy (MM) [dd]",
            r"^([0-9]{4}|-[0-9]{4,9}|\+[0-9]{5,9}) \(([0-9]{2})\) (?:([0-9]{2}))?$",
            ["2026 (11) 24", "2026 (11) "],
            ["2026 11 24"],
        ),
        ("yyyy.MM.dd|HH*mm", None, ["2026.11.24|10*15"], ["2026x11x24|10*15", "2026.11.24|10015"]),
    ],
)
def test_each_datetime_pattern_form_compiles_to_its_regex(
    pattern: str, regex: str | None, matches: list[str], refuses: list[str]
) -> None:
    compiled = compile_datetime_format(pattern)
    if regex is not None:
        assert compiled.regex == regex
    for text in matches:
        assert re.fullmatch(compiled.regex, text), text
    for text in refuses:
        assert re.fullmatch(compiled.regex, text) is None, text


def test_the_group_map_names_every_field_and_the_offset_parts() -> None:
    compiled = compile_datetime_format("dd/MM/yy HH:mm:ss.SSS xxx")
    assert compiled.groups == {
        "day": 1,
        "month": 2,
        "year": 3,
        "hour": 4,
        "minute": 5,
        "second": 6,
        "fraction": 7,
        "offset_sign": 8,
        "offset_hour": 9,
        "offset_minute": 10,
    }
    assert compiled.year_base == 2000
    match = re.fullmatch(compiled.regex, "24/11/26 10:15:30.250 -01:30")
    assert match is not None
    assert match.groups() == ("24", "11", "26", "10", "15", "30", "250", "-", "01", "30")


@pytest.mark.parametrize(
    ("pattern", "letter"),
    [
        ("yyyy-MM-dd hh:mm", "'h'"),
        ("yyyy-MM-dd HH:mm a", "'a'"),
        ("EEE, dd MMM yyyy", "'E'"),
        ("yyyy-MM-ddTHH:mm", "'T'"),
        ("yyyy-DDD", "'D'"),
        ("uuuu-MM-dd", "'u'"),
        ("yyyy-MM-dd VV", "'V'"),
        ("yyyy-MM-dd z", "'z'"),
        ("dd MMM yyyy", "'M' (3)"),
        ("yyyyyyy-MM-dd", "'y' (7)"),
        ("HH:mm:ss.SSSSSSSSSS", "'S' (10)"),
        ("yyyy-MM-dd XXXX", "'X' 4 times"),
        ("yyyy-MM-dd HH:mm ZZZZ", "'Z' 4 times"),
        ("yyyy-MM-dd #", "'#'"),
    ],
)
def test_an_unsupported_letter_is_a_contract_error_naming_the_column_and_the_letter(
    pattern: str, letter: str, tmp_path: Path
) -> None:
    with pytest.raises(DatetimeFormatError, match=re.escape(letter)):
        compile_datetime_format(pattern)
    columns = [
        {"name": "id", "type": "string"},
        {"name": "placed_at", "type": "timestamp", "format": pattern},
    ]
    with pytest.raises(ContractError) as raised:
        contract(columns)
    assert "columns.1" in str(raised.value) and "'placed_at'" in str(raised.value)
    assert re.escape(letter).replace("\\", "") in str(raised.value)
    path = tmp_path / "orders.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "dataset": "orders",
                "format": "csv",
                "columns": columns,
                "partitioning": {"column": "order_date", "source": "ingest_date"},
            }
        )
    )
    completed = subprocess.run(
        [sys.executable, "-m", "etl_common.contracts", "check", str(path)],
        env={"PYTHONPATH": str(REPO / "functions" / "common"), "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 1
    assert "placed_at" in completed.stderr and letter in completed.stderr


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("yyyy-MM-dd'T", "quoted literal is not closed"),
        ("yyyy-MM-dd[ HH:mm", "optional section '[' is not closed"),
        ("yyyy-MM-dd] HH:mm", "closes no optional section"),
        ("yyyy-MM-dd yyyy", "the year appears twice"),
        ("'literal only'", "no date or time field"),
    ],
)
def test_a_malformed_pattern_is_a_contract_error(pattern: str, problem: str) -> None:
    with pytest.raises(ContractError, match=re.escape(problem)):
        contract([{"name": "at", "type": "date", "format": pattern}])


# ---------------------------------------------------------------- values built from the groups


def parse_of(column: dict[str, Any]) -> dict[str, Any]:
    plan = compile_plan(contract([column]))
    parse = plan.columns[0].parse
    assert isinstance(parse, DatetimeParse)
    return parse.model_dump(mode="json")


@pytest.mark.parametrize(
    ("column", "text", "expected"),
    [
        ({"type": "date"}, "2026-11-24", ("ok", date(2026, 11, 24))),
        ({"type": "date"}, "2024-02-29", ("ok", date(2024, 2, 29))),
        ({"type": "date"}, "2026-02-29", ("invalid", None)),
        ({"type": "date"}, "2026-13-01", ("invalid", None)),
        ({"type": "date"}, "0000-12-31", ("outside", None)),
        ({"type": "date"}, "0000-02-29", ("outside", None)),  # a real day of year 0, a leap year
        ({"type": "date"}, "-0001-01-01", ("outside", None)),
        ({"type": "date"}, "+10000-01-01", ("outside", None)),
        ({"type": "date"}, "10000-01-01", ("invalid", None)),
        ({"type": "date", "format": "dd/MM/yy"}, "24/11/26", ("ok", date(2026, 11, 24))),
        (
            {"type": "date", "format": "yyyy-MM-dd HH:mmXXX"},
            "2026-11-24 23:30-01:00",
            ("ok", date(2026, 11, 25)),  # the UTC date of the instant
        ),
        (
            {"type": "timestamp", "format": "yyyy-MM-dd HH:mm:ss"},
            "2026-11-24 10:15:00",
            ("ok", datetime(2026, 11, 24, 10, 15, tzinfo=UTC)),
        ),
        ({"type": "timestamp", "format": "yyyy-MM-dd HH:mm:ss"}, "2026-11-24 24:00:00", ("invalid", None)),
        ({"type": "timestamp", "format": "yyyy-MM-dd HH:mm:ss"}, "2026-11-24 10:60:00", ("invalid", None)),
        (
            {"type": "timestamp", "format": "yyyy-MM-dd HH:mm:ss.SSSSSSSSS"},
            "2026-11-24 10:15:00.123456789",
            ("ok", datetime(2026, 11, 24, 10, 15, 0, 123456, tzinfo=UTC)),  # truncated, not rounded
        ),
        (
            {"type": "timestamp", "format": "HH:mm"},
            "10:15",
            ("ok", datetime(1970, 1, 1, 10, 15, tzinfo=UTC)),  # missing fields take the defaults
        ),
        ({"type": "timestamp", "format": "yyyy-MM-dd HH:mmXXX"}, "2026-11-24 10:15+19:00", ("invalid", None)),
        # the ISO-8601 family of timestamps without a format
        ({"type": "timestamp"}, "2026-11-24", ("ok", datetime(2026, 11, 24, tzinfo=UTC))),
        ({"type": "timestamp"}, "2026-11-24T10:15", ("ok", datetime(2026, 11, 24, 10, 15, tzinfo=UTC))),
        (
            {"type": "timestamp"},
            "2026-11-24 10:15:30",
            ("ok", datetime(2026, 11, 24, 10, 15, 30, tzinfo=UTC)),
        ),
        (
            {"type": "timestamp"},
            "2026-11-24T10:15:30.5+01:30",
            ("ok", datetime(2026, 11, 24, 8, 45, 30, 500000, tzinfo=UTC)),
        ),
        (
            {"type": "timestamp"},
            "2026-11-24T10:15:30-0100",
            ("ok", datetime(2026, 11, 24, 11, 15, 30, tzinfo=UTC)),
        ),
        (
            {"type": "timestamp"},
            "2026-11-24T10:15:30+01",
            ("ok", datetime(2026, 11, 24, 9, 15, 30, tzinfo=UTC)),
        ),
        ({"type": "timestamp"}, "0001-01-01T00:00:00Z", ("ok", datetime(1, 1, 1, tzinfo=UTC))),
        (
            {"type": "timestamp"},
            "9999-12-31T23:59:59.999999Z",
            ("ok", datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        ),
        ({"type": "timestamp"}, "9999-12-31T23:59:59-01:00", ("outside", None)),  # year 10000 in UTC
        ({"type": "timestamp"}, "0001-01-01T00:30:00+01:00", ("outside", None)),  # year 0 in UTC
        ({"type": "timestamp"}, "+10000-01-01T00:00:00", ("outside", None)),
        ({"type": "timestamp"}, "10000-01-01T00:00:00", ("outside", None)),
        ({"type": "timestamp"}, "2026-1-5", ("invalid", None)),
        ({"type": "timestamp"}, "2026-11-24T10:15:30 UTC", ("invalid", None)),
        ({"type": "timestamp"}, "2026-11-24t10:15:30", ("invalid", None)),
        ({"type": "timestamp"}, "20261124", ("invalid", None)),
    ],
)
def test_the_plan_says_what_a_date_or_timestamp_text_is(
    column: dict[str, Any], text: str, expected: tuple[str, Any]
) -> None:
    assert datetime_value(parse_of({"name": "at", **column}), text) == expected


def test_the_outside_message_is_today_s_and_the_default_description_names_no_format() -> None:
    plan = compile_plan(contract([{"name": "day", "type": "date"}, {"name": "at", "type": "timestamp"}]))
    day, at = plan.checks
    assert (day.message, at.message) == ("is not a valid date", "is not a valid timestamp")
    assert day.outside_message == "is outside the date range 0001-01-01 to 9999-12-31 (UTC)"
    assert (
        at.outside_message
        == "is outside the timestamp range 0001-01-01 00:00:00 to 9999-12-31 23:59:59 (UTC)"
    )
    assert day.quote_value and at.quote_value


# ------------------------------------------------------------------------ numbers and booleans


@given(
    precision=st.integers(1, 38),
    data=st.data(),
)
def test_the_decimal_regex_accepts_exactly_what_fits_without_rounding(precision: int, data: Any) -> None:
    scale = data.draw(st.integers(0, precision))
    integer = data.draw(st.text("0123456789", max_size=precision + 2))
    fraction = data.draw(st.none() | st.text("0123456789", max_size=scale + 2))
    sign = data.draw(st.sampled_from(["", "+", "-"]))
    text = sign + integer + ("" if fraction is None else "." + fraction)
    digits_ok = bool(integer or fraction)
    if digits_ok:
        significant = len(integer.lstrip("0"))
        fits = significant <= precision - scale and len(fraction or "") <= scale
        fits = fits and (fraction is None or scale > 0 or fraction == "")
        fits = fits and not (precision == scale and significant == 0 and not integer and not fraction)
    else:
        fits = False
    matched = re.fullmatch(decimal_regex(precision, scale), text) is not None
    assert matched == fits, text
    if matched:
        with localcontext(prec=80):
            value = Decimal(text)
            assert value == value.quantize(Decimal(1).scaleb(-scale))  # nothing to round


@pytest.mark.parametrize(
    ("column_type", "good", "bad"),
    [
        ("int", ["1", "-2147483648", "+7", "007"], ["1.5", "1e3", "", "٣", "1 000", "0x1F", "1\n"]),
        ("double", ["1", "1.", ".5", "-1.5e-3", "1E10", "+0"], ["e3", ".", "NaN", "Infinity", "1e", "1,5"]),
        ("decimal(4,2)", ["12.34", "-0.5", ".5", "12.", "0012.3"], ["123.4", "1.234", "1e2", "."]),
        ("decimal(3,0)", ["123", "-5", "5."], ["1234", "1.5", ".5"]),
        ("decimal(2,2)", ["0.12", ".5", "-0.99", "0"], ["1.0", "0.123"]),
    ],
)
def test_number_regexes(column_type: str, good: list[str], bad: list[str]) -> None:
    parse = compile_plan(contract([{"name": "n", "type": column_type}])).columns[0].parse
    regex = parse.regex  # type: ignore[union-attr]
    for text in good:
        assert re.fullmatch(regex, text), text
    for text in bad:
        assert re.fullmatch(regex, text) is None, text


def test_booleans_take_spark_s_words_in_any_ascii_case_only() -> None:
    parse = compile_plan(contract([{"name": "b", "type": "boolean"}])).columns[0].parse
    for word in ("true", "TRUE", "True", "t", "Y", "yes", "1"):
        assert re.fullmatch(parse.true_regex, word) and not re.fullmatch(parse.false_regex, word)  # type: ignore[union-attr]
    for word in ("false", "F", "no", "N", "0"):
        assert re.fullmatch(parse.false_regex, word) and not re.fullmatch(parse.true_regex, word)  # type: ignore[union-attr]
    # U+017F (long s) matches "s" case-insensitively in Python, not in Java: the regex spells both cases
    for word in ("ye\u017f", "ok", "", "true ", "2"):
        assert not re.fullmatch(parse.true_regex, word) and not re.fullmatch(parse.false_regex, word)  # type: ignore[union-attr]


# ------------------------------------------------------------------------------- rule values


def test_allowed_values_are_compiled_into_the_column_s_type() -> None:
    columns = [
        {"name": "i", "type": "int"},
        {"name": "m", "type": "decimal(6,2)"},
        {"name": "f", "type": "boolean"},
        {"name": "day", "type": "date"},
        {"name": "at", "type": "timestamp"},
        {"name": "s", "type": "string"},
        {"name": "wide", "type": "decimal(38,10)"},
    ]
    rules = [
        {"column": "i", "rule": "allowed_values", "values": [1, "2", 3.0]},
        {"column": "m", "rule": "allowed_values", "values": [1.5, "2", 3]},
        {"column": "f", "rule": "allowed_values", "values": [True, "no"]},
        {"column": "day", "rule": "allowed_values", "values": ["2026-11-24"]},
        {"column": "at", "rule": "allowed_values", "values": ["2026-11-24T10:00:00+01:00"]},
        {"column": "s", "rule": "allowed_values", "values": ["a", 7]},
        {"column": "wide", "rule": "allowed_values", "values": ["1234567890123456789012345678.5"]},
    ]
    plan = compile_plan(contract(columns, quality={"rules": rules}))
    values = {check.column: check.values for check in plan.checks if check.rule == "allowed_values"}
    assert values == {
        "i": [1, 2, 3],
        "m": ["1.50", "2.00", "3.00"],
        "f": [True, False],
        "day": ["2026-11-24"],
        "at": ["2026-11-24T09:00:00.000000"],
        "s": ["a", "7"],
        "wide": ["1234567890123456789012345678.5000000000"],
    }


@pytest.mark.parametrize(
    ("column_type", "value", "problem"),
    [
        ("int", 1.5, "is not a valid int"),
        ("int", 3_000_000_000, "is not a valid int"),
        ("decimal(4,2)", 1.234, "is not a valid decimal(4,2)"),
        ("decimal(4,2)", 123.0, "is not a valid decimal(4,2)"),
        ("string", True, "quote it"),
        ("boolean", "maybe", "is not a boolean"),
    ],
)
def test_an_allowed_value_the_column_cannot_hold_is_a_contract_error(
    column_type: str, value: Any, problem: str
) -> None:
    rules = [{"column": "c", "rule": "allowed_values", "values": [value]}]
    with pytest.raises(ContractError, match=rf"quality\.rules\.0\.values: .*{re.escape(problem)}"):
        contract([{"name": "c", "type": column_type}], quality={"rules": rules})


def test_min_and_max_bounds_are_exact_decimal_text() -> None:
    rules = [
        {"column": "m", "rule": "min", "value": 0.1},
        {"column": "m", "rule": "max", "value": 1e20},
        {"column": "m", "rule": "min", "value": -5},
    ]
    plan = compile_plan(contract([{"name": "m", "type": "decimal(30,2)"}], quality={"rules": rules}))
    assert [c.bound for c in plan.checks if c.rule in ("min", "max")] == [
        "0.1",
        "100000000000000000000",
        "-5",
    ]


@pytest.mark.parametrize(
    "pattern", ["^(?P<year>[0-9]{4})", "(?P<x>a)(?P=x)", "a(?#note)", "(a)?(?(1)b|c)", "(?a)\\w+"]
)
def test_a_quality_regex_in_python_only_syntax_is_a_contract_error(pattern: str) -> None:
    rules = [{"column": "s", "rule": "regex", "pattern": pattern}]
    with pytest.raises(
        ContractError, match=r"quality\.rules\.0\.regex\.pattern: .*runs as a Java regular expression"
    ):
        contract([{"name": "s", "type": "string"}], quality={"rules": rules})


@pytest.mark.parametrize("pattern", ["^https?://", "(?i)^ord-[0-9]+$", "^(?:a|b)(?=c)", "(?<!x)y", "a++b"])
def test_a_quality_regex_java_and_python_read_alike_is_kept_as_written(pattern: str) -> None:
    rules = [{"column": "s", "rule": "regex", "pattern": pattern}]
    plan = compile_plan(contract([{"name": "s", "type": "string"}], quality={"rules": rules}))
    assert [check.pattern for check in plan.checks] == [pattern]


ISO_FIELDS = {
    "year": (0, 4),
    "month": (5, 7),
    "day": (8, 10),
    "hour": (11, 13),
    "minute": (14, 16),
    "second": (17, 19),
}


@pytest.mark.parametrize(
    ("column", "lengths"),
    [
        ({"type": "date"}, [10]),
        ({"type": "date", "format": "yyyy-MM-dd"}, [10]),
        ({"type": "timestamp", "format": "yyyy-MM-dd HH:mm:ss"}, [19]),
        ({"type": "timestamp", "format": "yyyy-MM-dd'T'HH:mm:ss"}, [19]),
        ({"type": "date", "format": "yyyy-MM-dd HH:mm:ss"}, [19]),
        ({"type": "timestamp"}, [10]),  # the ISO-8601 family: the date alone
        ({"type": "timestamp", "format": "yyyy-MM-dd HH:mm:ss.SSS"}, []),
        ({"type": "timestamp", "format": "dd/MM/yyyy"}, []),
        ({"type": "date", "format": "yyyyMMdd"}, []),
        ({"type": "timestamp", "format": "yyyy-MM-dd HH:mm:ssXXX"}, []),
    ],
)
def test_the_iso_layout_hint_names_only_lengths_with_one_layout(
    column: dict[str, Any], lengths: list[int]
) -> None:
    assert parse_of({"name": "at", **column})["iso_lengths"] == lengths


@pytest.mark.parametrize(
    "column",
    [
        {"type": "date"},
        {"type": "timestamp", "format": "yyyy-MM-dd HH:mm:ss"},
        {"type": "timestamp", "format": "yyyy-MM-dd'T'HH:mm:ss"},
        {"type": "timestamp"},
    ],
)
@given(data=st.data())
def test_a_text_of_a_hinted_length_has_its_fields_where_iso_8601_puts_them(
    column: dict[str, Any], data: Any
) -> None:
    """The hint's claim, from the regex alone: at a hinted length, a matching text is laid out as
    ISO-8601 says (and a text so laid out matches, with those fields as its groups)."""
    parse = parse_of({"name": "at", **column})
    for length in parse["iso_lengths"]:
        separator = data.draw(st.sampled_from(" T")) if length == 19 else ""
        digits = data.draw(st.text("0123456789", min_size=14, max_size=14))
        date_part = f"{digits[0:4]}-{digits[4:6]}-{digits[6:8]}"
        text = (
            date_part
            if length == 10
            else f"{date_part}{separator}{digits[8:10]}:{digits[10:12]}:{digits[12:14]}"
        )
        match = re.fullmatch(parse["regex"], text)
        if match is None:  # only the separator the format does not write
            assert length == 19 and f"){separator}(" not in parse["regex"]
            continue
        for name, number in parse["groups"].items():
            start, end = ISO_FIELDS.get(name, (0, 0))
            expected = text[start:end] if name in ISO_FIELDS and end <= length else None
            assert (match.group(number) or None) == expected, (text, name)
        # any other text of that length that matches differs only in its digits
        other = data.draw(st.from_regex(parse["regex"], fullmatch=True))
        if len(other) == length:
            assert [c for c in other if not c.isdigit()] == [c for c in text if not c.isdigit()]
            assert all(other[i].isascii() for i in range(length))
