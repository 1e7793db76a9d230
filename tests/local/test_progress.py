"""Live progress lines from execution histories produced by the local engine (and hand-made ones for
what the virtual clock never produces: interleaved concurrent branches, text timestamps)."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest

from tributary.local.views.progress import (
    ProgressTracker,
    format_seconds,
    parse_timestamp,
    progress_lines,
    short_cause,
    state_visits,
    use_color,
)
from tributary.states import Execution, RealClock
from tributary.states.errors import StatesError
from tributary.states.service_integrations import FunctionIntegration, TaskCall

LAMBDA = "arn:aws:states:::lambda:invoke"


def history(definition: dict[str, Any], answer: Any = None, input: Any = None) -> list[dict[str, Any]]:
    """Run `definition` on the virtual clock; every task is answered by `answer(call)`."""

    def invoke(call: TaskCall) -> Any:
        return answer(call) if answer else {}

    execution = Execution(definition, input or {}, integrations=FunctionIntegration(invoke))
    execution.start()
    execution.wait()
    return list(execution.history.events)


def failing(times: int, error: str = "Boom", cause: str = "it broke") -> Any:
    calls = {"n": 0}

    def answer(call: TaskCall) -> Any:
        calls["n"] += 1
        if calls["n"] <= times:
            raise StatesError(error, cause)
        return {"ok": True}

    return answer


def test_each_state_is_entered_then_left_with_its_duration() -> None:
    events = history(
        {
            "StartAt": "ValidateObjects",
            "States": {
                "ValidateObjects": {"Type": "Task", "Resource": LAMBDA, "Next": "Pause"},
                "Pause": {"Type": "Wait", "Seconds": 3, "Next": "Done"},
                "Done": {"Type": "Succeed"},
            },
        }
    )
    assert progress_lines(events) == [
        "▶ ValidateObjects",
        "✔ ValidateObjects 0.0s",
        "▶ Pause",
        "✔ Pause 3.0s",
        "▶ Done",
        "✔ Done 0.0s",
        "✔ execution succeeded in 3.0s",
    ]


def test_retries_are_shown_and_a_caught_failure_is_marked() -> None:
    definition = {
        "StartAt": "Transform",
        "States": {
            "Transform": {
                "Type": "Task",
                "Resource": LAMBDA,
                "Retry": [
                    {"ErrorEquals": ["Boom"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 2}
                ],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "RecordFailure"}],
                "End": True,
            },
            "RecordFailure": {"Type": "Pass", "Next": "RunFailed"},
            "RunFailed": {"Type": "Fail", "Error": "Run.Failed", "Cause": "see the run record"},
        },
    }
    lines = progress_lines(history(definition, failing(5)))
    assert lines == [
        "▶ Transform",
        "↻ Transform retry 1 after Boom: it broke",
        "↻ Transform retry 2 after Boom: it broke",
        "✘ Transform 3.0s Boom: it broke (caught)",
        "▶ RecordFailure",
        "✔ RecordFailure 0.0s",
        "▶ RunFailed",
        "✘ RunFailed 0.0s Run.Failed: see the run record",
        "✘ execution failed in 3.0s: Run.Failed: see the run record",
    ]
    visits = {v.name: v for v in state_visits(history(definition, failing(5)))}
    assert visits["Transform"].status == "failed" and visits["Transform"].caught
    assert visits["Transform"].retries == 2
    assert visits["RecordFailure"].status == "succeeded"


def test_a_retry_that_succeeds_ends_green_with_its_retry_count() -> None:
    definition = {
        "StartAt": "Transform",
        "States": {
            "Transform": {
                "Type": "Task",
                "Resource": LAMBDA,
                "Retry": [{"ErrorEquals": ["Boom"], "IntervalSeconds": 2, "MaxAttempts": 3}],
                "End": True,
            }
        },
    }
    lines = progress_lines(history(definition, failing(1)))
    assert lines[1:3] == ["↻ Transform retry 1 after Boom: it broke", "✔ Transform 2.0s after 1 retry"]
    (visit,) = state_visits(history(definition, failing(1)))
    assert (visit.status, visit.error, visit.retries) == ("succeeded", None, 1)


def test_feeding_events_one_at_a_time_gives_the_same_lines() -> None:
    definition = {
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "RunJob",
                        "States": {"RunJob": {"Type": "Task", "Resource": LAMBDA, "End": True}},
                    },
                    {
                        "StartAt": "Catalog",
                        "States": {"Catalog": {"Type": "Wait", "Seconds": 1, "End": True}},
                    },
                ],
                "End": True,
            }
        },
    }
    events = history(definition)
    tracker = ProgressTracker()
    one_by_one = [line for event in events for line in tracker.feed([event])]
    assert one_by_one == progress_lines(events)
    assert tracker.feed(events) == []  # already seen
    assert "  ✔ Catalog 1.0s" in one_by_one
    assert tracker.status == "SUCCEEDED"


def test_an_uncaught_failure_in_a_branch_fails_the_branch_the_parallel_and_the_execution() -> None:
    definition = {
        "StartAt": "TransformAndCatalog",
        "States": {
            "TransformAndCatalog": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "RunJob",
                        "States": {"RunJob": {"Type": "Task", "Resource": LAMBDA, "End": True}},
                    },
                ],
                "End": True,
            }
        },
    }
    lines = progress_lines(history(definition, failing(1, "States.TaskFailed", "job failed")))
    assert lines == [
        "▶ TransformAndCatalog",
        "  ▶ RunJob",
        "  ✘ RunJob 0.0s States.TaskFailed: job failed",
        "✘ TransformAndCatalog 0.0s States.TaskFailed: job failed",
        "✘ execution failed in 0.0s: States.TaskFailed: job failed",
    ]


def test_map_iterations_are_indexed_and_only_the_first_ones_shown_unless_they_fail() -> None:
    definition = {
        "StartAt": "EachFile",
        "States": {
            "EachFile": {
                "Type": "Map",
                "ItemsPath": "$.files",
                "ItemProcessor": {
                    "StartAt": "Load",
                    "States": {"Load": {"Type": "Task", "Resource": LAMBDA, "End": True}},
                },
                "End": True,
            }
        },
    }

    def answer(call: TaskCall) -> Any:
        if call.arguments == 4:
            raise StatesError("Load.Failed", "bad file")
        return call.arguments

    events = history(definition, answer, {"files": [0, 1, 2, 3, 4, 5]})
    tracker = ProgressTracker(iteration_lines=2)
    lines = tracker.feed(events)
    assert [line for line in lines if "Load [" in line] == [
        "  ▶ Load [0]",
        "  ✔ Load [0] 0.0s",
        "  ▶ Load [1]",
        "  ✔ Load [1] 0.0s",
        "  ✘ Load [4] 0.0s Load.Failed: bad file",
    ]
    assert lines[-2:] == [
        "✘ EachFile 0.0s Load.Failed: bad file",
        "✘ execution failed in 0.0s: Load.Failed: bad file",
    ]
    assert len(progress_lines(events)) > len(lines)  # every iteration when unlimited
    good = history(definition, None, {"files": [0, 1, 2]})
    assert "✔ EachFile 0.0s (3 iterations)" in ProgressTracker(iteration_lines=0).feed(good)


def _event(id: int, previous: int, kind: str, at: str, **details: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"id": id, "previousEventId": previous, "type": kind, "timestamp": at}
    if kind.endswith(("StateEntered", "StateExited")):
        event["state" + kind[-7:] + "EventDetails"] = details
    elif details:
        event[kind[0].lower() + kind[1:] + "EventDetails"] = details
    return event


def test_interleaved_branches_are_told_apart_by_previous_event_ids() -> None:
    # On the real clock, branches run in threads and their events interleave.
    t = "2026-11-24T10:00:{:02d}Z".format
    events = [
        _event(1, 0, "ExecutionStarted", t(0)),
        _event(2, 1, "ParallelStateEntered", t(0), name="P"),
        _event(3, 2, "ParallelStateStarted", t(0)),
        _event(4, 3, "TaskStateEntered", t(1), name="Slow"),
        _event(5, 3, "TaskStateEntered", t(2), name="Fast"),
        _event(6, 5, "TaskStateExited", t(3), name="Fast"),
        _event(7, 4, "TaskFailed", t(9), error="E", cause="c"),
        _event(8, 7, "ParallelStateFailed", t(9), error="E", cause="c"),
        _event(9, 8, "ExecutionFailed", t(9), error="E", cause="c"),
    ]
    lines = progress_lines(events)
    assert "  ✔ Fast 1.0s" in lines
    assert "  ✘ Slow 8.0s E: c" in lines
    assert lines[-2:] == ["✘ P 9.0s E: c", "✘ execution failed in 9.0s: E: c"]


def test_a_branch_left_running_when_the_parallel_fails_is_stopped() -> None:
    t = "2026-11-24T10:00:{:02d}Z".format
    events = [
        _event(1, 0, "ExecutionStarted", t(0)),
        _event(2, 1, "ParallelStateEntered", t(0), name="P"),
        _event(3, 2, "ParallelStateStarted", t(0)),
        _event(4, 3, "TaskStateEntered", t(0), name="Glue"),
        _event(5, 3, "TaskStateEntered", t(0), name="Catalog"),
        _event(6, 5, "TaskFailed", t(2), error="E", cause="c"),
        _event(7, 6, "ParallelStateFailed", t(2), error="E", cause="c"),
        _event(8, 7, "ParallelStateExited", t(2), name="P", output='{"Error":"E","Cause":"c"}'),
        _event(9, 8, "PassStateEntered", t(3), name="RecordFailure"),
    ]
    lines = progress_lines(events)
    assert "  ■ Glue 2.0s stopped" in lines
    assert "  ✘ Catalog 2.0s E: c" in lines
    assert "✘ P 2.0s E: c (caught)" in lines
    assert lines[-1] == "▶ RecordFailure"
    statuses = {v.name: v.status for v in state_visits(events)}
    assert statuses == {"P": "failed", "Glue": "stopped", "Catalog": "failed", "RecordFailure": "running"}


def test_an_error_without_a_failure_event_is_blamed_on_the_open_state() -> None:
    definition = {
        "StartAt": "Pick",
        "States": {"Pick": {"Type": "Pass", "InputPath": "$.missing", "End": True}},
    }
    events = history(definition)
    (visit,) = state_visits(events)
    assert visit.status == "failed" and visit.error == "States.Runtime"
    assert progress_lines(events)[1].startswith("✘ Pick 0.0s States.Runtime: ")


def test_colour_only_when_asked() -> None:
    events = history({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})
    plain = progress_lines(events)
    coloured = progress_lines(events, color=True)
    assert not any("\033[" in line for line in plain)
    assert coloured[1].startswith("\033[32m✔\033[0m A")


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_use_color_needs_a_tty_and_no_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert use_color(_Tty()) is True
    assert use_color(io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_color(_Tty()) is False


def test_timestamps_durations_and_causes_are_readable() -> None:
    assert parse_timestamp("2026-11-24T10:00:00Z") == parse_timestamp(1795514400.0)
    assert parse_timestamp("2026-11-24T10:00:00") is not None and parse_timestamp("yesterday") is None
    assert [format_seconds(s) for s in (0.84, 59.94, 125, 3723, None)] == [
        "0.8s",
        "59.9s",
        "2m 05s",
        "1h 02m",
        "",
    ]
    lambda_cause = json.dumps({"errorMessage": "no such key", "errorType": "KeyError", "stackTrace": ["..."]})
    assert short_cause(lambda_cause) == "no such key"
    assert short_cause("line one\n   line two") == "line one line two"
    assert short_cause("x" * 500).endswith("…") and len(short_cause("x" * 500)) == 200


def test_live_from_history_listeners_on_the_real_clock() -> None:
    # Branches and iterations run in threads and call the listener from them.
    task = {"Type": "Task", "Resource": LAMBDA, "End": True}
    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "Slow", "States": {"Slow": task | {"Parameters": {"s": 0.2}}}},
                    {
                        "StartAt": "Each",
                        "States": {
                            "Each": {
                                "Type": "Map",
                                "ItemsPath": "$.items",
                                "MaxConcurrency": 3,
                                "ItemProcessor": {
                                    "StartAt": "W",
                                    "States": {"W": task | {"Parameters": {"s.$": "$"}}},
                                },
                                "End": True,
                            }
                        },
                    },
                ],
                "End": True,
            }
        },
    }

    def answer(call: TaskCall) -> Any:
        time.sleep(call.arguments["s"])
        return {}

    tracker = ProgressTracker(iteration_lines=10)
    lines: list[str] = []
    execution = Execution(
        definition, {"items": [0.05, 0.01, 0.03]}, integrations=FunctionIntegration(answer), clock=RealClock()
    )
    execution.history.listeners.append(lambda event: lines.extend(tracker.feed([event])))
    execution.start()
    execution.wait()
    assert sorted(lines) == sorted(progress_lines(execution.history.events))  # threads may reorder calls
    assert lines[0] == "▶ P" and lines[-1].startswith("✔ execution succeeded in ")
    assert {line.split()[2] for line in lines if line.startswith("    ✔ W")} == {"[0]", "[1]", "[2]"}
    slow = next(v for v in tracker.visits if v.name == "Slow")
    assert slow.status == "succeeded" and slow.seconds is not None and slow.seconds >= 0.2
    assert [v.status for v in tracker.visits].count("succeeded") == len(tracker.visits) == 6


DISTRIBUTED = {
    "StartAt": "RegisterPartitions",
    "States": {
        "RegisterPartitions": {
            "Type": "Map",
            "ItemsPath": "$.partitions",
            "ItemBatcher": {"MaxItemsPerBatch": 2},
            "ToleratedFailureCount": 1,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "Register",
                "States": {"Register": {"Type": "Task", "Resource": LAMBDA, "End": True}},
            },
            "End": True,
        }
    },
}


def test_a_distributed_map_counts_its_child_executions() -> None:
    # Five partitions in batches of two: three child executions, whose events are not in this history.
    events = history(DISTRIBUTED, None, {"partitions": [1, 2, 3, 4, 5]})
    lines = progress_lines(events)
    assert lines == [
        "▶ RegisterPartitions",
        "… RegisterPartitions 3 child executions started",
        "✔ RegisterPartitions 0.0s (3 child executions)",
        "✔ execution succeeded in 0.0s",
    ]
    (visit,) = state_visits(events)
    assert (visit.iterations, visit.child_executions, visit.child_failures) == (3, 3, 0)

    def answer(call: TaskCall) -> Any:
        if 5 in call.arguments["Items"]:
            raise StatesError("Register.Failed", "no such partition")
        return {}

    tolerated = history(DISTRIBUTED, answer, {"partitions": [1, 2, 3, 4, 5]})
    assert "✔ RegisterPartitions 0.0s (3 child executions, 1 failed)" in progress_lines(tolerated)


def test_an_iteration_that_follows_an_earlier_one_s_last_state_is_the_map_s() -> None:
    # With MaxConcurrency 1, MapIterationStarted of item k+1 points at item k's last state event.
    t = "2026-11-24T10:00:{:02d}Z".format
    events = [
        _event(1, 0, "ExecutionStarted", t(0)),
        _event(2, 1, "MapStateEntered", t(0), name="Each"),
        _event(3, 2, "MapStateStarted", t(0), length=2),
        _event(4, 3, "MapIterationStarted", t(0), name="Each", index=0),
        _event(5, 4, "PassStateEntered", t(0), name="Step"),
        _event(6, 5, "PassStateExited", t(1), name="Step"),
        _event(7, 6, "MapIterationSucceeded", t(1), name="Each", index=0),
        _event(8, 6, "MapIterationStarted", t(1), name="Each", index=1),
        _event(9, 8, "PassStateEntered", t(1), name="Step"),
        _event(10, 9, "PassStateExited", t(3), name="Step"),
        _event(11, 10, "MapIterationSucceeded", t(3), name="Each", index=1),
        _event(12, 11, "MapStateSucceeded", t(3)),
        _event(13, 11, "MapStateExited", t(3), name="Each"),
        _event(14, 13, "ExecutionSucceeded", t(3)),
    ]
    lines = progress_lines(events)
    assert "  ✔ Step [1] 2.0s" in lines  # depth 1, index 1: not nested in iteration 0's state
    assert "✔ Each 3.0s (2 iterations)" in lines


class FakeGlue:
    def __init__(self, log: str) -> None:
        self.log = log
        self.asked: list[str] = []
        self.started = "2026-11-24T10:00:02Z"

    def get_job_runs(self, JobName: str) -> dict[str, Any]:
        self.asked.append(JobName)
        if JobName != "tributary-transform":
            raise KeyError(JobName)
        return {
            "JobRuns": [
                {"Id": "jr_old", "JobRunState": "SUCCEEDED", "StartedOn": "2026-11-24T09:00:00Z"},
                {"Id": "jr_1", "JobRunState": "RUNNING", "StartedOn": self.started},
            ]
        }

    def logs(self, run_id: str) -> str:
        assert run_id == "jr_1"
        return self.log


def _glue_task_events(job: str = "tributary-transform") -> list[dict[str, Any]]:
    t = "2026-11-24T10:00:{:02d}Z".format
    return [
        _event(1, 0, "ExecutionStarted", t(0)),
        _event(2, 1, "TaskStateEntered", t(0), name="RunTransformJob"),
        _event(
            3,
            2,
            "TaskScheduled",
            t(1),
            resourceType="glue",
            resource="startJobRun.sync",
            parameters=json.dumps({"JobName": job}),
        ),
        _event(4, 3, "TaskStarted", t(1), resourceType="glue", resource="startJobRun.sync"),
    ]


def test_a_long_state_shows_its_elapsed_time_and_the_glue_job_s_spark_stages() -> None:
    from datetime import timedelta

    from tributary.local.views.progress import glue_progress, parse_timestamp

    log = "starting\n[Stage 1:====>  (3 + 1) / 4]\r[Stage 2:>    (120 + 2) / 200][Stage 3:>  (0 + 0) / 8]\r"
    glue = FakeGlue(log)
    tracker = ProgressTracker()
    assert tracker.feed(_glue_task_events()) == ["▶ RunTransformJob"]
    start = parse_timestamp("2026-11-24T10:00:00Z")
    assert start is not None

    def at(seconds: float) -> list[str]:
        now = start + timedelta(seconds=seconds)
        return tracker.still_running(now, every=10, detail=lambda v: glue_progress(glue, v, now))

    assert at(5) == []  # not long yet
    assert at(12) == [
        "… RunTransformJob running 12.0s · Glue job run jr_1 running · "
        "Spark stage 2: 120/200 tasks (2 running), stage 3: 0/8 tasks"
    ]
    assert at(15) == []  # once per 10 seconds
    assert at(80)[0].startswith("… RunTransformJob running 1m 20s · Glue job run jr_1 running · Spark")
    glue.started = "2026-11-24T10:00:30Z"  # the run waited for a slot: its own time is said
    assert at(95)[0].startswith("… RunTransformJob running 1m 35s · Glue job run jr_1 running 1m 05s")
    assert glue.asked == ["tributary-transform"] * 3
    t = "2026-11-24T10:01:{:02d}Z".format
    tracker.feed(
        [_event(5, 4, "TaskSucceeded", t(30)), _event(6, 5, "TaskStateExited", t(30), name="RunTransformJob")]
    )
    assert at(200) == []  # no longer running

    plain = ProgressTracker()
    plain.feed(_glue_task_events("other-job"))
    now = start + timedelta(seconds=30)
    # a job the runtime does not know: the elapsed time alone
    assert plain.still_running(now, detail=lambda v: glue_progress(glue, v, now)) == [
        "… RunTransformJob running 30.0s"
    ]


def test_spark_progress_reads_the_last_progress_bar() -> None:
    from tributary.local.views.progress import spark_progress

    assert spark_progress("no bar here\n") is None
    # as Spark 3.5 wrote it (spark.ui.showConsoleProgress): redrawn after \r, cleared when the stage ends
    running = "\r[Stage 0:=====>          (33 + 1) / 40]\r\r[Stage 0:======>         (34 + 1) / 40]\r"
    assert spark_progress("INFO started\n" + running) == "Spark stage 0: 34/40 tasks (1 running)"
    assert spark_progress("INFO started\n" + running + "\r" + " " * 80 + "\r19900\n") is None
    assert spark_progress("[Stage 0:>  (0 + 2) / 2]\n[Stage 5:=====> (7 + 0) / 9]\nlater line\n") == (
        "Spark stage 5: 7/9 tasks"
    )


def test_a_map_retried_after_a_failed_iteration_is_a_retry_of_the_map() -> None:
    # A Retry starts the Map again with MapStateStarted after the failed iteration's last state.
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.files",
                "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 1, "IntervalSeconds": 1}],
                "ItemProcessor": {
                    "StartAt": "Load",
                    "States": {"Load": {"Type": "Task", "Resource": LAMBDA, "End": True}},
                },
                "End": True,
            }
        },
    }
    calls = {"n": 0}

    def answer(call: TaskCall) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise StatesError("Boom", "once")
        return {}

    lines = progress_lines(history(definition, answer, {"files": [0, 1]}))
    assert "  ✘ Load [1] 0.0s Boom: once" in lines  # when it failed, not when the Map started again
    assert "↻ Each retry 1 after Boom: once" in lines
    assert lines[-2:] == ["✔ Each 1.0s (2 iterations) after 1 retry", "✔ execution succeeded in 1.0s"]
    assert not any("stopped" in line for line in lines)


def test_a_task_waiting_for_its_token_is_said_to_wait_every_ten_minutes_only() -> None:
    """AwaitApproval may wait a day for a person: not a line every 10 seconds."""
    from datetime import timedelta

    from tributary.local.views.progress import WAITING_TICK, parse_timestamp

    t = "2026-11-24T10:00:{:02d}Z".format
    tracker = ProgressTracker()
    tracker.feed(
        [
            _event(1, 0, "ExecutionStarted", t(0)),
            _event(2, 1, "TaskStateEntered", t(0), name="AwaitApproval"),
            _event(3, 2, "TaskScheduled", t(0), resourceType="lambda", resource="invoke.waitForTaskToken"),
            _event(4, 3, "TaskStarted", t(0), resourceType="lambda", resource="invoke.waitForTaskToken"),
        ]
    )
    start = parse_timestamp(t(0))
    assert start is not None

    def at(seconds: float) -> list[str]:
        return tracker.still_running(start + timedelta(seconds=seconds), every=10)

    assert at(12) == [] and at(WAITING_TICK - 1) == []
    assert at(WAITING_TICK + 1) == ["… AwaitApproval waiting for its task token 10m 01s"]
    assert at(WAITING_TICK + 30) == []  # once per WAITING_TICK
    assert at(2 * WAITING_TICK + 2) == ["… AwaitApproval waiting for its task token 20m 02s"]
