from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tributary.local.endpoints.moto_server import MotoServer
from tributary.local.integrations import local_integrations
from tributary.local.runtimes.athena_runtime import AthenaRuntime
from tributary.local.runtimes.glue_runtime import GlueRuntime, JobConfig
from tributary.local.runtimes.lambda_runtime import FunctionConfig, LambdaRuntime
from tributary.states import Execution, IntegrationRegistry, execute

from .conftest import FIXTURE_APP

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:hello"


@pytest.fixture
def integrations(moto_server: MotoServer, tmp_path: Path) -> Iterator[IntegrationRegistry]:
    lambdas = LambdaRuntime(
        [
            FunctionConfig(
                name="hello",
                arn=FUNCTION_ARN,
                handler="hello.handler.lambda_handler",
                code_dir=FIXTURE_APP / "fn",
                layer_dirs=(FIXTURE_APP / "layer",),
                timeout_seconds=10,
            )
        ],
        moto_server.env(),
    )
    glue = GlueRuntime(
        [JobConfig(name="job", script="job/script.py", default_arguments={"--bucket": "!"})],
        moto_server.client,
        moto_server.env(),
        FIXTURE_APP,
        tmp_path,
    )
    athena = AthenaRuntime(moto_server.client)
    yield local_integrations(lambdas, glue, athena, moto_server.client)
    lambdas.close()
    athena.close()


def _task_events(definition: dict[str, Any], integrations: IntegrationRegistry) -> tuple[Any, list[Any]]:
    """The result of a run and its Task* events (type, details)."""
    execution = Execution(definition, {}, integrations=integrations)
    result = execution.run()
    events = [
        (event["type"], next((v for k, v in event.items() if k.endswith("EventDetails")), {}))
        for event in execution.history.events
        if event["type"].startswith("Task") and not event["type"].startswith("TaskState")
    ]
    return result, events


def _task(resource: str, parameters: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "StartAt": "T",
        "States": {
            "T": {"Type": "Task", "Resource": resource, "Parameters": parameters, "End": True, **extra}
        },
    }


