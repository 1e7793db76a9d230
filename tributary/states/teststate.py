"""The TestState API, offline: run one state once, as AWS's TestState does.

The request and response are the API's (`definition` and `input` as JSON text, `stateName` for a
state inside a whole machine, `mock` with `result` or `errorOutput`, `inspectionLevel`,
`variables`, `context`, `stateConfiguration`). The state is loaded as the engine loads it (a typed
state, `tributary.states.state.load_single_state`) and runs through its own `body`;
a mocked Task, Parallel or Map skips its service call, branches or iterations and takes the mock
as its result. Statuses: SUCCEEDED, FAILED, RETRIABLE (a retrier would retry the error),
CAUGHT_ERROR (a catcher handled it)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tributary.states import engine as engine_module
from tributary.states import payload
from tributary.states.clock import DEFAULT_VIRTUAL_START, VirtualClock
from tributary.states.definition import ABSENT, JSONPATH, Machine
from tributary.states.engine import (
    ExecutionFailed,
    ExecutionStopped,
    Interpreter,
    Runtime,
    Scope,
    StateRun,
    Step,
)
from tributary.states.errors import DefinitionError, StatesError
from tributary.states.history import History, payload_text
from tributary.states.retry import first_match, retry_delay
from tributary.states.service_integrations import CallbackStore, Integration, IntegrationRegistry
from tributary.states.state import load_single_state
from tributary.states.state.map import MapState
from tributary.states.state.pass_state import PassState
from tributary.states.validation import diagnose, diagnose_state, invalid_definition_message

INSPECTION_LEVELS = ("INFO", "DEBUG", "TRACE")
TEST_EXECUTION_ARN = "arn:aws:states:us-east-1:123456789012:execution:TestStateMachine:test-state"
TEST_STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:TestStateMachine"
_MOCKABLE = ("Task", "Parallel", "Map")


class TestStateError(ValueError):
    """A request TestState refuses; `code` is the API error (ValidationException, InvalidDefinition)."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, message: str, code: str = "ValidationException") -> None:
        super().__init__(message)
        self.code = code


@dataclass
class _Request:
    name: str
    state: dict[str, Any]
    language: str
    state_input: Any
    variables: dict[str, Any]
    context: dict[str, Any] | None
    inspection_level: str
    mock: dict[str, Any] | None
    configuration: dict[str, Any]
    inspection: dict[str, Any] = field(default_factory=dict)


def _json(request: dict[str, Any], key: str, default: Any) -> Any:
    value = request.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise TestStateError(f"'{key}' is not valid JSON: {value[:100]}") from None


