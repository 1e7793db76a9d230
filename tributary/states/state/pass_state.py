"""The Pass state: its input (or Result) passed on, through the shared lifecycle."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tributary.states.definition import ABSENT, NestedLoader, State

if TYPE_CHECKING:
    from tributary.states.engine import Interpreter, StateRun, Step


class PassState(State):
    type = "Pass"

    def __init__(self, name: str, raw: Mapping[str, Any], machine_language: str, load: NestedLoader) -> None:
        super().__init__(name, raw, machine_language, load)
        # JSONPath: Result, when given, is the state's result. JSONata: the state's output comes
        # from Output (by default its input) and Result is not read; settled here, once.
        self.result = ABSENT if self.jsonata else raw.get("Result", ABSENT)

    def body(self, engine: Interpreter, run: StateRun) -> Step:
        value = engine.arguments(run)
        if self.result is not ABSENT:
            value = self.result
        return engine.conclude(run, self, self.next, value, result_path=True)
