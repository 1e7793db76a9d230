"""JSONata in Step Functions: strings of the form `{% expr %}` inside any JSON value are evaluated
with `$states` and the state machine's variables bound, plus AWS's extra functions."""

from __future__ import annotations

from typing import Any


def is_expression(value: Any) -> bool:
    """Whether `value` is a JSONata expression string, `{% ... %}`."""
    raise NotImplementedError


def evaluate(value: Any, *, states: dict[str, Any], variables: dict[str, Any]) -> Any:
    """`value` with every JSONata expression in it (walked through objects and arrays) replaced by
    its result. Raises `StatesError("States.QueryEvaluationError", cause)` as AWS does."""
    raise NotImplementedError
