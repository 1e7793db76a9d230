"""The intrinsic functions of the Amazon States Language (`States.Format(...)` and the rest):
a parser for the call syntax and an evaluator for every function AWS defines."""

from __future__ import annotations

from typing import Any


def evaluate_intrinsic(expression: str, value: Any, *, context: Any, variables: dict[str, Any]) -> Any:
    """The value of the intrinsic function call `expression`, its path arguments taken from `value`
    (`$`), `context` (`$$`) and `variables` (`$name`). Raises `StatesError`
    (`States.IntrinsicFailure`, `States.Runtime`) with AWS's causes."""
    raise NotImplementedError
