"""The local Step Functions endpoint, through boto3 against a server started on a free port."""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tributary.states import execution_history
from tributary.states.server import StepFunctionsBackend, serve_in_background
from tributary.states.service_integrations import FunctionIntegration, IntegrationRegistry, TaskCall

ROLE = "arn:aws:iam::123456789012:role/test"
PASS_MACHINE = {
    "StartAt": "Hello",
    "States": {
        "Hello": {"Type": "Pass", "Result": "world", "ResultPath": "$.hello", "Next": "Done"},
        "Done": {"Type": "Succeed"},
    },
}
CALLBACK_MACHINE = {
    "StartAt": "Ask",
    "States": {
        "Ask": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {"QueueUrl": "q", "MessageBody": {"token.$": "$$.Task.Token"}},
            "End": True,
        }
    },
}


class Endpoint:
    def __init__(self, backend: StepFunctionsBackend, client: Any, tokens: queue.Queue[str]) -> None:
        self.backend = backend
        self.client = client
        self.tokens = tokens

    def create(self, name: str, definition: dict[str, Any], machine_type: str = "STANDARD") -> str:
        response = self.client.create_state_machine(
            name=name, definition=json.dumps(definition), roleArn=ROLE, type=machine_type
        )
        return str(response["stateMachineArn"])

    def wait_done(self, execution_arn: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            described: dict[str, Any] = self.client.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return described
            time.sleep(0.02)
        raise AssertionError(f"{execution_arn} still running after {timeout} s")


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    tokens: queue.Queue[str] = queue.Queue()

    def send_message(call: TaskCall) -> Any:
        if call.task_token:
            tokens.put(call.task_token)
        return {"MessageId": "m-1"}

    backend = StepFunctionsBackend(IntegrationRegistry({"sqs": FunctionIntegration(send_message)}))
    server = serve_in_background(backend)
    client = boto3.client(
        "stepfunctions",
        endpoint_url=f"http://127.0.0.1:{server.server_port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        # StartSyncExecution's `sync-` host prefix cannot resolve on 127.0.0.1.
        config=Config(inject_host_prefix=False, retries={"max_attempts": 1}),
    )
    yield Endpoint(backend, client, tokens)
    server.shutdown()
    server.server_close()


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_state_machine_lifecycle(endpoint: Endpoint) -> None:
    client = endpoint.client
    arn = endpoint.create("lifecycle", PASS_MACHINE)
    assert arn == "arn:aws:states:us-east-1:123456789012:stateMachine:lifecycle"
    described = client.describe_state_machine(stateMachineArn=arn)
    assert (described["name"], described["type"], described["status"]) == ("lifecycle", "STANDARD", "ACTIVE")
    assert json.loads(described["definition"]) == PASS_MACHINE
    assert [m["name"] for m in client.list_state_machines()["stateMachines"]] == ["lifecycle"]
    updated = {**PASS_MACHINE, "Comment": "updated"}
    client.update_state_machine(stateMachineArn=arn, definition=json.dumps(updated))
    assert json.loads(client.describe_state_machine(stateMachineArn=arn)["definition"]) == updated
    client.delete_state_machine(stateMachineArn=arn)
    with pytest.raises(ClientError) as missing:
        client.describe_state_machine(stateMachineArn=arn)
    assert _code(missing) == "StateMachineDoesNotExist"


def test_create_refuses_invalid_definitions_and_names(endpoint: Endpoint) -> None:
    broken = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}
    with pytest.raises(ClientError) as invalid:
        endpoint.create("broken", broken)
    assert _code(invalid) == "InvalidDefinition"
    assert "/States/A/Next" in invalid.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as bad_name:
        endpoint.create("no spaces allowed", PASS_MACHINE)
    assert _code(bad_name) == "InvalidName"


