"""What the endpoint holds: state machines and executions, each able to describe itself in the
shape of the API's Describe*/List* outputs (datetimes left to the wire protocol)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tributary.states.execution import Execution as EngineExecution


@dataclass
class StateMachine:
    arn: str
    name: str
    definition: str
    role_arn: str
    machine_type: str
    creation_date: datetime
    tags: list[dict[str, str]] = field(default_factory=list)
    update_date: datetime | None = None
    revision_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def describe(self) -> dict[str, Any]:
        return {
            "stateMachineArn": self.arn,
            "name": self.name,
            "status": "ACTIVE",
            "definition": self.definition,
            "roleArn": self.role_arn,
            "type": self.machine_type,
            "creationDate": self.creation_date,
            "loggingConfiguration": {"level": "OFF", "includeExecutionData": False},
            "tracingConfiguration": {"enabled": False},
            "revisionId": self.revision_id,
        }

    def summary(self) -> dict[str, Any]:
        return {
            "stateMachineArn": self.arn,
            "name": self.name,
            "type": self.machine_type,
            "creationDate": self.creation_date,
        }


@dataclass
class Execution:
    """An execution as the API shows it: the engine's run and what StartExecution was given."""

    run: EngineExecution
    state_machine: StateMachine
    input: str  # the input text as given, compared when the same name is started again

    @property
    def arn(self) -> str:
        return self.run.arn

    @property
    def name(self) -> str:
        return self.run.name

    @property
    def status(self) -> str:
        return self.run.status

    @property
    def start_date(self) -> datetime:
        return self.run.start_date

    @property
    def stop_date(self) -> datetime | None:
        return self.run.stop_date if self.run.done else None

    @property
    def output(self) -> str | None:
        return self.run.output

    @property
    def error(self) -> str | None:
        return self.run.error

    @property
    def cause(self) -> str | None:
        return self.run.cause

    @property
    def events(self) -> list[dict[str, Any]]:
        return list(self.run.history.events)

    def describe(self, *, sync: bool = False) -> dict[str, Any]:
        described: dict[str, Any] = {
            "executionArn": self.arn,
            "stateMachineArn": self.state_machine.arn,
            "name": self.name,
            "status": self.status,
            "startDate": self.start_date,
            "stopDate": self.stop_date,
            "input": self.input,
            "inputDetails": {"included": True},
            "output": self.output,
            "outputDetails": {"included": True} if self.output is not None else None,
            "error": self.error,
            "cause": self.cause,
        }
        if sync:
            described["billingDetails"] = {"billedMemoryUsedInMB": 64, "billedDurationInMilliseconds": 100}
        else:
            described["redriveCount"] = 0
            described["redriveStatus"] = "NOT_REDRIVABLE"
        return described

    def summary(self) -> dict[str, Any]:
        return {
            "executionArn": self.arn,
            "stateMachineArn": self.state_machine.arn,
            "name": self.name,
            "status": self.status,
            "startDate": self.start_date,
            "stopDate": self.stop_date,
        }
