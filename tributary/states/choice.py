"""Choice Rules of a JSONPath-mode Choice state: boolean combinators (And, Or, Not) and the
comparison operators, with AWS's rules for type mismatches and timestamps."""

from __future__ import annotations

from typing import Any


def evaluate_choice_rule(
    rule: dict[str, Any], value: Any, *, context: Any, variables: dict[str, Any]
) -> bool:
    """Whether the Choice Rule `rule` matches the state input `value`."""
    raise NotImplementedError
