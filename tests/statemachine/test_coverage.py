"""mock_config.json covers the definition: a test case for every Task's failure, for every Retry rule
recovering and exhausted, and every Catch taken by some test case. Adding a Task, a Retry rule or a
Catch to statemachine/pipeline.asl.json without its test case fails here."""

from __future__ import annotations

import pytest

from tests.statemachine.checks import (
    AFTER_COMMIT,
    APPROVAL_CASES,
    BEFORE_COMMIT,
    FAILURE_ROUTE,
    UNPUBLISH_FAILED,
    UNPUBLISH_ROUTE,
    Run,
    base_path,
    check_caught,
    expect,
)
from tests.statemachine.pipeline import (
    MACHINE_NAME,
    Catcher,
    Mocks,
    Pipeline,
    RetryRule,
    failed_case,
    first_match,
    load_pipeline,
    predict,
)

PIPELINE = load_pipeline()
# Test cases of three partition batches: a Task of the distributed Maps is answered once per batch.
THREE_BATCH_CASES = {
    "ThreeBatches",
    "PartitionBatch1Of3Fails",
    "PartitionBatch2Of3Fails",
    "PartitionBatch3Of3Fails",
    "ThreeBatchesLineageFails",
}
# The Retry rule of each distributed Map (a failed read of partition-batches.json): its ItemReader fails
# MaxAttempts times, then reads (`<Map>ReaderRecovers`), or fails once more (`<Map>ReaderExhausted`).
READER_MAPS = ["ValidateEachObject", "RegisterPartitions", "UnpublishRun"]
READER_CASES = {f"{name}Reader{outcome}" for name in READER_MAPS for outcome in ("Recovers", "Exhausted")}
# ValidateEachObject: one child of twenty fails (tolerated: the run goes on), and its ResultWriter fails
# on every attempt (the Map's retries, then the failure route). test_paths.py checks them.
VALIDATION_MAP_CASES = {"SomeObjectValidationsFailed", "ValidateEachObjectWriterExhausted"}
# Test cases that are not about one Task's errors (test_paths.py and test_failures.py check them).
PATH_CASES = {
    "HappyPath",
    "HappyPathLite",
    "NothingToRegister",
    "NothingAccepted",
    "QualityGateFailed",
    "FailurePathBroken",
    "UnpublishPathBroken",
    "AfterCommitPathBroken",
    "SomeObjectsFailed",
    "AllObjectsFailed",
    *VALIDATION_MAP_CASES,
    *APPROVAL_CASES,
    *THREE_BATCH_CASES,
    *READER_CASES,
}
# Path cases whose failure is not a Task error answered once (a Choice's, or a Task called per batch),
# which `expect` does not model: test_paths.py checks them.
NOT_MODELLED = {
    "NothingAccepted",
    "QualityGateFailed",
    "AllObjectsFailed",
    *VALIDATION_MAP_CASES,
    *THREE_BATCH_CASES,
    *READER_CASES,
}


def expected_case_names(pipeline: Pipeline) -> set[str]:
    names = set(PATH_CASES)
    names |= {failed_case(task) for task in pipeline.tasks}
    for rule in pipeline.retry_rules:
        names |= {rule.recovers_case, rule.exhausted_case}
    return names


def test_the_definition_has_what_these_tests_walk() -> None:
    # The walk reaches into Parallel branches: their Tasks and Retry rules are collected too.
    nested = {task for task in PIPELINE.tasks if PIPELINE.parent[task] is not None}
    assert {
        "RunSmallTransform",
        "RunTransformJob",
        "SyncCatalogTable",
        "RegisterPartitionBatch",
        "UnpublishPartitionBatch",
    } <= nested
    assert {str(rule) for rule in PIPELINE.retry_rules} >= {
        "RunTransformJob.Retry[0]",
        "RunTransformJob.Retry[1]",
        "RunSmallTransform.Retry[0]",
        "SyncCatalogTable.Retry[0]",
    }
    assert "TransformAndCatalog.Catch[0]" in {str(catcher) for catcher in PIPELINE.catchers}
    assert len(PIPELINE.retry_rules) >= len(PIPELINE.tasks)


