"""The Choice state and its rules, loaded once into typed trees.

A JSONPath rule is a Boolean expression (`And` / `Or` / `Not`: `AllOf`, `AnyOf`, `Negation`) or a
test of the value at `Variable`: a `Comparison` with a literal (held in the form the operator
compares: UTF-16 for strings, a parsed timestamp, a compiled StringMatches pattern) or with the
value at a `...Path` path, a `TypeTest` (`IsNull`, `IsString`...) or `Presence` (`IsPresent`). A
malformed rule is refused when the definition is loaded, with ValidateStateMachineDefinition's
message and the rule's place. As on AWS, a comparison whose value is not of the operator's type (a
string for NumericEquals, a non-timestamp for TimestampEquals) is simply false, while a `Variable`
or `...Path` that selects nothing is a `States.Runtime` error, except for `IsPresent`, which exists
to test exactly that. A JSONata rule has a `Condition` (`JsonataCondition`), which must give a
boolean.
"""

from __future__ import annotations

import datetime
import functools
import json
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
    optional_text,
)
from tributary.states.engine import json_type_name
from tributary.states.errors import StatesError
from tributary.states.history import payload_text
from tributary.states.jsonpath import PathError, is_valid, select
from tributary.states.value_source import ExpressionValue, ValueSource, read_source

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


# --- Choice Rules, loaded into typed trees ------------------------------------------------------

