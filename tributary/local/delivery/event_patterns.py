"""EventBridge event patterns: does an event match? (moto has no TestEventPattern.)

Implements the content filters of the EventBridge user guide: exact values, `prefix`, `suffix`
(both optionally `equals-ignore-case`), `equals-ignore-case`, `anything-but` (values, prefix,
suffix), `numeric` ranges, `exists`, `wildcard`, `cidr`, and `$or`. Arrays in the event match when
any element matches.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import operator
from typing import Any

_MISSING = object()
_NUMERIC = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "=": operator.eq}


def matches(pattern: dict[str, Any], event: Any) -> bool:
    for key, condition in pattern.items():
        if key == "$or":
            if not any(matches(option, event) for option in condition):
                return False
            continue
        value = event.get(key, _MISSING) if isinstance(event, dict) else _MISSING
        if isinstance(condition, dict):
            if value is _MISSING or not isinstance(value, dict):
                return False
            if not matches(condition, value):
                return False
        elif not _field_matches(condition, value):
            return False
    return True


def _field_matches(conditions: list[Any], value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    for condition in conditions:
        if isinstance(condition, dict) and "exists" in condition:
            if (value is not _MISSING) == bool(condition["exists"]):
                return True
            continue
        if any(v is not _MISSING and _matches_one(condition, v) for v in values):
            return True
    return False


def _matches_one(condition: Any, value: Any) -> bool:
    if not isinstance(condition, dict):
        return condition == value
    (kind, argument), *_ = condition.items()
    if kind == "prefix":
        return isinstance(value, str) and _affix(argument, value, str.startswith)
    if kind == "suffix":
        return isinstance(value, str) and _affix(argument, value, str.endswith)
    if kind == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == str(argument).lower()
    if kind == "wildcard":
        return isinstance(value, str) and fnmatch.fnmatchcase(value, str(argument))
    if kind == "anything-but":
        if isinstance(argument, dict):
            return not _matches_one(argument, value)
        excluded = argument if isinstance(argument, list) else [argument]
        return value not in excluded
    if kind == "numeric":
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        pairs = zip(argument[::2], argument[1::2], strict=False)
        return all(_NUMERIC[op](value, bound) for op, bound in pairs)
    if kind == "cidr":
        try:
            return ipaddress.ip_address(str(value)) in ipaddress.ip_network(str(argument), strict=False)
        except ValueError:
            return False
    return False


def _affix(argument: Any, value: str, test: Any) -> bool:
    if isinstance(argument, dict):  # {"prefix": {"equals-ignore-case": "x"}}
        return bool(test(value.lower(), str(argument.get("equals-ignore-case", "")).lower()))
    return bool(test(value, str(argument)))
