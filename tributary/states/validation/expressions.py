"""Syntax checks of the expressions a definition holds: JSONPath paths, intrinsic function calls
and JSONata `{% ... %}` strings. Only the syntax: whether a path selects anything is a runtime matter."""

from __future__ import annotations

import functools
import re

import jsonata
from jsonpath_ng.ext import parse as parse_jsonpath

INTRINSIC_FUNCTIONS = frozenset(
    {
        "States.Array",
        "States.ArrayContains",
        "States.ArrayGetItem",
        "States.ArrayLength",
        "States.ArrayPartition",
        "States.ArrayRange",
        "States.ArrayUnique",
        "States.Base64Decode",
        "States.Base64Encode",
        "States.Format",
        "States.Hash",
        "States.JsonMerge",
        "States.JsonToString",
        "States.MathAdd",
        "States.MathRandom",
        "States.StringSplit",
        "States.StringToJson",
        "States.UUID",
    }
)

_VARIABLE_ROOT = re.compile(r"^\$[A-Za-z_][A-Za-z0-9_]*")
# Characters a string literal of an intrinsic call may escape with a backslash.
_INTRINSIC_ESCAPABLE = "'{}\\"
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
_FUNCTION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*")
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
def is_valid_path(path: str) -> bool:
    """Whether `path` is a JSONPath the States Language accepts (rooted at `$`, `$$` or `$name`)."""
    rest = _split_root(path.strip())
    if rest is None:
        return False
    if rest == "":
        return True
    if rest[0] not in ".[":
        return False
    try:
        parse_jsonpath("$" + rest)
    except Exception:  # jsonpath-ng raises several exception types for bad syntax
        return False
    return True


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


class _IntrinsicParser:
    """A recursive-descent reader of one intrinsic call; `parse()` is False on any syntax error."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0

    def parse(self) -> bool:
        try:
            self._call()
            self._skip_spaces()
            return self.position == len(self.text)
        except ValueError:
            return False

    def _skip_spaces(self) -> None:
        while self.position < len(self.text) and self.text[self.position] == " ":
            self.position += 1

    def _peek(self) -> str:
        return self.text[self.position] if self.position < len(self.text) else ""

    def _expect(self, char: str) -> None:
        self._skip_spaces()
        if self._peek() != char:
            raise ValueError(f"expected {char!r} at {self.position}")
        self.position += 1

    def _call(self) -> None:
        self._skip_spaces()
        name = _FUNCTION_NAME.match(self.text, self.position)
        if not name or name.group() not in INTRINSIC_FUNCTIONS:
            raise ValueError("unknown function")
        self.position = name.end()
        self._expect("(")
        self._skip_spaces()
        if self._peek() == ")":
            self.position += 1
            return
        while True:
            self._argument()
            self._skip_spaces()
            if self._peek() == ",":
                self.position += 1
                continue
            self._expect(")")
            return

    def _argument(self) -> None:
        self._skip_spaces()
        char = self._peek()
        if char == "'":
            self._string()
        elif char == "$":
            self._path()
        elif char == "-" or char.isdigit():
            number = _NUMBER.match(self.text, self.position)
            if not number:
                raise ValueError("bad number")
            self.position = number.end()
        elif self.text.startswith(("null", "true", "false"), self.position):
            word = next(w for w in ("null", "true", "false") if self.text.startswith(w, self.position))
            self.position += len(word)
        else:
            self._call()

    def _string(self) -> None:
        self.position += 1
        while self.position < len(self.text):
            char = self.text[self.position]
            if char == "\\":
                if (
                    self.position + 1 >= len(self.text)
                    or self.text[self.position + 1] not in _INTRINSIC_ESCAPABLE
                ):
                    raise ValueError("illegal escape")
                self.position += 2
            elif char == "'":
                self.position += 1
                return
            else:
                self.position += 1
        raise ValueError("unterminated string")

    def _path(self) -> None:
        # A path argument runs to the next top-level comma or closing parenthesis.
        start, depth, quote = self.position, 0, ""
        while self.position < len(self.text):
            char = self.text[self.position]
            if quote:
                quote = "" if char == quote else quote
            elif char in "'\"":
                quote = char
            elif char in "[(":
                depth += 1
            elif char in "])":
                if depth == 0:
                    break
                depth -= 1
            elif char == "," and depth == 0:
                break
            self.position += 1
        if not is_valid_path(self.text[start : self.position].strip()):
            raise ValueError("bad path")


def looks_like_intrinsic(value: str) -> bool:
    return value.startswith("States.")


@functools.lru_cache(maxsize=1024)
def is_valid_intrinsic(value: str) -> bool:
    """Whether `value` is a well-formed intrinsic function call (known function, legal literals)."""
    return _IntrinsicParser(value.strip()).parse()
