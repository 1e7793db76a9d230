"""The wire protocol of the local Step Functions endpoint: AWS JSON 1.0 over HTTP.

A request is `POST /` with `X-Amz-Target: AWSStepFunctions.<Operation>` and a JSON body; the
answer is the operation's JSON output, or HTTP 400 with `{"__type": <error>, "message": ...}`.
Timestamps travel as epoch seconds. All behaviour lives in the backend; this module only
translates between HTTP and its methods."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tributary.serving import http_server, serve_in_thread
from tributary.states.server.api_errors import ServiceError, UnknownOperation, ValidationException
from tributary.states.server.backend import StepFunctionsBackend

TARGET_PREFIX = "AWSStepFunctions."
# The API operations served; each is the method of `Operations` named in snake case.
OPERATIONS = frozenset(
    {
        "CreateStateMachine",
        "DescribeStateMachine",
        "ListStateMachines",
        "UpdateStateMachine",
        "DeleteStateMachine",
        "StartExecution",
        "StartSyncExecution",
        "DescribeExecution",
        "StopExecution",
        "ListExecutions",
        "GetExecutionHistory",
        "SendTaskSuccess",
        "SendTaskFailure",
        "SendTaskHeartbeat",
        "TestState",
        "ValidateStateMachineDefinition",
        "DescribeStateMachineForExecution",
        "DescribeMapRun",
        "TagResource",
        "UntagResource",
        "ListTagsForResource",
    }
)
CONTENT_TYPE = "application/x-amz-json-1.0"
logger = logging.getLogger(__name__)


def _wire(value: Any) -> Any:
    """A backend value as JSON 1.0 carries it: datetimes become epoch seconds, None fields vanish."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {key: _wire(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_wire(item) for item in value]
    return value


def _required(body: dict[str, Any], name: str) -> Any:
    if name not in body or body[name] is None:
        raise ValidationException(
            f"1 validation error detected: Value null at '{name}' failed to satisfy constraint"
        )
    return body[name]


