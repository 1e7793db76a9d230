"""Local endpoints for Athena and Glue that boto3 and the AWS CLI use unchanged
(`AWS_ENDPOINT_URL_ATHENA`, `AWS_ENDPOINT_URL_GLUE`): the calls the local runtimes implement
(StartQueryExecution, StartJobRun, ...) are answered here; every other call of the service (the Glue
catalog, workgroups) is passed on to moto as it came. AWS JSON 1.1 protocol."""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tributary.serving import serve_http

LOGGER = logging.getLogger("tributary.local.endpoints.facade")

Operation = Callable[..., dict[str, Any]]
# exception → (error code, message) for the exceptions the runtime raises on bad requests
ErrorMapper = Callable[[Exception], tuple[str, str] | None]


def _wire(value: Any) -> Any:
    """JSON 1.1 values: timestamps as epoch seconds."""
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return value


def serve_facade(
    target_prefix: str,
    operations: dict[str, Operation],
    errors: ErrorMapper,
    fallback_url: str,
    port: int = 0,
) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            target = self.headers.get("X-Amz-Target", "")
            operation = (
                operations.get(target.removeprefix(target_prefix))
                if target.startswith(target_prefix)
                else None
            )
            if operation is None:
                self._forward(body)
                return
            try:
                request = json.loads(body or b"{}")
                self._reply(200, _wire(operation(**request)))
            except Exception as exc:
                mapped = errors(exc)
                if mapped is None:
                    LOGGER.exception("%s failed", target)
                    mapped = ("InternalServerException", str(exc))
                status = 500 if mapped[0].startswith("Internal") else 400
                self._reply(status, {"__type": mapped[0], "Message": mapped[1], "message": mapped[1]})

        def _forward(self, body: bytes) -> None:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            request = urllib.request.Request(
                fallback_url + self.path, data=body, headers=headers, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    status, data, content_type = (
                        response.status,
                        response.read(),
                        response.headers.get("Content-Type"),
                    )
            except urllib.error.HTTPError as exc:
                status, data, content_type = exc.code, exc.read(), exc.headers.get("Content-Type")
            self._send(status, data, content_type or "application/x-amz-json-1.1")

        def _reply(self, status: int, document: dict[str, Any]) -> None:
            self._send(status, json.dumps(document, default=str).encode(), "application/x-amz-json-1.1")

        def _send(self, status: int, data: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return serve_http(Handler, port, f"facade-{target_prefix}")
