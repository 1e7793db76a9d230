"""The fault plan at its injection points: a Lambda function (error, delay, killed worker) and a Glue
job run (timeout, killed process, scoped by run id), on the test fixture app (no Spark)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.local.conftest import FIXTURE_APP
from tributary.local.endpoints.moto_server import MotoServer
from tributary.local.faults import FaultInjector, FaultPlan
from tributary.local.runtimes.glue_runtime import GlueRuntime, JobConfig
from tributary.local.runtimes.lambda_runtime import FunctionConfig, LambdaFunction


def plan(*faults: dict[str, Any]) -> FaultInjector:
    return FaultInjector(FaultPlan.parse({"faults": list(faults)}))


@pytest.fixture
def hello() -> Iterator[LambdaFunction]:
    config = FunctionConfig(
        name="hello",
        arn="arn:aws:lambda:us-east-1:123456789012:function:hello",
        handler="hello.handler.lambda_handler",
        code_dir=FIXTURE_APP / "fn",
        layer_dirs=(FIXTURE_APP / "layer",),
        timeout_seconds=10.0,
        memory_mb=256,
        logical_id="HelloFunction",
    )
    function = LambdaFunction(config, {})
    yield function
    function.close()


def test_an_invocation_error_does_not_run_the_handler_unless_asked(hello: LambdaFunction) -> None:
    hello.faults = plan(
        {"target": {"function": "HelloFunction"}, "error": "Lambda.ServiceException", "count": 1},
        {"target": {"function": "hello"}, "error": "After", "prevent_execution": False, "count": 1},
    )
    refused = hello.invoke({"name": "a"})
    assert refused.function_error == "Unhandled"
    assert refused.payload["errorType"] == "Lambda.ServiceException"
    assert "fault injected" in refused.payload["errorMessage"]
    ran_then_failed = hello.invoke({"name": "b"})
    assert ran_then_failed.payload["errorType"] == "After"
    assert ran_then_failed.logs == "invocation 1: echo\n"  # the handler ran (its first invocation)
    assert hello.invoke({}).payload["invocations"] == 2  # the plan is spent


def test_a_killed_worker_is_runtime_exit_error_and_a_new_one_serves_the_next_call(
    hello: LambdaFunction,
) -> None:
    hello.faults = plan({"target": {"function": "hello"}, "action": "kill", "delay_seconds": 0.3, "count": 1})
    killed = hello.invoke({"action": "sleep", "seconds": 5})
    assert killed.function_error == "Unhandled" and killed.payload["errorType"] == "Runtime.ExitError"
    after = hello.invoke({})
    assert after.function_error is None and after.cold_start


def test_a_delay_is_added_before_the_handler(hello: LambdaFunction) -> None:
    hello.invoke({})  # warm
    hello.faults = plan({"target": {"function": "hello"}, "action": "delay", "delay_seconds": 0.5})
    started = time.monotonic()
    assert hello.invoke({}).function_error is None
    assert time.monotonic() - started >= 0.5


def _glue(aws: MotoServer, tmp_path: Path, faults: FaultInjector) -> GlueRuntime:
    config = JobConfig(name="job", script="job/script.py", max_concurrent_runs=5)
    glue = GlueRuntime([config], aws.client, aws.env(), FIXTURE_APP, tmp_path)
    glue.faults, glue.job_aliases = faults, {"job": "TransformJob"}
    return glue


def test_glue_runs_time_out_or_are_killed_as_the_plan_says_scoped_by_run_id(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    faults = plan(
        {
            "target": {"glue_job": "TransformJob"},
            "action": "timeout",
            "delay_seconds": 1,
            "execution": "orders-",
        },
        {"target": {"glue_job": "job"}, "action": "kill", "delay_seconds": 1, "execution": "clicks-"},
    )
    glue = _glue(moto_server, tmp_path, faults)
    runs = {
        name: glue.start_job_run(JobName="job", Arguments={"--sleep": "20", "--run_id": f"{name}-1"})[
            "JobRunId"
        ]
        for name in ("orders", "clicks")
    }
    # not targeted: it ends as its script makes it end
    untouched = glue.start_job_run(JobName="job", Arguments={"--run_id": "other-1", "--fail": "own"})[
        "JobRunId"
    ]
    assert glue.wait(runs["orders"], 30).state == "TIMEOUT"
    killed = glue.wait(runs["clicks"], 30)
    assert killed.state == "FAILED" and "exit code -9" in killed.error_message
    assert glue.wait(untouched, 30).error_message == "ValueError: own"
