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
import re
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

from tributary.states.errors import StatesError
from tributary.states.service_integrations import CallbackStore, Integration, TaskCall

_RANGE_KEY = re.compile(r"[0-9]+(?:-[0-9]+)?")


class MockConfigError(ValueError):
    """A MockConfigFile that does not have the documented shape, or a lookup it cannot answer.

    `source` names the file (or what the config was read from), `path` the place in it
    (`StateMachines.Pipeline.TestCases.HappyPath`), `problem` what is wrong there; `detail` is
    "path: problem" and the message "source: path: problem"."""

    def __init__(self, problem: str, *, source: str | None = None, path: str = "") -> None:
        self.problem = problem
        self.source = source
        self.path = path
        self.detail = f"{path}: {problem}" if path else problem
        super().__init__(f"{source}: {self.detail}" if source else self.detail)


def split_test_case(state_machine_arn: str) -> tuple[str, str | None]:
    """`arn:...:stateMachine:Name#Case` → (`arn:...:stateMachine:Name`, `Case`)."""
    arn, sep, case = state_machine_arn.partition("#")
    return arn, (case if sep else None)


def state_machine_name(state_machine_arn: str) -> str:
    return split_test_case(state_machine_arn)[0].rsplit(":", 1)[-1]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


class _Reader:
    """Checks a document's shape, raising MockConfigError with the source and the path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, path: str, problem: str) -> MockConfigError:
        return MockConfigError(problem, source=self.source, path=path)

    def object(self, value: Any, path: str, what: str = "") -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(path, f"{what or 'must be'} an object, not {_json_type(value)}")
        return value

    def range_of(self, key: str, path: str) -> tuple[int, int]:
        if not _RANGE_KEY.fullmatch(key):
            raise self.error(path, f"the key {key!r} is not 'N' or 'N-M' (invocations counted from 0)")
        first, sep, last = key.partition("-")
        low, high = int(first), int(last) if sep else int(first)
        if high < low:
            raise self.error(path, f"the key {key!r} is not an ascending range")
        return low, high


def _read_response(reader: _Reader, path: str, by_key: Any) -> list[tuple[int, int, dict[str, Any]]]:
    """One mocked response: its invocation ranges, in order, each with its Return or Throw."""
    if not reader.object(by_key, path):
        raise reader.error(path, "has no responses (keys '0', '1-2', ...)")
    ranges: list[tuple[int, int, dict[str, Any]]] = []
    for key, answer in by_key.items():
        key_path = f"{path}.{key}"
        low, high = reader.range_of(key, key_path)
        if len(reader.object(answer, key_path).keys() & {"Return", "Throw"}) != 1:
            raise reader.error(key_path, "needs exactly one of Return, Throw")
        if "Throw" in answer:
            thrown = reader.object(answer["Throw"], f"{key_path}.Throw")
            for field in ("Error", "Cause"):
                if field in thrown and not isinstance(thrown[field], str):
                    raise reader.error(
                        f"{key_path}.Throw.{field}", f"must be a string, not {_json_type(thrown[field])}"
                    )
        if any(low <= other_high and other_low <= high for other_low, other_high, _ in ranges):
            raise reader.error(key_path, "overlaps another key of the same mocked response")
        ranges.append((low, high, answer))
    return sorted(ranges, key=lambda item: item[0])


class MockConfig:
    """A parsed MockConfigFile; a document that is not one raises `MockConfigError` naming `source`
    (the file) and the path of the first problem in it."""

    def __init__(self, document: Any, *, source: str = "mock config") -> None:
        self.source = source
        reader = _Reader(source)
        reader.object(document, "", "the MockConfigFile must be")
        machines = reader.object(document.get("StateMachines", {}), "StateMachines")
        responses = reader.object(document.get("MockedResponses", {}), "MockedResponses")
        self.responses: dict[str, list[tuple[int, int, dict[str, Any]]]] = {
            name: _read_response(reader, f"MockedResponses.{name}", by_key)
            for name, by_key in responses.items()
        }
        self.test_cases: dict[str, dict[str, dict[str, str]]] = {}
        for machine, body in machines.items():
            path = f"StateMachines.{machine}"
            if "TestCases" not in reader.object(body, path):
                raise reader.error(path, "needs TestCases")
            cases = reader.object(body["TestCases"], f"{path}.TestCases")
            self.test_cases[machine] = {
                case: self._read_test_case(reader, f"{path}.TestCases.{case}", states)
                for case, states in cases.items()
            }

    def _read_test_case(self, reader: _Reader, path: str, states: Any) -> dict[str, str]:
        for state, response in reader.object(states, path).items():
            if not isinstance(response, str):
                raise reader.error(
                    path, f"state {state!r} must name a mocked response, not {_json_type(response)}"
                )
            if response not in self.responses:
                raise reader.error(path, f"unknown mocked response {response!r} (state {state!r})")
        return dict(states)

    @classmethod
    def load(cls, path: str | Path) -> MockConfig:
        """The MockConfigFile at `path`; `MockConfigError` (naming the file) when it cannot be read,
        is not JSON, or is not a MockConfigFile."""
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise MockConfigError(f"cannot read it ({exc.strerror or exc})", source=str(path)) from None
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise MockConfigError(f"not JSON ({exc})", source=str(path)) from None
        return cls(document, source=str(path))

    def response_name(self, machine: str, test_case: str, state_name: str) -> str | None:
        """The mocked response for a state in a test case, or None when the state is not mocked."""
        cases = self.test_cases.get(machine)
        if cases is None:
            raise MockConfigError(f"no state machine {machine!r}", source=self.source, path="StateMachines")
        states = cases.get(test_case)
        if states is None:
            raise MockConfigError(
                f"no test case {test_case!r} for state machine {machine!r}",
                source=self.source,
                path=f"StateMachines.{machine}.TestCases",
            )
        return states.get(state_name)

    def answer(self, response_name: str, invocation: int) -> dict[str, Any]:
        """The `{"Return": ...}` or `{"Throw": ...}` for the `invocation`-th call (0-based)."""
        ranges = self.responses.get(response_name)
        if ranges is None:
            raise MockConfigError(
                f"no mocked response {response_name!r}", source=self.source, path="MockedResponses"
            )
        for low, high, answer in ranges:
            if low <= invocation <= high:
                return answer
        raise MockConfigError(
            f"no answer for invocation {invocation} (counted from 0)",
            source=self.source,
            path=f"MockedResponses.{response_name}",
        )


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
                "or give the test case by argument",
                source=self.config.source,
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
        if call.task_token is not None and call.callbacks is not None:
            return _answer_the_token(call.callbacks, call.task_token, answer)
        if "Throw" in answer:
            thrown = answer["Throw"]
            raise StatesError(str(thrown.get("Error", "States.TaskFailed")), str(thrown.get("Cause", "")))
        return answer["Return"]


def _answer_the_token(callbacks: CallbackStore, token: str, answer: dict[str, Any]) -> Any:
    """A mocked `.waitForTaskToken` task (or activity): Step Functions Local makes the task token
    itself and the mocked response is the task's outcome, so the token is answered at once: `Return`
    as SendTaskSuccess's output, `Throw` as SendTaskFailure's error and cause. What is returned is
    the request's response (TaskSubmitted's output): the mocked value, {} for a Throw."""
    if "Throw" in answer:
        thrown = answer["Throw"]
        callbacks.send_task_failure(token, thrown.get("Error"), thrown.get("Cause"))
        return {}
    callbacks.send_task_success(token, answer["Return"])
    return answer["Return"]
