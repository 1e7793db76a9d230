"""How the harness classifies an object version from what the stack holds (no stack needed here)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from tributary.chaos.data import DataFactory, ObjectSpec
from tributary.chaos.invariants import (
    ObjectOutcome,
    RollbackFails,
    StackState,
    Uploaded,
    Verdict,
    _classify,
    _execution_limit,
    failed_run_violations,
)
from tributary.chaos.scenarios import (
    APPROVAL_TASKS,
    DEFINITION,
    _tasks_of,
    alarm_tasks,
    forcing_states,
    real_clock_scenarios,
    rollback_tasks,
    task_states,
    virtual_clock_scenarios,
)


class FakeState:
    def __init__(self, statuses: dict[str, str], refusals: dict[tuple[str, str], str] | None = None) -> None:
        self.statuses = statuses
        self.refusals = refusals or {}
        self.skips: dict[str, str] = {}

    def status(self, run_id: str) -> str:
        return self.statuses.get(run_id, "NO RECORD")


def _spec(good: set[str], optional: set[str] = frozenset(), bad: set[str] = frozenset()) -> Uploaded:  # type: ignore[assignment]
    spec = ObjectSpec("orders", "incoming/orders/x.csv", b"x", "good", set(good), set(optional), set(bad))
    return Uploaded(spec, "v1", "etag")


def classify(uploaded: Uploaded, rows: list[tuple[str, str]], state: Any) -> tuple[str, bool]:
    outcome = _classify(uploaded, rows, state)
    return outcome.outcome, outcome.visible_from_failed_run


OK = FakeState({"r1": "SUCCEEDED", "r2": "SUCCEEDED", "bad": "FAILED"})


@pytest.mark.parametrize(
    ("rows", "state", "expected"),
    [
        ([("a", "r1"), ("b", "r1")], OK, ("published", False)),
        ([("a", "r1"), ("b", "r1"), ("o", "r1")], OK, ("published", False)),  # an optional row kept
        ([("a", "r1"), ("b", "r2"), ("a", "r2")], OK, ("duplicated", False)),  # published by two runs
        ([("a", "r1")], OK, ("lost", False)),  # b is missing
        ([("a", "r1"), ("b", "r1"), ("x", "r1")], OK, ("wrong", False)),  # a bad row published
        ([], OK, ("lost", False)),  # nothing, and no reason anywhere
        ([], FakeState({}, {("incoming/orders/x.csv", "v1"): "columns_mismatch: ..."}), ("refused", False)),
        ([("a", "bad"), ("b", "bad")], OK, ("published", True)),  # rows of a FAILED run are visible
    ],
)
def test_an_object_version_is_classified_from_the_rows_readers_see(
    rows: list[tuple[str, str]], state: Any, expected: tuple[str, bool]
) -> None:
    assert classify(_spec({"a", "b"}, {"o"}, {"x"}), rows, state) == expected


def test_a_refusal_of_another_version_of_the_key_does_not_count() -> None:
    state = FakeState({}, {("incoming/orders/x.csv", "v0"): "empty"})
    assert classify(_spec({"a"}), [], state) == ("lost", False)


def test_the_execution_limit_is_about_versions_over_batch_size() -> None:
    def wave(n: int) -> list[Uploaded]:
        return [_spec({"r"}) for _ in range(n)]

    assert [_execution_limit(wave(n), 100) for n in (0, 1, 100, 101, 1000, 5000)] == [0, 2, 2, 3, 13, 63]


def _at(seconds: float, key: str = "incoming/orders/x.csv") -> Uploaded:
    uploaded = _spec({"r"})
    return dataclasses.replace(uploaded, spec=dataclasses.replace(uploaded.spec, key=key), at=100.0 + seconds)


def test_the_execution_limit_grows_with_the_batching_windows_the_uploads_took() -> None:
    quick, slow = [_at(0.0), _at(1.9)], [_at(0.0), _at(2.5), _at(4.1)]
    assert _execution_limit(quick, 1000, window=2.0) == 2  # within one window
    assert _execution_limit(slow, 1000, window=2.0) == 4  # spread over three windows: two more
    assert _execution_limit(slow, 1000) == 2  # no window known: no allowance


def test_the_windows_are_counted_from_when_the_events_reached_the_queue() -> None:
    # S3 answered both puts within one window; their events reached the ingest queue 5 s apart
    wave = [_at(0.0, "incoming/orders/a.csv"), _at(0.1, "incoming/orders/b.csv")]
    arrivals = {("incoming/orders/a.csv", "v1"): [101.0], ("incoming/orders/b.csv", "v1"): [106.0]}
    assert _execution_limit(wave, 1000, window=2.0) == 2
    assert _execution_limit(wave, 1000, window=2.0, arrivals=arrivals) == 4  # two more windows
    # every delivery of a version counts (a redelivery 4 s later), and a version not recorded keeps
    # the time S3 answered
    again = {("incoming/orders/a.csv", "v1"): [100.5, 104.5]}
    assert _execution_limit(wave, 1000, window=2.0, arrivals=again) == 4


def test_generated_bad_objects_say_which_rows_are_good_optional_and_bad() -> None:
    specs = DataFactory(seed=1).bad_objects("incoming/orders/bad-", good_rows=5)
    kinds = {s.kind: s for s in specs}
    assert len(kinds) == len(specs) >= 12
    assert len(kinds["~1,000-byte key"].key.encode()) == 1000
    assert "/../" in kinds["`..` key"].key
    assert kinds["empty file"].body == b"" and not kinds["empty file"].good
    assert kinds["date before 1900"].optional and kinds["bad rows (number, null, value, date)"].bad
    every_id = [i for s in specs for i in (*s.good, *s.optional, *s.bad)]
    assert len(every_id) == len(set(every_id))  # ids never repeat


def test_every_task_of_the_definition_has_a_scenario_and_failure_paths_are_forced() -> None:
    tasks = {t.name for t in task_states()}
    forcing = forcing_states()
    assert {"RecordStart", "ValidateObjects", "RunTransformJob"} <= tasks
    assert set(forcing) <= tasks
    for task, chain in forcing.items():
        assert chain and task not in chain and set(chain) <= tasks


def test_the_approval_tasks_are_left_out_of_the_scenarios_and_of_the_forcing_chains() -> None:
    """No harness run fails its quality rules, so no scenario may plan a fault on AwaitApproval or
    RecordDecision (it would never be injected), nor force a failure path through them."""
    every_task = {t.name for t in _tasks_of(json.loads(DEFINITION.read_text())["States"])}
    assert every_task >= APPROVAL_TASKS  # renamed in the definition: rename here too
    assert not APPROVAL_TASKS & {t.name for t in task_states()}
    chains = forcing_states()
    assert not APPROVAL_TASKS & ({task for chain in chains.values() for task in chain} | set(chains))
    assert chains["RecordFailure"] == ["CommitRun"]  # the latest normal-path Task, as before approval


# -- rows and partitions of failed runs: a violation, unless the rollback itself failed for good ----------
LEFT_CAUSE = (
    "CommitRun failed | PARTITIONS MAY STILL BE REGISTERED: UnpublishRun failed (...); drop each "
    "drop_clause of s3://artifacts/runs/gone/partition-batches.json with ALTER TABLE db.orders DROP IF EXISTS"
)


def _state(runs: dict[str, dict[str, str]]) -> StackState:
    state = StackState.__new__(StackState)  # the real status/left_published, on a runs table given here
    state.runs, state.refusals, state.skips = runs, {}, {}
    return state


def _visible(run_id: str) -> ObjectOutcome:
    return ObjectOutcome(_spec({"a"}), "published", visible_from_failed_run=True, failed_runs=[run_id])


ALARMED = RollbackFails(alarmed=True)


@pytest.mark.parametrize(
    ("record", "rollback_fails", "rise", "expected"),
    [
        # the rollback failed for good, the run says so, the alarm metric rose: explained
        ({"status": "FAILED", "cause": LEFT_CAUSE}, ALARMED, 1, []),
        # ... but the alarm metric did not rise
        ({"status": "FAILED", "cause": LEFT_CAUSE}, ALARMED, 0, ["RunsLeftPublished rose by 0"]),
        ({"status": "FAILED", "cause": LEFT_CAUSE}, ALARMED, None, ["metric not readable"]),
        # the plan failed the metric's Task too: the cause is what there is
        ({"status": "FAILED", "cause": LEFT_CAUSE}, RollbackFails(alarmed=False), 0, []),
        # a single fault (the scenario declares no failing rollback): visible is always a violation
        ({"status": "FAILED", "cause": LEFT_CAUSE}, None, 1, ["partition(s)", "visible from a failed run"]),
        # the rollback failed, but the run does not say its partitions may still be registered
        ({"status": "FAILED", "cause": "CommitRun failed"}, ALARMED, 1, ["partition(s)", "visible from"]),
        # QUARANTINED is failed too (its inputs were copied to quarantine after RecordFailure)
        ({"status": "QUARANTINED", "cause": LEFT_CAUSE}, ALARMED, 1, []),
        # it says so, but it is not recorded failed
        ({"status": "RUNNING", "cause": LEFT_CAUSE}, ALARMED, 1, ["partition(s)", "visible from"]),
    ],
)
def test_a_failed_run_left_visible_is_explained_only_by_a_failing_rollback_that_says_so(
    record: dict[str, str], rollback_fails: RollbackFails | None, rise: int | None, expected: list[str]
) -> None:
    outcome = _visible("gone")
    violations = failed_run_violations(
        [outcome],
        [("s3://curated/orders/run_id=gone/", "gone")],
        _state({"gone": record}),
        rollback_fails,
        lambda: rise,
    )
    assert len(violations) == len(expected)
    for violation, words in zip(violations, expected, strict=True):
        assert words in violation
    says_so = record["status"] != "RUNNING" and "PARTITIONS MAY STILL BE REGISTERED" in record["cause"]
    assert outcome.explained == (rollback_fails is not None and says_so)


def test_the_table_keeps_the_number_visible_and_says_why() -> None:
    outcomes = [_visible("gone"), _visible("gone"), ObjectOutcome(_spec({"a"}), "published")]
    state = _state({"gone": {"status": "FAILED", "cause": LEFT_CAUSE}})
    assert not failed_run_violations(outcomes, [], state, ALARMED, lambda: 1)
    verdict = Verdict(outcomes, {}, {}, [], [], {}, explanation=ALARMED.label)
    assert verdict.visible_cell == "2 (explained: rollback failed for good, alarmed)"
    assert Verdict([_visible("gone")], {}, {}, [], [], {}).visible_cell == "1"  # nothing explained


def test_only_the_rollback_failing_for_good_declares_it() -> None:
    assert rollback_tasks() == ["UnpublishPartitionBatch"] and alarm_tasks() == ["CountUnpublishFailure"]
    declared = {n.name: n.rollback_fails for n in [*virtual_clock_scenarios(), *real_clock_scenarios()]}
    assert {name: r for name, r in declared.items() if r} == {
        "Task UnpublishPartitionBatch fails for good": RollbackFails(alarmed=True),
        "Task CountUnpublishFailure fails for good": RollbackFails(alarmed=False),
    }
