"""A small HTTP endpoint of `tributary up`, for what only the running stack can do from another
process: fire a schedule, invoke a function (both run on that process's Lambda runtime)."""

from __future__ import annotations

import dataclasses
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from tributary.local.runtimes.lambda_runtime import FunctionConfig, InvocationResult
from tributary.local.stack import LocalStack
from tributary.serving import serve_http


def _result(value: Any) -> Any:
    if isinstance(value, InvocationResult):
        return {"payload": value.payload, "function_error": value.function_error, "logs": value.logs}
    return value


def serve_control(stack: LocalStack, port: int = 0) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            parts = [unquote(p) for p in self.path.strip("/").split("/")]
            if len(parts) == 3 and parts[0] == "schedules" and parts[2] == "fire":
                try:
                    self._reply(200, {"result": _result(stack.scheduler.fire(parts[1]))})
                except KeyError as exc:
                    self._reply(404, {"error": str(exc.args[0])})
                except Exception as exc:
                    self._reply(500, {"error": f"{type(exc).__name__}: {exc}"})
                return
            if len(parts) == 3 and parts[0] == "functions" and parts[2] == "invoke":
                self._invoke(parts[1])
                return
            self._reply(404, {"error": f"unknown path {self.path}"})

        def do_GET(self) -> None:
            if self.path.strip("/") == "functions":  # what `tributary invoke` and `env --sam` need
                resources = {r.logical_id: r.physical_id for r in stack.stack.resources.values()}
                self._reply(
                    200,
                    {
                        "stack_name": stack.stack.name,
                        "resources": resources,
                        "functions": [function_document(c) for c in stack.function_configs],
                    },
                )
                return
            self._reply(404, {"error": f"unknown path {self.path}"})

        def _invoke(self, function: str) -> None:
            """Invoke a function of the stack (logical id or name) with the request's JSON body, as
            `aws lambda invoke` would: `tributary reprocess` and `tributary redrive` use the sweep."""
            try:
                payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                resource = stack.stack.resources.get(function)
                result = stack.lambdas.invoke(resource.physical_id if resource else function, payload)
            except KeyError as exc:
                self._reply(404, {"error": str(exc.args[0])})
            except Exception as exc:
                self._reply(500, {"error": f"{type(exc).__name__}: {exc}"})
            else:
                self._reply(200, {"result": _result(result)})

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return serve_http(Handler, port, "control")


def function_document(config: FunctionConfig) -> dict[str, Any]:
    """A function's configuration as JSON (paths as strings)."""
    document = dataclasses.asdict(config)
    document["code_dir"] = str(config.code_dir)
    document["layer_dirs"] = [str(d) for d in config.layer_dirs]
    document["environment"] = dict(config.environment)
    return document
