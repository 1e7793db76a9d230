"""Helpers for the engine's tests: scripted integrations whose answers and calls a test inspects."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tributary.states.errors import StatesError
from tributary.states.service_integrations import TaskCall


class ScriptedIntegration:
    """Answers each call with the next item of `script`: a value is returned, a StatesError raised,
    a callable called with the TaskCall. Records every call and the clock's time at it."""

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.calls: list[TaskCall] = []
        self.times: list[float] = []

    def invoke(self, call: TaskCall) -> Any:
        self.calls.append(call)
        self.times.append(call.clock.now().timestamp())
        answer = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(answer, StatesError):
            raise StatesError(answer.error, answer.cause)
        if callable(answer):
            return answer(call)
        return answer


def fail(error: str, cause: str = "") -> StatesError:
    return StatesError(error, cause)


def task(resource: str = "arn:aws:states:::lambda:invoke", **fields: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": resource, **fields}


def machine(*states: tuple[str, dict[str, Any]], **top: Any) -> dict[str, Any]:
    """A definition from (name, state) pairs; the first is StartAt, each goes to the next, the last ends."""
    named = dict(states)
    names = list(named)
    for here, after in itertools.pairwise(names):
        named[here].setdefault("Next", after)
    last = named[names[-1]]
    if last["Type"] not in ("Choice", "Succeed", "Fail") and "Next" not in last:
        last["End"] = True
    return {"StartAt": names[0], "States": named, **top}


class FakeS3:
    """An `s3` integration holding objects in a dict."""

    def __init__(self, objects: dict[str, str]) -> None:
        self.objects = objects

    def invoke(self, call):
        args = call.arguments
        if call.resource.action == "getObject":
            return {"Body": self.objects[f"{args['Bucket']}/{args['Key']}"]}
        if call.resource.action == "putObject":
            self.objects[f"{args['Bucket']}/{args['Key']}"] = args["Body"]
            return {"ETag": "x"}
        if call.resource.action == "listObjectsV2":
            prefix = f"{args['Bucket']}/{args.get('Prefix', '')}"
            return {
                "Contents": [
                    {"Key": k.split("/", 1)[1]} for k in sorted(self.objects) if k.startswith(prefix)
                ]
            }
        raise StatesError("S3.NoSuchAction", call.resource.action)


class EngineKit:
    """What engine tests build with, handed out by the `kit` fixture."""

    Scripted = ScriptedIntegration
    fail = staticmethod(fail)
    task = staticmethod(task)
    machine = staticmethod(machine)
    S3 = FakeS3


@pytest.fixture
def kit() -> type[EngineKit]:
    return EngineKit
