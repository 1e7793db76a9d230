"""The Succeed state: ends its machine with its output."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tributary.states.definition import State

if TYPE_CHECKING:
    from tributary.states.engine import Interpreter, StateRun, Step


class SucceedState(State):
    type = "Succeed"
    terminal = True

    def body(self, engine: Interpreter, run: StateRun) -> Step:
        return engine.conclude(run, self, None, engine.effective_input(run), assign=False)
