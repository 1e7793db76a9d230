from __future__ import annotations

import datetime as dt
import decimal
import io
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tributary.local.endpoints.moto_server import MotoServer
from tributary.local.runtimes.athena_runtime import AthenaRuntime

CREATE = """CREATE EXTERNAL TABLE IF NOT EXISTS `sales`.`orders` (
  order_id string, amount decimal(10,2), quantity int, ordered_at timestamp, paid boolean)
PARTITIONED BY (order_date string, run_id string)
STORED AS PARQUET LOCATION 's3://curated-local/orders/' TBLPROPERTIES ('parquet.compression'='SNAPPY')"""


def _put_parquet(aws: MotoServer, key: str, rows: list[dict[str, object]]) -> None:
    schema = pa.schema(
        [
            ("order_id", pa.string()),
            ("amount", pa.decimal128(10, 2)),
            ("quantity", pa.int32()),
            ("ordered_at", pa.timestamp("us")),
            ("paid", pa.bool_()),
        ]
    )
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), buffer)
    aws.client("s3").put_object(Bucket="curated-local", Key=key, Body=buffer.getvalue())


@pytest.fixture
def athena(moto_server: MotoServer) -> Iterator[AthenaRuntime]:
    moto_server.client("s3").create_bucket(Bucket="curated-local")
    moto_server.client("glue").create_database(DatabaseInput={"Name": "sales"})
    runtime = AthenaRuntime(moto_server.client)
    yield runtime
    runtime.close()


def _run(athena: AthenaRuntime, sql: str) -> dict[str, object]:
    query_id = athena.start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": "sales"},
        ResultConfiguration={"OutputLocation": "s3://curated-local/athena-results/"},
    )["QueryExecutionId"]
    return athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]


def _rows(athena: AthenaRuntime, execution: dict[str, object]) -> list[list[str | None]]:
    result = athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"])
    return [[cell.get("VarCharValue") for cell in row["Data"]] for row in result["ResultSet"]["Rows"]]


def test_select_sees_registered_partitions_only(athena: AthenaRuntime, moto_server: MotoServer) -> None:
    assert _run(athena, CREATE)["Status"]["State"] == "SUCCEEDED"
    row = {
        "order_id": "o1",
        "amount": decimal.Decimal("12.50"),
        "quantity": 2,
        "ordered_at": dt.datetime(2026, 11, 24, 10, 15),
        "paid": True,
    }
    _put_parquet(moto_server, "orders/order_date=2026-11-24/run_id=r1/part-00000.snappy.parquet", [row])
    _put_parquet(
        moto_server,
        "orders/order_date=2026-11-24/run_id=r2/part-00000.snappy.parquet",
        [{**row, "order_id": "o2"}],
    )
    empty = _run(athena, "SELECT count(*) AS n FROM orders")
    assert _rows(athena, empty) == [["n"], ["0"]]

    ddl = _run(
        athena,
        "ALTER TABLE sales.orders ADD IF NOT EXISTS PARTITION (order_date='2026-11-24', run_id='r1') "
        "LOCATION 's3://curated-local/orders/order_date=2026-11-24/run_id=r1/'",
    )
    assert ddl["StatementType"] == "DDL"
    assert ddl["Status"]["State"] == "SUCCEEDED"
    selected = _run(
        athena, "SELECT order_id, amount, quantity, ordered_at, paid, order_date, run_id FROM sales.orders"
    )
    assert selected["StatementType"] == "DML"
    assert _rows(athena, selected) == [
        ["order_id", "amount", "quantity", "ordered_at", "paid", "order_date", "run_id"],
        ["o1", "12.50", "2", "2026-11-24 10:15:00.000", "true", "2026-11-24", "r1"],
    ]
    metadata = athena.get_query_results(QueryExecutionId=selected["QueryExecutionId"])["ResultSet"][
        "ResultSetMetadata"
    ]["ColumnInfo"]
    assert [(c["Name"], c["Type"]) for c in metadata] == [
        ("order_id", "varchar"),
        ("amount", "decimal"),
        ("quantity", "integer"),
        ("ordered_at", "timestamp"),
        ("paid", "boolean"),
        ("order_date", "varchar"),
        ("run_id", "varchar"),
    ]
    assert metadata[1]["Precision"] == 10 and metadata[1]["Scale"] == 2
    output = selected["ResultConfiguration"]["OutputLocation"]
    assert output == f"s3://curated-local/athena-results/{selected['QueryExecutionId']}.csv"
    body = (
        moto_server.client("s3")
        .get_object(Bucket="curated-local", Key=output.split("/", 3)[3])["Body"]
        .read()
    )
    assert body.decode().splitlines()[1].startswith('"o1","12.50"')


