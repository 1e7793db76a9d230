"""Retry and Catch on the virtual clock: back-off timing, MaxDelaySeconds, jitter bounds, MaxAttempts,
the States.ALL / States.TaskFailed wildcards, and what a Catch hands on."""

from __future__ import annotations

import itertools
import json
import random

import pytest

from tributary.states import VirtualClock, execute
from tributary.states.retry import Retrier, error_matches, retry_delay


def gaps(times: list[float]) -> list[float]:
    return [round(b - a, 6) for a, b in itertools.pairwise(times)]


def test_backoff_multiplies_the_interval_on_the_virtual_clock(kit):
    integration = kit.Scripted(kit.fail("Boom"), kit.fail("Boom"), kit.fail("Boom"), {"ok": True})
    retry = [{"ErrorEquals": ["Boom"], "IntervalSeconds": 2, "BackoffRate": 3, "MaxAttempts": 3}]
    result = execute(kit.machine(("T", kit.task(Retry=retry))), {}, integrations=integration)
    assert result.status == "SUCCEEDED"
    assert json.loads(result.output) == {"ok": True}
    assert gaps(integration.times) == [2, 6, 18]


def test_defaults_are_one_second_rate_two_three_attempts(kit):
    integration = kit.Scripted(kit.fail("Boom"))
    result = execute(
        kit.machine(("T", kit.task(Retry=[{"ErrorEquals": ["States.ALL"]}]))), {}, integrations=integration
    )
    assert (result.status, result.error) == ("FAILED", "Boom")
    assert gaps(integration.times) == [1, 2, 4]


def test_max_delay_caps_the_backoff(kit):
    integration = kit.Scripted(kit.fail("Boom"))
    retry = [
        {
            "ErrorEquals": ["Boom"],
            "IntervalSeconds": 5,
            "BackoffRate": 10,
            "MaxAttempts": 4,
            "MaxDelaySeconds": 60,
        }
    ]
    execute(kit.machine(("T", kit.task(Retry=retry))), {}, integrations=integration)
    assert gaps(integration.times) == [5, 50, 60, 60]


def test_full_jitter_stays_between_zero_and_the_backoff():
    retrier = Retrier.load(
        {
            "ErrorEquals": ["X"],
            "IntervalSeconds": 3,
            "BackoffRate": 2,
            "MaxDelaySeconds": 20,
            "JitterStrategy": "FULL",
        },
        "Retry[0]",
    )
    rng = random.Random(7)
    for attempt in range(6):
        ceiling = min(3 * 2**attempt, 20)
        delays = [retry_delay(retrier, attempt, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # spread over the range, not stuck at one end
        assert min(delays) < ceiling / 2


def test_jittered_run_is_reproducible_with_the_same_seed(kit):
    retry = [{"ErrorEquals": ["Boom"], "IntervalSeconds": 10, "MaxAttempts": 3, "JitterStrategy": "FULL"}]
    runs = []
    for _ in range(2):
        integration = kit.Scripted(kit.fail("Boom"))
        execute(kit.machine(("T", kit.task(Retry=retry))), {}, integrations=integration)
        runs.append(gaps(integration.times))
    assert runs[0] == runs[1]
    assert any(g != 10 * 2**i for i, g in enumerate(runs[0]))


def test_max_attempts_zero_never_retries(kit):
    integration = kit.Scripted(kit.fail("Boom"))
    retry = [{"ErrorEquals": ["Boom"], "MaxAttempts": 0}, {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5}]
    result = execute(kit.machine(("T", kit.task(Retry=retry))), {}, integrations=integration)
    # the first retrier that names the error decides, even when it allows no retry
    assert (result.status, result.error, len(integration.calls)) == ("FAILED", "Boom", 1)


def test_each_retrier_counts_its_own_attempts(kit):
    integration = kit.Scripted(kit.fail("A"), kit.fail("B"), kit.fail("A"), kit.fail("B"), "done")
    retry = [
        {"ErrorEquals": ["A"], "MaxAttempts": 2, "IntervalSeconds": 1},
        {"ErrorEquals": ["B"], "MaxAttempts": 2, "IntervalSeconds": 10},
    ]
    result = execute(kit.machine(("T", kit.task(Retry=retry))), {}, integrations=integration)
    assert result.status == "SUCCEEDED"
    assert gaps(integration.times) == [1, 10, 2, 20]


def test_retry_count_in_the_context_object(kit):
    integration = kit.Scripted(kit.fail("Boom"), kit.fail("Boom"), lambda call: call.arguments)
    state = kit.task(Parameters={"n.$": "$$.State.RetryCount"}, Retry=[{"ErrorEquals": ["Boom"]}])
    result = execute(kit.machine(("T", state)), {}, integrations=integration)
    assert json.loads(result.output) == {"n": 2}
    assert [c.attempt for c in integration.calls] == [0, 1, 2]


@pytest.mark.parametrize(
    ("names", "error", "matches"),
    [
        (["States.ALL"], "Lambda.ServiceException", True),
        (["States.ALL"], "States.Timeout", True),
        (["States.ALL"], "States.Runtime", False),
        (["States.ALL"], "States.DataLimitExceeded", True),
        (["States.TaskFailed"], "Custom", True),
        (["States.TaskFailed"], "States.Timeout", False),
        (["States.Timeout"], "States.Timeout", True),
        (["States.Runtime"], "States.Runtime", False),
        (["A", "B"], "B", True),
        (["A"], "a", False),
    ],
)
def test_error_names_and_wildcards(names, error, matches):
    assert error_matches(names, error) is matches


def test_catch_after_retries_with_result_path(kit):
    integration = kit.Scripted(kit.fail("Boom", "it broke"))
    state = kit.task(
        Retry=[{"ErrorEquals": ["Boom"], "MaxAttempts": 1}],
        Catch=[
            {"ErrorEquals": ["Other"], "Next": "Wrong"},
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "Handled"},
        ],
    )
    definition = kit.machine(("T", state), ("Wrong", {"Type": "Fail"}), ("Handled", {"Type": "Pass"}))
    definition["States"]["T"].pop("Next")  # a state that fails: only its Catch leads on
    definition["States"]["T"]["End"] = True
    result = execute(definition, {"keep": 1}, integrations=integration)
    assert result.status == "SUCCEEDED"
    assert json.loads(result.output) == {"keep": 1, "err": {"Error": "Boom", "Cause": "it broke"}}
    assert len(integration.calls) == 2


def test_catch_with_null_result_path_keeps_the_input(kit):
    state = kit.task(Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "After"}])
    definition = kit.machine(("T", state), ("After", {"Type": "Pass"}))
    definition["States"]["T"].pop("Next")  # a state that fails: only its Catch leads on
    definition["States"]["T"]["End"] = True
    result = execute(definition, {"a": 1}, integrations=kit.Scripted(kit.fail("X")))
    assert json.loads(result.output) == {"a": 1}


