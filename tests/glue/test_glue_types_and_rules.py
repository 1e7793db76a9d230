"""Types, casts and quality rules of the Glue job, on the session's local Spark."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest
import transform
from pyspark.sql import SparkSession

from .conftest import GlueRun, contract_document

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("glue-spark")]

EVERY_TYPE = [
    {"name": "order_id", "type": "string", "nullable": False},
    {"name": "quantity", "type": "int"},
    {"name": "views", "type": "bigint"},
    {"name": "ratio", "type": "double"},
    {"name": "amount", "type": "decimal(10,2)"},
    {"name": "paid", "type": "boolean"},
    {"name": "order_day", "type": "date", "format": "dd/MM/yyyy"},
    {"name": "ordered_at", "type": "timestamp", "format": "yyyy-MM-dd HH:mm:ss"},
    {"name": "seen_at", "type": "timestamp"},
]
HEADER = "order_id,quantity,views,ratio,amount,paid,order_day,ordered_at,seen_at\n"


def rejects_by_line(run: GlueRun) -> dict[int, list[tuple[str | None, str]]]:
    return {r["line_number"]: [(x["column"], x["rule"]) for x in r["reasons"]] for r in run.rejects()}


def test_every_type_is_written_with_the_contract_type(spark: SparkSession, glue_run: GlueRun) -> None:
    glue_run.put(
        "incoming/orders/types.csv",
        HEADER
        + "a,-7,9000000000,1.5e3,12.30,true,24/11/2026,2026-11-24 10:00:05,2026-11-24T10:00:00Z\n"
        + "b,+8,1,.5,-0.5,no,01/02/2026,2026-02-01 00:00:00,2026-02-01 12:30:00\n"
        + "c,,,,,,,,\n",
    )
    result = transform.transform(spark, glue_run.args(contract_document(EVERY_TYPE)))

    assert result["rows_read"] == 3 and result["rows_rejected"] == 0
    schema = glue_run.curated_schema()
    assert schema.field("quantity").type == pa.int32()
    assert schema.field("views").type == pa.int64()
    assert schema.field("ratio").type == pa.float64()
    assert schema.field("amount").type == pa.decimal128(10, 2)
    assert schema.field("paid").type == pa.bool_()
    assert schema.field("order_day").type == pa.date32()
    assert schema.field("ordered_at").type == pa.timestamp("us", tz="UTC")
    rows = {row["order_id"]: row for row in glue_run.curated()}
    assert (
        rows["a"]["quantity"] == -7 and rows["a"]["views"] == 9_000_000_000 and rows["a"]["ratio"] == 1500.0
    )
    assert rows["a"]["amount"] == Decimal("12.30") and rows["a"]["paid"] is True
    assert rows["a"]["order_day"] == dt.date(2026, 11, 24)
    assert rows["a"]["ordered_at"] == dt.datetime(2026, 11, 24, 10, 0, 5, tzinfo=dt.UTC)
    assert rows["a"]["seen_at"] == dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)
    assert rows["b"]["quantity"] == 8 and rows["b"]["ratio"] == 0.5 and rows["b"]["paid"] is False
    assert rows["b"]["amount"] == Decimal("-0.50") and rows["b"]["order_day"] == dt.date(2026, 2, 1)
    assert all(
        rows["c"][name] is None for name in ("quantity", "views", "amount", "paid", "order_day", "seen_at")
    )


def test_values_that_do_not_convert_are_rejected_with_one_reason_each(
    spark: SparkSession, glue_run: GlueRun
) -> None:
    good = "a,1,1,1.0,1.00,true,24/11/2026,2026-11-24 10:00:05,2026-11-24"
    glue_run.put(
        "incoming/orders/bad.csv",
        HEADER
        + good
        + "\n"
        + "b,1.5,1,1,1,true,24/11/2026,2026-11-24 10:00:05,2026-11-24\n"  # int with a fraction
        + "c,1,99999999999999999999,1,1,true,24/11/2026,2026-11-24 10:00:05,2026-11-24\n"  # bigint overflow
        + "d,1,1,abc,1,true,24/11/2026,2026-11-24 10:00:05,2026-11-24\n"
        + "e,1,1,1,1.234,true,24/11/2026,2026-11-24 10:00:05,2026-11-24\n"  # more digits than the scale
        + "f,1,1,1,123456789.1,true,24/11/2026,2026-11-24 10:00:05,2026-11-24\n"  # over the precision
        + "g,1,1,1,1,maybe,24/11/2026,2026-11-24 10:00:05,2026-11-24\n"
        + "h,1,1,1,1,true,2026-11-24,2026-11-24 10:00:05,2026-11-24\n"  # date in another format
        + "i,1,1,1,1,true,24/11/2026,24/11/2026 10:00,2026-11-24\n"
        + "j,1,1,1,1,true,24/11/2026,2026-11-24 10:00:05,yesterday\n"
        + "k,99999999999,1,1,1,true,24/11/2026,2026-11-24 10:00:05,2026-11-24\n",  # int overflow
    )
    result = transform.transform(spark, glue_run.args(contract_document(EVERY_TYPE)))

    expected_columns = [
        "quantity",
        "views",
        "ratio",
        "amount",
        "amount",
        "paid",
        "order_day",
        "ordered_at",
        "seen_at",
        "quantity",
    ]
    assert rejects_by_line(glue_run) == {
        line: [(column, "type")] for line, column in enumerate(expected_columns, start=3)
    }
    assert result["rows_read"] == 11 and result["rows_written"] == 1 and result["rows_rejected"] == 10
    first = glue_run.rejects()[0]
    assert first["raw"].startswith("b,1.5,") and first["reasons"][0]["message"] == "'1.5' is not a valid int"
    assert first["source_object_key"] == "incoming/orders/bad.csv" and first["source_object_version"] == "v1"
    assert first["run_id"] == glue_run.run_id and first["record_number"] is None


def test_required_value_missing_and_malformed_records(spark: SparkSession, glue_run: GlueRun) -> None:
    columns = [{"name": "order_id", "type": "string", "nullable": False}, {"name": "qty", "type": "int"}]
    glue_run.put("incoming/orders/r.csv", "order_id,qty\n,1\nx,1,extra\ny\nz,2\n\n")
    result = transform.transform(spark, glue_run.args(contract_document(columns)))

    assert rejects_by_line(glue_run) == {
        2: [("order_id", "required")],
        3: [(None, "format")],
        4: [(None, "format")],
    }
    assert result["rows_read"] == 4 and result["rows_written"] == 1  # the blank last line is no row


RULE_COLUMNS = [
    {"name": "order_id", "type": "string"},
    {"name": "amount", "type": "decimal(10,2)"},
    {"name": "status", "type": "string"},
    {"name": "email", "type": "string"},
    {"name": "customer_id", "type": "string"},
    {"name": "day", "type": "date"},
]
RULES = [
    {"column": "order_id", "rule": "unique"},
    {"column": "amount", "rule": "min", "value": 0},
    {"column": "amount", "rule": "max", "value": 100},
    {"column": "status", "rule": "allowed_values", "values": ["NEW", "PAID"]},
    {"column": "email", "rule": "regex", "pattern": "^[^@]+@[^@]+$"},
    {"column": "customer_id", "rule": "not_null"},
]


def test_every_quality_rule_refuses_rows_and_is_counted(spark: SparkSession, glue_run: GlueRun) -> None:
    glue_run.put(
        "incoming/orders/rules.csv",
        "order_id,amount,status,email,customer_id,day\n"
        "o1,10,NEW,a@b.c,c1,2026-11-24\n"  # 2 ok
        "o2,-1,NEW,a@b.c,c1,2026-11-24\n"  # 3 min
        "o3,100.01,PAID,a@b.c,c1,2026-11-24\n"  # 4 max
        "o4,100,GONE,a@b.c,c1,2026-11-24\n"  # 5 allowed_values
        "o5,0,NEW,no-at-sign,c1,2026-11-24\n"  # 6 regex
        "o6,1,NEW,a@b.c,,2026-11-24\n"  # 7 not_null
        "o7,1,NEW,a@b.c,c1,2025-12-31\n"  # 8 ok
        "o8,1,NEW,a@b.c,c1,2026-11-24\n"  # 9 unique (with 10)
        "o8,-5,LOST,x,,2026-11-24\n",  # 10 every rule at once
    )
    result = transform.transform(spark, glue_run.args(contract_document(RULE_COLUMNS, rules=RULES)))

    assert rejects_by_line(glue_run) == {
        3: [("amount", "min")],
        4: [("amount", "max")],
        5: [("status", "allowed_values")],
        6: [("email", "regex")],
        7: [("customer_id", "not_null")],
        9: [("order_id", "unique")],
        10: [  # row checks first, then the run-wide unique
            ("amount", "min"),
            ("status", "allowed_values"),
            ("email", "regex"),
            ("customer_id", "not_null"),
            ("order_id", "unique"),
        ],
    }
    failed = {(r["column"], r["rule"]): r["failed_rows"] for r in result["quality"]["rules"]}
    assert failed == {
        ("order_id", "unique"): 2,
        ("amount", "min"): 2,
        ("amount", "max"): 1,
        ("status", "allowed_values"): 2,
        ("email", "regex"): 2,
        ("customer_id", "not_null"): 2,
    }
    assert sorted(row["order_id"] for row in glue_run.curated()) == ["o1", "o7"]


def test_reject_ratio_decides_whether_the_quality_gate_passes(spark: SparkSession, glue_run: GlueRun) -> None:
    columns = [{"name": "qty", "type": "int"}]
    glue_run.put("incoming/orders/q.csv", "qty\n1\n2\n3\nx\n")
    passed = transform.transform(spark, glue_run.args(contract_document(columns, max_reject_ratio=0.25)))
    failed = transform.transform(spark, glue_run.args(contract_document(columns, max_reject_ratio=0.2)))

    assert passed["reject_ratio"] == 0.25 and passed["quality"] == {
        "passed": True,
        "max_reject_ratio": 0.25,
        "reject_ratio": 0.25,
        "rules": [],
    }
    assert failed["quality"]["passed"] is False and failed["status"] == "SUCCEEDED"


def test_csv_dialect_and_encoding_come_from_the_contract(spark: SparkSession, glue_run: GlueRun) -> None:
    columns = [
        {"name": "name", "type": "string"},
        {"name": "note", "type": "string"},
        {"name": "n", "type": "int"},
    ]
    dialect = {"delimiter": ";", "quote": "'", "escape": "\\", "header": False, "encoding": "latin-1"}
    glue_run.put("incoming/orders/latin.csv", "café;'a;b';1\n'it\\'s';x;2\n", encoding="latin-1")
    transform.transform(spark, glue_run.args(contract_document(columns, csv=dialect)))

    rows = sorted(glue_run.curated(), key=lambda row: row["n"])
    assert [(row["name"], row["note"], row["n"]) for row in rows] == [("café", "a;b", 1), ("it's", "x", 2)]


def test_columns_named_like_reject_fields_are_ordinary_columns(
    spark: SparkSession, glue_run: GlueRun
) -> None:
    columns = [
        {"name": name, "type": "int"} for name in ("raw", "line_number", "reasons", "rejected", "value")
    ]
    glue_run.put("incoming/orders/n.csv", "raw,line_number,reasons,rejected,value\n1,2,3,4,5\n1,2,3,4,x\n")
    result = transform.transform(spark, glue_run.args(contract_document(columns)))

    assert [
        {k: row[k] for k in ("raw", "line_number", "reasons", "rejected", "value")}
        for row in glue_run.curated()
    ] == [{"raw": 1, "line_number": 2, "reasons": 3, "rejected": 4, "value": 5}]
    assert [(r["line_number"], r["raw"]) for r in glue_run.rejects()] == [(3, "1,2,3,4,x")]
    assert result["rows_rejected"] == 1


def test_columns_named_id_or_count_run_end_to_end_through_the_plan(
    spark: SparkSession, glue_run: GlueRun
) -> None:
    """`_id` passed the contract check and failed the job; `count` clashed with the duplicate count."""
    columns = [
        {"name": "_id", "type": "bigint", "nullable": False},
        {"name": "count", "type": "int"},
        {"name": "_day", "type": "date"},
    ]
    rules = [{"column": "_id", "rule": "unique"}, {"column": "count", "rule": "unique"}]
    glue_run.put("incoming/orders/ids.csv", "_id,count,_day\n1,5,2026-11-24\n2,5,2026-11-25\n3,6,\n3,7,x\n")
    partitioning = {"column": "_part", "source": "_day"}
    contract = contract_document(columns, rules=rules, partitioning=partitioning)
    result = transform.transform(spark, glue_run.args(contract))

    assert rejects_by_line(glue_run) == {
        2: [("count", "unique")],
        3: [("count", "unique")],
        4: [("_day", "partition"), ("_id", "unique")],
        5: [("_day", "type"), ("_id", "unique")],
    }
    assert result["rows_written"] == 0 and result["rows_rejected"] == 4
