"""summary.json and partition-batches.json: what the state machine reads stays bounded."""

from __future__ import annotations

import json
from typing import Any

import transform


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
