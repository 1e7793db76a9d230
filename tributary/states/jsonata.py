"""JSONata in Step Functions.

A string of the form `{% expr %}` (exactly: no space before `{%` or after `%}`) anywhere in a JSON
value is a JSONata expression, evaluated by jsonata-python with `$states` (input, result,
errorOutput, context), the state machine's variables, and the functions AWS adds to JSONata
($partition, $range, $hash, $random, $uuid, $parse) bound. As on AWS, an expression whose value
is undefined, or not a JSON value (a function), is a `States.QueryEvaluationError`.

Causes are what AWS writes after its "An error occurred while executing the state 'X' (entered at
the event id #N). " prefix, which the engine adds.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import random
import re
import time
import uuid
from typing import Any

from jsonata import Jsonata
from jsonata.functions import Functions
from jsonata.jexception import JException
from jsonata.utils import Utils

from tributary.states import errors
from tributary.states.errors import StatesError
from tributary.states.intrinsic_functions import HASH_ALGORITHMS, parse_json

_OPEN, _CLOSE = "{%", "%}"
# Integral numbers beyond this are not exact in JavaScript, so AWS would not print them as integers.
_SAFE_INTEGER = 2**53
# Our protection against an expression that never ends (JSONata optimises tail calls, so an
# endless recursion loops rather than overflowing): no AWS limit is documented.
EVALUATION_TIME_LIMIT_SECONDS = 10.0
# How Python's float() and int() refuse a string ($number() calls them).
_FAILED_CAST = re.compile(
    r"(?:could not convert string to float|invalid literal for int\(\) with base \d+): '(.*)'$"
)


class _Unsupported(Exception):
    """A JSONata value with no JSON form (a function)."""


def is_expression(value: Any) -> bool:
    """Whether `value` is a JSONata expression string, `{% ... %}`."""
    return isinstance(value, str) and value.startswith(_OPEN) and value.endswith(_CLOSE) and len(value) >= 4


def expression_text(value: str) -> str:
    """The JSONata source inside `{% ... %}`, as AWS quotes it in causes."""
    return value[len(_OPEN) : -len(_CLOSE)].strip()


def evaluate(
    value: Any,
    *,
    states: dict[str, Any],
    variables: dict[str, Any],
    field: str = "",
    now_millis: int | None = None,
) -> Any:
    """`value` with every JSONata expression in it (walked through objects and arrays) replaced by
    its result. `field` names the state field (`Output`, `Arguments`, `Assign`, ...): nested
    values are reported as `Output/key`, as AWS does. `now_millis` (epoch milliseconds) is what
    `$now()` and `$millis()` see, so that they follow the engine's clock (the real time if None).
    Raises `StatesError("States.QueryEvaluationError", cause)`."""
    if is_expression(value):
        text = expression_text(value)
        return evaluate_expression(
            text, states=states, variables=variables, field=field, now_millis=now_millis
        )
    if isinstance(value, dict):
        return {
            key: evaluate(
                item, states=states, variables=variables, field=_child(field, key), now_millis=now_millis
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            evaluate(
                item, states=states, variables=variables, field=_child(field, str(at)), now_millis=now_millis
            )
            for at, item in enumerate(value)
        ]
    return value


def evaluate_expression(
    text: str,
    *,
    states: dict[str, Any],
    variables: dict[str, Any],
    field: str = "",
    now_millis: int | None = None,
) -> Any:
    """The JSON value of the JSONata expression `text` (without its `{% %}`)."""
    prefix = f"The JSONata expression '{text}' specified for the field '{field}'"
    location = field or None
    try:
        result = _compiled(text).evaluate(None, _bindings(states, variables, now_millis))
    except JException as error:
        raise StatesError(
            errors.QUERY_EVALUATION_ERROR,
            f"{prefix} threw an error during evaluation. {_describe(error)}",
            location=location,
        ) from error
    except (ZeroDivisionError, OverflowError) as error:
        raise StatesError(
            errors.QUERY_EVALUATION_ERROR,
            f"{prefix} threw an error during evaluation. D1001: Number out of range",
            location=location,
        ) from error
    except (
        StatesError,
        RecursionError,
        TypeError,
        ValueError,
        KeyError,
        IndexError,
        AttributeError,
    ) as error:
        cause = error.cause if isinstance(error, StatesError) else _python_error(error)
        raise StatesError(
            errors.QUERY_EVALUATION_ERROR,
            f"{prefix} threw an error during evaluation. {cause}",
            location=location,
        ) from error
    if result is None:
        raise StatesError(
            errors.QUERY_EVALUATION_ERROR, f"{prefix} returned nothing (undefined).", location=location
        )
    try:
        return _to_json(result)
    except _Unsupported as error:
        raise StatesError(
            errors.QUERY_EVALUATION_ERROR, f"{prefix} returned an unsupported result type.", location=location
        ) from error


def syntax_error(text: str) -> str | None:
    """Why the JSONata expression `text` does not parse, or None if it does (for validation)."""
    try:
        _compiled(text)
    except JException as error:
        return _describe(error)
    except Exception as error:  # jsonata-python's parser can fail with any exception on bad input
        return str(error)
    return None


def _python_error(error: Exception) -> str:
    """A Python exception escaping jsonata-python, as the JSONata error JavaScript would raise."""
    cast = _FAILED_CAST.match(str(error)) if isinstance(error, ValueError) else None
    if cast is not None:
        return f"D3030: Unable to cast value to a number: {json.dumps(cast.group(1))}"
    return str(error)


def _child(field: str, key: str) -> str:
    return f"{field}/{key}" if field else key


def _describe(error: JException) -> str:
    return f"{error.error}: {error}" if getattr(error, "error", None) else str(error)


@functools.lru_cache(maxsize=2048)
def _compiled(text: str) -> Jsonata:
    expression = Jsonata(text)
    # Keep JSON null distinct from undefined in results: AWS fails on undefined only.
    expression.set_output_convert_nulls(False)
    return expression


def _bindings(states: dict[str, Any], variables: dict[str, Any], now_millis: int | None) -> dict[str, Any]:
    bindings: dict[str, Any] = {name: _to_jsonata(item) for name, item in variables.items()}
    bindings.update(_AWS_FUNCTIONS)
    # AWS removes $eval (use $parse): calling it is calling a non-function.
    bindings["eval"] = None
    # Always bound here: jsonata-python's own $now() reads the timestamp of whichever expression
    # was compiled last in the thread, which is stale once compiled expressions are cached.
    bindings.update(_clock_functions(now_millis if now_millis is not None else time.time_ns() // 1_000_000))
    bindings["states"] = states
    bindings["__evaluate_entry"] = _deadline_check(time.monotonic() + EVALUATION_TIME_LIMIT_SECONDS)
    return bindings


def _deadline_check(deadline: float) -> Any:
    """A callback jsonata-python calls on entering each node: fails the evaluation past `deadline`.
    (Its own timeout counts from when the expression was compiled, which caching makes wrong.)"""

    def check(expression: Any, value: Any, environment: Any) -> None:
        if time.monotonic() > deadline:
            raise JException("D1012", -1, int(EVALUATION_TIME_LIMIT_SECONDS * 1000))

    return check


def _clock_functions(now_millis: int) -> dict[str, Any]:
    def now(picture: Any = None, timezone: Any = None) -> Any:
        return Functions.datetime_from_millis(now_millis, _plain(picture), _plain(timezone))

    return {"now": Jsonata.JLambda(now), "millis": Jsonata.JLambda(lambda: now_millis)}


def _to_jsonata(value: Any) -> Any:
    # jsonata-python reads a top-level None binding as undefined; inside objects it means null.
    return Utils.NULL_VALUE if value is None else value


def _to_json(value: Any) -> Any:
    """A JSONata result as plain JSON: null sentinels to None, sequences to lists, integral floats to int."""
    if value is None or value is Utils.NULL_VALUE:
        return None
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Unsupported
        return int(value) if value.is_integer() and abs(value) < _SAFE_INTEGER else value
    if isinstance(value, list):
        return [_to_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _to_json(item) for key, item in value.items()}
    raise _Unsupported


def _plain(value: Any) -> Any:
    """An argument of a function of ours as plain JSON (None for null or undefined)."""
    try:
        return _to_json(value)
    except _Unsupported as error:
        raise JException("T0410", 0) from error


def _failure(message: str) -> StatesError:
    return StatesError(errors.QUERY_EVALUATION_ERROR, message)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer()


def _partition(array: Any, size: Any) -> list[list[Any]]:
    array, size = _plain(array), _plain(size)
    if not isinstance(array, list) or not _is_integer(size) or size <= 0:
        raise _failure("$partition expects an array and a positive integer chunk size")
    chunk = int(size)
    return [array[start : start + chunk] for start in range(0, len(array), chunk)]


def _range(start: Any, end: Any, step: Any) -> list[int]:
    # A sequence, not an array: AWS returns a one-number range as that number.
    start, end, step = _plain(start), _plain(end), _plain(step)
    if not (_is_integer(start) and _is_integer(end) and _is_integer(step)) or step == 0:
        raise _failure("$range expects integers and a non-zero step")
    values = list(range(int(start), int(end) + (1 if step > 0 else -1), int(step)))
    if len(values) > 1000:
        raise _failure("$range cannot produce more than 1000 items")
    return Utils.create_sequence_from_iter(values)


def _hash(data: Any, algorithm: Any) -> str:
    data, algorithm = _plain(data), _plain(algorithm)
    if algorithm not in HASH_ALGORITHMS:
        raise _failure(f"$hash algorithm must be one of {', '.join(HASH_ALGORITHMS)}")
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return hashlib.new(HASH_ALGORITHMS[algorithm], text.encode()).hexdigest()


def _random(seed: Any = None) -> float:
    seed = _plain(seed)
    if seed is None:
        return random.random()
    if not _is_integer(seed):
        raise _failure("$random seed must be an integer")
    return random.Random(int(seed)).random()


def _uuid() -> str:
    return str(uuid.uuid4())


def _parse(text: Any) -> Any:
    text = _plain(text)
    if not isinstance(text, str):
        raise _failure("$parse expects a string")
    try:
        return parse_json(text)
    except ValueError as error:
        raise _failure(f"$parse could not parse the string as JSON: {error}") from error


_AWS_FUNCTIONS: dict[str, Any] = {
    name: Jsonata.JLambda(function)
    for name, function in {
        "partition": _partition,
        "range": _range,
        "hash": _hash,
        "random": _random,
        "uuid": _uuid,
        "parse": _parse,
    }.items()
}