def test_execution_runs_to_success_with_history_paging(endpoint: Endpoint) -> None:
    client = endpoint.client
    arn = endpoint.create("hello", PASS_MACHINE)
    started = client.start_execution(stateMachineArn=arn, name="run-1", input='{"a": 1}')
    described = endpoint.wait_done(started["executionArn"])
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"a": 1, "hello": "world"}
    events = client.get_execution_history(executionArn=started["executionArn"])["events"]
    types = [e["type"] for e in events]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
    assert "PassStateEntered" in types and "SucceedStateExited" in types
    first = client.get_execution_history(executionArn=started["executionArn"], maxResults=2)
    assert [e["id"] for e in first["events"]] == [1, 2]
    second = client.get_execution_history(
        executionArn=started["executionArn"], maxResults=2, nextToken=first["nextToken"]
    )
    assert [e["id"] for e in second["events"]] == [3, 4]
    backwards = client.get_execution_history(executionArn=started["executionArn"], reverseOrder=True)[
        "events"
    ]
    assert [e["id"] for e in backwards] == [e["id"] for e in reversed(events)]


def test_the_endpoint_serves_the_events_execution_history_returns(endpoint: Endpoint) -> None:
    processor = {"StartAt": "Inner", "States": {"Inner": {"Type": "Pass", "End": True}}}
    definition = {
        "StartAt": "M",
        "States": {"M": {"Type": "Map", "MaxConcurrency": 1, "ItemProcessor": processor, "End": True}},
    }
    arn = endpoint.create("history", definition)
    started = endpoint.client.start_execution(stateMachineArn=arn, input="[1, 2]")
    endpoint.wait_done(started["executionArn"])
    served = endpoint.client.get_execution_history(executionArn=started["executionArn"])["events"]

    def comparable(event: dict[str, Any]) -> dict[str, Any]:
        kept = {key: value for key, value in event.items() if key != "timestamp"}
        kept.get("executionStartedEventDetails", {}).pop("roleArn", None)
        return kept

    expected = [comparable(e) for e in execution_history(definition, [1, 2])]
    assert [comparable(e) for e in served] == expected
    assert [e["previousEventId"] for e in served][:6] == [0, 0, 2, 3, 4, 5]


def test_execution_names_follow_aws_rules(endpoint: Endpoint) -> None:
    client = endpoint.client
    arn = endpoint.create("callbacks", CALLBACK_MACHINE)
    first = client.start_execution(stateMachineArn=arn, name="same", input='{"n": 1}')
    again = client.start_execution(stateMachineArn=arn, name="same", input='{"n": 1}')
    assert again["executionArn"] == first["executionArn"]
    with pytest.raises(ClientError) as other_input:
        client.start_execution(stateMachineArn=arn, name="same", input='{"n": 2}')
    assert _code(other_input) == "ExecutionAlreadyExists"
    client.send_task_success(taskToken=endpoint.tokens.get(timeout=5), output='{"ok": true}')
    assert endpoint.wait_done(first["executionArn"])["status"] == "SUCCEEDED"
    with pytest.raises(ClientError) as finished:
        client.start_execution(stateMachineArn=arn, name="same", input='{"n": 1}')
    assert _code(finished) == "ExecutionAlreadyExists"


def test_callbacks_success_and_failure(endpoint: Endpoint) -> None:
    client = endpoint.client
    arn = endpoint.create("answers", CALLBACK_MACHINE)
    ok = client.start_execution(stateMachineArn=arn, name="ok")
    client.send_task_success(taskToken=endpoint.tokens.get(timeout=5), output='{"answer": 42}')
    described = endpoint.wait_done(ok["executionArn"])
    assert json.loads(described["output"]) == {"answer": 42}
    failing = client.start_execution(stateMachineArn=arn, name="fails")
    token = endpoint.tokens.get(timeout=5)
    client.send_task_heartbeat(taskToken=token)
    client.send_task_failure(taskToken=token, error="Denied", cause="no")
    described = endpoint.wait_done(failing["executionArn"])
    assert (described["status"], described["error"], described["cause"]) == ("FAILED", "Denied", "no")
    with pytest.raises(ClientError) as answered:
        client.send_task_success(taskToken=token, output="{}")
    assert _code(answered) in ("TaskTimedOut", "TaskDoesNotExist")
    with pytest.raises(ClientError) as unknown:
        client.send_task_success(taskToken="0" * 64, output="{}")
    assert _code(unknown) == "TaskDoesNotExist"
    with pytest.raises(ClientError) as garbage:
        client.send_task_success(taskToken="not-a-token", output="{}")
    assert _code(garbage) == "InvalidToken"


