"""The intrinsic functions of the Amazon States Language: `States.Format('{}', $.x)` and the rest.

`parse_intrinsic` turns the call syntax into a small tree (calls, paths, literals);
`evaluate_intrinsic` evaluates it against a state's input, the context object and variables.
Failures are `StatesError`s: `States.Runtime` for a path that selects nothing, as for any path,
and `States.IntrinsicFailure` for a call that cannot be evaluated or parsed.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import math
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tributary.states import errors
from tributary.states.errors import StatesError
from tributary.states.jsonpath import PathError, select


@dataclass(frozen=True)
class Literal:
    """A string, number, boolean or null written in the call. `raw` keeps a string's escapes,
    which States.Format needs to tell `\\{` from a placeholder."""

    value: Any
    raw: str | None = None


@dataclass(frozen=True)
class Path:
    """A path argument: `$.x`, `$$.x`, `$var.x`."""

    path: str


@dataclass(frozen=True)
class Call:
    """A call of an intrinsic function, e.g. `States.Array`, with its arguments."""

    name: str
    arguments: tuple[Argument, ...]


Argument = Literal | Path | Call


def is_intrinsic(text: Any) -> bool:
    """Whether `text` is written as an intrinsic function call (as opposed to a path)."""
    return isinstance(text, str) and text.lstrip().startswith("States.")


def evaluate_intrinsic(expression: str, value: Any, *, context: Any, variables: dict[str, Any]) -> Any:
    """The value of the intrinsic function call `expression`, its path arguments taken from `value`
    (`$`), `context` (`$$`) and `variables` (`$name`)."""
    call = parse_intrinsic(expression)
    return _evaluate(call, value, context, variables)


@functools.lru_cache(maxsize=1024)
def parse_intrinsic(expression: str) -> Call:
    """The call tree of `expression`; `StatesError(States.IntrinsicFailure)` if it is malformed."""
    parser = _Parser(expression)
    call = parser.call()
    parser.skip_spaces()
    if not parser.at_end():
        raise parser.error("unexpected text after the function call")
    return call


class _Parser:
    """A recursive-descent parser over the text of one call."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0

    def at_end(self) -> bool:
        return self.position >= len(self.text)

    def peek(self) -> str:
        return self.text[self.position] if not self.at_end() else ""

    def skip_spaces(self) -> None:
        while not self.at_end() and self.text[self.position].isspace():
            self.position += 1

    def error(self, problem: str) -> StatesError:
        return StatesError(
            errors.INTRINSIC_FAILURE,
            f"Invalid intrinsic function expression '{self.text}': {problem} at position {self.position}",
        )

    def expect(self, character: str) -> None:
        self.skip_spaces()
        if self.peek() != character:
            raise self.error(f"expected '{character}'")
        self.position += 1

    def call(self) -> Call:
        self.skip_spaces()
        start = self.position
        while not self.at_end() and (self.peek().isalnum() or self.peek() in "._"):
            self.position += 1
        name = self.text[start : self.position]
        if name != _FORMAT and name not in _FUNCTIONS:
            raise self.error(f"unknown function '{name}'")
        self.expect("(")
        arguments: list[Argument] = []
        self.skip_spaces()
        if self.peek() == ")":
            self.position += 1
            return Call(name, ())
        while True:
            arguments.append(self.argument())
            self.skip_spaces()
            if self.peek() == ",":
                self.position += 1
                continue
            self.expect(")")
            return Call(name, tuple(arguments))

    def argument(self) -> Argument:
        self.skip_spaces()
        character = self.peek()
        if character == "'":
            return self.string()
        if character == "$":
            return self.path()
        if self.text.startswith("States.", self.position):
            return self.call()
        return self.scalar()

    def string(self) -> Literal:
        self.position += 1  # the opening quote
        raw: list[str] = []
        value: list[str] = []
        while not self.at_end():
            character = self.text[self.position]
            if character == "\\":
                if self.position + 1 >= len(self.text):
                    break
                escaped = self.text[self.position + 1]
                raw.append(character + escaped)
                value.append(escaped)
                self.position += 2
                continue
            self.position += 1
            if character == "'":
                return Literal("".join(value), "".join(raw))
            raw.append(character)
            value.append(character)
        raise self.error("unterminated string literal")

    def path(self) -> Path:
        # A path runs to the next `,` or `)` outside brackets and quotes (filters may hold both).
        start = self.position
        depth = 0
        quote = ""
        while not self.at_end():
            character = self.text[self.position]
            if quote:
                if character == "\\":
                    self.position += 1
                elif character == quote:
                    quote = ""
            elif character in "'\"":
                quote = character
            elif character in "[(":
                depth += 1
            elif character in "])":
                if depth == 0:
                    break
                depth -= 1
            elif character == "," and depth == 0:
                break
            self.position += 1
        return Path(self.text[start : self.position].strip())

    def scalar(self) -> Literal:
        start = self.position
        while not self.at_end() and self.peek() not in ",)" and not self.peek().isspace():
            self.position += 1
        token = self.text[start : self.position]
        if token in ("null", "true", "false"):
            return Literal({"null": None, "true": True, "false": False}[token])
        try:
            number = json.loads(token)
        except ValueError:
            number = None
        if isinstance(number, int | float) and not isinstance(number, bool):
            return Literal(number)
        self.position = start
        raise self.error(f"invalid argument '{token}'")


