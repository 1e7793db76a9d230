"""The run-cost model (etl_common.run_usage, run_cost) against a hand computation for one run, and the
run_cost function writing `cost` on the run record (moto)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from etl_common.cost import (
    US_EAST_1,
    athena_query_cost,
    dynamodb_write_units,
    kms_requests_cost,
    run_cost,
    s3_request_class,
    sns_publish_cost,
)
from etl_common.run_usage import ESTIMATES, ChildWorkflow, child_workflows, estimated_usage
from run_cost.logic import RunFacts, RunUsages, cost_record, item_bytes, run_usage

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
VALIDATE_ARN = "arn:aws:lambda:us-east-1:123456789012:function:tributary-ValidateFunction"
TRIGGER_ARN = "arn:aws:lambda:us-east-1:123456789012:function:tributary-TriggerFunction"
CONFIGS = {VALIDATE_ARN: (1024, "arm64", 512), "tributary-TriggerFunction": (512, "arm64", 512)}
REPO = Path(__file__).resolve().parents[2]


def pipeline_children() -> dict[str, ChildWorkflow]:
    """What the distributed Maps of statemachine/pipeline.asl.json run, validate's ARN substituted."""
    text = (REPO / "statemachine" / "pipeline.asl.json").read_text()
    return child_workflows(text.replace("${ValidateFunctionArn}", VALIDATE_ARN))


def described(arn: str, started: int, pending: int = 0, status: str = "SUCCEEDED") -> dict[str, Any]:
    """DescribeMapRun's answer for a Map run whose `started` children all succeeded."""
    counts = {"pending": pending, "running": 0, "succeeded": started, "failed": 0, "timedOut": 0,
              "aborted": 0, "total": started + pending, "resultsWritten": started}  # fmt: skip
    return {"mapRunArn": arn, "status": status, "executionCounts": counts, "itemCounts": dict(counts)}