def test_callback_tasks_work_on_the_default_virtual_clock(endpoint: Endpoint) -> None:
    ask = {**CALLBACK_MACHINE["States"]["Ask"], "HeartbeatSeconds": 5, "TimeoutSeconds": 86400}
    machine = {
        "StartAt": "Nap",
        "States": {"Nap": {"Type": "Wait", "Seconds": 86400, "Next": "Ask"}, "Ask": ask},
    }
    client = endpoint.client
    arn = endpoint.create("patient", machine)
    began = time.monotonic()
    started = client.start_execution(stateMachineArn=arn)
    token = endpoint.tokens.get(timeout=5)
    assert time.monotonic() - began < 5  # the day-long Wait state is instant
    time.sleep(0.3)  # a worker that takes its time, within its heartbeat
    client.send_task_heartbeat(taskToken=token)
    time.sleep(0.3)
    client.send_task_success(taskToken=token, output='{"answered": "in time"}')
    described = endpoint.wait_done(started["executionArn"])
    assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", {"answered": "in time"})


def test_patience_zero_makes_callback_timeouts_instant() -> None:
    sqs = FunctionIntegration(lambda call: {"MessageId": "m-1"})
    backend = StepFunctionsBackend(IntegrationRegistry({"sqs": sqs}), patience=0)
    ask = {**CALLBACK_MACHINE["States"]["Ask"], "TimeoutSeconds": 3600}
    machine = backend.create_state_machine(
        "impatient", json.dumps({"StartAt": "Ask", "States": {"Ask": ask}})
    )
    began = time.monotonic()
    execution = backend.start_execution(machine.arn)
    finished = backend.wait_for_execution(execution.arn, timeout=10)
    assert time.monotonic() - began < 5
    assert (finished.status, finished.error) == ("FAILED", "States.Timeout")


def test_stop_and_list_executions_by_status(endpoint: Endpoint) -> None:
    client = endpoint.client
    arn = endpoint.create("stoppable", CALLBACK_MACHINE)
    running = client.start_execution(stateMachineArn=arn, name="to-stop")
    endpoint.tokens.get(timeout=5)
    assert [
        e["name"] for e in client.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
    ] == ["to-stop"]
    client.stop_execution(executionArn=running["executionArn"], error="Stopped", cause="by test")
    described = client.describe_execution(executionArn=running["executionArn"])
    assert (described["status"], described["error"]) == ("ABORTED", "Stopped")
    assert client.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"] == []
    aborted = client.list_executions(stateMachineArn=arn, statusFilter="ABORTED")["executions"]
    assert [e["name"] for e in aborted] == ["to-stop"]
    history = client.get_execution_history(executionArn=running["executionArn"], reverseOrder=True)["events"]
    assert history[0]["type"] == "ExecutionAborted"
    with pytest.raises(ClientError) as missing:
        client.describe_execution(executionArn=running["executionArn"] + "-nope")
    assert _code(missing) == "ExecutionDoesNotExist"


def test_sync_execution_only_for_express(endpoint: Endpoint) -> None:
    client = endpoint.client
    express = endpoint.create("fast", PASS_MACHINE, machine_type="EXPRESS")
    result = client.start_sync_execution(stateMachineArn=express, input='{"b": 2}')
    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"]) == {"b": 2, "hello": "world"}
    standard = endpoint.create("slow", PASS_MACHINE)
    with pytest.raises(ClientError) as refused:
        client.start_sync_execution(stateMachineArn=standard)
    assert _code(refused) == "StateMachineTypeNotSupported"


def test_validate_and_test_state_operations(endpoint: Endpoint) -> None:
    client = endpoint.client
    ok = client.validate_state_machine_definition(definition=json.dumps(PASS_MACHINE), type="STANDARD")
    assert (ok["result"], ok["diagnostics"]) == ("OK", [])
    sloppy = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"a": "$.a"}, "End": True}}}
    warned = client.validate_state_machine_definition(definition=json.dumps(sloppy), severity="WARNING")
    assert warned["result"] == "OK"
    assert [d["code"] for d in warned["diagnostics"]] == ["NO_DOLLAR"]
    assert client.validate_state_machine_definition(definition=json.dumps(sloppy))["diagnostics"] == []
    bad = client.validate_state_machine_definition(definition="{}", type="STANDARD")
    assert bad["result"] == "FAIL"
    assert bad["diagnostics"][0]["code"] == "SCHEMA_VALIDATION_FAILED"
    tested = client.test_state(
        definition=json.dumps(PASS_MACHINE["States"]["Hello"]),
        roleArn=ROLE,
        input='{"c": 3}',
        inspectionLevel="DEBUG",
    )
    assert tested["status"] == "SUCCEEDED"
    assert tested["nextState"] == "Done"
    assert json.loads(tested["output"]) == {"c": 3, "hello": "world"}
    assert json.loads(tested["inspectionData"]["input"]) == {"c": 3}
    with pytest.raises(ClientError) as invalid:
        client.test_state(definition=json.dumps({"Type": "Pass", "Bogus": 1, "End": True}), roleArn=ROLE)
    assert _code(invalid) == "InvalidDefinition"


