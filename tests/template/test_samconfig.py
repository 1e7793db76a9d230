"""samconfig.toml: every environment complete for every command, and in step with the template.

Each environment has a `global` section (what every command shares) and per-command sections with
only the command's own options: the parameters a command gets are read here as SAM CLI reads them
(its own SamConfig: global, then the command's section over it), and the local stack must read the
same template parameters and stack name.
"""

from __future__ import annotations

import shlex
import tomllib
from typing import Any

import pytest

from tests.template import cfn

ENVIRONMENTS = ["default", "prod"]
COMMANDS = ["build", "validate", "package", "deploy", "sync"]
# Every command of every environment must get all of these (from `global` or its own section).
REQUIRED = {"stack_name", "region", "capabilities", "parameter_overrides", "tags"}


@pytest.fixture(scope="module")
def samconfig() -> dict[str, Any]:
    """samconfig[environment][command]["parameters"]: what SAM CLI passes that command."""
    from samcli.lib.config.samconfig import SamConfig

    config = SamConfig(str(cfn.REPO))
    return {
        environment: {
            command: {"parameters": dict(config.get_all([command], "parameters", env=environment))}
            for command in COMMANDS
        }
        for environment in ENVIRONMENTS
    }


def overrides(section: dict[str, Any]) -> dict[str, str]:
    """The template parameters as SAM CLI parses `parameter_overrides` (string or list form)."""
    from samcli.cli.types import CfnParameterOverridesType

    return dict(CfnParameterOverridesType().convert(section["parameter_overrides"], None, None))


def test_each_environment_states_shared_settings_once() -> None:
    raw = tomllib.loads((cfn.REPO / "samconfig.toml").read_text())
    for environment in ENVIRONMENTS:
        assert set(raw[environment]["global"]["parameters"]) >= REQUIRED
        for command in COMMANDS:
            assert not set(raw[environment][command]["parameters"]) & REQUIRED, (environment, command)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_local_stack_reads_what_sam_reads(samconfig: dict[str, Any], environment: str) -> None:
    from tributary.local.provisioning import stack_name_for
    from tributary.local.provisioning.template import samconfig_parameters

    deploy = samconfig[environment]["deploy"]["parameters"]
    assert samconfig_parameters(cfn.REPO / "samconfig.toml", environment) == overrides(deploy)
    assert stack_name_for(cfn.REPO, environment) == deploy["stack_name"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("command", COMMANDS)
def test_every_section_is_complete(samconfig: dict[str, Any], environment: str, command: str) -> None:
    section = samconfig[environment][command]["parameters"]
    assert set(section) >= REQUIRED
    assert "CAPABILITY_IAM" in section["capabilities"]
    assert dict(item.split("=", 1) for item in shlex.split(section["tags"]))["project"] == "tributary"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_overrides_set_every_template_parameter_with_an_allowed_value(
    samconfig: dict[str, Any], template: dict[str, Any], environment: str
) -> None:
    parameters = template["Parameters"]
    for command in COMMANDS:
        values = overrides(samconfig[environment][command]["parameters"])
        assert set(values) == set(parameters), command
        for name, value in values.items():
            allowed = parameters[name].get("AllowedValues")
            if allowed is not None:
                assert value in [str(option) for option in allowed], (
                    f"{environment}.{command}: {name}={value}"
                )


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_commands_of_an_environment_agree(samconfig: dict[str, Any], environment: str) -> None:
    sections = [samconfig[environment][command]["parameters"] for command in COMMANDS]
    for key in REQUIRED:
        assert len({str(section[key]) for section in sections}) == 1, key


def test_the_environments_are_separate_stacks(samconfig: dict[str, Any]) -> None:
    dev, prod = (samconfig[environment]["deploy"]["parameters"] for environment in ENVIRONMENTS)
    assert dev["stack_name"] != prod["stack_name"]
    assert overrides(dev)["GlueDatabaseName"] != overrides(prod)["GlueDatabaseName"]
    assert overrides(prod)["StateMachineIncludeExecutionData"] == "false"
    assert prod["confirm_changeset"] is True
