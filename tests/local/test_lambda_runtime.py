from __future__ import annotations

from collections.abc import Iterator

import pytest

from tributary.local.endpoints.moto_server import MotoServer
from tributary.local.provisioning import provision
from tributary.local.runtimes.lambda_runtime import (
    FunctionConfig,
    LambdaFunction,
    LambdaRuntime,
    function_configs,
)

from .conftest import FIXTURE_APP


def _config(**overrides: object) -> FunctionConfig:
    values: dict[str, object] = {
        "name": "hello",
        "arn": "arn:aws:lambda:us-east-1:123456789012:function:hello",
        "handler": "hello.handler.lambda_handler",
        "code_dir": FIXTURE_APP / "fn",
        "layer_dirs": (FIXTURE_APP / "layer",),
        "environment": {"GREETING": "hi", "CONTRACTS_DIR": "/opt"},
        "timeout_seconds": 10.0,
        "memory_mb": 256,
    }
    values.update(overrides)
    return FunctionConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
def hello() -> Iterator[LambdaFunction]:
    function = LambdaFunction(_config(), {})
    yield function
    function.close()


def test_cold_start_then_warm_reuse_with_context_layers_and_environment(hello: LambdaFunction) -> None:
    first = hello.invoke({"name": "ana"})
    second = hello.invoke({})
    assert first.function_error is None, first.payload
    assert (first.cold_start, second.cold_start) == (True, False)
    assert (first.payload["invocations"], second.payload["invocations"]) == (1, 2)
    assert first.payload["greeting"] == "hello ana"
    assert first.payload["function_name"] == "hello"
    assert first.payload["memory"] == 256
    assert 8000 < first.payload["remaining_ms"] <= 10000
    assert first.payload["env"]["GREETING"] == "hi"
    assert first.payload["contract"] == "dataset: demo"  # /opt is the merged layers
    assert first.logs == "invocation 1: echo\n"
    assert second.logs == "invocation 2: echo\n"


def test_handler_error_is_shaped_as_lambda_and_keeps_the_environment(hello: LambdaFunction) -> None:
    failed = hello.invoke({"action": "raise"})
    assert failed.function_error == "Unhandled"
    assert failed.payload["errorType"] == "ValueError"
    assert failed.payload["errorMessage"] == "bad input"
    assert any("handler.py" in line for line in failed.payload["stackTrace"])
    assert "ValueError: bad input" in failed.logs
    after = hello.invoke({})
    assert not after.cold_start


def test_unserializable_result_is_a_marshal_error(hello: LambdaFunction) -> None:
    result = hello.invoke({"action": "unserializable"})
    assert result.error_type == "Runtime.MarshalError"


def test_stderr_is_captured_per_invocation(hello: LambdaFunction) -> None:
    assert "to stderr" in hello.invoke({"action": "stderr"}).logs


def test_timeout_kills_the_environment_and_the_next_call_is_cold() -> None:
    function = LambdaFunction(_config(timeout_seconds=1.0), {})
    try:
        timed_out = function.invoke({"action": "sleep", "seconds": 5})
        assert timed_out.error_type == "Sandbox.Timedout"
        assert "Task timed out after 1.00 seconds" in timed_out.payload["errorMessage"]
        assert 1000 <= timed_out.duration_ms < 3000
        assert function.invoke({}).cold_start
    finally:
        function.close()


def test_memory_limit_is_enforced() -> None:
    function = LambdaFunction(_config(memory_mb=128), {})
    try:
        assert function.invoke({"action": "allocate", "mb": 8}).function_error is None
        killed = function.invoke({"action": "allocate", "mb": 300})
        assert killed.error_type == "Runtime.OutOfMemory"
        assert killed.max_memory_mb > 128
    finally:
        function.close()


def test_import_error_is_reported_as_lambda_does() -> None:
    function = LambdaFunction(_config(handler="missing.module.handler"), {})
    try:
        result = function.invoke({})
        assert result.error_type == "Runtime.ImportModuleError"
        assert "missing.module" in result.payload["errorMessage"]
    finally:
        function.close()


def test_functions_from_the_provisioned_stack(moto_server: MotoServer) -> None:
    stack = provision(FIXTURE_APP / "template.yaml", moto_server)
    runtime = LambdaRuntime(function_configs(stack), moto_server.env())
    try:
        arn = stack.resources["HelloFunction"].attributes["Arn"]
        result = runtime.invoke(f"{arn}:$LATEST", {})
        assert result.function_error is None, result.payload
        assert result.payload["env"]["RAW_BUCKET"] == "tiny-raw-dev"
        assert result.payload["memory"] == 256
        assert runtime.invoke("tiny-HelloFunction", {}).payload["invocations"] == 2
        with pytest.raises(KeyError, match="nope"):
            runtime.invoke("nope", {})
    finally:
        runtime.close()


def test_a_variable_declared_empty_keeps_the_local_stacks_value() -> None:
    """template.yaml declares AWS_ENDPOINT_URL empty (so that `sam local invoke --env-vars` may set it):
    locally the stack's endpoint stays; a non-empty template value still wins, an empty one the stack
    does not set stays empty."""
    environment = {"AWS_ENDPOINT_URL": "", "GREETING": "hi", "EMPTY": ""}
    base = {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "GREETING": "from the stack"}
    function = LambdaFunction(_config(environment=environment), base)
    try:
        env = function.worker_env()
    finally:
        function.close()
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert env["GREETING"] == "hi"
    assert env["EMPTY"] == ""
