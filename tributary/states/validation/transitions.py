"""The graph of a state machine and of each nested one (Parallel branches, Map processors): StartAt
and every transition name a state of the same machine, each state is reachable, each state that
must say where to go says it, and some state ends the machine."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tributary.states.validation.diagnostics import MISSING_END_STATE, MISSING_TRANSITION_TARGET, Report
from tributary.states.validation.schema import MAX_STATE_NAME_LENGTH, StateSchema
from tributary.states.validation.values import JSONATA, JSONPATH, required

_NEEDS_TRANSITION = ("Task", "Pass", "Wait", "Parallel", "Map")


class MachineChecker:
    """Checks a (possibly nested) state machine: its fields, its graph and every state in it."""

    def __init__(self, report: Report, state_machine_type: str, top_language: str) -> None:
        self.report = report
        self.schema = StateSchema(report, state_machine_type)
        self.top_language = top_language

    def machine(self, node: Any, location: str, *, top: bool = False) -> None:
        where = location or "/"
        if not isinstance(node, dict):
            self.report.add(where, "A state machine must be an object")
            return
        allowed = {"StartAt", "States", "Comment"} | (
            {"Version", "TimeoutSeconds", "QueryLanguage"} if top else set()
        )
        allowed |= set() if top else {"ProcessorConfig"}
        if not required(self.report, node, ["States", "StartAt"], where):
            return
        for name in node:
            if name not in allowed:
                self.report.add(where, f"The field '{name}' is not supported by Step Functions")
        states = node["States"]
        if not isinstance(states, dict) or not states:
            self.report.add(f"{location}/States", "States must be a non-empty object")
            return
        if top:
            self._top_fields(node)
        start = node["StartAt"]
        if not isinstance(start, str):
            self.report.add(f"{location}/StartAt", "The value for 'StartAt' must be a string")
            start = ""
        elif start not in states:
            self.report.add(
                f"{location}/StartAt", f"Missing 'Next' target: {start}", MISSING_TRANSITION_TARGET
            )
        for name, state in states.items():
            self._state(name, state, f"{location}/States/{name}", states)
        if start in states:  # otherwise every state would be reported unreachable as well
            self._reachability(states, start, location)
        if not any(isinstance(s, dict) and _is_terminal(s) for s in states.values()):
            self.report.add(where, "Workflow has no terminal state", MISSING_END_STATE)

    def _top_fields(self, node: dict[str, Any]) -> None:
        if "QueryLanguage" in node and node["QueryLanguage"] not in (JSONPATH, JSONATA):
            self.report.add("/QueryLanguage", "QueryLanguage must be JSONPath or JSONata")
        timeout = node.get("TimeoutSeconds", 1)
        if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout < 1:
            self.report.add("/TimeoutSeconds", "TimeoutSeconds must be a positive integer")
        if "Version" in node and not isinstance(node["Version"], str):
            self.report.add("/Version", "Version must be a string")

    def _state(self, name: str, state: Any, location: str, states: dict[str, Any]) -> None:
        if len(name) > MAX_STATE_NAME_LENGTH or not name:
            self.report.add(location, f"State names must be 1 to {MAX_STATE_NAME_LENGTH} characters long")
        if not isinstance(state, dict):
            self.report.add(location, "A state must be an object")
            return
        if not required(self.report, state, ["Type"], location):
            return
        language = state.get("QueryLanguage", self.top_language)
        if language not in (JSONPATH, JSONATA):
            self.report.add(f"{location}/QueryLanguage", "QueryLanguage must be JSONPath or JSONata")
            language = self.top_language
        if self.top_language == JSONATA and language == JSONPATH:
            self.report.add(
                location, "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine"
            )
        self.schema.check(state, location, language)
        self._transitions(state, location, states)
        if state["Type"] == "Parallel" and isinstance(state.get("Branches"), list):
            for index, branch in enumerate(state["Branches"]):
                self.machine(branch, f"{location}/Branches[{index}]")
        if state["Type"] == "Map":
            field = "ItemProcessor" if "ItemProcessor" in state else "Iterator"
            if field in state:
                # A distributed Map's EXPRESS child workflows are Express executions: the checks of
                # an Express state machine apply to them (no `.sync`, no `.waitForTaskToken`).
                outer = self.schema.state_machine_type
                if _express_children(state[field]):
                    self.schema.state_machine_type = "EXPRESS"
                try:
                    self.machine(state[field], f"{location}/{field}")
                finally:
                    self.schema.state_machine_type = outer

    def _transitions(self, state: dict[str, Any], location: str, states: dict[str, Any]) -> None:
        state_type = state["Type"]
        if state_type in _NEEDS_TRANSITION:
            has_next, ends = "Next" in state, state.get("End") is True
            if "End" in state and not isinstance(state["End"], bool):
                self.report.add(f"{location}/End", "The value for 'End' must be a boolean")
            if has_next and ends:
                self.report.add(location, "Only one of 'Next' or 'End' can be set")
            elif not has_next and not ends:
                self.report.add(location, "One of 'Next' or 'End' is required", MISSING_TRANSITION_TARGET)
        for target_location, target in _targets(state, location):
            if not isinstance(target, str) or target not in states:
                self.report.add(
                    target_location, f"Missing 'Next' target: {target}", MISSING_TRANSITION_TARGET
                )

    def _reachability(self, states: dict[str, Any], start: str, location: str) -> None:
        seen: set[str] = set()
        pending = [start]
        while pending:
            name = pending.pop()
            if name in seen or name not in states:
                continue
            seen.add(name)
            state = states[name]
            if isinstance(state, dict):
                pending.extend(t for _, t in _targets(state, "") if isinstance(t, str))
        for name in states:
            if name not in seen:
                self.report.add(
                    f"{location}/States/{name}", f'State "{name}" is not reachable', MISSING_TRANSITION_TARGET
                )


def _is_terminal(state: dict[str, Any]) -> bool:
    return state.get("Type") in ("Succeed", "Fail") or state.get("End") is True


def _targets(state: dict[str, Any], location: str) -> Iterator[tuple[str, Any]]:
    """Every state name that `state` may go to, with where it is written."""
    if "Next" in state:
        yield f"{location}/Next", state["Next"]
    if state.get("Type") == "Choice":
        if "Default" in state:
            yield f"{location}/Default", state["Default"]
        choices = state.get("Choices")
        for index, rule in enumerate(choices if isinstance(choices, list) else []):
            if isinstance(rule, dict) and "Next" in rule:
                yield f"{location}/Choices[{index}]/Next", rule["Next"]
    catchers = state.get("Catch")
    for index, catcher in enumerate(catchers if isinstance(catchers, list) else []):
        if isinstance(catcher, dict) and "Next" in catcher:
            yield f"{location}/Catch[{index}]/Next", catcher["Next"]


def transition_targets(state: dict[str, Any]) -> list[str]:
    """The names of the states `state` may go to (Next, Default, Choices, Catch)."""
    return [target for _, target in _targets(state, "") if isinstance(target, str)]


def _express_children(processor: Any) -> bool:
    config = processor.get("ProcessorConfig") if isinstance(processor, dict) else None
    return (
        isinstance(config, dict)
        and config.get("Mode") == "DISTRIBUTED"
        and config.get("ExecutionType") == "EXPRESS"
    )
