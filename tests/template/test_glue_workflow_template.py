"""templates/glue-workflow.yaml, the Glue Workflow variant: its resources fit together (EVENT trigger
with batching, the rule's two targets, conditional trigger), and each role allows what its job's code
calls and nothing of another service (IAM actions read from the scripts and the validate package)."""

from __future__ import annotations

import ast
import copy
from typing import Any

import pytest

from tests.template import cfn
from tests.template.code_calls import iam_actions, operations, required_actions

TEMPLATE = cfn.REPO / "templates" / "glue-workflow.yaml"
SCRIPTS = cfn.REPO / "glue" / "workflow"
CLIENT_NAMES = {"glue": "glue", "sqs": "sqs", "s3": "s3"}  # variable → service, as the scripts name them


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn.load_template(TEMPLATE)


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def test_it_translates(template: dict[str, Any]) -> None:
    assert cfn.translate(template, TEMPLATE)["Resources"]


def test_event_trigger_batches_and_starts_the_transform(resources: dict[str, Any]) -> None:
    trigger = resources["StartOnEvents"]["Properties"]
    assert trigger["Type"] == "EVENT"
    assert trigger["WorkflowName"] == {"Ref": "Workflow"}
    assert trigger["EventBatchingCondition"] == {
        "BatchSize": {"Ref": "EventBatchSize"},
        "BatchWindow": {"Ref": "EventBatchWindowSeconds"},
    }
    assert trigger["Actions"] == [{"JobName": {"Ref": "TransformJob"}}]


def test_publish_runs_only_after_the_transform_succeeded(resources: dict[str, Any]) -> None:
    triggers = _of_type(resources, "AWS::Glue::Trigger")
    conditional = [t["Properties"] for t in triggers.values() if t["Properties"]["Type"] == "CONDITIONAL"]
    assert len(conditional) == 1
    (only,) = conditional
    assert only["StartOnCreation"] is True
    assert only["Predicate"]["Conditions"] == [
        {"LogicalOperator": "EQUALS", "JobName": {"Ref": "TransformJob"}, "State": "SUCCEEDED"}
    ]
    assert only["Actions"] == [{"JobName": {"Ref": "PublishJob"}}]
    assert not _of_type(resources, "AWS::Glue::Crawler")  # partitions are registered, never crawled


def test_the_jobs_run_the_scripts_beside_the_shared_transform(resources: dict[str, Any]) -> None:
    transform = resources["TransformJob"]["Properties"]
    assert transform["GlueVersion"] == "5.0" and transform["Command"]["Name"] == "glueetl"
    publish = resources["PublishJob"]["Properties"]
    assert publish["Command"]["Name"] == "pythonshell"
    for props in (transform, publish):
        script = TEMPLATE.parent / props["Command"]["ScriptLocation"]
        assert script.resolve().parent == SCRIPTS and script.exists()
        assert props["MaxRetries"] == 0  # a retry is the next batch's run (the events come back)
    assert "transform.py" in transform["DefaultArguments"]["--extra-py-files"]["Fn::Sub"]


def test_the_rule_feeds_the_queue_and_the_workflow(resources: dict[str, Any]) -> None:
    rule = resources["ObjectCreatedRule"]["Properties"]
    assert rule["EventPattern"]["detail-type"] == ["Object Created"]
    assert rule["EventPattern"]["detail"]["object"]["key"] == [{"prefix": "incoming/"}]
    targets = {t["Id"]: t for t in rule["Targets"]}
    assert targets["EventsQueue"]["Arn"] == {"Fn::GetAtt": ["WorkflowEventsQueue", "Arn"]}
    workflow_target = targets["Workflow"]
    assert "workflow/${Workflow}" in workflow_target["Arn"]["Fn::Sub"]
    role = resources[workflow_target["RoleArn"]["Fn::GetAtt"][0]]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "events.amazonaws.com"
    }
    (statement,) = cfn.statements(role)
    assert statement["Action"] == "glue:notifyEvent"
    assert "workflow/${Workflow}" in statement["Resource"]["Fn::Sub"]
    # the queue's visibility outlasts a job run: a batch's events stay hidden while its run works
    timeout = resources["WorkflowEventsQueue"]["Properties"]["VisibilityTimeout"]
    assert timeout >= 60 * cfn.load_template(TEMPLATE)["Parameters"]["JobTimeoutMinutes"]["MaxValue"]


