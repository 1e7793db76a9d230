"""statemachine/pipeline.asl.json against template.yaml: substitutions, names, retries, catches, IAM."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.template import cfn

LAMBDA_TRANSIENT = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}
# What each integration the definition uses needs from the execution role (AWS's IAM policy pages for
# Step Functions integrations; .sync patterns poll and stop the job or query).
INTEGRATION_ACTIONS = {
    "arn:aws:states:::lambda:invoke": ["lambda:InvokeFunction"],
    "arn:aws:states:::lambda:invoke.waitForTaskToken": ["lambda:InvokeFunction"],
    "arn:aws:states:::dynamodb:updateItem": ["dynamodb:UpdateItem"],
    "arn:aws:states:::glue:startJobRun.sync": [
        "glue:StartJobRun",
        "glue:GetJobRun",
        "glue:GetJobRuns",
        "glue:BatchStopJobRun",
    ],
    "arn:aws:states:::athena:startQueryExecution.sync": [
        "athena:StartQueryExecution",
        "athena:GetQueryExecution",
        "athena:StopQueryExecution",
        "athena:GetDataCatalog",
        "glue:GetTable",
        "glue:BatchCreatePartition",
        "s3:PutObject",
    ],
    "arn:aws:states:::sns:publish": ["sns:Publish"],
    "arn:aws:states:::aws-sdk:s3:getObject": ["s3:GetObject", "kms:Decrypt"],
    "arn:aws:states:::s3:getObject": ["s3:GetObject", "kms:Decrypt"],
    # A distributed Map's ResultWriter.
    "arn:aws:states:::s3:putObject": ["s3:PutObject", "kms:GenerateDataKey"],
    "arn:aws:states:::aws-sdk:cloudwatch:putMetricData": ["cloudwatch:PutMetricData"],
}
# States that may run once partitions may be registered and before the run is committed: whatever fails
# there goes through UnpublishRun. Then the route that undoes it, and what comes after the commit.
BEFORE_COMMIT = ["RegisterPartitions", "RecordLineage", "CommitRun"]
UNPUBLISH_ROUTE = ["UnpublishRun", "RetractLineage"]
FAILURE_ROUTE = ["RecordFailure", "QuarantineInputs", "NotifyFailure", "RunFailed"]
AFTER_COMMIT = ["NotifySuccess", "RecordNotificationError", "CountNotificationFailure", "RunSucceeded"]
# A distributed Map runs each item as a child execution of the same state machine.
DISTRIBUTED_MAP_ACTIONS = ["states:StartExecution", "states:DescribeExecution", "states:StopExecution"]
# docs/interfaces.md: what both transform executors take (the Glue job as --name value).
EXECUTOR_ARGUMENTS = [
    "run_id",
    "manifest_uri",
    "plan_uri",
    "output_uri",
    "rejects_uri",
    "result_uri",
    "ingest_ts",
]


def tasks(definition: dict[str, Any]) -> list[tuple[str, dict[str, Any], str | None]]:
    return [item for item in cfn.iter_states(definition["States"]) if item[1]["Type"] == "Task"]


# ---------------------------------------------------------------- substitutions


def test_every_placeholder_has_a_substitution_and_every_substitution_is_used(
    template: dict[str, Any], definition_text: str
) -> None:
    missing, unused = cfn.substitution_problems(template, definition_text)
    assert not missing, f"placeholders in the ASL without a DefinitionSubstitution: {sorted(missing)}"
    assert not unused, f"DefinitionSubstitutions no placeholder uses: {sorted(unused)}"


def test_every_substitution_names_something_the_template_declares(template: dict[str, Any]) -> None:
    declared = set(template["Resources"]) | set(template.get("Parameters", {}))
    substitutions = cfn.state_machine_resource(template)["Properties"]["DefinitionSubstitutions"]
    for name, value in substitutions.items():
        targets = cfn.references(value)
        assert targets, f"{name} is a literal; every ARN/name must come from the template"
        assert targets <= declared, f"{name} refers to undeclared {sorted(targets - declared)}"


def _copy_project(tmp_path: Path, template: dict[str, Any]) -> Path:
    """template.yaml and the state machine file in a scratch directory, ready to be mutated."""
    shutil.copy(cfn.template_path(), tmp_path / "template.yaml")
    source = cfn.definition_path(template)
    target = tmp_path / cfn.definition_location(template)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)
    return tmp_path / "template.yaml"


def _remove_substitution(path: Path, name: str) -> None:
    # Line-based so that the CloudFormation short tags (!Ref, !GetAtt) survive the edit untouched.
    lines = path.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.strip() == "DefinitionSubstitutions:")
    indent = len(lines[start + 1]) - len(lines[start + 1].lstrip())
    end = start + 1
    while len(lines[end]) - len(lines[end].lstrip()) == indent:
        end += 1
    block = [line for line in lines[start + 1 : end] if not line.strip().startswith(f"{name}:")]
    assert len(block) == end - start - 2, f"{name} is not a substitution of {path}"
    path.write_text("".join(lines[: start + 1] + block + lines[end:]))


def test_removing_any_substitution_is_reported(template: dict[str, Any], tmp_path: Path) -> None:
    substitutions = cfn.state_machine_resource(template)["Properties"]["DefinitionSubstitutions"]
    for name in substitutions:
        mutated = cfn.load_template()
        del cfn.state_machine_resource(mutated)["Properties"]["DefinitionSubstitutions"][name]
        missing, _ = cfn.substitution_problems(mutated, cfn.definition_path(template).read_text())
        assert missing == {name}


def test_the_substitution_test_fails_on_a_template_missing_one(
    template: dict[str, Any], tmp_path: Path
) -> None:
    """Runs the real test above, in a separate pytest, against a copy with RunsTableName removed."""
    copied = _copy_project(tmp_path, template)
    _remove_substitution(copied, "RunsTableName")
    mutated = cfn.state_machine_resource(cfn.load_template(copied))["Properties"]["DefinitionSubstitutions"]
    assert "RunsTableName" not in mutated and len(mutated) > 1
    test_name = test_every_placeholder_has_a_substitution_and_every_substitution_is_used.__name__
    test_id = f"{Path(__file__).resolve()}::{test_name}"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", test_id],
        cwd=cfn.REPO,
        env={**os.environ, "TRIBUTARY_TEMPLATE": str(copied)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "RunsTableName" in result.stdout


# ---------------------------------------------------------------- shape of the flow


def test_the_state_machine_is_standard_logged_and_traced(template: dict[str, Any]) -> None:
    properties = cfn.state_machine_resource(template)["Properties"]
    assert properties["StateMachineType"] == "STANDARD"  # .sync integrations need STANDARD
    assert properties["TracingConfiguration"] == {"Enabled": True}
    logging = properties["LoggingConfiguration"]
    assert logging["Level"] == {"Ref": "StateMachineLogLevel"}
    assert logging["IncludeExecutionData"] == {"Ref": "StateMachineIncludeExecutionData"}
    log_group = cfn.references(logging["Destinations"])
    assert log_group == {"PipelineLogGroup"}
    group = template["Resources"]["PipelineLogGroup"]["Properties"]
    assert "RetentionInDays" in group and cfn.references(group["KmsKeyId"]) == {"DataKey"}


def test_every_transition_target_exists(definition: dict[str, Any]) -> None:
    def check(states: dict[str, Any]) -> None:
        for name, state in states.items():
            targets = [state.get("Next"), state.get("Default")]
            targets += [rule.get("Next") for rule in state.get("Choices", [])]
            targets += [catcher["Next"] for catcher in state.get("Catch", [])]
            for target in filter(None, targets):
                assert target in states, f"{name} -> {target}, which is not in its scope"
            for branch in [*state.get("Branches", []), *filter(None, [state.get("ItemProcessor")])]:
                assert branch["StartAt"] in branch["States"]
                check(branch["States"])

    assert definition["StartAt"] in definition["States"]
    check(definition["States"])


def test_every_task_that_waits_has_a_timeout(definition: dict[str, Any]) -> None:
    for name, state, _ in tasks(definition):
        assert "TimeoutSeconds" in state or "TimeoutSecondsPath" in state, name


def test_every_task_is_caught_into_the_failure_path(definition: dict[str, Any]) -> None:
    """Before partitions may be registered, a failure goes straight to RecordFailure; from
    RegisterPartitions to CommitRun, to UnpublishRun first. The failure path's own steps and the steps
    after the commit catch everything and go on."""
    top = definition["States"]
    assert top["RunFailed"]["Type"] == "Fail"
    goes_on = {*UNPUBLISH_ROUTE, *FAILURE_ROUTE, *AFTER_COMMIT, "CountUnpublishFailure"}
    for name, _state, parent in tasks(definition):
        # A task inside a Parallel branch or a Map fails its parent, whose own Catch applies.
        owner = parent or name
        if owner in goes_on:
            continue
        catchers = top[owner].get("Catch", [])
        wanted = "UnpublishRun" if owner in BEFORE_COMMIT else "RecordFailure"
        assert any(
            "States.ALL" in catcher["ErrorEquals"]
            and catcher["Next"] == wanted
            and "failure" in catcher["Assign"]
            for catcher in catchers
        ), f"{name} is not caught into {wanted}"


def test_the_failure_path_always_reaches_the_fail_state(definition: dict[str, Any]) -> None:
    states = definition["States"]
    name = "RecordFailure"
    seen = []
    while states[name]["Type"] != "Fail":
        state = states[name]
        seen.append(name)
        # Each step goes on whether it worked or not, so the alert and the Fail always happen.
        assert [catcher["Next"] for catcher in state["Catch"]] == [state["Next"]], name
        name = state["Next"]
    assert seen == FAILURE_ROUTE[:-1]


def test_unpublishing_always_reaches_the_failure_path(definition: dict[str, Any]) -> None:
    """UnpublishRun drops the partitions, RetractLineage the lineage, then RecordFailure; if the drop fails
    for good, the cause says so and RunsLeftPublished is counted, and the route goes on all the same."""
    states = definition["States"]
    unpublish = states["UnpublishRun"]
    assert unpublish["Next"] == "RetractLineage" and states["RetractLineage"]["Next"] == "RecordFailure"
    (caught,) = unpublish["Catch"]
    assert caught["ErrorEquals"] == ["States.ALL"] and caught["Next"] == "UnpublishRunFailed"
    assert "MAY STILL BE REGISTERED" in states["UnpublishRunFailed"]["Assign"]["failure"]
    assert states["UnpublishRunFailed"]["Next"] == "CountUnpublishFailure"
    count = states["CountUnpublishFailure"]
    assert count["Arguments"]["MetricData"][0]["MetricName"] == "RunsLeftPublished"
    assert count["Next"] == "RetractLineage" and [c["Next"] for c in count["Catch"]] == ["RetractLineage"]
    assert [c["Next"] for c in states["RetractLineage"]["Catch"]] == ["RecordFailure"]
    (inner,) = unpublish["ItemProcessor"]["States"].values()
    assert inner["Resource"] == "arn:aws:states:::athena:startQueryExecution.sync"
    assert "DROP IF EXISTS ' & $states.input.drop_clause" in inner["Arguments"]["QueryString"]
    assert unpublish["ItemReader"] == states["RegisterPartitions"]["ItemReader"]
    # DROP IF EXISTS is idempotent: a failed statement is retried, not only a throttled one.
    retried = {error for rule in inner["Retry"] for error in rule["ErrorEquals"]}
    assert {"Athena.TooManyRequestsException", "States.TaskFailed"} <= retried


def test_a_run_is_published_at_one_conditional_commit(definition: dict[str, Any]) -> None:
    states = definition["States"]
    writers = [
        name
        for name, state, _ in cfn.iter_states(states)
        if state.get("Resource") == "arn:aws:states:::dynamodb:updateItem"
        and any(
            value == {"S": "SUCCEEDED"} for value in state["Arguments"]["ExpressionAttributeValues"].values()
        )
    ]
    assert writers == ["CommitRun"]
    commit = states["CommitRun"]["Arguments"]
    assert (
        commit["ConditionExpression"]
        == "#execution_arn = :execution_arn AND #status IN (:running, :succeeded)"
    )
    assert commit["ExpressionAttributeValues"][":running"] == {"S": "RUNNING"}
    # Partitions and lineage come before the commit, the announcement after it.
    assert states["RegisterPartitions"]["Next"] == "RecordLineage"
    assert states["RecordLineage"]["Next"] == "CommitRun"
    assert states["CommitRun"]["Next"] == "NotifySuccess"


def test_nothing_after_the_commit_fails_the_run(definition: dict[str, Any]) -> None:
    states = definition["States"]
    for name in AFTER_COMMIT[:-1]:
        state = states[name]
        assert [catcher["ErrorEquals"] for catcher in state["Catch"]] == [["States.ALL"]], name
        assert state["Catch"][0]["Next"] in AFTER_COMMIT, name
        assert state["Next"] in AFTER_COMMIT, name
    assert states["NotifySuccess"]["Catch"][0]["Next"] == "RecordNotificationError"
    assert (
        "notification_error"
        in states["RecordNotificationError"]["Arguments"]["ExpressionAttributeNames"].values()
    )
    count = states["CountNotificationFailure"]["Arguments"]["MetricData"][0]
    assert count["MetricName"] == "SuccessNotificationsFailed"
    assert states["RunSucceeded"]["Type"] == "Succeed"


def test_failures_before_registration_never_unpublish(definition: dict[str, Any]) -> None:
    """What fails before RegisterPartitions has registered nothing: UnpublishRun is only reachable from
    RegisterPartitions on."""
    states = definition["States"]

    def reachable(start: str, avoid: set[str]) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            name = todo.pop()
            if name in seen or name in avoid:
                continue
            seen.add(name)
            state = states[name]
            targets = [state.get("Next"), state.get("Default")]
            targets += [choice.get("Next") for choice in state.get("Choices", [])]
            targets += [catcher["Next"] for catcher in state.get("Catch", [])]
            todo.extend(target for target in targets if target)
        return seen

    early = reachable(definition["StartAt"], avoid={"RegisterPartitions", "RecordLineage"})
    assert "UnpublishRun" not in early and "RecordFailure" in early
    assert "UnpublishRun" in reachable("RegisterPartitions", avoid=set())


def test_transient_errors_are_retried_with_capped_jittered_backoff(definition: dict[str, Any]) -> None:
    for name, state, _ in tasks(definition):
        retriers = state.get("Retry", [])
        assert retriers, f"{name} has no Retry"
        for retrier in retriers:
            assert "States.ALL" not in retrier["ErrorEquals"], f"{name} retries every error"
            assert retrier.get("BackoffRate", 1) > 1, name
            assert retrier.get("MaxDelaySeconds"), name
            assert retrier.get("JitterStrategy") == "FULL", name
        retried = {error for retrier in retriers for error in retrier["ErrorEquals"]}
        resource = state["Resource"]
        if resource.startswith("arn:aws:states:::lambda:"):
            assert retried >= LAMBDA_TRANSIENT, name
        if resource.startswith("arn:aws:states:::glue:"):
            assert {"Glue.ConcurrentRunsExceededException", "Glue.AWSGlueException"} <= retried, name
        if resource.startswith("arn:aws:states:::athena:"):
            assert "Athena.TooManyRequestsException" in retried, name
        if resource.startswith("arn:aws:states:::dynamodb:"):
            assert {
                "DynamoDB.ProvisionedThroughputExceededException",
                "DynamoDB.ThrottlingException",
            } <= retried


def test_the_glue_task_passes_the_documented_arguments(definition: dict[str, Any]) -> None:
    branch = definition["States"]["TransformAndCatalog"]["Branches"][0]["States"]
    arguments = branch["RunTransformJob"]["Arguments"]
    assert arguments["JobName"] == "${TransformJobName}"
    # docs/interfaces.md: the job arguments of both executors; the plan replaces the contract.
    assert set(arguments["Arguments"]) == {f"--{name}" for name in EXECUTOR_ARGUMENTS}


def test_the_transform_path_is_a_choice_on_the_accepted_bytes(
    template: dict[str, Any], definition: dict[str, Any]
) -> None:
    branch = definition["States"]["TransformAndCatalog"]["Branches"][0]
    assert branch["StartAt"] == "ChooseTransformPath"
    choice = branch["States"]["ChooseTransformPath"]
    assert choice["Type"] == "Choice" and choice["Default"] == "RunTransformJob"
    (rule,) = choice["Choices"]
    assert rule["Next"] == "RunSmallTransform"
    assert rule["Condition"] == "{% $acceptedBytes <= $smallRunMaxBytes and $smallRunMaxBytes > 0 %}"
    assert (
        definition["States"]["InitRun"]["Assign"]["smallRunMaxBytes"]
        == "{% $number('${SmallRunMaxBytes}') %}"
    )
    assert definition["States"]["ValidateObjects"]["Assign"]["acceptedBytes"] == (
        "{% $states.result.Payload.accepted_bytes %}"
    )
    parameter = template["Parameters"]["SmallRunMaxBytes"]
    assert (parameter["Type"], parameter["MinValue"]) == ("Number", 0)
    substitutions = cfn.state_machine_resource(template)["Properties"]["DefinitionSubstitutions"]
    assert substitutions["SmallRunMaxBytes"] == {"Ref": "SmallRunMaxBytes"}
    # Both paths end the branch, with the same output keys (the Parallel's Assign reads them).
    small, glue = branch["States"]["RunSmallTransform"], branch["States"]["RunTransformJob"]
    assert small.get("End") is True and glue.get("End") is True
    keys = re.compile(r"'(\w+)':")
    assert (
        keys.findall(small["Output"]) == keys.findall(glue["Output"]) == ["path", "glue_job_run_id", "status"]
    )
    assert "'path': 'lite'" in small["Output"] and "'path': 'glue'" in glue["Output"]


def test_the_small_transform_gets_the_job_arguments_and_outlives_its_function(
    template: dict[str, Any], definition: dict[str, Any]
) -> None:
    branch = definition["States"]["TransformAndCatalog"]["Branches"][0]["States"]
    small, glue = branch["RunSmallTransform"], branch["RunTransformJob"]
    assert small["Resource"] == "arn:aws:states:::lambda:invoke"
    assert small["Arguments"]["FunctionName"] == "${TransformLiteFunctionArn}"
    payload = small["Arguments"]["Payload"]
    assert set(payload) == set(EXECUTOR_ARGUMENTS)
    for name, value in payload.items():
        assert glue["Arguments"]["Arguments"][f"--{name}"] == value, name
    function = template["Resources"]["TransformLiteFunction"]["Properties"]
    assert (function["CodeUri"], function["Handler"]) == (
        "functions/transform_lite/",
        "transform_lite.handler.lambda_handler",
    )
    # Lambda's own timeout (its message says so) surfaces before the task's.
    assert 0 < small["TimeoutSeconds"] - function["Timeout"] <= 120
    assert function["Timeout"] <= 900
    assert small["Retry"] == definition["States"]["ValidateObjects"]["Retry"]


def test_partitions_are_registered_with_add_if_not_exists_in_the_workgroup(
    definition: dict[str, Any],
) -> None:
    state = definition["States"]["RegisterPartitions"]
    # A distributed Map over runs/<run_id>/partition-batches.json, one batch at a time: the batches
    # never enter the state payload, and DDL statements on one table do not race.
    assert state["Type"] == "Map"
    assert state["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    assert state["ItemReader"]["ReaderConfig"] == {"InputType": "JSON"}
    assert state["ItemReader"]["Arguments"]["Bucket"] == "${ArtifactsBucketName}"
    assert "/partition-batches.json" in state["ItemReader"]["Arguments"]["Key"]
    assert state["MaxConcurrency"] == 1
    assert state["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    (inner,) = state["ItemProcessor"]["States"].values()
    assert inner["Resource"] == "arn:aws:states:::athena:startQueryExecution.sync"
    assert "ADD IF NOT EXISTS" in inner["Arguments"]["QueryString"]
    assert "$states.input.clause" in inner["Arguments"]["QueryString"]
    assert inner["Arguments"]["WorkGroup"] == "${AthenaWorkGroupName}"
    assert inner["TimeoutSeconds"] and inner["Retry"]
    # Earlier batches may be visible already: a failed batch unpublishes the run.
    assert [catcher["Next"] for catcher in state["Catch"]] == ["UnpublishRun"]


def test_the_state_machine_reads_the_summary_not_the_whole_result(definition: dict[str, Any]) -> None:
    read = definition["States"]["ReadTransformResult"]
    assert read["Arguments"]["Key"].endswith("/summary.json' %}")
    text = json.dumps(definition)
    for unbounded in ("partition_clause", "$doc.partitions", "$doc.objects", "$doc.outputs"):
        # objects_failed (a count) and failed_objects_uri are bounded; the lists are not.
        assert re.search(re.escape(unbounded) + r"\b(?!_)", text) is None, unbounded


def test_the_quality_gate_decides_on_the_result_document(definition: dict[str, Any]) -> None:
    gate = definition["States"]["QualityGate"]
    assert gate["Type"] == "Choice"
    assert any("quality.passed" in rule["Condition"] for rule in gate["Choices"])
    assert gate["Default"] != "RegisterPartitions"


# ---------------------------------------------------------------- IAM


_allows = cfn.allows


def test_the_state_machine_role_covers_every_task(
    translated: dict[str, Any], definition: dict[str, Any]
) -> None:
    role = translated["Resources"]["PipelineStateMachineRole"]
    granted = cfn.statements(role)
    for name, state, _ in tasks(definition):
        needed = INTEGRATION_ACTIONS.get(state["Resource"])
        assert needed is not None, f"{name}: no known IAM mapping for {state['Resource']}"
        for action in needed:
            assert _allows(granted, action), f"{name} needs {action}"


def test_the_state_machine_role_covers_its_distributed_map(
    translated: dict[str, Any], definition: dict[str, Any]
) -> None:
    granted = cfn.statements(translated["Resources"]["PipelineStateMachineRole"])
    maps = [
        name
        for name, state, _ in cfn.iter_states(definition["States"])
        if state["Type"] == "Map" and state["ItemProcessor"]["ProcessorConfig"].get("Mode") == "DISTRIBUTED"
    ]
    assert maps == ["ValidateEachObject", "RegisterPartitions", "UnpublishRun"]
    for action in DISTRIBUTED_MAP_ACTIONS:
        assert _allows(granted, action), f"the distributed Maps need {action}"
    (start,) = _allows(granted, "states:StartExecution")
    assert "PipelineStateMachine-*" in str(start["Resource"])
    readers = {
        state["ItemReader"]["Resource"]
        for _, state, _ in cfn.iter_states(definition["States"])
        if "ItemReader" in state
    }
    for reader in readers:
        for action in INTEGRATION_ACTIONS[reader]:
            assert _allows(granted, action), f"the ItemReader needs {action}"
    writers = {
        state["ResultWriter"]["Resource"]
        for _, state, _ in cfn.iter_states(definition["States"])
        if "Resource" in state.get("ResultWriter", {})
    }
    assert writers == {"arn:aws:states:::s3:putObject"}
    for writer in writers:
        for action in INTEGRATION_ACTIONS[writer]:
            assert _allows(granted, action), f"the ResultWriter needs {action}"
    # ValidateEachObject's results, under its Prefix (runs/<run_id>/validation/results).
    puts = _allows(granted, "s3:PutObject")
    assert any("/runs/*/validation/results/*" in str(put["Resource"]) for put in puts)


def test_the_state_machine_role_may_drop_the_partitions_it_adds(translated: dict[str, Any]) -> None:
    granted = cfn.statements(translated["Resources"]["PipelineStateMachineRole"])
    for action in ("glue:BatchCreatePartition", "glue:DeletePartition", "glue:BatchDeletePartition"):
        assert _allows(granted, action), f"UnpublishRun needs {action}"


def test_the_state_machine_may_invoke_exactly_the_functions_it_calls(
    template: dict[str, Any], translated: dict[str, Any], definition: dict[str, Any]
) -> None:
    substitutions = cfn.state_machine_resource(template)["Properties"]["DefinitionSubstitutions"]
    called = set()
    for _, state, _ in tasks(definition):
        if state["Resource"] in (
            "arn:aws:states:::lambda:invoke",
            "arn:aws:states:::lambda:invoke.waitForTaskToken",
        ):
            placeholder = cfn.PLACEHOLDER.fullmatch(state["Arguments"]["FunctionName"])
            assert placeholder, "FunctionName must be a substitution"
            called |= cfn.references(substitutions[placeholder.group(1)])
    invocable = set()
    for statement in _allows(
        cfn.statements(translated["Resources"]["PipelineStateMachineRole"]), "lambda:InvokeFunction"
    ):
        invocable |= cfn.references(statement["Resource"])
    assert (
        called
        == invocable
        == {
            "ValidateFunction",
            "CatalogFunction",
            "LineageFunction",
            "QuarantineFunction",
            "TransformLiteFunction",
            "ApprovalFunction",
        }
    )
