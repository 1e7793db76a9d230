"""Tributary's local Step Functions engine.

    from tributary.states import execute, execution_history, test_state, validate

`execute` runs a definition to the end on a virtual clock and returns an `ExecutionResult`
(status, output, error, cause); `execution_history` runs one the same way and returns its events
(GetExecutionHistory's shape); `Execution` is the richer runtime (background runs, history,
StopExecution, callbacks), with integrations and the clock passed in."""

from __future__ import annotations

from typing import Any

from tributary.states.clock import Clock, RealClock, VirtualClock
from tributary.states.execution import Execution, ExecutionResult
from tributary.states.mock_config import MockConfig, MockIntegration
from tributary.states.service_integrations import CallbackStore, Integration, IntegrationRegistry, TaskCall

__all__ = [
    "CallbackStore",
    "Clock",
    "Execution",
    "ExecutionResult",
    "Integration",
    "IntegrationRegistry",
    "MockConfig",
    "MockIntegration",
    "RealClock",
    "TaskCall",
    "VirtualClock",
    "execute",
    "execution_history",
    "test_state",
    "validate",
]


def execute(
    definition: dict[str, Any] | str,
    input: Any = None,
    *,
    state_machine_type: str = "STANDARD",
    integrations: Integration | None = None,
    clock: Clock | None = None,
    state_machine_arn: str | None = None,
    name: str | None = None,
) -> ExecutionResult:
    """Run one execution to its end (on a virtual clock unless one is given)."""
    return Execution(
        definition,
        input,
        state_machine_type=state_machine_type,
        integrations=integrations,
        clock=clock,
        state_machine_arn=state_machine_arn,
        name=name,
    ).run()


def execution_history(
    definition: dict[str, Any] | str,
    input: Any = None,
    *,
    state_machine_type: str = "STANDARD",
    integrations: Integration | None = None,
    clock: Clock | None = None,
) -> list[dict[str, Any]]:
    """Run one execution to its end (on a virtual clock unless one is given) and return its events,
    in GetExecutionHistory's shape: the same events the endpoint serves for it."""
    kind = state_machine_type
    execution = Execution(definition, input, state_machine_type=kind, integrations=integrations, clock=clock)
    execution.run()
    return list(execution.history.events)


def test_state(request: dict[str, Any]) -> Any:
    """The TestState API (tributary.states.teststate), imported when first used."""
    from tributary.states.teststate import test_state as _test_state

    return _test_state(request)


def validate(definition: str, state_machine_type: str = "STANDARD") -> Any:
    """ValidateStateMachineDefinition (tributary.states.validation), imported when first used."""
    from tributary.states.validation import validate as _validate

    return _validate(definition, state_machine_type)