def test_partition_ddl_add_again_drop_and_show(athena: AthenaRuntime) -> None:
    _run(athena, CREATE)
    add = (
        "ALTER TABLE orders ADD PARTITION (order_date='d1', run_id='r1') "
        "PARTITION (order_date='d2', run_id='r1')"
    )
    assert _run(athena, add)["Status"]["State"] == "SUCCEEDED"
    again = _run(athena, add)
    assert again["Status"]["State"] == "FAILED"
    assert "already exists" in again["Status"]["StateChangeReason"]
    shown = _run(athena, "SHOW PARTITIONS orders")
    assert _rows(athena, shown) == [["order_date=d1/run_id=r1"], ["order_date=d2/run_id=r1"]]
    assert (
        _run(athena, "ALTER TABLE orders DROP PARTITION (order_date='d1', run_id='r1')")["Status"]["State"]
        == "SUCCEEDED"
    )
    assert _rows(athena, _run(athena, "SHOW PARTITIONS orders")) == [["order_date=d2/run_id=r1"]]
    wrong_keys = _run(athena, "ALTER TABLE orders ADD PARTITION (day='x')")
    assert wrong_keys["Status"]["State"] == "FAILED"


def test_create_and_drop_table_on_the_glue_catalog(athena: AthenaRuntime, moto_server: MotoServer) -> None:
    _run(athena, CREATE)
    table = moto_server.client("glue").get_table(DatabaseName="sales", Name="orders")["Table"]
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]][:2] == ["order_id", "amount"]
    assert table["StorageDescriptor"]["Columns"][1]["Type"] == "decimal(10,2)"
    assert [k["Name"] for k in table["PartitionKeys"]] == ["order_date", "run_id"]
    assert table["StorageDescriptor"]["Location"] == "s3://curated-local/orders/"
    assert _run(athena, "DROP TABLE sales.orders")["Status"]["State"] == "SUCCEEDED"
    assert _run(athena, "DROP TABLE sales.orders")["Status"]["State"] == "FAILED"
    assert _run(athena, "DROP TABLE IF EXISTS sales.orders")["Status"]["State"] == "SUCCEEDED"


def test_failures_are_reported_as_athena_does(athena: AthenaRuntime) -> None:
    missing = _run(athena, "SELECT * FROM nowhere")
    assert missing["Status"]["State"] == "FAILED"
    assert "TABLE_NOT_FOUND" in missing["Status"]["StateChangeReason"]
    assert missing["Status"]["AthenaError"]["ErrorCategory"] == 2
    syntax = _run(athena, "SELEC 1")
    assert syntax["Status"]["State"] == "FAILED"
    with pytest.raises(Exception, match=r"not yet finished|FAILED"):
        athena.get_query_results(QueryExecutionId=syntax["QueryExecutionId"])


def test_results_are_paged(athena: AthenaRuntime) -> None:
    execution = _run(athena, "SELECT * FROM range(5) t(i)")
    first = athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"], MaxResults=4)
    assert len(first["ResultSet"]["Rows"]) == 4
    second = athena.get_query_results(
        QueryExecutionId=execution["QueryExecutionId"], NextToken=first["NextToken"]
    )
    assert [r["Data"][0]["VarCharValue"] for r in second["ResultSet"]["Rows"]] == ["3", "4"]
    assert "NextToken" not in second
