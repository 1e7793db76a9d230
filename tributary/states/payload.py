"""The JSONPath-mode input and output processing of a state, in AWS's order:
InputPath -> Parameters (payload template) -> the state's work -> ResultSelector -> ResultPath
-> OutputPath. A payload template is loaded once (`compile_template`) into a tree of
`TemplateNode`s, each `.$` key's source (a path, an intrinsic function call) decided then.

Every failure raises `StatesError` with AWS's error name and the cause AWS writes after its
"An error occurred while executing the state 'X' (entered at the event id #N). " prefix, which the
engine adds since only it knows the state and the event id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tributary.states import errors
from tributary.states.errors import DefinitionError, StatesError
from tributary.states.intrinsic_functions import evaluate_intrinsic, is_intrinsic
from tributary.states.jsonpath import PathError, definite_steps, select


def input_path(path: str | None, value: Any, *, context: Any, variables: dict[str, Any]) -> Any:
    """InputPath: `None` (JSON null) gives `{}`; a path that selects nothing is `States.Runtime`."""
    return _apply_path(path, value, context, variables)


def output_path(path: str | None, value: Any, *, context: Any, variables: dict[str, Any]) -> Any:
    """OutputPath: `None` (JSON null) gives `{}`; a path that selects nothing is `States.Runtime`."""
    return _apply_path(path, value, context, variables)


class TemplateNode:
    """A part of a JSONPath payload template, as loaded: `resolve` gives its value for one run."""

    __slots__ = ()

    def resolve(self, value: Any, context: Any, variables: dict[str, Any]) -> Any:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Constant(TemplateNode):
    """A value written as it is (a string, number, boolean or null)."""

    value: Any

    def resolve(self, value: Any, context: Any, variables: dict[str, Any]) -> Any:
        return self.value


@dataclass(frozen=True, slots=True)
class ObjectNode(TemplateNode):
    """An object: each key's node (a `.$` key under its name without the suffix). A new object
    every run, so that no run's output shares a container with another's."""

    entries: tuple[tuple[str, TemplateNode], ...]

    def resolve(self, value: Any, context: Any, variables: dict[str, Any]) -> Any:
        return {key: node.resolve(value, context, variables) for key, node in self.entries}


@dataclass(frozen=True, slots=True)
class ArrayNode(TemplateNode):
    items: tuple[TemplateNode, ...]

    def resolve(self, value: Any, context: Any, variables: dict[str, Any]) -> Any:
        return [node.resolve(value, context, variables) for node in self.items]


@dataclass(frozen=True, slots=True)
class PathNode(TemplateNode):
    """A `.$` key's path: `$...` in the value handed over, `$$...` in the context object, `$name...`
    a variable; one that selects nothing is States.Runtime naming the key."""

    key: str
    path: str

    def resolve(self, value: Any, context: Any, variables: dict[str, Any]) -> Any:
        try:
            return select(value, self.path, context=context, variables=variables)
        except PathError as error:
            raise path_not_found(self.path, self.key, value) from error


@dataclass(frozen=True, slots=True)
class IntrinsicNode(TemplateNode):
    """A `.$` key's intrinsic function call (a malformed call fails when it runs, as on AWS)."""

    expression: str

    def resolve(self, value: Any, context: Any, variables: dict[str, Any]) -> Any:
        return evaluate_intrinsic(self.expression, value, context=context, variables=variables)


@dataclass(frozen=True, slots=True)
class InvalidNode(TemplateNode):
    """A `.$` key whose value is not a string, in a template applied without being loaded (see
    `payload_template`): States.Runtime when it runs."""

    message: str

    def resolve(self, value: Any, context: Any, variables: dict[str, Any]) -> Any:
        raise StatesError(errors.RUNTIME, self.message)


def compile_template(template: Any, field: str, place: str | None = None) -> TemplateNode:
    """A payload template (Parameters, ResultSelector, ItemSelector, Assign...) loaded once: keys
    ending in `.$` lose the suffix and take the value of their path or intrinsic function call,
    decided here; other values are kept, with objects and arrays walked. A `.$` key whose value is
    not a string is refused (`DefinitionError` at `place`, with ValidateStateMachineDefinition's
    message) when `place` is given, and fails when it runs otherwise. `field` names the state
    field, for causes."""
    if isinstance(template, dict):
        entries: list[tuple[str, TemplateNode]] = []
        for key, item in template.items():
            if key.endswith(".$"):
                entries.append((key[:-2], _dynamic_node(field, key, item, place)))
            else:
                entries.append((key, compile_template(item, field, place)))
        return ObjectNode(tuple(entries))
    if isinstance(template, list):
        return ArrayNode(tuple(compile_template(item, field, place) for item in template))
    return Constant(template)


def payload_template(
    template: Any, value: Any, *, context: Any, variables: dict[str, Any], field: str
) -> Any:
    """A payload template as written applied to `value` (states hold theirs loaded, see
    `compile_template`). `field` names the state field, for causes (AWS's cause for a path that
    selects nothing names only the key)."""
    return compile_template(template, field).resolve(value, context, variables)


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


def _dynamic_node(field: str, key: str, expression: Any, place: str | None) -> TemplateNode:
    if not isinstance(expression, str):
        problem = "must be a valid JSONPath or a valid intrinsic function call"
        if place is not None:
            raise DefinitionError(f"The value for the field '{key}' {problem}", place)
        return InvalidNode(f"The value for the field '{key}' in {field} {problem}")
    if is_intrinsic(expression):
        return IntrinsicNode(expression)
    return PathNode(key, expression)


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
