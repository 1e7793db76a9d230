"""Express workflow prices (the EXPRESS children of ValidateEachObject): per request and per GB-second,
duration rounded up to 100 ms, memory in 64 MB chunks (aws.amazon.com/step-functions/pricing/); and a
run's distributed Map priced from what it did (DescribeMapRun, the ResultWriter results, the definition):
EXPRESS children as Express requests and duration, their validate calls as Lambda invocations."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from etl_common.cost import US_EAST_1, run_cost, step_functions_cost, step_functions_express_cost
from etl_common.run_usage import CHILD_LAMBDA_ESTIMATE_MS, EXPRESS_CHILD_ESTIMATE_MS, estimated_usage
from run_cost.logic import RunFacts, RunUsages, cost_record, run_usage

from tests.functions.test_run_cost import (
    CONFIGS,
    VALIDATE_ARN,
    HistoryBuilder,
    described,
    ended_event,
    pipeline_children,
)


def test_express_bills_requests_and_duration_in_100_ms_and_64_mb_steps() -> None:
    assert US_EAST_1.step_functions_express_request == pytest.approx(1.00 / 1_000_000)
    assert US_EAST_1.step_functions_express_gb_second == pytest.approx(0.06 / 3600)
    one = 1e-6 + 0.1 * (64 / 1024) * 0.06 / 3600
    assert step_functions_express_cost(1, 1) == pytest.approx(one)
    assert step_functions_express_cost(1, 100) == pytest.approx(one)
    assert step_functions_express_cost(1, 101) == pytest.approx(1e-6 + 0.2 * (64 / 1024) * 0.06 / 3600)
    assert step_functions_express_cost(1, 100, memory_mb=65) == pytest.approx(
        1e-6 + 0.1 * (128 / 1024) * 0.06 / 3600
    )
    assert step_functions_express_cost(1000, 100) == pytest.approx(1000 * one)


def test_a_thousand_one_state_children_cost_less_as_express_than_as_standard() -> None:
    # A one-Task child of a Standard distributed Map: 2 transitions (Start + the Task) per child; an
    # Express child of one second: one request and 1 s x 64 MB.
    standard = step_functions_cost(2 * 1000)
    express = step_functions_express_cost(1000, 1000)
    assert express < standard / 10


def test_negative_amounts_are_refused() -> None:
    with pytest.raises(ValueError, match="duration_ms must be a number >= 0"):
        step_functions_express_cost(1, -1)


# -- a run's distributed Map, priced from what it did -----------------------------------------------------
VALIDATION_RUN = "arn:aws:states:us-east-1:123456789012:mapRun:tributary-pipeline/ValidateEachObject:1"
RESULTS_BUCKET = "tributary-artifacts"
MANIFEST_KEY = "runs/r3/validation/results/1/manifest.json"
CHILD_MS = (250, 320, 1001)  # the three children's StopDate - StartDate


def three_object_history() -> list[dict[str, Any]]:
    """A run of 3 objects: prepare, ValidateEachObject (3 EXPRESS children, results in S3), summarise."""
    h = HistoryBuilder()
    h.add("ExecutionStarted", {"input": json.dumps({"run_id": "r3"})})
    h.state("Pass", "InitRun")
    h.task("RecordStart", "dynamodb", "updateItem", {"TableName": "runs"})
    h.task("PrepareValidation", "lambda", "invoke", {"FunctionName": VALIDATE_ARN}, ms=200)
    h.add("MapStateEntered", {"name": "ValidateEachObject"})
    h.add("MapStateStarted", {"length": 3})
    h.add("MapRunStarted", {"mapRunArn": VALIDATION_RUN})
    h.add("MapRunSucceeded")
    h.add("MapStateSucceeded")
    writer = {"Bucket": RESULTS_BUCKET, "Key": MANIFEST_KEY}
    output = {"MapRunArn": VALIDATION_RUN, "ResultWriterDetails": writer}
    h.add("MapStateExited", {"name": "ValidateEachObject", "output": json.dumps(output)})
    h.task("ValidateObjects", "lambda", "invoke", {"FunctionName": VALIDATE_ARN}, ms=300)
    h.task("NotifySuccess", "sns", "publish", {"TopicArn": "t"})
    h.state("Succeed", "RunSucceeded")
    h.add("ExecutionSucceeded")
    return h.events


def result_files(children: int = 3) -> dict[tuple[str, str], bytes]:
    """The ResultWriter's manifest and SUCCEEDED_0.json, as the Map run wrote them."""
    start = datetime(2026, 12, 7, 8, 0, 1, tzinfo=UTC)
    entries = [
        {
            "ExecutionArn": f"arn:aws:states:us-east-1:123456789012:express:tributary-pipeline/V:{i}",
            "StartDate": start.isoformat().replace("+00:00", "Z"),
            "StopDate": (start + timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z"),
            "Input": json.dumps({"mode": "object", "index": i}),
            "Output": json.dumps({"index": i, "accepted": True}),
            "Status": "SUCCEEDED",
        }
        for i, ms in enumerate(CHILD_MS[:children])
    ]
    results_key = MANIFEST_KEY.replace("manifest.json", "SUCCEEDED_0.json")
    body = json.dumps(entries).encode()
    manifest = {
        "DestinationBucket": RESULTS_BUCKET,
        "MapRunArn": VALIDATION_RUN,
        "ResultFiles": {"FAILED": [], "PENDING": [], "SUCCEEDED": [{"Key": results_key, "Size": len(body)}]},
    }
    return {
        (RESULTS_BUCKET, MANIFEST_KEY): json.dumps(manifest).encode(),
        (RESULTS_BUCKET, results_key): body,
    }


def three_object_run(**overrides: Any) -> RunUsages:
    files = result_files()
    arguments: dict[str, Any] = {
        "children": pipeline_children(),
        "describe_map_run": lambda arn: described(arn, 3),
        "get_object": lambda bucket, key: files[(bucket, key)],
        **overrides,
    }
    return run_usage(three_object_history(), RunFacts("r3", 3, 1500), CONFIGS, lambda j, r: {}, **arguments)


def test_the_pipelines_distributed_maps_as_its_definition_declares_them() -> None:
    children = pipeline_children()
    validation = children["ValidateEachObject"]
    assert (validation.execution_type, validation.functions, validation.athena_statements) == (
        "EXPRESS", (VALIDATE_ARN,), 0,
    )  # fmt: skip
    assert validation.item_reader and validation.definition_bytes < 64 * 1024
    for name in ("RegisterPartitions", "UnpublishRun"):
        assert (children[name].execution_type, children[name].athena_statements) == ("STANDARD", 1)


def test_a_run_of_three_objects_costs_what_the_hand_computation_says() -> None:
    """One run of N = 3 objects on the small-run path's validation (us-east-1 prices of 2026-12-07).

    Measured:
      transitions: InitRun, RecordStart, PrepareValidation, ValidateEachObject, ValidateObjects,
        NotifySuccess, RunSucceeded = 7 (the EXPRESS children are none)    7 x $0.000025 = $0.000175
      Express children (DescribeMapRun: 3 started; ResultWriter: 250, 320, 1,001 ms): 3 requests
        x $0.000001 = $0.000003; billed 300 + 400 + 1,100 ms at 64 MB = 0.1125 GB-s x $0.06/3600
        = $0.000001875                                                             = $0.000004875
      Lambda, validate at 1,024 MB arm64: prepare 200 ms, summarise 300 ms, the children's calls
        250 + 320 + 1,001 ms = 2.071 GB-s x $0.0000133334 = $0.0000276135; 5 requests x $0.0000002
        = $0.000001                                                                = $0.0000286135
      DynamoDB: RecordStart, 1 update of a 1,500-byte item = 2 WRU x $0.000000625  = $0.00000125
      SNS: 1 publish                                                               = $0.0000005
      S3: the ItemReader's GET $0.0000004; ResultWriter's SUCCEEDED_0.json and manifest, 2 PUTs
        x $0.000005 = $0.00001                                                     = $0.0000104
      measured                                                                     = $0.0002206385
    Priced as before (each child a Standard transition and a DDL statement, no validate calls), the
    children alone would have been 3 x $0.000025 = $0.000075.
    """
    usages = three_object_run()
    measured, estimated = usages.measured, usages.estimated
    assert measured.transitions == 7  # no child priced as a Standard transition
    assert measured.athena == []  # no child counted as an Athena DDL statement
    assert measured.express_executions() == 3 and measured.express_gb_seconds() == pytest.approx(0.1125)
    validate_calls = [u for u in measured.lambdas if u.function == VALIDATE_ARN.rsplit(":", 1)[-1]]
    assert sum(u.requests for u in validate_calls) == 5  # prepare, summarise and the 3 children's calls
    assert sorted(u.duration_ms for u in validate_calls) == pytest.approx([200, 250, 300, 320, 1001])
    assert {u.memory_mb for u in validate_calls} == {1024}
    assert (measured.s3_get_requests, measured.s3_put_requests) == (1, 2)
    by_service = run_cost(measured)
    assert by_service["step_functions"] == pytest.approx(0.000175 + 0.000004875)
    assert by_service["lambda"] == pytest.approx(0.0000286135, rel=1e-5)
    assert by_service["athena"] == 0
    assert sum(by_service.values()) == pytest.approx(0.0002206385, rel=1e-5)
    # Nothing of the Map is estimated when the results give every child's duration; reading them
    # (the manifest, one results file) is this function's own 2 GETs.
    assert estimated.express == [] and estimated.lambdas == []
    assert estimated.s3_get_requests == estimated_usage(3).s3_get_requests + 2
    (summary,) = usages.map_runs
    assert summary["execution_type"] == "EXPRESS" and summary["children"] == 3
    assert summary["counted_by"] == "DescribeMapRun" and summary["lambda_calls"] == 3
    assert summary["duration_source"].startswith("ResultWriter results")


def test_without_readable_results_the_childrens_durations_are_estimates_and_say_so() -> None:
    def refused(bucket: str, key: str) -> bytes:
        raise OSError("AccessDenied")

    usages = three_object_run(get_object=refused)
    measured, estimated = usages.measured, usages.estimated
    assert measured.express == [] and measured.transitions == 7
    assert [(e.executions, e.duration_ms) for e in estimated.express] == [(3, EXPRESS_CHILD_ESTIMATE_MS)]
    (calls,) = estimated.lambdas
    assert (calls.requests, calls.duration_ms, calls.memory_mb) == (3, CHILD_LAMBDA_ESTIMATE_MS, 1024)
    assert sum(u.requests for u in measured.lambdas) == 2  # prepare and summarise, from the history
    assert "estimated for 3" in usages.map_runs[0]["duration_source"]
    record = cost_record(measured, estimated, status="SUCCEEDED", computed_at="t", map_runs=usages.map_runs)
    assert record["estimated_usage"]["express_executions"] == 3
    assert record["usage"]["lambda_invocations"] - record["estimated_usage"]["lambda_invocations"] == 2
    assert record["map_runs"][0]["state"] == "ValidateEachObject"


def test_children_that_never_started_are_not_priced() -> None:
    """DescribeMapRun: 2 children started, 1 still pending when the run was aborted."""
    files = result_files(children=2)
    usages = three_object_run(
        describe_map_run=lambda arn: described(arn, 2, pending=1, status="ABORTED"),
        get_object=lambda bucket, key: files[(bucket, key)],
    )
    assert usages.measured.express_executions() == 2 and usages.estimated.express == []
    assert sum(u.requests for u in usages.measured.lambdas) == 4
    assert usages.map_runs[0]["status"] == "ABORTED"


def test_without_describe_map_run_the_history_counts_the_children() -> None:
    usages = three_object_run(describe_map_run=lambda arn: None)
    assert usages.measured.express_executions() == 3
    assert usages.map_runs[0]["counted_by"].startswith("history")


def test_the_function_records_the_express_children_read_from_s3(
    stack: Any, load_handler: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1")
    for (bucket, key), body in result_files().items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(stack.runs_table)
    table.put_item(Item={"run_id": "r3", "status": "SUCCEEDED", "object_count": 3, "dataset": "orders"})
    handler = load_handler("run_cost")
    monkeypatch.setattr(handler, "history_pages", lambda client, arn: iter(three_object_history()))
    monkeypatch.setattr(handler, "_function_configs", lambda names: dict(CONFIGS))
    monkeypatch.setattr(handler, "_children", lambda arn: pipeline_children())
    monkeypatch.setattr(handler, "_describe_map_run", lambda arn: described(arn, 3))
    assert handler.lambda_handler(ended_event("r3"), lambda_context)["recorded"] is True
    cost = table.get_item(Key={"run_id": "r3"})["Item"]["cost"]
    assert cost["usage"]["express_executions"] == 3 and cost["usage"]["transitions"] == 7
    assert cost["usage"]["athena_ddl_statements"] == 0
    assert cost["usage"]["lambda_invocations"] - cost["estimated_usage"]["lambda_invocations"] == 5
    assert "express_executions" not in cost["estimated_usage"]  # every child's duration was read
    (summary,) = cost["map_runs"]
    assert (summary["children"], summary["children_timed"], summary["execution_type"]) == (3, 3, "EXPRESS")
    # The hand computation's, but for RecordStart's update: this record is under 1 KB, 1 WRU, not 2.
    assert cost["measured_usd"] == pytest.approx(Decimal("0.0002206385") - Decimal("0.000000625"))
