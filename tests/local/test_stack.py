"""The local stack on the tests' own tiny application (no Spark): events, polling, the engine's
endpoint, schedules and the control endpoint, wired from the template."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tributary.local.commands.one_shot import dataset_of
from tributary.local.endpoints.control import serve_control
from tributary.local.stack import LocalStack, StackOptions

from .conftest import FIXTURE_APP


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    with LocalStack(StackOptions(FIXTURE_APP, work_dir=tmp_path, batch_window_cap=0.2)) as local:
        yield local


def _wait(condition: object, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_an_upload_reaches_the_function_through_eventbridge_sqs_and_the_mapping(stack: LocalStack) -> None:
    s3 = stack.aws.client("s3")
    s3.put_object(Bucket="tiny-raw-dev", Key="incoming/demo/a é.csv", Body=b"1")
    s3.put_object(Bucket="tiny-raw-dev", Key="ignored/b.csv", Body=b"1")
    (mapping,) = stack.mappings
    _wait(lambda: mapping.batches)
    (batch,) = mapping.batches
    assert batch.function_error is None
    assert batch.result["greeting"] == "hello world"
    assert mapping.config.batching_window_seconds == 5 and mapping.window == 0.2
    assert any(d.ok and d.target.endswith("tiny-IngestQueue") for d in stack.bus.deliveries)


def test_the_state_machine_runs_on_the_engine_endpoint_with_boto3(stack: LocalStack) -> None:
    sfn = boto3.client(
        "stepfunctions",
        endpoint_url=stack.states_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    arn = stack.state_machine_arn("Machine")
    execution = sfn.start_execution(stateMachineArn=arn, name="run-1", input=json.dumps({"name": "sfn"}))
    _wait(lambda: sfn.describe_execution(executionArn=execution["executionArn"])["status"] != "RUNNING", 30)
    described = sfn.describe_execution(executionArn=execution["executionArn"])
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"])["greeting"] == "hello sfn"


def test_schedules_fire_on_demand_locally_and_through_the_control_endpoint(stack: LocalStack) -> None:
    result = stack.scheduler.fire("HelloFunctionNightly")
    assert result.payload["greeting"] == "hello world"  # type: ignore[attr-defined]
    control = serve_control(stack)
    try:
        url = f"http://127.0.0.1:{control.server_port}/schedules/HelloFunctionNightly/fire"
        with urllib.request.urlopen(urllib.request.Request(url, method="POST", data=b"")) as response:
            body = json.loads(response.read())
        assert body["result"]["function_error"] is None
        assert body["result"]["payload"]["invocations"] == 2  # the same warm worker
    finally:
        control.shutdown()


def test_dataset_from_file_name() -> None:
    known = ["clicks", "orders", "orders_eu"]
    assert dataset_of(Path("orders-sample.csv"), known) == "orders"
    assert dataset_of(Path("orders_eu-2026.csv"), known) == "orders_eu"
    assert dataset_of(Path("Clicks.jsonl"), known) == "clicks"
    assert dataset_of(Path("inventory-1.csv"), known) == "inventory"


def _client(service: str, url: str) -> object:
    return boto3.client(
        service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )


def test_athena_and_glue_endpoints_run_locally_and_pass_the_rest_to_moto(stack: LocalStack) -> None:
    athena: Any = _client("athena", stack.endpoints["ATHENA"])
    glue: Any = _client("glue", stack.endpoints["GLUE"])
    assert glue.get_database(Name="tiny_dev")["Database"]["Name"] == "tiny_dev"  # passed on to moto
    query_id = athena.start_query_execution(
        QueryString="SELECT 41 + 1 AS answer",
        WorkGroup="tiny-wg",
        QueryExecutionContext={"Database": "tiny_dev"},
    )["QueryExecutionId"]
    execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
    assert execution["Status"]["State"] == "SUCCEEDED"
    assert execution["ResultConfiguration"]["OutputLocation"].startswith(
        "s3://tiny-curatedbucket/athena-results/"
    )
    rows = athena.get_query_results(QueryExecutionId=query_id)["ResultSet"]["Rows"]
    assert rows[1]["Data"][0]["VarCharValue"] == "42"
    with pytest.raises(athena.exceptions.InvalidRequestException):
        athena.get_query_results(QueryExecutionId="nope")
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.start_job_run(JobName="nope")
    assert athena.get_work_group(WorkGroup="tiny-wg")["WorkGroup"]["Name"] == "tiny-wg"  # moto


def test_invocation_logs_land_in_cloudwatch_logs_as_lambda_writes_them(stack: LocalStack) -> None:
    result = stack.lambdas.invoke("HelloFunction", {"name": "logs"})
    logs = stack.aws.client("logs")
    events = logs.get_log_events(
        logGroupName="/aws/lambda/tiny-HelloFunction", logStreamName=result.log_stream
    )
    messages = [e["message"] for e in events["events"]]
    assert messages[0] == f"START RequestId: {result.request_id} Version: $LATEST"
    assert "invocation 1: echo" in messages
    assert messages[-2] == f"END RequestId: {result.request_id}"
    assert (
        messages[-1].startswith(f"REPORT RequestId: {result.request_id}") and "Init Duration" in messages[-1]
    )


def test_visibility_timeout_of_polled_queues_can_be_capped(tmp_path: Path) -> None:
    options = StackOptions(FIXTURE_APP, work_dir=tmp_path, visibility_timeout_cap=2)
    with LocalStack(options) as local:
        sqs = local.aws.client("sqs")
        attributes = sqs.get_queue_attributes(
            QueueUrl=local.physical_id("IngestQueue"), AttributeNames=["All"]
        )
        assert attributes["Attributes"]["VisibilityTimeout"] == "2"
        assert any("visibility timeout 30s capped at 2s" in note for note in local.notes)
