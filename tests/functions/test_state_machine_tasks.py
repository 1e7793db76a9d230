"""The catalog, lineage and quarantine tasks against moto."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from etl_common.contracts import load_contract

from .conftest import REPO, Stack

RUN_ID = "orders-20261124T101458Z-0123456789"


def put_json(stack: Stack, key: str, document: Any) -> str:
    boto3.client("s3").put_object(Bucket=stack.artifacts_bucket, Key=key, Body=json.dumps(document))
    return f"s3://{stack.artifacts_bucket}/{key}"


def put_contract(stack: Stack, dataset: str = "orders", **changes: Any) -> str:
    document = {**load_contract(dataset, REPO / "contracts").model_dump(mode="json"), **changes}
    return put_json(stack, f"runs/{RUN_ID}/contract.json", document)


class TestCatalog:
    def create_database(self, stack: Stack) -> None:
        boto3.client("glue").create_database(DatabaseInput={"Name": stack.glue_database})

    def test_creates_the_table_from_the_contract(self, stack, load_handler, lambda_context):
        self.create_database(stack)
        handler = load_handler("catalog")
        request = {"run_id": RUN_ID, "dataset": "orders", "contract_uri": put_contract(stack)}

        result = handler.lambda_handler(request, lambda_context)

        assert result == {
            "database": stack.glue_database,
            "table": "orders",
            "location": f"s3://{stack.curated_bucket}/orders/",
            "created": True,
            "updated": False,
        }
        table = boto3.client("glue").get_table(DatabaseName=stack.glue_database, Name="orders")["Table"]
        descriptor = table["StorageDescriptor"]
        assert [(column["Name"], column["Type"]) for column in descriptor["Columns"]] == [
            ("order_id", "string"),
            ("customer_id", "string"),
            ("amount", "decimal(10,2)"),
            ("quantity", "int"),
            ("status", "string"),
            ("ordered_at", "timestamp"),
            ("source_object_key", "string"),
            ("source_object_version", "string"),
            ("ingested_at", "timestamp"),
        ]
        assert [(key["Name"], key["Type"]) for key in table["PartitionKeys"]] == [
            ("order_date", "string"),
            ("run_id", "string"),
        ]
        assert descriptor["Location"] == f"s3://{stack.curated_bucket}/orders/"
        assert descriptor["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
        assert descriptor["InputFormat"].endswith("MapredParquetInputFormat")
        assert table["TableType"] == "EXTERNAL_TABLE"
        assert table["Parameters"]["classification"] == "parquet"

    def test_leaves_a_matching_table_alone_and_updates_a_stale_one(self, stack, load_handler, lambda_context):
        self.create_database(stack)
        handler = load_handler("catalog")
        request = {"run_id": RUN_ID, "dataset": "orders", "contract_uri": put_contract(stack)}
        handler.lambda_handler(request, lambda_context)

        assert handler.lambda_handler(request, lambda_context)["updated"] is False

        contract = load_contract("orders", REPO / "contracts").model_dump(mode="json")
        wider = [*contract["columns"], {"name": "channel", "type": "string"}]
        request["contract_uri"] = put_contract(stack, columns=wider)
        assert handler.lambda_handler(request, lambda_context) == {
            "database": stack.glue_database,
            "table": "orders",
            "location": f"s3://{stack.curated_bucket}/orders/",
            "created": False,
            "updated": True,
        }
        table = boto3.client("glue").get_table(DatabaseName=stack.glue_database, Name="orders")["Table"]
        assert "channel" in [column["Name"] for column in table["StorageDescriptor"]["Columns"]]

    def test_clicks_partition_by_ingest_date(self, stack, load_handler, lambda_context):
        self.create_database(stack)
        handler = load_handler("catalog")
        request = {"run_id": RUN_ID, "dataset": "clicks", "contract_uri": put_contract(stack, "clicks")}

        handler.lambda_handler(request, lambda_context)

        table = boto3.client("glue").get_table(DatabaseName=stack.glue_database, Name="clicks")["Table"]
        assert [key["Name"] for key in table["PartitionKeys"]] == ["ingest_date", "run_id"]
        types = {column["Name"]: column["Type"] for column in table["StorageDescriptor"]["Columns"]}
        assert (types["duration_ms"], types["is_bot"]) == ("bigint", "boolean")


def validated_manifest(stack: Stack, objects: list[dict[str, Any]], **fields: Any) -> str:
    return put_json(
        stack,
        f"runs/{RUN_ID}/validated.json",
        {
            "run_id": RUN_ID,
            "dataset": "orders",
            "created_at": "2026-11-24T10:15:00Z",
            "source": "eventbridge",
            "contract_uri": f"s3://{stack.artifacts_bucket}/runs/{RUN_ID}/contract.json",
            "objects": objects,
            **fields,
        },
    )


def test_lineage_answers_which_upload_who_caused_it_and_which_contract_and_reference_versions(
    stack, load_handler, lambda_context
):
    trigger = {
        "kind": "upload",
        "principal": "123456789012",
        "source_ip": "203.0.113.15",
        "request_id": "N4N7GDK58NMKJ12R",
        "reason": "PutObject",
        "event_id": "17793124-05d4-b198-2fde-7ededc63b103",
    }
    obj = {
        "bucket": stack.raw_bucket,
        "key": "incoming/orders/a.csv",
        "version_id": "v1",
        "etag": "e1",
        "size": 10,
        "event_time": "2026-11-24T10:14:58Z",
        "trigger": trigger,
        "compression": "none",
        "encoding": "utf-8",
        "format": "csv",
    }
    reference = {
        "name": "customers",
        "bucket": stack.raw_bucket,
        "key": "reference/customers.csv",
        "version_id": "rv3",
        "etag": "re3",
        "values": 12,
    }
    versions = {"contract_version": "2", "contract_sha256": "ab" * 32, "references": [reference]}
    result_uri = put_json(
        stack,
        f"runs/{RUN_ID}/result.json",
        {
            "run_id": RUN_ID,
            "dataset": "orders",
            "status": "SUCCEEDED",
            "objects": [{"key": "incoming/orders/a.csv", "version_id": "v1", "rows_written": 4}],
            "partitions": [],
        },
    )
    request = {
        "run_id": RUN_ID,
        "dataset": "orders",
        "manifest_uri": validated_manifest(stack, [obj], versions=versions),
        "result_uri": result_uri,
    }

    assert load_handler("lineage").lambda_handler(request, lambda_context) == {"objects": 1}

    [item] = boto3.resource("dynamodb").Table(stack.lineage_table).scan()["Items"]
    assert {name: value for name, value in item.items() if name not in ("outputs", "recorded_at")} == {
        "object_id": f"s3://{stack.raw_bucket}/incoming/orders/a.csv#v1",
        "run_id": RUN_ID,
        "dataset": "orders",
        "rows_written": 4,
        "source_bucket": stack.raw_bucket,
        "source_key": "incoming/orders/a.csv",
        "source_version_id": "v1",
        "source_etag": "e1",
        "uploaded_at": "2026-11-24T10:14:58Z",
        "trigger_kind": "upload",
        "trigger_principal": "123456789012",
        "trigger_source_ip": "203.0.113.15",
        "trigger_request_id": "N4N7GDK58NMKJ12R",
        "trigger_reason": "PutObject",
        "contract_version": "2",
        "contract_sha256": "ab" * 32,
        "references": [reference],
    }


def test_lineage_records_one_item_per_object_version(stack, load_handler, lambda_context):
    handler = load_handler("lineage")
    objects = [
        {
            "bucket": stack.raw_bucket,
            "key": "incoming/orders/a b+c.csv",
            "version_id": "v1",
            "etag": "e1",
            "size": 10,
            "event_time": "2026-11-24T10:14:58Z",
            "compression": "none",
            "encoding": "utf-8",
            "format": "csv",
        },
        {
            "bucket": stack.raw_bucket,
            "key": "incoming/orders/d.csv",
            "version_id": None,
            "etag": "e2",
            "size": 10,
            "event_time": "2026-11-24T10:14:58Z",
            "compression": "none",
            "encoding": "utf-8",
            "format": "csv",
        },
    ]
    location = f"s3://{stack.curated_bucket}/orders/order_date=2026-11-24/run_id={RUN_ID}/"
    result_uri = put_json(
        stack,
        f"runs/{RUN_ID}/result.json",
        {
            "run_id": RUN_ID,
            "dataset": "orders",
            "status": "SUCCEEDED",
            "rows_written": 7,
            "objects": [
                {"key": "incoming/orders/a b+c.csv", "version_id": "v1", "rows_read": 5, "rows_written": 4},
                {"key": "incoming/orders/d.csv", "version_id": None, "rows_read": 3, "rows_written": 3},
            ],
            "partitions": [{"values": {"order_date": "2026-11-24", "run_id": RUN_ID}, "location": location}],
            "future_field": "ignored",
        },
    )
    request = {
        "run_id": RUN_ID,
        "dataset": "orders",
        "manifest_uri": validated_manifest(stack, objects),
        "result_uri": result_uri,
    }

    assert handler.lambda_handler(request, lambda_context) == {"objects": 2}
    # A retried task rewrites the same items.
    assert handler.lambda_handler(request, lambda_context) == {"objects": 2}

    table = boto3.resource("dynamodb").Table(stack.lineage_table)
    items = sorted(table.scan()["Items"], key=lambda item: item["object_id"])
    assert [(item["object_id"], item["run_id"], item["rows_written"], item["outputs"]) for item in items] == [
        (f"s3://{stack.raw_bucket}/incoming/orders/a b+c.csv#v1", RUN_ID, 4, [location]),
        (f"s3://{stack.raw_bucket}/incoming/orders/d.csv#e2", RUN_ID, 3, [location]),
    ]


def test_lineage_skips_the_objects_the_job_left_out(stack, load_handler, lambda_context):
    """An object in failed-objects.json published nothing: it gets no lineage (it is quarantined instead)."""
    handler = load_handler("lineage")
    read = raw_object(stack, "incoming/orders/good.csv", "v1")
    left_out = raw_object(stack, "incoming/orders/cut.csv.gz", "v2")
    location = f"s3://{stack.curated_bucket}/orders/order_date=2026-11-24/run_id={RUN_ID}/"
    result_uri = put_json(
        stack,
        f"runs/{RUN_ID}/result.json",
        {
            "run_id": RUN_ID,
            "dataset": "orders",
            "status": "SUCCEEDED",
            "objects": [{"key": read["key"], "version_id": "v1", "rows_read": 2, "rows_written": 2}],
            "failed_objects": [
                {
                    **left_out,
                    "reasons": [{"code": "corrupt_gzip", "message": "Unexpected end of input stream"}],
                }
            ],
            "partitions": [{"values": {"order_date": "2026-11-24", "run_id": RUN_ID}, "location": location}],
        },
    )
    request = {
        "run_id": RUN_ID,
        "dataset": "orders",
        "manifest_uri": validated_manifest(stack, [read, left_out]),
        "result_uri": result_uri,
    }

    assert handler.lambda_handler(request, lambda_context) == {"objects": 1}
    table = boto3.resource("dynamodb").Table(stack.lineage_table)
    assert [item["object_id"] for item in table.scan()["Items"]] == [
        f"s3://{stack.raw_bucket}/incoming/orders/good.csv#v1"
    ]


def raw_object(stack: Stack, key: str, version: str | None, **fields: Any) -> dict[str, Any]:
    """An object version of the raw bucket as a manifest lists it (plus any validated fields)."""
    return {
        "bucket": stack.raw_bucket,
        "key": key,
        "version_id": version,
        "etag": "e",
        "size": 5,
        "event_time": "2026-11-24T10:14:58Z",
        **fields,
    }


class TestQuarantine:
    def test_copies_inputs_and_writes_reasons_keeping_the_originals(
        self, stack, load_handler, lambda_context
    ):
        handler = load_handler("quarantine")
        s3 = boto3.client("s3")
        keys = ["incoming/orders/a b+c.csv", "incoming/orders/ünï/d.csv"]
        objects = []
        for key in keys:
            version = s3.put_object(Bucket=stack.raw_bucket, Key=key, Body=b"first")["VersionId"]
            objects.append(raw_object(stack, key, version))
        # A newer upload of the first key must not be what gets quarantined.
        s3.put_object(Bucket=stack.raw_bucket, Key=keys[0], Body=b"second")
        manifest_uri = put_json(
            stack,
            f"runs/{RUN_ID}/manifest.json",
            {"run_id": RUN_ID, "dataset": "orders", "created_at": "2026-11-24T10:15:00Z", "objects": objects},
        )
        boto3.resource("dynamodb").Table(stack.runs_table).put_item(
            Item={"run_id": RUN_ID, "status": "FAILED"}
        )
        request = {
            "run_id": RUN_ID,
            "dataset": "orders",
            "manifest_uri": manifest_uri,
            "error": "States.TaskFailed",
            "cause": "Glue job failed",
        }

        result = handler.lambda_handler(request, lambda_context)

        prefix = f"quarantine/orders/{RUN_ID}/"
        assert result == {"quarantined": 2, "quarantine_uri": f"s3://{stack.artifacts_bucket}/{prefix}"}
        for key in keys:
            copy = s3.get_object(Bucket=stack.artifacts_bucket, Key=f"{prefix}{key}")["Body"].read()
            assert copy == b"first"
            reason = json.loads(
                s3.get_object(Bucket=stack.artifacts_bucket, Key=f"{prefix}{key}.reason.json")["Body"].read()
            )
            assert reason["source"] == f"s3://{stack.raw_bucket}/{key}"
            assert (reason["error"], reason["cause"]) == ("States.TaskFailed", "Glue job failed")
        # Copies, never moves: the originals (both versions) are still there.
        assert s3.get_object(Bucket=stack.raw_bucket, Key=keys[0])["Body"].read() == b"second"
        versions = s3.list_object_versions(Bucket=stack.raw_bucket, Prefix=keys[0])["Versions"]
        assert len(versions) == 2
        assert s3.get_object(Bucket=stack.raw_bucket, Key=keys[1])["Body"].read() == b"first"
        record = boto3.resource("dynamodb").Table(stack.runs_table).get_item(Key={"run_id": RUN_ID})["Item"]
        assert record["status"] == "QUARANTINED"
        assert record["quarantine_uri"] == result["quarantine_uri"]

    def test_a_vanished_input_still_gets_its_reason(self, stack, load_handler, lambda_context):
        handler = load_handler("quarantine")
        objects = [
            {
                "bucket": stack.raw_bucket,
                "key": "incoming/orders/gone.csv",
                "version_id": "nope",
                "size": 5,
                "event_time": "2026-11-24T10:14:58Z",
            }
        ]
        manifest_uri = put_json(
            stack,
            f"runs/{RUN_ID}/manifest.json",
            {"run_id": RUN_ID, "dataset": "orders", "created_at": "2026-11-24T10:15:00Z", "objects": objects},
        )
        request = {
            "run_id": RUN_ID,
            "dataset": "orders",
            "manifest_uri": manifest_uri,
            "error": None,
            "cause": None,
        }

        assert handler.lambda_handler(request, lambda_context)["quarantined"] == 0
        reason_key = f"quarantine/orders/{RUN_ID}/incoming/orders/gone.csv.reason.json"
        reason = json.loads(
            boto3.client("s3").get_object(Bucket=stack.artifacts_bucket, Key=reason_key)["Body"].read()
        )
        assert reason["cause"] == "input missing at quarantine time"

    def test_a_failed_run_whose_refused_object_validate_quarantined_is_quarantined_again(
        self, stack, load_handler, lambda_context
    ):
        validate = load_handler("validate")
        quarantine = load_handler("quarantine")
        s3 = boto3.client("s3")
        objects = []
        for key, body in [
            ("incoming/orders/good.csv", b"order_id,customer_id,amount,quantity,status,ordered_at\n"),
            ("incoming/orders/bad.csv", b"id,who\n"),
        ]:
            response = s3.put_object(Bucket=stack.raw_bucket, Key=key, Body=body)
            objects.append(
                {
                    "bucket": stack.raw_bucket,
                    "key": key,
                    "version_id": response["VersionId"],
                    "etag": response["ETag"].strip('"'),
                    "size": len(body),
                    "event_time": "2026-11-24T10:14:58Z",
                }
            )
        manifest_uri = put_json(
            stack,
            f"runs/{RUN_ID}/manifest.json",
            {"run_id": RUN_ID, "dataset": "orders", "created_at": "2026-11-24T10:15:00Z", "objects": objects},
        )
        validated = validate.lambda_handler(
            {"run_id": RUN_ID, "dataset": "orders", "manifest_uri": manifest_uri, "object_count": 2},
            lambda_context,
        )
        assert validated["rejected"] == 1

        # The Glue job fails later: the failure path quarantines every input of the run.
        result = quarantine.lambda_handler(
            {
                "run_id": RUN_ID,
                "dataset": "orders",
                "manifest_uri": manifest_uri,
                "error": "States.TaskFailed",
                "cause": "Glue job failed",
            },
            lambda_context,
        )

        assert result == {"quarantined": 2, "quarantine_uri": validated["quarantine_uri"]}
        prefix = f"quarantine/orders/{RUN_ID}/"
        listed = s3.list_objects_v2(Bucket=stack.artifacts_bucket, Prefix=prefix)["Contents"]
        assert sorted(item["Key"] for item in listed) == sorted(
            f"{prefix}{obj['key']}{suffix}" for obj in objects for suffix in ("", ".reason.json")
        )
        copy = s3.get_object(Bucket=stack.artifacts_bucket, Key=f"{prefix}incoming/orders/bad.csv")
        assert copy["Body"].read() == b"id,who\n"
        reason = json.loads(
            s3.get_object(Bucket=stack.artifacts_bucket, Key=f"{prefix}incoming/orders/bad.csv.reason.json")[
                "Body"
            ].read()
        )
        assert (reason["error"], reason["cause"], reason["reasons"]) == (
            "States.TaskFailed",
            "Glue job failed",
            [],
        )


def lineage_items(stack: Stack) -> list[tuple[str, str]]:
    table = boto3.resource("dynamodb").Table(stack.lineage_table)
    return sorted((item["object_id"], item["run_id"]) for item in table.scan()["Items"])


class TestLineageRetraction:
    def test_retract_deletes_exactly_the_items_of_the_failed_run(self, stack, load_handler, lambda_context):
        handler = load_handler("lineage")
        objects = [
            {
                "bucket": stack.raw_bucket,
                "key": f"incoming/orders/{name}",
                "version_id": version,
                "etag": "e",
                "size": 10,
                "event_time": "2026-11-24T10:14:58Z",
                "compression": "none",
                "encoding": "utf-8",
                "format": "csv",
            }
            for name, version in [("a.csv", "v1"), ("ü b.csv", "v2")]
        ]
        manifest_uri = validated_manifest(stack, objects)
        result_uri = put_json(
            stack,
            f"runs/{RUN_ID}/result.json",
            {"run_id": RUN_ID, "dataset": "orders", "status": "SUCCEEDED", "objects": [], "partitions": []},
        )
        record = {
            "run_id": RUN_ID,
            "dataset": "orders",
            "manifest_uri": manifest_uri,
            "result_uri": result_uri,
        }
        assert handler.lambda_handler({**record, "action": "record"}, lambda_context) == {"objects": 2}
        # The same object version published by another (earlier, successful) run keeps its lineage.
        table = boto3.resource("dynamodb").Table(stack.lineage_table)
        earlier = f"s3://{stack.raw_bucket}/incoming/orders/a.csv#v1"
        table.put_item(Item={"object_id": earlier, "run_id": "orders-earlier", "dataset": "orders"})
        assert len(lineage_items(stack)) == 3

        retract = {"action": "retract", "run_id": RUN_ID, "dataset": "orders", "manifest_uri": manifest_uri}
        assert handler.lambda_handler(retract, lambda_context) == {"retracted": 2}
        assert lineage_items(stack) == [(earlier, "orders-earlier")]
        # A retried retraction (or one for a run that wrote nothing) is no error.
        assert handler.lambda_handler(retract, lambda_context) == {"retracted": 2}
        assert lineage_items(stack) == [(earlier, "orders-earlier")]

    def test_a_manifest_of_another_run_is_refused(self, stack, load_handler, lambda_context):
        handler = load_handler("lineage")
        manifest_uri = validated_manifest(stack, [])
        retract = {
            "action": "retract",
            "run_id": "orders-other",
            "dataset": "orders",
            "manifest_uri": manifest_uri,
        }
        with pytest.raises(ValueError, match="does not belong to run orders-other"):
            handler.lambda_handler(retract, lambda_context)

    def test_an_unknown_action_is_named(self, stack, load_handler, lambda_context):
        handler = load_handler("lineage")
        with pytest.raises(ValueError, match="unknown lineage action 'erase'"):
            handler.lambda_handler({"action": "erase", "run_id": RUN_ID}, lambda_context)


class TestQuarantineFailedObjects:
    def put_failed_objects(self, stack: Stack, objects: list[dict[str, Any]], run_id: str = RUN_ID) -> str:
        return put_json(
            stack,
            f"runs/{RUN_ID}/failed-objects.json",
            {"run_id": run_id, "dataset": "orders", "objects": objects, "quarantine_uri": None},
        )

    def failed_object(
        self, stack: Stack, key: str, version: str | None, reasons: list[dict[str, str]]
    ) -> dict:
        return raw_object(
            stack,
            key,
            version,
            compression="gzip",
            encoding="utf-8",
            format="csv",
            staged_uri=f"s3://{stack.artifacts_bucket}/runs/{RUN_ID}/input/00001.csv.gz",
            reasons=reasons,
        )

    def test_each_object_is_quarantined_with_its_own_reasons_and_the_run_is_left_alone(
        self, stack, load_handler, lambda_context
    ):
        handler = load_handler("quarantine")
        s3 = boto3.client("s3")
        keys = ["incoming/orders/broken.csv.gz", "incoming/orders/ünï/bad.csv"]
        versions = [
            s3.put_object(Bucket=stack.raw_bucket, Key=key, Body=b"first")["VersionId"] for key in keys
        ]
        # A newer upload of the first key must not be what gets quarantined.
        s3.put_object(Bucket=stack.raw_bucket, Key=keys[0], Body=b"second")
        reasons = [
            [{"code": "corrupt_gzip", "message": "not in gzip format"}],
            [
                {"code": "decode_error", "message": "invalid byte 0xff at offset 3"},
                {"code": "read_error", "message": "truncated"},
            ],
        ]
        uri = self.put_failed_objects(
            stack,
            [self.failed_object(stack, key, v, r) for key, v, r in zip(keys, versions, reasons, strict=True)],
        )
        runs = boto3.resource("dynamodb").Table(stack.runs_table)
        runs.put_item(Item={"run_id": RUN_ID, "status": "RUNNING"})

        request = {"run_id": RUN_ID, "dataset": "orders", "failed_objects_uri": uri}
        result = handler.lambda_handler(request, lambda_context)

        prefix = f"quarantine/orders/{RUN_ID}/"
        assert result == {"quarantined": 2, "quarantine_uri": f"s3://{stack.artifacts_bucket}/{prefix}"}
        for key, wanted in zip(keys, reasons, strict=True):
            assert (
                s3.get_object(Bucket=stack.artifacts_bucket, Key=f"{prefix}{key}")["Body"].read() == b"first"
            )
            reason = json.loads(
                s3.get_object(Bucket=stack.artifacts_bucket, Key=f"{prefix}{key}.reason.json")["Body"].read()
            )
            assert reason["error"] == "Tributary.ObjectFailed"
            assert reason["reasons"] == wanted
            assert reason["cause"] == "; ".join(f"{r['code']}: {r['message']}" for r in wanted)
            assert reason["source"] == f"s3://{stack.raw_bucket}/{key}"
        # The run goes on: its record is not marked QUARANTINED.
        assert runs.get_item(Key={"run_id": RUN_ID})["Item"]["status"] == "RUNNING"
        assert s3.get_object(Bucket=stack.raw_bucket, Key=keys[0])["Body"].read() == b"second"

    def test_an_empty_list_quarantines_nothing(self, stack, load_handler, lambda_context):
        handler = load_handler("quarantine")
        uri = self.put_failed_objects(stack, [])
        result = handler.lambda_handler(
            {"run_id": RUN_ID, "dataset": "orders", "failed_objects_uri": uri}, lambda_context
        )
        assert result["quarantined"] == 0
        listed = boto3.client("s3").list_objects_v2(Bucket=stack.artifacts_bucket, Prefix="quarantine/")
        assert listed.get("KeyCount", 0) == 0

    def test_a_list_of_another_run_is_refused(self, stack, load_handler, lambda_context):
        handler = load_handler("quarantine")
        uri = self.put_failed_objects(stack, [], run_id="orders-other")
        with pytest.raises(ValueError, match="do not belong to run"):
            handler.lambda_handler(
                {"run_id": RUN_ID, "dataset": "orders", "failed_objects_uri": uri}, lambda_context
            )

    def test_an_object_without_reasons_is_refused(self, stack, load_handler, lambda_context):
        handler = load_handler("quarantine")
        uri = self.put_failed_objects(stack, [self.failed_object(stack, "incoming/orders/x.csv", None, [])])
        with pytest.raises(ValueError, match="reasons"):
            handler.lambda_handler(
                {"run_id": RUN_ID, "dataset": "orders", "failed_objects_uri": uri}, lambda_context
            )
