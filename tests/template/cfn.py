"""Reading template.yaml and its state machine the way SAM CLI does, offline.

The template path comes from ``TRIBUTARY_TEMPLATE`` (default: the repository's template.yaml) so that a
test can run these checks against a mutated copy and prove they fail.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform

from tributary.local.provisioning.template import load_template as load_cfn_yaml

REPO = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.]+)\}")


def template_path() -> Path:
    return Path(os.environ.get("TRIBUTARY_TEMPLATE", REPO / "template.yaml"))


def load_template(path: Path | None = None) -> dict[str, Any]:
    path = path or template_path()
    # Not samcli.yamlhelper.yaml_parse: it rewires yaml.SafeLoader for the whole process, which breaks
    # every other safe_load/safe_dump in the same test run.
    return load_cfn_yaml(path)


def state_machine_resource(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]["PipelineStateMachine"]


def definition_location(template: dict[str, Any]) -> str:
    """The state machine's local definition file, relative to the template (`sam package` uploads it)."""
    properties = state_machine_resource(template)["Properties"]
    location = properties.get("DefinitionS3Location", properties.get("DefinitionUri"))
    if not isinstance(location, str):
        raise ValueError(f"the state machine's definition is not a local path: {location!r}")
    return location


def definition_path(template: dict[str, Any], path: Path | None = None) -> Path:
    return (path or template_path()).parent / definition_location(template)


def load_definition(template: dict[str, Any], path: Path | None = None) -> dict[str, Any]:
    return json.loads(definition_path(template, path).read_text())


class _NoManagedPolicies:
    """The template names managed policies by ARN only, so the translator never needs IAM's list."""

    def load(self) -> dict[str, str]:
        return {}


def translate(template: dict[str, Any], path: Path | None = None) -> dict[str, Any]:
    """SAM transform with local paths replaced as `sam package` would (S3 URIs, inline definition)."""
    packaged = copy.deepcopy(template)
    for logical_id, resource in packaged["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            properties["CodeUri"] = f"s3://packaging-bucket/{logical_id}.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            properties["ContentUri"] = f"s3://packaging-bucket/{logical_id}.zip"
        elif resource["Type"] == "AWS::StepFunctions::StateMachine" and isinstance(
            properties.get("DefinitionS3Location"), str
        ):
            properties["DefinitionS3Location"] = {
                "Bucket": "packaging-bucket",
                "Key": f"{logical_id}.asl.json",
            }
        elif resource["Type"] == "AWS::Serverless::StateMachine":
            properties["Definition"] = load_definition(template, path)
            del properties["DefinitionUri"]
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return transform(packaged, {}, _NoManagedPolicies())


def references(value: Any) -> set[str]:
    """Logical ids (or parameter names) a property value refers to through Ref, GetAtt or Sub."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) else inner.split(".")[0]
                found.add(target)
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                found |= {name.split(".")[0] for name in PLACEHOLDER.findall(text)}
                if isinstance(inner, list):
                    found |= references(inner[1])
            else:
                found |= references(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= references(inner)
    return {name for name in found if not name.startswith("AWS::")}


def iter_states(states: dict[str, Any], parent: str | None = None) -> Iterator[tuple[str, dict, str | None]]:
    """Every state, nested ones included, with the name of the Parallel/Map state that contains it."""
    for name, state in states.items():
        yield name, state, parent
        for branch in state.get("Branches", []):
            yield from iter_states(branch["States"], name)
        if "ItemProcessor" in state:
            yield from iter_states(state["ItemProcessor"]["States"], name)


def substitution_problems(template: dict[str, Any], definition_text: str) -> tuple[set[str], set[str]]:
    """(placeholders without a DefinitionSubstitution, substitutions no placeholder uses)."""
    used = set(PLACEHOLDER.findall(definition_text))
    declared = set(state_machine_resource(template)["Properties"].get("DefinitionSubstitutions", {}))
    return used - declared, declared - used


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for policy in role["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            found.append(statement)
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allows(statements: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    """The Allow statements whose actions (wildcards included) cover ``action``."""
    return [
        statement
        for statement in statements
        if statement["Effect"] == "Allow"
        and any(
            fnmatch.fnmatchcase(action.lower(), granted.lower()) for granted in as_list(statement["Action"])
        )
    ]
