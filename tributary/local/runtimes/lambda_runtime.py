"""Lambda functions run locally: one warm worker process per concurrent invocation, as Lambda's
execution environments are (cold start, then reuse; a timeout or an out-of-memory kill discards it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tributary.local.faults import FaultInjector, function_error_document
from tributary.local.provisioning import ProvisionedStack, Resource

# How often the parent samples the worker's memory while it runs.
_MEMORY_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class FunctionConfig:
    name: str
    arn: str
    handler: str
    code_dir: Path
    layer_dirs: tuple[Path, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: float = 3.0
    memory_mb: int = 128
    logical_id: str = ""
    log_group: str = ""  # LoggingConfig.LogGroup, else /aws/lambda/<name>


@dataclass
class InvocationResult:
    request_id: str
    payload: Any  # the handler's result, or Lambda's error document when function_error is set
    function_error: str | None  # "Unhandled" as in Lambda's X-Amz-Function-Error header
    logs: str
    duration_ms: float
    init_ms: float
    max_memory_mb: float
    cold_start: bool
    log_stream: str = ""  # the execution environment's log stream, as in Lambda

    @property
    def error_type(self) -> str | None:
        return self.payload.get("errorType") if self.function_error else None


class _Worker:
    def __init__(self, config: FunctionConfig, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tributary.local.runtimes.lambda_worker", config.handler],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            cwd=config.code_dir,
            env=env,
            text=True,
            bufsize=1,
        )
        self.invocations = 0
        self.log_stream = env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()

    def rss_mb(self) -> float:
        try:
            with open(f"/proc/{self.process.pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0


class LambdaFunction:
    """One function: its configuration and its pool of warm workers."""

    def __init__(
        self,
        config: FunctionConfig,
        base_env: Mapping[str, str],
        on_invoked: Callable[[FunctionConfig, InvocationResult], None] | None = None,
    ) -> None:
        self.config = config
        self.on_invoked = on_invoked  # e.g. writes the invocation's log to CloudWatch Logs
        self._base_env = dict(base_env)
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self.faults: FaultInjector | None = None  # a fault plan's function faults (tributary.local.faults)
        self._opt = tempfile.TemporaryDirectory(prefix=f"tributary-opt-{config.name}-")
        self.opt_dir = Path(self._opt.name)
        _merge_layers(config.layer_dirs, self.opt_dir)

    def worker_env(self) -> dict[str, str]:
        config = self.config
        python_path = [str(config.code_dir), str(self.opt_dir / "python")]
        # A layer in source form (not yet through `sam build`) has its packages at its top level.
        python_path += [str(layer) for layer in config.layer_dirs if not (layer / "python").is_dir()]
        python_path.append(str(Path(__file__).resolve().parents[2]))  # this package, for the worker
        env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "PYTHON"))}
        env.update(self._base_env)
        env.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": config.name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
                "AWS_LAMBDA_LOG_GROUP_NAME": config.log_group or f"/aws/lambda/{config.name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[$LATEST]{uuid.uuid4().hex}",
                "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
                "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
                "LAMBDA_TASK_ROOT": str(config.code_dir),
                "LAMBDA_RUNTIME_DIR": str(Path(sys.executable).parent),
                "_HANDLER": config.handler,
                "TRIBUTARY_FUNCTION_ARN": config.arn,
                "TZ": "UTC",
                "PYTHONPATH": os.pathsep.join(python_path),
                "PYTHONDONTWRITEBYTECODE": "1",
            }
        )
        for key, value in config.environment.items():
            if value == "" and self._base_env.get(key):
                # Declared empty in the template (AWS_ENDPOINT_URL, so that `sam local invoke --env-vars`
                # may set it; boto3 ignores it empty on AWS): the local stack's endpoint stays.
                continue
            env[key] = _rewrite_opt(str(value), self.opt_dir)
        return env

    def invoke(self, payload: Any, request_id: str | None = None) -> InvocationResult:
        request_id = request_id or str(uuid.uuid4())
        config = self.config
        fault = (
            self.faults.match("function", config.logical_id, config.name, config.arn) if self.faults else None
        )
        if fault is not None and fault.action == "delay":
            time.sleep(fault.delay_seconds)
        if fault is not None and fault.action == "error" and fault.prevent_execution:
            document = function_error_document(fault, request_id)
            result = InvocationResult(request_id, document, "Unhandled", "", 0.0, 0.0, 0.0, False)
        else:
            result = self._invoke(
                payload, request_id, fault.delay_seconds if fault and fault.action == "kill" else None
            )
            if fault is not None and fault.action == "error" and not result.function_error:
                result.payload, result.function_error = (
                    function_error_document(fault, request_id),
                    "Unhandled",
                )
        if self.on_invoked is not None:
            self.on_invoked(self.config, result)
        return result

    def _invoke(self, payload: Any, request_id: str, kill_after: float | None = None) -> InvocationResult:
        worker, cold = self._acquire()
        timeout = self.config.timeout_seconds
        deadline_ms = int((time.time() + timeout) * 1000)
        request = {"request_id": request_id, "payload": payload, "deadline_ms": deadline_ms}
        assert worker.process.stdin is not None and worker.process.stdout is not None
        worker.process.stdin.write(json.dumps(request) + "\n")
        worker.process.stdin.flush()
        started = time.perf_counter()
        killer = threading.Timer(kill_after or 0.0, worker.process.kill)
        if kill_after is not None:  # a fault plan kills the execution environment mid-way
            killer.start()
        line, failure, peak_mb = _read_response(worker, worker.process.stdout, timeout, self.config.memory_mb)
        killer.cancel()
        elapsed_ms = (time.perf_counter() - started) * 1000
        if failure is not None:
            worker.kill()  # a timed-out or killed environment is never reused
            error_type, message = failure
            document = {"errorType": error_type, "errorMessage": f"RequestId: {request_id} Error: {message}"}
            return InvocationResult(
                request_id, document, "Unhandled", "", elapsed_ms, 0.0, peak_mb, cold, worker.log_stream
            )
        response = json.loads(line)
        self._release(worker)
        if "error" in response:
            payload_out: Any = response["error"]
            function_error: str | None = "Unhandled"
        else:
            payload_out, function_error = json.loads(response["payload"]), None
        return InvocationResult(
            request_id,
            payload_out,
            function_error,
            response["logs"],
            response["duration_ms"],
            response["init_ms"],
            max(peak_mb, response["max_memory_kb"] / 1024),
            cold,
            worker.log_stream,
        )

    def _acquire(self) -> tuple[_Worker, bool]:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive():
                    return worker, False
                worker.kill()
        return _Worker(self.config, self.worker_env()), True

    def _release(self, worker: _Worker) -> None:
        worker.invocations += 1
        with self._lock:
            self._idle.append(worker)

    def close(self) -> None:
        with self._lock:
            workers, self._idle = self._idle, []
        for worker in workers:
            worker.kill()
        self._opt.cleanup()


def _read_response(
    worker: _Worker, stdout: IO[str], timeout: float, memory_mb: int
) -> tuple[str, tuple[str, str] | None, float]:
    """The worker's response line, or why there is none (timeout, out of memory, crash)."""
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(stdout.readline()), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    peak = 0.0
    while reader.is_alive():
        reader.join(_MEMORY_POLL_SECONDS)
        peak = max(peak, worker.rss_mb())
        if peak > memory_mb:
            worker.kill()
            reader.join()
            return "", ("Runtime.OutOfMemory", "Runtime exited with error: signal: killed"), peak
        if time.monotonic() > deadline and reader.is_alive():
            worker.kill()
            reader.join()
            return "", ("Sandbox.Timedout", f"Task timed out after {timeout:.2f} seconds"), peak
    if not result or not result[0]:
        code = worker.process.wait()
        return "", ("Runtime.ExitError", f"Runtime exited with error: exit status {code}"), peak
    return result[0], None, peak


