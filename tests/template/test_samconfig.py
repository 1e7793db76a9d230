"""samconfig.toml: every environment complete for every command, and in step with the template."""

from __future__ import annotations

import shlex
import tomllib
from typing import Any

import pytest

from tests.template import cfn

ENVIRONMENTS = ["default", "prod"]
COMMANDS = ["build", "validate", "package", "deploy", "sync"]
# Sections do not inherit, so each one must carry all of these.
REQUIRED = {"stack_name", "region", "capabilities", "parameter_overrides", "tags"}


@pytest.fixture(scope="module")
def samconfig() -> dict[str, Any]:
    return tomllib.loads((cfn.REPO / "samconfig.toml").read_text())


def overrides(section: dict[str, Any]) -> dict[str, str]:
    pairs = [item.split("=", 1) for item in shlex.split(section["parameter_overrides"])]
    return dict(pairs)


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
