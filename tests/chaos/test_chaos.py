"""The fault harness at reduced size: every scenario against the local stack, the invariants read
back from the stack's state after each (tributary.chaos; `make chaos` runs the full sizes)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from tributary.chaos.harness import Result, Settings
from tributary.chaos.runner import all_names, run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("local_stack_e2e"),  # one stack at a time
    pytest.mark.skipif(shutil.which("java") is None, reason="needs Java for local Spark"),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    table = io.StringIO()
    settings = Settings(reduced=True, scenario_timeout=600, work_dir=tmp_path_factory.mktemp("chaos"))
    done = run(settings, out=table)
    print(table.getvalue())  # shown with -s, and with the failures
    return {result.name: result for result in done}


@pytest.mark.parametrize("scenario", all_names())
def test_the_invariants_hold(results: dict[str, Result], scenario: str) -> None:
    result = results[scenario]
    assert not result.error, f"{scenario} could not run: {result.error}"
    assert result.verdict is not None and result.verdict.outcomes, "the scenario uploaded nothing"
    assert result.ok, "\n".join([scenario, *result.verdict.violations])


def test_every_fault_a_scenario_plans_is_injected(results: dict[str, Result]) -> None:
    idle = {name: [rule for rule, n in r.faults.items() if n == 0] for name, r in results.items()}
    assert not {name: rules for name, rules in idle.items() if rules}


def test_the_table_has_a_row_per_scenario(tmp_path: Path, results: dict[str, Result]) -> None:
    assert set(results) == set(all_names())
