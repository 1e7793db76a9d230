"""Mocked task results from a Step Functions Local MockConfigFile.

    {"StateMachines": {"<machine name>": {"TestCases": {"<case>": {"<state name>": "<response name>"}}}},
     "MockedResponses": {"<response name>": {"0": {"Return": ...},
                                             "1-2": {"Throw": {"Error": ..., "Cause": ...}}}}}

The test case comes from the `#TestCase` suffix of the state machine ARN (as Step Functions Local
read it) or from the `test_case` argument. The keys of a mocked response number the invocations of
that state within one execution (first call "0", retries and later visits counting on). A state the
test case does not name goes to `fallback` (a real integration), as Step Functions Local's
"hybrid" test cases do.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tributary.states.errors import StatesError
from tributary.states.integrations import Integration, TaskCall


class MockConfigError(ValueError):
    """A MockConfigFile that does not have the documented shape, or a lookup it cannot answer."""


def split_test_case(state_machine_arn: str) -> tuple[str, str | None]:
    """`arn:...:stateMachine:Name#Case` → (`arn:...:stateMachine:Name`, `Case`)."""
    arn, sep, case = state_machine_arn.partition("#")
    return arn, (case if sep else None)


def state_machine_name(state_machine_arn: str) -> str:
    return split_test_case(state_machine_arn)[0].rsplit(":", 1)[-1]


def _parse_range(key: str) -> tuple[int, int]:
    first, sep, last = key.partition("-")
    try:
        low = int(first)
        high = int(last) if sep else low
    except ValueError as exc:
        raise MockConfigError(f"mocked response key {key!r} is not 'N' or 'N-M'") from exc
    if low < 0 or high < low:
        raise MockConfigError(f"mocked response key {key!r} is not an ascending range")
    return low, high


class MockConfig:
    """A parsed MockConfigFile."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        machines = document.get("StateMachines", {})
        responses = document.get("MockedResponses", {})
        if not isinstance(machines, dict) or not isinstance(responses, dict):
            raise MockConfigError("StateMachines and MockedResponses must be objects")
        self.test_cases: dict[str, dict[str, dict[str, str]]] = {
            name: dict(machine.get("TestCases", {})) for name, machine in machines.items()
        }
        self.responses: dict[str, list[tuple[int, int, dict[str, Any]]]] = {}
        for name, by_key in responses.items():
            ranges = []
            for key, answer in by_key.items():
                if not isinstance(answer, dict) or len(answer.keys() & {"Return", "Throw"}) != 1:
                    raise MockConfigError(f"mocked response {name}[{key}] needs exactly one of Return, Throw")
                ranges.append((*_parse_range(key), answer))
            self.responses[name] = sorted(ranges, key=lambda item: item[0])

    @classmethod
    def load(cls, path: str | Path) -> MockConfig:
        return cls(json.loads(Path(path).read_text()))

    def response_name(self, machine: str, test_case: str, state_name: str) -> str | None:
        """The mocked response for a state in a test case, or None when the state is not mocked."""
        try:
            cases = self.test_cases[machine]
        except KeyError:
            raise MockConfigError(f"no state machine {machine!r} in the mock config") from None
        try:
            return cases[test_case].get(state_name)
        except KeyError:
            raise MockConfigError(f"no test case {test_case!r} for state machine {machine!r}") from None

    def answer(self, response_name: str, invocation: int) -> dict[str, Any]:
        """The `{"Return": ...}` or `{"Throw": ...}` for the `invocation`-th call (0-based)."""
        try:
            ranges = self.responses[response_name]
        except KeyError:
            raise MockConfigError(f"no mocked response {response_name!r}") from None
        for low, high, answer in ranges:
            if low <= invocation <= high:
                return answer
        raise MockConfigError(f"mocked response {response_name!r} has no answer for invocation {invocation}")


class MockIntegration:
    """An integration answering from a `MockConfig`; `state_machine` / `test_case` override what the
    state machine ARN says."""

    def __init__(
        self,
        config: MockConfig,
        *,
        test_case: str | None = None,
        state_machine: str | None = None,
        fallback: Integration | None = None,
    ) -> None:
        self.config = config
        self.test_case = test_case
        self.state_machine = state_machine
        self.fallback = fallback
        self._calls: dict[tuple[str, str], int] = defaultdict(int)
        self._lock = threading.Lock()

    def invoke(self, call: TaskCall) -> Any:
        machine = self.state_machine or state_machine_name(call.state_machine_arn)
        test_case = self.test_case or split_test_case(call.state_machine_arn)[1]
        if test_case is None:
            raise MockConfigError(
                f"no test case: start the execution with '{call.state_machine_arn}#<TestCase>' "
                "or give the test case by argument"
            )
        name = self.config.response_name(machine, test_case, call.state_name)
        if name is None:
            if self.fallback is None:
                raise StatesError(
                    "States.TaskFailed",
                    f"State '{call.state_name}' is not mocked in test case '{test_case}' "
                    "and no integration serves it",
                )
            return self.fallback.invoke(call)
        with self._lock:
            key = (call.execution_arn, call.state_name)
            invocation = self._calls[key]
            self._calls[key] += 1
        answer = self.config.answer(name, invocation)
        if "Throw" in answer:
            thrown = answer["Throw"] or {}
            raise StatesError(str(thrown.get("Error", "States.TaskFailed")), str(thrown.get("Cause", "")))
        return answer["Return"]
