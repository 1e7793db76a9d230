"""Validate: sniffing of samples, and the task against objects in (moto) S3."""

from __future__ import annotations

import gzip
import json
import warnings
from typing import Any

import boto3
import pytest
import yaml
from etl_common.contracts import Contract, ContractError, load_contract
from etl_common.models import RejectedObject
from etl_common.plan import compile_plan, contract_sha256
from hypothesis import given, settings
from hypothesis import strategies as st
from validate import sniffing
from validate.sniffing import Sample, SniffError

from .conftest import REPO, Stack

ORDERS_HEADER = "order_id,customer_id,amount,quantity,status,ordered_at"
ORDERS_CSV = (REPO / "events" / "data" / "orders-sample.csv").read_bytes()
CLICKS_JSONL = (REPO / "events" / "data" / "clicks-sample.jsonl").read_bytes()
ORDERS_COLUMNS = ORDERS_HEADER.split(",")


def csv_check(text: str, complete: bool = True, header: bool = True) -> None:
    sniffing.check_csv(
        text, complete, delimiter=",", quote='"', escape='"', header=header, columns=ORDERS_COLUMNS
    )


class TestSniffing:
    def test_gzip_is_recognised_by_its_magic_bytes_and_inflated(self):
        packed = gzip.compress(b"a,b\n1,2\n")
        assert sniffing.is_gzip(packed) and not sniffing.is_gzip(b"a,b\n")
        assert sniffing.gunzip(Sample(packed, complete=True)) == Sample(b"a,b\n1,2\n", complete=True)

    def test_a_truncated_sample_of_gzip_is_fine_but_a_truncated_object_is_corrupt(self):
        packed = gzip.compress(ORDERS_CSV * 20)
        head = sniffing.gunzip(Sample(packed[:200], complete=False))
        assert not head.complete and ORDERS_CSV.startswith(head.data[:20])
        with pytest.raises(SniffError) as error:
            sniffing.gunzip(Sample(packed[:200], complete=True))
        assert error.value.code == "corrupt_gzip"
        with pytest.raises(SniffError):
            sniffing.gunzip(Sample(b"\x1f\x8b\x08\x00garbage-garbage", complete=True))

    def test_decoding_tolerates_a_character_cut_by_the_sample_end_and_a_bom(self):
        text = "id,name\n1,Zoë\n".encode()
        assert sniffing.decode(Sample(text[:-2], complete=False), "utf-8") == "id,name\n1,Zo"
        assert sniffing.decode(Sample(b"\xef\xbb\xbfid\n", complete=True), "utf-8") == "id\n"
        with pytest.raises(SniffError) as error:
            sniffing.decode(Sample(text[:-2], complete=True), "utf-8")
        assert error.value.code == "encoding"

    def test_latin1_bytes_are_not_utf8(self):
        with pytest.raises(SniffError, match=r"not valid utf-8: byte b'\\xeb' at offset 12"):
            sniffing.decode(Sample("id,name\n1,Zoë\n".encode("latin-1"), complete=True), "utf-8")
        assert sniffing.decode(Sample("Zoë".encode("latin-1"), complete=True), "latin-1") == "Zoë"

    @pytest.mark.parametrize(
        ("text", "expected"),
        [("a,b\n1,2", "csv"), (' \n[{"a": 1}]', "json"), ('{"a": 1}\n{"a": 2}', "jsonl"), ("", "csv")],
    )
    def test_format_is_sniffed_from_the_first_character(self, text, expected):
        assert sniffing.sniff_format(text) == expected

    def test_csv_header_must_match_the_contract_columns_in_order(self):
        csv_check(ORDERS_HEADER + "\n")
        csv_check(" order_id , customer_id,amount,quantity,status,ordered_at\r\nORD-1,...")
        with pytest.raises(SniffError, match=r"missing \['ordered_at'\], 1 unexpected at field 6\)"):
            csv_check(ORDERS_HEADER.replace("ordered_at", "created") + "\n")
        with pytest.raises(SniffError, match="order differs at fields 1, 2"):
            csv_check("customer_id,order_id,amount,quantity,status,ordered_at\n")

    def test_csv_without_header_is_checked_by_field_count(self):
        csv_check('ORD-1,C1,"1,5",1,NEW,2026-11-24 10:00:00\n', header=False)
        with pytest.raises(SniffError, match="5 fields"):
            csv_check("ORD-1,C1,1,NEW,2026-11-24 10:00:00\n", header=False)

    def test_csv_whose_first_line_exceeds_the_sample_is_refused(self):
        with pytest.raises(SniffError, match="longer than the sample"):
            csv_check("x" * 100, complete=False)

    def test_json_lines_skip_malformed_rows_but_need_an_object_with_required_fields(self):
        columns, required = ["id", "v"], ["id"]
        sniffing.check_json_lines('{"id": 1, "v"\n{"id": 2}\n', True, required=required, columns=columns)
        # The last line of an incomplete sample is ignored, however it ends.
        sniffing.check_json_lines('{"id": 1}\n{"id": 2, "v": "cut', False, required=required, columns=columns)
        with pytest.raises(SniffError, match=r"lacks required fields \['id'\]"):
            sniffing.check_json_lines('{"v": 1}\n', True, required=required, columns=columns)
        with pytest.raises(SniffError) as error:
            sniffing.check_json_lines("[1]\nnot json\n", True, required=required, columns=columns)
        assert error.value.code == "format_mismatch"

    def test_json_arrays_must_hold_objects(self):
        sniffing.check_json_array('[{"id": 1}]', True, required=["id"], columns=["id"])
        sniffing.check_json_array('[{"id": 1}, {"id"', False, required=["id"], columns=["id"])
        with pytest.raises(SniffError, match="array of objects"):
            sniffing.check_json_array("[1, 2]", True, required=["id"], columns=["id"])


