"""The state machine's data (definition, execution history, inputs and outputs) is encrypted with the
stack's customer managed key, and everyone who touches that data can use the key.

AWS::Serverless::StateMachine (aws-sam-translator 1.115.0) has no EncryptionConfiguration, so
PipelineStateMachine is a plain AWS::StepFunctions::StateMachine with an explicit role; these tests also
check that the role keeps everything SAM generated for the same state machine.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.template import cfn
from tests.template.code_calls import required_actions

# Step Functions API calls that return the state machine's encrypted data: the caller needs kms:Decrypt
# on the key (Step Functions API reference, `includedData`; AWS's guide "Data at rest encryption").
# Starting an execution or answering a task token is encrypted with the execution role's permissions.
READS_ENCRYPTED_DATA = {
    "states:GetExecutionHistory",
    "states:DescribeExecution",
    "states:DescribeStateMachine",
    "states:DescribeStateMachineForExecution",
    "states:StartSyncExecution",
}


def _names_data_key(statement: dict[str, Any]) -> bool:
    # !GetAtt DataKey.Arn, or SAM's KMSDecryptPolicy: !Sub [arn:...:key/${keyId}, {keyId: !Ref DataKey}].
    return any("DataKey" in cfn.references(resource) for resource in cfn.as_list(statement["Resource"]))


def test_the_state_machine_is_encrypted_with_the_stacks_key(template: dict[str, Any]) -> None:
    resource = cfn.state_machine_resource(template)
    assert resource["Type"] == "AWS::StepFunctions::StateMachine"
    encryption = resource["Properties"]["EncryptionConfiguration"]
    assert encryption["Type"] == "CUSTOMER_MANAGED_KMS_KEY"
    assert cfn.references(encryption["KmsKeyId"]) == {"DataKey"}
    assert 60 <= encryption["KmsDataKeyReusePeriodSeconds"] <= 900
    # No state machine is left that SAM would create without encryption.
    serverless = [
        name for name, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::StateMachine"
    ]
    assert not serverless


def test_only_step_functions_of_this_account_may_assume_the_role(template: dict[str, Any]) -> None:
    role = template["Resources"]["PipelineStateMachineRole"]
    assert cfn.references(cfn.state_machine_resource(template)["Properties"]["RoleArn"]) == {
        "PipelineStateMachineRole"
    }
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "states.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    condition = trust["Condition"]
    assert condition["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    source = condition["ArnLike"]["aws:SourceArn"]["Fn::Sub"]
    assert source == "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:*"


def test_the_role_may_encrypt_and_decrypt_the_state_machines_data(translated: dict[str, Any]) -> None:
    granted = cfn.statements(translated["Resources"]["PipelineStateMachineRole"])
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        on_key = [statement for statement in cfn.allows(granted, action) if _names_data_key(statement)]
        assert on_key, f"the state machine's role lacks {action} on DataKey"
        for statement in on_key:
            # A condition, if any, must let the state machine's own encryption context through.
            context = statement.get("Condition", {})
            assert not context or "kms:EncryptionContext:aws:states:stateMachineArn" in str(context)


def test_the_log_delivery_may_read_the_encrypted_execution_data(resources: dict[str, Any]) -> None:
    """Execution logs go through CloudWatch Logs' log delivery, which decrypts the execution data."""
    statements = resources["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
    delivery = [s for s in statements if s.get("Principal") == {"Service": "delivery.logs.amazonaws.com"}]
    assert [s["Action"] for s in delivery] == ["kms:Decrypt"]
    assert delivery[0]["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


def _as_serverless(template: dict[str, Any]) -> dict[str, Any]:
    """The same state machine written as AWS::Serverless::StateMachine, with the explicit role's inline
    statements as its Policies: what SAM would generate for it."""
    serverless = copy.deepcopy(template)
    resources = serverless["Resources"]
    properties = resources["PipelineStateMachine"]["Properties"]
    statements = cfn.statements(resources.pop("PipelineStateMachineRole"))
    resources["PipelineStateMachine"] = {
        "Type": "AWS::Serverless::StateMachine",
        "Properties": {
            "Type": properties["StateMachineType"],
            "DefinitionUri": properties["DefinitionS3Location"],
            "DefinitionSubstitutions": properties["DefinitionSubstitutions"],
            "Logging": properties["LoggingConfiguration"],
            "Tracing": properties["TracingConfiguration"],
            "Policies": [{"Statement": statements}],
        },
    }
    return serverless


def _managed_policies(role: dict[str, Any]) -> set[str]:
    found = set()
    for arn in role["Properties"].get("ManagedPolicyArns", []):
        text = arn["Fn::Sub"] if isinstance(arn, dict) else arn
        found.add(text.replace("${AWS::Partition}", "aws"))
    return found


def test_the_role_keeps_what_sam_generated_for_the_same_state_machine(
    template: dict[str, Any], translated: dict[str, Any]
) -> None:
    generated = cfn.translate(_as_serverless(template))["Resources"]["PipelineStateMachineRole"]
    explicit = translated["Resources"]["PipelineStateMachineRole"]
    assert _managed_policies(generated) <= _managed_policies(explicit)
    assert "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess" in _managed_policies(explicit)  # Tracing
    missing = [s for s in cfn.statements(generated) if s not in cfn.statements(explicit)]
    assert not missing, f"statements SAM generated that the explicit role lacks: {missing}"
    assert cfn.allows(cfn.statements(explicit), "logs:CreateLogDelivery"), (
        "execution logging needs log delivery"
    )


def _functions_reading_execution_data(template: dict[str, Any]) -> dict[str, set[str]]:
    """Function → the Step Functions calls of its code that return encrypted execution data."""
    found: dict[str, set[str]] = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        folder = str(resource["Properties"]["CodeUri"]).strip("/").split("/")[-1]
        reads = set(required_actions(folder)) & READS_ENCRYPTED_DATA
        if reads:
            found[name] = reads
    return found


def _functions_without_decrypt(template: dict[str, Any]) -> list[str]:
    translated = cfn.translate(template)
    lacking = []
    for function in _functions_reading_execution_data(template):
        granted = cfn.statements(translated["Resources"][f"{function}Role"])
        if not any(_names_data_key(s) for s in cfn.allows(granted, "kms:Decrypt")):
            lacking.append(function)
    return lacking


def test_functions_that_read_execution_data_may_decrypt_it(template: dict[str, Any]) -> None:
    readers = _functions_reading_execution_data(template)
    # run_cost prices an ended execution from its history: the analysis must see it.
    assert "states:GetExecutionHistory" in readers.get("RunCostFunction", set())
    assert not _functions_without_decrypt(template)


def test_a_reader_without_decrypt_is_reported(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    policies = broken["Resources"]["RunCostFunction"]["Properties"]["Policies"]
    policies[:] = [p for p in policies if not (isinstance(p, dict) and "KMSDecryptPolicy" in p)]
    assert _functions_without_decrypt(broken) == ["RunCostFunction"]


@pytest.mark.parametrize("removed", ["EncryptionConfiguration", "ManagedPolicyArns"])
def test_the_checks_fail_without_what_they_check(template: dict[str, Any], removed: str) -> None:
    broken = copy.deepcopy(template)
    if removed == "EncryptionConfiguration":
        del broken["Resources"]["PipelineStateMachine"]["Properties"][removed]
        with pytest.raises(KeyError):
            test_the_state_machine_is_encrypted_with_the_stacks_key(broken)
    else:
        del broken["Resources"]["PipelineStateMachineRole"]["Properties"][removed]
        with pytest.raises(AssertionError):
            test_the_role_keeps_what_sam_generated_for_the_same_state_machine(broken, cfn.translate(broken))


def test_sam_package_uploads_the_definition_file(tmp_path: Path) -> None:
    """`sam package` (as `sam deploy` does) against a local S3: the state machine's DefinitionS3Location
    becomes the {Bucket, Key} of an uploaded copy of statemachine/pipeline.asl.json."""
    from tributary.local.endpoints.moto_server import MotoServer

    config = tmp_path / "samconfig.toml"  # not the repository's: its resolve_s3 excludes --s3-bucket
    config.write_text("version = 0.1\n")
    packaged = tmp_path / "packaged.yaml"
    with MotoServer() as server:
        s3 = server.client("s3")
        s3.create_bucket(Bucket="packaging")
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": server.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "SAM_CLI_TELEMETRY": "0",
        }
        command = [
            str(Path(sys.executable).with_name("sam")),
            "package",
            "--template-file",
            str(cfn.template_path()),
        ]
        command += [
            "--s3-bucket",
            "packaging",
            "--output-template-file",
            str(packaged),
            "--region",
            "us-east-1",
        ]
        result = subprocess.run(
            [*command, "--config-file", str(config)], env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr[-2000:]
        location = cfn.state_machine_resource(cfn.load_template(packaged))["Properties"][
            "DefinitionS3Location"
        ]
        assert location["Bucket"] == "packaging"
        uploaded = s3.get_object(Bucket="packaging", Key=location["Key"])["Body"].read()
    assert uploaded == cfn.definition_path(cfn.load_template()).read_bytes()