def test_the_mock_config_has_the_documented_shape(mocks: Mocks) -> None:
    assert set(mocks.document) == {"StateMachines", "MockedResponses"}
    assert set(mocks.document["StateMachines"]) == {MACHINE_NAME}
    for name, response in mocks.responses.items():
        covered: list[int] = []
        for key, answer in response.items():
            assert len(answer.keys() & {"Return", "Throw"}) == 1 and len(answer) == 1, (name, key)
            if "Throw" in answer:
                assert set(answer["Throw"]) == {"Error", "Cause"} and answer["Throw"]["Error"], (name, key)
            covered += list(Mocks.invocations(key))
        # Invocations are numbered from 0 without gaps or overlaps.
        assert sorted(covered) == list(range(len(covered))), name


def test_every_test_case_is_expected_and_mocks_every_task(mocks: Mocks) -> None:
    """No test case for a rule that no longer exists, and none calls a real service (a state missing
    from a test case would fall through to one)."""
    assert set(mocks.cases) == expected_case_names(PIPELINE)
    for case, mapping in mocks.cases.items():
        # A distributed Map's ItemReader is answered under the Map's name, like a Task.
        assert set(mapping) == {*PIPELINE.tasks, *PIPELINE.item_readers}, case
        assert set(mapping.values()) <= set(mocks.responses), case
    used = {response for mapping in mocks.cases.values() for response in mapping.values()}
    assert used == set(mocks.responses), "mocked responses no test case uses"


@pytest.mark.parametrize("task", PIPELINE.tasks)
def test_every_task_has_a_failure_case_that_no_retry_handles(mocks: Mocks, task: str) -> None:
    case = failed_case(task)
    assert case in mocks.cases, f"add test case {case} to mock_config.json"
    attempts = predict(PIPELINE.rules_of(task), mocks, mocks.response_of(case, task))
    assert attempts.failed and attempts.attempts == 1 and attempts.retries == []
    assert PIPELINE.handler_of(task, attempts.error["Error"]) is not None  # type: ignore[index]


@pytest.mark.parametrize("rule", PIPELINE.retry_rules, ids=str)
def test_every_retry_rule_has_a_case_that_recovers_after_max_attempts(mocks: Mocks, rule: RetryRule) -> None:
    case = rule.recovers_case
    assert case in mocks.cases, f"add test case {case} to mock_config.json"
    attempts = predict(PIPELINE.rules_of(rule.state), mocks, mocks.response_of(case, rule.state))
    assert not attempts.failed
    assert attempts.retries == [(rule.index, done) for done in range(rule.max_attempts)]
    # Every error the rule names is thrown at least once, so that each name is proven to be retried.
    assert {thrown["Error"] for thrown in attempts.thrown} == set(rule.errors)


@pytest.mark.parametrize("rule", PIPELINE.retry_rules, ids=str)
def test_every_retry_rule_has_a_case_that_exhausts_it(mocks: Mocks, rule: RetryRule) -> None:
    case = rule.exhausted_case
    assert case in mocks.cases, f"add test case {case} to mock_config.json"
    attempts = predict(PIPELINE.rules_of(rule.state), mocks, mocks.response_of(case, rule.state))
    assert attempts.failed and len(attempts.thrown) == rule.max_attempts + 1
    assert attempts.retries == [(rule.index, done) for done in range(rule.max_attempts)]
    assert first_match(PIPELINE.rules_of(rule.state), attempts.error["Error"]) == rule.index  # type: ignore[index]


