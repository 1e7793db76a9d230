"""Every Retry rule of every Task (Parallel branches included), from the definition: its errors thrown
MaxAttempts times then a result, and MaxAttempts + 1 times then the Catch; the back-off measured on the
virtual clock against IntervalSeconds, BackoffRate, MaxDelaySeconds and JitterStrategy."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from tests.statemachine.checks import ROUTE_TASKS, Run, base_path, run_case, verify
from tests.statemachine.pipeline import Mocks, Pipeline, RetryRule, details, load_pipeline

PIPELINE = load_pipeline()
JITTERED = [rule for rule in PIPELINE.retry_rules if rule.jitter == "FULL"]
SEEDS = range(1, 11)


@pytest.mark.parametrize("rule", PIPELINE.retry_rules, ids=str)
def test_a_retried_error_recovers_after_max_attempts(
    pipeline: Pipeline, mocks: Mocks, runs: dict[str, Run], rule: RetryRule
) -> None:
    run = runs[rule.recovers_case]
    path = base_path(mocks, runs, rule.recovers_case)
    expected = verify(pipeline, mocks, rule.recovers_case, run, path)
    history = run.history_of(pipeline, rule.state)
    failures = history.failures(rule.state)
    assert len(failures) == rule.max_attempts
    assert {details(event)["error"] for event in failures} == set(rule.errors)
    assert len(history.of_type(rule.state, "TaskScheduled")) == rule.max_attempts + 1
    assert len(history.of_type(rule.state, "TaskSucceeded")) == 1
    if rule.state in ROUTE_TASKS:
        # A failure route recovers too: the run still ends as the error that sent it there says (FAILED,
        # or SUCCEEDED for a failed announcement after the commit).
        assert expected.failing != rule.state
        assert run.status == ("SUCCEEDED" if expected.succeeded else "FAILED")
    else:
        assert run.status == "SUCCEEDED" and run.history.entered() == path


@pytest.mark.parametrize("rule", PIPELINE.retry_rules, ids=str)
def test_exhausted_retries_go_to_the_catch(
    pipeline: Pipeline, mocks: Mocks, runs: dict[str, Run], rule: RetryRule
) -> None:
    run = runs[rule.exhausted_case]
    expected = verify(pipeline, mocks, rule.exhausted_case, run, base_path(mocks, runs, rule.exhausted_case))
    history = run.history_of(pipeline, rule.state)
    failures = history.failures(rule.state)
    assert len(failures) == rule.max_attempts + 1
    assert history.of_type(rule.state, "TaskSucceeded") == []
    thrown = details(failures[-1])["error"]
    catcher = pipeline.handler_of(rule.state, thrown)
    assert catcher is not None and catcher in expected.catchers
    assert catcher.spec["Next"] in run.history.entered()
    if expected.succeeded:
        # Exhausted after the commit: recorded and counted, the run still succeeds.
        assert run.status == "SUCCEEDED" and rule.state in {"NotifySuccess", *ROUTE_TASKS}
        return
    assert run.status == "FAILED"
    if rule.state not in ROUTE_TASKS:
        # A child execution's error fails its distributed Map with the Map run's own error.
        assert expected.failure is not None and run.error == expected.failure["Error"]
        if not pipeline.distributed_map_of(rule.state):
            assert run.error == thrown


def without_jitter(definition_text: str) -> str:
    """The definition with JitterStrategy taken out of every Retry rule, so that each back-off is
    exactly the rule's computed interval."""
    definition = json.loads(definition_text)

    def strip(states: dict[str, Any]) -> None:
        for state in states.values():
            for rule in state.get("Retry", []):
                rule.pop("JitterStrategy", None)
            for branch in [*state.get("Branches", []), *filter(None, [state.get("ItemProcessor")])]:
                strip(branch["States"])

    strip(definition["States"])
    return json.dumps(definition)


@pytest.fixture(scope="module")
def unjittered(definition_text: str) -> str:
    return without_jitter(definition_text)


@pytest.mark.parametrize("rule", PIPELINE.retry_rules, ids=str)
def test_back_off_without_jitter_is_interval_times_backoff_rate_capped(
    unjittered: str, rule: RetryRule
) -> None:
    run = run_case(unjittered, rule.exhausted_case)
    gaps = run.history_of(PIPELINE, rule.state).backoffs(rule.state)
    interval = float(rule.spec.get("IntervalSeconds", 1))
    rate = float(rule.spec.get("BackoffRate", 2.0))
    cap = float(rule.spec.get("MaxDelaySeconds", math.inf))
    wanted = [min(interval * rate**retry, cap) for retry in range(rule.max_attempts)]
    assert gaps == pytest.approx(wanted, abs=1e-6)
    assert gaps[0] == pytest.approx(interval)
    assert max(gaps) <= cap


def test_the_caps_are_reached() -> None:
    """MaxDelaySeconds is not decorative: some rule's last retries hit it."""
    capped = [
        rule
        for rule in PIPELINE.retry_rules
        if rule.ceiling(rule.max_attempts - 1) == float(rule.spec.get("MaxDelaySeconds", math.inf))
    ]
    assert capped


@pytest.mark.parametrize("rule", JITTERED, ids=str)
def test_full_jitter_spreads_each_back_off_between_zero_and_the_interval(
    definition_text: str, rule: RetryRule
) -> None:
    """Over several seeds, each back-off lies in [0, interval]; the ratios spread over that range
    (FULL jitter draws uniformly), and differ from one execution to the next."""
    ratios: list[float] = []
    schedules = set()
    for seed in SEEDS:
        run = run_case(definition_text, rule.exhausted_case, seed=seed)
        gaps = run.history_of(PIPELINE, rule.state).backoffs(rule.state)
        assert len(gaps) == rule.max_attempts
        for retry, gap in enumerate(gaps):
            ceiling = rule.ceiling(retry)
            assert 0 <= gap <= ceiling + 1e-6, (seed, retry, gap, ceiling)
            ratios.append(gap / ceiling)
        schedules.add(tuple(round(gap, 6) for gap in gaps))
    assert len(schedules) == len(SEEDS)
    assert min(ratios) < 0.25 and max(ratios) > 0.75
    assert 0.3 < sum(ratios) / len(ratios) < 0.7


def test_the_definition_jitters_every_retry() -> None:
    """Retries of many runs at once (a burst of uploads) must not hit the service in step."""
    assert PIPELINE.retry_rules == JITTERED
