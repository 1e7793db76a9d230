"""A run's cost on the local stack: ended executions become "Execution Status Change" events, the
Lambda API answers GetFunctionConfiguration with template.yaml's memory, and the run record gets `cost`."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from bench.cost import template_functions
from tributary.local.delivery.execution_events import ExecutionStatusEvents, status_change_event
from tributary.local.endpoints.lambda_api import function_configuration, serve_lambda_api
from tributary.serving import stop_serving, url_of

REPO = Path(__file__).resolve().parents[2]
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:pipeline"


@dataclass(frozen=True)
class FakeMachine:
    arn: str = MACHINE


@dataclass
class FakeExecution:
    arn: str
    status: str
    state_machine: FakeMachine = FakeMachine()
    input: str = '{"run_id": "r1"}'
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    start_date: dt.datetime = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)
    stop_date: dt.datetime | None = None


class FakeBackend:
    def __init__(self, executions: list[FakeExecution]) -> None:
        self.executions = executions

    def list_executions(self, arn: str) -> tuple[list[FakeExecution], None]:
        return [e for e in self.executions if e.state_machine.arn == arn], None


def test_each_ended_execution_is_announced_once_and_those_ended_before_the_start_never() -> None:
    before = FakeExecution(f"{MACHINE}:old", "SUCCEEDED")
    running = FakeExecution(f"{MACHINE}:new", "RUNNING")
    backend = FakeBackend([before, running])
    put: list[dict[str, Any]] = []
    events = ExecutionStatusEvents(backend, lambda: [MACHINE], put.append, "us-east-1", "123456789012", 60)
    events.start()
    try:
        assert events.check() == 0
        running.status, running.stop_date = "FAILED", dt.datetime(2026, 12, 7, 8, 1, tzinfo=dt.UTC)
        assert events.check() == 1 and events.check() == 0
    finally:
        events.stop()
    (event,) = put
    assert (
        event["source"] == "aws.states" and event["detail-type"] == "Step Functions Execution Status Change"
    )
    detail = event["detail"]
    assert (detail["executionArn"], detail["status"], detail["stateMachineArn"]) == (
        running.arn,
        "FAILED",
        MACHINE,
    )
    assert detail["stopDate"] - detail["startDate"] == 60_000 and json.loads(detail["input"]) == {
        "run_id": "r1"
    }
    assert status_change_event(before, "us-east-1", "1")["detail"]["stopDate"] is None


def test_the_lambda_api_answers_get_function_configuration_and_refuses_the_rest() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    known = function_configuration("f", arn, {"MemorySize": 1024, "Architectures": ["arm64"]})
    server = serve_lambda_api(lambda name: known if name in ("f", arn) else None)
    try:
        client = boto3.client(
            "lambda", endpoint_url=url_of(server), region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        config = client.get_function_configuration(FunctionName=arn)
        assert (config["MemorySize"], config["Architectures"], config["EphemeralStorage"]) == (
            1024, ["arm64"], {"Size": 512},
        )  # fmt: skip
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            client.get_function_configuration(FunctionName="other")
        request = urllib.request.Request(f"{url_of(server)}/2015-03-31/functions/f/invocations", data=b"{}")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request)
        assert b"GetFunctionConfiguration only" in refused.value.read()
    finally:
        stop_serving(server)


@pytest.mark.slow
def test_a_run_through_the_local_stack_gets_its_cost_on_its_record(tmp_path: Path) -> None:
    """One small file (the small-run path, no Spark): its record's cost prices the state machine's Lambda
    invocations at template.yaml's memory (GetFunctionConfiguration answered locally), counts every
    transition of the history, and splits measured from estimated."""
    from etl_common.cost import US_EAST_1, step_functions_cost

    from tributary.local.commands.one_shot import run_files
    from tributary.local.session import execution_history
    from tributary.local.stack import LocalStack, StackOptions
    from tributary.local.views.report import plain_item, render_text

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    upload = tmp_path / "orders-cost.csv"
    upload.write_text(
        "order_id,customer_id,amount,quantity,status,ordered_at\n"
        "ORD-000001,C0001,10.25,1,NEW,2026-11-24 10:00:00\n"
    )
    options = StackOptions(REPO, work_dir=tmp_path / "stack", batch_window_cap=0.0, real_time=True)
    with LocalStack(options) as stack:
        result = run_files(stack, [upload], dataset="orders", timeout=300, progress=False)
        assert [r.status for r in result.reports] == ["SUCCEEDED"]
        # `tributary run`'s report waits for the cost and shows it.
        (report,) = result.reports
        assert report.cost is not None and "Cost on AWS: $" in render_text(report)
        dynamodb = stack.aws.client("dynamodb")
        deadline = time.monotonic() + 60
        while True:
            (item,) = dynamodb.scan(TableName=stack.physical_id("RunsTable"))["Items"]
            record = plain_item(item)
            if "cost" in record or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        sfn = boto3.client(
            "stepfunctions", endpoint_url=stack.states_url, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        (execution,) = sfn.list_executions(stateMachineArn=stack.state_machine_arn())["executions"]
        history = execution_history(sfn, execution["executionArn"])
    cost = record["cost"]
    assert cost["execution_status"] == "SUCCEEDED" and "lambda_configuration_unknown" not in cost
    entered = sum(1 for e in history if e["type"].endswith("StateEntered"))
    # + RegisterPartitions' one STANDARD child (one state); ValidateEachObject's one EXPRESS child is an
    # Express request and its duration, not a transition, counted by DescribeMapRun and timed by its
    # entry in the ResultWriter results (run_usage.map_runs_usage).
    assert cost["usage"]["transitions"] == entered + 1
    assert cost["usage"]["express_executions"] == 1 and "express_executions" not in cost["estimated_usage"]
    gb_seconds = float(cost["usage"]["express_gb_seconds"])
    express = (
        US_EAST_1.step_functions_express_request + gb_seconds * US_EAST_1.step_functions_express_gb_second
    )
    standard = step_functions_cost(entered + 1)
    assert cost["by_service_usd"]["step_functions"] == pytest.approx(standard + express)
    runs = {m["state"]: m for m in cost["map_runs"]}
    assert runs["ValidateEachObject"]["counted_by"] == "DescribeMapRun"
    assert (runs["ValidateEachObject"]["children"], runs["ValidateEachObject"]["children_timed"]) == (1, 1)
    assert runs["RegisterPartitions"]["execution_type"] == "STANDARD"
    assert cost["usage"]["glue_job_runs"] == 0 and cost["by_service_usd"]["glue"] == 0
    assert cost["total_usd"] == pytest.approx(cost["measured_usd"] + cost["estimated_usd"])
    # Six invocations by the state machine, measured: five in its history (validate's prepare and
    # summarise, catalog, transform-lite, lineage) and the EXPRESS child's validate call; the trigger's
    # and run_cost's own, estimated.
    assert cost["usage"]["lambda_invocations"] - cost["estimated_usage"]["lambda_invocations"] == 6
    memory = template_functions()
    assert memory["ValidateFunction"].memory_mb == 1024  # priced as deployed, not at a default
