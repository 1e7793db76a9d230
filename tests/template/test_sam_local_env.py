"""`sam local invoke --env-vars FILE` reaching `tributary up`: template.yaml declares AWS_ENDPOINT_URL
(empty) for every function, because SAM CLI sets only the variables a function declares; the file
`tributary env --sam` writes names only declared variables; and the empty value changes nothing on AWS
(boto3 ignores an empty AWS_ENDPOINT_URL) nor in the local stack (its endpoint stays)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from samcli.commands.local.lib.local_lambda import LocalLambdaRunner
from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

from tests.template import cfn
from tributary.local.commands.devtools import sam_env_document
from tributary.local.endpoints.control import function_document
from tributary.local.endpoints.moto_server import MotoServer
from tributary.local.provisioning import provision
from tributary.local.runtimes.lambda_runtime import FunctionConfig, LambdaFunction, function_configs

ENDPOINT = "http://host.docker.internal:4566"


@pytest.fixture(scope="module")
def local_functions() -> list[FunctionConfig]:
    with MotoServer() as server:
        return function_configs(provision(cfn.template_path(), server, "default"))


def sam_cli_environments(template: Path, env_vars: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Each function's environment as SAM CLI's own code resolves it for `sam local invoke --env-vars`
    (its template's Globals merged, the file's overrides applied), without Docker."""
    stacks, _ = SamLocalStackProvider.get_stacks(str(template))
    provider = SamFunctionProvider(stacks, ignore_code_extraction_warnings=True)
    runner = LocalLambdaRunner(
        local_runtime=None,  # type: ignore[arg-type]  # not invoked: only the environment is resolved
        function_provider=provider,
        cwd=str(template.parent),
        real_path=str(template.parent),
        aws_region="us-east-1",
        env_vars_values=env_vars,
    )
    return {f.name: runner._make_env_vars(f).resolve() for f in provider.get_all()}


@pytest.fixture
def shell_credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    yield


def test_globals_declare_aws_endpoint_url_empty() -> None:
    template = cfn.load_template()
    assert template["Globals"]["Function"]["Environment"]["Variables"]["AWS_ENDPOINT_URL"] == ""


@pytest.mark.slow  # the template provisioned in moto: 3-7 s
def test_every_function_declares_aws_endpoint_url_empty(local_functions: list[FunctionConfig]) -> None:
    assert local_functions
    for config in local_functions:
        assert config.environment["AWS_ENDPOINT_URL"] == "", config.logical_id


@pytest.mark.slow  # the template provisioned in moto (module fixture)
def test_sam_local_invoke_gets_the_endpoint_from_tributary_env_sam(
    local_functions: list[FunctionConfig], shell_credentials: None
) -> None:
    document = sam_env_document([function_document(c) for c in local_functions], ENDPOINT)
    # Only declared variables are named: each function's section holds its own template variables.
    for config in local_functions:
        assert set(document[config.logical_id]) == set(config.environment), config.logical_id
    assert document["Parameters"] == {"AWS_ENDPOINT_URL": ENDPOINT}
    environments = sam_cli_environments(cfn.template_path(), document)
    assert set(environments) == {c.logical_id for c in local_functions}
    for name, env in environments.items():
        assert env["AWS_ENDPOINT_URL"] == ENDPOINT, name
    trigger = next(c for c in local_functions if c.logical_id == "TriggerFunction")
    assert environments["TriggerFunction"]["RAW_BUCKET"] == trigger.environment["RAW_BUCKET"]


def test_without_the_declaration_sam_cli_would_not_set_it(tmp_path: Path, shell_credentials: None) -> None:
    """The reason for the declaration: SAM CLI drops a variable the template does not declare."""
    text = cfn.template_path().read_text()
    declaration = '        AWS_ENDPOINT_URL: ""\n'
    assert text.count(declaration) == 1
    template = tmp_path / "template.yaml"
    template.write_text(text.replace(declaration, ""))
    environments = sam_cli_environments(template, {"Parameters": {"AWS_ENDPOINT_URL": ENDPOINT}})
    assert environments
    assert all("AWS_ENDPOINT_URL" not in env for env in environments.values())


@pytest.mark.parametrize("service", ["s3", "sqs", "dynamodb", "stepfunctions", "glue", "athena"])
def test_an_empty_aws_endpoint_url_is_ignored_by_boto3(
    service: str, monkeypatch: pytest.MonkeyPatch, shell_credentials: None
) -> None:
    """On AWS the deployed functions get AWS_ENDPOINT_URL="": their clients reach AWS's own endpoints."""
    expected = boto3.session.Session().client(service, region_name="eu-west-1").meta.endpoint_url
    assert "amazonaws.com" in expected
    monkeypatch.setenv("AWS_ENDPOINT_URL", "")
    assert boto3.session.Session().client(service, region_name="eu-west-1").meta.endpoint_url == expected


@pytest.mark.slow  # the template provisioned in moto (module fixture)
def test_the_local_stack_keeps_its_endpoint(local_functions: list[FunctionConfig]) -> None:
    config = next(c for c in local_functions if c.logical_id == "TriggerFunction")
    function = LambdaFunction(config, {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"})
    try:
        assert function.worker_env()["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    finally:
        function.close()