def test_every_task_is_caught_into_the_failure_route() -> None:
    """Whatever a Task of the success path throws is caught (by the Task, or the Parallel or Map around
    it): into RecordFailure before partitions may be registered, into UnpublishRun from RegisterPartitions
    to CommitRun. Each step of the routes catches everything and goes on, so the alert and the final Fail
    always happen; after the commit, the route ends in the Succeed state."""
    route_states = PIPELINE.reachable(FAILURE_ROUTE[0])
    assert PIPELINE.route(FAILURE_ROUTE[0]) == FAILURE_ROUTE
    assert route_states == set(FAILURE_ROUTE)
    assert PIPELINE.states[FAILURE_ROUTE[-1]]["Type"] == "Fail"
    assert PIPELINE.route(UNPUBLISH_ROUTE[0]) == [*UNPUBLISH_ROUTE, *FAILURE_ROUTE]
    assert PIPELINE.route(UNPUBLISH_FAILED[0]) == [*UNPUBLISH_FAILED, UNPUBLISH_ROUTE[1], *FAILURE_ROUTE]
    unpublish_states = PIPELINE.reachable(UNPUBLISH_ROUTE[0])
    assert unpublish_states == {*UNPUBLISH_ROUTE, *UNPUBLISH_FAILED, *FAILURE_ROUTE}
    after_commit = PIPELINE.reachable("NotifySuccess")
    assert after_commit == {"NotifySuccess", *AFTER_COMMIT, "RunSucceeded"}
    for task in PIPELINE.tasks:
        catcher = PIPELINE.handler_of(task, "Any.Error")
        assert catcher is not None, f"{task} is not caught"
        assert catcher.spec["ErrorEquals"] == ["States.ALL"], task
        if task == "NotifySuccess":
            # After the commit: the failed announcement is recorded on the run, which stays SUCCEEDED.
            assert catcher.state == task and catcher.spec["Next"] == AFTER_COMMIT[0]
            assert "failure" not in catcher.spec.get("Assign", {})
        elif catcher.state in unpublish_states | after_commit and catcher.state not in UNPUBLISH_ROUTE[:1]:
            # A step of a route: it goes on to its Next whether it worked or not.
            assert catcher.state == task and catcher.spec["Next"] == PIPELINE.states[task]["Next"], task
        elif catcher.state == UNPUBLISH_ROUTE[0]:
            assert catcher.spec["Next"] == UNPUBLISH_FAILED[0], task
            assert "unpublishFailure" in catcher.spec["Assign"], f"{catcher} does not keep the error"
        else:
            wanted = UNPUBLISH_ROUTE[0] if catcher.state in BEFORE_COMMIT else FAILURE_ROUTE[0]
            assert catcher.spec["Next"] == wanted, task
            assert "failure" in catcher.spec.get("Assign", {}), f"{catcher} does not keep the error"


@pytest.mark.parametrize("catcher", PIPELINE.catchers, ids=str)
def test_every_catch_is_taken_by_some_test_case(
    pipeline: Pipeline, mocks: Mocks, runs: dict[str, Run], happy: list[str], catcher: Catcher
) -> None:
    """Some test case throws an error this catcher (and no earlier one) handles, and its history shows
    the state failing and the catcher's Next entered right after it."""
    cases = [
        case
        for case in sorted(mocks.cases.keys() - NOT_MODELLED)
        if catcher in expect(pipeline, mocks, case, base_path(mocks, runs, case)).catchers
    ]
    assert cases, f"no test case of mock_config.json throws an error that {catcher} catches"
    for case in cases:
        check_caught(pipeline, runs[case].history, catcher)


@pytest.mark.parametrize("name", READER_MAPS)
def test_every_distributed_map_retries_its_reader_and_has_cases_for_it(mocks: Mocks, name: str) -> None:
    (rule,) = PIPELINE.states[name]["Retry"]
    # ValidateEachObject retries a failed write of its results too (its children are idempotent).
    assert rule["ErrorEquals"] in (
        ["States.ItemReaderFailed"],
        ["States.ItemReaderFailed", "States.ResultWriterFailed"],
    )
    recovers = mocks.response_of(f"{name}ReaderRecovers", name)
    answers = [mocks.answer(recovers, invocation) for invocation in range(rule["MaxAttempts"] + 1)]
    assert all("Throw" in answer for answer in answers[:-1]) and "Return" in answers[-1]
    exhausted = mocks.response_of(f"{name}ReaderExhausted", name)
    assert all(
        "Throw" in mocks.answer(exhausted, invocation) for invocation in range(rule["MaxAttempts"] + 1)
    )