class TestRecordsAsTheJobReadsThem:
    """Sniffing agrees with the Glue job on what a record is, and refuses a file for one bad row never."""

    def test_a_quoted_csv_field_spanning_lines_is_one_record(self):
        row = 'ORD-1,C1,"1,5",1,"NEW\nstill the status\r\nand more",2026-11-24 10:00:00\n'
        csv_check(row + "ORD-2,C1,1,1,NEW,2026-11-24 10:00:00\n", header=False)
        csv_check(row + "ORD-2,C1,1,1,NEW,2026-11-", complete=False, header=False)
        csv_check(ORDERS_HEADER + "\n" + row + 'ORD-2,C1,1,1,"cut inside a quoted\nfield', complete=False)
        quoted_header = ORDERS_HEADER.replace("status", '"sta\ntus"')
        # One record of six fields: the quoted name spanning two lines is one field.
        with pytest.raises(
            SniffError, match=r"6 fields, 6 columns; missing \['status'\], 1 unexpected at field 5\)"
        ):
            csv_check(quoted_header + "\n" + row)

    def test_a_first_record_cut_by_the_sample_end_is_refused_as_too_long(self):
        with pytest.raises(SniffError, match="first record is longer than the sample"):
            csv_check('ORD-1,C1,1,1,"a quoted field\nspanning lines, cut', complete=False, header=False)

    def test_a_long_field_in_the_first_record_is_no_reason_to_refuse(self):
        long_field = "x" * 200_000  # beyond the csv module's default field limit (128 KiB)
        csv_check(f"ORD-1,C1,1,1,{long_field},2026-11-24 10:00:00\nORD-2,", complete=False, header=False)

    def test_a_json_line_with_a_duplicate_key_is_skipped_not_a_reason_to_refuse(self):
        columns, required = ["id", "v"], ["id"]
        # The first line would pass the check only through its duplicate; the job rejects that row.
        text = '{"v": 1, "id": 1, "id": 2}\n{"id": 3, "v": 4}\n'
        sniffing.check_json_lines(text, True, required=required, columns=columns)
        with pytest.raises(SniffError, match=r"lacks required fields \['id'\]"):
            sniffing.check_json_lines(
                '{"id": 1, "id": 2}\n{"v": 4}\n', True, required=required, columns=columns
            )
        with pytest.raises(
            SniffError, match=r"none of the first 2 lines .*\(1 with a duplicate key, 1 not valid JSON\)"
        ):
            sniffing.check_json_lines(
                '{"id": 1, "id": 2}\n{"id": \n', True, required=required, columns=columns
            )

    def test_numbers_python_will_not_convert_do_not_crash_the_check(self):
        huge = "9" * 5000  # int() refuses more than 4,300 digits
        sniffing.check_json_lines(f'{{"id": {huge}}}\n{{"id": 1}}\n', True, required=["id"], columns=["id"])

    @pytest.mark.parametrize("depth", [10, 5_000, 200_000])
    def test_deeply_nested_valid_json_is_valid(self, depth):
        nested = "[" * depth + "1" + "]" * depth
        sniffing.check_json_lines(f'{{"id": 1, "v": {nested}}}\n', True, required=["id"], columns=["id", "v"])
        sniffing.check_json_array(f'[{{"id": 1, "v": {nested}}}]', True, required=["id"], columns=["id", "v"])
        deep_object = '{"a": ' * depth + "null" + "}" * depth
        sniffing.check_json_array(f'[{{"id": {deep_object}}}]', True, required=["id"], columns=["id"])

    def test_deeply_nested_invalid_json_is_not_json(self):
        depth = 5_000
        with pytest.raises(SniffError, match="not a JSON document: Expecting ',' delimiter"):
            sniffing.check_json_array(
                '[{"id": ' + "[" * depth + "1" + "]" * (depth - 1) + "}]", True, required=[], columns=["id"]
            )
        with pytest.raises(SniffError, match=r"\(1 not valid JSON\)"):
            sniffing.check_json_lines('{"id": ' + "[" * depth + "}\n", True, required=[], columns=["id"])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=30,
)


@given(value=json_values)
@settings(max_examples=300)
def test_the_iterative_parser_reads_what_json_loads_reads(value):
    from validate.json_text import loads_iteratively

    for text in (json.dumps(value), json.dumps(value, indent=1), json.dumps(value, ensure_ascii=False)):
        assert loads_iteratively(text) == json.loads(text)


@given(text=st.text(alphabet='{}[]",:0123456789.eE+-truefalsnl \n\\', max_size=40))
@settings(max_examples=500)
def test_the_iterative_parser_refuses_what_json_loads_refuses(text):
    from validate.json_text import loads_iteratively

    try:
        expected = json.loads(text)
    except json.JSONDecodeError as error:
        with pytest.raises(json.JSONDecodeError) as raised:
            loads_iteratively(text)
        assert raised.value.pos == error.pos
    else:
        assert loads_iteratively(text) == expected


def put_manifest(stack: Stack, run_id: str, dataset: str, objects: list[dict[str, Any]]) -> str:
    key = f"runs/{run_id}/manifest.json"
    manifest = {
        "run_id": run_id,
        "dataset": dataset,
        "created_at": "2026-11-24T10:15:00Z",
        "source": "eventbridge",
        "objects": objects,
    }
    boto3.client("s3").put_object(Bucket=stack.artifacts_bucket, Key=key, Body=json.dumps(manifest))
    return f"s3://{stack.artifacts_bucket}/{key}"


def upload(stack: Stack, key: str, body: bytes) -> dict[str, Any]:
    response = boto3.client("s3").put_object(Bucket=stack.raw_bucket, Key=key, Body=body)
    return {
        "bucket": stack.raw_bucket,
        "key": key,
        "version_id": response["VersionId"],
        "etag": response["ETag"].strip('"'),
        "size": len(body),
        "event_time": "2026-11-24T10:14:58Z",
    }


def read_json(stack: Stack, uri: str) -> Any:
    key = uri.removeprefix(f"s3://{stack.artifacts_bucket}/")
    return json.loads(boto3.client("s3").get_object(Bucket=stack.artifacts_bucket, Key=key)["Body"].read())