def report_lines(result: InvocationResult, config: FunctionConfig) -> list[str]:
    """The invocation's log as Lambda writes it: START, the function's output, END, REPORT."""
    report = (
        f"REPORT RequestId: {result.request_id}\tDuration: {result.duration_ms:.2f} ms\t"
        f"Billed Duration: {int(result.duration_ms) + 1} ms\tMemory Size: {config.memory_mb} MB\t"
        f"Max Memory Used: {int(result.max_memory_mb)} MB"
    )
    if result.cold_start:
        report += f"\tInit Duration: {result.init_ms:.2f} ms"
    lines = [f"START RequestId: {result.request_id} Version: $LATEST", *result.logs.splitlines()]
    if result.function_error and result.error_type in ("Sandbox.Timedout", "Runtime.OutOfMemory"):
        lines.append(str(result.payload.get("errorMessage", "")))
    return [*lines, f"END RequestId: {result.request_id}", report]


def _merge_layers(layers: tuple[Path, ...], opt_dir: Path) -> None:
    """/opt as Lambda builds it: each layer extracted on top of the previous ones (links, not copies)."""
    for layer in layers:
        if not layer.is_dir():
            continue
        for entry in layer.iterdir():
            target = opt_dir / entry.name
            if target.is_symlink() or target.exists():
                target.unlink()
            target.symlink_to(entry.resolve(), target_is_directory=entry.is_dir())


