"""JSONPath Choice Rules loaded into typed trees: their shape, load-time errors (with the rule's
place, and the same problem ValidateStateMachineDefinition reports there) and their evaluation
without the definition's dict."""

from __future__ import annotations

import copy
import datetime
import json
from typing import Any

import pytest

from tributary.states import execute, validate
from tributary.states.errors import DefinitionError, StatesError
from tributary.states.state import load_machine
from tributary.states.state.choice import (
    AllOf,
    AnyOf,
    ChoiceState,
    Comparison,
    JsonataCondition,
    Negation,
    Presence,
    RuleCondition,
    TypeTest,
    load_rule,
)


def _machine(*rules: Any, language: str = "JSONPath") -> dict[str, Any]:
    result = "Output" if language == "JSONata" else "Result"
    return {
        "QueryLanguage": language,
        "StartAt": "C",
        "States": {
            "C": {"Type": "Choice", "Choices": list(rules), "Default": "No"},
            "Yes": {"Type": "Pass", result: "yes", "End": True},
            "No": {"Type": "Pass", result: "no", "End": True},
        },
    }


def _choice(definition: dict[str, Any]) -> ChoiceState:
    state = load_machine(definition).states["C"]
    assert isinstance(state, ChoiceState)
    return state


def test_a_rule_is_loaded_into_a_tree_of_typed_nodes() -> None:
    rule = {
        "And": [
            {"Variable": "$.n", "NumericGreaterThanEquals": 1},
            {"Or": [{"Variable": "$.s", "StringMatches": "a*"}, {"Variable": "$.t", "IsNull": True}]},
            {"Not": {"Variable": "$.gone", "IsPresent": True}},
            {"Variable": "$.when", "TimestampLessThanPath": "$$.State.EnteredTime"},
        ],
        "Next": "Yes",
    }
    (loaded,) = _choice(_machine(rule)).choices
    assert isinstance(loaded.condition, RuleCondition)
    tree = loaded.condition.rule
    assert isinstance(tree, AllOf)
    numeric, either, negation, stamp = tree.rules
    assert isinstance(numeric, Comparison)
    assert (numeric.variable, numeric.operator, numeric.operand, numeric.operand_path) == (
        "$.n",
        "NumericGreaterThanEquals",
        1,
        None,
    )
    assert isinstance(either, AnyOf)
    matches, null_test = either.rules
    assert isinstance(matches, Comparison) and matches.operand.pattern == "a.*"
    assert isinstance(null_test, TypeTest) and (null_test.operator, null_test.expected) == ("IsNull", True)
    assert isinstance(negation, Negation) and isinstance(negation.rule, Presence)
    assert isinstance(stamp, Comparison) and stamp.operand_path == "$$.State.EnteredTime"


def test_literal_operands_are_held_in_the_form_they_are_compared_in() -> None:
    stamp = load_rule({"Variable": "$.t", "TimestampEquals": "2012-10-09T20:00:55+01:00"}, "r")
    assert isinstance(stamp, Comparison)
    assert stamp.operand == (datetime.datetime(2012, 10, 9, 19, 0, 55, tzinfo=datetime.UTC), 0)
    text = load_rule({"Variable": "$.s", "StringLessThan": "b"}, "r")
    assert isinstance(text, Comparison) and text.operand == "b".encode("utf-16-be")


def test_a_loaded_rule_does_not_read_the_definition_again() -> None:
    definition = _machine({"Variable": "$.n", "NumericEquals": 1, "Next": "Yes"})
    state = _choice(definition)
    (rule,) = state.choices
    definition["States"]["C"]["Choices"][0]["NumericEquals"] = 2  # the dict changes after loading
    del definition["States"]["C"]["Choices"][0]["Variable"]
    assert isinstance(rule.condition, RuleCondition)
    assert rule.condition.rule.evaluate({"n": 1}, {}, {}) is True
    assert rule.condition.rule.evaluate({"n": 2}, {}, {}) is False