def test_validate_accepts_good_objects_and_rejects_bad_ones_with_reasons(stack, load_handler, lambda_context):
    handler = load_handler("validate")
    plain = upload(stack, "incoming/orders/a b+c.csv", ORDERS_CSV)
    packed = upload(stack, "incoming/orders/2026/export.csv.gz", gzip.compress(ORDERS_CSV))
    wrong_header = upload(stack, "incoming/orders/wrong.csv", ORDERS_CSV.replace(b"status", b"state", 1))
    json_file = upload(stack, "incoming/orders/oops.jsonl", CLICKS_JSONL)
    latin1 = upload(
        stack, "incoming/orders/latin1.csv", f"{ORDERS_HEADER}\nORD-1,Zoë,1,1,NEW,x\n".encode("latin-1")
    )
    misnamed = upload(stack, "incoming/orders/packed.csv", gzip.compress(ORDERS_CSV))
    gone = upload(stack, "incoming/orders/gone.csv", ORDERS_CSV)
    boto3.client("s3").delete_object(Bucket=stack.raw_bucket, Key=gone["key"], VersionId=gone["version_id"])
    run_id = "orders-20261124T101458Z-0123456789"
    objects = [plain, packed, wrong_header, json_file, latin1, misnamed, gone]
    manifest_uri = put_manifest(stack, run_id, "orders", objects)

    request = {"run_id": run_id, "dataset": "orders", "manifest_uri": manifest_uri, "object_count": 7}
    result = handler.lambda_handler(request, lambda_context)

    prefix = f"s3://{stack.artifacts_bucket}/runs/{run_id}"
    assert result == {
        "validated_manifest_uri": f"{prefix}/validated.json",
        "rejected_uri": f"{prefix}/rejected.json",
        "contract_uri": f"{prefix}/contract.json",
        "accepted": 3,
        "rejected": 4,
        "table": "orders",
        "quarantine_uri": f"s3://{stack.artifacts_bucket}/quarantine/orders/{run_id}/",
        "plan_uri": f"{prefix}/plan.json",
        "accepted_bytes": len(ORDERS_CSV) + 2 * len(gzip.compress(ORDERS_CSV)),
    }
    contract = load_contract("orders", REPO / "contracts")
    assert read_json(stack, result["contract_uri"]) == contract.model_dump(mode="json")
    # The contract compiled once: the plan both executors run, tied to the contract it came from.
    plan = read_json(stack, result["plan_uri"])
    assert plan == compile_plan(contract).model_dump(mode="json")
    assert plan["contract_sha256"] == contract_sha256(contract) and plan["dataset"] == "orders"
    validated = read_json(stack, result["validated_manifest_uri"])
    assert validated["contract_uri"] == result["contract_uri"]
    assert [(obj["key"], obj["compression"], obj["encoding"]) for obj in validated["objects"]] == [
        ("incoming/orders/a b+c.csv", "none", "utf-8"),
        ("incoming/orders/2026/export.csv.gz", "gzip", "utf-8"),
        # Spark reads the staged copy, named by validate from the content: a gzip "packed.csv" is fine.
        ("incoming/orders/packed.csv", "gzip", "utf-8"),
    ]
    # Staged at each object's index in the manifest (refused ones leave gaps).
    assert [obj["staged_uri"] for obj in validated["objects"]] == [
        f"{prefix}/input/00000.csv",
        f"{prefix}/input/00001.csv.gz",
        f"{prefix}/input/00005.csv.gz",
    ]
    for obj in validated["objects"]:
        assert staged_body(stack, obj["staged_uri"]) == raw_body(stack, obj)
    rejected = {
        obj["key"]: [reason["code"] for reason in obj["reasons"]]
        for obj in read_json(stack, result["rejected_uri"])["objects"]
    }
    assert rejected == {
        "incoming/orders/wrong.csv": ["columns_mismatch"],
        "incoming/orders/oops.jsonl": ["format_mismatch"],
        "incoming/orders/latin1.csv": ["encoding"],
        "incoming/orders/gone.csv": ["not_found"],
    }


def test_a_refused_object_is_copied_to_quarantine_with_its_own_reasons_and_the_original_kept(
    stack, load_handler, lambda_context
):
    handler = load_handler("validate")
    s3 = boto3.client("s3")
    good = upload(stack, "incoming/orders/good.csv", ORDERS_CSV)
    wrong_body = ORDERS_CSV.replace(b"status", b"state", 1)
    wrong = upload(stack, "incoming/orders/2026/wrong header+1.csv", wrong_body)
    # A later upload of the same key: the run's version is what gets quarantined, and it stays current-1.
    s3.put_object(Bucket=stack.raw_bucket, Key=wrong["key"], Body=ORDERS_CSV)
    run_id = "orders-20261124T101458Z-fedcba9876"
    manifest_uri = put_manifest(stack, run_id, "orders", [good, wrong])

    result = handler.lambda_handler(
        {"run_id": run_id, "dataset": "orders", "manifest_uri": manifest_uri, "object_count": 2},
        lambda_context,
    )

    prefix = f"quarantine/orders/{run_id}/"
    assert result["quarantine_uri"] == f"s3://{stack.artifacts_bucket}/{prefix}"
    assert (result["accepted"], result["rejected"]) == (1, 1)
    assert result["rejected_uri"] == f"s3://{stack.artifacts_bucket}/runs/{run_id}/rejected.json"
    quarantined = sorted(
        item["Key"] for item in s3.list_objects_v2(Bucket=stack.artifacts_bucket, Prefix=prefix)["Contents"]
    )
    assert quarantined == [f"{prefix}{wrong['key']}", f"{prefix}{wrong['key']}.reason.json"]
    copy = s3.get_object(Bucket=stack.artifacts_bucket, Key=f"{prefix}{wrong['key']}")["Body"].read()
    assert copy == wrong_body
    reason = json.loads(
        s3.get_object(Bucket=stack.artifacts_bucket, Key=f"{prefix}{wrong['key']}.reason.json")["Body"].read()
    )
    rejected_list = read_json(stack, result["rejected_uri"])
    assert rejected_list["quarantine_uri"] == result["quarantine_uri"]
    [refusal] = rejected_list["objects"]
    assert reason["reasons"] == refusal["reasons"]
    [(code, message)] = [(item["code"], item["message"]) for item in reason["reasons"]]
    assert code == "columns_mismatch" and "1 unexpected at field 5)" in message
    assert (reason["run_id"], reason["dataset"]) == (run_id, "orders")
    assert reason["source"] == f"s3://{stack.raw_bucket}/{wrong['key']}"
    assert (reason["version_id"], reason["etag"]) == (wrong["version_id"], wrong["etag"])
    assert reason["error"] == "Tributary.ObjectRefused" and message in reason["cause"]
    # Copied, not moved: the run's version of the original is still in the raw bucket, unchanged.
    original = s3.get_object(Bucket=stack.raw_bucket, Key=wrong["key"], VersionId=wrong["version_id"])
    assert original["Body"].read() == wrong_body
    versions = s3.list_object_versions(Bucket=stack.raw_bucket, Prefix=wrong["key"])["Versions"]
    assert wrong["version_id"] in {version["VersionId"] for version in versions} and len(versions) == 2
    assert s3.head_object(Bucket=stack.raw_bucket, Key=good["key"])["VersionId"] == good["version_id"]


