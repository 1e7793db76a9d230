"""How long a Wait state waits: Seconds, SecondsPath, Timestamp, TimestampPath (JSONPath) or
Seconds / Timestamp as JSONata expressions, validated as AWS does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tributary.states import errors
from tributary.states.definition import ABSENT, NestedLoader, State
from tributary.states.errors import StatesError
from tributary.states.history import payload_text
from tributary.states.state.choice import parse_timestamp

if TYPE_CHECKING:
    from tributary.states.engine import Interpreter, StateRun, Step


class WaitState(State):
    type = "Wait"

    def __init__(self, name: str, raw: Mapping[str, Any], machine_language: str, load: NestedLoader) -> None:
        super().__init__(name, raw, machine_language, load)
        self.seconds = raw.get("Seconds", ABSENT)
        self.seconds_path: str | None = raw.get("SecondsPath")
        self.timestamp = raw.get("Timestamp", ABSENT)
        self.timestamp_path: str | None = raw.get("TimestampPath")

    def may_wait(self) -> bool:
        return True

    def body(self, engine: Interpreter, run: StateRun) -> Step:
        effective = engine.effective_input(run)
        seconds = seconds_to_wait(engine, run, self, effective)
        step = engine.conclude(run, self, self.next, effective)
        engine.sleep(seconds)
        return step


def seconds_to_wait(engine: Interpreter, run: StateRun, state: WaitState, value: Any) -> float:
    """Seconds from now until the Wait state is over (0 for a timestamp in the past)."""
    if run.jsonata:
        states = engine.jsonata_states(run)
        if state.seconds is not ABSENT:
            seconds = engine.jsonata_field(run, state.seconds, states, "Seconds")
            if not _is_whole(seconds) or seconds < 0:
                raise StatesError(
                    errors.QUERY_EVALUATION_ERROR,
                    f"The JSONata expression '{_text(state.seconds)}' specified for the field 'Seconds' "
                    f"returned an unexpected result type. Expected 'integer', but was "
                    f"'{payload_text(seconds)}'",
                    location="Seconds",
                )
            return float(seconds)
        if state.timestamp is not ABSENT:
            stamp = engine.jsonata_field(run, state.timestamp, states, "Timestamp")
            if parse_timestamp(stamp) is None:
                raise StatesError(
                    errors.QUERY_EVALUATION_ERROR,
                    f"The Timestamp field cannot be parsed as an {_ISO_8601}: {_as_text(stamp)}",
                    location="Timestamp",
                )
            return _until(engine, stamp, errors.QUERY_EVALUATION_ERROR, "Timestamp")
        return 0.0
    if state.seconds is not ABSENT:
        return float(state.seconds)
    if state.seconds_path is not None:
        path = state.seconds_path
        seconds = engine.select(run, value, path)
        if not _is_whole(seconds):
            raise StatesError(
                errors.RUNTIME,
                "The SecondsPath parameter cannot be parsed as a long value: "
                f"{path} == {payload_text(seconds)}",
            )
        if seconds < 0:
            raise StatesError(
                errors.RUNTIME,
                f"The SecondsPath parameter references a negative value: {path} == {payload_text(seconds)}",
            )
        return float(seconds)
    if state.timestamp is not ABSENT:
        return _until(engine, state.timestamp, errors.RUNTIME, "Timestamp")
    if state.timestamp_path is not None:
        path = state.timestamp_path
        stamp = engine.select(run, value, path)
        if parse_timestamp(stamp) is None:
            raise StatesError(
                errors.RUNTIME,
                "The TimestampPath parameter does not reference a valid "
                f"{_ISO_8601}: {path} == {_as_text(stamp)}",
            )
        return _until(engine, stamp, errors.RUNTIME, "TimestampPath")
    return 0.0


_ISO_8601 = "ISO-8601 extended offset date-time format string"


def _as_text(value: Any) -> str:
    """A value as AWS quotes it in a cause: text as it is, other JSON as JSON."""
    return value if isinstance(value, str) else payload_text(value)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: Any) -> str:
    if isinstance(value, str) and value.startswith("{%") and value.endswith("%}"):
        return value[2:-2].strip()
    return payload_text(value)


def _until(engine: Interpreter, stamp: Any, error: str, what: str) -> float:
    parsed = parse_timestamp(stamp)
    if parsed is None:
        raise StatesError(error, f"The {what} is not a valid timestamp")
    moment, nanoseconds = parsed
    remaining = (moment - engine.runtime.clock.now()).total_seconds() + nanoseconds / 1e9
    return max(0.0, remaining)
