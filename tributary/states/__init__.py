"""Tributary's local Step Functions engine.

    from tributary.states import execute, test_state, validate

`execute` runs a definition to the end on a virtual clock and returns an `ExecutionResult`
(status, output, error, cause); `Execution` is the richer runtime (background runs, history,
StopExecution, callbacks), with integrations and the clock passed in."""

from __future__ import annotations

from typing import Any

from tributary.states.clock import Clock, RealClock, VirtualClock
from tributary.states.execution import Execution, ExecutionResult
from tributary.states.integrations import CallbackStore, Integration, IntegrationRegistry, TaskCall
from tributary.states.mock_config import MockConfig, MockIntegration

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
    execution = Execution(
        definition,
        input,
        state_machine_type=state_machine_type,
        integrations=integrations,
        clock=clock,
        state_machine_arn=state_machine_arn,
        name=name,
    )
    return execution.run()


def test_state(request: dict[str, Any]) -> Any:
    """The TestState API (tributary.states.test_state), imported when first used."""
    from tributary.states.test_state import test_state as _test_state

    return _test_state(request)


def validate(definition: str, state_machine_type: str = "STANDARD") -> Any:
    """ValidateStateMachineDefinition (tributary.states.validation), imported when first used."""
    from tributary.states.validation import validate as _validate

    return _validate(definition, state_machine_type)
