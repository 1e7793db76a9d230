"""The Wait state and how long it waits: exactly one of Seconds, SecondsPath, Timestamp,
TimestampPath (JSONPath) or Seconds / Timestamp, literal or as JSONata expressions, read at load
into one `Duration`: a literal is checked (and a timestamp parsed) when loaded; a path or an
expression is evaluated and checked when the state runs, with AWS's errors."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tributary.states import errors
from tributary.states.definition import DefinitionError, NestedLoader, State
from tributary.states.errors import StatesError
from tributary.states.history import payload_text
from tributary.states.state.choice import parse_timestamp
from tributary.states.value_source import ExpressionValue, LiteralValue, PathValue, ValueSource, read_source

if TYPE_CHECKING:
    from tributary.states.engine import Interpreter, StateRun, Step

_FIELDS = ("Seconds", "SecondsPath", "Timestamp", "TimestampPath")
_ISO_8601 = "ISO-8601 extended offset date-time format string"


class WaitState(State):
    type = "Wait"

    def __init__(self, name: str, raw: Mapping[str, Any], machine_language: str, load: NestedLoader) -> None:
        super().__init__(name, raw, machine_language, load)
        self.duration = load_duration(raw, self.place, self.jsonata)

    def may_wait(self) -> bool:
        return True

    def body(self, engine: Interpreter, run: StateRun) -> Step:
        effective = engine.effective_input(run)
        seconds = self.duration.seconds(engine, run, effective)
        step = engine.conclude(run, self, self.next, effective)
        engine.sleep(seconds)
        return step


class Duration:
    """How long a Wait state waits, as loaded; `seconds` from now (0 for a moment in the past)."""

    def seconds(self, engine: Interpreter, run: StateRun, effective: Any) -> float:
        raise NotImplementedError


class FixedSeconds(Duration):
    def __init__(self, seconds: int) -> None:
        self.value = float(seconds)

    def seconds(self, engine: Interpreter, run: StateRun, effective: Any) -> float:
        return self.value


class SecondsFrom(Duration):
    """Seconds from a SecondsPath (States.Runtime when it is not a whole, non-negative number) or
    a JSONata expression (States.QueryEvaluationError at `Seconds`)."""

    def __init__(self, source: PathValue | ExpressionValue) -> None:
        self.source = source

    def seconds(self, engine: Interpreter, run: StateRun, effective: Any) -> float:
        seconds = self.source.evaluate(engine, run, effective)
        if _is_whole(seconds) and seconds >= 0:
            return float(seconds)
        source = self.source
        if isinstance(source, ExpressionValue):
            raise StatesError(
                errors.QUERY_EVALUATION_ERROR,
                f"The JSONata expression '{source.text}' specified for the field 'Seconds' "
                f"returned an unexpected result type. Expected 'integer', but was "
                f"'{payload_text(seconds)}'",
                location="Seconds",
            )
        shown = f"{source.path} == {payload_text(seconds)}"
        if not _is_whole(seconds):
            raise StatesError(
                errors.RUNTIME, f"The SecondsPath parameter cannot be parsed as a long value: {shown}"
            )
        raise StatesError(errors.RUNTIME, f"The SecondsPath parameter references a negative value: {shown}")


class FixedMoment(Duration):
    def __init__(self, moment: datetime.datetime, nanoseconds: int) -> None:
        self.moment = moment
        self.nanoseconds = nanoseconds

    def seconds(self, engine: Interpreter, run: StateRun, effective: Any) -> float:
        return _until(engine, self.moment, self.nanoseconds)


class MomentFrom(Duration):
    """A timestamp from a TimestampPath (States.Runtime when it is not one) or a JSONata
    expression (States.QueryEvaluationError at `Timestamp`)."""

    def __init__(self, source: PathValue | ExpressionValue) -> None:
        self.source = source

    def seconds(self, engine: Interpreter, run: StateRun, effective: Any) -> float:
        stamp = self.source.evaluate(engine, run, effective)
        parsed = parse_timestamp(stamp)
        if parsed is not None:
            return _until(engine, *parsed)
        source = self.source
        if isinstance(source, ExpressionValue):
            raise StatesError(
                errors.QUERY_EVALUATION_ERROR,
                f"The Timestamp field cannot be parsed as an {_ISO_8601}: {_as_text(stamp)}",
                location="Timestamp",
            )
        raise StatesError(
            errors.RUNTIME,
            f"The TimestampPath parameter does not reference a valid {_ISO_8601}: "
            f"{source.path} == {_as_text(stamp)}",
        )


def load_duration(raw: Mapping[str, Any], place: str, jsonata: bool) -> Duration:
    """The Wait state's duration at `place`, checked as ValidateStateMachineDefinition checks it."""
    given = [name for name in _FIELDS if name in raw]
    if len(given) != 1:
        raise DefinitionError(f"Exactly one of the fields [{', '.join(_FIELDS)}] is required", place)
    name = given[0].removesuffix("Path")
    source = read_source(raw, name, place, jsonata=jsonata)
    if name == "Seconds":
        return _seconds(source, f"{place}.Seconds")
    return _moment(source, f"{place}.Timestamp")


def _seconds(source: ValueSource, place: str) -> Duration:
    if isinstance(source, LiteralValue):
        if not _is_whole(source.value) or source.value < 0:
            raise DefinitionError("The value for 'Seconds' must be an integer of at least 0", place)
        return FixedSeconds(source.value)
    assert isinstance(source, PathValue | ExpressionValue)
    return SecondsFrom(source)


def _moment(source: ValueSource, place: str) -> Duration:
    if isinstance(source, LiteralValue):
        parsed = parse_timestamp(source.value)
        if parsed is None:
            raise DefinitionError("String does not match RFC3339 timestamp", place)
        return FixedMoment(*parsed)
    assert isinstance(source, PathValue | ExpressionValue)
    return MomentFrom(source)


def _as_text(value: Any) -> str:
    """A value as AWS quotes it in a cause: text as it is, other JSON as JSON."""
    return value if isinstance(value, str) else payload_text(value)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _until(engine: Interpreter, moment: datetime.datetime, nanoseconds: int) -> float:
    remaining = (moment - engine.runtime.clock.now()).total_seconds() + nanoseconds / 1e9
    return max(0.0, remaining)
