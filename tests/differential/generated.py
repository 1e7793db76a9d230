"""Hypothesis strategies for the differential test: whole runs (a contract and many objects) whose files
cover every column type, null and empty values, `unique` collisions, CSV quoting (delimiters, quotes,
escapes and line breaks inside fields, unclosed quotes, wrong field counts), blank lines, line endings,
byte order marks, encodings (valid and not) and gzip. Many objects go into one run, so that one Spark
job checks many examples."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from .cases import contract
from .harness import InputObject

COLUMNS: list[dict[str, Any]] = [
    {"name": "s", "type": "string", "nullable": False},
    {"name": "i", "type": "int"},
    {"name": "b", "type": "bigint"},
    {"name": "d", "type": "double"},
    {"name": "dec", "type": "decimal(7,3)"},
    {"name": "flag", "type": "boolean"},
    {"name": "day", "type": "date"},
    {"name": "at", "type": "timestamp", "format": "yyyy-MM-dd HH:mm:ss[.SSS]"},
    {"name": "iso", "type": "timestamp"},
    {"name": "dmy", "type": "date", "format": "d/M/yy"},
]
RULES: list[dict[str, Any]] = [
    {"column": "i", "rule": "unique"},
    {"column": "s", "rule": "regex", "pattern": "^[a-z]"},
    {"column": "b", "rule": "not_null"},
    {"column": "dec", "rule": "min", "value": -50},
    {"column": "dec", "rule": "max", "value": 999.5},
    {"column": "s", "rule": "allowed_values", "values": ["a", "b", "c", "x y", "é"]},
    {"column": "flag", "rule": "allowed_values", "values": [True]},
    {"column": "d", "rule": "min", "value": -1.5},
    {"column": "day", "rule": "allowed_values", "values": ["2026-11-24", "0001-01-01"]},
]
PARTITIONINGS = [
    {"column": "order_date", "source": "day"},
    {"column": "event_day", "source": "iso"},
    {"column": "ingest_day", "source": "ingest_date"},
]

NASTY = [
    "", " ", "  ", "\t", "x", "NULL", "null", "-", "+", ".", "e", "1e", "0x10", "\u0661\u0662", "\uff11",
    " 1 ", "1 ", "\t1", "1\t", "01", "-0", "+0", "1.", ".5", "-.5", "1e3", "1E-3", "NaN", "Infinity",
    "true", "TRUE", "t", "Yes", "n", "0", "1", "2", "é", "x y", "a,b", 'say "hi"', "it's", "back\\slash",
    "line\nbreak", "cr\rhere", "crlf\r\nhere", "\u2028", "\u0085", "\ufeffbom", "€", "\x7f", "\x01",
]  # fmt: skip


def value_text(column: dict[str, Any]) -> st.SearchStrategy[str]:
    kind = column["type"]
    if kind == "string":
        typed: st.SearchStrategy[str] = st.sampled_from(["a", "b", "c", "x y", "é", "Z", "1a"]) | st.text(
            st.characters(codec="utf-8", exclude_characters="\x00"), max_size=6
        )
    elif kind == "int":
        typed = st.integers(-3, 3).map(str) | st.integers(-(2**31) - 2, 2**31 + 1).map(str)
    elif kind == "bigint":
        typed = st.integers(-(2**63) - 2, 2**63 + 1).map(str)
    elif kind == "double":
        typed = st.floats(allow_nan=False, width=32).map(repr) | st.sampled_from(
            ["1e308", "1e309", "-0.0", "2.5e-3"]
        )
    elif kind.startswith("decimal"):
        typed = st.decimals(-10_000, 10_000, places=4, allow_nan=False, allow_infinity=False).map(str)
    elif kind == "boolean":
        typed = st.sampled_from(["true", "false", "T", "f", "yes", "NO", "y", "N", "1", "0", "maybe"])
    elif kind == "date" and column.get("format") == "d/M/yy":
        typed = st.builds(
            lambda d, m, y: f"{d}/{m}/{y:02d}", st.integers(0, 32), st.integers(0, 13), st.integers(0, 99)
        )
    elif kind == "date":
        typed = st.dates().map(str) | st.sampled_from(
            ["0000-12-31", "-0001-01-01", "+10000-01-01", "2026-02-29", "2026-11-24"]
        )
    elif column.get("format"):
        typed = st.datetimes().map(
            lambda moment: (
                moment.strftime("%Y-%m-%d %H:%M:%S") + moment.strftime(".%f")[:4] * (moment.microsecond % 2)
            )
        )
    else:
        typed = st.datetimes().map(lambda moment: moment.isoformat()) | st.sampled_from(
            [
                "2026-11-24",
                "2026-11-24T10:00Z",
                "2026-11-24 10:00:00+01:30",
                "9999-12-31T23:59:59-01:00",
                "2026-11-24T10:00:00.1234567",
            ]
        )
    return st.one_of(typed, typed, st.sampled_from(NASTY))


def rows(columns: list[dict[str, Any]]) -> st.SearchStrategy[list[list[str | None]]]:
    """Rows of texts; None is a missing value (an empty CSV field, an absent or null JSON member)."""
    cell = [st.none() | value_text(column) for column in columns]
    return st.lists(st.tuples(*cell).map(list), min_size=1, max_size=8)


@st.composite
def csv_object(draw: st.DrawFn, index: int, dialect: dict[str, Any]) -> InputObject:
    delimiter, quote, escape = dialect["delimiter"], dialect["quote"], dialect["escape"]
    lines = []
    if dialect["header"]:
        lines.append(delimiter.join(column["name"] for column in COLUMNS))
    for row in draw(rows(COLUMNS)):
        fields = []
        for text in row:
            text = text or ""
            special = any(char in text for char in (delimiter, quote, "\n", "\r")) or text[:1] == " "
            style = draw(st.sampled_from(["plain", "quoted", "auto", "auto", "auto"]))
            if style == "quoted" or (style == "auto" and special):
                inner = text.replace(escape, escape + escape) if escape != quote else text
                text = quote + inner.replace(quote, escape + quote) + quote
            fields.append(text)
        shape = draw(st.sampled_from(["ok"] * 8 + ["extra", "short", "unclosed", "blank", "spaces"]))
        if shape == "extra":
            fields.append("more")
        elif shape == "short":
            fields = fields[:-1]
        elif shape == "unclosed":
            fields[0] = quote + fields[0]
        line = delimiter.join(fields)
        lines.append({"blank": "", "spaces": "   "}.get(shape, line))
    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = ending.join(lines) + draw(st.sampled_from([ending, ""]))
    return encoded(draw, index, ".csv", text)


def encoded(draw: st.DrawFn, index: int, ext: str, text: str) -> InputObject:
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "latin-1", "cp1252", "ascii", "iso8859-15"]))
    if draw(st.booleans()) and encoding in ("utf-8",):
        text = "\ufeff" + text
    mode = draw(st.sampled_from(["replace", "replace", "as-utf-8"]))
    body = text.encode("utf-8") if mode == "as-utf-8" else text.encode(encoding, errors="replace")
    gzipped = draw(st.booleans())
    return InputObject(f"incoming/orders/{index:03d}{ext}", body, ext=ext, gzipped=gzipped, encoding=encoding)


def json_value(text: str | None, draw: st.DrawFn) -> Any:
    """A JSON member for a text: the string, or a number/boolean/nested value when it reads as one."""
    if text is None:
        return draw(st.sampled_from([None, "<absent>"]))
    if draw(st.booleans()):
        try:
            number = json.loads(text)
        except ValueError:
            return text
        if isinstance(number, float) and abs(number) >= 2.0**63:
            return text  # JDK 17 prints some of these with extra digits (1e23: 9.999999999999999E22)
        return number
    return draw(st.sampled_from([text, text, {"k": text, "n": [1, 2.5, None]}, [text, True]]))


@st.composite
def json_records(draw: st.DrawFn) -> list[str]:
    records = []
    for row in draw(rows(COLUMNS)):
        members = []
        for column, text in zip(COLUMNS, row, strict=True):
            value = json_value(text, draw)
            if value != "<absent>":
                members.append(
                    f"{json.dumps(column['name'])}: {json.dumps(value, ensure_ascii=draw(st.booleans()))}"
                )
        shape = draw(st.sampled_from(["ok"] * 8 + ["dup", "broken", "array", "single", "blank", "trailing"]))
        record = "{" + ", ".join(members) + "}"
        if shape == "dup" and members:
            record = "{" + ", ".join([*members, members[0]]) + "}"
        elif shape == "broken":
            record = record[: len(record) // 2]
        elif shape == "array":
            record = "[" + record + "]"
        elif shape == "single":
            record = record.replace('"s"', "'s'")
        elif shape == "blank":
            record = draw(st.sampled_from(["", "  ", "\t"]))
        elif shape == "trailing":
            record += " x"
        records.append(record)
    return records


@st.composite
def jsonl_object(draw: st.DrawFn, index: int) -> InputObject:
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    return encoded(draw, index, ".jsonl", ending.join(draw(json_records())) + ending)


@st.composite
def json_array_object(draw: st.DrawFn, index: int) -> InputObject:
    records = [record for record in draw(json_records()) if record.strip() and not record.endswith(" x")]
    shape = draw(st.sampled_from(["array"] * 5 + ["object", "broken", "empty"]))
    text = {"object": "{}", "broken": "[" + ",".join(records), "empty": "[]"}.get(
        shape, "[" + ", ".join(records) + "]"
    )
    return encoded(draw, index, ".json", text)


@st.composite
def runs(draw: st.DrawFn, data_format: str, objects: int = 12) -> tuple[dict[str, Any], list[InputObject]]:
    partitioning = draw(st.sampled_from(PARTITIONINGS))
    if data_format == "csv":
        quote = draw(st.sampled_from(['"', "'"]))
        dialect = {
            "delimiter": draw(st.sampled_from([",", ";", "|", "\t"])),
            "quote": quote,
            "escape": draw(st.sampled_from([quote, "\\"])),
            "header": draw(st.booleans()),
        }
        files = [draw(csv_object(index, dialect)) for index in range(objects)]
        document = contract(COLUMNS, rules=RULES, partitioning=partitioning, csv=dialect)
    else:
        maker = jsonl_object if data_format == "jsonl" else json_array_object
        files = [draw(maker(index)) for index in range(objects)]
        document = contract(COLUMNS, data_format=data_format, rules=RULES, partitioning=partitioning)
    return document, files
