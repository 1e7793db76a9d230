"""Records decided by pyarrow in the tasks (`fast_checked`) against the Spark expressions alone: the
same curated rows, rejects with their reasons and line numbers, and counts, on records of every shape
the fast path takes or leaves to Spark."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import transform
from pyspark.sql import SparkSession

from .conftest import GlueRun, contract_document, plan_document

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("glue-spark")]

COLUMNS = [
    {"name": "order_id", "type": "string", "nullable": False},
    {"name": "customer_id", "type": "bigint"},
    {"name": "amount", "type": "decimal(10,2)"},
    {"name": "quantity", "type": "int"},
    {"name": "ordered_at", "type": "timestamp", "format": "yyyy-MM-dd HH:mm:ss"},
    {"name": "order_day", "type": "date", "format": "yyyy-MM-dd"},
    {"name": "paid", "type": "boolean"},
    {"name": "status", "type": "string"},
    {"name": "email", "type": "string"},
    {"name": "discount", "type": "double"},
]
RULES = [
    {"column": "order_id", "rule": "unique"},
    {"column": "amount", "rule": "min", "value": 0},
    {"column": "quantity", "rule": "max", "value": 1000.5},
    {"column": "discount", "rule": "max", "value": 1},
    {"column": "status", "rule": "allowed_values", "values": ["NEW", "PAID", "SHIPPED"]},
    {"column": "email", "rule": "regex", "pattern": "^[^@]+@[^@]+$"},
]
HEADER = "order_id,customer_id,amount,quantity,ordered_at,order_day,paid,status,email,discount"
GOOD = "1,10.50,3,2026-11-18 08:25:39,2026-11-18,true,NEW,x@example.com,0.25"
# Each line: what it tries. The plain ones are decided by pyarrow; the others go to Spark.
LINES = [
    f"a01,{GOOD}",
    f"a02,{GOOD.replace('NEW', 'PAID')}",
    f'"a03",{GOOD}',  # a quote: Spark parses it
    "a04, 3 ,  2.5 ,4,2026-11-18 10:00:00,2026-11-18, TRUE ,SHIPPED,z@example.com, 0.75 ",  # trims
    "a05,+7,007.1,0010,2026-11-19 00:00:00,2026-11-19,Yes,NEW,y@example.com,-0.0",  # + is Spark's
    "a06,1,1.234,3,2026-11-18 08:25:39,2026-11-18,t,NEW,x@example.com,0.5",  # 3 fraction digits
    "a07,1,123456789.00,3,2026-11-18 08:25:39,2026-11-18,f,NEW,x@example.com,0.5",  # 9 digits
    "a08,1,1.00,2147483648,2026-11-18 08:25:39,2026-11-18,n,NEW,x@example.com,0.5",  # int range
    "a09,1234567890123456789,1.00,3,2026-11-18 08:25:39,2026-11-18,0,NEW,x@example.com,1e-1",
    "a10,1,1.00,3,2026-11-18 08:25:39,2026-11-18,1,NEW,x@example.com,0.1234567890123456",
    "a11,1,1.00,3,2026-02-30 10:00:00,2026-11-18,true,NEW,x@example.com,0.5",  # no such day
    "a12,1,1.00,3,2026-11-18 24:00:00,2026-11-18,true,NEW,x@example.com,0.5",  # no such hour
    "a13,1,1.00,3,0000-01-01 00:00:00,0000-01-01,true,NEW,x@example.com,0.5",  # year 0
    "a14,1,1.00,3,2026-11-18T08:25:39,2026-13-01,true,NEW,x@example.com,0.5",
    "a15,1,1.00,3,2026-11-18 08:25:39,2026-11-18,true,new,x@example.com,0.5",  # not allowed
    "a16,1,1.00,3,2026-11-18 08:25:39,2026-11-18,true,NEW,no-at-sign,0.5",  # regex
    "a17,1,-0.01,3,2026-11-18 08:25:39,2026-11-18,true,NEW,x@example.com,0.5",  # min
    "a18,1,0.00,1000,2026-11-18 08:25:39,2026-11-18,true,NEW,jöhn@exämple.com,1",  # non-ASCII
    "a19,1,0.00,1001,2026-11-18 08:25:39,2026-11-18,true,NEW,x@example.com,1.0000000000001",  # max
    "a20,,,,2026-11-18 08:25:39,,,,,",  # empty values
    f"a21,{GOOD},extra",  # a field too many
    "a22,1,1.00",  # fields too few
    ",1,1.00,3,2026-11-18 08:25:39,2026-11-18,true,NEW,x@example.com,0.5",  # required
    f"a01,{GOOD}",  # a01 again: unique refuses both
    f'"a02",{GOOD}',  # a02 again, quoted: one decided by pyarrow, one by Spark, both refused
    "a23\t,1,1.00,3,0001-01-01 00:00:00,0001-01-01,maybe,NEW,x@example.com,0.5",  # tab, year 1, bool
    "a24,1,1.00,3,9999-12-31 23:59:59,9999-12-31,FALSE,SHIPPED,x@@example.com,0.5",
    "a25, ,1.00,3,2026-11-18 08:25:39 ,2026-11-18,true,NEW,x@example.com,.5",
    "a26,1, ,3,2026-11-18 08:25:39,2026-11-18,true,NEW,x@example.com,0.5",  # spaces only: not a value
    "a27,1,1.00,3,0001-01-01 00:00:00,0001-01-01,true,NEW,x@example.com,0.5",  # the first day
    "a28,1,1.00,3,2024-02-29 12:00:00,2024-02-29,true,NEW,x@example.com,0.5",  # a leap day
    "a29,1,1.00,3,2026-11-18 23:59:60,2026-11-18,true,NEW,x@example.com,0.5",  # a leap second
    "a30,1,1.00,3,2026-11-18 08:25:39,2026-11-31,true,NEW,x@example.com,0.5",  # no 31 November
    "a31,1,99999999.99,2147483647,2026-11-18 08:25:39,2026-11-18,true,NEW,x@example.com,-0",
]


def rows_of(run: GlueRun) -> list[dict[str, Any]]:
    return sorted(run.curated(), key=lambda row: str(row["order_id"]))


def rejects_of(run: GlueRun) -> list[tuple[Any, ...]]:
    return [
        (r["line_number"], r["raw"], [(x["column"], x["rule"], x["message"]) for x in r["reasons"]])
        for r in run.rejects()
    ]


def run_both_ways(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, contract: dict[str, Any]
) -> tuple[GlueRun, GlueRun, list[Any]]:
    """The same run with pyarrow deciding plain records (`fast`) and with the Spark expressions alone."""
    taken: list[Any] = []
    decide = transform.fast_checked

    def spy(*args: Any) -> Any:
        outcome = decide(*args)
        taken.append(outcome)
        return outcome

    monkeypatch.setattr(transform, "fast_checked", spy)
    runs = []
    for enabled in (True, False):
        monkeypatch.setattr(transform, "FAST_ROWS_ENABLED", enabled)
        run = GlueRun(tmp_path / ("fast" if enabled else "spark"))
        run.put("incoming/orders/orders.csv", text)
        result = transform.transform(spark, run.args(contract))
        assert result["status"] == "SUCCEEDED"
        runs.append(run)
    return runs[0], runs[1], taken


def test_plain_and_other_records_are_the_same_decided_by_pyarrow_or_by_spark(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transform, "MAX_UNDECIDED_SHARE", 1.0)  # a test file of mostly odd records
    contract = contract_document(
        COLUMNS, rules=RULES, partitioning={"column": "order_date", "source": "ordered_at"}
    )
    fast, spark_only, taken = run_both_ways(
        spark, tmp_path, monkeypatch, HEADER + "\n" + "\n".join(LINES) + "\n", contract
    )

    assert taken[0] is not None and len(taken[0][1]) == 2  # pyarrow decided some, Spark the others
    assert taken[1] is None  # the switch off: Spark alone
    assert rows_of(fast) == rows_of(spark_only)
    assert rejects_of(fast) == rejects_of(spark_only)
    assert "a02" not in {row["order_id"] for row in rows_of(fast)}
    assert {row["order_id"] for row in rows_of(fast)} >= {
        "a03",
        "a04",
        "a05",
        "a09",
        "a10",
        "a18",
        "a27",
        "a28",
    }
    assert len(rejects_of(fast)) >= 15


def test_a_run_of_plain_records_only_is_decided_whole_by_pyarrow(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contract = contract_document(COLUMNS, rules=RULES)  # partitioned by the ingest date
    lines = [
        f"b{i:03d},{i},{i}.{i % 100:02d},{i % 50},2026-11-{10 + i % 9} 0{i % 10}:00:00,2026-11-18,"
        f"{'true' if i % 2 else 'false'},NEW,u{i}@example.com,0.{i}"
        for i in range(200)
    ]
    fast, spark_only, taken = run_both_ways(
        spark, tmp_path, monkeypatch, HEADER + "\n" + "\n".join(lines) + "\n", contract
    )

    assert taken[0] is not None and len(taken[0][1]) == 1  # nothing left to Spark's expressions
    assert rows_of(fast) == rows_of(spark_only) and len(rows_of(fast)) == 200
    assert rejects_of(fast) == rejects_of(spark_only) == []


def test_a_run_of_mostly_odd_records_is_left_to_spark(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contract = contract_document(COLUMNS, rules=RULES)
    quoted = [f'"c{i}",{GOOD}' for i in range(20)] + [f"d{i},{GOOD}" for i in range(5)]
    fast, spark_only, taken = run_both_ways(
        spark, tmp_path, monkeypatch, HEADER + "\n" + "\n".join(quoted) + "\n", contract
    )

    assert taken[0] is None  # 20 of 25 undecided: more than MAX_UNDECIDED_SHARE
    assert rows_of(fast) == rows_of(spark_only) and len(rows_of(fast)) == 25


@pytest.mark.parametrize(
    ("pattern", "alike"),
    [
        ("^[^@]+@[^@]+$", True),
        ("^[A-Z]{2}-[0-9]+(?:\\.[0-9]+)?$", True),
        ("^\\w+\\s\\d*$", True),
        ("^[a-z&&[^b]]+$", False),  # Java: an intersection; RE2: literal characters
        ("^[[a-c]x]$", False),  # Java: a union
        ("^\\p{Alpha}+$", False),
        ("^(?i)abc$", False),
        ("^a++$", False),
        ("^(a)\\1$", False),
        ("\\bword\\b", False),
        ("^(?=a)a$", False),
        ("\\Qa.b\\E", False),
        ("(", False),  # neither reads it
    ],
)
def test_only_regexes_that_re2_and_java_read_alike_are_tested_by_pyarrow(pattern: str, alike: bool) -> None:
    assert transform.regex_reads_alike(pattern) is alike


def test_plans_that_pyarrow_cannot_decide_are_left_to_spark() -> None:
    ingest = datetime(2026, 11, 24, tzinfo=UTC)

    def spec(columns: list[dict[str, Any]], **options: Any) -> Any:
        plan = transform.plan_from_document(plan_document(contract_document(columns, **options)))
        return transform.fast_spec(plan, ingest)

    assert spec(COLUMNS, rules=RULES) is not None
    assert spec(COLUMNS, data_format="jsonl") is None
    assert spec([{"name": "day", "type": "date", "format": "dd/MM/yyyy"}]) is None
    assert spec([{"name": "seen_at", "type": "timestamp"}]) is None  # ISO-8601 with offsets and fractions
    assert spec([{"name": "name", "type": "string"}], csv={"delimiter": '"', "quote": "'"}) is None
    regex = [{"column": "name", "rule": "regex", "pattern": "^(?=n)\\w+$"}]
    assert spec([{"name": "name", "type": "string"}], rules=regex) is None


def test_a_spark_without_pyarrow_or_pandas_checks_every_record_with_its_expressions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plan = transform.plan_from_document(plan_document(contract_document(COLUMNS, rules=RULES)))
    monkeypatch.setattr(transform, "arrow_in_workers", lambda: False)
    # it says so before touching Spark (no records are needed)
    assert transform.fast_checked(None, plan, datetime(2026, 11, 24, tzinfo=UTC)) is None  # type: ignore[arg-type]
