"""Choice Rules of a JSONPath-mode Choice state.

A rule is a Boolean expression (`And`, `Or`, `Not`) or a comparison of the value at `Variable`
with a literal or with the value at a `...Path` path. As on AWS, a comparison whose operand is not
of the operator's type (a string for NumericEquals, a non-timestamp for TimestampEquals) is simply
false, while a `Variable` or `...Path` that selects nothing is a `States.Runtime` error, except
for `IsPresent`, which exists to test exactly that.
"""

from __future__ import annotations

import datetime
import functools
import operator
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tributary.states import errors
from tributary.states.definition import (
    ABSENT,
    DefinitionError,
    NestedLoader,
    State,
    Transition,
    object_list,
    optional_text,
)
from tributary.states.engine import expression_text, json_type_name
from tributary.states.errors import StatesError
from tributary.states.history import payload_text
from tributary.states.jsonpath import PathError, select

if TYPE_CHECKING:
    from tributary.states.engine import Interpreter, StateRun, Step

_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": operator.eq,
    "LessThan": operator.lt,
    "LessThanEquals": operator.le,
    "GreaterThan": operator.gt,
    "GreaterThanEquals": operator.ge,
}

_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


def evaluate_choice_rule(
    rule: dict[str, Any], value: Any, *, context: Any, variables: dict[str, Any]
) -> bool:
    """Whether the Choice Rule `rule` matches the state input `value`."""
    if "And" in rule:
        return all(
            evaluate_choice_rule(sub, value, context=context, variables=variables) for sub in rule["And"]
        )
    if "Or" in rule:
        return any(
            evaluate_choice_rule(sub, value, context=context, variables=variables) for sub in rule["Or"]
        )
    if "Not" in rule:
        return not evaluate_choice_rule(rule["Not"], value, context=context, variables=variables)
    name, operand = _comparison(rule)
    variable_path = rule["Variable"]
    if name == "IsPresent":
        return _is_present(value, variable_path, context, variables) == bool(operand)
    actual = _select(value, variable_path, context, variables)
    if name.endswith("Path"):
        name = name[: -len("Path")]
        operand = _select(value, operand, context, variables)
    return _compare(name, actual, operand)


def comparison_operator(rule: dict[str, Any]) -> str:
    """The name of the comparison operator of a (non-Boolean) rule, e.g. `NumericEqualsPath`."""
    return _comparison(rule)[0]


def parse_timestamp(text: Any) -> tuple[datetime.datetime, int] | None:
    """A timestamp as AWS reads it (RFC 3339: date `T` time, seconds, optional fraction, `Z` or an
    offset), as (whole seconds in UTC, nanoseconds), or None when `text` is not one."""
    if not isinstance(text, str):
        return None
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_hours, off_minutes = match.groups()
    offset = datetime.timedelta(0)
    if not zulu:
        offset = datetime.timedelta(hours=int(off_hours), minutes=int(off_minutes))
        if sign == "-":
            offset = -offset
    try:
        moment = datetime.datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            tzinfo=datetime.timezone(offset),
        )
    except ValueError:
        return None
    nanoseconds = int((fraction or "").ljust(9, "0"))
    return moment.astimezone(datetime.UTC), nanoseconds


def string_matches(text: str, pattern: str) -> bool:
    """StringMatches: `*` matches any run of characters; `\\*` is a literal `*`, `\\\\` a backslash."""
    return _wildcard(pattern).fullmatch(text) is not None


def _comparison(rule: dict[str, Any]) -> tuple[str, Any]:
    for key, operand in rule.items():
        if key.startswith(("String", "Numeric", "Boolean", "Timestamp", "Is")):
            return key, operand
    raise StatesError(errors.RUNTIME, f"Choice rule has no comparison operator: {sorted(rule)}")


def _select(value: Any, path: str, context: Any, variables: dict[str, Any]) -> Any:
    try:
        return select(value, path, context=context, variables=variables)
    except PathError as error:
        raise StatesError(
            errors.RUNTIME,
            f"Invalid path '{path}': The choice state's condition path references an invalid value.",
        ) from error


def _is_present(value: Any, path: str, context: Any, variables: dict[str, Any]) -> bool:
    try:
        select(value, path, context=context, variables=variables)
    except PathError:
        return False
    return True


