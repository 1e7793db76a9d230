"""The state types of the Amazon States Language, one class each in its own module, and the loading
of a definition into them (`load_machine`, `load_single_state`).

The engine (engine.py) and the definition model (definition.py) import none of these modules, which
import them: the table of classes (`STATE_TYPES`) is handed to `Machine.load`, so that
`tributary.states` has no import cycle. Every state goes through the engine's shared lifecycle
(entered event, input, the state's `body` here, output and assign, size check, exited or failed
events); a class holds only the fields its state type has and what it does with them."""

from __future__ import annotations

from typing import Any

from tributary.states.definition import JSONPATH, Machine, State, StateTypes, load_state, nested_loader
from tributary.states.state.choice import ChoiceState
from tributary.states.state.fail import FailState
from tributary.states.state.map import MapState
from tributary.states.state.parallel import ParallelState
from tributary.states.state.pass_state import PassState
from tributary.states.state.succeed import SucceedState
from tributary.states.state.task import TaskState
from tributary.states.state.wait import WaitState

STATE_TYPES: StateTypes = {
    cls.type: cls
    for cls in (
        PassState,
        ChoiceState,
        WaitState,
        SucceedState,
        FailState,
        TaskState,
        ParallelState,
        MapState,
    )
}


def load_machine(definition: Any, inherited: str = JSONPATH) -> Machine:
    """A definition (object or JSON text) loaded into typed states; `DefinitionError` names what
    the engine cannot run."""
    return Machine.load(definition, STATE_TYPES, inherited)


def load_single_state(name: str, raw: Any, language: str) -> State:
    """One state on its own, as the TestState API runs it (its Next need not name a state)."""
    return load_state(
        name, raw, language, STATE_TYPES, nested_loader(f"States.{name}", STATE_TYPES, language)
    )