def _rewrite_opt(value: str, opt_dir: Path) -> str:
    # Environment values naming /opt (CONTRACTS_DIR=/opt) point at this function's merged layers.
    if value == "/opt" or value.startswith("/opt/"):
        return str(opt_dir) + value[len("/opt") :]
    return value


# -- from the provisioned stack --------------------------------------------------------------------
def function_configs(stack: ProvisionedStack, build_dir: Path | None = None) -> list[FunctionConfig]:
    """Each AWS::Lambda::Function of the stack, its code and layers found on this machine."""
    layers_by_arn = {r.physical_id: r for r in stack.of_type("AWS::Lambda::LayerVersion")}
    configs = []
    for resource in stack.of_type("AWS::Lambda::Function"):
        props = resource.properties
        layer_dirs = tuple(
            _code_dir(layers_by_arn[arn], build_dir)
            for arn in props.get("Layers", [])
            if arn in layers_by_arn
        )
        configs.append(
            FunctionConfig(
                name=resource.physical_id,
                arn=resource.attributes["Arn"],
                handler=props["Handler"],
                code_dir=_code_dir(resource, build_dir),
                layer_dirs=layer_dirs,
                environment={
                    k: str(v) for k, v in (props.get("Environment") or {}).get("Variables", {}).items()
                },
                timeout_seconds=float(props.get("Timeout", 3)),
                memory_mb=int(props.get("MemorySize", 128)),
                logical_id=resource.logical_id,
                log_group=str((props.get("LoggingConfig") or {}).get("LogGroup", "")),
            )
        )
    return configs


def _code_dir(resource: Resource, build_dir: Path | None) -> Path:
    """`sam build`'s output for the resource when there is one, else its source folder."""
    if build_dir is not None:
        for name in (resource.logical_id, resource.attributes.get("LayerName", "")):
            if name and (build_dir / name).is_dir():
                return build_dir / name
    return Path(resource.attributes["LocalPath"])


class LambdaRuntime:
    """Every function of a stack, by name and by ARN."""

    def __init__(
        self,
        configs: list[FunctionConfig],
        base_env: Mapping[str, str],
        on_invoked: Callable[[FunctionConfig, InvocationResult], None] | None = None,
        faults: FaultInjector | None = None,
    ) -> None:
        self._functions: dict[str, LambdaFunction] = {}
        for config in configs:
            function = LambdaFunction(config, base_env, on_invoked)
            function.faults = faults
            for key in (config.name, config.arn, config.logical_id):
                if key:
                    self._functions[key] = function

    def function(self, name_or_arn: str) -> LambdaFunction:
        key = name_or_arn
        if key not in self._functions and key.startswith("arn:") and key.count(":") > 6:
            key = key.rsplit(":", 1)[0]  # a qualified ARN (…:function:name:$LATEST)
        try:
            return self._functions[key]
        except KeyError:
            raise KeyError(f"Function not found: {name_or_arn}") from None

    def invoke(self, name_or_arn: str, payload: Any) -> InvocationResult:
        return self.function(name_or_arn).invoke(payload)

    def close(self) -> None:
        for function in {id(f): f for f in self._functions.values()}.values():
            function.close()
