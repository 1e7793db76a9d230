"""How the harness classifies an object version from what the stack holds (no stack needed here)."""

from __future__ import annotations

from typing import Any

import pytest

from tributary.chaos.data import DataFactory, ObjectSpec
from tributary.chaos.invariants import Uploaded, _classify, _execution_limit
from tributary.chaos.scenarios import forcing_states, task_states


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
    assert [_execution_limit(n, 100) for n in (0, 1, 100, 101, 1000, 5000)] == [0, 2, 2, 3, 13, 63]


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