def test_mock_config_test_case_from_the_arn(tmp_path: Path) -> None:
    machine = {
        "StartAt": "Call",
        "States": {"Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}},
    }
    mock_config = {
        "StateMachines": {"mocked": {"TestCases": {"Happy": {"Call": "Answer"}, "Sad": {"Call": "Boom"}}}},
        "MockedResponses": {
            "Answer": {"0": {"Return": {"Payload": "hi"}}},
            "Boom": {"0": {"Throw": {"Error": "Lambda.Unknown", "Cause": "mocked"}}},
        },
    }
    path = tmp_path / "mocks.json"
    path.write_text(json.dumps(mock_config))
    backend = StepFunctionsBackend(mock_config=path)
    arn = backend.create_state_machine("mocked", json.dumps(machine), ROLE).arn
    happy = backend.start_execution(arn + "#Happy", name="happy")
    sad = backend.start_execution(arn + "#Sad", name="sad")
    assert backend.wait_for_execution(happy.arn, 5).output == '{"Payload":"hi"}'
    finished = backend.wait_for_execution(sad.arn, 5)
    assert (finished.status, finished.error, finished.cause) == ("FAILED", "Lambda.Unknown", "mocked")


def test_module_entry_point_serves_on_the_given_port() -> None:
    import socket
    import subprocess
    import sys
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "tributary.states.server", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        client = boto3.client(
            "stepfunctions",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        assert client.list_state_machines()["stateMachines"] == []
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize(
    "target, body, error_type",
    [
        ("AWSStepFunctions.Dispatch", b"{}", "UnknownOperationException"),
        ("Other.ListStateMachines", b"{}", "UnknownOperationException"),
        ("AWSStepFunctions.ListStateMachines", b"{not json", "ValidationException"),
        ("AWSStepFunctions.DescribeStateMachine", b"{}", "ValidationException"),
    ],
)
def test_protocol_errors_have_aws_shape(
    endpoint: Endpoint, target: str, body: bytes, error_type: str
) -> None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        endpoint.client.meta.endpoint_url + "/",
        data=body,
        headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.0"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as failed:
        urllib.request.urlopen(request, timeout=5)
    assert failed.value.code == 400
    assert json.loads(failed.value.read())["__type"] == error_type


def test_tags_and_state_machine_for_execution(endpoint: Endpoint) -> None:
    client = endpoint.client
    arn = client.create_state_machine(
        name="tagged",
        definition=json.dumps(PASS_MACHINE),
        roleArn=ROLE,
        tags=[{"key": "team", "value": "data"}],
    )["stateMachineArn"]
    client.tag_resource(resourceArn=arn, tags=[{"key": "env", "value": "local"}])
    client.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "env", "value": "local"}]
    execution = client.start_execution(stateMachineArn=arn)
    described = client.describe_state_machine_for_execution(executionArn=execution["executionArn"])
    assert (described["stateMachineArn"], json.loads(described["definition"])) == (arn, PASS_MACHINE)
    with pytest.raises(ClientError) as missing:
        client.list_tags_for_resource(resourceArn=arn + "-gone")
    assert _code(missing) == "ResourceNotFound"


