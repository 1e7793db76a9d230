"""The demo as a new user lives it: `tributary run` on the samples leaves its runs in the state folder;
`runs`, `history` and `graph` read them after it ended; `tributary up` starts again on that state and
every sample event under events/ invokes its function successfully against it (`tributary invoke`,
which maps the events' bucket names and run ids to the local stack's).

The samples are small: the runs take the small-run path (TransformLiteFunction), so no Spark starts;
a run that would start a Glue job fails the test instead (the guard below)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tributary.cli import main
from tributary.local.commands import devtools
from tributary.local.endpoints.control import serve_control
from tributary.local.runtimes.glue_runtime import GlueRuntime
from tributary.local.session import StackInfo
from tributary.local.stack import LocalStack, StackOptions

from .conftest import copy_of_the_application

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
EVENT_FILES = sorted(EVENTS.rglob("*.json"))
SAMPLES = [REPO / "events" / "data" / "orders-sample.csv", REPO / "events" / "data" / "clicks-sample.jsonl"]

# The cases share one stack per worker (the module's fixtures) and a sample event names a dataset's
# latest run, which earlier cases' events (sweep, quarantine, approval) change: all of them run in one
# worker, in the order of their files, so that each meets the state the one before left.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("invoke-events")]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's application in a folder of its own (its .tributary apart from the checkout's):
    template and samconfig copied, the folders they name linked."""
    return copy_of_the_application(tmp_path_factory.mktemp("project"))


@pytest.fixture(scope="module")
def no_spark() -> Iterator[None]:
    def refuse(self: GlueRuntime, **request: Any) -> dict[str, Any]:
        raise AssertionError("a sample run took the Glue path: this test must not start Spark")

    patch = pytest.MonkeyPatch()
    patch.setattr(GlueRuntime, "start_job_run", refuse)
    yield
    patch.undo()


@pytest.fixture(scope="module")
def demo_runs(project: Path, no_spark: None) -> None:
    """The demo data: `tributary run` on both samples, its state left in .tributary/state."""
    assert main(["run", *map(str, SAMPLES), "--root", str(project), "--output", "json"]) == 0
    assert (project / ".tributary" / "state" / "stack.pickle").exists()


def test_runs_history_and_graph_after_tributary_run_ended(
    project: Path, demo_runs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["runs", "--root", str(project), "--output", "json"]) == 0
    captured = capsys.readouterr()
    runs = json.loads(captured.out)
    assert "reading the state saved in" in captured.err
    assert sorted((r["dataset"], r["status"]) for r in runs) == [
        ("clicks", "SUCCEEDED"),
        ("orders", "SUCCEEDED"),
    ]
    run_id = next(r["run_id"] for r in runs if r["dataset"] == "orders")
    assert main(["history", run_id, "--root", str(project)]) == 0
    history = capsys.readouterr().out
    assert "ValidateObjects" in history and "execution succeeded" in history
    graph = project / "graph.html"
    assert main(["graph", run_id, "-o", str(graph), "--root", str(project)]) == 0
    assert run_id in graph.read_text()
    devtools.close_saved_states()


@pytest.fixture(scope="module")
def up_again(project: Path, demo_runs: None) -> Iterator[LocalStack]:
    """`tributary up` started again on the state `tributary run` left."""
    devtools.close_saved_states()
    options = StackOptions(
        project,
        work_dir=project / ".tributary" / "work",
        state_dir=project / ".tributary" / "state",
        endpoint_port=0,
        batch_window_cap=0.2,
    )
    with LocalStack(options) as stack:
        control = serve_control(stack)
        StackInfo.of(stack, f"http://127.0.0.1:{control.server_port}").save(project)
        try:
            yield stack
        finally:
            control.shutdown()


def _function_of(stack: LocalStack, event: Path) -> str:
    folder = event.relative_to(EVENTS).parts[0]
    for config in stack.function_configs:
        if config.code_dir.name == folder:
            return config.logical_id
    raise AssertionError(f"no function's CodeUri is functions/{folder}/ ({event})")


@pytest.mark.parametrize(
    "event", [e for e in EVENT_FILES if e.parent.name != "data"], ids=lambda e: str(e.relative_to(EVENTS))
)
def test_every_sample_event_invokes_successfully_against_tributary_up(
    project: Path, up_again: LocalStack, event: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    code = main(["invoke", _function_of(up_again, event), "-e", str(event), "--root", str(project)])
    captured = capsys.readouterr()
    assert code == 0, f"{event.relative_to(EVENTS)}:\n{captured.out}\n{captured.err[-3000:]}"
    assert "against the local stack" in captured.err
