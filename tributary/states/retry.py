"""Retry and Catch: which retrier or catcher handles an error, and how long a retry waits."""

from __future__ import annotations

import random
from typing import Any

from tributary.states import errors

# Neither States.ALL nor States.TaskFailed catches these. (A task result over the payload quota,
# States.DataLimitExceeded, is caught by States.ALL as AWS records it; a state's own output over the
# quota fails the execution without reaching a Catch, see Interpreter.check_size.)
_NEVER_BY_WILDCARD = frozenset({errors.RUNTIME})
# States.Runtime is terminal: no Retry or Catch can handle it.
_TERMINAL = frozenset({errors.RUNTIME})


def error_matches(error_equals: list[str], error: str) -> bool:
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


def first_match(handlers: list[dict[str, Any]], error: str) -> int | None:
    """The index of the first retrier or catcher whose ErrorEquals names `error`."""
    for index, handler in enumerate(handlers):
        if error_matches(handler.get("ErrorEquals", []), error):
            return index
    return None


def retry_delay(retrier: dict[str, Any], retries_done: int, rng: random.Random) -> float:
    """Seconds to wait before retry number `retries_done + 1` of `retrier`: IntervalSeconds times
    BackoffRate to the power of the retries already made, capped by MaxDelaySeconds; with
    JitterStrategy FULL, a uniformly random fraction of that."""
    interval = float(retrier.get("IntervalSeconds", 1))
    backoff = float(retrier.get("BackoffRate", 2.0))
    delay = interval * backoff**retries_done
    max_delay = retrier.get("MaxDelaySeconds")
    if max_delay is not None:
        delay = min(delay, float(max_delay))
    if retrier.get("JitterStrategy", "NONE") == "FULL":
        delay = rng.uniform(0, delay)
    return delay


def max_attempts(retrier: dict[str, Any]) -> int:
    return int(retrier.get("MaxAttempts", 3))