def test_concurrent_starts_all_finish(endpoint: Endpoint) -> None:
    from concurrent.futures import ThreadPoolExecutor

    arn = endpoint.create("busy", PASS_MACHINE)

    def start(index: int) -> str:
        response = endpoint.client.start_execution(
            stateMachineArn=arn, name=f"run-{index}", input=f'{{"i": {index}}}'
        )
        return str(response["executionArn"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        arns = list(pool.map(start, range(40)))
    outputs = [json.loads(endpoint.wait_done(execution_arn)["output"]) for execution_arn in arns]
    assert outputs == [{"i": index, "hello": "world"} for index in range(40)]
    listed = endpoint.client.list_executions(stateMachineArn=arn, statusFilter="SUCCEEDED", maxResults=1000)
    assert len(listed["executions"]) == 40


# -- DescribeMapRun: a distributed Map run's children and items counted by outcome (run_cost reads them) --
def map_machine(execution_type: str, batch: int | None = None) -> dict[str, Any]:
    """Each child passes an item whose `ok` is true and fails the others; 25 % failures tolerated."""
    state: dict[str, Any] = {
        "Type": "Map",
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": execution_type},
            "StartAt": "Check",
            "States": {
                "Check": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.ok", "BooleanEquals": True, "Next": "Fine"}],
                    "Default": "Refuse",
                },
                "Fine": {"Type": "Succeed"},
                "Refuse": {"Type": "Fail", "Error": "Refused"},
            },
        },
        "MaxConcurrency": 3,
        "ToleratedFailurePercentage": 25,
        "End": True,
    }
    if batch is not None:  # a batch is one child: {"Items": [...]}, whose `ok` is absent: it fails
        state["ItemBatcher"] = {"MaxItemsPerBatch": batch}
    return {"StartAt": "Each", "States": {"Each": state}}


def _run_map(endpoint: Endpoint, definition: dict[str, Any], items: list[dict[str, Any]]) -> list[Any]:
    arn = endpoint.create("mapped", definition)
    execution = endpoint.client.start_execution(stateMachineArn=arn, input=json.dumps(items))["executionArn"]
    endpoint.wait_done(execution)
    return list(endpoint.client.get_execution_history(executionArn=execution)["events"])


@pytest.mark.parametrize("execution_type", ["EXPRESS", "STANDARD"])
def test_a_map_run_counts_its_children_by_outcome(endpoint: Endpoint, execution_type: str) -> None:
    items = [{"ok": True}] * 7 + [{"ok": False}]
    events = _run_map(endpoint, map_machine(execution_type), items)
    (started,) = [e for e in events if e["type"] == "MapRunStarted"]
    arn = started["mapRunStartedEventDetails"]["mapRunArn"]
    described = endpoint.client.describe_map_run(mapRunArn=arn)
    assert described["status"] == "SUCCEEDED"
    assert arn.startswith(described["executionArn"].replace(":execution:", ":mapRun:") + "/")
    assert described["stopDate"] >= described["startDate"]
    assert (described["maxConcurrency"], described["toleratedFailurePercentage"]) == (3, 25.0)
    for counts in (described["executionCounts"], described["itemCounts"]):
        assert (counts["total"], counts["succeeded"], counts["failed"]) == (8, 7, 1)
        assert counts["pending"] == counts["running"] == counts["aborted"] == counts["timedOut"] == 0


def test_a_batch_is_one_child_of_several_items_and_too_many_failures_fail_the_run(endpoint: Endpoint) -> None:
    events = _run_map(endpoint, map_machine("EXPRESS", batch=3), [{"ok": True}] * 7)
    arn = next(e for e in events if e["type"] == "MapRunStarted")["mapRunStartedEventDetails"]["mapRunArn"]
    described = endpoint.client.describe_map_run(mapRunArn=arn)
    assert described["status"] == "FAILED"  # every batch fails: beyond the 25 % tolerated
    assert (described["executionCounts"]["total"], described["executionCounts"]["failed"]) == (3, 3)
    assert (described["itemCounts"]["total"], described["itemCounts"]["failed"]) == (7, 7)


def test_an_unknown_map_run_is_not_found_and_a_malformed_arn_refused(endpoint: Endpoint) -> None:
    with pytest.raises(ClientError) as missing:
        endpoint.client.describe_map_run(mapRunArn="arn:aws:states:us-east-1:123456789012:mapRun:m:e/Each:1")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFound"
    with pytest.raises(ClientError) as malformed:
        endpoint.client.describe_map_run(mapRunArn="not-an-arn")
    assert malformed.value.response["Error"]["Code"] == "InvalidArn"
