"""Texts the plan's hint says are in ISO-8601 layout are read by Spark's cast; every other text by
the regex groups. Both must give the same value, outside flag or no value for every text."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from typing import Any

import pytest
import transform
from etl_common.contracts import Contract
from etl_common.plan import compile_plan
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from tests.glue.conftest import contract_document

pytestmark = pytest.mark.slow

TEXTS = [
    "2026-11-24",
    "2024-02-29",
    "2026-02-29",  # no such day
    "2100-02-29",
    "2000-02-29",
    "0000-01-01",  # year 0: a valid date outside the range
    "0001-01-01",
    "9999-12-31",
    "2026-13-01",
    "2026-00-10",
    "2026-04-31",
    "2026-11-24 10:15:30",
    "2026-11-24T10:15:30",
    "2026-11-24 24:00:00",
    "2026-11-24 23:59:60",
    "2026-11-24 23:60:00",
    "0000-12-31 23:59:59",
    "0000-12-31T23:59:59",
    "9999-12-31 23:59:59",
    "2026-11-24 10:15:3x",
    "2026-11-24 10:15:30\n",
    "2026-11-24\n",
    "\uff12\uff10\uff12\uff16-11-24",  # full-width digits: as many characters, more bytes
    "2026-11-2\u0664",  # an Arabic-Indic digit
    "+2026-11-24",
    "-2026-11-24",
    "12026-11-24",
    "2026-1-24 1:15:30",
    "  2026-11-24  ",
    "2026-11-24 10:15",
    "",
    None,
]


def number(value: Any, column_type: str) -> Any:
    """Days or microseconds since 1970 (Python's datetime holds neither year 0 nor every zone's past)."""
    return F.unix_date(value) if column_type == "date" else F.unix_micros(value)


def typed(spark: SparkSession, column: transform.PlanColumn) -> list[tuple[Any, Any]]:
    frame = spark.createDataFrame([(text,) for text in TEXTS], f"__text_{column.name} string")
    value = transform.typed_value(column)
    assert value.outside is not None
    rows = (
        frame.select("*", *transform.derived_texts([column], {column.name: transform.text_of(column.name)}))
        .select(number(value.value, column.type).alias("value"), value.outside.alias("outside"))
        .collect()
    )
    return [(row["value"], row["outside"]) for row in rows]


@pytest.mark.parametrize(
    "column",
    [
        {"name": "at", "type": "date"},
        {"name": "at", "type": "timestamp"},
        {"name": "at", "type": "timestamp", "format": "yyyy-MM-dd HH:mm:ss"},
        {"name": "at", "type": "timestamp", "format": "yyyy-MM-dd'T'HH:mm:ss"},
        {"name": "at", "type": "date", "format": "yyyy-MM-dd HH:mm:ss"},
        {"name": "at", "type": "timestamp", "format": "yyyy-MM-dd"},
    ],
)
def test_the_iso_layout_and_the_groups_give_the_same_values(
    spark: SparkSession, column: dict[str, Any]
) -> None:
    transform.configure_session(spark)
    document = compile_plan(Contract.model_validate(contract_document([column]))).model_dump(mode="json")
    hinted = transform.plan_from_document(document).column("at")
    assert hinted.parse["iso_lengths"]
    unhinted = dataclasses.replace(hinted, parse={**hinted.parse, "iso_lengths": []})

    by_cast, by_groups = typed(spark, hinted), typed(spark, unhinted)

    assert by_cast == by_groups
    assert any(value is not None for value, _ in by_cast)
    assert any(outside for _, outside in by_cast)  # year 0


def test_the_iso_layout_reads_values_in_utc(spark: SparkSession) -> None:
    transform.configure_session(spark)
    columns = [
        {"name": "at", "type": "timestamp", "format": "yyyy-MM-dd HH:mm:ss"},
        {"name": "day", "type": "date"},
    ]
    document = compile_plan(Contract.model_validate(contract_document(columns))).model_dump(mode="json")
    plan = transform.plan_from_document(document)
    frame = spark.createDataFrame(
        [("2026-11-24 23:30:00", "2024-02-29")], "__text_at string, __text_day string"
    )
    for column in plan.columns:
        frame = frame.select(
            "*", *transform.derived_texts([column], {column.name: transform.text_of(column.name)})
        )
    row = frame.select(
        *[number(transform.typed_value(c).value, c.type).alias(c.name) for c in plan.columns]
    ).first()
    assert row is not None
    assert row["day"] == (date(2024, 2, 29) - date(1970, 1, 1)).days
    assert row["at"] == int(datetime(2026, 11, 24, 23, 30, tzinfo=UTC).timestamp()) * 1_000_000
