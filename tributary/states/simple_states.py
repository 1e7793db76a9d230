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
    next_state = state.get("Next")
    if run.jsonata:
        states = engine.jsonata_states(run)
        output = (
            engine.jsonata_field(run, state["Output"], states, "Output")
            if "Output" in state
            else run.state_input
        )
        assigned = engine.jsonata_field(run, state["Assign"], states, "Assign") if "Assign" in state else None
        return Step(output, next_state, assigned)
    effective = engine.input_of(run)
    if "Parameters" in state:
        effective = engine.payload_template(run, state["Parameters"], effective, "Parameters")
    result = state.get("Result", effective)
    assigned = engine.payload_template(run, state["Assign"], result, "Assign") if "Assign" in state else None
    combined = payload.result_path(state.get("ResultPath", "$"), run.state_input, result)
    return Step(engine.output_of(run, combined), next_state, assigned)


def run_succeed(engine: Interpreter, run: StateRun) -> Step:
    if run.jsonata:
        state = run.state
        output = (
            engine.jsonata_field(run, state["Output"], engine.jsonata_states(run), "Output")
            if "Output" in state
            else run.state_input
        )
        return Step(output, None)
    return Step(engine.output_of(run, engine.input_of(run)), None)


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
    if run.jsonata:
        states = engine.jsonata_states(run)
        for index, rule in enumerate(state.get("Choices", [])):
            field_name = f"Choices[{index}].Condition"
            condition = engine.jsonata_field(run, rule["Condition"], states, field_name)
            if not isinstance(condition, bool):
                raise StatesError(
                    errors.QUERY_EVALUATION_ERROR,
                    f"The JSONata expression '{expression_text(rule['Condition'])}' specified for the field "
                    f"'Condition' returned an unexpected result type. Expected 'boolean', but was "
                    f"'{json_type_name(condition)}' for value: {payload_text(condition)}",
                )
            if condition:
                return _choice_taken_jsonata(engine, run, rule, states, rule["Next"])
        if "Default" in state:
            return _choice_taken_jsonata(engine, run, state, states, state["Default"])
        raise StatesError(errors.NO_CHOICE_MATCHED, "No Matches!")
    effective = engine.input_of(run)
    for rule in state.get("Choices", []):
        if evaluate_choice_rule(rule, effective, context=run.context, variables=run.variables):
            assigned = (
                engine.payload_template(run, rule["Assign"], effective, "Assign")
                if "Assign" in rule
                else None
            )
            return Step(engine.output_of(run, effective), rule["Next"], assigned)
    if "Default" in state:
        assigned = (
            engine.payload_template(run, state["Assign"], effective, "Assign") if "Assign" in state else None
        )
        return Step(engine.output_of(run, effective), state["Default"], assigned)
    raise StatesError(errors.NO_CHOICE_MATCHED, "No Matches!")


def _choice_taken_jsonata(
    engine: Interpreter, run: StateRun, holder: dict[str, Any], states: dict[str, Any], next_state: str
) -> Step:
    output_source = holder if "Output" in holder else run.state
    output = (
        engine.jsonata_field(run, output_source["Output"], states, "Output")
        if "Output" in output_source
        else run.state_input
    )
    assigned = engine.jsonata_field(run, holder["Assign"], states, "Assign") if "Assign" in holder else None
    return Step(output, next_state, assigned)


def run_wait(engine: Interpreter, run: StateRun) -> Step:
    state = run.state
    if run.jsonata:
        seconds = seconds_to_wait(engine, run, run.state_input)
        states = engine.jsonata_states(run)
        output = (
            engine.jsonata_field(run, state["Output"], states, "Output")
            if "Output" in state
            else run.state_input
        )
        assigned = engine.jsonata_field(run, state["Assign"], states, "Assign") if "Assign" in state else None
    else:
        effective = engine.input_of(run)
        seconds = seconds_to_wait(engine, run, effective)
        assigned = (
            engine.payload_template(run, state["Assign"], effective, "Assign") if "Assign" in state else None
        )
        output = engine.output_of(run, effective)
    engine.sleep(seconds)
    return Step(output, state.get("Next"), assigned)
