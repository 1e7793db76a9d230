"""Checks of single values in a definition (paths, payload templates, JSONata strings, numbers,
timestamps), each problem reported with its location. The schema checks build on these."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from tributary.states import jsonpath
from tributary.states.validation import expressions
from tributary.states.validation.diagnostics import NO_DOLLAR, Report

JSONPATH = "JSONPath"
JSONATA = "JSONata"
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def is_rfc3339(value: str) -> bool:
    if not _RFC3339.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def required(report: Report, node: dict[str, Any], fields: list[str], location: str) -> bool:
    missing = [name for name in fields if name not in node]
    if missing:
        report.add(location, f"These fields are required: [{', '.join(missing)}]")
    return not missing


def _looks_dynamic(value: str) -> bool:
    """Text that reads as a path (`$.x`, `$$.x`) or an intrinsic call (`States.Format(...)`)."""
    return value.startswith(("$.", "$$.", "$[")) or (
        expressions.looks_like_intrinsic(value) and value.rstrip().endswith(")")
    )


class ValueChecks:
    """Value checks that report to `report`."""

    def __init__(self, report: Report) -> None:
        self.report = report

    def path(self, value: Any, location: str, *, reference: bool = False, nullable: bool = True) -> None:
        if value is None and nullable:
            return
        if not isinstance(value, str) or not jsonpath.is_valid(value):
            self.report.add(location, f"The value '{value}' is not a valid JSONPath")
        elif reference and not expressions.is_reference_path(value):
            self.report.add(location, f"The value '{value}' is not a valid reference path")

    def template(self, template: Any, location: str) -> None:
        """A JSONPath payload template: every `.$` key holds a path or an intrinsic function call."""
        if isinstance(template, dict):
            for key, value in template.items():
                if key.endswith(".$"):
                    if not self.dynamic_value_ok(value):
                        self.report.add(
                            location,
                            f"The value for the field '{key}' must be a valid JSONPath or a valid "
                            "intrinsic function call",
                        )
                elif isinstance(value, str) and _looks_dynamic(value):
                    self.report.warn(
                        location,
                        f"The value of the field '{key}' looks like a JSONPath or an intrinsic function "
                        f"call, but the field name does not end with '.$': it is used as the text '{value}'",
                        NO_DOLLAR,
                    )
                else:
                    self.template(value, location)
        elif isinstance(template, list):
            for item in template:
                self.template(item, location)

    @staticmethod
    def dynamic_value_ok(value: Any) -> bool:
        if not isinstance(value, str):
            return False
        if expressions.looks_like_intrinsic(value.strip()):
            return expressions.is_valid_intrinsic(value)
        return jsonpath.is_valid(value)

    def jsonata_values(self, value: Any, location: str) -> None:
        """Every `{% %}` string inside `value` must parse as JSONata."""
        if isinstance(value, str):
            if expressions.is_jsonata(value):
                problem = expressions.jsonata_error(value)
                if problem:
                    self.report.add(location, problem)
        elif isinstance(value, dict):
            for item in value.values():
                self.jsonata_values(item, location)
        elif isinstance(value, list):
            for item in value:
                self.jsonata_values(item, location)

    def number_field(
        self,
        state: dict[str, Any],
        name: str,
        location: str,
        language: str,
        *,
        minimum: float = 0,
        integer: bool = True,
    ) -> None:
        if name not in state:
            return
        value = state[name]
        if language == JSONATA and expressions.is_jsonata(value):
            self.jsonata_values(value, f"{location}/{name}")
            return
        ok = is_int(value) if integer else is_number(value)
        if not ok or value < minimum:
            kind = "an integer" if integer else "a number"
            self.report.add(
                f"{location}/{name}", f"The value for '{name}' must be {kind} of at least {minimum:g}"
            )
