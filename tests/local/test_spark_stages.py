"""Spark's stage progress of a Glue run in warm mode: the worker polls Spark's status tracker and
reports the active stages to the runtime, which `tributary run`'s progress line shows (in cold mode the
run's log holds Spark's console progress bar instead)."""

from __future__ import annotations

import json
import shutil
import textwrap
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tributary.local.endpoints.moto_server import MotoServer
from tributary.local.runtimes.glue_runtime import GlueRuntime, JobConfig, JobRun
from tributary.local.runtimes.spark_worker import StageReporter, active_stages
from tributary.local.views.progress import StateVisit, glue_progress, stages_text


class FakeTracker:
    """Spark's StatusTracker as PySpark exposes it: active stage ids, then each stage's info (None
    once it ended)."""

    def __init__(self, stages: dict[int, tuple[int, int, int, int] | None]) -> None:
        self.stages = stages  # id → (completed, active, failed, total), or None

    def getActiveStageIds(self) -> list[int]:
        return list(self.stages)

    def getStageInfo(self, stage_id: int) -> Any:
        values = self.stages[stage_id]
        if values is None:
            return None
        done, active, failed, total = values
        return SimpleNamespace(
            stageId=stage_id,
            numCompletedTasks=done,
            numActiveTasks=active,
            numFailedTasks=failed,
            numTasks=total,
        )


def test_active_stages_reads_the_tracker_in_stage_order() -> None:
    tracker = FakeTracker({4: (0, 2, 0, 8), 3: (120, 2, 1, 200), 5: None})
    assert active_stages(tracker) == [
        {"stage": 3, "done": 120, "running": 2, "failed": 1, "total": 200},
        {"stage": 4, "done": 0, "running": 2, "failed": 0, "total": 8},
    ]
    assert stages_text(active_stages(tracker)) == (
        "Spark stage 3: 120/200 tasks (2 running), stage 4: 0/8 tasks (2 running)"
    )
    assert stages_text([]) is None


def test_the_reporter_writes_while_running_and_removes_its_file_at_the_end(tmp_path: Path) -> None:
    tracker = FakeTracker({1: (0, 1, 0, 4)})
    path = tmp_path / "run.stages.json"
    reporter = StageReporter(path, lambda: tracker, interval=0.01).start()
    try:
        deadline = time.monotonic() + 10
        while not path.exists():
            assert time.monotonic() < deadline, "nothing reported"
            time.sleep(0.01)
        tracker.stages = {1: (3, 1, 0, 4)}
        while json.loads(path.read_text())["stages"][0]["done"] != 3:
            assert time.monotonic() < deadline, "the report did not follow the tracker"
            time.sleep(0.01)
    finally:
        reporter.stop()
    assert not path.exists()
    assert not any(t.name == "stage-progress" and t.is_alive() for t in threading.enumerate())


def test_a_failing_or_missing_tracker_reports_nothing_and_never_raises(tmp_path: Path) -> None:
    path = tmp_path / "run.stages.json"

    def broken() -> Any:
        raise RuntimeError("py4j: the gateway is gone")

    StageReporter(path, broken).poll()
    assert not path.exists()
    StageReporter(path, lambda: None).poll()  # Spark not started yet: no stage
    assert json.loads(path.read_text())["stages"] == []


def _visit(job: str) -> StateVisit:
    visit = StateVisit(name="RunTransformJob", type="Task", entered_id=1, entered_at=None)
    visit.resource = "glue:startJobRun.sync"
    visit.parameters = {"JobName": job}
    return visit


class FakeGlue:
    def __init__(self, stages: list[dict[str, int]] | None, log: str) -> None:
        self.stages, self.log = stages, log

    def get_job_runs(self, JobName: str) -> dict[str, Any]:
        return {"JobRuns": [{"Id": "jr_1", "JobRunState": "RUNNING"}]}

    def logs(self, run_id: str) -> str:
        return self.log

    def spark_stages(self, run_id: str) -> list[dict[str, int]] | None:
        return self.stages


