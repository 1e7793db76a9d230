"""What one record is: CSV fields quoted across lines, JSON duplicate keys, deeply nested JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
import transform
from pyspark.sql import SparkSession

from .conftest import GlueRun, contract_document

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("glue-spark")]

NOTE_COLUMNS: list[dict[str, Any]] = [
    {"name": "order_id", "type": "string", "nullable": False},
    {"name": "note", "type": "string"},
    {"name": "qty", "type": "int"},
]


def reasons_by_line(run: GlueRun) -> dict[int, list[tuple[str | None, str, str]]]:
    return {
        r["line_number"]: [(x["column"], x["rule"], x["message"]) for x in r["reasons"]]
        for r in run.rejects()
    }


def test_a_quoted_csv_field_spanning_lines_is_one_record_numbered_by_its_first_line(
    spark: SparkSession, glue_run: GlueRun
) -> None:
    body = (
        "order_id,note,qty\n"  # 1
        'a,"line one\n'  # 2
        'line two",1\n'  # 3
        "b,plain,2\n"  # 4
        'c,"say ""hi""\n'  # 5
        "more, with a comma\n"  # 6
        "\n"  # 7: blank, inside the field
        'end",3\n'  # 8
        '"d","two ""quoted"" words",4\n'  # 9: quotes that close on their line
        "e,bad,x\n"  # 10
        'f,"never closed,6\n'  # 11
        "g,ok,7\n"  # 12
    )
    glue_run.put("incoming/orders/multi.csv", body)
    result = transform.transform(spark, glue_run.args(contract_document(NOTE_COLUMNS)))

    notes = {row["order_id"]: row["note"] for row in glue_run.curated()}
    assert notes == {
        "a": "line one\nline two",
        "b": "plain",
        "c": 'say "hi"\nmore, with a comma\n\nend',
        "d": 'two "quoted" words',
        "g": "ok",
    }
    assert reasons_by_line(glue_run) == {
        10: [("qty", "type", "'x' is not a valid int")],
        11: [(None, "format", "malformed CSV record: a quoted field is not closed")],
    }
    assert (result["rows_read"], result["rows_written"], result["rows_rejected"]) == (7, 5, 2)
    assert glue_run.rejects()[0]["raw"] == "e,bad,x"


def test_a_multiline_field_with_another_quote_and_escape(spark: SparkSession, glue_run: GlueRun) -> None:
    dialect = {"delimiter": ";", "quote": "'", "escape": "\\", "header": False}
    glue_run.put("incoming/orders/d.csv", "a;'it\\'s\nsecond; line';1\nb;x;2\n")
    transform.transform(spark, glue_run.args(contract_document(NOTE_COLUMNS, csv=dialect)))

    rows = sorted((row["order_id"], row["note"], row["qty"]) for row in glue_run.curated())
    assert rows == [("a", "it's\nsecond; line", 1), ("b", "x", 2)]
    assert glue_run.rejects() == []


JSON_COLUMNS: list[dict[str, Any]] = [
    {"name": "order_id", "type": "string", "nullable": False},
    {"name": "qty", "type": "int"},
    {"name": "payload", "type": "string"},
]


def nested(levels: int) -> Any:
    value: Any = "leaf"
    for level in range(levels):
        value = {"level": level, "child": value} if level % 2 else [value]
    return value


def test_a_json_line_with_a_duplicate_key_is_rejected_with_its_reason(
    spark: SparkSession, glue_run: GlueRun
) -> None:
    lines = [
        '{"order_id": "a", "qty": 1}',
        '{"order_id": "b", "qty": 1, "qty": 2}',
        '{"order_id": "c", "qty": 1, "order_id": "d", "order_id": "e"}',
        '{"order_id": "f", "payload": {"k": 1, "k": 2}}',  # nested: kept as its JSON text, both keys
    ]
    glue_run.put("incoming/orders/dup.jsonl", "\n".join(lines) + "\n")
    result = transform.transform(spark, glue_run.args(contract_document(JSON_COLUMNS, data_format="jsonl")))

    assert reasons_by_line(glue_run) == {
        2: [(None, "format", "malformed JSON record: duplicate key qty")],
        3: [(None, "format", "malformed JSON record: duplicate key order_id")],
    }
    curated = {row["order_id"]: row["payload"] for row in glue_run.curated()}
    assert curated == {"a": None, "f": '{"k":1,"k":2}'}
    assert result["rows_rejected"] == 2


def test_deeply_nested_valid_json_is_a_record_and_too_deep_says_so(
    spark: SparkSession, glue_run: GlueRun
) -> None:
    deep = nested(200)
    lines = [
        json.dumps({"order_id": "deep", "payload": deep}),
        '{"order_id": "deeper", "payload": ' + "[" * 1200 + "1" + "]" * 1200 + "}",  # too deep for json
        '{"order_id": "broken", "payload": [1, 2}',
    ]
    glue_run.put("incoming/orders/deep.jsonl", "\n".join(lines) + "\n")
    transform.transform(spark, glue_run.args(contract_document(JSON_COLUMNS, data_format="jsonl")))
    array_run = glue_run.rerun_as("orders-array")
    array_run.put("incoming/orders/deep.json", json.dumps([{"order_id": "in-array", "payload": deep}]))
    transform.transform(spark, array_run.args(contract_document(JSON_COLUMNS, data_format="json")))

    [row] = glue_run.curated()
    assert row["order_id"] == "deep" and json.loads(row["payload"]) == deep
    assert reasons_by_line(glue_run) == {
        2: [(None, "format", "malformed JSON record: nested deeper than 1000 levels")],
        3: [(None, "format", "malformed JSON record: not valid JSON or not a JSON object")],
    }
    [array_row] = array_run.curated()
    assert array_row["order_id"] == "in-array" and json.loads(array_row["payload"]) == deep