def test_jsonata_catch_output_and_assign_see_the_error_output(kit):
    catcher = {
        "ErrorEquals": ["States.ALL"],
        "Output": "{% {'message': $states.errorOutput.Cause, 'was': $states.input.v} %}",
        "Assign": {"lastError": "{% $states.errorOutput.Error %}"},
        "Next": "After",
    }
    definition = kit.machine(
        ("T", kit.task(Catch=[catcher])),
        ("After", {"Type": "Pass", "Output": "{% $merge([$states.input, {'error': $lastError}]) %}"}),
        QueryLanguage="JSONata",
    )
    definition["States"]["T"].pop("Next")  # a state that fails: only its Catch leads on
    definition["States"]["T"]["End"] = True
    result = execute(definition, {"v": 3}, integrations=kit.Scripted(kit.fail("Bad", "why")))
    assert json.loads(result.output) == {"message": "why", "was": 3, "error": "Bad"}


def test_runtime_errors_are_never_caught(kit):
    state = {
        "Type": "Pass",
        "InputPath": "$.missing",
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "After"}],
    }
    definition = kit.machine(("P", state), ("After", {"Type": "Succeed"}))
    definition["States"]["P"]["Next"] = "After"
    result = execute(definition, {})
    assert (result.status, result.error) == ("FAILED", "States.Runtime")


def test_retry_waits_do_not_take_real_time(kit):
    clock = VirtualClock()
    start = clock.now()
    retry = [{"ErrorEquals": ["Boom"], "IntervalSeconds": 3600, "MaxAttempts": 2, "BackoffRate": 1}]
    execute(
        kit.machine(("T", kit.task(Retry=retry))),
        {},
        integrations=kit.Scripted(kit.fail("Boom")),
        clock=clock,
    )
    assert (clock.now() - start).total_seconds() == 7200


def test_a_failing_catcher_fails_the_execution(kit):
    catcher = {"ErrorEquals": ["States.ALL"], "Output": "{% $nope %}", "Next": "After"}
    definition = kit.machine(
        ("T", kit.task(Catch=[catcher])), ("After", {"Type": "Pass"}), QueryLanguage="JSONata"
    )
    definition["States"]["T"].pop("Next")  # a state that fails: only its Catch leads on
    definition["States"]["T"]["End"] = True
    result = execute(definition, {}, integrations=kit.Scripted(kit.fail("Boom")))
    assert (result.status, result.error) == ("FAILED", "States.QueryEvaluationError")
    assert result.cause.startswith(
        "An error occurred while executing the state 'T' (entered at the event id #2)."
    )
