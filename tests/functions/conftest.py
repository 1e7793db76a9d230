"""Fixtures for the function tests: moto-backed AWS resources, fresh handler imports, event builders."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from moto import mock_aws

REPO = Path(__file__).resolve().parents[2]
# Until pyproject.toml's pytest pythonpath lists every function folder, as they sit in Lambda.
for folder in ("common", "trigger", "validate", "catalog", "lineage", "quarantine", "sweep"):
    path = str(REPO / "functions" / folder)
    if path not in sys.path:
        sys.path.insert(0, path)

from etl_common.aws import reset_clients  # noqa: E402

from .builders import ACCOUNT, REGION, eventbridge_object_created  # noqa: E402

STATE_MACHINE_NAME = "tributary-pipeline"


@dataclass(frozen=True)
class Stack:
    raw_bucket: str = "tributary-raw"
    artifacts_bucket: str = "tributary-artifacts"
    curated_bucket: str = "tributary-curated"
    runs_table: str = "tributary-runs"
    lineage_table: str = "tributary-lineage"
    idempotency_table: str = "tributary-idempotency"
    glue_database: str = "tributary"
    state_machine_arn: str = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STATE_MACHINE_NAME}"
    queue_name: str = "tributary-ingest"

    def env(self, queue_url: str) -> dict[str, str]:
        return {
            "RAW_BUCKET": self.raw_bucket,
            "ARTIFACTS_BUCKET": self.artifacts_bucket,
            "CURATED_BUCKET": self.curated_bucket,
            "RUNS_TABLE": self.runs_table,
            "LINEAGE_TABLE": self.lineage_table,
            "IDEMPOTENCY_TABLE": self.idempotency_table,
            "GLUE_DATABASE": self.glue_database,
            "STATE_MACHINE_ARN": self.state_machine_arn,
            "INGEST_QUEUE_URL": queue_url,
            "CONTRACTS_DIR": str(REPO / "contracts"),
            "RUN_TTL_DAYS": "30",
        }


@dataclass
class LambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:test-function"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


def _create_resources(stack: Stack) -> str:
    import boto3

    s3 = boto3.client("s3", region_name=REGION)
    for bucket in (stack.raw_bucket, stack.artifacts_bucket, stack.curated_bucket):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=stack.raw_bucket, VersioningConfiguration={"Status": "Enabled"})

    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_table(
        TableName=stack.runs_table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "run_id", "AttributeType": "S"},
            {"AttributeName": "trigger_principal", "AttributeType": "S"},
            {"AttributeName": "created_at", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "run_id", "KeyType": "HASH"}],
        # As template.yaml's RunsTable: runs by who or what caused them (audit trail).
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-trigger-principal-created",
                "KeySchema": [
                    {"AttributeName": "trigger_principal", "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    ddb.create_table(
        TableName=stack.lineage_table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "object_id", "AttributeType": "S"},
            {"AttributeName": "run_id", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "object_id", "KeyType": "HASH"},
            {"AttributeName": "run_id", "KeyType": "RANGE"},
        ],
    )
    ddb.create_table(
        TableName=stack.idempotency_table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )

    sfn = boto3.client("stepfunctions", region_name=REGION)
    sfn.create_state_machine(
        name=STATE_MACHINE_NAME,
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn",
    )
    return boto3.client("sqs", region_name=REGION).create_queue(QueueName=stack.queue_name)["QueueUrl"]


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """A fresh moto account holding the resources of template.yaml that the functions use."""
    for name, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "POWERTOOLS_SERVICE_NAME": "tributary-tests",
        "POWERTOOLS_METRICS_NAMESPACE": "Tributary",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_DEV": "false",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "POWERTOOLS_IDEMPOTENCY_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    stack = Stack()
    with mock_aws():
        reset_clients()
        queue_url = _create_resources(stack)
        for name, value in stack.env(queue_url).items():
            monkeypatch.setenv(name, value)
        yield stack
    reset_clients()


@pytest.fixture
def load_handler(stack: Stack) -> Callable[[str], ModuleType]:
    """Import ``<function>.handler`` afresh, so module-level clients and settings see this test's stack."""

    def load(function: str) -> ModuleType:
        for name in list(sys.modules):
            if name == function or name.startswith(f"{function}."):
                del sys.modules[name]
        return importlib.import_module(f"{function}.handler")

    return load


@pytest.fixture
def s3(stack: Stack) -> Any:
    import boto3

    return boto3.client("s3", region_name=REGION)


@pytest.fixture
def put_raw(s3: Any, stack: Stack) -> Callable[..., dict[str, Any]]:
    """Upload a raw object and return the EventBridge event S3 would emit for it."""

    def put(key: str, body: bytes, time: str = "2026-11-24T10:14:58Z") -> dict[str, Any]:
        response = s3.put_object(Bucket=stack.raw_bucket, Key=key, Body=body)
        return eventbridge_object_created(
            key,
            bucket=stack.raw_bucket,
            size=len(body),
            version_id=response.get("VersionId"),
            etag=response["ETag"].strip('"'),
            time=time,
        )

    return put