def test_lambda_invoke_returns_the_envelope_and_errors_carry_lambdas_document(
    integrations: IntegrationRegistry,
) -> None:
    ok = execute(
        _task("arn:aws:states:::lambda:invoke", {"FunctionName": FUNCTION_ARN, "Payload": {"name": "x"}}),
        {},
        integrations=integrations,
    )
    assert ok.status == "SUCCEEDED", ok.cause
    output = json.loads(ok.output) if isinstance(ok.output, str) else ok.output
    assert output["StatusCode"] == 200
    assert output["Payload"]["greeting"] == "hello x"
    failed = execute(
        _task("arn:aws:states:::lambda:invoke", {"FunctionName": "hello", "Payload": {"action": "raise"}}),
        {},
        integrations=integrations,
    )
    assert failed.status == "FAILED"
    assert failed.error == "ValueError"
    assert json.loads(failed.cause)["errorMessage"] == "bad input"
    direct = execute(
        {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": FUNCTION_ARN, "End": True}}},
        {"name": "y"},
        integrations=integrations,
    )
    assert direct.status == "SUCCEEDED", direct.cause
    missing = execute(
        _task("arn:aws:states:::lambda:invoke", {"FunctionName": "nope", "Payload": {}}),
        {},
        integrations=integrations,
    )
    assert missing.error == "Lambda.ResourceNotFoundException"


def test_sdk_and_optimized_calls_reach_moto_with_aws_error_names(
    integrations: IntegrationRegistry, moto_server: MotoServer
) -> None:
    s3 = moto_server.client("s3")
    s3.create_bucket(Bucket="docs-local")
    s3.put_object(Bucket="docs-local", Key="a.json", Body=b'{"n": 1}')
    got = execute(
        _task("arn:aws:states:::aws-sdk:s3:getObject", {"Bucket": "docs-local", "Key": "a.json"}),
        {},
        integrations=integrations,
    )
    assert got.status == "SUCCEEDED", got.cause
    output = got.output if isinstance(got.output, dict) else json.loads(got.output)
    assert json.loads(output["Body"]) == {"n": 1}
    missing = execute(
        _task("arn:aws:states:::aws-sdk:s3:getObject", {"Bucket": "docs-local", "Key": "no.json"}),
        {},
        integrations=integrations,
    )
    assert missing.error == "S3.NoSuchKeyException"

    moto_server.client("dynamodb").create_table(
        TableName="runs-local",
        KeySchema=[{"AttributeName": "run_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "run_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    put = {
        "TableName": "runs-local",
        "Item": {"run_id": {"S": "r1"}},
        "ConditionExpression": "attribute_not_exists(run_id)",
    }
    assert (
        execute(_task("arn:aws:states:::dynamodb:putItem", put), {}, integrations=integrations).status
        == "SUCCEEDED"
    )
    again = execute(_task("arn:aws:states:::dynamodb:putItem", put), {}, integrations=integrations)
    assert again.error == "DynamoDB.ConditionalCheckFailedException"

    topic = moto_server.client("sns").create_topic(Name="alerts-local")["TopicArn"]
    published = execute(
        _task("arn:aws:states:::sns:publish", {"TopicArn": topic, "Message": "hi"}),
        {},
        integrations=integrations,
    )
    assert published.status == "SUCCEEDED", published.cause


def test_glue_sync_waits_for_the_run_and_fails_the_task_with_the_job_run(
    integrations: IntegrationRegistry, moto_server: MotoServer
) -> None:
    s3 = moto_server.client("s3")
    s3.create_bucket(Bucket="glue-local")
    s3.put_object(Bucket="glue-local", Key="in/x.txt", Body=b"abc")
    manifest = {"objects": [{"bucket": "glue-local", "key": "in/x.txt"}]}
    s3.put_object(Bucket="glue-local", Key="m.json", Body=json.dumps(manifest).encode())
    run, events = _task_events(
        _task(
            "arn:aws:states:::glue:startJobRun.sync",
            {
                "JobName": "job",
                "Arguments": {
                    "--manifest_uri": "s3://glue-local/m.json",
                    "--output_uri": "s3://glue-local/out/",
                },
            },
        ),
        integrations,
    )
    assert run.status == "SUCCEEDED", run.cause
    output = run.output if isinstance(run.output, dict) else json.loads(run.output)
    assert output["JobRunState"] == "SUCCEEDED"
    assert [t for t, _ in events] == ["TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded"]
    submitted = events[2][1]
    assert (submitted["resourceType"], submitted["resource"]) == ("glue", "startJobRun.sync")
    assert json.loads(submitted["output"])["JobRunId"] == output["Id"]  # the StartJobRun response
    assert isinstance(output["StartedOn"], int)
    assert s3.get_object(Bucket="glue-local", Key="out/x.txt.out")["Body"].read() == b"ABC!"
    failed, events = _task_events(
        _task("arn:aws:states:::glue:startJobRun.sync", {"JobName": "job", "Arguments": {"--fail": "boom"}}),
        integrations,
    )
    assert failed.error == "States.TaskFailed"
    assert [t for t, _ in events] == ["TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskFailed"]
    assert json.loads(failed.cause)["ErrorMessage"] == "ValueError: boom"


def test_athena_sync_runs_ddl_and_fails_with_the_query_execution(
    integrations: IntegrationRegistry, moto_server: MotoServer
) -> None:
    moto_server.client("s3").create_bucket(Bucket="athena-local")
    moto_server.client("glue").create_database(DatabaseInput={"Name": "db"})
    params = {
        "QueryString": "CREATE EXTERNAL TABLE t (a string) PARTITIONED BY (d string) STORED AS PARQUET "
        "LOCATION 's3://athena-local/t/'",
        "QueryExecutionContext": {"Database": "db"},
        "ResultConfiguration": {"OutputLocation": "s3://athena-local/results/"},
    }
    created, events = _task_events(
        _task("arn:aws:states:::athena:startQueryExecution.sync", params), integrations
    )
    assert created.status == "SUCCEEDED", created.cause
    output = created.output if isinstance(created.output, dict) else json.loads(created.output)
    assert output["QueryExecution"]["Status"]["State"] == "SUCCEEDED"
    assert [t for t, _ in events] == ["TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded"]
    submitted = events[2][1]
    assert (submitted["resourceType"], submitted["resource"]) == ("athena", "startQueryExecution.sync")
    started = json.loads(submitted["output"])  # the StartQueryExecution response
    assert started["QueryExecutionId"] == output["QueryExecution"]["QueryExecutionId"]
    again = execute(
        _task("arn:aws:states:::athena:startQueryExecution.sync", params), {}, integrations=integrations
    )
    assert again.error == "States.TaskFailed"
    assert json.loads(again.cause)["QueryExecution"]["Status"]["State"] == "FAILED"
