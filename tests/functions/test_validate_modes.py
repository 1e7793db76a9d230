"""validate's three modes for the distributed Map (prepare, one object, summarise) give what its
whole-run mode gives, and a child that crashed refuses its object alone, with its reason.

The ResultWriter files are written here in the layout the Step Functions guide gives (manifest.json
listing SUCCEEDED_0.json / FAILED_0.json, each entry with Input and Output as JSON text, a failed
one with Error and Cause); tests/local/test_express_validation.py runs the real Map on the engine."""

from __future__ import annotations

import gzip
import json
from typing import Any

import boto3
import pytest

from .test_validate import CLICKS_JSONL, ORDERS_CSV, put_manifest, read_json, upload

LAMBDA_CRASH = json.dumps(
    {
        "errorMessage": "RequestId: 1f0 Error: Runtime exited with error: signal: killed",
        "errorType": "Runtime.ExitError",
        "stackTrace": ["  File x, line 1"],
    }
)


def objects(stack: Any, prefix: str) -> list[dict[str, Any]]:
    return [
        upload(stack, f"incoming/orders/{prefix}a.csv", ORDERS_CSV),
        upload(stack, f"incoming/orders/{prefix}b.jsonl", CLICKS_JSONL),
        upload(stack, f"incoming/orders/{prefix}c.csv.gz", gzip.compress(ORDERS_CSV)),
        upload(stack, f"incoming/orders/{prefix}d.csv", ORDERS_CSV),
    ]


