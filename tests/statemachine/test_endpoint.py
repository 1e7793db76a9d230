"""The same test cases through the local Step Functions endpoint, as with Step Functions Local: the
mock config given to the server, the test case picked by the `#TestCase` suffix of the state machine
ARN in StartExecution, and the history read back with GetExecutionHistory (boto3)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.statemachine.checks import Run, base_path, verify
from tests.statemachine.pipeline import (
    EXECUTION_INPUT,
    MACHINE_NAME,
    MOCK_CONFIG,
    TOLERANCE,
    History,
    Mocks,
    Pipeline,
)
from tributary.states.server import StepFunctionsBackend, serve_in_background

ROLE = "arn:aws:iam::123456789012:role/tributary-pipeline"
CASES = [
    "HappyPath",
    "HappyPathLite",
    "RunTransformJobRetry0",
    "RunSmallTransformFails",
    "SyncCatalogTableRetry0Exhausted",
    "QuarantineInputsFails",
    "CommitRunFails",
    "NotifySuccessFails",
]


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    server = serve_in_background(StepFunctionsBackend(mock_config=MOCK_CONFIG))
    yield boto3.client(
        "stepfunctions",
        endpoint_url=f"http://127.0.0.1:{server.server_port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def machine_arn(client: Any, definition_text: str) -> str:
    created = client.create_state_machine(
        name=MACHINE_NAME, definition=definition_text, roleArn=ROLE, type="STANDARD"
    )
    return str(created["stateMachineArn"])


def finished(client: Any, execution_arn: str) -> dict[str, Any]:
    """DescribeExecution once the execution has ended (the deadline only guards against a hang)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        described: dict[str, Any] = client.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.02)
    raise AssertionError(f"{execution_arn} still running")


def history_of(client: Any, execution_arn: str) -> History:
    events: list[dict[str, Any]] = []
    for page in client.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events += page["events"]
    return History(events)


@pytest.mark.parametrize("case", CASES)
def test_a_test_case_picked_by_the_arn_suffix(
    client: Any,
    machine_arn: str,
    pipeline: Pipeline,
    mocks: Mocks,
    runs: dict[str, Run],
    case: str,
) -> None:
    assert machine_arn.endswith(f":stateMachine:{MACHINE_NAME}")
    name = f"{case}-run"
    started = client.start_execution(
        stateMachineArn=f"{machine_arn}#{case}", name=name, input=json.dumps(EXECUTION_INPUT)
    )
    described = finished(client, started["executionArn"])
    output = json.loads(described["output"]) if "output" in described else None
    history = history_of(client, started["executionArn"])
    # The child executions of the distributed Map are not in the execution's history (as on AWS, where
    # ListExecutions by map run lists them): their events are taken from the engine's run of the case.
    run = Run(
        described["status"],
        described.get("error"),
        described.get("cause"),
        output,
        history,
        name,
        map_runs=runs[case].map_runs,
    )
    verify(pipeline, mocks, case, run, base_path(mocks, runs, case))

    # The endpoint runs what the engine runs: same states, same attempts, same back-offs (seed 0).
    direct = runs[case].history
    assert history.types() == direct.types()
    assert history.entered() == direct.entered()
    for task in pipeline.tasks:
        assert history.backoffs(task) == pytest.approx(direct.backoffs(task), abs=TOLERANCE), task
