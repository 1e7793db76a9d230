"""Inside a Lambda worker process: import the handler once, then run invocations read from stdin.

Runs as `python -m tributary.local.runtimes.lambda_worker HANDLER`, started by `lambda_runtime`. The
protocol is one JSON line per request on stdin and one per response on a private descriptor; the
handler's own prints and logs (stdout, stderr, logging, Powertools' Logger) are captured for the
invocation that wrote them, since Lambda files them under that request's log stream.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import resource
import sys
import time
import traceback
from typing import Any, TextIO


class LambdaContext:
    """What Lambda's Python runtime passes as `context`."""

    def __init__(self, request_id: str, deadline_ms: int, env: dict[str, str]) -> None:
        self.aws_request_id = request_id
        self._deadline_ms = deadline_ms
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = env.get("TRIBUTARY_FUNCTION_ARN", "")
        self.memory_limit_in_mb = int(env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self.tenant_id = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


class _InvocationLog(io.TextIOBase):
    """sys.stdout and sys.stderr for the whole life of the worker; emptied at each invocation.

    Loggers bind the stream object when they are created (often at import), so the object stays
    the same and only its buffer changes.
    """

    def __init__(self) -> None:
        self._parts: list[str] = []

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._parts.append(text)
        return len(text)

    def take(self) -> str:
        text, self._parts = "".join(self._parts), []
        return text


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    frames = traceback.extract_tb(exc.__traceback__)
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": [line for line in traceback.format_list(frames)],
    }


def _load_handler(spec: str) -> Any:
    module_name, _, function_name = spec.rpartition(".")
    if not module_name:
        raise ValueError(f"Bad handler '{spec}': not enough values to unpack (expected 2, got 1)")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise _InitError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
        ) from exc
    except Exception as exc:  # an error at import time, as Lambda reports it
        raise _InitError(
            "Runtime.UserCodeSyntaxError" if isinstance(exc, SyntaxError) else type(exc).__name__, str(exc)
        ) from exc
    handler = getattr(module, function_name, None)
    if handler is None:
        raise _InitError(
            "Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'"
        )
    return handler


class _InitError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _invoke(handler: Any, payload: Any, context: LambdaContext, log: _InvocationLog) -> dict[str, Any]:
    try:
        result = handler(payload, context)
    except Exception as exc:
        traceback.print_exc(file=log)
        return {"error": _error(exc)}
    try:
        return {"payload": json.dumps(result)}
    except (TypeError, ValueError) as exc:
        return {"error": _error(exc, "Runtime.MarshalError")}


def main(handler_spec: str) -> None:
    # Responses go to a private copy of the original stdout; fd 1 then points at stderr so that
    # output from C extensions or subprocesses cannot corrupt the protocol.
    channel: TextIO = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    log = _InvocationLog()
    sys.stdout = sys.stderr = log
    init_error: dict[str, Any] | None = None
    started = time.perf_counter()
    try:
        handler = _load_handler(handler_spec)
    except _InitError as exc:
        init_error = _error(exc, exc.error_type)
        handler = None
    init_ms = (time.perf_counter() - started) * 1000
    env = dict(os.environ)
    for line in sys.stdin:
        request = json.loads(line)
        os.environ["_X_AMZN_TRACE_ID"] = request.get("trace_id", "")
        response: dict[str, Any] = {"init_ms": init_ms}
        init_ms = 0.0
        started = time.perf_counter()
        if init_error is not None:
            response["error"] = init_error
        else:
            context = LambdaContext(request["request_id"], request["deadline_ms"], env)
            response.update(_invoke(handler, request["payload"], context, log))
        response["duration_ms"] = (time.perf_counter() - started) * 1000
        response["max_memory_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        response["logs"] = log.take()
        channel.write(json.dumps(response) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