def request(stack: Any, run_id: str, objs: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    uri = put_manifest(stack, run_id, "orders", objs)
    return {"run_id": run_id, "dataset": "orders", "manifest_uri": uri, "object_count": len(objs), **extra}


def put_results(
    stack: Any, prefix: str, succeeded: list[dict[str, Any]], failed: list[dict[str, Any]]
) -> str:
    s3 = boto3.client("s3")
    files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    for status, entries in (("SUCCEEDED", succeeded), ("FAILED", failed)):
        if entries:
            key = f"{prefix}/{status}_0.json"
            body = json.dumps(entries)
            s3.put_object(Bucket=stack.artifacts_bucket, Key=key, Body=body)
            files[status].append({"Key": key, "Size": len(body)})
    manifest = {"DestinationBucket": stack.artifacts_bucket, "MapRunArn": "arn:x", "ResultFiles": files}
    s3.put_object(Bucket=stack.artifacts_bucket, Key=f"{prefix}/manifest.json", Body=json.dumps(manifest))
    return f"s3://{stack.artifacts_bucket}/{prefix}/manifest.json"


def test_prepare_each_object_and_summarise_give_what_the_whole_run_gives(stack, load_handler, lambda_context):
    handler = load_handler("validate")
    whole = handler.lambda_handler(request(stack, "orders-whole", objects(stack, "w")), lambda_context)

    run_id = "orders-mapped"
    base = request(stack, run_id, objects(stack, "m"))
    prepared = handler.lambda_handler({**base, "mode": "prepare"}, lambda_context)
    assert prepared == {
        "items_bucket": stack.artifacts_bucket,
        "items_key": f"runs/{run_id}/validation/items.json",
        "object_count": 4,
        "plan_uri": f"s3://{stack.artifacts_bucket}/runs/{run_id}/plan.json",
        "contract_uri": f"s3://{stack.artifacts_bucket}/runs/{run_id}/contract.json",
    }
    items = read_json(stack, f"s3://{stack.artifacts_bucket}/{prepared['items_key']}")
    assert [item["index"] for item in items] == [0, 1, 2, 3]
    succeeded = []
    for item in items:
        child_input = {"mode": "object", "run_id": run_id, "dataset": "orders", **item}
        output = handler.lambda_handler(child_input, lambda_context)
        succeeded.append(
            {"Input": json.dumps(child_input), "Output": json.dumps(output), "Status": "SUCCEEDED"}
        )
    results = put_results(stack, f"runs/{run_id}/validation/results/run-1", succeeded, [])

    summary = handler.lambda_handler({**base, "mode": "summarise", "results_uri": results}, lambda_context)

    assert summary == {
        key: value.replace("orders-whole", run_id) if isinstance(value, str) else value
        for key, value in whole.items()
    }
    assert (summary["accepted"], summary["rejected"]) == (3, 1)
    mapped = read_json(stack, summary["validated_manifest_uri"])["objects"]
    assert [obj["key"].rsplit("/", 1)[1] for obj in mapped] == ["ma.csv", "mc.csv.gz", "md.csv"]
    assert [obj["staged_uri"].rsplit("/", 1)[1] for obj in mapped] == [
        "00000.csv",
        "00002.csv.gz",
        "00003.csv",
    ]
    [refused] = read_json(stack, summary["rejected_uri"])["objects"]
    assert refused["key"].endswith("mb.jsonl") and refused["reasons"][0]["code"] == "format_mismatch"


def test_a_crashed_child_refuses_its_object_alone_with_its_reason(stack, load_handler, lambda_context):
    handler = load_handler("validate")
    run_id = "orders-crash"
    base = request(stack, run_id, objects(stack, "c"))
    prepared = handler.lambda_handler({**base, "mode": "prepare"}, lambda_context)
    items = read_json(stack, f"s3://{stack.artifacts_bucket}/{prepared['items_key']}")
    succeeded, failed = [], []
    for item in items:
        child_input = {"mode": "object", "run_id": run_id, "dataset": "orders", **item}
        if item["index"] == 3:
            failed.append(
                {
                    "Input": json.dumps(child_input),
                    "Status": "FAILED",
                    "Error": "Runtime.ExitError",
                    "Cause": LAMBDA_CRASH,
                }
            )
            continue
        output = handler.lambda_handler(child_input, lambda_context)
        succeeded.append(
            {"Input": json.dumps(child_input), "Output": json.dumps(output), "Status": "SUCCEEDED"}
        )
    # a child Express ran twice (at least once): it counts once
    succeeded.append(succeeded[0])
    results = put_results(stack, f"runs/{run_id}/validation/r", succeeded, failed)

    summary = handler.lambda_handler({**base, "mode": "summarise", "results_uri": results}, lambda_context)

    assert (summary["accepted"], summary["rejected"]) == (2, 2)
    refused = {
        obj["key"].rsplit("/", 1)[1]: obj["reasons"]
        for obj in read_json(stack, summary["rejected_uri"])["objects"]
    }
    assert refused["cd.csv"] == [
        {
            "code": "unreadable",
            "message": "the object's validation failed (Runtime.ExitError: RequestId: 1f0 Error: Runtime "
            "exited with error: signal: killed)",
        }
    ]
    # quarantined with that reason, like any refused object
    reason_key = f"quarantine/orders/{run_id}/incoming/orders/cd.csv.reason.json"
    reason = json.loads(
        boto3.client("s3").get_object(Bucket=stack.artifacts_bucket, Key=reason_key)["Body"].read()
    )
    assert "Runtime.ExitError" in reason["cause"]


def test_an_object_without_an_outcome_fails_the_summary(stack, load_handler, lambda_context):
    handler = load_handler("validate")
    run_id = "orders-lost"
    base = request(stack, run_id, objects(stack, "l"))
    handler.lambda_handler({**base, "mode": "prepare"}, lambda_context)
    results = put_results(stack, f"runs/{run_id}/validation/r", [], [])

    with pytest.raises(ValueError, match="no validation outcome for 4 object"):
        handler.lambda_handler({**base, "mode": "summarise", "results_uri": results}, lambda_context)


def test_an_object_request_without_its_object_is_refused_clearly(stack, load_handler, lambda_context):
    handler = load_handler("validate")
    with pytest.raises(Exception, match="object"):
        handler.lambda_handler(
            {"mode": "object", "run_id": "r", "dataset": "orders", "index": 0}, lambda_context
        )
