"""The engine's task integrations in the local stack: Lambda on the Lambda runtime, Glue on local
Spark, Athena on DuckDB, everything else through boto3 to moto.

Results and errors are shaped as Step Functions shapes them: optimized integrations name errors
`<Service>.<Exception>` (`Glue.ConcurrentRunsExceededException`), AWS SDK integrations PascalCase the
service and always end the name with `Exception` (`S3.NoSuchKeyException`); a `.sync` job that ends
badly is `States.TaskFailed` with the job's description as the cause.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import re
import threading
import uuid
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError, ParamValidationError

from tributary.local.faults import FaultInjectingIntegrations, FaultInjector
from tributary.local.runtimes.athena_ddl import AthenaQueryError
from tributary.local.runtimes.athena_runtime import AthenaRuntime
from tributary.local.runtimes.glue_runtime import GlueError, GlueRuntime
from tributary.local.runtimes.lambda_runtime import LambdaRuntime
from tributary.states.errors import StatesError
from tributary.states.service_integrations import Integration, IntegrationRegistry, TaskCall

# How often a `.sync` task looks at its job; jobs run in real time whatever the engine's clock.
_SYNC_POLL_SECONDS = 0.2
_ATHENA_FINISHED = ("SUCCEEDED", "FAILED", "CANCELLED")

# Service names as the AWS SDK integrations spell them in error names.
_SDK_SERVICE_NAMES = {
    "s3": "S3",
    "dynamodb": "DynamoDb",
    "sqs": "Sqs",
    "sns": "Sns",
    "glue": "Glue",
    "athena": "Athena",
    "lambda": "Lambda",
    "sfn": "Sfn",
    "eventbridge": "EventBridge",
    "kms": "Kms",
    "cloudwatch": "CloudWatch",
}
# ... and as the optimized integrations spell them.
_OPTIMIZED_SERVICE_NAMES = {"dynamodb": "DynamoDB", "sns": "SNS", "sqs": "SQS", "events": "EventBridge"}
# Step Functions service names → boto3 client names.
_BOTO3_NAMES = {"sfn": "stepfunctions", "eventbridge": "events"}


def json_safe(value: Any) -> Any:
    """A boto3 response as Step Functions puts it in the state's result."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if hasattr(value, "read"):  # a streaming body (s3:getObject): Step Functions returns the text
        return value.read().decode("utf-8", errors="replace")
    return value


