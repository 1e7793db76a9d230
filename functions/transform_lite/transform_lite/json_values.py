"""JSON records read as Spark 3.5's `from_json` (Jackson 2.15, Spark's JSON options) reads them into
string columns, and the top-level keys `json_object_keys` sees (for the duplicate-key check).

What Spark does, and so what this module does (measured against Spark in tests/differential):
- leading whitespace is skipped and anything after the first complete value is ignored; a blank
  record (tabs, say) is no value at all: every column null, not malformed;
- single-quoted strings and names are accepted, as are NaN, Infinity, +Infinity, -Infinity, +INF and
  -INF; leading zeros, `1.`, `.5`, trailing commas, unquoted names and raw control characters are not;
- nesting deeper than 1000 levels (the root object is level 1) is refused;
- a column's text is a string value as it is (an unpaired surrogate becomes `?`), null for JSON null,
  `true`/`false`, an integer's digits, a floating-point number as Java's `Double.toString` prints the
  nearest double (`1.5`, `100.0`, `1.0E-4`, `"Infinity"` with its quotes), and an object or array as
  Jackson writes it back (compact, keys in order, duplicates kept);
- a record whose first value is not an object (an array, a scalar, null) is malformed;
- duplicate top-level keys are looked for by another reader (no NaN/Infinity, raw control characters
  allowed): a record it cannot read has no duplicate keys.

Records are read with Python's json module first (C speed); the few it refuses are read again by
`_Reader`, a small reader with Jackson's rules.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

MAX_DEPTH = 1000
DEPTH_PROBE = 100_000
JSON_SPACE = " \t\n\r"


class JsonArrayError(ValueError):
    """A JSON array file that is not valid JSON or not an array."""


class _Invalid(ValueError):
    pass


NOTHING = object()  # a text without any JSON value (blank)


class Pairs(list[tuple[str, Any]]):
    """A JSON object as its (key, value) pairs, in order, duplicates kept."""


class _NonNumeric(float):
    """NaN or an infinity written as a JSON token (Jackson writes it back quoted)."""


# ------------------------------------------------------------------------------------- writing back


def java_double(value: float) -> str:
    """Java's Double.toString (JDK 17): shortest digits (with JDK 17's own choice for subnormals)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    digits, exponent = _shortest_digits(magnitude)
    if 1e-3 <= magnitude < 1e7:
        point = exponent + 1  # digits before the decimal point
        if point <= 0:
            return f"{sign}0.{'0' * -point}{digits}"
        if point >= len(digits):
            return f"{sign}{digits}{'0' * (point - len(digits))}.0"
        return f"{sign}{digits[:point]}.{digits[point:]}"
    mantissa = digits[0] + "." + (digits[1:] or "0")
    return f"{sign}{mantissa}E{exponent}"


# JDK 17's FloatingDecimal prints an integer-valued double below 2^63 from its exact integer value,
# rounding off this many "insignificant" low digits (by the binary exponent minus 54).
_INSIGNIFICANT_DIGITS = (0, 0, 0, 0, 1, 1, 1, 2, 2)


def _long_digits(magnitude: float) -> tuple[str, int]:
    exact = int(magnitude)
    binary_exponent = exact.bit_length() - 1
    excess = binary_exponent - 54
    drop = _INSIGNIFICANT_DIGITS[excess] if 1 < excess < len(_INSIGNIFICANT_DIGITS) else 0
    if drop:
        power = 10**drop
        exact, residue = divmod(exact, power)
        if residue >= power // 2:
            exact += 1
    text = str(exact)
    exponent = len(text) - 1 + drop
    return text.rstrip("0") or "0", exponent