_FAMILIES = ("String", "Numeric", "Timestamp")
_TYPE_TESTS = ("IsNull", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp")
# Every comparison operator of a JSONPath Choice Rule.
OPERATORS = frozenset(
    {
        f"{family}{relation}{suffix}"
        for family in _FAMILIES
        for relation in _ORDERINGS
        for suffix in ("", "Path")
    }
    | {"StringMatches", "BooleanEquals", "BooleanEqualsPath", "IsPresent", *_TYPE_TESTS}
)


class Rule:
    """A JSONPath Choice Rule as loaded: whether it matches the state's effective input `value`."""

    def evaluate(self, value: Any, context: Any, variables: dict[str, Any]) -> bool:
        raise NotImplementedError


class AllOf(Rule):
    """`And`: every rule matches."""

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules

    def evaluate(self, value: Any, context: Any, variables: dict[str, Any]) -> bool:
        return all(rule.evaluate(value, context, variables) for rule in self.rules)


class AnyOf(Rule):
    """`Or`: some rule matches."""

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules

    def evaluate(self, value: Any, context: Any, variables: dict[str, Any]) -> bool:
        return any(rule.evaluate(value, context, variables) for rule in self.rules)


class Negation(Rule):
    """`Not`."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule

    def evaluate(self, value: Any, context: Any, variables: dict[str, Any]) -> bool:
        return not self.rule.evaluate(value, context, variables)


class Presence(Rule):
    """`IsPresent`: whether `Variable` selects something (the one test a missing value does not fail)."""

    def __init__(self, variable: str, expected: bool) -> None:
        self.variable = variable
        self.expected = expected

    def evaluate(self, value: Any, context: Any, variables: dict[str, Any]) -> bool:
        try:
            select(value, self.variable, context=context, variables=variables)
        except PathError:
            return not self.expected
        return self.expected


class TypeTest(Rule):
    """`IsNull`, `IsNumeric`, `IsString`, `IsBoolean`, `IsTimestamp`: true or false as expected."""

    def __init__(self, variable: str, operator: str, expected: bool) -> None:
        self.variable = variable
        self.operator = operator
        self.expected = expected
        self.test = _TYPE_PREDICATES[operator]

    def evaluate(self, value: Any, context: Any, variables: dict[str, Any]) -> bool:
        return self.test(_select(value, self.variable, context, variables)) == self.expected


class Comparison(Rule):
    """A comparison of the value at `variable` with `operand` (a literal, held in the form the
    operator compares, decided at load) or with the value at `operand_path`. A value not of the
    operator's type makes the comparison false (`comparable` gives None for it)."""

    def __init__(
        self,
        variable: str,
        operator: str,
        relation: Callable[[Any, Any], bool],
        comparable: Callable[[Any], Any],
        *,
        operand: Any = None,
        operand_path: str | None = None,
    ) -> None:
        self.variable = variable
        self.operator = operator
        self.relation = relation
        self.comparable = comparable
        self.operand = operand
        self.operand_path = operand_path

    def evaluate(self, value: Any, context: Any, variables: dict[str, Any]) -> bool:
        left = self.comparable(_select(value, self.variable, context, variables))
        if self.operand_path is None:
            right = self.operand
        else:
            right = self.comparable(_select(value, self.operand_path, context, variables))
        return left is not None and right is not None and self.relation(left, right)


def _select(value: Any, path: str, context: Any, variables: dict[str, Any]) -> Any:
    try:
        return select(value, path, context=context, variables=variables)
    except PathError as error:
        raise StatesError(
            errors.RUNTIME,
            f"Invalid path '{path}': The choice state's condition path references an invalid value.",
        ) from error


_TYPE_PREDICATES: dict[str, Callable[[Any], bool]] = {
    name: functools.partial(_type_test, name) for name in _TYPE_TESTS
}


def _boolean(value: Any) -> Any:
    return value if isinstance(value, bool) else None


def _text_only(value: Any) -> Any:
    return value if isinstance(value, str) else None


def _matches_pattern(text: str, pattern: re.Pattern[str]) -> bool:
    return pattern.fullmatch(text) is not None


def load_rule(raw: Any, place: str, *, top: bool = True) -> Rule:
    """A JSONPath Choice Rule (`top`: one of Choices, which may also hold Next, Comment, Assign)
    as a typed tree, refused with ValidateStateMachineDefinition's message at its place
    (`States.C.Choices[0].And[1]`) when malformed."""
    if not isinstance(raw, dict):
        raise DefinitionError("A Choice Rule must be an object", place)
    allowed = {"Next", "Comment", "Assign"} if top else {"Comment"}
    for name in raw:
        if name not in allowed and name not in OPERATORS and name not in ("And", "Or", "Not", "Variable"):
            raise DefinitionError(f"The field '{name}' is not supported by Step Functions", place)
    combinators = [name for name in ("And", "Or", "Not") if name in raw]
    operators = [name for name in raw if name in OPERATORS]
    if combinators:
        if len(combinators) > 1 or operators or "Variable" in raw:
            raise DefinitionError("A Choice Rule must hold one combinator or one comparison", place)
        return _combination(combinators[0], raw[combinators[0]], place)
    if "Variable" not in raw:
        raise DefinitionError("These fields are required: [Variable]", place)
    variable = _path(raw["Variable"], f"{place}.Variable")
    if len(operators) != 1:
        raise DefinitionError("A Choice Rule must hold exactly one comparison operator", place)
    operator = operators[0]
    return _comparison(variable, operator, raw[operator], f"{place}.{operator}")


def _combination(name: str, operand: Any, place: str) -> Rule:
    if name == "Not":
        if not isinstance(operand, dict):
            raise DefinitionError("The value for 'Not' must be a Choice Rule", f"{place}.Not")
        return Negation(load_rule(operand, f"{place}.Not", top=False))
    if not isinstance(operand, list) or not operand:
        raise DefinitionError(f"The value for '{name}' must be a non-empty array", f"{place}.{name}")
    rules = tuple(load_rule(sub, f"{place}.{name}[{i}]", top=False) for i, sub in enumerate(operand))
    return AllOf(rules) if name == "And" else AnyOf(rules)


def _path(value: Any, place: str) -> str:
    if not isinstance(value, str) or not is_valid(value):
        raise DefinitionError(f"The value '{value}' is not a valid JSONPath", place)
    return value


def _comparison(variable: str, operator: str, operand: Any, place: str) -> Rule:
    if operator == "IsPresent" or operator in _TYPE_TESTS:
        if not isinstance(operand, bool):
            raise DefinitionError(f"The value for '{operator}' must be a boolean", place)
        if operator == "IsPresent":
            return Presence(variable, operand)
        return TypeTest(variable, operator, operand)
    if operator == "StringMatches":
        if not isinstance(operand, str):
            raise DefinitionError(f"The value for '{operator}' must be a string", place)
        return Comparison(variable, operator, _matches_pattern, _text_only, operand=_wildcard(operand))
    family = next((f for f in (*_FAMILIES, "Boolean") if operator.startswith(f)), "Boolean")
    relation_name = operator[len(family) :].removesuffix("Path")
    relation = _ORDERINGS[relation_name]
    comparable = _boolean if family == "Boolean" else functools.partial(_as_comparable, family)
    if operator.endswith("Path"):
        return Comparison(variable, operator, relation, comparable, operand_path=_path(operand, place))
    if family in ("String", "Timestamp") and not isinstance(operand, str):
        raise DefinitionError(f"The value for '{operator}' must be a string", place)
    if family == "Timestamp" and parse_timestamp(operand) is None:
        raise DefinitionError("String does not match RFC3339 timestamp", place)
    if family == "Numeric" and not _is_number(operand):
        raise DefinitionError(f"The value for '{operator}' must be a number", place)
    if family == "Boolean" and not isinstance(operand, bool):
        raise DefinitionError(f"The value for '{operator}' must be a boolean", place)
    return Comparison(variable, operator, relation, comparable, operand=comparable(operand))


def evaluate_choice_rule(
    rule: dict[str, Any], value: Any, *, context: Any, variables: dict[str, Any]
) -> bool:
    """Whether the JSONPath Choice Rule `rule` (as written) matches the state input `value`:
    `load_rule` then its evaluation (the engine loads each rule once, with its state)."""
    return load_rule(rule, "Choices[0]").evaluate(value, context, variables)


class Condition:
    """How a Choice rule decides, as loaded: a JSONPath rule tree or a JSONata `Condition`."""

    def matches(self, engine: Interpreter, run: StateRun, effective: Any) -> bool:
        raise NotImplementedError


class RuleCondition(Condition):
    def __init__(self, rule: Rule) -> None:
        self.rule = rule

    def matches(self, engine: Interpreter, run: StateRun, effective: Any) -> bool:
        return self.rule.evaluate(effective, run.context, run.variables)


class JsonataCondition(Condition):
    """A JSONata `Condition` (an expression, or a literal boolean), which must give a boolean."""

    def __init__(self, source: ValueSource) -> None:
        self.source = source

    def matches(self, engine: Interpreter, run: StateRun, effective: Any) -> bool:
        condition = self.source.evaluate(engine, run, effective)
        if not isinstance(condition, bool):
            text = self.source.text if isinstance(self.source, ExpressionValue) else json.dumps(condition)
            raise StatesError(
                errors.QUERY_EVALUATION_ERROR,
                f"The JSONata expression '{text}' specified for the field "
                f"'Condition' returned an unexpected result type. Expected 'boolean', but was "
                f"'{json_type_name(condition)}' for value: {payload_text(condition)}",
            )
        return condition


class ChoiceRule(Transition):
    """A rule of a Choice state: its `condition` (a JSONPath rule tree or a JSONata Condition,
    decided at load) and where it goes."""

    def __init__(self, raw: Any, place: str, jsonata: bool, index: int) -> None:
        if not isinstance(raw, dict):
            raise DefinitionError("A Choice Rule must be an object", place)
        self.read_transition(raw, place, jsonata)
        if self.next is None:
            raise DefinitionError("Next is required", place)
        self.condition: Condition
        if jsonata:
            if "Condition" not in raw:
                raise DefinitionError("Condition is required", place)
            label = f"Choices[{index}].Condition"
            self.condition = JsonataCondition(read_source(raw, "Condition", place, jsonata=True, label=label))
        else:
            self.condition = RuleCondition(load_rule(raw, place))


class ChoiceState(State):
    type = "Choice"
    terminal = True

    def __init__(self, name: str, raw: Mapping[str, Any], machine_language: str, load: NestedLoader) -> None:
        super().__init__(name, raw, machine_language, load)
        rules = raw.get("Choices")
        if not isinstance(rules, list) or not rules:
            raise DefinitionError("Choices must be a non-empty array", f"{self.place}.Choices")
        self.choices = tuple(
            ChoiceRule(rule, f"{self.place}.Choices[{i}]", self.jsonata, i) for i, rule in enumerate(rules)
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
        for rule in self.choices:
            if rule.condition.matches(engine, run, effective):
                # JSONata: a rule without Output takes the state's.
                output_holder = rule if rule.output is not ABSENT else self
                return engine.conclude(run, rule, rule.next, effective, output_holder=output_holder)
        if self.default is not None:
            return engine.conclude(run, self, self.default, effective)
        raise StatesError(errors.NO_CHOICE_MATCHED, "No Matches!")
