"""Every Task failing with an error no Retry rule handles: caught at once (by the Task, or by the
Parallel or Map around it). Before registration, RecordFailure → QuarantineInputs → NotifyFailure →
RunFailed, with the error and cause in the run record's update, the quarantine request, the SNS alert and
the execution's end; from RegisterPartitions to CommitRun, UnpublishRun and RetractLineage first; after
the commit, the run still succeeds. Also: the failure routes failing at every step."""

from __future__ import annotations

from typing import Any

import pytest

from tests.statemachine.checks import (
    AFTER_COMMIT,
    FAILURE_ROUTE,
    ROUTE_TASKS,
    UNPUBLISH_FAILED,
    UNPUBLISH_ROUTE,
    Run,
    base_path,
    verify,
)
from tests.statemachine.pipeline import (
    MAP_RUN_FAILED,
    History,
    Mocks,
    Pipeline,
    details,
    failed_case,
    load_pipeline,
    predict,
)

PIPELINE = load_pipeline()


@pytest.mark.parametrize("task", PIPELINE.tasks)
def test_a_task_error_without_retry_is_caught_into_the_failure_route(
    pipeline: Pipeline, mocks: Mocks, runs: dict[str, Run], task: str
) -> None:
    case = failed_case(task)
    run = runs[case]
    expected = verify(pipeline, mocks, case, run, base_path(mocks, runs, case))
    task_history = run.history_of(pipeline, task)
    (failure,) = task_history.failures(task)
    assert len(task_history.of_type(task, "TaskScheduled")) == 1, "an error no rule names must not be retried"
    error, cause = details(failure)["error"], details(failure).get("cause") or ""
    history = run.history
    owner = pipeline.distributed_map_of(task)
    if owner is not None:
        # The child execution fails, which fails the distributed Map with the Map run's error; its
        # Catch takes the run on.
        catcher = pipeline.handler_of(owner, MAP_RUN_FAILED["Error"])
        assert catcher is not None and catcher in expected.catchers and catcher.state == owner
        (map_failed,) = [e for e in history.events if e["type"] == "MapStateFailed"]
        assert history.state_of(map_failed) == owner
    else:
        catcher = pipeline.handler_of(task, error)
        assert catcher is not None and catcher in expected.catchers
        if catcher.state != task:
            # A failed branch fails its Parallel with the branch's own error and cause. AWS's
            # ParallelStateFailed carries no details (GetExecutionHistory's HistoryEvent has no member
            # for them): the error and cause are the failed task's.
            (parallel_failed,) = [e for e in history.events if e["type"] == "ParallelStateFailed"]
            assert history.state_of(parallel_failed) == catcher.state
            assert details(parallel_failed) == {}
            task_failed = history.of_type(task, "TaskFailed", "TaskTimedOut")[-1]
            assert (details(task_failed)["error"], details(task_failed).get("cause") or "") == (error, cause)
    if task in AFTER_COMMIT or task == "NotifySuccess":
        # After the commit nothing fails the run.
        assert run.status == "SUCCEEDED" and "RecordFailure" not in history.entered()
        return
    assert history.entered()[-len(FAILURE_ROUTE) :] == FAILURE_ROUTE
    if task in ROUTE_TASKS:
        # A failure on a failure route never hides the error that sent the run there.
        primary = expected.failure
        assert primary is not None and expected.failing != task
        assert run.error == primary["Error"]
        return
    assert expected.failing == task
    wanted = MAP_RUN_FAILED["Error"] if owner else error
    assert run.error == wanted
    check_failure_order(pipeline, history, task, failure, catcher.state, catcher.spec["Next"])