def _shortest_digits(magnitude: float) -> tuple[str, int]:
    """(significant digits without trailing zeros, decimal exponent of the first digit)."""
    if magnitude.is_integer() and 2.0**53 <= magnitude < 2.0**63:
        return _long_digits(magnitude)
    text = repr(magnitude)
    mantissa, _, exp_text = text.partition("e")
    exponent = int(exp_text) if exp_text else 0
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    leading_zeros = len(whole + fraction) - len((whole + fraction).lstrip("0"))
    exponent += len(whole) - 1 - leading_zeros
    digits = digits.rstrip("0") or "0"
    if magnitude < 2.2250738585072014e-308 and len(digits) == 1:
        # JDK 17 prints at least two digits for subnormals (4.9E-324 for the smallest)
        digits, exponent = _two_digit_subnormal(magnitude, exponent)
    return digits, exponent


def _two_digit_subnormal(magnitude: float, exponent: int) -> tuple[str, int]:
    text = f"{magnitude:.1e}"
    mantissa, _, exp_text = text.partition("e")
    return mantissa.replace(".", "").rstrip("0") or "0", int(exp_text)


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
# Jackson's generator escapes quotes, backslashes, control characters and (as a surrogate pair)
# every character outside the Basic Multilingual Plane.
_NEEDS_ESCAPE = re.compile('["\\\\\x00-\x1f\U00010000-\U0010ffff]')


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    code = ord(char)
    if code > 0xFFFF:
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04X}\\u{0xDC00 + (code & 0x3FF):04X}"
    return _ESCAPES.get(char) or f"\\u{code:04X}"


def jackson_string(text: str) -> str:
    return '"' + _NEEDS_ESCAPE.sub(_escape, _unpaired_to_question_mark(text)) + '"'


_SURROGATE = re.compile("[\ud800-\udfff]")


def _unpaired_to_question_mark(text: str) -> str:
    """Java's UTF-8 encoder writes an unpaired surrogate as '?' (a pair never reaches here: Python
    joins `\\ud83d\\ude00` escapes into one character)."""
    return _SURROGATE.sub("?", text) if _SURROGATE.search(text) else text


def _scalar_text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return jackson_string(value)
    if isinstance(value, float):
        text = java_double(value)
        return f'"{text}"' if math.isnan(value) or math.isinf(value) else text
    return str(value)


def jackson_text(value: Any) -> str:
    """A non-string JSON value as Jackson's generator writes it (compact); iterative, as values may
    be nested 100,000 levels deep."""
    out: list[str] = []
    # work items: a value to write, or a literal string (separators, closing brackets)
    work: list[tuple[bool, Any]] = [(False, value)]
    while work:
        literal, item = work.pop()
        if literal:
            out.append(item)
        elif isinstance(item, Pairs):
            out.append("{")
            work.append((True, "}"))
            for index in range(len(item) - 1, -1, -1):
                key, member = item[index]
                work.append((False, member))
                work.append((True, ("," if index else "") + jackson_string(key) + ":"))
        elif isinstance(item, list):
            out.append("[")
            work.append((True, "]"))
            for index in range(len(item) - 1, -1, -1):
                work.append((False, item[index]))
                if index:
                    work.append((True, ","))
        else:
            out.append(_scalar_text(item))
    return "".join(out)


def column_text(value: Any) -> str | None:
    """A top-level value as the text of a string column."""
    if value is None:
        return None
    if isinstance(value, str):
        return _unpaired_to_question_mark(value)
    return jackson_text(value)


# ------------------------------------------------------------------------------------------ reading


def _constant(name: str) -> float:
    return _NonNumeric(name.replace("Infinity", "inf"))


_FAST = json.JSONDecoder(object_pairs_hook=Pairs, parse_constant=_constant)


def _no_constant(name: str) -> float:
    raise _Invalid(name)


_KEYS = json.JSONDecoder(object_pairs_hook=Pairs, parse_constant=_no_constant, strict=False)
SPARK_READER = {"non_numeric": True, "control_chars": False}
KEYS_READER = {"non_numeric": False, "control_chars": True}


def _start(text: str) -> int:
    position = 0
    while position < len(text) and text[position] in JSON_SPACE:
        position += 1
    return position


