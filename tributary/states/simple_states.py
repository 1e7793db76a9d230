"""The state types that call nothing outside the engine: Pass, Succeed, Fail, Choice and Wait."""

from __future__ import annotations

from typing import Any

from tributary.states import errors, jsonpath, payload
from tributary.states.choice import evaluate_choice_rule
from tributary.states.engine import (
    ExecutionFailed,
    Interpreter,
    StateRun,
    Step,
    expression_text,
    json_type_name,
)
from tributary.states.errors import StatesError
from tributary.states.history import payload_text
from tributary.states.intrinsic_functions import evaluate_intrinsic
from tributary.states.wait_state import seconds_to_wait


def run_pass(engine: Interpreter, run: StateRun) -> Step:
    state = run.state
    value = engine.arguments(run)
    if not run.jsonata:
        value = state.get("Result", value)
    return engine.conclude(run, state, state.get("Next"), value, result_path=True)


def run_succeed(engine: Interpreter, run: StateRun) -> Step:
    return engine.conclude(run, run.state, None, engine.effective_input(run), assign=False)


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


def run_choice(engine: Interpreter, run: StateRun) -> Step:
    state = run.state
    effective = engine.effective_input(run)
    for index, rule in enumerate(state.get("Choices", [])):
        if _matches(engine, run, rule, index, effective):
            # JSONata: a rule without Output takes the state's.
            output_holder = rule if "Output" in rule else state
            return engine.conclude(run, rule, rule["Next"], effective, output_holder=output_holder)
    if "Default" in state:
        return engine.conclude(run, state, state["Default"], effective)
    raise StatesError(errors.NO_CHOICE_MATCHED, "No Matches!")


def _matches(engine: Interpreter, run: StateRun, rule: dict[str, Any], index: int, effective: Any) -> bool:
    if not run.jsonata:
        return evaluate_choice_rule(rule, effective, context=run.context, variables=run.variables)
    field_name = f"Choices[{index}].Condition"
    condition = engine.jsonata_field(run, rule["Condition"], engine.jsonata_states(run), field_name)
    if not isinstance(condition, bool):
        raise StatesError(
            errors.QUERY_EVALUATION_ERROR,
            f"The JSONata expression '{expression_text(rule['Condition'])}' specified for the field "
            f"'Condition' returned an unexpected result type. Expected 'boolean', but was "
            f"'{json_type_name(condition)}' for value: {payload_text(condition)}",
        )
    return condition


def run_wait(engine: Interpreter, run: StateRun) -> Step:
    state = run.state
    effective = engine.effective_input(run)
    seconds = seconds_to_wait(engine, run, effective)
    step = engine.conclude(run, state, state.get("Next"), effective)
    engine.sleep(seconds)
    return step