@pytest.mark.parametrize(
    ("rule", "place", "problem"),
    [
        (
            {"And": [{"Variable": "$.a", "NumericEquals": 1}, {"NumericEquals": 2}], "Next": "Yes"},
            "States.C.Choices[0].And[1]",
            "These fields are required: [Variable]",
        ),
        (
            {"Variable": "$.a", "NumericEquals": 1, "StringEquals": "x", "Next": "Yes"},
            "States.C.Choices[0]",
            "A Choice Rule must hold exactly one comparison operator",
        ),
        (
            {"Variable": "$.a", "Next": "Yes"},
            "States.C.Choices[0]",
            "A Choice Rule must hold exactly one comparison operator",
        ),
        (
            {"Variable": "$.a", "NumericEquals": "1", "Next": "Yes"},
            "States.C.Choices[0].NumericEquals",
            "The value for 'NumericEquals' must be a number",
        ),
        (
            {"Variable": "$.a", "StringEquals": 1, "Next": "Yes"},
            "States.C.Choices[0].StringEquals",
            "The value for 'StringEquals' must be a string",
        ),
        (
            {"Variable": "$.a", "TimestampEquals": "yesterday", "Next": "Yes"},
            "States.C.Choices[0].TimestampEquals",
            "String does not match RFC3339 timestamp",
        ),
        (
            {"Variable": "$.a", "IsNull": "yes", "Next": "Yes"},
            "States.C.Choices[0].IsNull",
            "The value for 'IsNull' must be a boolean",
        ),
        (
            {"Variable": "$.a", "BooleanEquals": 1, "Next": "Yes"},
            "States.C.Choices[0].BooleanEquals",
            "The value for 'BooleanEquals' must be a boolean",
        ),
        (
            {"Variable": "a.b", "IsPresent": True, "Next": "Yes"},
            "States.C.Choices[0].Variable",
            "The value 'a.b' is not a valid JSONPath",
        ),
        (
            {"Variable": "$.a", "NumericEqualsPath": "nope", "Next": "Yes"},
            "States.C.Choices[0].NumericEqualsPath",
            "The value 'nope' is not a valid JSONPath",
        ),
        (
            {"Not": [{"Variable": "$.a", "IsNull": True}], "Next": "Yes"},
            "States.C.Choices[0].Not",
            "The value for 'Not' must be a Choice Rule",
        ),
        ({"Or": [], "Next": "Yes"}, "States.C.Choices[0].Or", "The value for 'Or' must be a non-empty array"),
        (
            {"Or": [{"Variable": "$.a", "IsNull": True}], "Variable": "$.a", "Next": "Yes"},
            "States.C.Choices[0]",
            "A Choice Rule must hold one combinator or one comparison",
        ),
        (
            {"Not": {"Variable": "$.a", "IsNull": True, "Next": "Yes"}, "Next": "Yes"},
            "States.C.Choices[0].Not",
            "The field 'Next' is not supported by Step Functions",
        ),
        (
            {"Variable": "$.a", "NumericEqualz": 1, "Next": "Yes"},
            "States.C.Choices[0]",
            "The field 'NumericEqualz' is not supported by Step Functions",
        ),
    ],
)
def test_a_malformed_rule_is_refused_at_load_where_validation_refuses_it(
    rule: dict[str, Any], place: str, problem: str
) -> None:
    definition = _machine(rule)
    with pytest.raises(DefinitionError) as raised:
        load_machine(definition)
    assert (raised.value.place, raised.value.problem) == (place, problem)
    # ValidateStateMachineDefinition (and so CreateStateMachine) reports the same problem there.
    assert f"/{place.replace('.', '/')}: {problem}" in validate(json.dumps(definition))


def test_a_rule_inside_a_parallel_branch_is_placed_inside_it() -> None:
    inner = _machine({"Variable": "$.a", "Next": "Yes"})
    definition = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [inner], "End": True}}}
    with pytest.raises(DefinitionError) as raised:
        load_machine(definition)
    assert raised.value.place == "States.P.Branches[0].States.C.Choices[0]"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"n": 3, "s": "abc", "limit": 5}, "yes"),
        ({"n": 3, "s": "xbc", "limit": 5}, "no"),
        ({"n": 6, "s": "abc", "limit": 5}, "no"),
        ({"n": "3", "s": "abc", "limit": 5}, "no"),  # not a number: the comparison is false
        ({"n": 3, "s": "abc", "limit": 5, "stop": 1}, "no"),
    ],
)
def test_the_tree_decides_the_execution(value: dict[str, Any], expected: str) -> None:
    rule = {
        "And": [
            {"Variable": "$.n", "NumericLessThanPath": "$.limit"},
            {"Variable": "$.s", "StringMatches": "a*"},
            {"Not": {"Variable": "$.stop", "IsPresent": True}},
        ],
        "Next": "Yes",
    }
    result = execute(_machine(rule), value)
    assert (result.status, json.loads(result.output or "null")) == ("SUCCEEDED", expected)


def test_a_variable_that_selects_nothing_fails_the_state() -> None:
    result = execute(_machine({"Variable": "$.missing", "NumericEquals": 1, "Next": "Yes"}), {})
    assert result.status == "FAILED" and result.error == "States.Runtime"
    assert result.cause is not None and result.cause.endswith(
        "Invalid path '$.missing': The choice state's condition path references an invalid value."
    )


def test_a_jsonata_rule_is_a_condition_and_must_give_a_boolean() -> None:
    definition = _machine({"Condition": "{% $states.input.n %}", "Next": "Yes"}, language="JSONata")
    (rule,) = _choice(copy.deepcopy(definition)).choices
    assert isinstance(rule.condition, JsonataCondition)
    assert json.loads(execute(definition, {"n": True}).output or "null") == "yes"
    assert json.loads(execute(definition, {"n": False}).output or "null") == "no"
    failed = execute(definition, {"n": 1})
    assert failed.error == "States.QueryEvaluationError"
    assert failed.cause is not None and "Expected 'boolean', but was 'number' for value: 1" in failed.cause


def test_evaluating_a_loaded_rule_reports_a_missing_variable_as_states_runtime() -> None:
    rule = load_rule({"Variable": "$.v", "IsString": True}, "r")
    with pytest.raises(StatesError) as raised:
        rule.evaluate({}, {}, {})
    assert raised.value.error == "States.Runtime"
