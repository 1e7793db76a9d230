"""One endpoint for every service, `tributary env`/`aws`/`invoke`/`reset`, and runs read from the saved
state after the stack stopped (the fixture application: no Spark)."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tributary.cli import main
from tributary.local.commands.devtools import map_sample_names, sam_env_document
from tributary.local.endpoints.control import serve_control
from tributary.local.endpoints.router import service_of
from tributary.local.session import StackInfo
from tributary.local.stack import LocalStack, StackOptions

from .conftest import FIXTURE_APP

AWS_CLI = Path(sys.executable).parent / "aws"


def _client(service: str, endpoint_url: str) -> Any:
    return boto3.session.Session().client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )


@pytest.fixture
def up(tmp_path: Path) -> Iterator[tuple[LocalStack, Path]]:
    """The fixture application as `tributary up` runs it: one endpoint, control, stack.json in a
    project folder of its own."""
    options = StackOptions(
        FIXTURE_APP, work_dir=tmp_path / "work", endpoint_port=0, state_dir=tmp_path / "state"
    )
    with LocalStack(options) as stack:
        control = serve_control(stack)
        StackInfo.of(stack, f"http://127.0.0.1:{control.server_port}").save(tmp_path)
        try:
            yield stack, tmp_path
        finally:
            control.shutdown()


def test_the_service_is_read_from_the_signature_then_the_target() -> None:
    signed = "AWS4-HMAC-SHA256 Credential=testing/20261207/us-east-1/{}/aws4_request, SignedHeaders=host"
    assert service_of({"Authorization": signed.format("states")}, "/") == "SFN"
    assert service_of({"Authorization": signed.format("athena")}, "/") == "ATHENA"
    assert service_of({"Authorization": signed.format("glue")}, "/") == "GLUE"
    assert service_of({"Authorization": signed.format("lambda")}, "/") == "LAMBDA"
    assert service_of({"Authorization": signed.format("s3")}, "/b/k") is None
    presigned = (
        "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=testing%2F20261207%2Fus-east-1%2Fs3%2Faws4_request"
    )
    assert service_of({}, presigned) is None
    assert service_of({"X-Amz-Target": "AWSStepFunctions.ListStateMachines"}, "/") == "SFN"
    assert service_of({"X-Amz-Target": "DynamoDB_20120810.Scan"}, "/") is None
    assert service_of({}, "/") is None  # unsigned: moto


@pytest.mark.slow  # a stack provisioned and stopped: 6-8 s
def test_one_endpoint_serves_every_service_to_boto3(up: tuple[LocalStack, Path]) -> None:
    stack, _ = up
    url = stack.endpoint_url
    assert url and url != stack.aws.endpoint_url
    raw = stack.physical_id("RawBucket")
    assert raw in {b["Name"] for b in _client("s3", url).list_buckets()["Buckets"]}
    _client("s3", url).put_object(Bucket=raw, Key="incoming/a b+c.csv", Body=b"x" * 100_000)
    body = _client("s3", url).get_object(Bucket=raw, Key="incoming/a b+c.csv")["Body"].read()
    assert body == b"x" * 100_000
    presigned = _client("s3", url).generate_presigned_url(
        "get_object", Params={"Bucket": raw, "Key": "incoming/a b+c.csv"}
    )
    with urllib.request.urlopen(presigned) as response:
        assert response.read() == body
    # virtual-host style: the Host header reaches moto unchanged, which reads the bucket from it
    connection = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=30)
    connection.request("GET", "/no-such-key", headers={"Host": f"{raw}.s3.amazonaws.com"})
    answer = connection.getresponse()
    assert (answer.status, b"<Code>NoSuchKey</Code>" in answer.read()) == (404, True)
    connection.close()
    assert stack.physical_id("RunsTable") in _client("dynamodb", url).list_tables()["TableNames"]
    assert _client("sqs", url).list_queues()["QueueUrls"]
    # Step Functions: our engine (moto knows no state machine of the stack)
    sfn = _client("stepfunctions", url)
    machine = stack.state_machine_arn("Machine")
    assert machine in {m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    arn = sfn.start_execution(stateMachineArn=machine, input='{"name": "endpoint"}')["executionArn"]
    deadline = time.monotonic() + 60
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["greeting"].endswith("endpoint")
    # Athena: the local runtime (DuckDB) answers the query with its result
    athena = _client("athena", url)
    query = athena.start_query_execution(
        QueryString="SELECT 40 + 2 AS answer", WorkGroup=stack.physical_id("WorkGroup")
    )["QueryExecutionId"]
    assert (
        athena.get_query_execution(QueryExecutionId=query)["QueryExecution"]["Status"]["State"] == "SUCCEEDED"
    )
    rows = athena.get_query_results(QueryExecutionId=query)["ResultSet"]["Rows"]
    assert rows[-1]["Data"][0]["VarCharValue"] == "42"
    # Glue: job runs from the local runtime, the catalog passed on to moto
    glue = _client("glue", url)
    assert glue.get_job_runs(JobName=stack.physical_id("Job"))["JobRuns"] == []
    assert stack.physical_id("Database") in {d["Name"] for d in glue.get_databases()["DatabaseList"]}
    # Lambda: GetFunctionConfiguration from the provisioned template (what run_cost asks), not moto's
    function = _client("lambda", url).get_function_configuration(
        FunctionName=stack.physical_id("HelloFunction")
    )
    assert function["FunctionName"] == stack.physical_id("HelloFunction")


@pytest.mark.slow  # a stack provisioned and stopped: 6-8 s
@pytest.mark.skipif(not AWS_CLI.exists(), reason="the AWS CLI is not installed in this environment")
def test_the_aws_cli_needs_only_aws_endpoint_url(up: tuple[LocalStack, Path], tmp_path: Path) -> None:
    stack, _ = up
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "AWS_ENDPOINT_URL": stack.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
    }

    def aws(*arguments: str) -> Any:
        done = subprocess.run(
            [str(AWS_CLI), *arguments, "--output", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.startswith("{") else done.stdout

    machines = aws("stepfunctions", "list-state-machines")["stateMachines"]
    assert stack.state_machine_arn("Machine") in {m["stateMachineArn"] for m in machines}
    source = tmp_path / "upload.csv"
    source.write_bytes(b"a,b\n1,2\n")
    raw = stack.physical_id("RawBucket")
    aws("s3", "cp", str(source), f"s3://{raw}/incoming/upload.csv")
    listed = aws("s3api", "list-objects-v2", "--bucket", raw)["Contents"]
    assert "incoming/upload.csv" in {o["Key"] for o in listed}
    assert aws("glue", "get-job-runs", "--job-name", stack.physical_id("Job"))["JobRuns"] == []


@pytest.mark.slow  # a stack provisioned and stopped: 6-8 s
def test_env_aws_and_env_sam(up: tuple[LocalStack, Path], capsys: pytest.CaptureFixture[str]) -> None:
    stack, root = up
    assert main(["env", "--root", str(root)]) == 0
    exported = dict(
        line.removeprefix("export ").split("=", 1) for line in capsys.readouterr().out.splitlines()
    )
    assert exported["AWS_ENDPOINT_URL"] == stack.endpoint_url
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"} <= set(exported)
    sam_file = root / "sam-env.json"
    assert main(["env", "--sam", str(sam_file), "--root", str(root)]) == 0
    document = json.loads(sam_file.read_text())
    # The fixture's functions do not declare AWS_ENDPOINT_URL: the file names only what they declare
    # (template.yaml declares it; see tests/template/test_local_provisioning.py).
    declared = {f.logical_id: set(f.environment) for f in stack.function_configs}
    assert "Parameters" not in document
    assert {name: set(variables) for name, variables in document.items()} == declared
    assert document["HelloFunction"]["GREETING"] == "hi"
    assert "HelloFunction do not declare AWS_ENDPOINT_URL" in capsys.readouterr().err
    assert main(["env", "--sam", str(root / "missing" / "x.json"), "--root", str(root)]) == 2
    assert "no such folder" in capsys.readouterr().err
    if AWS_CLI.exists():
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "tributary",
                "aws",
                "stepfunctions",
                "list-state-machines",
                "--root",
                str(root),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        # `--root` after the AWS CLI's arguments belongs to them: the stack is found from the cwd instead
        assert result.returncode != 0
        result = subprocess.run(
            [sys.executable, "-m", "tributary", "aws", "stepfunctions", "list-state-machines"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=root,
        )
        assert result.returncode == 0, result.stderr
        assert stack.state_machine_arn("Machine") in result.stdout


@pytest.mark.slow  # a stack provisioned and stopped: 6-8 s
def test_invoke_against_the_running_stack_with_sam_env_vars(
    up: tuple[LocalStack, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, root = up
    event = root / "event.json"
    event.write_text(json.dumps({"name": "invoke"}))
    env_vars = root / "env.json"
    env_vars.write_text(
        json.dumps(
            {
                "Parameters": {"GREETING": "hey", "UNDECLARED": "x", "RAW_BUCKET": "b"},
                "HelloFunction": {"GREETING": "yo"},
            }
        )
    )
    assert main(["invoke", "HelloFunction", "-e", str(event), "-n", str(env_vars), "--root", str(root)]) == 0
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert "against the local stack" in captured.err and "invocation 1: echo" in captured.err
    # the function's own object wins over Parameters; undeclared variables are not set (as in SAM)
    assert payload["env"]["GREETING"] == "yo" and payload["env"]["RAW_BUCKET"] == "b"
    assert "not declared by HelloFunction, not set: UNDECLARED" in captured.err
    assert payload["greeting"].endswith("invoke") and payload["contract"]  # layers in /opt
    event.write_text(json.dumps({"action": "raise"}))
    assert main(["invoke", "HelloFunction", "-e", str(event), "--root", str(root)]) == 1
    assert json.loads(capsys.readouterr().out)["errorType"] == "ValueError"


@pytest.mark.slow  # a stack provisioned and stopped: 6-8 s
def test_invoke_standalone_and_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"name": "alone"}))
    assert (
        main(["invoke", "HelloFunction", "-e", str(event), "--root", str(FIXTURE_APP), "--standalone"]) == 0
    )
    captured = capsys.readouterr()
    assert "standalone" in captured.err and json.loads(captured.out)["env"]["GREETING"] == "hi"
    template = ["--root", str(FIXTURE_APP), "--standalone"]
    assert main(["invoke", "NoSuchFunction", "-e", str(event), *template]) == 2
    assert "no function NoSuchFunction" in capsys.readouterr().err
    event.write_text("{not json")
    assert main(["invoke", "HelloFunction", "-e", str(event), *template]) == 2
    assert "is not JSON" in capsys.readouterr().err
    assert main(["invoke", "HelloFunction", "-e", str(tmp_path / "none.json"), *template]) == 2
    assert "cannot read the event" in capsys.readouterr().err
    bad_env = tmp_path / "env.json"
    bad_env.write_text('{"Parameters": "GREETING=x"}')
    assert main(["invoke", "HelloFunction", "-n", str(bad_env), *template]) == 2
    assert "--env-vars" in capsys.readouterr().err


def test_sample_names_become_the_local_stacks() -> None:
    event = {
        "bucket": "tributary-dev-raw-123456789012",
        "uri": "s3://tributary-dev-artifacts-123456789012/runs/orders-20261124T101503Z-4c1f0e9a2b/x.json",
        "run_id": "orders-20261124T101503Z-4c1f0e9a2b",
        "other": "clicks-20261124T101503Z-4c1f0e9a2b",
    }
    resources = {"RawBucket": "local-raw", "ArtifactsBucket": "local-artifacts", "RunsTable": "t"}
    latest = {"orders": "orders-20261207T050000Z-0123456789"}
    mapped = map_sample_names(event, "tributary-dev", resources, latest)
    assert mapped == {
        "bucket": "local-raw",
        "uri": "s3://local-artifacts/runs/orders-20261207T050000Z-0123456789/x.json",
        "run_id": "orders-20261207T050000Z-0123456789",
        "other": "clicks-20261124T101503Z-4c1f0e9a2b",  # no local run of clicks: kept
    }


def test_sample_state_machine_and_execution_arns_become_the_local_stacks() -> None:
    arn = "arn:aws:states:us-east-1:123456789012"
    local = f"{arn}:stateMachine:tributary-dev-PipelineStateMachine"
    sample_run = "orders-20261124T101503Z-4c1f0e9a2b"
    event = {
        "stateMachineArn": f"{arn}:stateMachine:PipelineStateMachine-AbCdEf123456",
        "executionArn": f"{arn}:execution:PipelineStateMachine-AbCdEf123456:{sample_run}",
        "other": f"{arn}:stateMachine:OtherMachine-AbCdEf123456",
    }
    latest = {"orders": "orders-20261207T050000Z-0123456789"}
    mapped = map_sample_names(event, "tributary-dev", {"PipelineStateMachine": local}, latest)
    assert mapped == {
        "stateMachineArn": local,
        "executionArn": f"{arn}:execution:tributary-dev-PipelineStateMachine:{latest['orders']}",
        "other": f"{arn}:stateMachine:OtherMachine-AbCdEf123456",  # not a resource of the stack: kept
    }


@pytest.mark.slow  # a stack provisioned and stopped: 6-8 s
def test_runs_history_and_graph_read_the_saved_state_then_reset_clears_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    options = StackOptions(FIXTURE_APP, work_dir=tmp_path / "work", state_dir=state)
    with LocalStack(options) as stack:
        execution = stack.states.start_execution(
            stack.state_machine_arn("Machine"), name="saved-run", execution_input='{"name": "saved"}'
        )
        assert stack.states.wait_for_execution(execution.arn, 60).status == "SUCCEEDED"
        stack.aws.client("dynamodb").put_item(
            TableName=stack.physical_id("RunsTable"),
            Item={"run_id": {"S": "saved-run"}, "status": {"S": "SUCCEEDED"}, "created_at": {"S": "2026"}},
        )
        deadline = time.monotonic() + 10  # the end is recorded just after the execution ends
        while "SUCCEEDED" not in "".join(p.read_text() for p in (state / "executions").glob("*.json")):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    where = ["--root", str(tmp_path), "--state-dir", str(state)]
    assert main(["runs", "--output", "json", *where]) == 0
    captured = capsys.readouterr()
    assert [r["run_id"] for r in json.loads(captured.out)] == ["saved-run"]
    assert "no local stack is running; reading the state saved in" in captured.err
    assert main(["history", "saved-run", *where]) == 0
    assert "Hello" in capsys.readouterr().out
    graph = tmp_path / "graph.html"
    assert main(["graph", "saved-run", "-o", str(graph), *where]) == 0
    assert "Hello" in graph.read_text()
    assert main(["history", "no-such-run", *where]) == 2
    assert "no run no-such-run" in capsys.readouterr().err
    # reset: refused without a terminal or --yes, then clears
    assert main(["reset", "--state-dir", str(state)]) == 2
    assert "--yes" in capsys.readouterr().err
    assert main(["reset", "--yes", "--state-dir", str(state)]) == 0
    assert sorted(p.name for p in state.iterdir()) == ["lock"]
    assert main(["runs", *where]) == 2
    assert "no local stack is running here" in capsys.readouterr().err


@pytest.mark.slow  # a stack provisioned and stopped: 6-8 s
def test_reset_is_refused_while_a_stack_runs_on_the_folder(up: tuple[LocalStack, Path], capsys: Any) -> None:
    _, root = up
    assert main(["reset", "--yes", "--state-dir", str(root / "state")]) == 2
    assert "a local stack is running on" in capsys.readouterr().err
    sample = root / "x.csv"
    sample.write_text("a\n")
    assert main(["run", str(sample), "--root", str(root), "--state-dir", str(root / "state")]) == 2
    assert "`tributary up` is running on" in capsys.readouterr().err
    assert (root / "state" / "stack.pickle").exists()


def test_the_sam_env_vars_file_names_only_declared_variables() -> None:
    functions = [
        {"logical_id": "Declares", "name": "x-declares", "environment": {"AWS_ENDPOINT_URL": "", "A": "1"}},
        {"logical_id": "", "name": "x-plain", "environment": {"B": "2"}},
    ]
    document = sam_env_document(functions, "http://host.docker.internal:4566")
    assert document == {
        "Parameters": {"AWS_ENDPOINT_URL": "http://host.docker.internal:4566"},
        "Declares": {"AWS_ENDPOINT_URL": "http://host.docker.internal:4566", "A": "1"},
        "x-plain": {"B": "2"},
    }
    # no credentials or region: SAM CLI takes those from the shell, never from the file
    assert sam_env_document(functions[1:], "http://h:1") == {"x-plain": {"B": "2"}}
