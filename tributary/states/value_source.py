"""Where a state field's value comes from, decided once when the definition is loaded.

Many fields come in pairs, one per query language: a value written in the definition (`Error`,
`Seconds`, `TimeoutSeconds`, `MaxConcurrency`...), its `…Path` (JSONPath: a reference path, or for
ErrorPath / CausePath an intrinsic function call), or in JSONata the field itself holding an
expression (`{% … %}`). `read_source` reads such a pair into one `ValueSource`:

- `LiteralValue`: the value as written (nothing to evaluate);
- `PathValue`: a JSONPath applied to the value the state hands over (its effective input);
- `IntrinsicValue`: an intrinsic function call (`States.Format(…)`), parsed at load;
- `ExpressionValue`: a JSONata template (an expression, or an object or array holding some),
  compiled at load into `JsonataNode`s;
- `NO_VALUE`: the state has neither.

The fields that build a value are loaded here too: a JSONPath payload template (Parameters,
ResultSelector, Assign, ItemSelector, BatchInput...) is a `PayloadTemplate` (compiled at load by
`payload.compile_template`), a JSONata one (Arguments, Output, Assign) an `ExpressionValue`;
`HANDED_OVER` stands for an absent Parameters, ResultSelector, Arguments or Output (the value
handed over, unchanged).

A state's body only calls `evaluate`; which query language the field is written in was settled
when the state was loaded. The engine is imported only for type checking (this module is imported
by `definition.py`, which the engine imports)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tributary.states import errors, jsonata, jsonpath, payload
from tributary.states.errors import DefinitionError, StatesError
from tributary.states.intrinsic_functions import evaluate_intrinsic

if TYPE_CHECKING:
    from tributary.states.engine import Interpreter, StateRun

# The error of a path that selects nothing: from the path, the field's name, the value searched
# and the path's own problem.
NotFound = Callable[[str, str, Any, jsonpath.PathError], StatesError]


def runtime_not_found(path: str, field: str, value: Any, problem: jsonpath.PathError) -> StatesError:
    """States.Runtime with the path's own message (the default for a `…Path` field)."""
    return StatesError(errors.RUNTIME, str(problem))


class _Absent:
    """The value of a field the definition leaves out (None is JSON null, which a field may hold)."""

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False


ABSENT: Any = _Absent()


class ValueSource:
    """A field's value as loaded: `evaluate` gives it for one run of the state. `field` is the name
    the definition gives it (`Error`, `ErrorPath`, `Seconds`), as errors name it."""

    field: str = ""
    # Whether evaluating reads the value handed over (a path, an intrinsic call).
    reads_input: bool = False

    @property
    def given(self) -> bool:
        return True

    def evaluate(self, engine: Interpreter, run: StateRun, value: Any) -> Any:
        raise NotImplementedError

    def evaluate_in(self, engine: Interpreter, run: StateRun, states: dict[str, Any], value: Any) -> Any:
        """The value over `$states` holding more than the input and the context object (`result`,
        `errorOutput`), for an expression; what `evaluate` gives otherwise."""
        return self.evaluate(engine, run, value)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self) -> int:
        return hash((type(self), self.field))

    def __repr__(self) -> str:
        shown = ", ".join(f"{key}={item!r}" for key, item in vars(self).items())
        return f"{type(self).__name__}({shown})"


class _NoValue(ValueSource):
    """A field the state does not have: evaluates to None."""

    @property
    def given(self) -> bool:
        return False

    def evaluate(self, engine: Interpreter, run: StateRun, value: Any) -> Any:
        return None


NO_VALUE: ValueSource = _NoValue()


class LiteralValue(ValueSource):
    def __init__(self, field: str, value: Any) -> None:
        self.field = field
        self.value = value

    def evaluate(self, engine: Interpreter, run: StateRun, value: Any) -> Any:
        return self.value


class PathValue(ValueSource):
    """A JSONPath (`$…`, `$$…` for the context object, `$name…` for a variable)."""

    reads_input = True

    def __init__(self, field: str, path: str, not_found: NotFound = runtime_not_found) -> None:
        self.field = field
        self.path = path
        self.not_found = not_found

    def evaluate(self, engine: Interpreter, run: StateRun, value: Any) -> Any:
        try:
            return jsonpath.select(value, self.path, context=run.context, variables=run.variables)
        except jsonpath.PathError as problem:
            raise self.not_found(self.path, self.field, value, problem) from None


class IntrinsicValue(ValueSource):
    """An intrinsic function call (its parse is cached; a malformed call fails the state with
    States.IntrinsicFailure when it runs, as on AWS)."""

    reads_input = True

    def __init__(self, field: str, expression: str) -> None:
        self.field = field
        self.expression = expression

    def evaluate(self, engine: Interpreter, run: StateRun, value: Any) -> Any:
        return evaluate_intrinsic(self.expression, value, context=run.context, variables=run.variables)