def _epoch_millis(value: Any) -> Any:
    """Optimized integrations return the job description with dates as epoch milliseconds."""
    if isinstance(value, dict):
        return {k: _epoch_millis(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_epoch_millis(v) for v in value]
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    return value


def _snake(action: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", action).lower()


def _exception_name(code: str) -> str:
    return code if code.endswith("Exception") else f"{code}Exception"


def _sdk_cause(service: str, exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
    request_id = exc.response.get("ResponseMetadata", {}).get("RequestId", str(uuid.uuid4()))
    return f"{error.get('Message', '')} (Service: {service}, Status Code: {status}, Request ID: {request_id})"


def _metadata(status: int = 200) -> dict[str, Any]:
    request_id = str(uuid.uuid4())
    return {
        "SdkHttpMetadata": {"HttpStatusCode": status, "HttpHeaders": {"x-amzn-RequestId": request_id}},
        "SdkResponseMetadata": {"RequestId": request_id},
    }


def _arguments(call: TaskCall) -> dict[str, Any]:
    if call.arguments is None:
        return {}
    if not isinstance(call.arguments, dict):
        raise StatesError("States.Runtime", f"The arguments of {call.resource.arn} must be a JSON object")
    return call.arguments


class LambdaIntegration:
    """`lambda:invoke` (and a function ARN as the Resource) on the local Lambda runtime."""

    def __init__(self, runtime: LambdaRuntime) -> None:
        self.runtime = runtime

    def invoke(self, call: TaskCall) -> Any:
        if call.resource.kind == "lambda-function":
            result = self._run(call.resource.function_name or call.resource.arn, call.arguments)
            if result.function_error:
                raise StatesError(
                    result.payload.get("errorType", "Lambda.Unknown"), json.dumps(result.payload)
                )
            return result.payload
        if call.resource.action != "invoke":
            raise StatesError("States.Runtime", f"lambda:{call.resource.action} is not emulated locally")
        arguments = _arguments(call)
        name = arguments.get("FunctionName")
        if not name:
            raise StatesError("Lambda.InvalidParameterValueException", "FunctionName is required")
        if arguments.get("Qualifier"):
            name = f"{name}:{arguments['Qualifier']}"
        payload = arguments.get("Payload")
        if isinstance(payload, str):  # a JSON string payload is sent as is
            with contextlib.suppress(ValueError):
                payload = json.loads(payload)
        if call.resource.pattern == "waitForTaskToken" or arguments.get("InvocationType") == "Event":
            self._check(name)
            threading.Thread(target=self._run, args=(name, payload), daemon=True).start()
            return {"Payload": "", "StatusCode": 202, **_metadata(202)}
        result = self._run(name, payload)
        if result.function_error:
            raise StatesError(result.payload.get("errorType", "Lambda.Unknown"), json.dumps(result.payload))
        return {"ExecutedVersion": "$LATEST", "Payload": result.payload, "StatusCode": 200, **_metadata()}

    def _check(self, name: str) -> None:
        try:
            self.runtime.function(name)
        except KeyError as exc:
            raise StatesError("Lambda.ResourceNotFoundException", f"Function not found: {name}") from exc

    def _run(self, name: str, payload: Any) -> Any:
        self._check(name)
        return self.runtime.invoke(name, payload)


class GlueIntegration:
    """`glue:startJobRun` (request-response and `.sync`) on local Spark."""

    def __init__(self, runtime: GlueRuntime) -> None:
        self.runtime = runtime

    def invoke(self, call: TaskCall) -> Any:
        arguments = _arguments(call)
        action = call.resource.action
        try:
            if action == "startJobRun":
                started = self.runtime.start_job_run(**arguments)
                if call.resource.pattern != "sync":
                    return {**started, **_metadata()}
                call.submitted({**started, **_metadata()})  # history: TaskSubmitted, then the wait
                return self._wait(arguments["JobName"], started["JobRunId"], call)
            method = getattr(self.runtime, _snake(action), None)
            if method is None:
                raise StatesError("States.Runtime", f"glue:{action} is not emulated locally")
            return _epoch_millis(method(**arguments))
        except GlueError as exc:
            raise StatesError(
                f"Glue.{_exception_name(exc.code)}", f"{exc.message} (Service: AWSGlue)"
            ) from exc
        except TypeError as exc:
            raise StatesError("Glue.InvalidInputException", str(exc)) from exc

    def _wait(self, job_name: str, run_id: str, call: TaskCall) -> Any:
        run = self.runtime.wait(run_id, 0)
        while not run.finished.wait(_SYNC_POLL_SECONDS):
            if call.cancelled.is_set():  # the execution stopped or the task timed out: stop the job
                self.runtime.batch_stop_job_run(JobName=job_name, JobRunIds=[run_id])
                run.finished.wait(30)
                break
        description = _epoch_millis(self.runtime.get_job_run(JobName=job_name, RunId=run_id)["JobRun"])
        if description["JobRunState"] != "SUCCEEDED":
            raise StatesError("States.TaskFailed", json.dumps(description))
        return description


class AthenaIntegration:
    """`athena:startQueryExecution` (request-response and `.sync`) and the read calls, locally."""

    def __init__(self, runtime: AthenaRuntime) -> None:
        self.runtime = runtime

    def invoke(self, call: TaskCall) -> Any:
        arguments = _arguments(call)
        action = call.resource.action
        method = getattr(self.runtime, _snake(action), None)
        if method is None:
            raise StatesError("States.Runtime", f"athena:{action} is not emulated locally")
        try:
            response = method(**arguments)
        except AthenaQueryError as exc:
            raise StatesError("Athena.InvalidRequestException", str(exc)) from exc
        except TypeError as exc:
            raise StatesError("Athena.InvalidRequestException", str(exc)) from exc
        if action == "startQueryExecution" and call.resource.pattern == "sync":
            call.submitted({**_epoch_millis(response), **_metadata()})  # history: TaskSubmitted
            execution = self.runtime.get_query_execution(QueryExecutionId=response["QueryExecutionId"])
            while execution["QueryExecution"]["Status"]["State"] not in _ATHENA_FINISHED:
                if call.cancelled.wait(_SYNC_POLL_SECONDS):
                    self.runtime.stop_query_execution(QueryExecutionId=response["QueryExecutionId"])
                execution = self.runtime.get_query_execution(QueryExecutionId=response["QueryExecutionId"])
            described = _epoch_millis(execution)
            if execution["QueryExecution"]["Status"]["State"] != "SUCCEEDED":
                raise StatesError("States.TaskFailed", json.dumps(described))
            return described
        return {**_epoch_millis(response), **_metadata()}


class AwsSdkIntegration:
    """Any other call (`aws-sdk:*` and the optimized DynamoDB, SNS, SQS, EventBridge ones) via boto3."""

    def __init__(self, client_factory: Callable[[str], Any]) -> None:
        self._client = client_factory
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        name = _BOTO3_NAMES.get(service, service)
        with self._lock:
            if name not in self._clients:
                self._clients[name] = self._client(name)
            return self._clients[name]

    def invoke(self, call: TaskCall) -> Any:
        resource = call.resource
        if resource.pattern != "request-response":
            raise StatesError("States.Runtime", f"{resource.arn}: only request-response is emulated locally")
        client = self.client(resource.service)
        method = getattr(client, _snake(resource.action), None)
        if method is None:
            raise StatesError("States.Runtime", f"{resource.service}:{resource.action} is not an API action")
        try:
            response = method(**_arguments(call))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            if resource.sdk:
                service = _SDK_SERVICE_NAMES.get(resource.service, resource.service.title())
                raise StatesError(f"{service}.{_exception_name(code)}", _sdk_cause(service, exc)) from exc
            service = _OPTIMIZED_SERVICE_NAMES.get(resource.service, resource.service.title())
            raise StatesError(f"{service}.{_exception_name(code)}", _sdk_cause(service, exc)) from exc
        except ParamValidationError as exc:
            raise StatesError("States.Runtime", str(exc)) from exc
        result = json_safe(response)
        return result if resource.sdk else {**result, **_metadata()}


def api_error_name(resource: Any, code: str) -> str:
    """The error name a Task sees when its service call fails with `code` (an API error code)."""
    if resource.sdk:
        service = _SDK_SERVICE_NAMES.get(resource.service, resource.service.title())
    else:
        service = {"glue": "Glue", "athena": "Athena", "lambda": "Lambda", **_OPTIMIZED_SERVICE_NAMES}.get(
            resource.service, resource.service.title()
        )
    return f"{service}.{_exception_name(code)}"


def local_integrations(
    lambdas: LambdaRuntime,
    glue: GlueRuntime,
    athena: AthenaRuntime,
    client_factory: Callable[[str], Any],
    faults: FaultInjector | None = None,
) -> Integration:
    registry = IntegrationRegistry(fallback=AwsSdkIntegration(client_factory))
    registry.register("lambda", LambdaIntegration(lambdas))
    registry.register("glue", GlueIntegration(glue))
    registry.register("athena", AthenaIntegration(athena))
    if faults is not None:  # a fault plan's state and api faults (tributary.local.faults)
        return FaultInjectingIntegrations(registry, faults, api_error_name)
    return registry