def test_the_progress_line_shows_the_reported_stages_else_the_logs_bar() -> None:
    bar = "[Stage 7:=====>      (1 + 1) / 4]"
    warm = FakeGlue([{"stage": 3, "done": 120, "running": 2, "failed": 0, "total": 200}], bar)
    assert glue_progress(warm, _visit("job")) == (
        "Glue job run jr_1 running · Spark stage 3: 120/200 tasks (2 running)"
    )
    between = FakeGlue([], bar)  # the worker reports no active stage: nothing, not a stale bar
    assert glue_progress(between, _visit("job")) == "Glue job run jr_1 running"
    cold = FakeGlue(None, bar)  # nothing reported (cold mode): the log's progress bar
    assert (
        glue_progress(cold, _visit("job"))
        == "Glue job run jr_1 running · Spark stage 7: 1/4 tasks (1 running)"
    )


def test_the_runtime_reads_a_running_runs_report(moto_server: MotoServer, tmp_path: Path) -> None:
    glue = GlueRuntime([], moto_server.client, moto_server.env(), tmp_path, tmp_path / "work")
    try:
        log = tmp_path / "jr_x.log"
        run = JobRun(
            id="jr_x", job_name="job", arguments={}, timeout_minutes=1, state="RUNNING", log_path=log
        )
        glue._runs[run.id] = run
        assert glue.spark_stages("jr_x") is None  # nothing reported yet
        report = tmp_path / "jr_x.stages.json"
        report.write_text(
            json.dumps({"stages": [{"stage": 0, "done": 1, "running": 1, "failed": 0, "total": 2}]})
        )
        assert glue.spark_stages("jr_x") == [{"stage": 0, "done": 1, "running": 1, "failed": 0, "total": 2}]
        report.write_text("{not json")  # caught mid-write by another reader: nothing, no error
        assert glue.spark_stages("jr_x") is None
        run.state = "SUCCEEDED"
        report.write_text(json.dumps({"stages": []}))
        assert glue.spark_stages("jr_x") is None  # an ended run reports nothing
        assert glue.spark_stages("jr_unknown") is None
    finally:
        glue.close()


SLOW_STAGES = """
import time
from pyspark.sql import SparkSession

spark = SparkSession.builder.getOrCreate()


def slow(_):
    time.sleep(1.0)


spark.sparkContext.parallelize(range(6), 6).foreach(slow)
"""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("java") is None, reason="needs Java for local Spark")
def test_a_warm_run_reports_its_stages_while_it_runs(moto_server: MotoServer, tmp_path: Path) -> None:
    root = tmp_path / "app"
    root.mkdir()
    (root / "stages.py").write_text(textwrap.dedent(SLOW_STAGES))
    config = JobConfig(name="stages", script="stages.py")
    glue = GlueRuntime(
        [config], moto_server.client, moto_server.env(), root, tmp_path / "work", spark_cores=1
    )
    assert glue.mode == "warm"
    seen: list[list[dict[str, int]]] = []
    try:
        run_id = glue.start_job_run(JobName="stages")["JobRunId"]
        deadline = time.monotonic() + 300
        while not glue.wait(run_id, 0.2).finished.is_set():
            assert time.monotonic() < deadline
            stages = glue.spark_stages(run_id)
            if stages:
                seen.append(stages)
        run = glue.wait(run_id, 0)
        assert run.state == "SUCCEEDED", glue.logs(run_id)[-3000:]
        assert glue.spark_stages(run_id) is None
        assert not (tmp_path / "work" / "glue-logs" / f"{run_id}.stages.json").exists()
    finally:
        glue.close()
    assert seen, "no stage was reported while the run ran"
    assert all(stage["total"] == 6 for stages in seen for stage in stages)
    done = [stages[0]["done"] for stages in seen]
    assert done == sorted(done) and len(set(done)) >= 2, done  # it moved, forward
    assert (stages_text(seen[-1]) or "").startswith("Spark stage ")
