"""Each function's role allows the calls its code makes (read from functions/), and little else."""

from __future__ import annotations

import fnmatch
from typing import Any

import pytest

from tests.template import cfn
from tests.template.code_calls import FUNCTIONS_DIR, required_actions

FUNCTIONS = {
    "TriggerFunction": "trigger",
    "ValidateFunction": "validate",
    "CatalogFunction": "catalog",
    "LineageFunction": "lineage",
    "QuarantineFunction": "quarantine",
    "SweepFunction": "sweep",
    "TransformLiteFunction": "transform_lite",
    "ApprovalFunction": "approval",
}
# Granted without a matching call in the code, each for a reason the code cannot show.
ENCRYPTION = {
    "kms:Decrypt": "reading SSE-KMS objects, queue messages and the key's data keys",
    "kms:GenerateDataKey": "writing SSE-KMS objects and queue messages",
}
JUSTIFIED_EXTRAS = {
    "TriggerFunction": ENCRYPTION,
    "ValidateFunction": {
        **ENCRYPTION,
        "s3:GetObjectVersion": "reads and quarantine copies name the object version the event carried",
        "s3:GetObjectTagging": "CopyObject (quarantine of a refused object) copies the source's tags",
        "s3:GetObjectVersionTagging": "CopyObject copies the source version's tags",
        "s3:PutObjectTagging": "copies carry tags: the source's (quarantine), or the expiry tag (staging)",
        "s3:AbortMultipartUpload": "the managed copy aborts a multipart copy (staging) that failed",
        "s3:ListBucket": "a missing upload must answer 404, not 403",
    },
    "CatalogFunction": ENCRYPTION,
    "LineageFunction": ENCRYPTION,
    "QuarantineFunction": {
        **ENCRYPTION,
        "s3:GetObjectVersion": "copies name the object version of the run",
        "s3:GetObjectTagging": "CopyObject copies the source's tags",
        "s3:GetObjectVersionTagging": "CopyObject copies the source version's tags",
        "s3:PutObjectTagging": "CopyObject copies the source's tags",
        "s3:ListBucket": "a deleted upload must answer 404, not 403",
    },
    "SweepFunction": ENCRYPTION,
    "ApprovalFunction": ENCRYPTION,
    "TransformLiteFunction": {
        **ENCRYPTION,
        "s3:AbortMultipartUpload": "upload_file aborts a multipart upload (a part above 8 MB) that failed",
    },
}


def granted_actions(translated: dict[str, Any], function: str) -> set[str]:
    """Actions of the role's inline policies (SAM's managed logging/X-Ray/SQS-poller policies aside)."""
    role = translated["Resources"][f"{function}Role"]
    return {
        action
        for statement in cfn.statements(role)
        if statement["Effect"] == "Allow"
        for action in cfn.as_list(statement["Action"])
    }


def is_granted(action: str, granted: set[str]) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in granted)


def code_of(function: str) -> str:
    folder = FUNCTIONS[function]
    if not (FUNCTIONS_DIR / folder / folder / "handler.py").is_file():
        pytest.fail(f"functions/{folder}/{folder}/handler.py is missing")
    return folder


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_the_role_covers_every_call_of_the_code(translated: dict[str, Any], function: str) -> None:
    needed = required_actions(code_of(function))
    assert needed, f"no AWS call found in functions/{FUNCTIONS[function]}/: the analysis is broken"
    granted = granted_actions(translated, function)
    missing = {action: sorted(calls) for action, calls in needed.items() if not is_granted(action, granted)}
    assert not missing, f"{function} lacks {missing}"


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_the_role_grants_nothing_the_code_does_not_use(translated: dict[str, Any], function: str) -> None:
    needed = set(required_actions(code_of(function)))
    extras = granted_actions(translated, function) - needed - set(JUSTIFIED_EXTRAS[function])
    assert not extras, f"{function} is granted {sorted(extras)} that its code never calls"


def test_the_analysis_sees_calls_made_through_the_shared_layer() -> None:
    # The trigger writes manifests through etl_common.artifacts and run records through etl_common.runs.
    trigger = required_actions("trigger")
    assert "s3.put_object" in trigger["s3:PutObject"]
    assert "dynamodb.put_item" in trigger["dynamodb:PutItem"]
    assert "DynamoDBPersistenceLayer" in trigger["dynamodb:DeleteItem"]
    assert "states:StartExecution" in trigger
    # and does not count layer code the function never reaches (lineage writes, for the sweep)
    assert "dynamodb:BatchWriteItem" not in required_actions("sweep")


def _resources_granting(translated: dict[str, Any], function: str, action: str) -> set[str]:
    role = translated["Resources"][f"{function}Role"]
    return {
        str(resource.get("Fn::Sub", resource)) if isinstance(resource, dict) else resource
        for statement in cfn.statements(role)
        if statement["Effect"] == "Allow" and action in cfn.as_list(statement["Action"])
        for resource in cfn.as_list(statement["Resource"])
    }


@pytest.mark.parametrize("function", ["ValidateFunction", "QuarantineFunction"])
def test_functions_that_quarantine_copy_from_uploads_into_the_quarantine_prefix(
    translated: dict[str, Any], function: str
) -> None:
    # Both copy inputs with etl_common.quarantine: read the upload's version, write quarantine/<...>.
    assert "${RawBucket.Arn}/incoming/*" in _resources_granting(translated, function, "s3:GetObjectVersion")
    assert "${ArtifactsBucket.Arn}/quarantine/*" in _resources_granting(translated, function, "s3:PutObject")
    assert "${ArtifactsBucket.Arn}/quarantine/*" in _resources_granting(
        translated, function, "s3:PutObjectTagging"
    )


def test_validate_stages_accepted_versions_into_the_runs_input_prefix_with_an_expiry_tag(
    translated: dict[str, Any], resources: dict[str, Any], template: dict[str, Any]
) -> None:
    from validate.staging import STAGED_TAG_KEY, STAGED_TAG_VALUE

    # validate/staging.py copies each accepted version (read by version id) to runs/<run_id>/input/.
    assert "${RawBucket.Arn}/incoming/*" in _resources_granting(
        translated, "ValidateFunction", "s3:GetObjectVersion"
    )
    assert "${ArtifactsBucket.Arn}/runs/*" in _resources_granting(
        translated, "ValidateFunction", "s3:PutObject"
    )
    for action in ("s3:PutObjectTagging", "s3:AbortMultipartUpload"):
        assert _resources_granting(translated, "ValidateFunction", action) & {
            "${ArtifactsBucket.Arn}/runs/*/input/*",
            "${ArtifactsBucket.Arn}/runs/*",
        }, action
    # The copies expire by their tag, sooner than the run documents beside them.
    rules = {
        rule["Id"]: rule
        for rule in resources["ArtifactsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    }
    staged = rules["ExpireStagedInputs"]
    assert staged["Status"] == "Enabled" and staged["Prefix"] == "runs/"
    assert staged["TagFilters"] == [{"Key": STAGED_TAG_KEY, "Value": STAGED_TAG_VALUE}]
    # The run documents live as long as the run records (RunTtlDays), never less than 15 days.
    assert rules["ExpireRunDocuments"]["ExpirationInDays"] == {"Ref": "RunTtlDays"}
    assert staged["ExpirationInDays"] <= template["Parameters"]["RunTtlDays"]["MinValue"]
