"""Retry and Catch: retriers and catchers as loaded from a definition, which one handles an error,
and how long a retry waits."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from tributary.states import errors
from tributary.states.errors import DefinitionError

# Neither States.ALL nor States.TaskFailed catches these. (A task result over the payload quota,
# States.DataLimitExceeded, is caught by States.ALL as AWS records it; a state's own output over the
# quota fails the execution without reaching a Catch, see Interpreter.check_size.)
_NEVER_BY_WILDCARD = frozenset({errors.RUNTIME})
# States.Runtime is terminal: no Retry or Catch can handle it.
_TERMINAL = frozenset({errors.RUNTIME})
_JITTER_STRATEGIES = ("NONE", "FULL")


def _error_equals(raw: Mapping[str, Any], place: str) -> tuple[str, ...]:
    names = raw.get("ErrorEquals")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise DefinitionError("ErrorEquals must be a non-empty list of error names", place)
    return tuple(names)


def _number(raw: Mapping[str, Any], key: str, default: float | None, place: str) -> float | None:
    value = raw.get(key, default)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise DefinitionError(f"{key} must be a number, not {json.dumps(value)}", place)
    return None if value is None else float(value)


class Catcher:
    """The errors a catcher handles (its transition is read with the state, see definition.py)."""

    error_equals: tuple[str, ...]

    def __init__(self, raw: Mapping[str, Any], place: str) -> None:
        self.error_equals = _error_equals(raw, place)


@dataclass(frozen=True)
class Retrier:
    """A retrier: the errors it handles, how many retries and how far apart."""

    error_equals: tuple[str, ...]
    interval_seconds: float = 1.0
    max_attempts: int = 3
    backoff_rate: float = 2.0
    max_delay_seconds: float | None = None
    jitter_strategy: str = "NONE"

    @classmethod
    def load(cls, raw: Mapping[str, Any], place: str) -> Retrier:
        attempts = raw.get("MaxAttempts", 3)
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
            raise DefinitionError("MaxAttempts must be a non-negative integer", place)
        jitter = raw.get("JitterStrategy", "NONE")
        if jitter not in _JITTER_STRATEGIES:
            raise DefinitionError(f"JitterStrategy must be NONE or FULL, not {jitter!r}", place)
        return cls(
            error_equals=_error_equals(raw, place),
            interval_seconds=_number(raw, "IntervalSeconds", 1, place) or 0.0,
            max_attempts=attempts,
            backoff_rate=_number(raw, "BackoffRate", 2.0, place) or 0.0,
            max_delay_seconds=_number(raw, "MaxDelaySeconds", None, place),
            jitter_strategy=jitter,
        )

    def without_jitter(self) -> Retrier:
        return replace(self, jitter_strategy="NONE")


def error_matches(error_equals: Sequence[str], error: str) -> bool:
    """Whether an `ErrorEquals` list names `error`, with AWS's wildcards: States.ALL matches every
    error but the terminal ones; States.TaskFailed every error but those and States.Timeout."""
    if error in _TERMINAL:
        return False
    for name in error_equals:
        if name == error:
            return True
        if name == errors.ALL and error not in _NEVER_BY_WILDCARD:
            return True
        if name == errors.TASK_FAILED and error not in _NEVER_BY_WILDCARD and error != errors.TIMEOUT:
            return True
    return False


def first_match(handlers: Sequence[Retrier | Catcher], error: str) -> int | None:
    """The index of the first retrier or catcher whose ErrorEquals names `error`."""
    for index, handler in enumerate(handlers):
        if error_matches(handler.error_equals, error):
            return index
    return None


def retry_delay(retrier: Retrier, retries_done: int, rng: random.Random) -> float:
    """Seconds to wait before retry number `retries_done + 1` of `retrier`: IntervalSeconds times
    BackoffRate to the power of the retries already made, capped by MaxDelaySeconds; with
    JitterStrategy FULL, a uniformly random fraction of that."""
    delay = retrier.interval_seconds * retrier.backoff_rate**retries_done
    if retrier.max_delay_seconds is not None:
        delay = min(delay, retrier.max_delay_seconds)
    if retrier.jitter_strategy == "FULL":
        delay = rng.uniform(0, delay)
    return delay
