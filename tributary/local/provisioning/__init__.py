"""Provisioning: template.yaml + a samconfig environment → resources in the local moto server."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tributary.local.endpoints.moto_server import MotoServer
from tributary.local.provisioning import glue_workflow_resources  # noqa: F401  (registers its creators)
from tributary.local.provisioning.deploy import NotEmulated, ProvisionedStack, create_stack
from tributary.local.provisioning.resources import Resource
from tributary.local.provisioning.template import load_template, sam_transform, samconfig_parameters

__all__ = ["NotEmulated", "ProvisionedStack", "Resource", "provision", "stack_name_for"]


def stack_name_for(root: Path, config_env: str, config_file: Path | None = None) -> str:
    """The environment's stack_name, from its `deploy` parameters, else its `global` ones (as SAM CLI
    reads them: a command's own parameters over the environment's global ones)."""
    import tomllib

    config_file = config_file or root / "samconfig.toml"
    if config_file.exists():
        config = tomllib.loads(config_file.read_text()).get(config_env, {})
        for command in ("deploy", "global"):
            name = config.get(command, {}).get("parameters", {}).get("stack_name")
            if name:
                return str(name)
    return root.resolve().name.lower()


def provision(
    template_path: Path,
    aws: MotoServer,
    config_env: str = "default",
    parameter_overrides: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> ProvisionedStack:
    """`parameter_overrides` take precedence over the samconfig environment's (as `sam deploy
    --parameter-overrides` does); each must name a parameter of the template. `config_file`: SAM's
    `--config-file` (default samconfig.toml beside the template)."""
    root = template_path.resolve().parent
    template = load_template(template_path)
    unknown = sorted(set(parameter_overrides or {}) - set(template.get("Parameters") or {}))
    if unknown:
        raise KeyError(f"parameter override(s) {', '.join(unknown)}: not parameters of {template_path.name}")
    config_file = config_file or root / "samconfig.toml"
    overrides = {**samconfig_parameters(config_file, config_env), **(parameter_overrides or {})}
    template, local_paths = sam_transform(template, overrides, root, aws.region)
    return create_stack(template, overrides, aws, stack_name_for(root, config_env, config_file), local_paths)
