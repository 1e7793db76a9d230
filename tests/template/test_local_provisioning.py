"""The local toolkit provisions this very template: every resource the pipeline needs must be emulated."""

from __future__ import annotations

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
