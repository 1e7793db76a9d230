"""Creating every resource of a CloudFormation template in moto, in dependency order."""

from __future__ import annotations

from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, ParamValidationError

from tributary.local.endpoints.moto_server import ACCOUNT_ID, MotoServer
from tributary.local.provisioning.intrinsics import IntrinsicError, Resolver, references
from tributary.local.provisioning.resources import (
    CREATORS,
    CreateContext,
    Resource,
    placeholder,
    placeholder_attribute,
)


@dataclass
class NotEmulated:
    logical_id: str
    type: str
    reason: str

    def __str__(self) -> str:
        return f"{self.logical_id} ({self.type}): {self.reason}"


@dataclass
class ProvisionedStack:
    name: str
    region: str
    parameters: dict[str, Any]
    resources: dict[str, Resource] = field(default_factory=dict)
    # Resources of types the local stack cannot create (also in not_emulated): only Ref/GetAtt values.
    placeholders: dict[str, Resource] = field(default_factory=dict)
    not_emulated: list[NotEmulated] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # resources emulated with a difference

    def of_type(self, resource_type: str) -> list[Resource]:
        return [r for r in self.resources.values() if r.type == resource_type]

    def physical_id(self, logical_id: str) -> str:
        return self.resources[logical_id].physical_id


def template_parameters(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, definition in (template.get("Parameters") or {}).items():
        if name in overrides:
            value: Any = overrides[name]
        elif "Default" in definition:
            value = definition["Default"]
        else:
            raise ValueError(f"parameter {name} has no default and no override")
        allowed = definition.get("AllowedValues")
        if allowed and str(value) not in [str(a) for a in allowed]:
            raise ValueError(f"parameter {name}={value!r} is not one of {allowed}")
        if definition.get("Type") == "CommaDelimitedList" and isinstance(value, str):
            value = value.split(",")
        values[name] = value
    return values


def create_stack(
    template: dict[str, Any],
    overrides: dict[str, str],
    aws: MotoServer,
    stack_name: str,
    local_paths: dict[str, Path],
) -> ProvisionedStack:
    """Create the resources of a (transformed) CloudFormation template in the moto server."""
    region = aws.region
    stack = ProvisionedStack(stack_name, region, template_parameters(template, overrides))
    pseudo = {
        "AWS::Region": region,
        "AWS::AccountId": ACCOUNT_ID,
        "AWS::StackName": stack_name,
        "AWS::StackId": f"arn:aws:cloudformation:{region}:{ACCOUNT_ID}:stack/{stack_name}/local",
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::NotificationARNs": [],
    }

    def lookup(logical_id: str, attribute: str | None) -> Any:
        if logical_id in stack.placeholders:
            stand_in = stack.placeholders[logical_id]
            return stand_in.physical_id if attribute is None else placeholder_attribute(stand_in, attribute)
        resource = stack.resources[logical_id]
        return resource.physical_id if attribute is None else resource.attributes[attribute]

    resolver = Resolver(template, stack.parameters, pseudo, lookup)
    context = CreateContext(aws, stack_name, region, ACCOUNT_ID, local_paths)
    declared: dict[str, Any] = template.get("Resources") or {}
    graph: dict[str, set[str]] = {}
    for logical_id, body in declared.items():
        depends = body.get("DependsOn") or []
        depends = [depends] if isinstance(depends, str) else depends
        graph[logical_id] = (references(body.get("Properties") or {}) | set(depends)) & set(declared)
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise ValueError(f"circular dependency between resources: {exc.args[1]}") from None

    # A type without a creator is reported and replaced by a placeholder, so that what refers to it is
    # still created. A resource whose creation failed takes its dependents with it: they are reported too.
    failed: set[str] = set()
    for logical_id in order:
        body = declared[logical_id]
        resource_type = body.get("Type", "")
        if body.get("Condition") and not resolver.condition(body["Condition"]):
            continue
        creator = CREATORS.get(resource_type)
        if creator is None:
            try:
                known = resolver.resolve(body.get("Properties") or {})
            except (IntrinsicError, KeyError, ValueError, TypeError, IndexError):
                known = {}  # only used to name the placeholder
            stack.placeholders[logical_id] = placeholder(context, logical_id, resource_type, known)
            reason = "type not emulated locally (Ref and GetAtt of it give placeholder values)"
            stack.not_emulated.append(NotEmulated(logical_id, resource_type, reason))
            continue
        if graph[logical_id] & failed:
            missing = ", ".join(sorted(graph[logical_id] & failed))
            stack.not_emulated.append(NotEmulated(logical_id, resource_type, f"depends on {missing}"))
            failed.add(logical_id)
            continue
        try:
            properties = resolver.resolve(body.get("Properties") or {})
            stack.resources[logical_id] = creator(context, logical_id, properties)
        except (IntrinsicError, ClientError, ParamValidationError, KeyError, ValueError) as exc:
            stack.not_emulated.append(NotEmulated(logical_id, resource_type, str(exc)))
            failed.add(logical_id)
            continue
        stand_ins = sorted(references(body.get("Properties") or {}) & set(stack.placeholders))
        if stand_ins:
            context.notes.append(
                f"{logical_id} ({resource_type}): created with placeholder values for "
                + ", ".join(f"{name} ({stack.placeholders[name].type})" for name in stand_ins)
                + ", not emulated"
            )
    stack.notes = context.notes
    for name, output in (template.get("Outputs") or {}).items():
        if output.get("Condition") and not resolver.condition(output["Condition"]):
            continue
        try:
            stack.outputs[name] = resolver.resolve(output.get("Value"))
        except (IntrinsicError, KeyError) as exc:
            stack.outputs[name] = f"<unresolved: {exc}>"
    return stack
