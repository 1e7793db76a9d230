"""What importing the trigger handler does at cold start (no timings: what gets imported and built).

The import runs in a fresh interpreter with a Lambda-like environment (``LAMBDA_TASK_ROOT`` set, tracing
on), as the Lambda runtime would import it, so the X-Ray SDK takes its Lambda path and the Tracer patches.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from .conftest import REPO

PROBE = """
import json, sys
import trigger.handler
from aws_xray_sdk.core import patcher
from etl_common import aws, contracts, models

print(json.dumps({
    "modules": sorted(name for name in ("yaml", "requests", "httpx", "sqlite3") if name in sys.modules),
    "clients": {name: getattr(aws, name).cache_info().currsize
                for name in ("s3_client", "dynamodb_resource", "dynamodb_client", "sfn_client")},
    "patched": sorted(patcher._PATCHED_MODULES),
    "built": sorted(name for name, model in [*vars(models).items(), *vars(contracts).items()]
                    if isinstance(model, type) and getattr(model, "__pydantic_complete__", False)),
}))
"""


def import_trigger_handler() -> dict[str, Any]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "POWERTOOLS_"))}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(str(REPO / "functions" / name) for name in ("trigger", "common")),
            "LAMBDA_TASK_ROOT": str(REPO / "functions" / "trigger"),
            "AWS_LAMBDA_FUNCTION_NAME": "trigger",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_SERVICE_NAME": "trigger",
            "ARTIFACTS_BUCKET": "artifacts",
            "RUNS_TABLE": "runs",
            "IDEMPOTENCY_TABLE": "idempotency",
            "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:pipeline",
            "CONTRACTS_DIR": str(REPO / "contracts"),
        }
    )
    output = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, cwd=REPO, capture_output=True, text=True, check=True
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def test_importing_the_trigger_creates_no_client_builds_no_unused_model_and_patches_only_botocore():
    probe = import_trigger_handler()

    # Clients are made on first use: a batch of skipped objects never needs DynamoDB or Step Functions.
    assert probe["clients"] == {"s3_client": 0, "dynamodb_resource": 0, "dynamodb_client": 0, "sfn_client": 0}
    # YAML is read only with a contract; X-Ray patches botocore alone, so it imports no HTTP/DB library.
    assert probe["modules"] == []
    assert probe["patched"] == ["botocore"]
    # Document and contract models are built when first used, not at import.
    assert probe["built"] == []
