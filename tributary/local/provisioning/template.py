"""Reading template.yaml and samconfig.toml, and the SAM transform that turns one into CloudFormation."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import boto3
import yaml
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.utils.py27hash_fix import to_py27_compatible_template, undo_mark_unicode_str_in_template

# Local paths in CodeUri/ContentUri/DefinitionUri/DefinitionS3Location are rewritten to this bucket before
# the transform (samtranslator only accepts S3 locations, as after `sam package`) and mapped back afterwards.
LOCAL_CODE_BUCKET = "tributary-local-code"

_PACKAGEABLE = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
    "AWS::StepFunctions::StateMachine": "DefinitionS3Location",
}
# Plain CloudFormation properties that `sam package` turns from a local path into {Bucket, Key} (SAM's own
# properties take an s3:// URI).
_S3_LOCATION_DICT = {"DefinitionS3Location"}


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (!Ref, !GetAtt, !Sub ...) turned into their long forms."""


def _construct_intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if name == "Fn::GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_intrinsic)
# Dates stay strings, as CloudFormation reads them (AWSTemplateFormatVersion: 2010-09-09).
_CfnLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_template(path: Path) -> dict[str, Any]:
    document = yaml.load(path.read_text(), Loader=_CfnLoader)
    if not isinstance(document, dict) or "Resources" not in document:
        raise ValueError(f"{path}: not a CloudFormation/SAM template (no Resources)")
    return document


def samconfig_parameters(path: Path, config_env: str) -> dict[str, str]:
    """Parameter overrides of `[<env>.deploy.parameters]` (the string or list forms SAM CLI accepts)."""
    if not path.exists():
        return {}
    config = tomllib.loads(path.read_text())
    env = config.get(config_env)
    if env is None:
        # Environments are the tables; `version` and other top-level scalars are not.
        known = sorted(name for name, value in config.items() if isinstance(value, dict))
        raise KeyError(f"{path}: no environment {config_env!r} (have: {', '.join(known) or 'none'})")
    overrides: Any = None
    for command in ("deploy", "global"):
        overrides = env.get(command, {}).get("parameters", {}).get("parameter_overrides", overrides)
        if overrides is not None:
            break
    if overrides is None:
        return {}
    items = overrides if isinstance(overrides, list) else _split_overrides(overrides)
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if sep:
            result[key.strip()] = value.strip().strip('"')
    return result


def _split_overrides(text: str) -> list[str]:
    # `Key=Value Key2="a b"`: shell-like words, quotes keep spaces.
    import shlex

    return shlex.split(text)


class _AnyManagedPolicy(dict[str, str]):
    """Managed policy names → ARNs without calling IAM: every name is an AWS managed policy."""

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str)

    def __missing__(self, name: str) -> str:
        return f"arn:aws:iam::aws:policy/{name}"

    def get(self, name: str, default: Any = None) -> str:
        return self[name]


def sam_transform(
    template: dict[str, Any], parameters: dict[str, str], root: Path, region: str = "us-east-1"
) -> tuple[dict[str, Any], dict[str, Path]]:
    """The SAM transform, offline. Returns the CloudFormation template and S3 key → local path."""
    fragment = copy.deepcopy(template)
    local_paths: dict[str, Path] = {}
    for resource in fragment.get("Resources", {}).values():
        prop = _PACKAGEABLE.get(resource.get("Type", ""))
        props = resource.get("Properties") or {}
        if prop and isinstance(props.get(prop), str) and not props[prop].startswith("s3://"):
            key = props[prop].strip("/") or "."
            local_paths[key] = (root / props[prop]).resolve()
            if prop in _S3_LOCATION_DICT:
                props[prop] = {"Bucket": LOCAL_CODE_BUCKET, "Key": key}
            else:
                props[prop] = f"s3://{LOCAL_CODE_BUCKET}/{key}"
    # Globals may name a CodeUri too.
    global_function = fragment.get("Globals", {}).get("Function", {})
    if isinstance(global_function.get("CodeUri"), str) and not global_function["CodeUri"].startswith("s3://"):
        key = global_function["CodeUri"].strip("/") or "."
        local_paths[key] = (root / global_function["CodeUri"]).resolve()
        global_function["CodeUri"] = f"s3://{LOCAL_CODE_BUCKET}/{key}"
    if "Transform" not in fragment:
        return fragment, local_paths
    values: dict[str, Any] = dict(parameters)
    to_py27_compatible_template(fragment, values)
    # A session with only a region: the translator reads AWS::Region from it and must never reach AWS.
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name=region))
    output = translator.translate(fragment, parameter_values=values, get_managed_policy_map=_AnyManagedPolicy)
    return undo_mark_unicode_str_in_template(output), local_paths