def test_a_refused_object_that_vanished_gets_its_reason_in_quarantine(stack, load_handler, lambda_context):
    handler = load_handler("validate")
    s3 = boto3.client("s3")
    gone = upload(stack, "incoming/orders/gone.csv", ORDERS_CSV)
    s3.delete_object(Bucket=stack.raw_bucket, Key=gone["key"], VersionId=gone["version_id"])
    run_id = "orders-20261124T101458Z-0000000001"
    manifest_uri = put_manifest(stack, run_id, "orders", [gone])

    result = handler.lambda_handler(
        {"run_id": run_id, "dataset": "orders", "manifest_uri": manifest_uri, "object_count": 1},
        lambda_context,
    )

    prefix = f"quarantine/orders/{run_id}/"
    keys = [
        item["Key"] for item in s3.list_objects_v2(Bucket=stack.artifacts_bucket, Prefix=prefix)["Contents"]
    ]
    assert result["quarantine_uri"].endswith(prefix) and keys == [f"{prefix}{gone['key']}.reason.json"]
    reason = json.loads(s3.get_object(Bucket=stack.artifacts_bucket, Key=keys[0])["Body"].read())
    assert [item["code"] for item in reason["reasons"]] == ["not_found"]
    assert reason["cause"].startswith("input missing at quarantine time")


def test_clicks_json_lines_with_malformed_rows_are_accepted(stack, load_handler, lambda_context):
    handler = load_handler("validate")
    run_id = "clicks-20261124T101458Z-0123456789"
    manifest_uri = put_manifest(
        stack, run_id, "clicks", [upload(stack, "incoming/clicks/été.jsonl.gz", gzip.compress(CLICKS_JSONL))]
    )

    result = handler.lambda_handler(
        {"run_id": run_id, "dataset": "clicks", "manifest_uri": manifest_uri, "object_count": 1},
        lambda_context,
    )

    assert (result["accepted"], result["rejected"], result["quarantine_uri"]) == (1, 0, None)
    assert "Contents" not in boto3.client("s3").list_objects_v2(
        Bucket=stack.artifacts_bucket, Prefix="quarantine/"
    )


def test_size_limit_and_declared_compression_are_enforced(stack):
    from etl_common.aws import s3_client
    from etl_common.models import ManifestObject
    from validate.logic import ObjectValidator

    document = load_contract("orders", REPO / "contracts").model_dump(mode="json")
    small = Contract.model_validate({**document, "limits": {"max_object_bytes": 100}})
    gzip_only = Contract.model_validate({**document, "compression": "gzip"})
    obj = ManifestObject.model_validate(upload(stack, "incoming/orders/a.csv", ORDERS_CSV))

    [too_large] = ObjectValidator(s3_client(), small).validate(obj).reasons  # type: ignore[union-attr]
    [not_gzip] = ObjectValidator(s3_client(), gzip_only).validate(obj).reasons  # type: ignore[union-attr]

    assert too_large.code == "too_large" and str(len(ORDERS_CSV)) in too_large.message
    assert not_gzip.code == "compression_mismatch"


def staged_body(stack: Stack, uri: str) -> bytes:
    key = uri.removeprefix(f"s3://{stack.artifacts_bucket}/")
    return boto3.client("s3").get_object(Bucket=stack.artifacts_bucket, Key=key)["Body"].read()


def raw_body(stack: Stack, obj: dict[str, Any]) -> bytes:
    version = {"VersionId": obj["version_id"]} if obj.get("version_id") else {}
    return boto3.client("s3").get_object(Bucket=obj["bucket"], Key=obj["key"], **version)["Body"].read()


def staged_tags(stack: Stack, uri: str) -> dict[str, str]:
    key = uri.removeprefix(f"s3://{stack.artifacts_bucket}/")
    tags = boto3.client("s3").get_object_tagging(Bucket=stack.artifacts_bucket, Key=key)["TagSet"]
    return {tag["Key"]: tag["Value"] for tag in tags}


def validate(
    handler: Any, lambda_context: Any, stack: Stack, run_id: str, objects: list[dict[str, Any]]
) -> Any:
    dataset = run_id.split("-", 1)[0]
    manifest_uri = put_manifest(stack, run_id, dataset, objects)
    request = {
        "run_id": run_id,
        "dataset": dataset,
        "manifest_uri": manifest_uri,
        "object_count": len(objects),
    }
    return handler.lambda_handler(request, lambda_context)


