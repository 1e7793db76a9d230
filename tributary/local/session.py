"""Reaching a local stack: in this process (`tributary run`), or one that `tributary up` runs in
another process, found through the file it writes (`.tributary/stack.json` in the project)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from tributary.local.provisioning import ProvisionedStack
from tributary.local.runtimes.athena_runtime import parse_s3_uri
from tributary.local.stack import NOTIFICATIONS_QUEUE, LocalStack

STACK_FILE = Path(".tributary") / "stack.json"


@dataclass
class StackInfo:
    """Endpoints and the physical names the commands need."""

    moto_url: str
    states_url: str
    control_url: str
    region: str
    state_machine_arn: str
    state_machine_definition: str
    raw_bucket: str
    artifacts_bucket: str
    curated_bucket: str
    runs_table: str
    glue_database: str
    workgroup: str
    notifications_queue: str
    endpoint_url: str = ""  # the one endpoint of every service (`tributary up --port`), if any

    @classmethod
    def of(cls, stack: LocalStack, control_url: str = "") -> StackInfo:
        return cls.of_provisioned(
            stack.stack,
            stack.aws.endpoint_url,
            stack.states_url,
            stack.aws.region,
            control_url,
            stack.endpoint_url,
        )

    @classmethod
    def of_provisioned(
        cls,
        stack: ProvisionedStack,
        moto_url: str,
        states_url: str,
        region: str,
        control_url: str = "",
        endpoint_url: str = "",
    ) -> StackInfo:
        # The pipeline's state machine; in another application, its first state machine; none in a
        # template without one (templates/glue-workflow.yaml: a Glue Workflow orchestrates it).
        machines = stack.of_type("AWS::StepFunctions::StateMachine")
        machine = stack.resources.get("PipelineStateMachine") or (machines[0] if machines else None)

        def name(logical_id: str) -> str:
            resource = stack.resources.get(logical_id)
            return resource.physical_id if resource else ""

        return cls(
            moto_url=moto_url,
            states_url=states_url,
            control_url=control_url,
            region=region,
            state_machine_arn=machine.physical_id if machine else "",
            state_machine_definition=machine.attributes["Definition"] if machine else "",
            raw_bucket=name("RawBucket"),
            artifacts_bucket=name("ArtifactsBucket"),
            curated_bucket=name("CuratedBucket"),
            runs_table=name("RunsTable"),
            glue_database=name("GlueDatabase"),
            workgroup=name("AthenaWorkGroup"),
            notifications_queue=NOTIFICATIONS_QUEUE,
            endpoint_url=endpoint_url,
        )

    def save(self, root: Path) -> Path:
        path = root / STACK_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2))
        return path

    @classmethod
    def load(cls, root: Path) -> StackInfo:
        return cls(**json.loads((root / STACK_FILE).read_text()))

    def client(self, service: str) -> Any:
        url = self.endpoint_url or (self.states_url if service == "stepfunctions" else self.moto_url)
        return boto3.session.Session().client(  # type: ignore[call-overload]
            service,
            endpoint_url=url,
            region_name=self.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 2, "mode": "standard"}),
        )


def read_json(s3: Any, uri: str | None) -> Any:
    """A JSON document in S3, or None when it is not there (yet)."""
    if not uri:
        return None
    bucket, key = parse_s3_uri(uri)
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except Exception:
        return None


def execution_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        extra = {"nextToken": token} if token else {}
        page = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000, **extra)
        events.extend(page["events"])
        token = page.get("nextToken")
        if not token:
            return events


def run_documents(info: StackInfo, run_id: str, s3: Any, dynamodb: Any) -> dict[str, Any]:
    """The run record and the documents of runs/<run_id>/ (each None when missing)."""
    item = dynamodb.get_item(TableName=info.runs_table, Key={"run_id": {"S": run_id}}).get("Item")
    base = f"s3://{info.artifacts_bucket}/runs/{run_id}/"
    return {
        "run_record": item or {"run_id": {"S": run_id}},
        "result": read_json(s3, base + "result.json"),
        "rejected": read_json(s3, base + "rejected.json"),
        "manifest": read_json(s3, base + "manifest.json"),
    }
