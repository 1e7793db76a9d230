"""The Succeed state: ends its machine with its output."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tributary.states.engine import Interpreter, StateRun, Step


def run_succeed(engine: Interpreter, run: StateRun) -> Step:
    return engine.conclude(run, run.state, None, engine.effective_input(run), assign=False)
