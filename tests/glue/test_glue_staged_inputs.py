"""The job reads the copies validate staged (`staged_uri`), reporting rows by original key and version."""

from __future__ import annotations

from typing import Any

import pytest
import transform
from pyspark.sql import SparkSession

from .conftest import GlueRun, contract_document

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("glue-spark")]

COLUMNS: list[dict[str, Any]] = [{"name": "order_id", "type": "string"}, {"name": "qty", "type": "int"}]
# Keys that are no problem once Spark reads the staged copy only: none of them exists as a file.
KEYS = [
    "incoming/orders/../../escape.csv",
    "/incoming/orders/leading-slash.csv",
    "incoming/orders/" + "k" * 980 + ".csv",
    "incoming/orders/ünïcødé 🚀 [x]{y}*?.csv",
    "incoming/orders/_underscore.csv",
    "incoming/orders/.dot.csv",
    "incoming/orders/sub/_temporary/x.csv",
]


def test_staged_copies_are_read_and_rows_keep_the_original_key_and_version(
    spark: SparkSession, glue_run: GlueRun
) -> None:
    for position, key in enumerate(KEYS):
        glue_run.put(key, f"order_id,qty\no{position},{position}\n", staged=".csv", version=f"v{position}")
    glue_run.put("incoming/orders/packed.csv.gz", "order_id,qty\ngz,99\n", staged=".csv", gzipped=True)
    result = transform.transform(spark, glue_run.args(contract_document(COLUMNS)))

    assert not (glue_run.mirror / "raw").exists()  # nothing was read under the original keys
    expected = {(f"o{p}", key, f"v{p}") for p, key in enumerate(KEYS)} | {
        ("gz", "incoming/orders/packed.csv.gz", "v1")
    }
    rows = {(r["order_id"], r["source_object_key"], r["source_object_version"]) for r in glue_run.curated()}
    assert rows == expected
    assert [(o["key"], o["rows_written"]) for o in result["objects"]] == [
        *[(key, 1) for key in KEYS],
        ("incoming/orders/packed.csv.gz", 1),
    ]


def test_two_staged_versions_of_one_key_are_each_read_once(spark: SparkSession, glue_run: GlueRun) -> None:
    key = "incoming/orders/o.csv"
    glue_run.put(key, "order_id,qty\nold1,1\nold2,2\n", staged=".csv", version="old")
    glue_run.put(key, "order_id,qty\nnew1,1\n", staged=".csv", version="new")
    result = transform.transform(spark, glue_run.args(contract_document(COLUMNS)))

    assert [(o["version_id"], o["rows_read"]) for o in result["objects"]] == [("old", 2), ("new", 1)]
    rows = sorted((r["order_id"], r["source_object_version"]) for r in glue_run.curated())
    assert rows == [("new1", "new"), ("old1", "old"), ("old2", "old")]


def test_without_staged_uri_the_raw_key_is_read(spark: SparkSession, glue_run: GlueRun) -> None:
    glue_run.put("incoming/orders/plain.csv", "order_id,qty\np,1\n")
    transform.transform(spark, glue_run.args(contract_document(COLUMNS)))

    assert [row["source_object_key"] for row in glue_run.curated()] == ["incoming/orders/plain.csv"]