def _compare(name: str, actual: Any, operand: Any) -> bool:
    if name.startswith("Is"):
        return _type_test(name, actual) == bool(operand)
    if name == "StringMatches":
        return isinstance(actual, str) and isinstance(operand, str) and string_matches(actual, operand)
    if name == "BooleanEquals":
        return isinstance(actual, bool) and isinstance(operand, bool) and actual == operand
    for family in ("String", "Numeric", "Timestamp"):
        if name.startswith(family):
            relation = _ORDERINGS.get(name[len(family) :])
            if relation is None:
                break
            left, right = _as_comparable(family, actual), _as_comparable(family, operand)
            return left is not None and right is not None and relation(left, right)
    raise StatesError(errors.RUNTIME, f"Unknown comparison operator: {name}")


def _as_comparable(family: str, value: Any) -> Any:
    """`value` in a form Python orders as AWS orders that type, or None if it is not of the type."""
    if family == "Numeric":
        return value if _is_number(value) else None
    if family == "String":
        # Java compares strings by UTF-16 code units; big-endian UTF-16 bytes order the same way.
        return value.encode("utf-16-be") if isinstance(value, str) else None
    return parse_timestamp(value)


def _type_test(name: str, value: Any) -> bool:
    if name == "IsNull":
        return value is None
    if name == "IsNumeric":
        return _is_number(value)
    if name == "IsString":
        return isinstance(value, str)
    if name == "IsBoolean":
        return isinstance(value, bool)
    if name == "IsTimestamp":
        return parse_timestamp(value) is not None
    raise StatesError(errors.RUNTIME, f"Unknown comparison operator: {name}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@functools.lru_cache(maxsize=512)
def _wildcard(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    escaped = False
    for character in pattern:
        if escaped:
            parts.append(re.escape(character))
            escaped = False
        elif character == "\\":
            escaped = True
        elif character == "*":
            parts.append(".*")
        else:
            parts.append(re.escape(character))
    if escaped:
        parts.append(re.escape("\\"))
    return re.compile("".join(parts), re.DOTALL)


class ChoiceRule(Transition):
    """A rule of a Choice state: a JSONata `Condition`, or a JSONPath Boolean expression or
    comparison (`expression`, evaluated by `evaluate_choice_rule`), and where it goes."""

    def __init__(self, raw: Mapping[str, Any], place: str, jsonata: bool) -> None:
        self.read_transition(raw, place)
        if self.next is None:
            raise DefinitionError("Next is required", place)
        self.condition = raw.get("Condition", ABSENT)
        if jsonata and self.condition is ABSENT:
            raise DefinitionError("Condition is required", place)
        self.expression = dict(raw)


class ChoiceState(State):
    type = "Choice"
    terminal = True

    def __init__(self, name: str, raw: Mapping[str, Any], machine_language: str, load: NestedLoader) -> None:
        super().__init__(name, raw, machine_language, load)
        rules = object_list(raw, "Choices", self.place)
        self.choices = tuple(
            ChoiceRule(rule, f"{self.place}.Choices[{i}]", self.jsonata) for i, rule in enumerate(rules)
        )
        self.default = optional_text(raw, "Default", self.place)

    def transitions(self) -> list[str]:
        return [
            *(rule.next for rule in self.choices if rule.next is not None),
            *([self.default] if self.default is not None else []),
            *super().transitions(),
        ]

    def body(self, engine: Interpreter, run: StateRun) -> Step:
        effective = engine.effective_input(run)
        for index, rule in enumerate(self.choices):
            if _matches(engine, run, rule, index, effective):
                # JSONata: a rule without Output takes the state's.
                output_holder = rule if rule.output is not ABSENT else self
                return engine.conclude(run, rule, rule.next, effective, output_holder=output_holder)
        if self.default is not None:
            return engine.conclude(run, self, self.default, effective)
        raise StatesError(errors.NO_CHOICE_MATCHED, "No Matches!")


def _matches(engine: Interpreter, run: StateRun, rule: ChoiceRule, index: int, effective: Any) -> bool:
    if not run.jsonata:
        return evaluate_choice_rule(rule.expression, effective, context=run.context, variables=run.variables)
    field_name = f"Choices[{index}].Condition"
    condition = engine.jsonata_field(run, rule.condition, engine.jsonata_states(run), field_name)
    if not isinstance(condition, bool):
        raise StatesError(
            errors.QUERY_EVALUATION_ERROR,
            f"The JSONata expression '{expression_text(rule.condition)}' specified for the field "
            f"'Condition' returned an unexpected result type. Expected 'boolean', but was "
            f"'{json_type_name(condition)}' for value: {payload_text(condition)}",
        )
    return condition
