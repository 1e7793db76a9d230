"""The definition model: a state machine (or a Parallel branch, or a Map's ItemProcessor) as its
start state, its states and its query language."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

JSONPATH = "JSONPath"
JSONATA = "JSONata"


@dataclass(frozen=True)
class Machine:
    """A set of states run from `start_at`: the whole state machine or a nested one."""

    start_at: str
    states: dict[str, dict[str, Any]]
    query_language: str = JSONPATH
    timeout_seconds: float | None = None

    @classmethod
    def from_definition(cls, definition: dict[str, Any] | str, inherited: str = JSONPATH) -> Machine:
        """A machine from its definition (object or JSON text). Nested machines inherit the query
        language of the state machine unless they name their own."""
        if isinstance(definition, str):
            definition = json.loads(definition)
        assert isinstance(definition, dict)
        timeout = definition.get("TimeoutSeconds")
        return cls(
            start_at=definition["StartAt"],
            states=definition["States"],
            query_language=definition.get("QueryLanguage", inherited),
            timeout_seconds=float(timeout) if isinstance(timeout, int | float) else None,
        )

    # The states that use JSONata, decided once when the machine is loaded.
    jsonata_states: frozenset[str] = field(init=False, default=frozenset(), compare=False)

    def __post_init__(self) -> None:
        chosen = frozenset(
            name
            for name, state in self.states.items()
            if isinstance(state, dict) and self.query_language_of(state) == JSONATA
        )
        object.__setattr__(self, "jsonata_states", chosen)

    # The machines inside Parallel and Map states, loaded on first use and kept (see `nested`).
    _nested: dict[str, tuple[Machine, ...]] = field(
        init=False, default_factory=dict, compare=False, repr=False
    )

    def nested(self, name: str, state: dict[str, Any]) -> tuple[Machine, ...]:
        """The machines inside the state `name`: a Parallel's branches, a Map's processor (one).
        They inherit this machine's query language. Loaded once per machine, however many times the
        state runs (`state` decides for a state the machine lacks, which is not kept)."""
        kept = self.states.get(name) is state
        loaded = self._nested.get(name) if kept else None
        if loaded is None:
            if state.get("Type") == "Map":
                loaded = (Machine.from_definition(map_processor(state), self.query_language),)
            else:
                branches = state.get("Branches", [])
                loaded = tuple(Machine.from_definition(b, self.query_language) for b in branches)
            if kept:
                self._nested[name] = loaded
        return loaded

    def query_language_of(self, state: dict[str, Any]) -> str:
        return str(state.get("QueryLanguage", self.query_language))

    def uses_jsonata(self, name: str, state: dict[str, Any]) -> bool:
        """Whether the state `name` uses JSONata (`state` decides for a state the machine lacks)."""
        if self.states.get(name) is state:
            return name in self.jsonata_states
        return self.query_language_of(state) == JSONATA


def map_processor(state: dict[str, Any]) -> dict[str, Any]:
    """The nested machine of a Map state (`ItemProcessor`, or the legacy `Iterator`)."""
    processor = state.get("ItemProcessor") or state.get("Iterator")
    if not isinstance(processor, dict):
        raise KeyError("ItemProcessor")
    return processor


def is_distributed(state: dict[str, Any]) -> bool:
    config = map_processor(state).get("ProcessorConfig") or {}
    return config.get("Mode") == "DISTRIBUTED"