def _evaluate(call: Call, value: Any, context: Any, variables: dict[str, Any]) -> Any:
    arguments = [_argument(argument, value, context, variables) for argument in call.arguments]
    try:
        if call.name == _FORMAT:
            return _format(call, arguments)
        return _FUNCTIONS[call.name](*arguments)
    except StatesError:
        raise
    except (TypeError, ValueError, IndexError, KeyError, OverflowError) as error:
        raise StatesError(errors.INTRINSIC_FAILURE, f"Invalid arguments in {call.name}: {error}") from error


def _argument(argument: Argument, value: Any, context: Any, variables: dict[str, Any]) -> Any:
    if isinstance(argument, Literal):
        return argument.value
    if isinstance(argument, Call):
        return _evaluate(argument, value, context, variables)
    try:
        return select(value, argument.path, context=context, variables=variables)
    except PathError as error:
        raise StatesError(errors.RUNTIME, error.message) from error


def _failure(name: str, problem: str) -> StatesError:
    return StatesError(errors.INTRINSIC_FAILURE, f"Invalid arguments in {name}: {problem}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    return _is_number(value) and float(value).is_integer()


def json_equal(left: Any, right: Any) -> bool:
    """Equality of JSON values: booleans are not numbers, 1 equals 1.0, key order is irrelevant."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if _is_number(left) and _is_number(right):
        return bool(left == right)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[key], right[key]) for key in left)
    return type(left) is type(right) and bool(left == right)


def parse_json(text: str) -> Any:
    """Strict JSON, as Jackson reads it: NaN and Infinity are not numbers of JSON."""
    return json.loads(text, parse_constant=_reject_constant)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def to_json_string(value: Any) -> str:
    """Compact JSON, as AWS writes values into strings."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def java_string(value: Any) -> str:
    """How AWS renders a value in States.Format: Java's toString of the parsed JSON
    (`{a=1, b=[x, y]}`), strings without quotes."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + ", ".join(java_string(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}={java_string(item)}" for key, item in value.items()) + "}"
    return to_json_string(value)


def _format(call: Call, arguments: list[Any]) -> str:
    if not arguments or not isinstance(arguments[0], str):
        raise _failure(call.name, "the first argument must be a string")
    first = call.arguments[0]
    template = first.raw if isinstance(first, Literal) and first.raw is not None else arguments[0]
    values = arguments[1:]
    pieces: list[str] = []
    used = 0
    position = 0
    while position < len(template):
        character = template[position]
        if character == "\\" and position + 1 < len(template):
            pieces.append(template[position + 1])
            position += 2
        elif template.startswith("{}", position):
            if used >= len(values):
                raise _failure(call.name, "more placeholders than arguments")
            pieces.append(java_string(values[used]))
            used += 1
            position += 2
        else:
            pieces.append(character)
            position += 1
    if used != len(values):
        raise _failure(call.name, "more arguments than placeholders")
    return "".join(pieces)


def _array(*values: Any) -> list[Any]:
    return list(values)


def _array_partition(array: Any, size: Any) -> list[list[Any]]:
    if not isinstance(array, list) or not _is_integer(size) or size <= 0:
        raise _failure("States.ArrayPartition", "expected an array and a positive integer chunk size")
    chunk = int(size)
    return [array[start : start + chunk] for start in range(0, len(array), chunk)]


def _array_contains(array: Any, looked_for: Any) -> bool:
    if not isinstance(array, list):
        raise _failure("States.ArrayContains", "the first argument must be an array")
    return any(json_equal(item, looked_for) for item in array)


def _array_range(start: Any, end: Any, step: Any) -> list[int]:
    if not (_is_integer(start) and _is_integer(end) and _is_integer(step)) or step == 0:
        raise _failure("States.ArrayRange", "expected integers and a non-zero step")
    values = list(range(int(start), int(end) + (1 if step > 0 else -1), int(step)))
    if len(values) > 1000:
        raise _failure("States.ArrayRange", "the range has more than 1000 items")
    return values


def _array_get_item(array: Any, index: Any) -> Any:
    if not isinstance(array, list) or not _is_integer(index) or not 0 <= index < len(array):
        raise _failure("States.ArrayGetItem", "expected an array and an index within it")
    return array[int(index)]


def _array_length(array: Any) -> int:
    if not isinstance(array, list):
        raise _failure("States.ArrayLength", "the argument must be an array")
    return len(array)


def _array_unique(array: Any) -> list[Any]:
    if not isinstance(array, list):
        raise _failure("States.ArrayUnique", "the argument must be an array")
    unique: list[Any] = []
    for item in array:
        if not any(json_equal(item, seen) for seen in unique):
            unique.append(item)
    return unique


def _base64_encode(text: Any) -> str:
    if not isinstance(text, str):
        raise _failure("States.Base64Encode", "the argument must be a string")
    return base64.b64encode(text.encode()).decode("ascii")


def _base64_decode(text: Any) -> str:
    if not isinstance(text, str):
        raise _failure("States.Base64Decode", "the argument must be a string")
    try:
        return base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as error:
        raise _failure("States.Base64Decode", f"invalid base64 data: {error}") from error


HASH_ALGORITHMS = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


def _hash(data: Any, algorithm: Any) -> str:
    if algorithm not in HASH_ALGORITHMS:
        raise _failure("States.Hash", f"the hash algorithm must be one of {', '.join(HASH_ALGORITHMS)}")
    text = data if isinstance(data, str) else to_json_string(data)
    return hashlib.new(HASH_ALGORITHMS[algorithm], text.encode()).hexdigest()


def _json_merge(left: Any, right: Any, deep: Any) -> dict[str, Any]:
    if not isinstance(left, dict) or not isinstance(right, dict) or not isinstance(deep, bool):
        raise _failure("States.JsonMerge", "expected two objects and a boolean")
    if deep:
        raise _failure("States.JsonMerge", "deep merge is not supported, the third argument must be false")
    return {**left, **right}


def _string_to_json(text: Any) -> Any:
    if not isinstance(text, str):
        raise _failure("States.StringToJson", "the argument must be a string")
    if not text.strip():
        return None
    try:
        return parse_json(text)
    except ValueError as error:
        raise _failure("States.StringToJson", f"the argument is not JSON: {error}") from error


def _json_to_string(value: Any) -> str:
    return to_json_string(value)


def _round_half_up(number: float) -> int:
    # Java's Math.round, which AWS applies to MathAdd's operands.
    return math.floor(number + 0.5)


def _math_add(left: Any, right: Any) -> int:
    if not (_is_number(left) and _is_number(right)):
        raise _failure("States.MathAdd", "both arguments must be numbers")
    return _round_half_up(left) + _round_half_up(right)


def _math_random(start: Any, end: Any, seed: Any = None) -> int:
    if not (_is_integer(start) and _is_integer(end)) or start >= end:
        raise _failure("States.MathRandom", "expected integers start < end")
    if seed is not None and not _is_integer(seed):
        raise _failure("States.MathRandom", "the seed must be an integer")
    generator = random.Random(int(seed)) if seed is not None else random.SystemRandom()
    return generator.randrange(int(start), int(end))


def _string_split(text: Any, delimiters: Any) -> list[str]:
    # Every character of the second argument is a delimiter; empty pieces are dropped.
    if not isinstance(text, str) or not isinstance(delimiters, str):
        raise _failure("States.StringSplit", "both arguments must be strings")
    pieces: list[str] = []
    current: list[str] = []
    for character in text:
        if character in delimiters:
            pieces.append("".join(current))
            current = []
        else:
            current.append(character)
    pieces.append("".join(current))
    return [piece for piece in pieces if piece]


def _uuid() -> str:
    return str(uuid.uuid4())


# States.Format is apart: it reads its template literal with the escapes kept (see _format).
_FORMAT = "States.Format"
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "States.StringToJson": _string_to_json,
    "States.JsonToString": _json_to_string,
    "States.Array": _array,
    "States.ArrayPartition": _array_partition,
    "States.ArrayContains": _array_contains,
    "States.ArrayRange": _array_range,
    "States.ArrayGetItem": _array_get_item,
    "States.ArrayLength": _array_length,
    "States.ArrayUnique": _array_unique,
    "States.Base64Encode": _base64_encode,
    "States.Base64Decode": _base64_decode,
    "States.Hash": _hash,
    "States.JsonMerge": _json_merge,
    "States.MathRandom": _math_random,
    "States.MathAdd": _math_add,
    "States.StringSplit": _string_split,
    "States.UUID": _uuid,
}
