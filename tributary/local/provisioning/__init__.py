"""Provisioning: template.yaml + a samconfig environment → resources in the local moto server."""

from __future__ import annotations

from pathlib import Path

from tributary.local.moto_server import MotoServer
from tributary.local.provisioning.resources import Resource
from tributary.local.provisioning.stack import NotEmulated, ProvisionedStack, create_stack
from tributary.local.provisioning.template import load_template, sam_transform, samconfig_parameters

__all__ = ["NotEmulated", "ProvisionedStack", "Resource", "provision", "stack_name_for"]


def stack_name_for(root: Path, config_env: str) -> str:
    import tomllib

    config_file = root / "samconfig.toml"
    if config_file.exists():
        config = tomllib.loads(config_file.read_text()).get(config_env, {})
        for command in ("deploy", "global"):
            name = config.get(command, {}).get("parameters", {}).get("stack_name")
            if name:
                return str(name)
    return root.resolve().name.lower()


def provision(template_path: Path, aws: MotoServer, config_env: str = "default") -> ProvisionedStack:
    root = template_path.resolve().parent
    overrides = samconfig_parameters(root / "samconfig.toml", config_env)
    template, local_paths = sam_transform(load_template(template_path), overrides, root, aws.region)
    return create_stack(template, overrides, aws, stack_name_for(root, config_env), local_paths)
