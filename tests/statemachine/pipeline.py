"""The pipeline's real definition, its MockConfigFile and its execution histories, read for the tests.

- `substituted_definition()`: statemachine/pipeline.asl.json with its `${...}` replaced by the values the
  template's DefinitionSubstitutions stand for (the same table as tests/template/test_pipeline_flow.py).
- `Pipeline`: what the definition declares (Task states, Retry rules, Catchers, Parallel branches).
- `Mocks`: mock_config.json read on its own terms (Step Functions Local's format), and `predict`, which
  says from a state's Retry rules and its mocked answers what must happen: how many attempts, which
  errors, which retrier handles each, and whether the state ends with a result or an error.
- `History`: GetExecutionHistory's events (from the engine or from the local endpoint through boto3).

Nothing here asks the engine what it would do: expectations come from the definition and the mock file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from tests.template import cfn
from tests.template.test_pipeline_flow import EXECUTION_INPUT, RUN_ID, SUBSTITUTIONS

MOCK_CONFIG = Path(__file__).with_name("mock_config.json")
MACHINE_NAME = "Pipeline"
STATE_MACHINE_ARN = f"arn:aws:states:us-east-1:123456789012:stateMachine:{MACHINE_NAME}"
# Through the endpoint, timestamps travel as epoch seconds (floats): compare to the millisecond.
TOLERANCE = 0.001
TASK_EVENTS = ("TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded", "TaskFailed", "TaskTimedOut")
# Errors that neither States.ALL nor States.TaskFailed match (States.Runtime matches nothing at all;
# States.DataLimitExceeded of a task's result is caught by States.ALL, as AWS recorded).
NOT_BY_WILDCARD = ("States.Runtime",)
# What a distributed Map fails with when a child execution fails and no failure is tolerated (AWS's
# error and cause): the child's own error stays in the child execution's history.
MAP_RUN_FAILED = {
    "Error": "States.ExceedToleratedFailureThreshold",
    "Cause": "The specified tolerated failure threshold was exceeded",
}

__all__ = ["EXECUTION_INPUT", "RUN_ID"]


def substituted_definition() -> str:
    template = cfn.load_template()
    text = cfn.definition_path(template).read_text()
    return cfn.PLACEHOLDER.sub(lambda match: SUBSTITUTIONS[match.group(1)], text)


@lru_cache(maxsize=1)
def load_pipeline() -> Pipeline:
    return Pipeline(json.loads(substituted_definition()))


def error_matches(error_equals: list[str], error: str) -> bool:
    """AWS's rule for Retry and Catch: a name matches itself; States.ALL every error but
    States.Runtime; States.TaskFailed the same, except States.Timeout."""
    if error == "States.Runtime":
        return False
    if error in error_equals:
        return True
    if error in NOT_BY_WILDCARD:
        return False
    return "States.ALL" in error_equals or ("States.TaskFailed" in error_equals and error != "States.Timeout")


def first_match(handlers: list[dict[str, Any]], error: str) -> int | None:
    return next(
        (index for index, handler in enumerate(handlers) if error_matches(handler["ErrorEquals"], error)),
        None,
    )


@dataclass(frozen=True)
class RetryRule:
    """One retrier of one Task state."""

    state: str
    index: int
    spec: dict[str, Any] = field(compare=False, hash=False)

    @property
    def errors(self) -> list[str]:
        return list(self.spec["ErrorEquals"])

    @property
    def max_attempts(self) -> int:
        return int(self.spec.get("MaxAttempts", 3))

    @property
    def jitter(self) -> str:
        return str(self.spec.get("JitterStrategy", "NONE"))

    def ceiling(self, retries_done: int) -> float:
        """The back-off before retry `retries_done + 1` without jitter: IntervalSeconds times
        BackoffRate to the power of the retries this rule already made, capped by MaxDelaySeconds.
        FULL jitter picks a delay between 0 and this."""
        delay = float(self.spec.get("IntervalSeconds", 1)) * float(self.spec.get("BackoffRate", 2.0)) ** (
            retries_done
        )
        if "MaxDelaySeconds" in self.spec:
            delay = min(delay, float(self.spec["MaxDelaySeconds"]))
        return delay

    @property
    def recovers_case(self) -> str:
        """The test case whose mocked state throws this rule's errors MaxAttempts times, then succeeds."""
        return f"{self.state}Retry{self.index}"

    @property
    def exhausted_case(self) -> str:
        """The test case whose mocked state throws this rule's errors MaxAttempts + 1 times."""
        return f"{self.state}Retry{self.index}Exhausted"

    def __str__(self) -> str:
        return f"{self.state}.Retry[{self.index}]"