def check_failure_order(
    pipeline: Pipeline, history: History, task: str, failure: dict[str, Any], owner: str, route: str
) -> None:
    """What AWS guarantees about the order, not how the engine happens to schedule branches: the task's
    failure comes before its Parallel's failure and before the catch route; the other branches of the
    Parallel may have started (AWS starts every branch), but none of their states enters or ends once
    the Parallel has failed."""
    siblings = pipeline.siblings(task)
    route_entered = next(
        e for e in history.events if e["type"].endswith("StateEntered") and details(e)["name"] == route
    )
    if pipeline.distributed_map_of(task) is None:
        assert failure["id"] < route_entered["id"]
    entered = history.entered()
    before_route = entered[entered.index(owner) + 1 : entered.index(route)]
    # The task's own branch (the Choice before it) and the other branches of its Parallel.
    own_branch = {
        name
        for parallel in pipeline.enclosing(task)[1:]
        for states in pipeline.branch_states(parallel).values()
        if task in states
        for name in states
    }
    assert set(before_route) <= {task, *own_branch, *siblings}, (
        "only the Parallel's branches run before the route"
    )
    if owner == task or pipeline.distributed_map_of(task) is not None:
        assert before_route == []
        return
    (parallel_failed,) = [e for e in history.events if e["type"] == "ParallelStateFailed"]
    assert failure["id"] < parallel_failed["id"] < route_entered["id"]
    late = [e for e in history.events[parallel_failed["id"] :] if history.state_of(e) in siblings]
    assert late == [], "a sibling branch went on after its Parallel failed"


@pytest.mark.parametrize(
    ("case", "primary", "route"),
    [
        ("FailurePathBroken", "ValidateObjects", FAILURE_ROUTE[:-1]),
        (
            "UnpublishPathBroken",
            "RecordLineage",
            ["UnpublishPartitionBatch", "CountUnpublishFailure", "RetractLineage"],
        ),
        ("AfterCommitPathBroken", "NotifySuccess", AFTER_COMMIT),
    ],
)
def test_a_route_that_fails_at_every_step_still_ends_as_it_must(
    pipeline: Pipeline, mocks: Mocks, runs: dict[str, Run], case: str, primary: str, route: list[str]
) -> None:
    run = runs[case]
    expected = verify(pipeline, mocks, case, run, base_path(mocks, runs, case))
    for task in route:
        attempts = predict(pipeline.rules_of(task), mocks, mocks.response_of(case, task))
        assert attempts.failed, f"the test case must break {task}"
        assert len(run.history_of(pipeline, task).failures(task)) == 1
    assert expected.failing == primary
    if case == "AfterCommitPathBroken":
        # The announcement, its record and its metric all failed: the published run is still SUCCEEDED.
        assert run.status == "SUCCEEDED"
        assert [str(catcher) for catcher in expected.catchers] == [
            f"{task}.Catch[0]" for task in [primary, *route]
        ]
        return
    assert run.error == expected.attempts[primary].error["Error"]  # type: ignore[index]
    if case == "FailurePathBroken":
        assert [str(catcher) for catcher in expected.catchers[1:]] == [f"{task}.Catch[0]" for task in route]
        return
    # Partitions may still be registered and the lineage is still there: the cause says both.
    assert run.history.entered()[-len(FAILURE_ROUTE) - 4 :] == [
        *UNPUBLISH_ROUTE[:1],
        *UNPUBLISH_FAILED,
        UNPUBLISH_ROUTE[1],
        *FAILURE_ROUTE,
    ]
    assert run.cause is not None
    assert "PARTITIONS MAY STILL BE REGISTERED" in run.cause and "LINEAGE NOT RETRACTED" in run.cause


def test_an_error_without_a_cause_is_recorded_as_such(
    pipeline: Pipeline, mocks: Mocks, runs: dict[str, Run]
) -> None:
    """An empty cause tells whoever reads the run record nothing: the update writes "(no cause)"."""
    without_cause = [
        task
        for task in pipeline.tasks
        if task not in ROUTE_TASKS
        and not mocks.answer(mocks.response_of(failed_case(task), task), 0)["Throw"]["Cause"]
    ]
    assert without_cause, "some test case must fail a Task without a cause"
    for task in without_cause:
        (record,) = runs[failed_case(task)].history.parameters("RecordFailure")
        assert record["ExpressionAttributeValues"][":cause"] == {"S": "(no cause)"}, task
