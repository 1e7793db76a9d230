"""JSON parsing for the sniffer: ``json.loads``, plus an iterative parser for documents nested deeper
than Python's recursion limit (valid JSON that ``json.loads`` gives up on with a ``RecursionError``).

The iterative parser uses the standard library's own string and number scanners, so both paths accept
and refuse the same texts; only the nesting is handled with an explicit stack instead of recursion.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]
from json.scanner import NUMBER_RE
from typing import Any

PairsHook = Callable[[list[tuple[str, Any]]], Any]
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_CONSTANTS: dict[str, Any] = {
    "null": None,
    "true": True,
    "false": False,
    "NaN": float("nan"),
    "Infinity": float("inf"),
    "-Infinity": float("-inf"),
}


class DuplicateKeyError(ValueError):
    """A JSON object names the same key twice (``json.loads`` would keep the last value silently)."""


def unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for key, value in pairs:
        if key in record:
            raise DuplicateKeyError(f"duplicate key {key!r}")
        record[key] = value
    return record


def loads(text: str, *, object_pairs_hook: PairsHook = dict) -> Any:
    """``json.loads(text)`` at any depth. Raises ``json.JSONDecodeError`` (a ValueError) for invalid
    JSON, and whatever ``object_pairs_hook`` raises."""
    try:
        return json.loads(text, object_pairs_hook=object_pairs_hook)
    except RecursionError:
        return loads_iteratively(text, object_pairs_hook=object_pairs_hook)


@dataclass
class _Frame:
    """An array or object being parsed."""

    is_object: bool
    items: list[Any] = field(default_factory=list)
    key: str = ""


def _skip(text: str, index: int) -> int:
    match = _WHITESPACE.match(text, index)
    return match.end() if match else index


def _key(text: str, index: int) -> tuple[str, int]:
    """A member's name and the index after its colon."""
    if text[index : index + 1] != '"':
        raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, index)
    key, index = scanstring(text, index + 1, True)
    index = _skip(text, index)
    if text[index : index + 1] != ":":
        raise json.JSONDecodeError("Expecting ':' delimiter", text, index)
    return key, _skip(text, index + 1)


def _scalar(text: str, index: int) -> tuple[Any, int]:
    if text[index : index + 1] == '"':
        value, end = scanstring(text, index + 1, True)
        return value, end
    number = NUMBER_RE.match(text, index)
    if number:
        integer, fraction, exponent = number.groups()
        if fraction or exponent:
            return float(integer + (fraction or "") + (exponent or "")), number.end()
        return int(integer), number.end()
    for literal, value in _CONSTANTS.items():
        if text.startswith(literal, index):
            return value, index + len(literal)
    raise json.JSONDecodeError("Expecting value", text, index)


def loads_iteratively(text: str, *, object_pairs_hook: PairsHook = dict) -> Any:
    """Parse one JSON document with an explicit stack (no recursion, so no depth limit)."""
    stack: list[_Frame] = []
    index = _skip(text, 0)
    while True:
        # A value starts at index: open a container, or read a scalar.
        opener = text[index : index + 1]
        if opener in ("{", "["):
            frame = _Frame(is_object=opener == "{")
            index = _skip(text, index + 1)
            closer = "}" if frame.is_object else "]"
            if text[index : index + 1] != closer:
                if frame.is_object:
                    frame.key, index = _key(text, index)
                stack.append(frame)
                continue
            value: Any = object_pairs_hook([]) if frame.is_object else []
            index += 1
        else:
            value, index = _scalar(text, index)
        # A value ended: add it to the enclosing containers, closing those that end here.
        while True:
            index = _skip(text, index)
            if not stack:
                if index != len(text):
                    raise json.JSONDecodeError("Extra data", text, index)
                return value
            frame = stack[-1]
            frame.items.append((frame.key, value) if frame.is_object else value)
            delimiter = text[index : index + 1]
            if delimiter == ",":
                index = _skip(text, index + 1)
                if frame.is_object:
                    frame.key, index = _key(text, index)
                break
            if delimiter != ("}" if frame.is_object else "]"):
                raise json.JSONDecodeError("Expecting ',' delimiter", text, index)
            stack.pop()
            value = object_pairs_hook(frame.items) if frame.is_object else frame.items
            index += 1