@dataclass(frozen=True)
class Catcher:
    state: str
    index: int
    spec: dict[str, Any] = field(compare=False, hash=False)

    def __str__(self) -> str:
        return f"{self.state}.Catch[{self.index}]"


def failed_case(task: str) -> str:
    """The test case whose mocked task throws, once, an error that no Retry rule of the task matches."""
    return f"{task}Fails"


class Pipeline:
    """The states of the definition, nested ones included, with their Retry and Catch rules."""

    def __init__(self, definition: dict[str, Any]) -> None:
        self.definition = definition
        self.states: dict[str, dict[str, Any]] = {}
        self.parent: dict[str, str | None] = {}
        for name, state, parent in cfn.iter_states(definition["States"]):
            assert name not in self.states, f"state name {name} used twice"
            self.states[name] = state
            self.parent[name] = parent
        self.tasks = [name for name, state in self.states.items() if state["Type"] == "Task"]
        self.retry_rules = [
            RetryRule(name, index, rule)
            for name in self.tasks
            for index, rule in enumerate(self.states[name].get("Retry", []))
        ]
        # States whose ItemReader calls an integration: test cases answer them under the state's name.
        self.item_readers = [name for name, state in self.states.items() if "ItemReader" in state]
        self.catchers = [
            Catcher(name, index, catcher)
            for name, state in self.states.items()
            for index, catcher in enumerate(state.get("Catch", []))
        ]

    def rules_of(self, task: str) -> list[dict[str, Any]]:
        return list(self.states[task].get("Retry", []))

    def enclosing(self, name: str) -> list[str]:
        """The state itself, then the Parallel/Map states around it, innermost first."""
        chain = [name]
        while (parent := self.parent[chain[-1]]) is not None:
            chain.append(parent)
        return chain

    def handler_of(self, task: str, error: str) -> Catcher | None:
        """The catcher that handles `error` raised by `task`: its own, or an enclosing state's, since a
        failed branch fails its Parallel with the branch's error."""
        for name in self.enclosing(task):
            catchers = self.states[name].get("Catch", [])
            index = first_match(catchers, error)
            if index is not None:
                return Catcher(name, index, catchers[index])
        return None

    def distributed_map_of(self, name: str) -> str | None:
        """The distributed Map whose child executions run `name` (None when `name` runs in the
        execution itself): its events are in the map run's history, not the execution's."""
        for outer in self.enclosing(name)[1:]:
            state = self.states[outer]
            if state["Type"] == "Map" and state["ItemProcessor"].get("ProcessorConfig", {}).get("Mode") == (
                "DISTRIBUTED"
            ):
                return outer
        return None

    def inside(self, owner: str) -> list[str]:
        """The states nested in a Parallel or Map state, in definition order."""
        return [name for name in self.states if name != owner and owner in self.enclosing(name)]

    def branch_states(self, parallel: str) -> dict[int, set[str]]:
        found: dict[int, set[str]] = {}
        for index, branch in enumerate(self.states[parallel].get("Branches", [])):
            found[index] = {name for name, _, _ in cfn.iter_states(branch["States"])}
        return found

    def siblings(self, name: str) -> set[str]:
        """States of the other branches of every Parallel around `name`: whether they start once a
        branch has failed is a matter of timing, so path comparisons leave them out."""
        others: set[str] = set()
        for parallel in self.enclosing(name)[1:]:
            for states in self.branch_states(parallel).values():
                if name not in states:
                    others |= states
        return others

    def route(self, start: str) -> list[str]:
        """The states from `start` by Next until a Succeed, Fail or End."""
        names = [start]
        while (following := self.states[names[-1]].get("Next")) is not None:
            assert following not in names, f"loop through {following}"
            names.append(following)
        return names

    def reachable(self, start: str) -> set[str]:
        """Top-level states reachable from `start` by Next, Default, Choices and Catch."""
        seen: set[str] = set()
        todo = [start]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            state = self.states[name]
            targets = [state.get("Next"), state.get("Default")]
            targets += [choice.get("Next") for choice in state.get("Choices", [])]
            targets += [catcher["Next"] for catcher in state.get("Catch", [])]
            todo.extend(target for target in targets if target)
        return seen


