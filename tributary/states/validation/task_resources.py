"""Which Task `Resource` ARNs CreateStateMachine accepts: Lambda functions, activities, the
`aws-sdk:` integrations and the optimized service integrations with their integration patterns."""

from __future__ import annotations

import re

REQUEST_RESPONSE = ""
SYNC = ".sync"
SYNC2 = ".sync:2"
WAIT_FOR_TASK_TOKEN = ".waitForTaskToken"

_RR = frozenset({REQUEST_RESPONSE})
_RR_WFT = frozenset({REQUEST_RESPONSE, WAIT_FOR_TASK_TOKEN})
_RR_SYNC = frozenset({REQUEST_RESPONSE, SYNC})
_ALL = frozenset({REQUEST_RESPONSE, SYNC, WAIT_FOR_TASK_TOKEN})

# Optimized integrations of the services this project and its users meet most, with the patterns
# each API supports (AWS documentation, "Integrating services with Step Functions"). A service not
# listed here is not checked: refusing a valid definition costs more than missing an invalid one.
OPTIMIZED_INTEGRATIONS: dict[str, dict[str, frozenset[str]]] = {
    "lambda": {"invoke": _RR_WFT},
    "dynamodb": {"getItem": _RR, "putItem": _RR, "updateItem": _RR, "deleteItem": _RR},
    "sns": {"publish": _RR_WFT},
    "sqs": {"sendMessage": _RR_WFT},
    "events": {"putEvents": _RR_WFT},
    "glue": {"startJobRun": _ALL},
    "athena": {
        "startQueryExecution": _ALL,
        "stopQueryExecution": _RR,
        "getQueryExecution": _RR,
        "getQueryResults": _RR,
    },
    "states": {"startExecution": frozenset({REQUEST_RESPONSE, SYNC, SYNC2, WAIT_FOR_TASK_TOKEN})},
    "batch": {"submitJob": _ALL},
    "ecs": {"runTask": _ALL},
    "apigateway": {"invoke": _RR_WFT},
    "http": {"invoke": _RR},
    "codebuild": {
        "startBuild": _RR_SYNC,
        "stopBuild": _RR,
        "batchDeleteBuilds": _RR,
        "batchGetReports": _RR,
        "startBuildBatch": _RR_SYNC,
    },
}

# Resources only an ItemReader or a ResultWriter may name (Distributed Map).
ITEM_READER_RESOURCES = frozenset({"s3:getObject", "s3:listObjectsV2"})
RESULT_WRITER_RESOURCES = frozenset({"s3:putObject"})

_SERVICE_ARN = re.compile(
    r"^arn:(?P<partition>[^:]+):states:::(?P<service>[a-z0-9-]+):(?P<api>[^.]+)(?P<suffix>\..*)?$"
)
_SDK_ARN = re.compile(r"^arn:[^:]+:states:::aws-sdk:[a-z0-9-]+:[A-Za-z0-9]+(\.waitForTaskToken)?$")
_LAMBDA_ARN = re.compile(r"^arn:[^:]+:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9_$-]+)?$")
_ACTIVITY_ARN = re.compile(r"^arn:[^:]+:states:[a-z0-9-]+:\d{12}:activity:[^:]+$")


def integration_pattern(resource: str) -> str:
    """The integration pattern suffix of a service ARN (`.sync`, `.sync:2`, `.waitForTaskToken`, '')."""
    match = _SERVICE_ARN.match(resource)
    return (match.group("suffix") or "") if match else ""


def check_task_resource(resource: str, state_machine_type: str) -> str | None:
    """Why `resource` cannot be a Task state's Resource, or None when it can."""
    if _LAMBDA_ARN.match(resource) or _ACTIVITY_ARN.match(resource):
        return None
    if resource.startswith("arn:") and ":states:::aws-sdk:" in resource:
        if not _SDK_ARN.match(resource):
            return not_recognized(resource)
        if resource.endswith(WAIT_FOR_TASK_TOKEN) and state_machine_type == "EXPRESS":
            return "Express state machine does not support '.waitForTaskToken' service integration "
        return None
    match = _SERVICE_ARN.match(resource)
    if not match:
        return not_recognized(resource)
    suffix = match.group("suffix") or ""
    if state_machine_type == "EXPRESS" and suffix in (SYNC, SYNC2):
        return "Express state machine does not support '.sync' service integration"
    if state_machine_type == "EXPRESS" and suffix == WAIT_FOR_TASK_TOKEN:
        return "Express state machine does not support '.waitForTaskToken' service integration "
    apis = OPTIMIZED_INTEGRATIONS.get(match.group("service"))
    if apis is None:
        return None
    patterns = apis.get(match.group("api"))
    if patterns is None or suffix not in patterns:
        return not_recognized(resource)
    return None


def not_recognized(resource: str) -> str:
    shown = re.sub(r"^arn:[^:]+:", "arn:<partition>:", resource)
    return (
        f"The resource provided {shown} is not recognized. The value is not a valid resource ARN, "
        "or the resource is not available in this region."
    )