def _script_actions(*names: str) -> set[str]:
    """IAM actions of the `<client>.<operation>(...)` calls in the given scripts."""
    actions: set[str] = set()
    for name in names:
        for node in ast.walk(ast.parse((SCRIPTS / name).read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                service = CLIENT_NAMES.get(owner.id) if isinstance(owner, ast.Name) else None
                if service and node.func.attr in operations(service) | {"download_file", "get_paginator"}:
                    if node.func.attr == "get_paginator":  # the scripts paginate list_objects_v2 only
                        actions |= iam_actions("s3", "list_objects_v2")
                    else:
                        actions |= iam_actions(service, node.func.attr)
    return actions


def _allowed(role: dict[str, Any]) -> set[str]:
    return {
        action for s in cfn.statements(role) if s["Effect"] == "Allow" for action in cfn.as_list(s["Action"])
    }


def _role_problems(resources: dict[str, Any]) -> list[str]:
    """What each job role lacks of its code's calls, and what it allows beyond them."""
    validate = {a for a in required_actions("validate") if not a.startswith("dynamodb:")}  # no run records
    needs = {
        "TransformJobRole": _script_actions("transform_step.py", "workflow_common.py") | validate,
        "PublishJobRole": _script_actions("publish.py", "workflow_common.py") - {"s3:ListBucket"},
    }
    logs = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}
    # the transform's own S3 writes (Spark) and deletes of its run_id= prefixes are not boto3 calls
    spark_s3 = {"s3:DeleteObject", "s3:ListBucket", "s3:GetObjectVersion", "s3:PutObject"}
    problems = []
    for role_name, needed in needs.items():
        allowed = _allowed(resources[role_name])
        problems += [f"{role_name} lacks {a}" for a in sorted(needed - allowed)]
        problems += [f"{role_name} allows {a}" for a in sorted(allowed - needed - logs - spark_s3)]
    for role_name in ("TransformJobRole", "PublishJobRole", "EventBridgeToWorkflowRole"):
        problems += [
            f"{role_name}: Resource *" for s in cfn.statements(resources[role_name]) if s["Resource"] == "*"
        ]
    return problems


def test_roles_allow_what_the_code_calls_and_nothing_else(resources: dict[str, Any]) -> None:
    assert "glue:PutWorkflowRunProperties" in _script_actions("transform_step.py")
    assert "glue:BatchCreatePartition" in _script_actions("publish.py")
    assert _role_problems(resources) == []


def test_the_role_check_catches_a_missing_and_an_extra_action(resources: dict[str, Any]) -> None:
    mutated = copy.deepcopy(resources)
    for statement in cfn.statements(mutated["TransformJobRole"]):
        if statement.get("Sid") == "BatchEvents":
            statement["Action"] = [a for a in statement["Action"] if a != "sqs:DeleteMessage"]
    cfn.statements(mutated["PublishJobRole"])[0]["Action"] = [
        "glue:GetWorkflowRunProperties",
        "dynamodb:PutItem",
    ]
    problems = _role_problems(mutated)
    assert "TransformJobRole lacks sqs:DeleteMessage" in problems
    assert "PublishJobRole allows dynamodb:PutItem" in problems


def test_lint_covers_the_template() -> None:
    makefile = (cfn.REPO / "Makefile").read_text()
    assert "cfn-lint templates/glue-workflow.yaml" in makefile
    assert "sam validate --template templates/glue-workflow.yaml" in makefile


def test_scripts_of_the_python_shell_job_stay_python_3_9() -> None:
    """Glue Python shell runs Python 3.9: the publish step and its helper parse as 3.9."""
    for name in ("publish.py", "workflow_common.py"):
        tree = ast.parse((SCRIPTS / name).read_text(), feature_version=(3, 9))
        newer = {"UTC", "StrEnum", "TaskGroup"}  # datetime.UTC, enum.StrEnum, asyncio.TaskGroup: 3.11
        used = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        used |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        assert not used & newer, (name, used & newer)
