"""A distributed Map whose child workflows are EXPRESS (`ProcessorConfig: {Mode: DISTRIBUTED,
ExecutionType: EXPRESS}`), held to the Step Functions guide: the children are Express executions
(five minutes at most; no `.sync` or `.waitForTaskToken` in them; nothing of theirs in the parent's
history but the Map Run's events), MaxConcurrency bounds how many run at once, ToleratedFailureCount /
ToleratedFailurePercentage decide whether their failures fail the Map Run, and ResultWriter puts
`<Prefix>/<map run id>/manifest.json` with SUCCEEDED_0.json / FAILED_0.json in S3 (a claim check:
the parent's output says where the results are, not what they are)."""

from __future__ import annotations

import json
from typing import Any

from tributary.states import Execution, IntegrationRegistry, VirtualClock, validate
from tributary.states.errors import StatesError

MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:Pipeline"


class Validator:
    """Validates one object per call: an object named `bad...` fails, `slow...` takes 400 s."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def invoke(self, call: Any) -> Any:
        key = call.arguments["key"]
        self.calls.append(key)
        if key.startswith("bad"):
            raise StatesError("Validation.Failed", f"{key} is not valid")
        return {"key": key, "valid": True}


def processor(execution_type: str = "EXPRESS", *, slow_wait: int = 0) -> dict[str, Any]:
    states: dict[str, Any] = {
        "Validate": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"key.$": "$.key"},
            "End": True,
        }
    }
    start = "Validate"
    if slow_wait:
        states["Pause"] = {"Type": "Wait", "Seconds": slow_wait, "Next": "Validate"}
        start = "Pause"
    return {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": execution_type},
        "StartAt": start,
        "States": states,
    }


def validation_map(**fields: Any) -> dict[str, Any]:
    state = {
        "Type": "Map",
        "Label": "ValidateObjects",
        "ItemReader": {
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": "JSON"},
            "Parameters": {"Bucket": "runs", "Key.$": "$.manifest_key"},
        },
        "ItemProcessor": processor(),
        "MaxConcurrency": 10,
        "ToleratedFailurePercentage": 5,
        "ResultWriter": {
            "Resource": "arn:aws:states:::s3:putObject",
            "Parameters": {"Bucket": "runs", "Prefix": "results/r1"},
        },
        "End": True,
    }
    state.update(fields)
    return {"StartAt": "Validate", "States": {"Validate": state}}


def run(kit: Any, definition: dict[str, Any], keys: list[str]) -> tuple[Execution, Any, Validator]:
    s3 = kit.S3({})
    validator = Validator()
    s3.objects["runs/manifests/r1.json"] = json.dumps([{"key": k} for k in keys])
    execution = Execution(
        definition,
        {"manifest_key": "manifests/r1.json"},
        state_machine_arn=MACHINE_ARN,
        integrations=IntegrationRegistry({"s3": s3, "lambda": validator}),
        clock=VirtualClock(),
    )
    execution.run()
    return execution, s3, validator


def stored(s3: Any, key: str) -> Any:
    return json.loads(s3.objects[f"runs/{key}"])


def test_a_thousand_objects_are_validated_by_express_children_and_the_results_land_in_s3(kit):
    keys = [f"obj-{i:04d}" for i in range(1000)]
    execution, s3, validator = run(kit, validation_map(), keys)
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert sorted(validator.calls) == keys
    output = json.loads(execution.output or "{}")
    # The claim check: where the results are, nothing per object.
    assert set(output) == {"MapRunArn", "ResultWriterDetails"}
    assert output["ResultWriterDetails"]["Bucket"] == "runs"
    run_id = output["MapRunArn"].rsplit(":", 1)[-1]
    assert output["ResultWriterDetails"]["Key"] == f"results/r1/{run_id}/manifest.json"
    manifest = stored(s3, output["ResultWriterDetails"]["Key"])
    assert manifest["DestinationBucket"] == "runs" and manifest["MapRunArn"] == output["MapRunArn"]
    assert manifest["ResultFiles"]["FAILED"] == [] and manifest["ResultFiles"]["PENDING"] == []
    (succeeded_file,) = manifest["ResultFiles"]["SUCCEEDED"]
    assert succeeded_file["Key"] == f"results/r1/{run_id}/SUCCEEDED_0.json"
    body = s3.objects[f"runs/{succeeded_file['Key']}"]
    assert succeeded_file["Size"] == len(body.encode())
    entries = json.loads(body)
    assert len(entries) == 1000
    first = entries[0]
    # Transformation NONE (the default when exporting): the output beside the execution's metadata.
    assert first["Status"] == "SUCCEEDED"
    assert json.loads(first["Input"]) == {"key": "obj-0000"}
    assert json.loads(first["Output"]) == {"key": "obj-0000", "valid": True}
    assert first["InputDetails"] == first["OutputDetails"] == {"Included": True}
    assert first["ExecutionArn"].startswith(
        "arn:aws:states:us-east-1:123456789012:express:Pipeline/ValidateObjects:"
    )
    assert first["ExecutionArn"].endswith(first["Name"])
    assert first["StateMachineArn"] == f"{MACHINE_ARN}/ValidateObjects"
    assert len({e["Name"] for e in entries}) == 1000


def test_the_parent_history_holds_the_map_run_events_only(kit):
    execution, _, _ = run(kit, validation_map(), ["a", "b", "c"])
    types = [e["type"] for e in execution.history.events]
    assert types == [
        "ExecutionStarted",
        "MapStateEntered",
        "MapStateStarted",
        "MapRunStarted",
        "MapRunSucceeded",
        "MapStateSucceeded",
        "MapStateExited",
        "ExecutionSucceeded",
    ]


def test_tolerated_failures_keep_the_run_going_and_the_failed_children_are_in_failed_0(kit):
    keys = [f"ok-{i:02d}" for i in range(38)] + ["bad-1", "bad-2"]  # 5 % of 40 failing
    execution, s3, _ = run(kit, validation_map(), keys)
    assert execution.status == "SUCCEEDED"
    manifest = stored(s3, json.loads(execution.output or "{}")["ResultWriterDetails"]["Key"])
    (failed_file,) = manifest["ResultFiles"]["FAILED"]
    failed = stored(s3, failed_file["Key"])
    assert [(json.loads(e["Input"])["key"], e["Status"], e["Error"]) for e in failed] == [
        ("bad-1", "FAILED", "Validation.Failed"),
        ("bad-2", "FAILED", "Validation.Failed"),
    ]
    assert failed[0]["Cause"] == "bad-1 is not valid" and "Output" not in failed[0]
    assert len(stored(s3, manifest["ResultFiles"]["SUCCEEDED"][0]["Key"])) == 38


def test_more_failures_than_tolerated_fail_the_map_run(kit):
    keys = [f"ok-{i:02d}" for i in range(37)] + ["bad-1", "bad-2", "bad-3"]  # 7.5 % > 5 %
    execution, _, _ = run(kit, validation_map(), keys)
    assert (execution.status, execution.error) == ("FAILED", "States.ExceedToleratedFailureThreshold")
    types = [e["type"] for e in execution.history.events]
    assert types[-3:] == ["MapRunFailed", "MapStateFailed", "ExecutionFailed"]


def test_tolerated_failure_count_is_a_number_of_children(kit):
    definition = validation_map(ToleratedFailureCount=1)
    del definition["States"]["Validate"]["ToleratedFailurePercentage"]
    assert run(kit, definition, ["ok", "bad-1"])[0].status == "SUCCEEDED"
    assert run(kit, definition, ["ok", "bad-1", "bad-2"])[0].error == "States.ExceedToleratedFailureThreshold"


def test_an_express_child_running_past_five_minutes_fails_with_states_timeout(kit):
    definition = validation_map(ItemProcessor=processor(slow_wait=400), ToleratedFailureCount=0)
    del definition["States"]["Validate"]["ToleratedFailurePercentage"]
    execution, _, validator = run(kit, definition, ["a"])
    assert (execution.status, execution.error) == ("FAILED", "States.ExceedToleratedFailureThreshold")
    assert validator.calls == []  # stopped in its Wait, at the five-minute mark

    tolerated = validation_map(ItemProcessor=processor(slow_wait=400), ToleratedFailureCount=1)
    del tolerated["States"]["Validate"]["ToleratedFailurePercentage"]
    execution, s3, _ = run(kit, tolerated, ["a"])
    assert execution.status == "SUCCEEDED"
    manifest = stored(s3, json.loads(execution.output or "{}")["ResultWriterDetails"]["Key"])
    (entry,) = stored(s3, manifest["ResultFiles"]["FAILED"][0]["Key"])
    assert entry["Error"] == "States.Timeout"
    assert assert_seconds(entry["StartDate"], entry["StopDate"]) == 300


def assert_seconds(start: str, stop: str) -> float:
    from datetime import datetime

    def parse(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    return (parse(stop) - parse(start)).total_seconds()


def test_a_standard_child_has_no_five_minute_limit(kit):
    definition = validation_map(ItemProcessor=processor("STANDARD", slow_wait=400))
    execution, s3, validator = run(kit, definition, ["a"])
    assert execution.status == "SUCCEEDED"
    assert validator.calls == ["a"]
    manifest = stored(s3, json.loads(execution.output or "{}")["ResultWriterDetails"]["Key"])
    (entry,) = stored(s3, manifest["ResultFiles"]["SUCCEEDED"][0]["Key"])
    assert ":execution:Pipeline/ValidateObjects:" in entry["ExecutionArn"]


def test_max_concurrency_bounds_the_children_running_at_once_and_their_waits_overlap(kit):
    definition = validation_map(ItemProcessor=processor(slow_wait=60), MaxConcurrency=2)
    execution, _, validator = run(kit, definition, ["a", "b", "c", "d", "e"])
    assert execution.status == "SUCCEEDED"
    assert sorted(validator.calls) == ["a", "b", "c", "d", "e"]
    assert execution.stop_date is not None
    # Five children of 60 s, two at a time: three rounds.
    assert (execution.stop_date - execution.start_date).total_seconds() == 180


def test_writer_config_alone_formats_the_results_into_the_state_output(kit):
    compact = validation_map(
        ResultWriter={"WriterConfig": {"Transformation": "COMPACT", "OutputType": "JSON"}}
    )
    execution, s3, _ = run(kit, compact, ["a", "b"])
    assert json.loads(execution.output or "null") == [
        {"key": "a", "valid": True},
        {"key": "b", "valid": True},
    ]
    assert set(s3.objects) == {"runs/manifests/r1.json"}  # nothing exported

    flat = validation_map(
        ItemProcessor={
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
            "StartAt": "Pair",
            "States": {"Pair": {"Type": "Pass", "Parameters": ["x", "y"], "End": True}},
        },
        ResultWriter={"WriterConfig": {"Transformation": "FLATTEN", "OutputType": "JSON"}},
    )
    assert json.loads(run(kit, flat, ["a", "b"])[0].output or "null") == ["x", "y", "x", "y"]


def test_jsonl_output_puts_one_result_a_line(kit):
    definition = validation_map(
        ResultWriter={
            "Resource": "arn:aws:states:::s3:putObject",
            "Parameters": {"Bucket": "runs", "Prefix": "results/r1"},
            "WriterConfig": {"Transformation": "COMPACT", "OutputType": "JSONL"},
        }
    )
    execution, s3, _ = run(kit, definition, ["a", "b"])
    manifest = stored(s3, json.loads(execution.output or "{}")["ResultWriterDetails"]["Key"])
    body = s3.objects[f"runs/{manifest['ResultFiles']['SUCCEEDED'][0]['Key']}"]
    assert [json.loads(line) for line in body.splitlines()] == [
        {"key": "a", "valid": True},
        {"key": "b", "valid": True},
    ]


def test_express_children_cannot_use_sync_or_callback_integrations(kit):
    for resource in (
        "arn:aws:states:::glue:startJobRun.sync",
        "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
    ):
        definition = validation_map()
        task = definition["States"]["Validate"]["ItemProcessor"]["States"]["Validate"]
        task["Resource"] = resource
        task["Parameters"] = (
            {"JobName": "j"} if "glue" in resource else {"QueueUrl": "q", "MessageBody.$": "$$.Task.Token"}
        )
        problems = validate(json.dumps(definition))
        assert any("Express state machine does not support" in p for p in problems), problems
        definition["States"]["Validate"]["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] = "STANDARD"
        assert validate(json.dumps(definition)) == []
