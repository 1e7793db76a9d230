"""The lifecycle every state shares (input, the state's body, output and assign) in either query
language, the language decided once when a machine is loaded, and nested machines loaded once."""

from __future__ import annotations

import json

from tributary.states import execute
from tributary.states.definition import Machine


def test_the_query_language_of_each_state_is_decided_when_its_machine_is_loaded() -> None:
    jsonata = Machine.from_definition(
        {
            "QueryLanguage": "JSONata",
            "StartAt": "A",
            "States": {
                "A": {"Type": "Pass", "Next": "B"},
                "B": {"Type": "Pass", "QueryLanguage": "JSONPath", "End": True},
            },
        }
    )
    jsonpath = Machine.from_definition(
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
    assert jsonpath.uses_jsonata("B", jsonpath.states["B"])
    # A state the machine does not hold (as the TestState API runs one) decides for itself.
    assert jsonpath.uses_jsonata("B", {"Type": "Pass", "QueryLanguage": "JSONata"})
    assert not jsonpath.uses_jsonata("B", {"Type": "Pass"})


def test_nested_machines_are_loaded_once_and_inherit_the_query_language() -> None:
    branch = {"StartAt": "X", "States": {"X": {"Type": "Pass", "End": True}}}
    machine = Machine.from_definition(
        {
            "QueryLanguage": "JSONata",
            "StartAt": "P",
            "States": {
                "P": {"Type": "Parallel", "Branches": [branch, branch], "Next": "M"},
                "M": {"Type": "Map", "ItemProcessor": branch, "End": True},
            },
        }
    )
    branches = machine.nested("P", machine.states["P"])
    assert len(branches) == 2
    assert all(b.jsonata_states == {"X"} for b in branches)
    assert machine.nested("P", machine.states["P"]) is branches
    (processor,) = machine.nested("M", machine.states["M"])
    assert machine.nested("M", machine.states["M"])[0] is processor
    # A copy of the state is not the machine's own: loaded afresh, not kept.
    assert machine.nested("M", dict(machine.states["M"]))[0] is not processor


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