def spark_value(text: str, max_depth: int = MAX_DEPTH) -> tuple[bool, Any]:
    """(True, value) as from_json reads the first JSON value of `text`, (True, NOTHING) when there is
    none; (False, None) when Spark refuses it."""
    start = _start(text)
    if start == len(text):
        return True, NOTHING
    # The C scanner knows no depth limit of its own (only the interpreter's recursion limit, which a test
    # framework may raise): it may read the text only when its brackets cannot nest past max_depth.
    if text.count("[") + text.count("{") <= max_depth:
        try:
            value, _ = _FAST.raw_decode(text, start)
            return True, value
        except (ValueError, RecursionError):
            pass
    try:
        return True, _Reader(text, start, max_depth=max_depth, **SPARK_READER).value()
    except _Invalid:
        return False, None


def top_level_keys(text: str) -> list[str] | None:
    """The keys of the top-level object as json_object_keys reads them, or None."""
    start = _start(text)
    if start == len(text) or text[start] not in "{":
        return None
    try:
        if text.count("[") + text.count("{") > MAX_DEPTH:  # see spark_value
            raise RecursionError
        value, _ = _KEYS.raw_decode(text, start)
    except (ValueError, RecursionError):
        try:
            value = _Reader(text, start, max_depth=MAX_DEPTH, **KEYS_READER).value()
        except _Invalid:
            return None
    return [key for key, _ in value]


def duplicates(keys: list[str] | None) -> list[str]:
    """Keys that occur more than once, in the order of their first occurrence (Spark's array_distinct)."""
    if not keys or len(keys) == len(set(keys)):
        return []
    seen: dict[str, int] = {}
    for key in keys:
        seen[key] = seen.get(key, 0) + 1
    return [key for key, count in seen.items() if count > 1]


def array_elements(text: str) -> Iterator[tuple[int, str]]:
    """(1-based position, record text) of each non-null element of a JSON array file; string elements
    are their value, others their JSON as Jackson writes it back. JsonArrayError when the text is not
    a JSON array (before any element is yielded)."""
    ok, value = spark_value(text, DEPTH_PROBE)
    if not ok or not isinstance(value, list) or isinstance(value, Pairs):
        raise JsonArrayError("not a JSON array")
    return (
        (position, column_text(element) or "")
        for position, element in enumerate(value, start=1)
        if element is not None
    )


# ------------------------------------------------------------------------------ Jackson's own rules

