"""The Fail state: ends its machine in failure with its Error and Cause (ErrorPath / CausePath
in JSONPath, expressions in JSONata)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tributary.states import jsonpath, payload
from tributary.states.definition import NestedLoader, State
from tributary.states.engine import ExecutionFailed
from tributary.states.history import payload_text
from tributary.states.intrinsic_functions import evaluate_intrinsic

if TYPE_CHECKING:
    from tributary.states.engine import Interpreter, StateRun, Step


class FailState(State):
    type = "Fail"
    terminal = True

    def __init__(self, name: str, raw: Mapping[str, Any], machine_language: str, load: NestedLoader) -> None:
        super().__init__(name, raw, machine_language, load)
        self.error: Any = raw.get("Error")
        self.cause: Any = raw.get("Cause")
        self.error_path: str | None = raw.get("ErrorPath")
        self.cause_path: str | None = raw.get("CausePath")

    def body(self, engine: Interpreter, run: StateRun) -> Step:
        error, cause = self.error, self.cause
        if run.jsonata:
            states = engine.jsonata_states(run)
            if error is not None:
                error = engine.jsonata_field(run, error, states, "Error")
            if cause is not None:
                cause = engine.jsonata_field(run, cause, states, "Cause")
        else:
            if self.error_path is not None:
                error = _path_or_intrinsic(run, self.error_path, run.state_input, "ErrorPath")
            if self.cause_path is not None:
                cause = _path_or_intrinsic(run, self.cause_path, run.state_input, "CausePath")
        raise ExecutionFailed(
            None if error is None else _as_text(error),
            None if cause is None else _as_text(cause),
        )


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else payload_text(value)


def _path_or_intrinsic(run: StateRun, expression: str, value: Any, field: str) -> Any:
    if expression.startswith("States."):
        return evaluate_intrinsic(expression, value, context=run.context, variables=run.variables)
    try:
        return jsonpath.select(value, expression, context=run.context, variables=run.variables)
    except jsonpath.PathError as error:
        raise payload.path_not_found(expression, field, value) from error
