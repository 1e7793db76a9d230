"""JSONPath as the Amazon States Language uses it.

`$` is the data (a state's input), `$$` the context object, `$name` a variable (JSONPath-mode
variables, assigned by `Assign`). A definite path (only names and indexes) selects one value and
fails when that value is absent; an indefinite path (wildcards, slices, filters, descendants,
unions) selects a list of values, like the Jayway library AWS uses.

Simple definite paths, by far the most common, are walked by hand: jsonpath-ng is slow to parse
and the engine evaluates paths on every transition.
"""

from __future__ import annotations

import functools
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext import parse as parse_jsonpath

# One step of a definite path: `.name`, `['name']`, `["name"]` or `[index]`.
_STEP = re.compile(
    r"""\.([^.\[\]'"*]+)|\[\s*'((?:[^'\\]|\\.)*)'\s*]|\[\s*"((?:[^"\\]|\\.)*)"\s*]|\[\s*(-?\d+)\s*]"""
)
_VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
# A Jayway function applied to what the path before it selects: `$.items.length()`.
_FUNCTION = re.compile(r"\.(length|size|min|max|avg|sum|stddev|keys|first|last)\(\)\s*$")

Step = str | int


class PathError(Exception):
    """A path that is malformed, or selects nothing in the data it is applied to."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def select(data: Any, path: str, *, context: Any = None, variables: dict[str, Any] | None = None) -> Any:
    """The value `path` selects in `data` (in `context` for `$$...`, in a variable for `$name...`).

    A definite path gives the one value it selects; an indefinite path gives the list of the values
    it selects. Raises `PathError` when the path is malformed or a definite path selects nothing.
    """
    if path == "$":
        return data
    plan = _plan(path) if isinstance(path, str) else _invalid(path)
    if plan.function:
        selected = select(data, plan.inner, context=context, variables=variables)
        return _FUNCTIONS[plan.function](selected, path)
    if plan.root == "context":
        root = context
    elif plan.root == "variable":
        if variables is None or plan.variable not in variables:
            raise PathError(path, f"Invalid path '{path}': variable '{plan.variable}' is not defined")
        root = variables[plan.variable]
    else:
        root = data
    if plan.steps is not None:
        return _walk(root, plan.steps, path)
    return [match.value for match in _compiled(path, plan.rest).find(root)]


def is_definite(path: str) -> bool:
    """Whether `path` is a reference path (selects a single value: names and indexes only)."""
    try:
        plan = _plan(path)
    except PathError:
        return False
    return not plan.function and plan.steps is not None


def definite_steps(path: str) -> list[Step]:
    """The steps (keys and indexes) of the reference path `path` after its root; `PathError` otherwise."""
    plan = _plan(path)
    if plan.function or plan.steps is None:
        raise PathError(path, f"Invalid reference path '{path}'")
    return list(plan.steps)


def check(path: str) -> None:
    """Raise `PathError` unless `path` is a JSONPath the States Language accepts: rooted at `$`, `$$`
    or `$name`, with Jayway's trailing functions (`.length()`) and regex filters (`=~ /re/i`).
    Only the syntax: whether the path selects anything is a matter for `select`. Validation of
    definitions (tributary.states.validation) and the runtime share this one parser."""
    if not isinstance(path, str):
        _invalid(path)
    _check(path.strip())


def is_valid(path: str) -> bool:
    """Whether `check(path)` passes."""
    try:
        check(path)
    except PathError:
        return False
    return True


@functools.lru_cache(maxsize=4096)
def _check(path: str) -> None:
    plan = _plan(path)
    if plan.function:
        if _FUNCTION.search(plan.inner):  # Jayway: a function ends a path, it cannot be chained
            _invalid(path)
        _check(plan.inner)
    elif plan.rest:
        if plan.rest[0] not in ".[":
            _invalid(path)
        _compiled(path, plan.rest)


def normalized(steps: list[Step] | tuple[Step, ...], root: str = "$") -> str:
    """A path in Jayway's normalized form, as AWS quotes it in causes: `$['a'][0]`."""
    return root + "".join(f"[{step}]" if isinstance(step, int) else f"['{step}']" for step in steps)


@dataclass(frozen=True)
class _Plan:
    """What a path means, worked out once per path text."""

    root: str  # "input" ($), "context" ($$) or "variable" ($name)
    variable: str  # the variable's name, for a "variable" root
    rest: str  # the path after its root
    steps: tuple[Step, ...] | None  # the names and indexes of a definite path, else None
    function: str = ""  # a Jayway function applied to what `inner` selects
    inner: str = ""