class ExpressionValue(ValueSource):
    """A JSONata template: `{% expr %}`, or an object or array with such strings in it, loaded
    once into a tree of `JsonataNode`s (each expression's field, as errors name it, decided then).
    `label` is the field as EvaluationFailed's `location` and causes name it (`Error`,
    `ItemBatcher/...`, `Assign`, whose keys are `Assign/x`)."""

    def __init__(self, field: str, template: Any, label: str | None = None) -> None:
        self.field = field
        self.template = template
        self.label = label or field
        self.node = compile_jsonata(template, self.label)

    @property
    def text(self) -> str:
        """The expression as AWS quotes it in causes."""
        template = self.template
        return jsonata.expression_text(template) if jsonata.is_expression(template) else json.dumps(template)

    def evaluate(self, engine: Interpreter, run: StateRun, value: Any) -> Any:
        return self.node.resolve(engine.jsonata_states(run), run.variables, engine.now_millis())

    def evaluate_in(self, engine: Interpreter, run: StateRun, states: dict[str, Any], value: Any) -> Any:
        return self.node.resolve(states, run.variables, engine.now_millis())


class _HandedOver(ValueSource):
    """A field the state does not have, whose place the value handed over takes (Parameters,
    ResultSelector, Arguments, Output left out)."""

    @property
    def given(self) -> bool:
        return False

    def evaluate(self, engine: Interpreter, run: StateRun, value: Any) -> Any:
        return value


HANDED_OVER: ValueSource = _HandedOver()


class PayloadTemplate(ValueSource):
    """A JSONPath payload template (Parameters, ResultSelector, Assign, ItemSelector, BatchInput, a
    reader's or writer's Parameters), loaded once (`payload.compile_template`): each `.$` key's
    path or intrinsic function call is decided at load and evaluated against the value handed
    over, the context object and the variables. `label` names it in errors; a `.$` key whose value
    is not a string is refused at `place`."""

    reads_input = True

    def __init__(self, field: str, template: Any, label: str | None = None, place: str | None = None) -> None:
        self.field = field
        self.template = template
        self.label = label or field
        self.node = payload.compile_template(template, self.label, place)

    def evaluate(self, engine: Interpreter, run: StateRun, value: Any) -> Any:
        return self.node.resolve(value, run.context, run.variables)


class JsonataNode:
    """A part of a JSONata template, as loaded: `resolve` gives its value over `$states`."""

    __slots__ = ()

    def resolve(self, states: dict[str, Any], variables: dict[str, Any], now_millis: int | None) -> Any:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class JsonataConstant(JsonataNode):
    value: Any

    def resolve(self, states: dict[str, Any], variables: dict[str, Any], now_millis: int | None) -> Any:
        return self.value


@dataclass(frozen=True, slots=True)
class JsonataExpression(JsonataNode):
    """A `{% %}` string: its expression and the field errors name (`Output/key`)."""

    text: str
    field: str

    def resolve(self, states: dict[str, Any], variables: dict[str, Any], now_millis: int | None) -> Any:
        return jsonata.evaluate_expression(
            self.text, states=states, variables=variables, field=self.field, now_millis=now_millis
        )


@dataclass(frozen=True, slots=True)
class JsonataObject(JsonataNode):
    entries: tuple[tuple[str, JsonataNode], ...]

    def resolve(self, states: dict[str, Any], variables: dict[str, Any], now_millis: int | None) -> Any:
        return {key: node.resolve(states, variables, now_millis) for key, node in self.entries}


@dataclass(frozen=True, slots=True)
class JsonataArray(JsonataNode):
    items: tuple[JsonataNode, ...]

    def resolve(self, states: dict[str, Any], variables: dict[str, Any], now_millis: int | None) -> Any:
        return [node.resolve(states, variables, now_millis) for node in self.items]


def compile_jsonata(template: Any, field: str) -> JsonataNode:
    """A JSONata template loaded once: every `{% %}` string an expression (objects and arrays
    walked, their members named `field/key`, `field/0`), every other value kept as written."""
    if jsonata.is_expression(template):
        return JsonataExpression(jsonata.expression_text(template), field)
    if isinstance(template, dict):
        return JsonataObject(
            tuple((key, compile_jsonata(item, _child(field, key))) for key, item in template.items())
        )
    if isinstance(template, list):
        return JsonataArray(
            tuple(compile_jsonata(item, _child(field, str(at))) for at, item in enumerate(template))
        )
    return JsonataConstant(template)


def _child(field: str, key: str) -> str:
    return f"{field}/{key}" if field else key


def holds_expression(value: Any) -> bool:
    """Whether `value` is, or holds, a JSONata expression string."""
    if isinstance(value, str):
        return jsonata.is_expression(value)
    if isinstance(value, dict):
        return any(holds_expression(item) for item in value.values())
    if isinstance(value, list):
        return any(holds_expression(item) for item in value)
    return False


def read_source(
    raw: Mapping[str, Any],
    name: str,
    place: str,
    *,
    jsonata: bool,
    intrinsics: bool = False,
    not_found: NotFound = runtime_not_found,
    label: str | None = None,
) -> ValueSource:
    """The source of field `name` of the state (or block) `raw` at `place`: `name` itself (a
    literal; in JSONata an expression when it holds one), else `<name>Path` in JSONPath (a path;
    an intrinsic function call where `intrinsics` allows it), which must be a string."""
    if name in raw:
        value = raw[name]
        if jsonata and holds_expression(value):
            return ExpressionValue(name, value, label)
        return LiteralValue(name, value)
    path_name = f"{name}Path"
    if jsonata or path_name not in raw:
        return NO_VALUE
    path = raw[path_name]
    if not isinstance(path, str):
        raise DefinitionError(f"{path_name} must be a string, not {json.dumps(path)}", place)
    if intrinsics and path.startswith("States."):
        return IntrinsicValue(path_name, path)
    return PathValue(path_name, path, not_found)