def test_names_spark_would_skip_and_any_gz_spelling_are_fine_once_staged(stack, load_handler, lambda_context):
    # Spark reads runs/<run_id>/input/<NNNNN><ext>, named from the content: original names are data.
    handler = load_handler("validate")
    packed = gzip.compress(ORDERS_CSV)
    objects = [
        upload(stack, "incoming/orders/_part-0001.csv", ORDERS_CSV),
        upload(stack, "incoming/orders/.export.csv", ORDERS_CSV),
        upload(stack, "incoming/orders/orders.csv._COPYING_", ORDERS_CSV),
        upload(stack, "incoming/orders/EXPORT.CSV.GZ", packed),
        upload(stack, "incoming/orders/plain.csv.GZ", ORDERS_CSV),
        upload(stack, "incoming/orders/../../etc/passwd", ORDERS_CSV),
        upload(stack, "incoming/orders/" + "é" * 400 + ".csv", packed),
    ]
    run_id = "orders-20261124T101458Z-abcdefabcd"

    result = validate(handler, lambda_context, stack, run_id, objects)

    assert (result["accepted"], result["rejected"]) == (len(objects), 0)
    validated = read_json(stack, result["validated_manifest_uri"])["objects"]
    assert [obj["key"] for obj in validated] == [obj["key"] for obj in objects]
    names = [obj["staged_uri"].rsplit("/input/", 1)[1] for obj in validated]
    assert names == [
        "00000.csv",
        "00001.csv",
        "00002.csv",
        "00003.csv.gz",
        "00004.csv",
        "00005.csv",
        "00006.csv.gz",
    ]
    for obj in validated:
        assert staged_body(stack, obj["staged_uri"]) == raw_body(stack, obj)
        assert staged_tags(stack, obj["staged_uri"]) == {"tributary-staged-input": "true"}


def test_a_key_overwritten_after_the_manifest_is_staged_as_the_manifests_version(
    stack, load_handler, lambda_context
):
    handler = load_handler("validate")
    s3 = boto3.client("s3")
    key = "incoming/orders/daily.csv"
    first = upload(stack, key, ORDERS_CSV)  # the trigger wrote this version into run 1's manifest
    second_body = ORDERS_CSV.replace(b"ORD-", b"NEW-")
    second = upload(stack, key, second_body)  # re-uploaded during the batch window: run 2's version
    assert s3.get_object(Bucket=stack.raw_bucket, Key=key)["Body"].read() == second_body

    run_1 = validate(handler, lambda_context, stack, "orders-20261124T101458Z-1111111111", [first])
    run_2 = validate(handler, lambda_context, stack, "orders-20261124T101458Z-2222222222", [second])

    [staged_1] = read_json(stack, run_1["validated_manifest_uri"])["objects"]
    [staged_2] = read_json(stack, run_2["validated_manifest_uri"])["objects"]
    # Each run stages (and so publishes) its own version, each once, and reports it by the original key.
    assert staged_body(stack, staged_1["staged_uri"]) == ORDERS_CSV
    assert staged_body(stack, staged_2["staged_uri"]) == second_body
    assert (staged_1["key"], staged_1["version_id"]) == (key, first["version_id"])
    assert (staged_2["key"], staged_2["version_id"]) == (key, second["version_id"])
    assert staged_1["staged_uri"] != staged_2["staged_uri"]


def test_both_versions_of_a_key_in_one_manifest_are_staged_separately(stack, load_handler, lambda_context):
    handler = load_handler("validate")
    key = "incoming/orders/daily.csv"
    second_body = ORDERS_CSV.replace(b"ORD-", b"NEW-")
    objects = [upload(stack, key, ORDERS_CSV), upload(stack, key, second_body)]

    result = validate(handler, lambda_context, stack, "orders-20261124T101458Z-3333333333", objects)

    validated = read_json(stack, result["validated_manifest_uri"])["objects"]
    assert [staged_body(stack, obj["staged_uri"]) for obj in validated] == [ORDERS_CSV, second_body]
    assert [obj["version_id"] for obj in validated] == [obj["version_id"] for obj in objects]


def validated_object(obj: dict[str, Any], compression: str = "none") -> Any:
    from etl_common.models import ValidatedObject

    return ValidatedObject.model_validate(
        {**obj, "compression": compression, "encoding": "utf-8", "format": "csv"}
    )


def accepted_one(outcome: Any) -> Any:
    from etl_common.models import ValidatedObject

    assert isinstance(outcome, ValidatedObject), outcome
    return outcome


def test_a_version_deleted_between_validation_and_staging_is_refused_alone(stack):
    from etl_common.aws import s3_client
    from validate.staging import Stager

    s3 = boto3.client("s3")
    objects = [
        upload(stack, f"incoming/orders/{name}.csv", ORDERS_CSV.replace(b"ORD-", name.encode()))
        for name in "abc"
    ]
    s3.delete_object(Bucket=stack.raw_bucket, Key=objects[0]["key"], VersionId=objects[0]["version_id"])
    stager = Stager(s3_client(), stack.artifacts_bucket, "orders-run")

    # Each object is staged at its index in the manifest (one object per child of the Map): a refused
    # one leaves a gap in the names, which nothing reads (the executors read each staged_uri).
    gone, *staged = [stager.stage(index, validated_object(obj)) for index, obj in enumerate(objects)]
    assert isinstance(gone, RejectedObject)
    accepted = [accepted_one(outcome) for outcome in staged]

    assert gone.key == objects[0]["key"] and [reason.code for reason in gone.reasons] == ["not_found"]
    prefix = f"s3://{stack.artifacts_bucket}/runs/orders-run/input/"
    assert [(obj.key, obj.staged_uri) for obj in accepted] == [
        (objects[1]["key"], f"{prefix}00001.csv"),
        (objects[2]["key"], f"{prefix}00002.csv"),
    ]
    for obj in accepted:
        assert staged_body(stack, str(obj.staged_uri)) == raw_body(stack, obj.model_dump())
        assert staged_tags(stack, str(obj.staged_uri)) == {"tributary-staged-input": "true"}
    listed = s3.list_objects_v2(Bucket=stack.artifacts_bucket, Prefix="runs/orders-run/input/")["Contents"]
    assert sorted(item["Key"] for item in listed) == [
        "runs/orders-run/input/00001.csv",
        "runs/orders-run/input/00002.csv",
    ]


