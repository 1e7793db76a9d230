"""The runner's table when a stack cannot run its scenarios (no stack is started here)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any

import pytest

from tributary.chaos import runner
from tributary.chaos.harness import Result, Settings
from tributary.chaos.invariants import Verdict


def test_a_stack_that_cannot_start_gives_rows_that_say_so_and_the_run_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    @contextlib.contextmanager
    def broken(settings: Settings, real_time: bool) -> Iterator[Any]:
        raise RuntimeError(f"template.yaml cannot be provisioned ({'real' if real_time else 'virtual'})")
        yield

    monkeypatch.setattr(runner, "in_process_stack", broken)
    out = io.StringIO()
    # one scenario on the virtual-clock stack, one on the real-clock stack (tried after the first failed)
    results = runner.run(Settings(), only=["SNS down", "burst"], out=out)
    assert [(r.name, r.ok, r.verdict) for r in results] == [
        ("SNS down", False, None),
        ("burst of small files", False, None),
    ]
    assert results[0].error == (
        "the virtual-clock stack failed: RuntimeError: template.yaml cannot be provisioned (virtual)"
    )
    assert results[1].error.endswith("cannot be provisioned (real)")
    table = out.getvalue()
    assert table.count("NOT RUN") == 2
    assert "2 scenarios in" in table and "invariants hold in 0" in table
    assert "could not run: the real-clock stack failed" in table


def test_the_footer_gives_each_scenario_its_executions_and_their_limit() -> None:
    verdict = Verdict([], {"orders": 12, "clicks": 1}, {"orders": 40, "clicks": 2}, [], [], {})
    out = io.StringIO()
    printer = runner.TablePrinter(out)
    printer.footer([Result("burst of small files", verdict, 61.0), Result("broken", None, 0.0, error="x")])
    assert "  burst of small files: clicks 1 (2), orders 12 (40)\n" in out.getvalue()
    assert "  broken:" not in out.getvalue()
