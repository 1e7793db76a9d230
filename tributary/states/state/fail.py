"""The Fail state: ends its machine in failure with its Error and Cause (ErrorPath / CausePath
in JSONPath, expressions in JSONata)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tributary.states import jsonpath, payload
from tributary.states.engine import ExecutionFailed
from tributary.states.history import payload_text
from tributary.states.intrinsic_functions import evaluate_intrinsic

if TYPE_CHECKING:
    from tributary.states.engine import Interpreter, StateRun, Step


def run_fail(engine: Interpreter, run: StateRun) -> Step:
    state = run.state
    error: Any = state.get("Error")
    cause: Any = state.get("Cause")
    if run.jsonata:
        states = engine.jsonata_states(run)
        if "Error" in state:
            error = engine.jsonata_field(run, state["Error"], states, "Error")
        if "Cause" in state:
            cause = engine.jsonata_field(run, state["Cause"], states, "Cause")
    else:
        for key, path_key in (("Error", "ErrorPath"), ("Cause", "CausePath")):
            if path_key in state:
                value = _path_or_intrinsic(run, state[path_key], run.state_input, path_key)
                if key == "Error":
                    error = value
                else:
                    cause = value
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
