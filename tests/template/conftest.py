from typing import Any

import pytest

from tests.template import cfn


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return cfn.load_template()


@pytest.fixture(scope="session")
def translated(template: dict[str, Any]) -> dict[str, Any]:
    return cfn.translate(template)


@pytest.fixture(scope="session")
def definition_text(template: dict[str, Any]) -> str:
    return cfn.definition_path(template).read_text()


@pytest.fixture(scope="session")
def definition(template: dict[str, Any]) -> dict[str, Any]:
    return cfn.load_definition(template)


@pytest.fixture(scope="session")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]