class HistoryBuilder:
    """GetExecutionHistory events, ids and previousEventId chained, one millisecond clock."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.now = T0

    def add(self, kind: str, details: dict[str, Any] | None = None, after_ms: float = 0) -> None:
        self.now += timedelta(milliseconds=after_ms)
        event: dict[str, Any] = {
            "id": len(self.events) + 1,
            "previousEventId": len(self.events),
            "type": kind,
            "timestamp": self.now,
        }
        if details is not None:
            key = kind[0].lower() + kind[1:] + "EventDetails"
            event[key] = details
        self.events.append(event)

    def state(self, kind: str, name: str) -> None:
        self.add(f"{kind}StateEntered", {"name": name})

    def task(self, name: str, resource_type: str, resource: str, parameters: dict[str, Any], *,
             failures: int = 0, ms: float = 5, submitted: dict[str, Any] | None = None) -> None:  # fmt: skip
        self.state("Task", name)
        for attempt in range(failures + 1):
            scheduled = {
                "resourceType": resource_type,
                "resource": resource,
                "parameters": json.dumps(parameters),
            }
            self.add("TaskScheduled", scheduled)
            self.add("TaskStarted", {"resourceType": resource_type, "resource": resource})
            if submitted is not None:
                self.add("TaskSubmitted", {"output": json.dumps(submitted)})
            if attempt < failures:
                self.add("TaskFailed", {"error": "DynamoDB.ThrottlingException"}, after_ms=ms)
            else:
                self.add("TaskSucceeded", {"output": "{}"}, after_ms=ms)
        self.add("TaskStateExited", {"name": name})


PARTITIONS_RUN = "arn:aws:states:us-east-1:1:mapRun:p/RegisterPartitions:1"


def one_glue_run_history() -> list[dict[str, Any]]:
    h = HistoryBuilder()
    h.add("ExecutionStarted", {"input": json.dumps({"run_id": "r1"})})
    h.state("Pass", "InitRun")
    h.task("RecordStart", "dynamodb", "updateItem", {"TableName": "runs"}, failures=1)
    h.task("ValidateObjects", "lambda", "invoke", {"FunctionName": VALIDATE_ARN}, ms=850)
    h.task(
        "RunTransformJob",
        "glue",
        "startJobRun.sync",
        {"JobName": "transform"},
        submitted={"JobRunId": "jr_1"},
    )
    h.add("MapStateEntered", {"name": "RegisterPartitions"})
    h.add("MapStateStarted", {"length": 2})
    h.add("MapRunStarted", {"mapRunArn": PARTITIONS_RUN})
    h.add("MapRunSucceeded")
    h.add("MapStateSucceeded")
    h.add("MapStateExited", {"name": "RegisterPartitions"})
    h.task("NotifySuccess", "sns", "publish", {"TopicArn": "t"})
    h.state("Succeed", "RunSucceeded")
    h.add("ExecutionSucceeded")
    return h.events


JOB_RUN = {"Id": "jr_1", "ExecutionTime": 45, "WorkerType": "G.1X", "NumberOfWorkers": 2}


def one_glue_run(history: list[dict[str, Any]]) -> RunUsages:
    return run_usage(
        history,
        RunFacts("r1", 1, 1500),
        CONFIGS,
        lambda job, run: JOB_RUN if (job, run) == ("transform", "jr_1") else {},
        trigger=("tributary-TriggerFunction", 400.0),
        children=pipeline_children(),
        describe_map_run=lambda arn: described(arn, 2) if arn == PARTITIONS_RUN else None,
    )


def test_one_glue_run_costs_what_the_hand_computation_says() -> None:
    """One run on the Glue path, one object, its history built above (us-east-1 prices of 2026-12-07).

    Measured from the history:
      state transitions: 7 states entered (InitRun, RecordStart, ValidateObjects, RunTransformJob,
        RegisterPartitions, NotifySuccess, RunSucceeded) + 1 retry of RecordStart + 2 STANDARD child
        executions of the distributed Map (DescribeMapRun: 2 started; 1 state, a DDL Task, each)
        = 10;                                                           10 x $0.000025 = $0.000250
      Lambda: ValidateObjects 850 ms at 1,024 MB arm64 = 0.85 GB-s x $0.0000133334 + $0.0000002
                                                                                    = $0.0000115334
      Glue: ExecutionTime 45 s, 2 x G.1X = 2 DPU: 90 DPU-s, below the minimum of 60 s x 2 DPU
        = 120 DPU-s = 1/30 DPU-hour x $0.44                                         = $0.0146667
      Athena: 2 ALTER TABLE ADD PARTITION (DDL)                                     = $0
      DynamoDB: RecordStart's one successful update of a 1,500-byte item = 2 WRU x $0.000000625
                                                                                    = $0.00000125
      SNS: 1 publish x $0.0000005                                                   = $0.0000005
      S3: the Map's ItemReader, 1 GET x $0.0000004                                  = $0.0000004
      measured                                                                      = $0.0149304
    Estimated (ESTIMATES, 1 object, 2 queries, Glue path):
      S3 PUT class: trigger 1 + validate 5+1 + transform 6 + glue 6+2 + athena 2x1 = 23 x $0.000005
                                                                                    = $0.000115
      S3 GET class: validate 1+1 + catalog 1 + transform 2+1 + glue 6+1 + lineage 2 = 15 x $0.0000004
                                                                                    = $0.000006
      DynamoDB: trigger 1+2 + lineage 1 = 4 WRU x $0.000000625                      = $0.0000025
      SQS: 2+1 = 3 x $0.0000004                                                     = $0.0000012
      KMS: 8 x $0.000003                                                            = $0.000024
      trigger: 400 ms at 512 MB = 0.2 GB-s x $0.0000133334 + $0.0000002             = $0.0000028667
      estimated                                                                     = $0.0001516
    total                                                                           = $0.0150820
    """
    usages = one_glue_run(one_glue_run_history())
    measured, estimated = usages.measured, usages.estimated
    assert measured.transitions == 10
    assert measured.lambda_gb_seconds() == pytest.approx(0.85)
    assert measured.glue_dpu_seconds() == 120
    assert [a.statement_type for a in measured.athena] == ["DDL", "DDL"]
    assert (measured.dynamodb_write_units, measured.sns_publishes, measured.s3_get_requests) == (2, 1, 1)
    by_service = run_cost(measured)
    assert by_service["step_functions"] == pytest.approx(0.000250)
    assert by_service["lambda"] == pytest.approx(0.0000115334, rel=1e-5)
    assert by_service["glue"] == pytest.approx(0.44 / 30)
    assert by_service["athena"] == 0
    assert sum(by_service.values()) == pytest.approx(0.0149304, rel=1e-5)
    assert (estimated.s3_put_requests, estimated.s3_get_requests) == (23, 15)
    assert (estimated.dynamodb_write_units, estimated.sqs_requests, estimated.kms_requests) == (4, 3, 8)
    assert sum(run_cost(estimated).values()) == pytest.approx(0.0001516, rel=1e-3)
    record = cost_record(measured, estimated, status="SUCCEEDED", computed_at="2026-12-07T08:00:01Z")
    assert float(record["total_usd"]) == pytest.approx(0.0150820, rel=1e-5)
    assert record["measured_usd"] + record["estimated_usd"] == pytest.approx(record["total_usd"])
    assert record["usage"]["transitions"] == 10 and record["estimated_usage"]["kms_requests"] == 8
    assert all(isinstance(v, Decimal) for v in record["by_service_usd"].values())
    assert "us-east-1" in record["prices"] and US_EAST_1.checked in record["prices"]


def test_a_small_run_has_no_glue_and_no_glue_estimates() -> None:
    h = HistoryBuilder()
    h.state("Pass", "InitRun")
    h.task("RunSmallTransform", "lambda", "invoke", {"FunctionName": VALIDATE_ARN}, ms=300)
    usages = run_usage(h.events, RunFacts("r", 3, 100), CONFIGS, lambda j, r: {})
    measured, estimated = usages.measured, usages.estimated
    assert measured.glue == [] and measured.transitions == 2
    assert estimated.s3_put_requests == estimated_usage(3, path="lite").s3_put_requests
    assert estimated_usage(3, path="lite").s3_put_requests < estimated_usage(3, path="glue").s3_put_requests


def test_an_unknown_function_is_priced_at_128_mb() -> None:
    h = HistoryBuilder()
    h.task("X", "lambda", "invoke", {"FunctionName": "arn:aws:lambda:us-east-1:1:function:gone"}, ms=1000)
    measured = run_usage(h.events, RunFacts("r", 1, 100), {}, lambda j, r: {}).measured
    assert [(u.function, u.memory_mb) for u in measured.lambdas] == [("gone", 128)]


def test_prices_of_the_services_a_run_uses() -> None:
    assert athena_query_cost(10**12, statement_type="DDL") == 0  # DDL is free, whatever it scans
    assert athena_query_cost(1) == pytest.approx(10 * 2**20 / 2**40 * 5)  # 10 MB minimum
    assert athena_query_cost(11 * 2**20 + 1) == pytest.approx(12 * 2**20 / 2**40 * 5)  # rounded up to MB
    assert dynamodb_write_units(1) == 1 and dynamodb_write_units(1025) == 2
    assert dynamodb_write_units(1500, transactional=True) == 4
    assert sns_publish_cost(2, message_bytes=65 * 1024) == pytest.approx(4 * 0.50 / 1e6)
    assert kms_requests_cost(10_000) == pytest.approx(0.03)
    assert [s3_request_class(op) for op in ("PutObject", "ListObjectsV2", "HeadObject", "DeleteObject")] == [
        "put", "put", "get", "free"
    ]  # fmt: skip
    assert set(US_EAST_1.sources) >= {"athena", "dynamodb", "sns", "kms", "s3", "lambda", "glue"}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: athena_query_cost(1, statement_type="SELECT"), "statement_type must be one of DDL, DML"),
        (lambda: s3_request_class("Frobnicate"), "no S3 request class known for 'Frobnicate'"),
        (lambda: estimated_usage(-1), "objects and queries must be >= 0"),
    ],
)
def test_bad_arguments_get_a_clear_message(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_every_estimate_names_a_known_service_and_says_why() -> None:
    assert all(e.service in ("s3_put", "s3_get", "dynamodb_wru", "sqs", "kms") and e.why for e in ESTIMATES)


def test_item_size_counts_names_and_values() -> None:
    assert item_bytes({"run_id": "abc"}) == len("run_id") + 3
    assert item_bytes({"a": {"bb": "ccc"}, "n": Decimal(12)}) == 1 + 3 + 2 + 3 + 1 + 2


def ended_event(run_id: str, status: str = "SUCCEEDED") -> dict[str, Any]:
    arn = f"arn:aws:states:us-east-1:123456789012:execution:tributary-pipeline:{run_id}"
    return {
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {
            "executionArn": arn,
            "name": run_id,
            "status": status,
            "input": json.dumps({"run_id": run_id}),
        },
    }


@pytest.mark.parametrize("event_has_input", [True, False], ids=["input", "name-only"])
def test_the_function_sets_cost_on_the_run_record(
    stack: Any,
    load_handler: Any,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
    event_has_input: bool,
) -> None:
    """Under the customer managed key an execution's status event may come without its input: the
    run is then found by the execution's name (every run's execution is named after its run id)."""
    import boto3

    table = boto3.resource("dynamodb", region_name="us-east-1").Table(stack.runs_table)
    table.put_item(Item={"run_id": "r1", "status": "SUCCEEDED", "object_count": 1, "dataset": "orders"})
    monkeypatch.setenv("TRIGGER_FUNCTION_NAME", "tributary-TriggerFunction")
    handler = load_handler("run_cost")
    monkeypatch.setattr(handler, "history_pages", lambda client, arn: iter(one_glue_run_history()))
    monkeypatch.setattr(handler, "_function_configs", lambda names: dict(CONFIGS))
    monkeypatch.setattr(handler, "_job_run", lambda job, run: JOB_RUN)
    monkeypatch.setattr(handler, "_children", lambda arn: pipeline_children())
    monkeypatch.setattr(handler, "_describe_map_run", lambda arn: described(arn, 2))
    event = ended_event("r1")
    if not event_has_input:
        del event["detail"]["input"]
    answer = handler.lambda_handler(event, lambda_context)
    assert answer["recorded"] is True
    item = table.get_item(Key={"run_id": "r1"})["Item"]
    cost = item["cost"]
    assert item["status"] == "SUCCEEDED"  # the status is never touched
    assert cost["usage"]["transitions"] == 10 and cost["usage"]["glue_dpu_seconds"] == 120
    assert cost["execution_status"] == "SUCCEEDED"
    assert cost["measured_usd"] == pytest.approx(Decimal("0.0149304"), rel=Decimal("1e-4"))
    # The trigger's invocation and this function's own are the estimated Lambda requests.
    assert cost["estimated_usage"]["lambda_invocations"] == 2


@pytest.mark.parametrize(
    "event",
    [
        {"detail": {"status": "RUNNING", "executionArn": "x", "input": '{"run_id": "r1"}'}},
        {"detail": {"status": "FAILED", "executionArn": "x", "input": "not json"}},
        {"detail": {"status": "FAILED", "executionArn": "x", "input": '{"run_id": "missing"}'}},
    ],
)
def test_no_cost_for_a_running_execution_an_unreadable_input_or_a_missing_record(
    stack: Any, load_handler: Any, lambda_context: Any, event: dict[str, Any]
) -> None:
    handler = load_handler("run_cost")
    assert handler.lambda_handler(event, lambda_context) == {"recorded": False}
