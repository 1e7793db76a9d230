"""summary.json and partition-batches.json: what the state machine reads stays bounded."""

from __future__ import annotations

import json
from typing import Any

import boto3
import transform
from moto import mock_aws

from tributary.local.runtimes.athena_ddl import run_ddl


def entries(count: int) -> list[dict[str, Any]]:
    return [
        {
            "values": {"order_date": f"d{index:05d}", "run_id": "r1"},
            "location": f"s3://curated/orders/order_date=d{index:05d}/run_id=r1/",
        }
        for index in range(count)
    ]


def result_with(count: int) -> dict[str, Any]:
    partitions = entries(count)
    return {
        "run_id": "r1",
        "dataset": "orders",
        "status": "SUCCEEDED",
        "rows_read": count,
        "rows_written": count,
        "rows_rejected": 0,
        "reject_ratio": 0.0,
        "objects": [{"key": f"k{index}"} for index in range(count)],
        "failed_objects": [],
        "partitions": partitions,
        "partition_clause": transform.partition_clause(partitions),
        "rejects_uri": "s3://artifacts/rejects/orders/run_id=r1/",
        "outputs": [],
        "quality": {"passed": True, "max_reject_ratio": 0.1, "reject_ratio": 0.0, "rules": [{"rule": "x"}]},
        "timing": {},
    }


def test_250_partitions_make_3_batches_of_at_most_100() -> None:
    partitions = entries(250)
    batches = transform.partition_batches(partitions)

    assert transform.PARTITIONS_PER_BATCH == 100
    assert [batch["clause"].count("PARTITION (") for batch in batches] == [100, 100, 50]
    assert " ".join(batch["clause"] for batch in batches) == transform.partition_clause(partitions)
    assert batches[2]["clause"].startswith("PARTITION (order_date='d00200', run_id='r1') LOCATION ")


def test_each_batch_has_the_drop_clause_of_the_same_partitions() -> None:
    partitions = entries(250)
    partitions[201]["values"] = {"order_date": "it's", "run_id": "r1"}
    batches = transform.partition_batches(partitions)

    assert [batch["drop_clause"].count("PARTITION (") for batch in batches] == [100, 100, 50]
    assert "LOCATION" not in " ".join(batch["drop_clause"] for batch in batches)
    assert batches[2]["drop_clause"].startswith(
        "PARTITION (order_date='d00200', run_id='r1'), PARTITION (order_date='it''s', run_id='r1'), "
    )
    assert all(set(batch) == {"clause", "drop_clause"} for batch in batches)


@mock_aws
def test_the_drop_clause_takes_back_exactly_what_the_clause_registered() -> None:
    glue = boto3.client("glue", region_name="us-east-1")
    glue.create_database(DatabaseInput={"Name": "db"})
    keys = [{"Name": "order_date", "Type": "string"}, {"Name": "run_id", "Type": "string"}]
    storage = {"Columns": [{"Name": "x", "Type": "int"}], "Location": "s3://curated/orders/"}
    glue.create_table(
        DatabaseName="db", TableInput={"Name": "orders", "PartitionKeys": keys, "StorageDescriptor": storage}
    )
    glue.create_partition(  # another run's partition stays
        DatabaseName="db",
        TableName="orders",
        PartitionInput={"Values": ["d00000", "r0"], "StorageDescriptor": storage},
    )
    partitions = entries(150)
    partitions[3]["values"] = {"order_date": "it's", "run_id": "r1"}
    batches = transform.partition_batches(partitions)
    for batch in batches:
        run_ddl(glue, f"ALTER TABLE orders ADD IF NOT EXISTS {batch['clause']}", "db")
    registered = glue.get_partitions(DatabaseName="db", TableName="orders")["Partitions"]
    assert len(registered) == 151

    for batch in batches:
        run_ddl(glue, f"ALTER TABLE orders DROP IF EXISTS {batch['drop_clause']}", "db")
        run_ddl(glue, f"ALTER TABLE orders DROP IF EXISTS {batch['drop_clause']}", "db")  # again: a no-op
    left = glue.get_partitions(DatabaseName="db", TableName="orders")["Partitions"]
    assert [p["Values"] for p in left] == [["d00000", "r0"]]


def test_no_partition_makes_no_batch() -> None:
    assert transform.partition_batches([]) == []


def test_the_summary_does_not_grow_with_the_partitions() -> None:
    uri = "s3://artifacts/runs/r1/result.json"
    # Same number of digits in the counts: only the counts could tell the two runs apart.
    small = transform.summary_document(result_with(1000), uri)
    large = transform.summary_document(result_with(9000), uri)

    assert set(small) == set(large)
    assert (small["partition_count"], large["partition_count"]) == (1000, 9000)
    assert large["object_count"] == 9000
    assert large["partition_batches_uri"] == "s3://artifacts/runs/r1/partition-batches.json"
    assert large["result_uri"] == uri and "rules" not in large["quality"]
    assert len(json.dumps(large)) == len(json.dumps(small)) < 1024


def test_record_spans_pair_an_opening_line_with_the_line_that_closes_its_field() -> None:
    marks = [  # (object, line, opens from outside a field, closes from inside one)
        (0, 2, True, False),
        (0, 3, False, True),  # 2..3
        (0, 5, True, True),
        (0, 9, True, True),  # 5..9: from inside, line 9 closes
        (0, 12, True, False),  # never closed in object 0: not joined
        (1, 1, False, True),  # object 1 starts outside: a closing-looking line opens nothing
        (1, 4, True, False),
        (1, 4 + transform.MAX_LINES_PER_RECORD, False, True),  # too long: not joined
        (1, 20_000, True, False),
        (1, 20_001, False, True),
    ]
    assert transform.record_spans(marks) == [(0, 2, 3), (0, 5, 9), (1, 20_000, 20_001)]


def test_java_char_escapes_any_character_for_a_java_regex() -> None:
    assert transform.java_char('"') == "\\x{22}" and transform.java_char("é") == "\\x{e9}"
