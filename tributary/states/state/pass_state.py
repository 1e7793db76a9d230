"""The Pass state: its input (or Result) passed on, through the shared lifecycle."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tributary.states.engine import Interpreter, StateRun, Step


def run_pass(engine: Interpreter, run: StateRun) -> Step:
    state = run.state
    value = engine.arguments(run)
    if not run.jsonata:
        value = state.get("Result", value)
    return engine.conclude(run, state, state.get("Next"), value, result_path=True)
