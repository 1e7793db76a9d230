"""Definition validation as CreateStateMachine and ValidateStateMachineDefinition do it.

`validate()` gives one line per problem, each starting with the path of the problem in the
definition (`/States/Foo/Next: ...`); `diagnose()` gives the structured diagnostics the local
endpoint returns."""

from __future__ import annotations

import json
from typing import Any

from tributary.states.validation.diagnostics import (
    INVALID_JSON_DESCRIPTION,
    Diagnostic,
    Report,
    invalid_definition_message,
)
from tributary.states.validation.transitions import MachineChecker, transition_targets
from tributary.states.validation.values import JSONATA, JSONPATH

STATE_MACHINE_TYPES = ("STANDARD", "EXPRESS")

__all__ = ["Diagnostic", "diagnose", "diagnose_state", "invalid_definition_message", "validate"]


def diagnose(
    definition: str, state_machine_type: str = "STANDARD", *, warnings: bool = False
) -> list[Diagnostic]:
    """Every problem CreateStateMachine would refuse `definition` (a JSON string) for; with
    `warnings`, also what ValidateStateMachineDefinition warns about (NO_DOLLAR, ...)."""
    report = Report()
    if not definition.strip():
        report.add(None, "Definition must be a valid JSON object")
        return report.diagnostics
    try:
        parsed = json.loads(definition)
    except json.JSONDecodeError as exc:
        where = f"line: {exc.lineno}, column: {exc.colno}"
        report.add(where, f"{exc.msg} at {where}", INVALID_JSON_DESCRIPTION)
        return report.diagnostics
    if not isinstance(parsed, dict):
        report.add(None, "Definition must be a valid JSON object")
        return report.diagnostics
    top_language = parsed.get("QueryLanguage", JSONPATH)
    if top_language not in (JSONPATH, JSONATA):
        top_language = JSONPATH
    MachineChecker(report, state_machine_type, top_language).machine(parsed, "", top=True)
    return report.diagnostics if warnings else report.errors


def validate(definition: str, state_machine_type: str = "STANDARD") -> list[str]:
    """The problems of `definition` (a JSON string), one message each with its path; empty when valid."""
    return [str(d) for d in diagnose(definition, state_machine_type)]


def diagnose_state(name: str, state: dict[str, Any]) -> list[Diagnostic]:
    """The problems of one state on its own (TestState): its schema and its nested machines; the
    states it names as targets are taken to exist."""
    states: dict[str, Any] = {name: state}
    for target in transition_targets(state):
        states.setdefault(target, {"Type": "Succeed"})
    language = JSONATA if state.get("QueryLanguage") == JSONATA else JSONPATH
    machine = {"StartAt": name, "States": states, "QueryLanguage": language}
    report = Report()
    MachineChecker(report, "STANDARD", language).machine(machine, "", top=True)
    # The stand-in targets make nothing unreachable or unterminated that the state itself did not.
    return [d for d in report.errors if d.location is None or d.location.startswith(f"/States/{name}")]
