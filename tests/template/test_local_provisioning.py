"""The local toolkit provisions this very template: every resource the pipeline needs must be emulated."""

from __future__ import annotations

import json

import pytest

from tests.template import cfn
from tributary.local.endpoints.moto_server import MotoServer
from tributary.local.provisioning import provision

# Types that only matter on AWS (nothing in a local run reads them): the trail records AWS's own S3 data
# events.
NOT_NEEDED_LOCALLY = {"AWS::CloudWatch::Dashboard", "AWS::CloudTrail::Trail"}


@pytest.mark.parametrize("config_env", ["default", "prod"])
def test_the_template_provisions_locally(config_env: str) -> None:
    with MotoServer() as server:
        stack = provision(cfn.template_path(), server, config_env)
    missing = [str(item) for item in stack.not_emulated if item.type not in NOT_NEEDED_LOCALLY]
    assert not missing, "not provisioned locally: " + "; ".join(missing)
    for logical_id in ["PipelineStateMachine", "TransformJob", "TriggerFunction", "ObjectCreatedRule"]:
        assert logical_id in stack.resources
    # The state machine is created from its DefinitionS3Location (a local path, as `sam package` reads it),
    # with every DefinitionSubstitution applied.
    created = json.loads(stack.resources["PipelineStateMachine"].attributes["Definition"])
    assert created["States"].keys() == cfn.load_definition(cfn.load_template())["States"].keys()
    assert not cfn.PLACEHOLDER.search(json.dumps(created))


def test_the_local_audit_bucket_is_write_once_as_on_aws() -> None:
    """Object Lock (governance, RunTtlDays) holds locally: a version cannot be deleted before its date,
    except by a caller that bypasses governance retention; replication is said not to be emulated."""
    from datetime import UTC, datetime, timedelta

    from botocore.exceptions import ClientError

    from tributary.local.provisioning.template import samconfig_parameters

    with MotoServer() as server:
        stack = provision(cfn.template_path(), server, "default")
        s3 = server.client("s3")
        bucket = stack.physical_id("AuditBucket")
        version = s3.put_object(Bucket=bucket, Key="runs/r1/manifest.json", Body=b"{}")["VersionId"]
        head = s3.head_object(Bucket=bucket, Key="runs/r1/manifest.json", VersionId=version)
        assert head["ObjectLockMode"] == "GOVERNANCE"
        days = int(samconfig_parameters(cfn.REPO / "samconfig.toml", "default")["RunTtlDays"])
        expected = datetime.now(UTC) + timedelta(days=days)
        assert abs(head["ObjectLockRetainUntilDate"] - expected) < timedelta(hours=1)
        with pytest.raises(ClientError) as refused:
            s3.delete_object(Bucket=bucket, Key="runs/r1/manifest.json", VersionId=version)
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
        s3.delete_object(
            Bucket=bucket, Key="runs/r1/manifest.json", VersionId=version, BypassGovernanceRetention=True
        )
    assert any("ArtifactsBucket: replication not emulated" in note for note in stack.notes)
