"""The lifecycle every state shares (input, the state's body, output and assign) in either query
language; a definition loaded once into typed states (fields parsed and checked, the language decided
per state, nested machines loaded with their state); what the loading refuses, naming the place."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tributary.states import Execution, execute
from tributary.states.definition import ABSENT, DefinitionError, Field
from tributary.states.state import load_machine, load_single_state
from tributary.states.state.choice import ChoiceState
from tributary.states.state.fail import FailState
from tributary.states.state.map import MapState
from tributary.states.state.parallel import ParallelState
from tributary.states.state.succeed import SucceedState
from tributary.states.state.task import TaskState
from tributary.states.state.wait import WaitState


def test_the_query_language_of_each_state_is_decided_when_its_machine_is_loaded() -> None:
    jsonata = load_machine(
        {
            "QueryLanguage": "JSONata",
            "StartAt": "A",
            "States": {
                "A": {"Type": "Pass", "Next": "B"},
                "B": {"Type": "Pass", "QueryLanguage": "JSONPath", "End": True},
            },
        }
    )
    jsonpath = load_machine(
        {
            "StartAt": "A",
            "States": {
                "A": {"Type": "Pass", "Next": "B"},
                "B": {"Type": "Pass", "QueryLanguage": "JSONata", "End": True},
            },
        }
    )
    assert jsonata.jsonata_states == {"A"}
    assert jsonpath.jsonata_states == {"B"}
    assert jsonpath.states["B"].jsonata and not jsonpath.states["A"].jsonata
    # A state on its own (as the TestState API runs one) decides for itself, else takes the given language.
    assert load_single_state(
        "B", {"Type": "Pass", "QueryLanguage": "JSONata", "End": True}, "JSONPath"
    ).jsonata
    assert not load_single_state("B", {"Type": "Pass", "End": True}, "JSONPath").jsonata


def test_nested_machines_are_loaded_with_their_state_and_inherit_the_query_language() -> None:
    branch = {"StartAt": "X", "States": {"X": {"Type": "Pass", "End": True}}}
    machine = load_machine(
        {
            "QueryLanguage": "JSONata",
            "StartAt": "P",
            "States": {
                "P": {"Type": "Parallel", "Branches": [branch, branch], "Next": "M"},
                "M": {"Type": "Map", "ItemProcessor": branch, "End": True},
            },
        }
    )
    parallel, map_state = machine.states["P"], machine.states["M"]
    assert isinstance(parallel, ParallelState) and isinstance(map_state, MapState)
    assert len(parallel.branches) == 2
    assert all(b.jsonata_states == {"X"} for b in parallel.branches)
    assert map_state.processor.jsonata_states == {"X"}
    assert not map_state.distributed


def test_each_state_is_loaded_into_its_type_with_its_fields_parsed() -> None:
    machine = load_machine(
        {
            "StartAt": "T",
            "States": {
                "T": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "TimeoutSecondsPath": "$.timeout",
                    "HeartbeatSeconds": 5,
                    "Retry": [{"ErrorEquals": ["Boom"], "IntervalSeconds": 2, "JitterStrategy": "FULL"}],
                    "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "C"}],
                    "Next": "C",
                },
                "C": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.a", "IsPresent": True, "Next": "W"}],
                    "Default": "F",
                },
                "W": {"Type": "Wait", "SecondsPath": "$.s", "Next": "S"},
                "S": {"Type": "Succeed"},
                "F": {"Type": "Fail", "ErrorPath": "$.e", "Cause": "c"},
            },
        }
    )
    states = machine.states
    assert [type(states[n]) for n in "TCWSF"] == [TaskState, ChoiceState, WaitState, SucceedState, FailState]
    task = states["T"]
    assert isinstance(task, TaskState)
    assert task.resource is not None and task.resource.service == "lambda"
    assert task.timeout_seconds == Field("TimeoutSeconds", ABSENT, "$.timeout")
    assert task.heartbeat_seconds.value == 5 and task.heartbeat_seconds.path is None
    assert task.can_retry and not states["W"].can_retry
    (retrier,) = task.retriers
    assert (retrier.error_equals, retrier.interval_seconds, retrier.max_attempts) == (("Boom",), 2.0, 3)
    assert (retrier.backoff_rate, retrier.jitter_strategy) == (2.0, "FULL")
    (catcher,) = task.catchers
    assert (catcher.error_equals, catcher.next, catcher.result_path) == (("States.ALL",), "C", None)
    choice = states["C"]
    assert isinstance(choice, ChoiceState)
    assert [rule.next for rule in choice.choices] == ["W"] and choice.default == "F"
    assert states["W"].next == "S" and states["S"].next is None


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"StartAt": "A", "States": {"A": {"Type": "Pass"}}}, "States.A: Next or End is required"),
        (
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}},
            "States.A: Next names no state: 'Nowhere'",
        ),
        ({"StartAt": "B", "States": {"A": {"Type": "Succeed"}}}, "StartAt names no state: 'B'"),
        (
            {"StartAt": "A", "States": {"A": {"Type": "Sleep", "End": True}}},
            'States.A: unsupported state type "Sleep"',
        ),
        (
            {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": 3, "End": True}}},
            "States.A: Resource must be a non-empty string, not 3",
        ),
        (
            {
                "StartAt": "A",
                "States": {
                    "A": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::lambda:invoke",
                        "Retry": [{"ErrorEquals": ["X"], "MaxAttempts": -1}],
                        "End": True,
                    }
                },
            },
            "States.A.Retry[0]: MaxAttempts must be a non-negative integer",
        ),
        (
            {
                "StartAt": "A",
                "States": {
                    "A": {"Type": "Pass", "Catch": [{"ErrorEquals": [], "Next": "A"}], "End": True},
                },
            },
            "States.A.Catch[0]: ErrorEquals must be a non-empty list of error names",
        ),
        (
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "QueryLanguage": "SQL", "End": True}}},
            "States.A: QueryLanguage must be JSONPath or JSONata, not 'SQL'",
        ),
        (
            {
                "StartAt": "P",
                "States": {
                    "P": {
                        "Type": "Parallel",
                        "Branches": [{"StartAt": "X", "States": {"X": {"Type": "Pass", "Next": "Y"}}}],
                        "End": True,
                    }
                },
            },
            "States.P.Branches[0].States.X: Next names no state: 'Y'",
        ),
        (
            {
                "StartAt": "C",
                "QueryLanguage": "JSONata",
                "States": {"C": {"Type": "Choice", "Choices": [{"Next": "C"}]}},
            },
            "States.C.Choices[0]: Condition is required",
        ),
        (
            {
                "StartAt": "A",
                "QueryLanguage": "JSONata",
                "States": {"A": {"Type": "Pass", "InputPath": "$.a", "End": True}},
            },
            "States.A: The field 'InputPath' is not supported for the JSONata query language",
        ),
        (
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Output": {"a": 1}, "End": True}}},
            "States.A: The field 'Output' is not supported for the JSONPath query language",
        ),
        (
            {
                "StartAt": "P",
                "States": {
                    "P": {
                        "Type": "Parallel",
                        "QueryLanguage": "JSONata",
                        "Branches": [{"StartAt": "X", "States": {"X": {"Type": "Succeed"}}}],
                        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.e", "Next": "P"}],
                        "End": True,
                    }
                },
            },
            "States.P.Catch[0]: The field 'ResultPath' is not supported for the JSONata query language",
        ),
    ],
)
def test_a_definition_the_engine_cannot_run_is_refused_when_loaded_naming_the_place(
    definition: dict[str, Any], message: str
) -> None:
    with pytest.raises(DefinitionError) as refused:
        load_machine(definition)
    assert message in str(refused.value)
    # The runtime loads it once, before the execution starts: no execution, no history.
    with pytest.raises(DefinitionError):
        Execution(definition, {})


def test_one_execution_mixing_the_languages_goes_through_the_same_lifecycle() -> None:
    failing_branch = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Oops", "Cause": "bad"}}}
    definition = {
        "StartAt": "Shape",
        "States": {
            "Shape": {
                "Type": "Pass",
                "InputPath": "$.order",
                "Parameters": {"id.$": "$.id", "n": 1},
                "Assign": {"orderId.$": "$.id"},
                "ResultPath": "$.shaped",
                "OutputPath": "$.shaped",
                "Next": "Route",
            },
            "Route": {
                "Type": "Choice",
                "QueryLanguage": "JSONata",
                "Choices": [
                    {"Condition": "{% $states.input.n = 1 %}", "Assign": {"route": "one"}, "Next": "Hold"}
                ],
                "Default": "Hold",
                "Output": "{% {'id': $orderId, 'n': $states.input.n, 'via': 'Route'} %}",
            },
            "Hold": {
                "Type": "Wait",
                "QueryLanguage": "JSONata",
                "Seconds": 5,
                "Output": "{% $merge([$states.input, {'route': $route}]) %}",
                "Next": "Fan",
            },
            "Fan": {
                "Type": "Parallel",
                "QueryLanguage": "JSONata",
                "Branches": [failing_branch],
                "Catch": [
                    {
                        "ErrorEquals": ["Oops"],
                        "Output": "{% $merge([{'error': $states.errorOutput.Error}, $states.input]) %}",
                        "Assign": {"caught": "{% $states.errorOutput.Cause %}"},
                        "Next": "Done",
                    }
                ],
                "End": True,
            },
            "Done": {
                "Type": "Succeed",
                "QueryLanguage": "JSONata",
                "Output": "{% $merge([$states.input, {'caught': $caught, 'route': $route}]) %}",
            },
        },
    }
    # The rule has no Output: the Choice state's own Output gives the state's output ("via").
    result = execute(definition, {"order": {"id": 7}})
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert json.loads(result.output) == {
        "error": "Oops",
        "id": 7,
        "n": 1,
        "route": "one",
        "via": "Route",
        "caught": "bad",
    }


def test_a_jsonpath_catcher_assigns_over_the_error_and_puts_it_at_its_result_path() -> None:
    definition = {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Oops", "Cause": "c"}}}
                ],
                "Catch": [
                    {
                        "ErrorEquals": ["States.ALL"],
                        "Assign": {"why.$": "$.Cause"},
                        "ResultPath": "$.failure",
                        "Next": "Done",
                    }
                ],
                "OutputPath": "$.never",
                "End": True,
            },
            "Done": {"Type": "Pass", "Parameters": {"why.$": "$why", "input.$": "$"}, "End": True},
        },
    }
    result = execute(definition, {"a": 1})
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    # The catcher's output is the state input with the error at ResultPath: no OutputPath applies.
    assert json.loads(result.output) == {
        "why": "c",
        "input": {"a": 1, "failure": {"Error": "Oops", "Cause": "c"}},
    }
