"""Human approval in template.yaml (issue 12): the function URL is IAM-authenticated, who may decide is
one managed policy that reaches the function through its URL only, and the timeout is a parameter the
state machine's AwaitApproval takes."""

from __future__ import annotations

from typing import Any

from tests.template import cfn

STANDARD_EXECUTION_LIMIT = 365 * 24 * 3600  # a Standard execution runs for a year at most


def test_decisions_come_through_an_iam_authenticated_function_url(
    template: dict[str, Any], translated: dict[str, Any]
) -> None:
    function = template["Resources"]["ApprovalFunction"]["Properties"]
    assert function["FunctionUrlConfig"] == {"AuthType": "AWS_IAM"}
    url = translated["Resources"]["ApprovalFunctionUrl"]
    assert url["Type"] == "AWS::Lambda::Url" and url["Properties"]["AuthType"] == "AWS_IAM"
    # No resource policy opens it: with AWS_IAM, the callers' own policies decide.
    permissions = [r for r in translated["Resources"].values() if r["Type"] == "AWS::Lambda::Permission"]
    assert not [
        p for p in permissions if "ApprovalFunction" in cfn.references(p["Properties"]["FunctionName"])
    ]
    outputs = template["Outputs"]
    assert cfn.references(outputs["ApprovalFunctionUrl"]["Value"]) == {"ApprovalFunctionUrl"}
    assert cfn.references(outputs["ApprovalDecidersPolicyArn"]["Value"]) == {"ApprovalDecidersPolicy"}


def test_deciders_may_call_the_url_and_nothing_else(template: dict[str, Any]) -> None:
    policy = template["Resources"]["ApprovalDecidersPolicy"]
    assert policy["Type"] == "AWS::IAM::ManagedPolicy"
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    granted = {cfn.as_list(s["Action"])[0]: s for s in statements}
    assert set(granted) == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
    for statement in statements:
        assert statement["Effect"] == "Allow" and len(cfn.as_list(statement["Action"])) == 1
        assert cfn.references(statement["Resource"]) == {"ApprovalFunction"}
    assert granted["lambda:InvokeFunctionUrl"]["Condition"] == {
        "StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}
    }
    # lambda:InvokeFunction only through the URL: a direct invoke could carry a made-up caller.
    assert granted["lambda:InvokeFunction"]["Condition"] == {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}


def test_the_timeout_is_a_parameter_the_wait_takes(
    template: dict[str, Any], definition: dict[str, Any]
) -> None:
    parameter = template["Parameters"]["ApprovalTimeoutSeconds"]
    assert parameter["Type"] == "Number" and parameter["MinValue"] == 0
    assert 0 < parameter["Default"] <= parameter["MaxValue"] <= STANDARD_EXECUTION_LIMIT
    substitutions = cfn.state_machine_resource(template)["Properties"]["DefinitionSubstitutions"]
    assert substitutions["ApprovalTimeoutSeconds"] == {"Ref": "ApprovalTimeoutSeconds"}
    wait = definition["States"]["AwaitApproval"]
    assert wait["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert "${ApprovalTimeoutSeconds}" in wait["TimeoutSeconds"]
    assert "$states.context.Task.Token" in wait["Arguments"]["Payload"]["task_token"]
    # 0 turns the question off: CanBeApproved sends the run to the failure route at once.
    (choice,) = definition["States"]["CanBeApproved"]["Choices"]
    assert "$number('${ApprovalTimeoutSeconds}') > 0" in choice["Condition"]
