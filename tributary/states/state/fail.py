"""The Fail state: ends its machine in failure with its Error and Cause, each read at load into one
`ValueSource`: a literal, its ErrorPath / CausePath (JSONPath: a path or an intrinsic function
call), or an expression (JSONata)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tributary.states import payload
from tributary.states.definition import DefinitionError, NestedLoader, State
from tributary.states.engine import ExecutionFailed
from tributary.states.errors import StatesError
from tributary.states.history import payload_text
from tributary.states.jsonpath import PathError
from tributary.states.value_source import ValueSource, read_source

if TYPE_CHECKING:
    from tributary.states.engine import Interpreter, StateRun, Step


class FailState(State):
    type = "Fail"
    terminal = True

    def __init__(self, name: str, raw: Mapping[str, Any], machine_language: str, load: NestedLoader) -> None:
        super().__init__(name, raw, machine_language, load)
        self.error = _text_source(raw, "Error", self.place, self.jsonata)
        self.cause = _text_source(raw, "Cause", self.place, self.jsonata)

    def body(self, engine: Interpreter, run: StateRun) -> Step:
        # Fail has no InputPath: its paths select from the state input.
        error = self.error.evaluate(engine, run, run.state_input)
        cause = self.cause.evaluate(engine, run, run.state_input)
        raise ExecutionFailed(
            None if error is None else _as_text(error),
            None if cause is None else _as_text(cause),
        )


def _text_source(raw: Mapping[str, Any], name: str, place: str, jsonata: bool) -> ValueSource:
    """Error or Cause: a string (in JSONata, an expression or text), or its `…Path`, not both."""
    if name in raw and f"{name}Path" in raw:
        raise DefinitionError(f"The fields '{name}' and '{name}Path' cannot both be set", place)
    if name in raw and not isinstance(raw[name], str):
        raise DefinitionError(f"The value for '{name}' must be a string", f"{place}.{name}")
    return read_source(raw, name, place, jsonata=jsonata, intrinsics=True, not_found=_not_found)


def _not_found(path: str, field: str, value: Any, problem: PathError) -> StatesError:
    return payload.path_not_found(path, field, value)


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else payload_text(value)
