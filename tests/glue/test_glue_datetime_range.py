"""Dates and timestamps from year 1 to 9999 are written as they are; outside that range a row is refused."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
import transform
from pyspark.sql import SparkSession

from .conftest import GlueRun, contract_document

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("glue-spark")]

COLUMNS: list[dict[str, Any]] = [
    {"name": "id", "type": "string", "nullable": False},
    {"name": "day", "type": "date"},
    {"name": "at", "type": "timestamp", "format": "yyyy-MM-dd HH:mm:ss"},
    {"name": "iso", "type": "timestamp"},
]
# Both ends of the range, the Julian/Gregorian switch of 1582 and the 1900 boundary of Spark's
# legacy Parquet writer.
EDGES = [
    ("first", "0001-01-01", "0001-01-01 00:00:00", "0001-01-01T00:00:00Z"),
    ("julian_last", "1582-10-04", "1582-10-04 23:59:59", "1582-10-04T12:00:00"),
    ("gregorian_first", "1582-10-15", "1582-10-15 00:00:00", "1582-10-15T00:00:00.000001Z"),
    ("before_1900", "1899-12-31", "1899-12-31 23:59:59", "1899-12-31T23:59:59+00:00"),
    ("from_1900", "1900-01-01", "1900-01-01 00:00:00", "1900-01-01T00:00:00Z"),
    ("last", "9999-12-31", "9999-12-31 23:59:59", "9999-12-31T23:59:59.999999Z"),
]


def as_datetime(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("T", " ").replace("Z", "+00:00")).replace(tzinfo=UTC)


def test_dates_and_timestamps_at_both_ends_of_the_range_are_written_and_read_back_equal(
    spark: SparkSession, glue_run: GlueRun
) -> None:
    body = "id,day,at,iso\n" + "".join(",".join(edge) + "\n" for edge in EDGES)
    glue_run.put("incoming/orders/edges.csv", body)
    contract = contract_document(COLUMNS, partitioning={"column": "order_date", "source": "day"})
    result = transform.transform(spark, glue_run.args(contract))

    assert (result["rows_written"], result["rows_rejected"]) == (len(EDGES), 0)
    rows = {row["id"]: row for row in glue_run.curated()}  # read by pyarrow from the Parquet files
    for name, day, at, iso in EDGES:
        assert rows[name]["day"] == date.fromisoformat(day), name
        assert rows[name]["at"] == as_datetime(at), name
        assert rows[name]["iso"] == as_datetime(iso), name
        assert rows[name]["order_date"] == day, name  # the partition value of an ancient day
    assert {p["values"]["order_date"] for p in result["partitions"]} == {edge[1] for edge in EDGES}


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("day", "0000-12-31", "'0000-12-31' is outside the date range 0001-01-01 to 9999-12-31 (UTC)"),
        ("day", "-0001-01-01", "is outside the date range"),
        ("day", "10000-01-01", "'10000-01-01' is not a valid date"),
        ("day", "+10000-01-01", "is outside the date range"),
        (
            "at",
            "0000-12-31 23:59:59",
            "is outside the timestamp range 0001-01-01 00:00:00 to 9999-12-31 23:59:59",
        ),
        ("at", "10000-01-01 00:00:00", "is not a valid timestamp (yyyy-MM-dd HH:mm:ss)"),
        ("iso", "9999-12-31T23:59:59-01:00", "is outside the timestamp range"),  # year 10000 in UTC
        ("iso", "0001-01-01T00:30:00+01:00", "is outside the timestamp range"),  # year 0 in UTC
        ("iso", "+10000-01-01T00:00:00", "is outside the timestamp range"),
    ],
)
def test_values_outside_the_range_are_rejected_rows_with_their_reason(
    spark: SparkSession, glue_run: GlueRun, column: str, value: str, message: str
) -> None:
    good = {"id": "ok", "day": "2026-11-24", "at": "2026-11-24 10:00:00", "iso": "2026-11-24T10:00:00Z"}
    bad = {**good, "id": "bad", column: value}
    body = "id,day,at,iso\n" + "".join(",".join(row.values()) + "\n" for row in (good, bad))
    glue_run.put("incoming/orders/range.csv", body)
    result = transform.transform(spark, glue_run.args(contract_document(COLUMNS)))

    assert result["status"] == "SUCCEEDED" and result["rows_written"] == 1
    [reject] = glue_run.rejects()
    assert reject["line_number"] == 3 and [(r["column"], r["rule"]) for r in reject["reasons"]] == [
        (column, "type")
    ]
    assert message in reject["reasons"][0]["message"]
    assert [row["id"] for row in glue_run.curated()] == ["ok"]
