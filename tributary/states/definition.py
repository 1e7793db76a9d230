"""The definition model, loaded once: a state machine (or a Parallel branch, or a Map's ItemProcessor)
as its start state, its typed states and its query language.

`Machine.load(definition, types)` reads a definition (object or JSON text) into a `Machine` whose
states are typed objects: one class per state type (`types`, which `tributary.states.state`
brings, so that this module imports none of them), each holding its fields parsed and checked,
its query language decided (the state's `QueryLanguage`, else its machine's), its Retry and Catch
as `Retrier`s and `Catcher`s, and the machines inside it (Parallel branches, a Map's processor)
loaded with it. A definition the engine cannot run raises `DefinitionError`, naming the place.
The checks here are those the engine needs to run a state; `tributary.states.validation` answers
ValidateStateMachineDefinition with AWS's full set of diagnostics."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from tributary.states.errors import DefinitionError
from tributary.states.retry import Catcher, Retrier
from tributary.states.state_io import JSONATA_IO, JSONPATH_IO, StateIo
from tributary.states.value_source import (
    ABSENT,
    HANDED_OVER,
    NO_VALUE,
    ExpressionValue,
    PayloadTemplate,
    ValueSource,
    read_source,
)

if TYPE_CHECKING:
    from tributary.states.engine import Interpreter, StateRun, Step

JSONPATH = "JSONPath"
JSONATA = "JSONata"
QUERY_LANGUAGES = (JSONPATH, JSONATA)
# Fields that only one query language knows.
JSONPATH_ONLY = frozenset(
    {
        "InputPath",
        "OutputPath",
        "ResultPath",
        "Parameters",
        "ResultSelector",
        "ItemsPath",
        "Iterator",
        "SecondsPath",
        "TimestampPath",
        "TimeoutSecondsPath",
        "HeartbeatSecondsPath",
        "ErrorPath",
        "CausePath",
        "MaxConcurrencyPath",
        "ToleratedFailureCountPath",
        "ToleratedFailurePercentagePath",
    }
)
JSONATA_ONLY = frozenset({"Arguments", "Output", "Items"})


# Loads a nested machine (a Parallel branch, a Map's processor) at a place, inheriting the
# enclosing machine's query language.
NestedLoader = Callable[[Any, str], "Machine"]


def required_text(raw: Mapping[str, Any], key: str, place: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise DefinitionError(f"{key} must be a non-empty string, not {json.dumps(value)}", place)
    return value


def optional_text(raw: Mapping[str, Any], key: str, place: str) -> str | None:
    if key not in raw:
        return None
    return required_text(raw, key, place)


def optional_path(raw: Mapping[str, Any], key: str, place: str) -> str | None:
    """A `...Path` field: a string, or null where the language allows it (InputPath, OutputPath,
    ResultPath); "$" when absent."""
    value = raw.get(key, "$")
    if value is not None and not isinstance(value, str):
        raise DefinitionError(f"{key} must be a string or null, not {json.dumps(value)}", place)
    return value


def object_list(raw: Mapping[str, Any], key: str, place: str) -> list[dict[str, Any]]:
    value = raw.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise DefinitionError(f"{key} must be a list of objects", place)
    return value


@dataclass(frozen=True)
class Field:
    """A field given literally (or, in JSONata, as an expression) or by its `<name>Path`
    (JSONPath): TimeoutSeconds, HeartbeatSeconds, MaxConcurrency, ToleratedFailureCount, Items...
    as written (`value`, `path`) and as a typed `ValueSource` (`source`: literal, path or
    expression, decided at load with the state's query language), which `evaluate` runs."""

    name: str
    value: Any = ABSENT
    path: str | None = None
    source: ValueSource = dataclasses.field(default=NO_VALUE, compare=False, repr=False)

    @classmethod
    def read(
        cls, raw: Mapping[str, Any], name: str, place: str, *, jsonata: bool, label: str | None = None
    ) -> Field:
        path = raw.get(f"{name}Path")
        if path is not None and not isinstance(path, str):
            raise DefinitionError(f"{name}Path must be a string, not {json.dumps(path)}", place)
        source = read_source(raw, name, place, jsonata=jsonata, label=label)
        return cls(name, raw.get(name, ABSENT), path, source)

    @property
    def given(self) -> bool:
        return self.value is not ABSENT or self.path is not None

    def evaluate(self, engine: Interpreter, run: StateRun, value: Any) -> Any:
        """The field's value for this run (None when the state has neither the field nor its
        path); `value` is what a `…Path` selects from (the state's effective input)."""
        return self.source.evaluate(engine, run, value)


def payload_source(
    raw: Mapping[str, Any], name: str, place: str, *, jsonata: bool, absent: ValueSource
) -> ValueSource:
    """A field that builds a value (Parameters, ResultSelector, Assign in JSONPath; Arguments,
    Output, Assign in JSONata), loaded once: a `PayloadTemplate` (its `.$` keys' paths and
    intrinsic calls decided) or an `ExpressionValue` (its `{% %}` strings' expressions), `absent`
    when the state leaves it out."""
    if name not in raw:
        return absent
    if jsonata:
        return ExpressionValue(name, raw[name])
    return PayloadTemplate(name, raw[name], place=f"{place}.{name}")


class Transition:
    """Where a state (a Choice rule, a catcher) goes and what it hands on: `Next`, and its `Assign`,
    `Output` (JSONata) and `ResultPath` (JSONPath), which the engine's `conclude` applies; Assign
    and Output as written and loaded (`assign_source`, `output_source`)."""

    next: str | None
    assign: Any
    output: Any
    result_path: str | None
    assign_source: ValueSource
    output_source: ValueSource

    def read_transition(self, raw: Mapping[str, Any], place: str, jsonata: bool) -> None:
        self.next = optional_text(raw, "Next", place)
        self.assign = raw.get("Assign", ABSENT)
        if self.assign is not ABSENT and not isinstance(self.assign, dict | str):
            raise DefinitionError("Assign must be an object", place)
        self.output = raw.get("Output", ABSENT)
        self.result_path = optional_path(raw, "ResultPath", place)
        self.assign_source = payload_source(raw, "Assign", place, jsonata=jsonata, absent=NO_VALUE)
        self.output_source = payload_source(raw, "Output", place, jsonata=jsonata, absent=HANDED_OVER)


class TypedCatcher(Catcher, Transition):
    """A catcher: its ErrorEquals (see `retry.Catcher`) and where it goes."""

    def __init__(self, raw: Mapping[str, Any], place: str, jsonata: bool) -> None:
        Catcher.__init__(self, raw, place)
        self.read_transition(raw, place, jsonata)
        if self.next is None:
            raise DefinitionError("Next is required", place)


class State(Transition):
    """A state of a machine, loaded once: the fields every state may have. Each state type is a
    subclass in its module under `tributary/states/state/`, which reads its own fields in
    `__init__` and runs one attempt of the state in `body`; the engine runs the rest of the
    lifecycle (entered event, Retry, Catch, output and assign, size check, exited event)."""

    type: ClassVar[str] = ""
    # Succeed, Fail and Choice end or branch on their own: they take no Next or End.
    terminal: ClassVar[bool] = False
    # The states that can retry (and whose context object has State.RetryCount).
    can_retry: ClassVar[bool] = False

    def __init__(self, name: str, raw: Mapping[str, Any], machine_language: str, load: NestedLoader) -> None:
        place = f"States.{name}"
        self.name = name
        self.place = place
        language = raw.get("QueryLanguage", machine_language)
        if language not in QUERY_LANGUAGES:
            raise DefinitionError(f"QueryLanguage must be JSONPath or JSONata, not {language!r}", place)
        self.query_language: str = language
        self.jsonata = language == JSONATA
        # The lifecycle's steps in this language (input, arguments, output and assign), chosen once.
        self.io: StateIo = JSONATA_IO if self.jsonata else JSONPATH_IO
        self._refuse_foreign_fields(raw, place)
        self.comment = raw.get("Comment")
        self.read_transition(raw, place, self.jsonata)
        self.end = raw.get("End") is True
        self.input_path = optional_path(raw, "InputPath", place)
        self.output_path = optional_path(raw, "OutputPath", place)
        self.parameters = raw.get("Parameters", ABSENT)
        self.result_selector = raw.get("ResultSelector", ABSENT)
        self.arguments = raw.get("Arguments", ABSENT)
        # Loaded: the request (Parameters in JSONPath, Arguments in JSONata; the value handed over
        # when absent) and ResultSelector (JSONPath).
        request = "Arguments" if self.jsonata else "Parameters"
        self.request_source = payload_source(raw, request, place, jsonata=self.jsonata, absent=HANDED_OVER)
        self.selector_source = payload_source(
            raw, "ResultSelector", place, jsonata=self.jsonata, absent=HANDED_OVER
        )
        self.retriers = tuple(
            Retrier.load(r, f"{place}.Retry[{i}]") for i, r in enumerate(object_list(raw, "Retry", place))
        )
        self.catchers = tuple(
            TypedCatcher(c, f"{place}.Catch[{i}]", self.jsonata)
            for i, c in enumerate(object_list(raw, "Catch", place))
        )

    def _refuse_foreign_fields(self, raw: Mapping[str, Any], place: str) -> None:
        """Each language has fields of its own: the other language's are refused, not ignored (in
        the state and in its catchers)."""
        foreign = JSONPATH_ONLY if self.jsonata else JSONATA_ONLY
        catchers = object_list(raw, "Catch", place)
        places = [(raw, place), *((c, f"{place}.Catch[{i}]") for i, c in enumerate(catchers))]
        for fields, where in places:
            for key in fields:
                if key in foreign:
                    language = self.query_language
                    problem = f"The field '{key}' is not supported for the {language} query language"
                    raise DefinitionError(problem, where)

    def body(self, engine: Interpreter, run: StateRun) -> Step:
        """One attempt of the state (no Retry, no Catch), from its input to its `Step`."""
        raise NotImplementedError

    def may_wait(self) -> bool:
        """Whether running this state can take time on the clock (a Wait, a task call, a retry's
        back-off, such a state inside a branch): its branch may then be suspended inside it."""
        return bool(self.retriers)

    def transitions(self) -> list[str]:
        """The states this one can go to (Next, a Choice's rules and Default, its catchers')."""
        return [t for t in (self.next, *(c.next for c in self.catchers)) if t is not None]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


StateTypes = Mapping[str, type[State]]


def nested_loader(state_place: str, types: StateTypes, language: str) -> NestedLoader:
    """Loads the machines inside the state at `state_place`, placing their problems inside it."""

    def load(nested: Any, inner: str) -> Machine:
        try:
            return Machine.load(nested, types, language)
        except DefinitionError as problem:
            raise problem.inside(f"{state_place}.{inner}") from None

    return load


def load_state(name: str, raw: Any, machine_language: str, types: StateTypes, load: NestedLoader) -> State:
    """One state, typed by its `Type`."""
    if not isinstance(raw, dict):
        raise DefinitionError("a state must be an object", f"States.{name}")
    state_type = raw.get("Type")
    cls = types.get(state_type) if isinstance(state_type, str) else None
    if cls is None:
        raise DefinitionError(f"unsupported state type {json.dumps(state_type)}", f"States.{name}")
    return cls(name, raw, machine_language, load)


@dataclass(frozen=True)
class Machine:
    """A set of typed states run from `start_at`: the whole state machine or a nested one."""

    start_at: str
    states: dict[str, State]
    query_language: str = JSONPATH
    timeout_seconds: float | None = None

    @classmethod
    def load(cls, definition: Any, types: StateTypes, inherited: str = JSONPATH) -> Machine:
        """A machine from its definition (object or JSON text), every state typed and checked;
        nested machines inherit the query language of their machine unless they name their own.
        A `DefinitionError` names its place from the top of this definition."""
        if isinstance(definition, str):
            try:
                definition = json.loads(definition)
            except ValueError as exc:
                raise DefinitionError(f"not JSON: {exc}") from None
        if not isinstance(definition, dict):
            raise DefinitionError("a state machine must be an object")
        language = definition.get("QueryLanguage", inherited)
        if language not in QUERY_LANGUAGES:
            raise DefinitionError(f"QueryLanguage must be JSONPath or JSONata, not {language!r}")
        raw_states = definition.get("States")
        if not isinstance(raw_states, dict) or not raw_states:
            raise DefinitionError("States must be a non-empty object")
        start_at = definition.get("StartAt")
        if not isinstance(start_at, str):
            raise DefinitionError("StartAt must be the name of a state")
        states = {
            name: load_state(name, raw, language, types, nested_loader(f"States.{name}", types, language))
            for name, raw in raw_states.items()
        }
        timeout = definition.get("TimeoutSeconds")
        machine = cls(
            start_at=start_at,
            states=states,
            query_language=language,
            timeout_seconds=float(timeout) if isinstance(timeout, int | float) else None,
        )
        machine.check_transitions()
        return machine

    def check_transitions(self) -> None:
        """StartAt and every Next name a state of this machine; a state that does not end or branch
        on its own has Next or End."""
        if self.start_at not in self.states:
            raise DefinitionError(f"StartAt names no state: {self.start_at!r}")
        for state in self.states.values():
            if not state.terminal and state.next is None and not state.end:
                raise DefinitionError("Next or End is required", state.place)
            for target in state.transitions():
                if target not in self.states:
                    raise DefinitionError(f"Next names no state: {target!r}", state.place)

    @functools.cached_property
    def may_wait(self) -> bool:
        """Whether running this machine can take time on the clock (see `State.may_wait`)."""
        return any(state.may_wait() for state in self.states.values())

    @property
    def jsonata_states(self) -> frozenset[str]:
        """The names of the states that use JSONata, as decided when the machine was loaded."""
        return frozenset(name for name, state in self.states.items() if state.jsonata)