class Mocks:
    """mock_config.json as Step Functions Local reads it: StateMachines → TestCases → state → response
    name; MockedResponses → response name → invocation key ("0", "1-2") → Return or Throw."""

    def __init__(self, document: dict[str, Any], machine: str = MACHINE_NAME) -> None:
        self.document = document
        self.cases: dict[str, dict[str, str]] = document["StateMachines"][machine]["TestCases"]
        self.responses: dict[str, dict[str, dict[str, Any]]] = document["MockedResponses"]

    @classmethod
    def load(cls, path: Path = MOCK_CONFIG) -> Mocks:
        return cls(json.loads(path.read_text()))

    @staticmethod
    def invocations(key: str) -> range:
        first, _, last = key.partition("-")
        return range(int(first), int(last or first) + 1)

    def answer(self, response: str, invocation: int) -> dict[str, Any]:
        for key, answer in self.responses[response].items():
            if invocation in self.invocations(key):
                return answer
        raise AssertionError(f"mocked response {response} has no answer for invocation {invocation}")

    def response_of(self, case: str, state: str) -> str:
        return self.cases[case][state]


@dataclass
class Attempts:
    """What a Task state must do under its mocked answers."""

    thrown: list[dict[str, Any]] = field(default_factory=list)
    # For each retry, in order: (index of the Retry rule that allowed it, retries that rule had made).
    retries: list[tuple[int, int]] = field(default_factory=list)
    returned: Any = None
    error: dict[str, Any] | None = None  # the Throw that ended the state, once retries are over

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def attempts(self) -> int:
        return len(self.thrown) + (0 if self.failed else 1)


def predict(rules: list[dict[str, Any]], mocks: Mocks, response: str) -> Attempts:
    outcome = Attempts()
    done = [0] * len(rules)
    invocation = 0
    while True:
        answer = mocks.answer(response, invocation)
        if "Return" in answer:
            outcome.returned = answer["Return"]
            return outcome
        thrown = answer["Throw"]
        outcome.thrown.append(thrown)
        index = first_match(rules, thrown["Error"])
        if index is None or done[index] >= int(rules[index].get("MaxAttempts", 3)):
            outcome.error = thrown
            return outcome
        outcome.retries.append((index, done[index]))
        done[index] += 1
        invocation += 1


def seconds(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds()


def details(event: dict[str, Any]) -> dict[str, Any]:
    """The `<type>EventDetails` field of an event ({} when it has none)."""
    return next((value for key, value in event.items() if key.endswith("EventDetails")), {})


class History:
    """An execution's events as GetExecutionHistory returns them."""

    def __init__(self, events: Iterable[dict[str, Any]]) -> None:
        self.events = list(events)
        self.by_id = {event["id"]: event for event in self.events}

    def types(self) -> list[str]:
        return [event["type"] for event in self.events]

    def entered(self) -> list[str]:
        return [details(e)["name"] for e in self.events if e["type"].endswith("StateEntered")]

    def state_events(self) -> list[tuple[str, str]]:
        """("Entered" | "Exited", state name) in history order."""
        found = []
        for event in self.events:
            for kind in ("Entered", "Exited"):
                if event["type"].endswith("State" + kind):
                    found.append((kind, details(event)["name"]))
        return found

    def state_of(self, event: dict[str, Any]) -> str:
        """The state an event belongs to: follow previousEventId back to a StateEntered event.
        ParallelStateFailed follows the failed branch's last event (as MapStateFailed follows the
        failed iteration's, in AWS's recordings): it belongs to the latest Parallel entered before it."""
        if event["type"] == "ParallelStateFailed":
            before = [e for e in self.events if e["id"] < event["id"]]
            entered = [e for e in before if e["type"] == "ParallelStateEntered"]
            return str(details(entered[-1])["name"])
        current = event
        while not current["type"].endswith("StateEntered"):
            current = self.by_id[current["previousEventId"]]
        return str(details(current)["name"])

    def task_events(self, state: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] in TASK_EVENTS and self.state_of(e) == state]

    def of_type(self, state: str, *types: str) -> list[dict[str, Any]]:
        return [e for e in self.task_events(state) if e["type"] in types]

    def failures(self, state: str) -> list[dict[str, Any]]:
        return self.of_type(state, "TaskFailed", "TaskTimedOut")

    def parameters(self, state: str) -> list[dict[str, Any]]:
        return [json.loads(details(e)["parameters"]) for e in self.of_type(state, "TaskScheduled")]

    def backoffs(self, state: str) -> list[float]:
        """Seconds from each failed attempt to the next attempt's TaskScheduled."""
        events = self.task_events(state)
        gaps = []
        for position, event in enumerate(events):
            if event["type"] in ("TaskFailed", "TaskTimedOut"):
                following = next((e for e in events[position + 1 :] if e["type"] == "TaskScheduled"), None)
                if following is not None:
                    gaps.append(seconds(following["timestamp"], event["timestamp"]))
        return gaps

    def last(self, event_type: str) -> dict[str, Any]:
        return next(e for e in reversed(self.events) if e["type"] == event_type)

    @cached_property
    def ending(self) -> dict[str, Any]:
        return self.events[-1]
