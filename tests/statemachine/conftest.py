from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.statemachine.pipeline", "tests.statemachine.checks")

from tests.statemachine.checks import Run, run_case  # noqa: E402
from tests.statemachine.pipeline import Mocks, Pipeline, load_pipeline, substituted_definition  # noqa: E402


@pytest.fixture(scope="session")
def definition_text() -> str:
    return substituted_definition()


@pytest.fixture(scope="session")
def pipeline() -> Pipeline:
    return load_pipeline()


@pytest.fixture(scope="session")
def mocks() -> Mocks:
    return Mocks.load()


@pytest.fixture(scope="session")
def runs(definition_text: str, mocks: Mocks) -> dict[str, Run]:
    """Every test case of mock_config.json, run once (virtual clock, seed 0)."""
    return {case: run_case(definition_text, case) for case in mocks.cases}


@pytest.fixture(scope="session")
def happy(runs: dict[str, Run]) -> list[str]:
    """The states the happy path enters, in order (test_happy_path checks them)."""
    return runs["HappyPath"].history.entered()