_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_NON_NUMERIC = (
    ("NaN", float("nan")),
    ("Infinity", float("inf")),
    ("+Infinity", float("inf")),
    ("-Infinity", float("-inf")),
    ("+INF", float("inf")),
    ("-INF", float("-inf")),
)
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class _Reader:
    """One JSON value with Jackson's rules (iterative: depth is bounded by `max_depth`, not Python's
    recursion limit). Single quotes are accepted; `non_numeric`: NaN and infinities (from_json, not
    json_object_keys); `control_chars`: raw control characters in strings (json_object_keys only)."""

    def __init__(
        self, text: str, position: int, *, max_depth: int, non_numeric: bool, control_chars: bool
    ) -> None:
        self.text = text
        self.pos = position
        self.non_numeric = non_numeric
        self.control_chars = control_chars
        self.max_depth = max_depth

    def fail(self) -> _Invalid:
        return _Invalid(f"invalid JSON at {self.pos}")

    def space(self) -> None:
        text = self.text
        while self.pos < len(text) and text[self.pos] in JSON_SPACE:
            self.pos += 1

    def peek(self) -> str:
        self.space()
        if self.pos >= len(self.text):
            raise self.fail()
        return self.text[self.pos]

    def value(self) -> Any:
        # stack of (container, pending key); a container is a Pairs or a list
        stack: list[tuple[Any, str | None]] = []
        while True:
            char = self.peek()
            if char in "{[":
                if len(stack) + 1 > self.max_depth:
                    raise self.fail()
                self.pos += 1
                container: Any = Pairs() if char == "{" else []
                closing = "}" if char == "{" else "]"
                if self.peek() == closing:
                    self.pos += 1
                    item = container
                else:
                    key = self.key() if char == "{" else None
                    stack.append((container, key))
                    continue
            else:
                item = self.scalar()
            # attach `item` to its container, closing containers as they end
            while True:
                if not stack:
                    return item
                container, key = stack[-1]
                if isinstance(container, Pairs):
                    container.append((key, item))  # type: ignore[arg-type]
                    closing = "}"
                else:
                    container.append(item)
                    closing = "]"
                char = self.peek()
                self.pos += 1
                if char == ",":
                    stack[-1] = (container, self.key() if closing == "}" else None)
                    break
                if char != closing:
                    raise self.fail()
                stack.pop()
                item = container

    def key(self) -> str:
        char = self.peek()
        if char in "\"'":
            name = self.string(char)
        else:
            raise self.fail()
        if self.peek() != ":":
            raise self.fail()
        self.pos += 1
        return name

    def string(self, quote: str) -> str:
        text, out = self.text, list[str]()
        self.pos += 1
        while True:
            if self.pos >= len(text):
                raise self.fail()
            char = text[self.pos]
            self.pos += 1
            if char == quote:
                return "".join(out)
            if char == "\\":
                out.append(self.escape(quote))
            elif char < " " and not self.control_chars:
                raise self.fail()
            else:
                out.append(char)

    def escape(self, quote: str) -> str:
        if self.pos >= len(self.text):
            raise self.fail()
        char = self.text[self.pos]
        self.pos += 1
        if char in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[char]
        if char == "'" and quote == "'":
            return "'"
        if char != "u":
            raise self.fail()
        digits = self.text[self.pos : self.pos + 4]
        if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
            raise self.fail()
        self.pos += 4
        code = int(digits, 16)
        if 0xD800 <= code < 0xDC00 and self.text[self.pos : self.pos + 2] == "\\u":
            low = self.text[self.pos + 2 : self.pos + 6]
            if len(low) == 4 and all(c in "0123456789abcdefABCDEF" for c in low):
                low_code = int(low, 16)
                if 0xDC00 <= low_code < 0xE000:
                    self.pos += 6
                    return chr(0x10000 + ((code - 0xD800) << 10) + (low_code - 0xDC00))
        return chr(code)

    def scalar(self) -> Any:
        text, char = self.text, self.peek()
        if char in "\"'":
            return self.string(char)
        for word, result in (("true", True), ("false", False), ("null", None)):
            if text.startswith(word, self.pos):
                self.pos += len(word)
                self.end_of_token()
                return result
        if self.non_numeric:
            for word, number in _NON_NUMERIC:
                if text.startswith(word, self.pos):
                    self.pos += len(word)
                    self.end_of_token()
                    return _NonNumeric(number)
        match = _NUMBER.match(text, self.pos)
        if not match:
            raise self.fail()
        self.pos = match.end()
        self.end_of_token()
        if match.group(1) is None and match.group(2) is None:
            return int(match.group(0))
        return float(match.group(0))

    def end_of_token(self) -> None:
        if self.pos < len(self.text) and (self.text[self.pos].isalnum() or self.text[self.pos] in "_.+-"):
            raise self.fail()


def record_fields(text: str, names: list[str]) -> tuple[dict[str, str | None] | None, str | None]:
    """(column texts, None) for a JSON record, or (None, reason key of plan.malformed.messages plus,
    for duplicate keys, the keys joined by ', ')."""
    dups = duplicates(top_level_keys(text))
    ok, value = spark_value(text)
    if dups:
        return None, "json_duplicate_key:" + ", ".join(dups)
    if ok and value is NOTHING:
        return dict.fromkeys(names), None
    if ok and isinstance(value, Pairs):
        members = dict(value)
        return {name: column_text(members.get(name)) for name in names}, None
    if ok or not spark_value(text, DEPTH_PROBE)[0]:
        return None, "json_invalid"
    return None, "json_too_deep"
