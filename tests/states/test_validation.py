"""Definition validation: each problem is reported with its path, valid definitions pass."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tributary.states.validation import diagnose, invalid_definition_message, validate


def _machine(states: dict[str, Any], **top: Any) -> str:
    return json.dumps({"StartAt": next(iter(states)), "States": states, **top})


def test_a_valid_machine_has_no_problems() -> None:
    definition = _machine(
        {
            "Start": {"Type": "Pass", "Next": "Check"},
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericGreaterThan": 1, "Next": "Done"}],
                "Default": "Boom",
            },
            "Done": {"Type": "Succeed"},
            "Boom": {"Type": "Fail", "Error": "E", "Cause": "C"},
        }
    )
    assert validate(definition, "STANDARD") == []


def test_unknown_next_target_is_reported_at_its_path() -> None:
    problems = validate(_machine({"A": {"Type": "Pass", "Next": "Nowhere"}}), "STANDARD")
    assert any(p.startswith("/States/A/Next: ") and "Nowhere" in p for p in problems)


def test_unreachable_state_is_reported() -> None:
    problems = validate(_machine({"A": {"Type": "Succeed"}, "Orphan": {"Type": "Succeed"}}), "STANDARD")
    assert problems == ['/States/Orphan: State "Orphan" is not reachable']


def test_missing_next_and_end_is_reported() -> None:
    problems = validate(_machine({"A": {"Type": "Pass"}}), "STANDARD")
    assert "/States/A: One of 'Next' or 'End' is required" in problems


def test_missing_top_level_fields() -> None:
    assert validate("{}", "STANDARD") == ["/: These fields are required: [States, StartAt]"]


def test_not_json_is_reported_as_invalid_json() -> None:
    [diagnostic] = diagnose("not a definition")
    assert diagnostic.code == "INVALID_JSON_DESCRIPTION"


@pytest.mark.parametrize("suffix", [".sync", ".waitForTaskToken"])
def test_express_refuses_sync_and_callbacks(suffix: str) -> None:
    definition = _machine(
        {"Run": {"Type": "Task", "Resource": f"arn:aws:states:::glue:startJobRun{suffix}", "End": True}}
    )
    assert validate(definition, "STANDARD") == []
    [problem] = validate(definition, "EXPRESS")
    assert problem.startswith("/States/Run/Resource: Express state machine does not support")


def test_unknown_optimized_integration_is_refused() -> None:
    definition = _machine({"Q": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:query", "End": True}})
    [problem] = validate(definition, "STANDARD")
    assert "is not recognized" in problem


def test_bad_jsonpath_in_parameters() -> None:
    definition = _machine({"P": {"Type": "Pass", "Parameters": {"x.$": "$.a."}, "End": True}})
    [problem] = validate(definition, "STANDARD")
    assert problem.startswith("/States/P/Parameters: The value for the field 'x.$'")


@pytest.mark.parametrize(
    "value, valid",
    [
        ("States.Format('{} and {}', $.a, 'x\\'y')", True),
        ("States.Array(1, -2.5, null, true, States.UUID())", True),
        ("States.Nope($.a)", False),
        ("States.Format('say \\\"hi\\\"')", False),
        ("States.Format('unterminated)", False),
    ],
)
def test_intrinsic_function_syntax(value: str, valid: bool) -> None:
    definition = _machine({"P": {"Type": "Pass", "Parameters": {"x.$": value}, "End": True}})
    assert (validate(definition, "STANDARD") == []) is valid


def test_bad_jsonata_is_reported() -> None:
    definition = _machine(
        {"P": {"Type": "Pass", "Output": "{% $states.input. %}", "End": True}}, QueryLanguage="JSONata"
    )
    [problem] = validate(definition, "STANDARD")
    assert problem.startswith("/States/P/Output: ")


def test_jsonpath_field_in_jsonata_state_is_refused() -> None:
    definition = _machine({"P": {"Type": "Pass", "InputPath": "$.a", "End": True}}, QueryLanguage="JSONata")
    assert validate(definition, "STANDARD") == [
        "/States/P: The field 'InputPath' is not supported for the JSONata query language"
    ]


def test_nested_branch_problems_carry_their_path() -> None:
    branch = {"StartAt": "B", "States": {"B": {"Type": "Pass", "Next": "Outside"}}}
    definition = _machine(
        {"Par": {"Type": "Parallel", "Branches": [branch], "Next": "Outside"}, "Outside": {"Type": "Succeed"}}
    )
    problems = validate(definition, "STANDARD")
    assert "/States/Par/Branches[0]/States/B/Next: Missing 'Next' target: Outside" in problems


def test_retry_states_all_must_be_last() -> None:
    retry = [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}]
    definition = _machine(
        {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Retry": retry, "End": True}}
    )
    assert validate(definition, "STANDARD") == [
        "/States/T/Retry[0]/ErrorEquals: States.ALL must appear alone, in the last retrier or catcher"
    ]


def test_wait_timestamp_must_be_rfc3339() -> None:
    definition = _machine({"W": {"Type": "Wait", "Timestamp": "2016-13-05T21:29:29Z", "End": True}})
    assert validate(definition, "STANDARD") == [
        "/States/W/Timestamp: String does not match RFC3339 timestamp"
    ]


def test_create_state_machine_message_shape() -> None:
    message = invalid_definition_message(
        diagnose(_machine({"A": {"Type": "Pass", "Next": "X"}, "B": {"Type": "Pass", "End": True}}))
    )
    assert (
        message == "Invalid State Machine Definition: "
        "'MISSING_TRANSITION_TARGET: Missing 'Next' target: X at /States/A/Next, "
        'MISSING_TRANSITION_TARGET: State "B" is not reachable at /States/B\''
    )


def test_heartbeat_must_be_shorter_than_timeout_and_not_given_twice() -> None:
    task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}
    too_long = _machine({"T": {**task, "TimeoutSeconds": 10, "HeartbeatSeconds": 10}})
    assert validate(too_long) == [
        "/States/T/HeartbeatSeconds: HeartbeatSeconds must be smaller than TimeoutSeconds"
    ]
    twice = _machine({"T": {**task, "TimeoutSeconds": 10, "TimeoutSecondsPath": "$.t"}})
    assert validate(twice) == [
        "/States/T: The fields 'TimeoutSeconds' and 'TimeoutSecondsPath' cannot both be set"
    ]


def test_single_state_diagnosis_takes_its_targets_as_existing() -> None:
    from tributary.states.validation import diagnose_state

    assert diagnose_state("Ask", {"Type": "Pass", "Next": "Elsewhere"}) == []
    [problem] = diagnose_state("Ask", {"Type": "Pass", "Next": "Elsewhere", "Bogus": 1})
    assert str(problem) == "/States/Ask: The field 'Bogus' is not supported by Step Functions"


def test_warnings_are_given_only_on_request_and_never_invalidate() -> None:
    definition = _machine(
        {
            "P": {
                "Type": "Pass",
                "Parameters": {"name": "$.name", "id.$": "$.id"},
                "Result": {"x.$": "$.x"},
                "End": True,
            }
        }
    )
    assert validate(definition) == []
    warnings = diagnose(definition, warnings=True)
    assert [(w.code, w.severity, w.location) for w in warnings] == [
        ("NO_DOLLAR", "WARNING", "/States/P/Parameters"),
        ("PASS_RESULT_IS_STATIC", "WARNING", "/States/P/Result"),
    ]


@pytest.mark.parametrize(
    "path, valid",
    [
        ("$.items.length()", True),
        ("$.a[?(@.name =~ /ab.*c/i)].b", True),
        ("$$.Execution.Input", True),
        ("$myVariable.field", True),
        ("$.a.", False),
        ("a.b", False),
    ],
)
def test_input_path_syntax(path: str, valid: bool) -> None:
    definition = _machine({"P": {"Type": "Pass", "InputPath": path, "End": True}})
    assert (validate(definition) == []) is valid
