"""The fault plan: loading (JSON and YAML, clear errors), matching (count, after, percentage with a
seed, expiry, execution filter) and the Task-level injection (state and api faults)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tributary.local.faults import FaultInjectingIntegrations, FaultInjector, FaultPlan, FaultPlanError
from tributary.local.integrations import api_error_name
from tributary.states.errors import StatesError


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def injector(*faults: dict[str, Any], seed: int | None = None, clock: Clock | None = None) -> FaultInjector:
    return FaultInjector(FaultPlan.parse({"seed": seed, "faults": list(faults)}), clock or Clock())


def test_count_limits_the_injections_and_after_lets_the_first_calls_through() -> None:
    faults = injector({"target": {"function": "ValidateFunction"}, "count": 2, "after": 1})
    outcomes = [faults.match("function", "ValidateFunction", "tributary-validate") for _ in range(5)]
    assert [o is not None for o in outcomes] == [False, True, True, False, False]
    assert faults.summary() == {"error function=ValidateFunction": 2}


def test_any_of_the_names_matches_and_other_targets_do_not() -> None:
    faults = injector({"target": {"function": "tributary-validate"}})
    assert faults.match("function", "ValidateFunction", "tributary-validate") is not None
    assert faults.match("function", "TriggerFunction", "tributary-trigger") is None
    assert faults.match("state", "tributary-validate") is None


def test_percentage_with_a_seed_is_reproducible_and_close_to_the_rate() -> None:
    def draws(seed: int) -> list[bool]:
        faults = injector({"target": {"api": "athena:StartQueryExecution"}, "percentage": 30}, seed=seed)
        return [faults.match("api", "athena:startQueryExecution") is not None for _ in range(1000)]

    first, again, other = draws(7), draws(7), draws(8)
    assert first == again
    assert first != other
    assert 250 <= sum(first) <= 350


def test_percentage_zero_never_fires_and_a_hundred_always_does() -> None:
    never = injector({"target": {"state": "X"}, "percentage": 0})
    always = injector({"target": {"state": "X"}})
    assert all(never.match("state", "X") is None for _ in range(100))
    assert all(always.match("state", "X") is not None for _ in range(100))


def test_a_fault_expires_after_its_time_counted_from_when_the_plan_is_set() -> None:
    clock = Clock()
    clock.now = 100.0
    faults = injector({"target": {"glue_job": "TransformJob"}, "action": "kill", "delay_seconds": 1,
                       "expires_after_seconds": 10}, clock=clock)  # fmt: skip
    clock.now = 109.9
    assert faults.match("glue_job", "TransformJob") is not None
    clock.now = 110.0
    assert faults.match("glue_job", "TransformJob") is None


def test_api_targets_match_every_spelling_of_the_operation() -> None:
    faults = injector({"target": {"api": "glue:StartJobRun"}, "error": "ConcurrentRunsExceededException"})
    assert faults.match("api", "glue:startJobRun") is not None
    assert faults.match("api", "glue:start_job_run") is not None
    assert faults.match("api", "glue:GetJobRun") is None
    assert faults.match("api", "athena:StartJobRun") is None


def test_execution_filter_and_first_matching_rule_wins() -> None:
    faults = injector(
        {"id": "a", "target": {"state": "RecordStart"}, "execution": "orders-1", "error": "A"},
        {"id": "b", "target": {"state": "RecordStart"}, "error": "B"},
    )
    fault = faults.match("state", "RecordStart", execution="arn:...:execution:m:orders-1-abc")
    assert fault is not None and fault.error == "A" and fault.rule_id == "a"
    fault = faults.match("state", "RecordStart", execution="arn:...:execution:m:clicks-2")
    assert fault is not None and fault.error == "B"


def test_plans_load_from_json_and_yaml_files(tmp_path: Path) -> None:
    plan = {"seed": 3, "faults": [{"target": {"api": "sns:Publish"}, "error": "InternalError", "count": 1}]}
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    (tmp_path / "plan.yaml").write_text(
        "seed: 3\nfaults:\n  - target: {api: 'sns:Publish'}\n    error: InternalError\n    count: 1\n"
    )
    for name in ("plan.json", "plan.yaml"):
        loaded = FaultPlan.load(tmp_path / name)
        assert loaded.seed == 3 and loaded.rules[0].target.name == "sns:Publish"
        assert loaded.rules[0].count == 1 and loaded.rules[0].error == "InternalError"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"faults": [{"target": {"queue": "x"}}]}, "unknown target 'queue'"),
        ({"faults": [{"target": {"api": "StartJobRun"}}]}, "service:Operation"),
        ({"faults": [{"target": {"state": "X"}, "action": "kill", "delay_seconds": 1}]}, "does not apply"),
        ({"faults": [{"target": {"function": "F"}, "action": "kill"}]}, "needs delay_seconds"),
        ({"faults": [{"target": {"function": "F"}, "percentage": 150}]}, "between 0 and 100"),
        ({"faults": [{"target": {"function": "F"}, "count": "many"}]}, "fault 1"),
        ({"faults": [{"target": {"function": "F"}, "colour": "red"}]}, "unknown field(s) colour"),
        ({"fault": []}, "unknown field(s) fault"),
        ("nonsense", "expected a mapping"),
    ],
)
def test_a_bad_plan_is_refused_with_a_message_that_says_where(document: Any, message: str) -> None:
    with pytest.raises(FaultPlanError) as error:
        FaultPlan.parse(document, "plan.yaml")
    assert message in str(error.value) and str(error.value).startswith("plan.yaml")


def test_a_missing_or_malformed_file_is_a_message(tmp_path: Path) -> None:
    with pytest.raises(FaultPlanError, match=r"missing\.yaml"):
        FaultPlan.load(tmp_path / "missing.yaml")
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(FaultPlanError, match="not valid JSON"):
        FaultPlan.load(tmp_path / "bad.json")


class Inner:
    def __init__(self) -> None:
        self.calls = 0

    def invoke(self, call: Any) -> Any:
        self.calls += 1
        return {"ok": True}


def _call(state: str, service: str, action: str, sdk: bool = False) -> Any:
    resource = SimpleNamespace(service=service, action=action, sdk=sdk)
    return SimpleNamespace(resource=resource, state_name=state, execution_arn="arn:exec:run-1")


def test_state_faults_fail_the_task_with_the_error_name_its_retry_and_catch_see() -> None:
    inner = Inner()
    faults = injector(
        {"target": {"state": "RecordStart"}, "error": "DynamoDB.ThrottlingException", "count": 1}
    )
    wrapped = FaultInjectingIntegrations(inner, faults, api_error_name)
    with pytest.raises(StatesError) as error:
        wrapped.invoke(_call("RecordStart", "dynamodb", "updateItem"))
    assert error.value.error == "DynamoDB.ThrottlingException" and inner.calls == 0
    assert wrapped.invoke(_call("RecordStart", "dynamodb", "updateItem")) == {"ok": True}  # transient


@pytest.mark.parametrize(
    ("service", "action", "sdk", "code", "name"),
    [
        (
            "glue",
            "startJobRun",
            False,
            "ConcurrentRunsExceededException",
            "Glue.ConcurrentRunsExceededException",
        ),
        (
            "athena",
            "startQueryExecution",
            False,
            "TooManyRequestsException",
            "Athena.TooManyRequestsException",
        ),
        ("sns", "publish", False, "InternalError", "SNS.InternalErrorException"),
        ("dynamodb", "updateItem", False, "ThrottlingException", "DynamoDB.ThrottlingException"),
        ("s3", "getObject", True, "SlowDown", "S3.SlowDownException"),
    ],
)
def test_api_faults_are_named_as_step_functions_names_the_service_errors(
    service: str, action: str, sdk: bool, code: str, name: str
) -> None:
    inner = Inner()
    faults = injector({"target": {"api": f"{service}:{action}"}, "error": code})
    wrapped = FaultInjectingIntegrations(inner, faults, api_error_name)
    with pytest.raises(StatesError) as error:
        wrapped.invoke(_call("AnyState", service, action, sdk))
    assert error.value.error == name and inner.calls == 0


def test_tributary_up_refuses_a_bad_plan_with_a_message_before_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tributary.cli import main

    plan = tmp_path / "plan.yaml"
    plan.write_text("faults:\n  - target: {function: ValidateFunction}\n    percentage: 101\n")
    root = Path(__file__).resolve().parents[2]
    assert main(["up", "--root", str(root), "--fault-plan", str(plan)]) == 2
    assert "fault 1: percentage must be between 0 and 100" in capsys.readouterr().err