class Operations:
    """One method per API operation: request body in, response body out (backend calls in between)."""

    def __init__(self, backend: StepFunctionsBackend) -> None:
        self.backend = backend

    def dispatch(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        if operation not in OPERATIONS:
            raise UnknownOperation(f"Unknown operation {operation}")
        handler: Callable[[dict[str, Any]], dict[str, Any]] = getattr(self, _snake(operation))
        return _wire(handler(body))

    def create_state_machine(self, body: dict[str, Any]) -> dict[str, Any]:
        machine = self.backend.create_state_machine(
            name=_required(body, "name"),
            definition=_required(body, "definition"),
            role_arn=body.get("roleArn", ""),
            machine_type=body.get("type") or "STANDARD",
            tags=body.get("tags") or [],
        )
        return {"stateMachineArn": machine.arn, "creationDate": machine.creation_date}

    def describe_state_machine(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.backend.describe_state_machine(_required(body, "stateMachineArn")).describe()

    def list_state_machines(self, body: dict[str, Any]) -> dict[str, Any]:
        page, token = self.backend.list_state_machines(body.get("maxResults"), body.get("nextToken"))
        return {"stateMachines": [m.summary() for m in page], "nextToken": token}

    def update_state_machine(self, body: dict[str, Any]) -> dict[str, Any]:
        machine = self.backend.update_state_machine(
            _required(body, "stateMachineArn"),
            definition=body.get("definition"),
            role_arn=body.get("roleArn"),
        )
        return {"updateDate": machine.update_date, "revisionId": machine.revision_id}

    def delete_state_machine(self, body: dict[str, Any]) -> dict[str, Any]:
        self.backend.delete_state_machine(_required(body, "stateMachineArn"))
        return {}

    def start_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        execution = self.backend.start_execution(
            _required(body, "stateMachineArn"), name=body.get("name"), execution_input=body.get("input")
        )
        return {"executionArn": execution.arn, "startDate": execution.start_date}

    def start_sync_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        execution = self.backend.start_sync_execution(
            _required(body, "stateMachineArn"), name=body.get("name"), execution_input=body.get("input")
        )
        return execution.describe(sync=True)

    def describe_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.backend.describe_execution(_required(body, "executionArn")).describe()

    def stop_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        execution = self.backend.stop_execution(
            _required(body, "executionArn"), error=body.get("error"), cause=body.get("cause")
        )
        return {"stopDate": execution.stop_date}

    def list_executions(self, body: dict[str, Any]) -> dict[str, Any]:
        page, token = self.backend.list_executions(
            _required(body, "stateMachineArn"),
            status_filter=body.get("statusFilter"),
            max_results=body.get("maxResults"),
            next_token=body.get("nextToken"),
        )
        return {"executions": [e.summary() for e in page], "nextToken": token}

    def get_execution_history(self, body: dict[str, Any]) -> dict[str, Any]:
        events, token = self.backend.get_execution_history(
            _required(body, "executionArn"),
            max_results=body.get("maxResults"),
            reverse_order=bool(body.get("reverseOrder", False)),
            next_token=body.get("nextToken"),
            include_execution_data=body.get("includeExecutionData", True) is not False,
        )
        return {"events": events, "nextToken": token}

    def describe_state_machine_for_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        machine = self.backend.describe_state_machine_for_execution(_required(body, "executionArn"))
        described = machine.describe()
        described["updateDate"] = machine.update_date or machine.creation_date
        for key in ("status", "type", "creationDate"):
            described.pop(key)
        return described

    def describe_map_run(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.backend.describe_map_run(_required(body, "mapRunArn"))

    def tag_resource(self, body: dict[str, Any]) -> dict[str, Any]:
        self.backend.tag_resource(_required(body, "resourceArn"), _required(body, "tags"))
        return {}

    def untag_resource(self, body: dict[str, Any]) -> dict[str, Any]:
        self.backend.untag_resource(_required(body, "resourceArn"), _required(body, "tagKeys"))
        return {}

    def list_tags_for_resource(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"tags": self.backend.list_tags(_required(body, "resourceArn"))}

    def send_task_success(self, body: dict[str, Any]) -> dict[str, Any]:
        self.backend.send_task_success(_required(body, "taskToken"), _required(body, "output"))
        return {}

    def send_task_failure(self, body: dict[str, Any]) -> dict[str, Any]:
        self.backend.send_task_failure(_required(body, "taskToken"), body.get("error"), body.get("cause"))
        return {}

    def send_task_heartbeat(self, body: dict[str, Any]) -> dict[str, Any]:
        self.backend.send_task_heartbeat(_required(body, "taskToken"))
        return {}

    def test_state(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.backend.test_state(body)

    def validate_state_machine_definition(self, body: dict[str, Any]) -> dict[str, Any]:
        diagnostics = self.backend.validate_definition(
            _required(body, "definition"),
            body.get("type") or "STANDARD",
            warnings=body.get("severity") == "WARNING",
        )
        limit = body.get("maxResults") or 100
        failed = any(d.severity == "ERROR" for d in diagnostics)
        return {
            "result": "FAIL" if failed else "OK",
            "diagnostics": [d.as_api() for d in diagnostics[:limit]],
            "truncated": len(diagnostics) > limit,
        }


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


class _Handler(BaseHTTPRequestHandler):
    operations: Operations  # set on the subclass made per server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        target = self.headers.get("X-Amz-Target", "")
        try:
            if not target.startswith(TARGET_PREFIX):
                raise UnknownOperation(f"Missing or unknown X-Amz-Target: {target!r}")
            try:
                body = json.loads(raw or b"{}")
            except ValueError as exc:
                raise ValidationException(f"The request body is not JSON: {exc}") from None
            if not isinstance(body, dict):
                raise ValidationException("The request body must be a JSON object")
            self._reply(200, self.operations.dispatch(target[len(TARGET_PREFIX) :], body))
        except ServiceError as exc:
            self._reply(exc.status, {"__type": exc.code, "message": exc.message})
        except Exception as exc:  # a bug of ours: answer as AWS does, keep serving
            logger.exception("internal error in %s", target)
            self._reply(500, {"__type": "InternalServerError", "message": str(exc)})

    def do_GET(self) -> None:
        # A health check for whoever starts the server and waits for it.
        self._reply(200, {"service": "states", "status": "running"})

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)


def make_server(backend: StepFunctionsBackend, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """An HTTP server for `backend`, not yet serving; port 0 picks a free port (`server.server_port`)."""
    handler = type("StepFunctionsHandler", (_Handler,), {"operations": Operations(backend)})
    return http_server(handler, host, port)


def serve_in_background(
    backend: StepFunctionsBackend, host: str = "127.0.0.1", port: int = 0
) -> ThreadingHTTPServer:
    """A server answering on a daemon thread; stop it with `tributary.serving.stop_serving(server)`."""
    return serve_in_thread(make_server(backend, host, port), "states-endpoint")
