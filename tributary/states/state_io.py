"""The steps of the shared lifecycle that differ between the two query languages, as one object per
language, chosen once when a state is loaded (`State.io`): the engine's `effective_input`,
`arguments`, `conclude` and `finish` hand the step to it, with no query-language branch at run time.

- `JSONPATH_IO`: InputPath → Parameters → (the state's body) → ResultSelector → ResultPath →
  OutputPath, and Assign over the result (before ResultPath);
- `JSONATA_IO`: the state input → Arguments → (the state's body) → Output and Assign over
  `$states` (`input`, `context`, and `result` or `errorOutput`).

The fields themselves were loaded with the state (`request_source`, `selector_source`,
`assign_source`, `output_source`: a `PayloadTemplate` in JSONPath, an `ExpressionValue` in
JSONata, `HANDED_OVER` where an absent field leaves the value as it is).

This module imports no engine (the engine imports the definition model, which imports this): the
interpreter and the run are passed in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tributary.states import payload

if TYPE_CHECKING:
    from tributary.states.definition import Transition
    from tributary.states.engine import Interpreter, StateRun

# What a state's (or a catcher's) end gives: its output and the variables it assigns (None: none).
Concluded = tuple[Any, "dict[str, Any] | None"]


@dataclass(frozen=True)
class Ending:
    """How a state's run ends (see the engine's `conclude`): the fields of `holder` (the state, a
    Choice rule, a catcher: Assign, ResultPath, Output), whether ResultPath and OutputPath
    apply (JSONPath), whether Assign does, whose `Output` is taken (JSONata: a Choice rule without
    one takes its state's), and what `$states` holds beside `input` and `context` (`result`,
    `errorOutput`)."""

    holder: Transition
    result_path: bool
    output_path: bool
    assign: bool
    output_holder: Transition
    states: dict[str, Any] = field(default_factory=dict)


class StateIo:
    """The per-language steps of one state's input and output processing."""

    language: str = ""

    def effective_input(self, engine: Interpreter, run: StateRun) -> Any:
        """The input the state's body works on."""
        raise NotImplementedError

    def arguments(self, engine: Interpreter, run: StateRun) -> Any:
        """The request of a Task, Parallel or Pass state (the effective input when it has none)."""
        raise NotImplementedError

    def conclude(self, engine: Interpreter, run: StateRun, value: Any, ending: Ending) -> Concluded:
        """The output and the variables assigned at the end of a state's run (or a catcher's), from
        `value` (its result, or its effective input) and `ending.holder`."""
        raise NotImplementedError

    def select_result(self, engine: Interpreter, run: StateRun, result: Any) -> Any:
        """A Task's, Parallel's or Map's result before ResultPath (ResultSelector in JSONPath)."""
        return result

    def __repr__(self) -> str:
        return f"<{self.language} io>"


class JsonPathIo(StateIo):
    language = "JSONPath"

    def effective_input(self, engine: Interpreter, run: StateRun) -> Any:
        return engine.input_of(run)

    def arguments(self, engine: Interpreter, run: StateRun) -> Any:
        return run.state.request_source.evaluate(engine, run, engine.input_of(run))

    def conclude(self, engine: Interpreter, run: StateRun, value: Any, ending: Ending) -> Concluded:
        assign = ending.holder.assign_source
        assigned = assign.evaluate(engine, run, value) if ending.assign and assign.given else None
        if ending.result_path:
            value = payload.result_path(ending.holder.result_path, run.state_input, value)
        if ending.output_path:
            value = engine.output_of(run, value)
        return value, assigned

    def select_result(self, engine: Interpreter, run: StateRun, result: Any) -> Any:
        return run.state.selector_source.evaluate(engine, run, result)


class JsonataIo(StateIo):
    language = "JSONata"

    def effective_input(self, engine: Interpreter, run: StateRun) -> Any:
        return run.state_input

    def arguments(self, engine: Interpreter, run: StateRun) -> Any:
        return run.state.request_source.evaluate(engine, run, run.state_input)

    def conclude(self, engine: Interpreter, run: StateRun, value: Any, ending: Ending) -> Concluded:
        scope = engine.jsonata_states(run, **ending.states)
        output = ending.output_holder.output_source.evaluate_in(engine, run, scope, value)
        assign = ending.holder.assign_source
        assigned = assign.evaluate_in(engine, run, scope, None) if ending.assign and assign.given else None
        return output, assigned


JSONPATH_IO: StateIo = JsonPathIo()
JSONATA_IO: StateIo = JsonataIo()
