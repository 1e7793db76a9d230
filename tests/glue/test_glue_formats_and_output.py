"""Input formats, partitioned output, file sizes, idempotent reruns and the result document."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
import transform
from moto import mock_aws
from pyspark.sql import SparkSession

from .conftest import INGEST_TS, GlueRun, contract_document

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("glue-spark")]

ORDER_COLUMNS = [
    {"name": "order_id", "type": "string", "nullable": False},
    {"name": "amount", "type": "decimal(10,2)"},
    {"name": "ordered_at", "type": "timestamp", "format": "yyyy-MM-dd HH:mm:ss"},
]
BY_ORDER_DATE = {"column": "order_date", "source": "ordered_at"}
ORDERS_CSV = (
    "order_id,amount,ordered_at\n"
    "o1,1.00,2026-11-24 10:00:00\n"
    "o2,2.00,2026-11-24 23:59:59\n"
    "o3,3.00,2026-11-25 00:00:00\n"
    "o4,x,2026-11-25 00:00:00\n"
)


def orders_contract(**overrides: object) -> dict:
    return contract_document(ORDER_COLUMNS, partitioning=BY_ORDER_DATE, **overrides)  # type: ignore[arg-type]


def test_partitions_by_a_date_of_a_column_plus_run_id(spark: SparkSession, glue_run: GlueRun) -> None:
    glue_run.put("incoming/orders/o.csv", ORDERS_CSV)
    result = transform.transform(spark, glue_run.args(orders_contract()))

    location = "s3://curated/orders/order_date={}/run_id=orders-r1/"
    assert [(p["values"], p["location"], p["rows"], p["files"]) for p in result["partitions"]] == [
        ({"order_date": "2026-11-24", "run_id": "orders-r1"}, location.format("2026-11-24"), 2, 1),
        ({"order_date": "2026-11-25", "run_id": "orders-r1"}, location.format("2026-11-25"), 1, 1),
    ]
    assert result["partition_clause"] == (
        f"PARTITION (order_date='2026-11-24', run_id='orders-r1') LOCATION '{location.format('2026-11-24')}' "
        f"PARTITION (order_date='2026-11-25', run_id='orders-r1') LOCATION '{location.format('2026-11-25')}'"
    )
    files = glue_run.curated_files()
    assert [path.relative_to(glue_run.curated_dir()).parts[:2] for path in files] == [
        ("order_date=2026-11-24", "run_id=orders-r1"),
        ("order_date=2026-11-25", "run_id=orders-r1"),
    ]
    assert sorted(result["outputs"]) == sorted(
        location.format(path.parts[-3].split("=")[1]) + path.name for path in files
    )
    # partition values live in the paths only, as Athena expects of partition keys
    assert (
        "order_date" not in glue_run.curated_schema().names
        and "run_id" not in glue_run.curated_schema().names
    )
    assert {row["order_date"] for row in glue_run.curated()} == {"2026-11-24", "2026-11-25"}


def test_lineage_columns_and_ingest_date_partition(spark: SparkSession, glue_run: GlueRun) -> None:
    glue_run.put("incoming/orders/a.csv", ORDERS_CSV, version="va")
    glue_run.put(
        "incoming/orders/b.csv", "order_id,amount,ordered_at\nb1,5,2026-01-01 00:00:00\n", version="vb"
    )
    contract = contract_document(
        ORDER_COLUMNS, partitioning={"column": "ingest_day", "source": "ingest_date"}
    )
    result = transform.transform(spark, glue_run.args(contract))

    rows = glue_run.curated()
    assert {(row["order_id"], row["source_object_key"], row["source_object_version"]) for row in rows} == {
        ("o1", "incoming/orders/a.csv", "va"),
        ("o2", "incoming/orders/a.csv", "va"),
        ("o3", "incoming/orders/a.csv", "va"),
        ("b1", "incoming/orders/b.csv", "vb"),
    }
    assert {row["ingested_at"] for row in rows} == {INGEST_TS}
    assert {row["ingest_day"] for row in rows} == {"2026-11-24"}
    assert result["objects"] == [
        {
            "key": "incoming/orders/a.csv",
            "version_id": "va",
            "rows_read": 4,
            "rows_written": 3,
            "rows_rejected": 1,
        },
        {
            "key": "incoming/orders/b.csv",
            "version_id": "vb",
            "rows_read": 1,
            "rows_written": 1,
            "rows_rejected": 0,
        },
    ]


def test_gzip_csv_and_json_lines(spark: SparkSession, glue_run: GlueRun) -> None:
    glue_run.put("incoming/orders/o.csv.gz", ORDERS_CSV, gzipped=True)
    transform.transform(spark, glue_run.args(orders_contract()))
    assert sorted(row["order_id"] for row in glue_run.curated()) == ["o1", "o2", "o3"]

    lines_run = glue_run.rerun_as("orders-jsonl")
    lines = (
        '{"order_id": "j1", "amount": 1.5, "ordered_at": "2026-11-24 10:00:00", "extra": {"k": 1}}\n'
        "not json\n"
        '[{"order_id": "j2"}]\n'
        '{"order_id": "j3", "amount": "2.25", "ordered_at": "2026-11-24 10:00:00"}\n'
        '{"order_id": "j4", "amount": "cheap", "ordered_at": null}\n'
    )
    lines_run.put("incoming/orders/l.jsonl.gz", lines, gzipped=True)
    result = transform.transform(spark, lines_run.args(orders_contract(data_format="jsonl")))

    assert sorted(row["order_id"] for row in lines_run.curated()) == ["j1", "j3"]
    assert {r["line_number"]: [x["rule"] for x in r["reasons"]] for r in lines_run.rejects()} == {
        2: ["format"],
        3: ["format"],
        5: ["type", "partition"],
    }
    assert result["rows_read"] == 5


def test_json_arrays_plain_and_gzip(spark: SparkSession, glue_run: GlueRun) -> None:
    glue_run.put(
        "incoming/orders/a.json",
        '[{"order_id": "a1", "amount": 1, "ordered_at": "2026-11-24 10:00:00"},\n'
        ' {"order_id": "a2", "amount": "oops", "ordered_at": "2026-11-24 10:00:00"}, 7]',
    )
    glue_run.put(
        "incoming/orders/b.json.gz",
        '[{"order_id": "b1", "amount": 2, "ordered_at": "2026-11-25 10:00:00"}]',
        gzipped=True,
    )
    glue_run.put("incoming/orders/c.json", '{"order_id": "not-an-array"}')
    result = transform.transform(spark, glue_run.args(orders_contract(data_format="json")))

    assert sorted(row["order_id"] for row in glue_run.curated()) == ["a1", "b1"]
    rejects = [
        (r["source_object_key"], r["record_number"], [x["rule"] for x in r["reasons"]])
        for r in glue_run.rejects()
    ]
    assert rejects == [
        ("incoming/orders/a.json", 2, ["type"]),
        ("incoming/orders/a.json", 3, ["format"]),
        ("incoming/orders/c.json", None, ["format"]),
    ]
    assert json.loads(glue_run.rejects()[0]["raw"])["amount"] == "oops"
    assert [o["rows_read"] for o in result["objects"]] == [3, 1, 1]


def test_line_numbers_stay_right_when_a_file_is_split_across_tasks(
    spark: SparkSession, glue_run: GlueRun
) -> None:
    body = "order_id,amount,ordered_at\n" + "".join(
        f"o{n},{'bad' if n % 25 == 0 else n},2026-11-24 10:00:00\n" for n in range(1, 301)
    )
    glue_run.put("incoming/orders/big.csv", body)
    glue_run.put("incoming/orders/small.csv", "order_id,amount,ordered_at\ns1,bad,2026-11-24 10:00:00\n")
    spark.conf.set("spark.sql.files.maxPartitionBytes", "2048")
    try:
        transform.transform(spark, glue_run.args(orders_contract()))
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")

    numbers = [(r["source_object_key"], r["line_number"], r["raw"].split(",")[0]) for r in glue_run.rejects()]
    expected = [("incoming/orders/big.csv", n + 1, f"o{n}") for n in range(25, 301, 25)]
    assert numbers == [*expected, ("incoming/orders/small.csv", 2, "s1")]


def test_rows_per_file_caps_the_file_size(spark: SparkSession, glue_run: GlueRun) -> None:
    body = "order_id,amount,ordered_at\n" + "".join(f"o{n},{n},2026-11-24 10:00:00\n" for n in range(50))
    glue_run.put("incoming/orders/o.csv", body)
    result = transform.transform(spark, glue_run.args(orders_contract(), rows_per_file=20))

    assert result["partitions"][0]["files"] == len(glue_run.curated_files()) == 3
    assert len(glue_run.curated()) == 50


def test_small_input_makes_one_file_per_partition(spark: SparkSession, glue_run: GlueRun) -> None:
    for n in range(4):
        glue_run.put(f"incoming/orders/part{n}.csv", ORDERS_CSV.replace("o", f"f{n}-"))
    result = transform.transform(spark, glue_run.args(orders_contract()))

    assert [p["files"] for p in result["partitions"]] == [1, 1]
    assert result["rows_written"] == 12


def test_rerun_replaces_its_own_output_and_leaves_other_runs_alone(
    spark: SparkSession, glue_run: GlueRun
) -> None:
    other = glue_run.rerun_as("orders-r0")
    other.put(
        "incoming/orders/other.csv",
        "order_id,amount,ordered_at\nx1,1,2026-11-24 12:00:00\nx2,y,2026-11-24 12:00:00\n",
    )
    transform.transform(spark, other.args(orders_contract()))
    other_files = {path: path.read_bytes() for path in other.curated_files()}

    glue_run.put("incoming/orders/o.csv", ORDERS_CSV)
    transform.transform(spark, glue_run.args(orders_contract()))
    first_rejects = glue_run.rejects()
    result = transform.transform(spark, glue_run.args(orders_contract()))

    assert sorted(row["order_id"] for row in glue_run.curated()) == ["o1", "o2", "o3"]
    assert glue_run.rejects() == first_rejects and len(first_rejects) == 1
    assert result["rows_written"] == 3
    assert {path: path.read_bytes() for path in other.curated_files()} == other_files
    assert [row["order_id"] for row in other.curated()] == ["x1"] and len(other.rejects()) == 1


def test_rerun_with_other_partitions_removes_the_stale_ones(spark: SparkSession, glue_run: GlueRun) -> None:
    glue_run.put("incoming/orders/o.csv", ORDERS_CSV)
    transform.transform(spark, glue_run.args(orders_contract()))
    contract = contract_document(
        ORDER_COLUMNS, partitioning={"column": "order_date", "source": "ingest_date"}
    )
    result = transform.transform(spark, glue_run.args(contract))

    assert [p["values"]["order_date"] for p in result["partitions"]] == ["2026-11-24"]
    assert {path.parts[-3] for path in glue_run.curated_files()} == {"order_date=2026-11-24"}
    assert len(glue_run.curated()) == 3


def test_keys_with_spaces_plus_brackets_and_unicode(spark: SparkSession, glue_run: GlueRun) -> None:
    keys = ["incoming/orders/a b+c.csv", "incoming/orders/[x]{y}*?.csv", "incoming/orders/é%20ü.csv"]
    for key in keys:
        glue_run.put(key, ORDERS_CSV)
    result = transform.transform(spark, glue_run.args(orders_contract()))

    assert [(o["key"], o["rows_read"], o["rows_rejected"]) for o in result["objects"]] == [
        (k, 4, 1) for k in keys
    ]
    assert sorted({row["source_object_key"] for row in glue_run.curated()}) == sorted(keys)


def test_documents_on_s3_through_boto3(
    spark: SparkSession, glue_run: GlueRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    glue_run.put("incoming/orders/o.csv", ORDERS_CSV)
    local = glue_run.args(orders_contract())
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        transform.s3_client.cache_clear()
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="artifacts")
        for name, path in (("validated.json", local.manifest_uri), ("plan.json", local.plan_uri)):
            s3.put_object(Bucket="artifacts", Key=f"runs/orders-r1/{name}", Body=Path(path).read_bytes())
        args = glue_run.args(
            orders_contract(),
            manifest_uri="s3://artifacts/runs/orders-r1/validated.json",
            plan_uri="s3://artifacts/runs/orders-r1/plan.json",
            result_uri="s3://artifacts/runs/orders-r1/result.json",
        )
        returned = transform.transform(spark, args)
        stored = json.loads(
            s3.get_object(Bucket="artifacts", Key="runs/orders-r1/result.json")["Body"].read()
        )
    transform.s3_client.cache_clear()

    assert stored == returned and stored["rows_written"] == 3


def test_an_empty_manifest_writes_an_empty_result(spark: SparkSession, glue_run: GlueRun) -> None:
    result = transform.transform(spark, glue_run.args(orders_contract()))

    assert (result["rows_read"], result["partitions"], result["partition_clause"], result["outputs"]) == (
        0,
        [],
        "",
        [],
    )
    assert result["quality"]["passed"] is True


@pytest.mark.parametrize(
    ("key", "gzipped", "code", "message"),
    [
        ("incoming/orders/_hidden.csv", False, "hidden_name", "Spark skips"),
        ("incoming/orders/.hidden.csv", False, "hidden_name", "Spark skips"),
        ("incoming/orders/packed.csv", True, "compression_mismatch", "does not end with .gz"),
    ],
)
def test_raw_objects_spark_cannot_read_faithfully_are_left_out_with_their_reason(
    spark: SparkSession, glue_run: GlueRun, key: str, gzipped: bool, code: str, message: str
) -> None:
    glue_run.put(key, ORDERS_CSV, gzipped=gzipped)  # no staged_uri: an older manifest names the raw key
    glue_run.put("incoming/orders/good.csv", ORDERS_CSV)
    result = transform.transform(spark, glue_run.args(orders_contract()))

    [failed] = result["failed_objects"]
    assert failed["key"] == key and failed["reasons"][0]["code"] == code
    assert message in failed["reasons"][0]["message"]
    assert [o["key"] for o in result["objects"]] == ["incoming/orders/good.csv"]
    assert {row["source_object_key"] for row in glue_run.curated()} == {"incoming/orders/good.csv"}


def test_result_document_is_written_where_asked(spark: SparkSession, glue_run: GlueRun) -> None:
    glue_run.put("incoming/orders/o.csv", ORDERS_CSV)
    args = glue_run.args(orders_contract(rules=[{"column": "order_id", "rule": "unique"}]))
    result = transform.transform(spark, args)

    assert json.loads(Path(args.result_uri).read_text()) == result
    assert set(result) == {
        "run_id",
        "dataset",
        "status",
        "rows_read",
        "rows_written",
        "rows_rejected",
        "reject_ratio",
        "objects",
        "failed_objects",
        "partitions",
        "partition_clause",
        "rejects_uri",
        "outputs",
        "quality",
        "timing",
    }
    assert result["rejects_uri"] == "s3://artifacts/rejects/orders/run_id=orders-r1/"
    assert result["quality"]["rules"] == [{"column": "order_id", "rule": "unique", "failed_rows": 0}]
    assert (
        set(result["timing"]) == {"started_at", "finished_at", "seconds"} and result["timing"]["seconds"] > 0
    )


def test_two_versions_of_one_key_are_read_once_as_the_last_version(
    spark: SparkSession, glue_run: GlueRun
) -> None:
    glue_run.put("incoming/orders/o.csv", ORDERS_CSV, version="old")
    glue_run.put(
        "incoming/orders/o.csv", "order_id,amount,ordered_at\nn1,1,2026-11-24 10:00:00\n", version="new"
    )
    result = transform.transform(spark, glue_run.args(orders_contract()))

    assert [(o["version_id"], o["rows_read"]) for o in result["objects"]] == [("old", 0), ("new", 1)]
    assert [(row["order_id"], row["source_object_version"]) for row in glue_run.curated()] == [("n1", "new")]


def test_a_byte_order_mark_is_not_data(spark: SparkSession, glue_run: GlueRun) -> None:
    glue_run.put(
        "incoming/orders/bom.jsonl", '\ufeff{"order_id": "j1", "ordered_at": "2026-11-24 10:00:00"}\n'
    )
    transform.transform(spark, glue_run.args(orders_contract(data_format="jsonl")))
    csv_run = glue_run.rerun_as("orders-csv")
    csv_run.put("incoming/orders/bom.csv", "\ufeffc1,1,2026-11-24 10:00:00\n")
    transform.transform(spark, csv_run.args(orders_contract(csv={"header": False})))

    assert [row["order_id"] for row in glue_run.curated()] == ["j1"]
    assert [row["order_id"] for row in csv_run.curated()] == ["c1"]


def test_summary_and_partition_batches_are_written_next_to_the_result(
    spark: SparkSession, glue_run: GlueRun
) -> None:
    glue_run.put("incoming/orders/o.csv", ORDERS_CSV)
    args = glue_run.args(orders_contract())
    result = transform.transform(spark, args)

    folder = Path(args.result_uri).parent
    summary = json.loads((folder / "summary.json").read_text())
    batches = json.loads((folder / "partition-batches.json").read_text())
    assert summary == {
        "run_id": "orders-r1",
        "dataset": result["dataset"],
        "status": "SUCCEEDED",
        "rows_read": 4,
        "rows_written": 3,
        "rows_rejected": 1,
        "reject_ratio": result["reject_ratio"],
        "object_count": 1,
        "objects_failed": 0,
        "partition_count": 2,
        "quality": {k: result["quality"][k] for k in ("passed", "max_reject_ratio", "reject_ratio")},
        "result_uri": args.result_uri,
        "rejects_uri": result["rejects_uri"],
        "partition_batches_uri": str(folder / "partition-batches.json"),
        "failed_objects_uri": str(folder / "failed-objects.json"),
    }
    failed = json.loads((folder / "failed-objects.json").read_text())
    assert failed == {"run_id": "orders-r1", "dataset": "orders", "objects": [], "quarantine_uri": None}
    assert batches == [
        {
            "clause": result["partition_clause"],
            "drop_clause": "PARTITION (order_date='2026-11-24', run_id='orders-r1'), "
            "PARTITION (order_date='2026-11-25', run_id='orders-r1')",
        }
    ]
