"""The JSONPath-mode input and output processing of a state, in AWS's order:
InputPath -> Parameters (payload template) -> the state's work -> ResultSelector -> ResultPath
-> OutputPath.

Every failure raises `StatesError` with AWS's error name and the cause AWS writes after its
"An error occurred while executing the state 'X' (entered at the event id #N). " prefix, which the
engine adds since only it knows the state and the event id.
"""

from __future__ import annotations

import json
from typing import Any

from tributary.states import errors
from tributary.states.errors import StatesError
from tributary.states.intrinsic_functions import evaluate_intrinsic, is_intrinsic
from tributary.states.jsonpath import PathError, definite_steps, select


def input_path(path: str | None, value: Any, *, context: Any, variables: dict[str, Any]) -> Any:
    """InputPath: `None` (JSON null) gives `{}`; a path that selects nothing is `States.Runtime`."""
    return _apply_path(path, value, context, variables)


def output_path(path: str | None, value: Any, *, context: Any, variables: dict[str, Any]) -> Any:
    """OutputPath: `None` (JSON null) gives `{}`; a path that selects nothing is `States.Runtime`."""
    return _apply_path(path, value, context, variables)


def payload_template(
    template: Any, value: Any, *, context: Any, variables: dict[str, Any], field: str
) -> Any:
    """A payload template (Parameters, ResultSelector, ItemSelector, Assign) applied to `value`.

    Keys ending in `.$` lose the suffix and take the value of their path (`$...` in `value`, `$$...`
    in the context object, `$name...` a variable) or intrinsic function; other values are kept,
    with objects and arrays walked. `field` names the state field, for causes (AWS's cause for a
    path that selects nothing names only the key).
    """
    if isinstance(template, dict):
        resolved: dict[str, Any] = {}
        for key, item in template.items():
            if key.endswith(".$"):
                resolved[key[:-2]] = _dynamic_value(field, key, item, value, context, variables)
            else:
                resolved[key] = payload_template(
                    item, value, context=context, variables=variables, field=field
                )
        return resolved
    if isinstance(template, list):
        return [
            payload_template(item, value, context=context, variables=variables, field=field)
            for item in template
        ]
    return template


def result_path(path: str | None, state_input: Any, result: Any) -> Any:
    """ResultPath: `None` discards the result (the output is the input), `$` makes the result the
    output, any other reference path puts the result at that place in a copy of the input,
    creating the objects on the way; a place that cannot exist is `States.ResultPathMatchFailure`."""
    if path is None:
        return state_input
    try:
        steps = definite_steps(path)
    except PathError as error:
        raise StatesError(errors.RESULT_PATH_MATCH_FAILURE, error.message) from error
    if path[1:2] not in ("", ".", "["):  # `$$...` and `$var...` cannot receive a result
        raise StatesError(errors.RESULT_PATH_MATCH_FAILURE, f"Invalid ResultPath '{path}'")
    if not steps:
        return result
    return _put(state_input, steps, result, path)


def to_json(value: Any) -> str:
    """Compact JSON, as AWS quotes values in causes."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _apply_path(path: str | None, value: Any, context: Any, variables: dict[str, Any]) -> Any:
    if path is None:
        return {}
    try:
        return select(value, path, context=context, variables=variables)
    except PathError as error:
        raise StatesError(errors.RUNTIME, error.message) from error


def _dynamic_value(
    field: str, key: str, expression: Any, value: Any, context: Any, variables: dict[str, Any]
) -> Any:
    if not isinstance(expression, str):
        raise StatesError(
            errors.RUNTIME,
            f"The value for the field '{key}' in {field} "
            "must be a valid JSONPath or a valid intrinsic function call",
        )
    if is_intrinsic(expression):
        return evaluate_intrinsic(expression, value, context=context, variables=variables)
    try:
        return select(value, expression, context=context, variables=variables)
    except PathError as error:
        raise path_not_found(expression, key, value) from error


def path_not_found(expression: str, field: str, value: Any) -> StatesError:
    """The States.Runtime error of a JSONPath in `field` that selects nothing from `value`."""
    return StatesError(
        errors.RUNTIME,
        f"The JSONPath '{expression}' specified for the field '{field}' "
        f"could not be found in the input '{to_json(value)}'",
    )


def _put(container: Any, steps: list[str | int], result: Any, path: str) -> Any:
    """A copy of `container` with `result` at `steps`; only the objects along the path are copied."""
    step, rest = steps[0], steps[1:]
    if isinstance(step, str) and isinstance(container, dict):
        updated = dict(container)
        updated[step] = _put(container.get(step, {}), rest, result, path) if rest else result
        return updated
    if isinstance(step, int) and isinstance(container, list) and -len(container) <= step < len(container):
        updated_list = list(container)
        updated_list[step] = _put(container[step], rest, result, path) if rest else result
        return updated_list
    raise StatesError(
        errors.RESULT_PATH_MATCH_FAILURE,
        f"Unable to apply ResultPath '{path}' to input '{to_json(container)}'",
    )
