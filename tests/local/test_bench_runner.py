"""`python -m bench` runs every benchmark, says how long each took, and goes on past a broken one."""

from __future__ import annotations

import re
import sys
import types

import pytest

import bench.__main__ as runner


def test_a_failing_benchmark_is_reported_and_the_others_still_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[str] = []

    def module(name: str, outcome: str) -> types.ModuleType:
        fake = types.ModuleType(name)

        def main(argv: list[str]) -> int:
            ran.append(name)
            if outcome == "raises":
                raise RuntimeError("the stack did not start")
            return 1 if outcome == "fails" else 0

        fake.main = main  # type: ignore[attr-defined]
        return fake

    fakes = {"fake.broken": "raises", "fake.failing": "fails", "fake.fine": "ok"}
    for name, outcome in fakes.items():
        monkeypatch.setitem(sys.modules, name, module(name, outcome))
    monkeypatch.setattr(runner, "BENCHMARKS", tuple(fakes))

    assert runner.main() == 1
    assert ran == list(fakes)
    out = capsys.readouterr().out
    assert "RuntimeError: the stack did not start" in out
    assert re.search(r"== fake\.broken: FAILED, \d+ s \(load average [\d.]+ [\d.]+ [\d.]+\)", out)
    assert re.search(r"== fake\.fine: \d+ s \(load average", out)
    assert "failed: fake.broken, fake.failing" in out


def test_every_benchmark_passing_exits_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    fine = types.ModuleType("fake.fine")
    fine.main = lambda argv: 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake.fine", fine)
    monkeypatch.setattr(runner, "BENCHMARKS", ("fake.fine",))
    assert runner.main() == 0