def test_in_an_unversioned_bucket_an_object_overwritten_before_staging_is_refused(stack):
    from etl_common.aws import s3_client
    from validate.staging import Stager

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="unversioned-raw")
    body = ORDERS_CSV
    etag = s3.put_object(Bucket="unversioned-raw", Key="incoming/orders/a.csv", Body=body)["ETag"].strip('"')
    obj = {
        "bucket": "unversioned-raw",
        "key": "incoming/orders/a.csv",
        "version_id": None,
        "etag": etag,
        "size": len(body),
        "event_time": "2026-11-24T10:14:58Z",
    }
    stager = Stager(s3_client(), stack.artifacts_bucket, "orders-run")

    same = accepted_one(stager.stage(0, validated_object(obj)))
    assert staged_body(stack, str(same.staged_uri)) == body

    s3.put_object(Bucket="unversioned-raw", Key="incoming/orders/a.csv", Body=body.replace(b"ORD-", b"NEW-"))
    changed = stager.stage(0, validated_object(obj))

    assert isinstance(changed, RejectedObject)
    [reason] = changed.reasons
    assert reason.code == "not_found" and "changed since the event" in reason.message


def test_large_objects_are_staged_by_a_multipart_copy_of_the_version_and_tagged(stack):
    from boto3.s3.transfer import TransferConfig
    from etl_common.aws import s3_client
    from validate.staging import Stager

    s3 = boto3.client("s3")
    mib = 1024 * 1024
    line = b"ORD-1,C1,1.00,1,NEW,2026-11-24 10:00:00\n"
    body = ORDERS_HEADER.encode() + b"\n" + line * (11 * mib // len(line))
    obj = upload(stack, "incoming/orders/big.csv", body)
    s3.put_object(Bucket=stack.raw_bucket, Key=obj["key"], Body=b"newer version")
    client = s3_client()
    calls: list[str] = []
    client.meta.events.register("before-call.s3.*", lambda model, **_: calls.append(model.name))
    config = TransferConfig(multipart_threshold=5 * mib, multipart_chunksize=5 * mib, max_concurrency=2)

    staged = Stager(client, stack.artifacts_bucket, "orders-run", config=config).stage(
        0, validated_object(obj)
    )

    assert (
        not isinstance(staged, RejectedObject)
        and calls.count("UploadPartCopy") == 3
        and "CopyObject" not in calls
    )
    assert staged_body(stack, str(staged.staged_uri)) == body
    assert staged_tags(stack, str(staged.staged_uri)) == {"tributary-staged-input": "true"}


def test_a_small_object_is_staged_with_one_request(stack):
    from etl_common.aws import s3_client
    from validate.staging import Stager

    obj = upload(stack, "incoming/orders/small.csv", ORDERS_CSV)
    client = s3_client()
    calls: list[str] = []
    client.meta.events.register("before-call.s3.*", lambda model, **_: calls.append(model.name))

    staged = accepted_one(
        Stager(client, stack.artifacts_bucket, "orders-run").stage(0, validated_object(obj))
    )

    assert calls == ["CopyObject"]
    assert staged_body(stack, str(staged.staged_uri)) == ORDERS_CSV
    assert staged_tags(stack, str(staged.staged_uri)) == {"tributary-staged-input": "true"}


def test_an_object_s3_will_not_serve_is_refused_alone(stack, load_handler, lambda_context):
    handler = load_handler("validate")
    s3 = boto3.client("s3")
    good = upload(stack, "incoming/orders/good.csv", ORDERS_CSV)
    response = s3.put_object(
        Bucket=stack.raw_bucket, Key="incoming/orders/archived.csv", Body=ORDERS_CSV, StorageClass="GLACIER"
    )
    archived = {
        **good,
        "key": "incoming/orders/archived.csv",
        "version_id": response["VersionId"],
        "etag": response["ETag"].strip('"'),
    }

    result = validate(handler, lambda_context, stack, "orders-20261124T101458Z-4444444444", [archived, good])

    assert (result["accepted"], result["rejected"]) == (1, 1)
    [refused] = read_json(stack, result["rejected_uri"])["objects"]
    assert refused["key"] == archived["key"]
    [reason] = refused["reasons"]
    # S3 refuses GetObject (InvalidObjectState) and CopyObject (ObjectNotInActiveTierError) of an archived
    # object; moto serves the sample, so here the refusal comes from staging.
    assert reason["code"] == "unreadable"
    assert reason["message"] in {
        f"S3 refuses to read the object version ({code})"
        for code in ("InvalidObjectState", "ObjectNotInActiveTierError")
    }
    [accepted] = read_json(stack, result["validated_manifest_uri"])["objects"]
    assert accepted["key"] == good["key"] and accepted["staged_uri"].endswith("/input/00001.csv")


def test_an_object_the_checks_fail_on_is_refused_alone_with_the_error(
    stack, load_handler, lambda_context, monkeypatch
):
    handler = load_handler("validate")
    from validate import sniffing as loaded_sniffing

    real = loaded_sniffing.check_csv

    def broken_on_one(text: str, *args: Any, **kwargs: Any) -> None:
        if "BOOM" in text:
            raise OverflowError("injected fault")
        real(text, *args, **kwargs)

    monkeypatch.setattr(loaded_sniffing, "check_csv", broken_on_one)
    good = upload(stack, "incoming/orders/good.csv", ORDERS_CSV)
    bad = upload(stack, "incoming/orders/bad.csv", ORDERS_CSV + b"BOOM\n")

    result = validate(handler, lambda_context, stack, "orders-20261124T101458Z-5555555555", [bad, good])

    assert (result["accepted"], result["rejected"]) == (1, 1)
    [refused] = read_json(stack, result["rejected_uri"])["objects"]
    [reason] = refused["reasons"]
    assert refused["key"] == bad["key"] and reason["code"] == "unreadable"
    assert reason["message"] == "the object could not be examined: OverflowError"


def emf_metrics(output: str) -> dict[str, Any]:
    """Metric values of the CloudWatch embedded-metric-format documents Powertools printed."""
    values: dict[str, Any] = {}
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            for directive in document["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    value = document[metric["Name"]]
                    values[metric["Name"]] = sum(value) if isinstance(value, list) else value
    return values


def test_a_manifest_of_another_run_is_refused(stack, load_handler, lambda_context, capsys):
    handler = load_handler("validate")
    manifest_uri = put_manifest(
        stack, "orders-other", "orders", [upload(stack, "incoming/orders/a.csv", ORDERS_CSV)]
    )
    capsys.readouterr()
    # Powertools warns when an invocation flushes no metric; the failure path must publish one.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="belongs to run orders-other"):
            handler.lambda_handler(
                {
                    "run_id": "orders-mine",
                    "dataset": "orders",
                    "manifest_uri": manifest_uri,
                    "object_count": 1,
                },
                lambda_context,
            )
    assert emf_metrics(capsys.readouterr().out) == {"RunsFailedValidation": 1.0}


def test_a_validated_run_publishes_its_counts_and_no_failure(stack, load_handler, lambda_context, capsys):
    handler = load_handler("validate")
    run_id = "orders-20261124T101458Z-0123456789"
    manifest_uri = put_manifest(stack, run_id, "orders", [upload(stack, "incoming/orders/a.csv", ORDERS_CSV)])
    capsys.readouterr()

    handler.lambda_handler(
        {"run_id": run_id, "dataset": "orders", "manifest_uri": manifest_uri, "object_count": 1},
        lambda_context,
    )

    assert emf_metrics(capsys.readouterr().out) == {"ObjectsAccepted": 1.0, "ObjectsRejected": 0.0}


no_bom_text = st.text(min_size=1, max_size=200).filter(lambda text: not text.startswith("\ufeff"))


@given(text=no_bom_text, cut=st.integers(min_value=0, max_value=800))
@settings(max_examples=300)
def test_any_utf8_text_cut_anywhere_decodes_to_a_prefix(text, cut):
    data = text.encode("utf-8")[:cut]
    decoded = sniffing.decode(Sample(data, complete=False), "utf-8")
    assert text.startswith(decoded)
    # At most one character, cut inside its (up to 4-byte) encoding, is held back.
    assert len(data) - len(decoded.encode("utf-8")) <= 3


def test_csv_with_multi_line_fields_and_json_with_a_bad_row_or_deep_nesting_are_accepted(
    stack, load_handler, lambda_context
):
    handler = load_handler("validate")
    multi_line = (ORDERS_HEADER + '\nORD-1,C1,1.00,1,"NEW\nwith a line break",2026-11-24 10:00:00\n').encode()
    orders = validate(
        handler,
        lambda_context,
        stack,
        "orders-20261124T101458Z-6666666666",
        [upload(stack, "incoming/orders/multi.csv", multi_line)],
    )
    deep = "[" * 100_000 + "]" * 100_000
    clicks_lines = [
        '{"event_id": "e1", "event_id": "e2", "url": "https://x", "event_type": "click"}',
        json.dumps(
            {
                "event_id": "e3",
                "url": "https://x",
                "event_type": "click",
                "occurred_at": "2026-11-24T10:00:00Z",
            }
        )[:-1]
        + f', "extra": {deep}}}',
    ]
    clicks = validate(
        handler,
        lambda_context,
        stack,
        "clicks-20261124T101458Z-7777777777",
        [upload(stack, "incoming/clicks/deep.jsonl", "\n".join(clicks_lines).encode())],
    )

    assert (orders["accepted"], orders["rejected"]) == (1, 0)
    assert (clicks["accepted"], clicks["rejected"]) == (1, 0)


def test_refused_objects_with_any_key_are_quarantined_at_safe_keys_each_version_apart(
    stack, load_handler, lambda_context
):
    handler = load_handler("validate")
    s3 = boto3.client("s3")
    wrong = ORDERS_CSV.replace(b"status", b"state", 1)
    long_key = "incoming/orders/" + "\u00e9" * 495 + ".csv"  # 1,010 bytes
    twice = "incoming/orders/twice.csv"
    objects = [
        upload(stack, long_key, wrong),
        upload(stack, "incoming/orders/../../../etc/passwd.csv", wrong),
        upload(stack, twice, wrong),
        upload(stack, twice, wrong + b"ORD-9,C9,1,1,NEW,2026-11-24 10:00:00\n"),
    ]
    run_id = "orders-20261124T101458Z-8888888888"

    result = validate(handler, lambda_context, stack, run_id, objects)

    assert (result["accepted"], result["rejected"]) == (0, 4)
    prefix = f"quarantine/orders/{run_id}/"
    listed = s3.list_objects_v2(Bucket=stack.artifacts_bucket, Prefix=prefix)["Contents"]
    reasons = [item["Key"] for item in listed if item["Key"].endswith(".reason.json")]
    assert len(listed) == 8 and len(reasons) == 4
    recorded = []
    for reason_key in reasons:
        copy_key = reason_key.removesuffix(".reason.json")
        segments = copy_key.split("/")
        assert (
            all(segment not in ("", ".", "..") for segment in segments) and len(reason_key.encode()) <= 1024
        )
        reason = json.loads(s3.get_object(Bucket=stack.artifacts_bucket, Key=reason_key)["Body"].read())
        copy = s3.get_object(Bucket=stack.artifacts_bucket, Key=copy_key)["Body"].read()
        original = s3.get_object(Bucket=stack.raw_bucket, Key=reason["key"], VersionId=reason["version_id"])
        assert copy == original["Body"].read()
        recorded.append((reason["key"], reason["version_id"]))
    assert sorted(recorded) == sorted((obj["key"], obj["version_id"]) for obj in objects)


def test_a_datetime_format_the_plan_cannot_compile_fails_validation_naming_column_and_letter(
    stack, load_handler, lambda_context, monkeypatch, tmp_path
):
    document = yaml.safe_load((REPO / "contracts" / "orders.yaml").read_text())
    document["columns"][5]["format"] = "yyyy-MM-dd hh:mm:ss a"  # 12-hour clock: not in the plan's subset
    # Plain dicts: a YAML loader another test registered (cfn-lint's) may hand back OrderedDicts, which
    # safe_dump refuses.
    (tmp_path / "orders.yaml").write_text(yaml.safe_dump(json.loads(json.dumps(document))))
    monkeypatch.setenv("CONTRACTS_DIR", str(tmp_path))
    handler = load_handler("validate")
    run_id = "orders-20261124T101458Z-7777777777"
    manifest_uri = put_manifest(stack, run_id, "orders", [upload(stack, "incoming/orders/a.csv", ORDERS_CSV)])
    request = {"run_id": run_id, "dataset": "orders", "manifest_uri": manifest_uri, "object_count": 1}

    with pytest.raises(
        ContractError, match=r"columns\.5: .*'ordered_at'.*pattern letter 'h' is not supported"
    ):
        handler.lambda_handler(request, lambda_context)
    listed = boto3.client("s3").list_objects_v2(
        Bucket=stack.artifacts_bucket, Prefix=f"runs/{run_id}/plan.json"
    )
    assert listed["KeyCount"] == 0


# ---------------------------------------------------------------- contract and reference versions

CHECKED_CSV = (REPO / "events" / "data" / "orders_checked-sample.csv").read_bytes()
CUSTOMERS = (REPO / "events" / "reference" / "customers.csv").read_bytes()


def checked_run(stack: Stack, run_id: str) -> dict[str, Any]:
    """A QUEUED run record and manifest of orders_checked (the trigger's part) with one upload."""
    obj = upload(stack, "incoming/orders_checked/a.csv", CHECKED_CSV)
    manifest_uri = put_manifest(stack, run_id, "orders_checked", [obj])
    boto3.resource("dynamodb").Table(stack.runs_table).put_item(
        Item={"run_id": run_id, "status": "QUEUED", "created_at": "2026-11-24T10:14:58Z"}
    )
    return {"run_id": run_id, "dataset": "orders_checked", "manifest_uri": manifest_uri, "object_count": 1}


def test_a_run_records_the_contract_and_reference_versions_it_used(
    stack, load_handler, lambda_context, tmp_path, monkeypatch
):
    s3 = boto3.client("s3")
    first = s3.put_object(Bucket=stack.raw_bucket, Key="reference/customers.csv", Body=CUSTOMERS)
    handler = load_handler("validate")
    contract = load_contract("orders_checked", REPO / "contracts")

    result = handler.lambda_handler(checked_run(stack, "orders_checked-1"), lambda_context)

    expected = {
        "name": "customers",
        "bucket": stack.raw_bucket,
        "key": "reference/customers.csv",
        "version_id": first["VersionId"],
        "etag": first["ETag"].strip('"'),
        "values": 8,
    }
    plan = read_json(stack, result["plan_uri"])
    assert (plan["contract_version"], plan["references"]) == ("2026.12.1", [expected])
    [check] = [check for check in plan["checks"] if check.get("reference") == "customers"]
    assert check["rule"] == "allowed_values" and "C0002" in check["values"] and "C9999" not in check["values"]
    versions = {"contract_version": "2026.12.1", "contract_sha256": contract_sha256(contract)}
    assert read_json(stack, result["validated_manifest_uri"])["versions"] == {
        **versions,
        "references": [expected],
    }
    record = (
        boto3.resource("dynamodb")
        .Table(stack.runs_table)
        .get_item(Key={"run_id": "orders_checked-1"})["Item"]
    )
    assert {name: record[name] for name in (*versions, "references", "plan_uri")} == {
        **versions,
        "references": [expected],
        "plan_uri": result["plan_uri"],
    }

    # The list changes: the next run uses (and records) the new version; a pinned version stays put.
    second = s3.put_object(
        Bucket=stack.raw_bucket, Key="reference/customers.csv", Body=CUSTOMERS + b"C9999,x\n"
    )
    result = handler.lambda_handler(checked_run(stack, "orders_checked-2"), lambda_context)
    [used] = read_json(stack, result["plan_uri"])["references"]
    assert (used["version_id"], used["values"]) == (second["VersionId"], 9)
    [check] = [check for check in read_json(stack, result["plan_uri"])["checks"] if check.get("reference")]
    assert "C9999" in check["values"]
    pinned = contract.model_dump(mode="json")
    pinned["references"]["customers"]["version_id"] = first["VersionId"]
    (tmp_path / "orders_checked.yaml").write_text(yaml.safe_dump(pinned))
    monkeypatch.setenv("CONTRACTS_DIR", str(tmp_path))
    result = load_handler("validate").lambda_handler(checked_run(stack, "orders_checked-3"), lambda_context)
    [used] = read_json(stack, result["plan_uri"])["references"]
    assert (used["version_id"], used["values"]) == (first["VersionId"], 8)


def test_a_missing_reference_fails_the_run_before_anything_is_staged(stack, load_handler, lambda_context):
    handler = load_handler("validate")
    request = checked_run(stack, "orders_checked-1")
    with pytest.raises(
        ValueError, match=r"reference 'customers': s3://\S+/reference/customers.csv does not exist"
    ):
        handler.lambda_handler(request, lambda_context)
    listed = boto3.client("s3").list_objects_v2(
        Bucket=stack.artifacts_bucket, Prefix="runs/orders_checked-1/"
    )
    assert [item["Key"] for item in listed.get("Contents", [])] == ["runs/orders_checked-1/manifest.json"]
