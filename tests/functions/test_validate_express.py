"""A run of 1,000 small objects validated by the pipeline's own states (PrepareValidation, the
ValidateEachObject distributed Map of EXPRESS children, the ValidateObjects summary) from the real
statemachine/pipeline.asl.json, on the local engine on the real clock (children in threads), with the
real validate handler for every task and moto for S3. Checks the claim check (the per-object outcomes
in S3, nothing per object in the parent's history) and the same answer as validating the run in one
invocation; prints how long both took (no wall-clock assertion: the machine is shared)."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest

from tests.template import cfn
from tests.template.test_pipeline_flow import SUBSTITUTIONS
from tributary.states import Execution
from tributary.states.clock import RealClock
from tributary.states.errors import StatesError
from tributary.states.service_integrations import FunctionIntegration, TaskCall

from .test_validate import ORDERS_CSV, put_manifest, read_json, upload

VALIDATION_STATES = ("InitRun", "PrepareValidation", "ValidateEachObject", "ValidateObjects")
MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:Pipeline"


def validation_definition(artifacts_bucket: str) -> dict[str, Any]:
    """The pipeline's validation states as they are, from InitRun to the summary: the summary ends the
    run here (Validated), the failure route is a Fail state."""
    substitutions = {**SUBSTITUTIONS, "ArtifactsBucketName": artifacts_bucket}
    text = cfn.definition_path(cfn.load_template()).read_text()
    full = json.loads(cfn.PLACEHOLDER.sub(lambda match: substitutions[match.group(1)], text))
    states = {name: full["States"][name] for name in VALIDATION_STATES}
    states["InitRun"] = {**states["InitRun"], "Next": "PrepareValidation"}
    states["ValidateObjects"] = {**states["ValidateObjects"], "Next": "Validated"}
    states["Validated"] = {"Type": "Succeed"}
    states["RecordFailure"] = {
        "Type": "Fail",
        "Error": "{% $failure.Error %}",
        "Cause": "{% $failure.Cause %}",
    }
    return {"QueryLanguage": full["QueryLanguage"], "StartAt": "InitRun", "States": states}


def aws(handler: Any, lambda_context: Any) -> FunctionIntegration:
    s3 = boto3.client("s3")

    def invoke(call: TaskCall) -> Any:
        if call.resource.service == "lambda":
            payload = call.arguments["Payload"]
            try:
                if payload.get("mode") == "object":
                    # The children run in threads of this one process: their mode's function without
                    # the handler's Powertools decorators, whose Logger and Metrics are one per process
                    # (Lambda runs one invocation per environment at a time; threads would share them).
                    return {"StatusCode": 200, "Payload": handler.one_object(payload)}
                return {"StatusCode": 200, "Payload": handler.lambda_handler(payload, lambda_context)}
            except Exception as exc:
                raise StatesError(type(exc).__name__, json.dumps({"errorMessage": str(exc)})) from exc
        arguments = call.arguments
        if call.resource.action == "getObject":
            body = s3.get_object(Bucket=arguments["Bucket"], Key=arguments["Key"])["Body"].read()
            return {"Body": body.decode("utf-8")}
        assert call.resource.action == "putObject", call.resource
        response = s3.put_object(Bucket=arguments["Bucket"], Key=arguments["Key"], Body=arguments["Body"])
        return {"ETag": response["ETag"]}

    return FunctionIntegration(invoke)


def upload_many(stack: Any, count: int, prefix: str) -> list[dict[str, Any]]:
    """`count` orders files; every 100th is refused (its header does not match the contract)."""
    bad = ORDERS_CSV.replace(b"status", b"state", 1)
    return [
        upload(stack, f"incoming/orders/{prefix}/{index:04d}.csv", bad if index % 100 == 99 else ORDERS_CSV)
        for index in range(count)
    ]


@pytest.mark.slow
def test_a_thousand_objects_validate_in_express_children_with_their_results_in_s3(
    stack, load_handler, lambda_context, capsys
):
    count = 1000
    handler = load_handler("validate")
    run_id = "orders-express"
    objects = upload_many(stack, count, "mapped")
    execution_input = {
        "run_id": run_id,
        "dataset": "orders",
        "manifest_uri": put_manifest(stack, run_id, "orders", objects),
        "object_count": count,
    }
    execution = Execution(
        validation_definition(stack.artifacts_bucket),
        execution_input,
        name=run_id,
        state_machine_arn=MACHINE_ARN,
        integrations=aws(handler, lambda_context),
        clock=RealClock(),
    )
    started = time.perf_counter()
    result = execution.run()
    mapped_seconds = time.perf_counter() - started
    assert result.status == "SUCCEEDED", (result.error, result.cause)

    # One EXPRESS child per object, none of their events in the parent's history.
    (children,) = execution.runtime.map_run_histories.values()
    assert sum(1 for e in children.events if e["type"] == "TaskSucceeded") == count
    parent = json.dumps(execution.history.events, default=str)
    assert "mapped/0000.csv" not in parent and "mapped/0999.csv" not in parent
    assert len(parent) < 40_000, len(parent)
    # The per-object outcomes are in S3, where the ResultWriter put them.
    (exited,) = [e for e in execution.history.events if e["type"] == "MapStateExited"]
    details = json.loads(exited["stateExitedEventDetails"]["output"])
    assert set(details) == {"MapRunArn", "ResultWriterDetails"}
    manifest = read_json(stack, f"s3://{stack.artifacts_bucket}/{details['ResultWriterDetails']['Key']}")
    (succeeded,) = manifest["ResultFiles"]["SUCCEEDED"]
    entries = read_json(stack, f"s3://{stack.artifacts_bucket}/{succeeded['Key']}")
    assert len(entries) == count and manifest["ResultFiles"]["FAILED"] == []

    summary = json.loads(result.output or "{}")
    assert (summary["accepted"], summary["rejected"]) == (count - count // 100, count // 100)
    staged = read_json(stack, summary["validated_manifest_uri"])["objects"]
    assert [obj["key"] for obj in staged] == [o["key"] for i, o in enumerate(objects) if i % 100 != 99]

    # Today's single invocation, same process, same objects (another upload, another run).
    whole_id = "orders-whole"
    whole_objects = upload_many(stack, count, "whole")
    request = {
        "run_id": whole_id,
        "dataset": "orders",
        "manifest_uri": put_manifest(stack, whole_id, "orders", whole_objects),
        "object_count": count,
    }
    started = time.perf_counter()
    whole = handler.lambda_handler(request, lambda_context)
    whole_seconds = time.perf_counter() - started
    assert {k: v for k, v in whole.items() if not isinstance(v, str)} == {
        k: v for k, v in summary.items() if not isinstance(v, str)
    }
    with capsys.disabled():
        print(
            f"\n{count} objects: distributed Map of EXPRESS children {mapped_seconds:.1f} s, "
            f"one invocation (8 threads) {whole_seconds:.1f} s, ratio {mapped_seconds / whole_seconds:.2f} "
            "(in one process against moto: the children share one interpreter)"
        )