def _nested(state: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The nested machines of a state: Parallel branches, a Map's processor."""
    if state.get("Type") == "Parallel":
        yield from (b for b in state.get("Branches", []) if isinstance(b, dict))
    if state.get("Type") == "Map":
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if isinstance(processor, dict):
            yield processor


def _find_state(machine: dict[str, Any], name: str, language: str) -> tuple[dict[str, Any], str] | None:
    """The state called `name` anywhere in `machine`, with the query language it inherits."""
    states = machine.get("States") or {}
    if name in states:
        return states[name], language
    for state in states.values():
        if isinstance(state, dict):
            inner_language = state.get("QueryLanguage", language)
            for nested in _nested(state):
                found = _find_state(nested, name, inner_language)
                if found:
                    return found
    return None


def _parse(request: dict[str, Any]) -> _Request:
    definition = _json(request, "definition", None)
    if not isinstance(definition, dict):
        raise TestStateError("'definition' must be a JSON object: a state, or a state machine with stateName")
    state_name = request.get("stateName")
    if "States" in definition:
        problems = diagnose(json.dumps(definition))
        if problems:
            raise TestStateError(invalid_definition_message(problems), "InvalidDefinition")
        if not state_name:
            raise TestStateError("'stateName' is required when the definition is a whole state machine")
        found = _find_state(definition, state_name, definition.get("QueryLanguage", JSONPATH))
        if found is None:
            raise TestStateError(f"State '{state_name}' is not in the definition")
        state, language = found
    else:
        if "Type" not in definition:
            raise TestStateError("The state definition needs a 'Type'")
        state, language = definition, definition.get("QueryLanguage", JSONPATH)
        state_name = state_name or "TestState"
        problems = diagnose_state(state_name, state)
        if problems:
            raise TestStateError(invalid_definition_message(problems), "InvalidDefinition")
    level = request.get("inspectionLevel") or "INFO"
    if level not in INSPECTION_LEVELS:
        raise TestStateError(f"inspectionLevel must be one of {', '.join(INSPECTION_LEVELS)}")
    variables = _json(request, "variables", {})
    if not isinstance(variables, dict):
        raise TestStateError("'variables' must be a JSON object")
    context = _json(request, "context", None)
    mock = request.get("mock")
    if mock is not None and not isinstance(mock, dict):
        raise TestStateError("'mock' must be an object")
    if mock and len(mock.keys() & {"result", "errorOutput"}) != 1:
        raise TestStateError("'mock' needs exactly one of 'result' and 'errorOutput'")
    if mock and "errorOutput" in mock and not isinstance(mock["errorOutput"], dict):
        raise TestStateError("'mock.errorOutput' must be an object with 'error' and 'cause'")
    if mock and state.get("Type") not in _MOCKABLE:
        raise TestStateError(
            f"A mock can only be given for a Task, Parallel or Map state, not {state.get('Type')}"
        )
    return _Request(
        name=state_name,
        state=state,
        language=language,
        state_input=_json(request, "input", {}),
        variables=dict(variables),
        context=context if isinstance(context, dict) else None,
        inspection_level=level,
        mock=mock or None,
        configuration=dict(request.get("stateConfiguration") or {}),
    )


def _default_context(state_input: Any, clock: VirtualClock) -> dict[str, Any]:
    started = engine_module.iso_time(clock.now())
    return {
        "Execution": {
            "Id": TEST_EXECUTION_ARN,
            "Input": state_input,
            "Name": "test-state",
            "RoleArn": "arn:aws:iam::123456789012:role/TestStateRole",
            "StartTime": started,
            "RedriveCount": 0,
        },
        "StateMachine": {"Id": TEST_STATE_MACHINE_ARN, "Name": "TestStateMachine"},
    }


def _mock_result(parsed: _Request) -> Any:
    """The mocked result, or the mocked error raised."""
    assert parsed.mock is not None
    if "errorOutput" in parsed.mock:
        error_output = parsed.mock["errorOutput"] or {}
        raise StatesError(str(error_output.get("error", "")), str(error_output.get("cause", "")))
    result = parsed.mock.get("result")
    try:
        return json.loads(result) if isinstance(result, str) else result
    except ValueError:
        raise TestStateError("mock.result is not valid JSON") from None


def _items_must_be_array(interpreter: Interpreter, run: StateRun, effective: Any) -> None:
    """A Map's ItemsPath must select an array, even when its result is mocked."""
    state = run.state
    path = state.items.path if isinstance(state, MapState) else None
    if path is None:
        return
    items = interpreter.select(run, effective, path)
    if not isinstance(items, list):
        shown = path[1:] if path.startswith("$$") else path
        raise StatesError("States.Runtime", f'Reference path "{shown}" must point to array.')


def _template(run: StateRun, template: Any, value: Any, field: str) -> Any:
    """A payload template as written, for the inspection data (the run uses the state's loaded one)."""
    return payload.payload_template(
        template, value, context=run.context, variables=run.variables, field=field
    )


def _mocked_handler(parsed: _Request) -> Any:
    """A handler for a mocked Task/Parallel/Map: the state's own input processing, then the mock as
    its result, then the state's own result processing (the engine's `finish`)."""

    def handle(interpreter: Interpreter, run: StateRun) -> Step:
        state = run.state
        inspection = parsed.inspection
        if run.state.jsonata:
            states = interpreter.jsonata_states(run)
            if state.arguments is not ABSENT:
                inspection["afterArguments"] = interpreter.jsonata_field(
                    run, state.arguments, states, "Arguments"
                )
            if isinstance(state, MapState) and state.items.value is not ABSENT:
                items = interpreter.jsonata_field(run, state.items.value, states, "Items")
                if not isinstance(items, list):
                    raise StatesError(
                        "States.QueryEvaluationError", "The Items field must evaluate to an array."
                    )
        else:
            effective = interpreter.input_of(run)
            inspection["afterInputPath"] = effective
            if isinstance(state, MapState):
                _items_must_be_array(interpreter, run, effective)
                if state.items.path is not None:
                    inspection["afterItemsPath"] = interpreter.select(run, effective, state.items.path)
            elif state.parameters is not ABSENT:
                inspection["afterParameters"] = _template(run, state.parameters, effective, "Parameters")
        result = _mock_result(parsed)
        inspection["result"] = result
        if not run.state.jsonata:
            selected = (
                _template(run, state.result_selector, result, "ResultSelector")
                if state.result_selector is not ABSENT
                else result
            )
            inspection["afterResultSelector"] = selected
            inspection["afterResultPath"] = payload.result_path(state.result_path, run.state_input, selected)
        return interpreter.finish(run, result, state.next)

    return handle


def _inspect_unmocked(interpreter: Interpreter, run: StateRun, inspection: dict[str, Any]) -> None:
    """What DEBUG shows of a state's JSONPath input processing, for the states not mocked."""
    state = run.state
    if run.state.jsonata or state.type == "Fail":
        return
    try:
        effective = interpreter.input_of(run)
        inspection["afterInputPath"] = effective
        if isinstance(state, PassState):
            parameters = state.parameters
            after = _template(run, parameters, effective, "Parameters") if parameters else effective
            inspection["afterParameters"] = after
            result = after if state.result is ABSENT else state.result
            inspection["afterResultSelector"] = result
            inspection["afterResultPath"] = payload.result_path(state.result_path, run.state_input, result)
    except StatesError:
        pass  # the run itself reports the error


def _integrations(integrations: Integration | None) -> Integration:
    return integrations if integrations is not None else IntegrationRegistry()


def test_state(request: dict[str, Any], *, integrations: Integration | None = None) -> dict[str, Any]:
    """Run one state as the TestState API does and return the API's response fields.
    Raises `TestStateError` for a request the API would refuse."""
    parsed = _parse(request)
    clock = VirtualClock(DEFAULT_VIRTUAL_START)
    base_context = _default_context(parsed.state_input, clock)
    runtime = Runtime(
        clock=clock,
        integrations=_integrations(integrations),
        callbacks=CallbackStore(),
        history=History(clock.now),
        execution_arn=TEST_EXECUTION_ARN,
        state_machine_arn=TEST_STATE_MACHINE_ARN,
        context=base_context,
    )
    interpreter = Interpreter(runtime)
    try:
        state = load_single_state(parsed.name, parsed.state, parsed.language)
    except DefinitionError as exc:
        raise TestStateError(f"Invalid State Machine Definition: {exc}", "InvalidDefinition") from None
    machine = Machine(start_at=parsed.name, states={parsed.name: state}, query_language=parsed.language)
    context = parsed.context
    if context is None:
        resource = parsed.state.get("Resource")
        callback = isinstance(resource, str) and resource.endswith(".waitForTaskToken")
        # A callback task's `$$.Task.Token` needs a token, even though no one will answer it.
        extra = {"Task": {"Token": uuid.uuid4().hex}} if callback else None
        context = interpreter.state_context(parsed.name, 0, extra)
    scope = Scope(dict(parsed.variables))
    run = StateRun(parsed.name, state, machine, parsed.state_input, scope, context, 1, 1)
    if parsed.mock:
        handler = _mocked_handler(parsed)
    else:
        handler = state.body
        if parsed.inspection_level != "INFO":
            _inspect_unmocked(interpreter, run, parsed.inspection)
    response = _run(interpreter, run, handler, parsed)
    if parsed.inspection_level != "INFO":
        response["inspectionData"] = _inspection_data(parsed, run)
    return response


test_state.__test__ = False  # type: ignore[attr-defined]


def _run(interpreter: Interpreter, run: StateRun, handler: Any, parsed: _Request) -> dict[str, Any]:
    try:
        step = handler(interpreter, run)
    except ExecutionFailed as failed:
        return _drop_none({"status": "FAILED", "error": failed.error, "cause": failed.cause})
    except ExecutionStopped:
        return {"status": "FAILED", "error": "States.Runtime", "cause": "The state was stopped"}
    except StatesError as err:
        return _failure(interpreter, run, err, parsed)
    if step.assigned:
        run.scope.variables.update(step.assigned)
    return _drop_none(
        {"status": "SUCCEEDED", "output": payload_text(step.output), "nextState": step.next_state}
    )


def _failure(interpreter: Interpreter, run: StateRun, err: StatesError, parsed: _Request) -> dict[str, Any]:
    retriers = run.state.retriers
    index = first_match(retriers, err.error) if retriers else None
    retry_count = int(parsed.configuration.get("retrierRetryCount", 0))
    details: dict[str, Any] = {}
    if index is not None:
        details["retryIndex"] = index
        if retry_count < retriers[index].max_attempts:
            delay = retry_delay(retriers[index].without_jitter(), retry_count, interpreter.runtime.rng)
            details["retryBackoffIntervalSeconds"] = int(delay) if float(delay).is_integer() else delay
            parsed.inspection["errorDetails"] = details
            return {"status": "RETRIABLE", "error": err.error, "cause": err.cause}
    catchers = run.state.catchers
    catch_index = first_match(catchers, err.error) if catchers else None
    if catch_index is not None:
        details["catchIndex"] = catch_index
        parsed.inspection["errorDetails"] = details
        try:
            step = interpreter.catch(run, err)
        except ExecutionFailed as failed:
            return _drop_none({"status": "FAILED", "error": failed.error, "cause": failed.cause})
        if step.assigned:
            run.scope.variables.update(step.assigned)
        return _drop_none(
            {
                "status": "CAUGHT_ERROR",
                "output": payload_text(step.output),
                "nextState": step.next_state,
                "error": err.error,
                "cause": err.cause,
            }
        )
    if details:
        parsed.inspection["errorDetails"] = details
    return _drop_none({"status": "FAILED", "error": err.error, "cause": err.cause})


def _inspection_data(parsed: _Request, run: StateRun) -> dict[str, Any]:
    data: dict[str, Any] = {"input": payload_text(parsed.state_input)}
    for key, value in parsed.inspection.items():
        data[key] = value if key == "errorDetails" else payload_text(value)
    if parsed.state.get("Type") == "Map":
        concurrency = parsed.state.get("MaxConcurrency", 0)
        data["maxConcurrency"] = concurrency if isinstance(concurrency, int) else 0
    if run.scope.variables:
        data["variables"] = payload_text(run.scope.variables)
    return data


def _drop_none(response: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in response.items() if value is not None}