def _invalid(path: Any) -> _Plan:
    raise PathError(str(path), f"Invalid path '{path}'")


@functools.lru_cache(maxsize=4096)
def _plan(path: str) -> _Plan:
    if not path.startswith("$"):
        _invalid(path)
    function = _FUNCTION.search(path)
    if function is not None:
        return _Plan("input", "", "", None, function.group(1), path[: function.start()])
    if path.startswith("$$"):
        root, name, rest = "context", "", path[2:]
    elif (variable := _VARIABLE.match(path)) is not None:
        root, name, rest = "variable", variable.group(1), path[variable.end() :]
    else:
        root, name, rest = "input", "", path[1:]
    return _Plan(root, name, rest, _definite_steps(rest))


@functools.lru_cache(maxsize=4096)
def _definite_steps(rest: str) -> tuple[Step, ...] | None:
    """The steps of `rest` if it is a chain of names and indexes, else None."""
    steps: list[Step] = []
    position = 0
    while position < len(rest):
        step = _STEP.match(rest, position)
        if step is None:
            return None
        name, single, double, index = step.groups()
        if index is not None:
            steps.append(int(index))
        else:
            if name is not None:
                steps.append(name)
            elif single is not None:
                steps.append(single.replace("\\'", "'"))
            else:
                steps.append(double.replace('\\"', '"'))
        position = step.end()
    return tuple(steps)


def _walk(root: Any, steps: tuple[Step, ...], path: str) -> Any:
    current = root
    for step in steps:
        if not _has_step(current, step):
            raise PathError(path, f"Invalid path '{path}' : No results for path: {normalized(steps)}")
        current = current[step]
    return current


def _numbers(values: Any, path: str) -> list[float]:
    if not isinstance(values, list) or not values:
        raise PathError(path, f"Invalid path '{path}': the function needs a non-empty array of numbers")
    if not all(isinstance(item, int | float) and not isinstance(item, bool) for item in values):
        raise PathError(path, f"Invalid path '{path}': the function needs an array of numbers")
    return list(values)


def _length(values: Any, path: str) -> int:
    if not isinstance(values, list | dict | str):
        raise PathError(path, f"Invalid path '{path}': length() needs an array, object or string")
    return len(values)


def _element(values: Any, path: str, index: int) -> Any:
    if not isinstance(values, list) or not values:
        raise PathError(path, f"Invalid path '{path}': the function needs a non-empty array")
    return values[index]


def _keys(values: Any, path: str) -> list[str]:
    if not isinstance(values, dict):
        raise PathError(path, f"Invalid path '{path}': keys() needs an object")
    return list(values)


_FUNCTIONS: dict[str, Callable[[Any, str], Any]] = {
    "length": _length,
    "size": _length,
    "min": lambda values, path: min(_numbers(values, path)),
    "max": lambda values, path: max(_numbers(values, path)),
    "sum": lambda values, path: sum(_numbers(values, path)),
    "avg": lambda values, path: statistics.fmean(_numbers(values, path)),
    "stddev": lambda values, path: statistics.pstdev(_numbers(values, path)),
    "keys": _keys,
    "first": lambda values, path: _element(values, path, 0),
    "last": lambda values, path: _element(values, path, -1),
}


def _has_step(value: Any, step: Step) -> bool:
    if isinstance(step, int):
        return isinstance(value, list) and -len(value) <= step < len(value)
    return isinstance(value, dict) and step in value


# Jayway's regex filter, `=~ /pattern/flags`, which must match the whole string.
_REGEX_FILTER = re.compile(r"=~\s*/((?:[^/\\]|\\.)*)/([a-z]*)")


def _jsonpath_ng_regex(match: re.Match[str]) -> str:
    pattern, flags = match.group(1).replace("\\/", "/"), match.group(2)
    inline = f"(?{flags.replace('g', '')})" if flags.replace("g", "") else ""
    quoted = (inline + "^(?:" + pattern + ")$").replace("\\", "\\\\").replace('"', '\\"')
    return f'=~ "{quoted}"'


@functools.lru_cache(maxsize=1024)
def _compiled(path: str, rest: str) -> Any:
    try:
        return parse_jsonpath("$" + _REGEX_FILTER.sub(_jsonpath_ng_regex, rest))
    except (JsonPathLexerError, JsonPathParserError, Exception) as error:
        raise PathError(path, f"Invalid path '{path}': {error}") from error
