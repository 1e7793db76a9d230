"""Syntax checks of the expressions a definition holds: reference paths, intrinsic function calls
and JSONata `{% ... %}` strings. Only the syntax: whether a path selects anything is a runtime
matter. JSONPath syntax is checked by the runtime's own parser, `tributary.states.jsonpath.check`."""

from __future__ import annotations

import functools
import re

import jsonata

from tributary.states import intrinsic_functions as intrinsics
from tributary.states import jsonpath
from tributary.states.errors import StatesError

_VARIABLE_ROOT = re.compile(r"^\$[A-Za-z_][A-Za-z0-9_]*")
# Characters a string literal of an intrinsic call may escape with a backslash.
_INTRINSIC_ESCAPABLE = "'{}\\"
# A reference path: only names and indexes after the root.
_REFERENCE_STEP = re.compile(
    r"""\.[^.\[\]'"*@?()]+|\[\s*'(?:[^'\\]|\\.)*'\s*]|\[\s*"(?:[^"\\]|\\.)*"\s*]|\[\s*\d+\s*]"""
)


def is_jsonata(value: object) -> bool:
    """Whether `value` is written as a JSONata expression, `{% ... %}`."""
    return isinstance(value, str) and value.startswith("{%") and value.endswith("%}") and len(value) >= 4


@functools.lru_cache(maxsize=1024)
def jsonata_error(value: str) -> str | None:
    """Why the JSONata string `value` (with its `{% %}`) does not parse, or None when it does."""
    body = value[2:-2].strip()
    if not body:
        return "The JSONata expression is empty"
    try:
        jsonata.Jsonata(body)
    except Exception as exc:  # the library raises its own JException and, for some input, others
        return f"The JSONata expression '{body}' is not valid: {exc}"
    return None


def _split_root(path: str) -> str | None:
    """The part of `path` after its root (`$$`, `$name` or `$`), None when `path` has no root."""
    if path.startswith("$$"):
        return path[2:]
    variable = _VARIABLE_ROOT.match(path)
    if variable:
        return path[variable.end() :]
    if path.startswith("$"):
        return path[1:]
    return None


@functools.lru_cache(maxsize=4096)
def is_reference_path(path: str) -> bool:
    """Whether `path` is a reference path: it selects exactly one node (names and indexes only)."""
    rest = _split_root(path.strip())
    if rest is None:
        return False
    position = 0
    while position < len(rest):
        step = _REFERENCE_STEP.match(rest, position)
        if not step:
            return False
        position = step.end()
    return True


def looks_like_intrinsic(value: str) -> bool:
    return value.startswith("States.")


@functools.lru_cache(maxsize=1024)
def is_valid_intrinsic(value: str) -> bool:
    """Whether `value` is a well-formed intrinsic function call, by the runtime's parser plus what
    CreateStateMachine also refuses: escapes other than `\\'`, `\\{`, `\\}`, `\\\\` in string
    literals, and path arguments that are not JSONPath."""
    try:
        call = intrinsics.parse_intrinsic(value.strip())
    except StatesError:
        return False
    return _arguments_valid(call)


def _arguments_valid(call: intrinsics.Call) -> bool:
    for argument in call.arguments:
        if isinstance(argument, intrinsics.Call) and not _arguments_valid(argument):
            return False
        if isinstance(argument, intrinsics.Path) and not jsonpath.is_valid(argument.path):
            return False
        if (
            isinstance(argument, intrinsics.Literal)
            and argument.raw is not None
            and not _escapes_legal(argument.raw)
        ):
            return False
    return True


def _escapes_legal(raw: str) -> bool:
    position = raw.find("\\")
    while position != -1:
        if position + 1 >= len(raw) or raw[position + 1] not in _INTRINSIC_ESCAPABLE:
            return False
        position = raw.find("\\", position + 2)
    return True
