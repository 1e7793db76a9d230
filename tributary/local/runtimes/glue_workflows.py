"""Glue Workflows, locally: the runs of the template's AWS::Glue::Workflow and AWS::Glue::Trigger resources
(created by `tributary.local.provisioning.glue_workflow_resources`), their EVENT trigger fed by
EventBridge, and workflow runs that start the jobs on the local Glue runtime.

What AWS does, and what this does:
- An EventBridge rule targets a workflow (its ARN, with a role allowed `glue:notifyEvent`). The
  workflow's EVENT trigger batches the events (`EventBatchingCondition`: BatchSize events, or
  BatchWindow seconds after the first one) and then starts a workflow run whose run property
  `aws:eventIds` lists the batch's event ids. Here the event bus's deliverer for `glue` ARNs calls
  `notify_event`; the window is a timer (shortened by `window_cap`, as the local SQS batch windows are).
- A run starts the trigger's actions (jobs) with `--WORKFLOW_NAME` and `--WORKFLOW_RUN_ID`; each job that
  ends is matched against the workflow's CONDITIONAL triggers (predicate AND/ANY of job states), whose
  actions start in turn. The run is COMPLETED when nothing runs any more and no trigger fires: as on AWS,
  a failed job does not fail the run, its statistics say so (FailedActions).
- State: moto holds the workflows, triggers and run properties (CreateWorkflow, CreateTrigger,
  StartWorkflowRun, Get/PutWorkflowRunProperties are moto's, reached through the Glue endpoint);
  moto keeps no run status or statistics, so GetWorkflowRun(s) are answered here with moto's record
  plus this runtime's status, CompletedOn, Statistics and StartingEventBatchCondition.
- MaxConcurrentRuns: a batch that would exceed it waits for a run to end (not emulated: AWS's own
  behaviour there is not documented for event triggers).
- Not emulated: crawler actions, SCHEDULED triggers, ResumeWorkflowRun, StopWorkflowRun, blueprints.
  Runs are kept in memory: a restarted stack lists none (moto's saved state still has their properties).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tributary.local.provisioning.resources import Resource
from tributary.local.runtimes.glue_runtime import FINISHED_STATES, GlueError, JobConfig

LOGGER = logging.getLogger("tributary.local.runtimes.glue_workflows")
EVENT_IDS_PROPERTY = "aws:eventIds"


def scripts_beside_template(jobs: list[JobConfig], template_dir: Path, root: Path) -> list[JobConfig]:
    """Relative ScriptLocations are relative to the template's folder, as `sam build` reads them: a
    template outside the project root (templates/glue-workflow.yaml) names `../glue/...`."""
    if template_dir.resolve() == root.resolve():
        return jobs
    resolved = []
    for job in jobs:
        script = job.script
        if not script.startswith("s3://") and not Path(script).is_absolute():
            script = str((template_dir / script).resolve())
        resolved.append(JobConfig(**{**job.__dict__, "script": script}))
    return resolved


@dataclass
class Trigger:
    name: str
    workflow: str
    type: str
    actions: list[str]  # job names
    conditions: list[tuple[str, str]] = field(default_factory=list)  # (job name, state)
    logical: str = "AND"
    batch_size: int = 1
    batch_window: int = 900

    def fires(self, states: dict[str, str]) -> bool:
        met = [states.get(job) == state for job, state in self.conditions]
        return bool(met) and (all(met) if self.logical == "AND" else any(met))


@dataclass
class WorkflowRun:
    workflow: str
    run_id: str
    started_on: dt.datetime
    batch: tuple[int, int] | None  # (events, window seconds) of the starting batch
    status: str = "RUNNING"
    completed_on: dt.datetime | None = None
    job_states: dict[str, str] = field(default_factory=dict)  # job name → its run's state in this run
    job_runs: dict[str, str] = field(default_factory=dict)  # job name → job run id
    error: str = ""
    finished: threading.Event = field(default_factory=threading.Event)

    def statistics(self) -> dict[str, int]:
        states = list(self.job_states.values())
        count = states.count
        return {
            "TotalActions": len(states),
            "TimeoutActions": count("TIMEOUT"),
            "FailedActions": count("FAILED"),
            "StoppedActions": count("STOPPED"),
            "SucceededActions": count("SUCCEEDED"),
            "RunningActions": sum(1 for s in states if s not in FINISHED_STATES),
            "ErroredActions": count("ERROR"),
            "WaitingActions": 0,
        }


@dataclass
class _Batch:
    events: list[str] = field(default_factory=list)
    timer: threading.Timer | None = None


class GlueWorkflows:
    """The EVENT trigger's batches and the workflow runs of the stack's workflows."""

    def __init__(
        self,
        workflows: list[Resource],
        triggers: list[Resource],
        glue: Any,  # GlueRuntime: start_job_run, wait
        moto_glue: Any,  # boto3 Glue client of moto
        window_cap: float | None = None,
    ) -> None:
        self._glue = glue
        self._moto = moto_glue
        self._window_cap = window_cap
        self._max_runs = {w.physical_id: int(w.properties.get("MaxConcurrentRuns") or 0) for w in workflows}
        self.triggers = [_trigger_of(t) for t in triggers]
        self.runs: dict[str, WorkflowRun] = {}
        self._batches: dict[str, _Batch] = {}
        self._lock = threading.Condition()
        self._closed = False
        self.on_run_end: Callable[[WorkflowRun], None] | None = None
        self.progress: list[str] = []  # what happened, one line each, for `tributary up` to print

    @property
    def workflows(self) -> list[str]:
        return list(self._max_runs)

    # -- EventBridge → the EVENT trigger -------------------------------------------------------------
    def notify_event(self, arn: str, body: str) -> None:
        """The event bus's delivery to a workflow ARN (`arn:aws:glue:<region>:<account>:workflow/NAME`)."""
        name = arn.split(":workflow/", 1)[-1] if ":workflow/" in arn else ""
        if name not in self._max_runs:
            raise GlueError("EntityNotFoundException", f"workflow {name or arn} not found")
        trigger = next((t for t in self.triggers if t.workflow == name and t.type == "EVENT"), None)
        if trigger is None:  # AWS accepts the event and starts nothing
            LOGGER.warning("workflow %s has no EVENT trigger: event ignored", name)
            return
        event = json.loads(body) if body else {}
        event_id = str(event.get("id", "")) if isinstance(event, dict) else ""
        with self._lock:
            batch = self._batches.setdefault(trigger.name, _Batch())
            batch.events.append(event_id)
            if len(batch.events) >= trigger.batch_size:
                self._release(trigger, "size")
            elif batch.timer is None:
                window = float(trigger.batch_window)
                if self._window_cap is not None:
                    window = min(window, self._window_cap)
                batch.timer = threading.Timer(window, self._window_ended, args=(trigger,))
                batch.timer.daemon = True
                batch.timer.start()

    def _window_ended(self, trigger: Trigger) -> None:
        with self._lock:
            self._release(trigger, "window")

    def _release(self, trigger: Trigger, reason: str) -> None:
        """Start a run with the pending batch (the lock is held)."""
        batch = self._batches.pop(trigger.name, None)
        if batch is None or not batch.events:
            return
        if batch.timer is not None:
            batch.timer.cancel()
        LOGGER.info("workflow %s: batch of %d events (%s)", trigger.workflow, len(batch.events), reason)
        full = "batch size reached" if reason == "size" else "batch window ended"
        self.progress.append(f"{trigger.workflow}: {len(batch.events)} event(s), {full}")
        properties = {EVENT_IDS_PROPERTY: json.dumps(batch.events)}
        threading.Thread(
            target=self._start_when_allowed,
            args=(trigger, properties, (len(batch.events), trigger.batch_window)),
            name=f"workflow-{trigger.workflow}",
            daemon=True,
        ).start()

    def _start_when_allowed(
        self, trigger: Trigger, properties: dict[str, str], batch: tuple[int, int]
    ) -> None:
        limit = self._max_runs.get(trigger.workflow, 0)
        with self._lock:
            while limit and not self._closed and self._running(trigger.workflow) >= limit:
                self._lock.wait(0.5)
            if self._closed:
                return
            run = self._begin(trigger.workflow, properties, batch)
        self._execute(run, trigger)

    def _running(self, workflow: str) -> int:
        return sum(1 for r in self.runs.values() if r.workflow == workflow and r.status == "RUNNING")

    # -- runs --------------------------------------------------------------------------------------------
    def _begin(self, workflow: str, properties: dict[str, str], batch: tuple[int, int] | None) -> WorkflowRun:
        run_id = self._moto.start_workflow_run(Name=workflow, RunProperties=properties)["RunId"]
        run = WorkflowRun(workflow, run_id, dt.datetime.now(dt.UTC), batch)
        self.runs[run_id] = run
        self.progress.append(f"{workflow}: run {run_id} started")
        return run

    def start_workflow_run(
        self, Name: str, RunProperties: dict[str, str] | None = None, **_: Any
    ) -> dict[str, str]:
        """StartWorkflowRun: the workflow's starting trigger's actions, now (no batch)."""
        if Name not in self._max_runs:
            raise GlueError("EntityNotFoundException", f"Entity not found: workflow {Name}")
        trigger = next((t for t in self.triggers if t.workflow == Name and t.type != "CONDITIONAL"), None)
        if trigger is None:
            raise GlueError("InvalidInputException", f"workflow {Name} has no starting trigger")
        limit = self._max_runs[Name]
        with self._lock:
            if limit and self._running(Name) >= limit:
                raise GlueError("ConcurrentRunsExceededException", f"Concurrent runs exceeded for {Name}")
            run = self._begin(Name, dict(RunProperties or {}), None)
        threading.Thread(
            target=self._execute, args=(run, trigger), name=f"workflow-{Name}", daemon=True
        ).start()
        return {"RunId": run.run_id}

    def _execute(self, run: WorkflowRun, start: Trigger) -> None:
        fired = {start.name}
        pending = list(start.actions)
        try:
            while pending:
                started = [(job, self._start_job(run, job)) for job in pending]
                pending = []
                for job, job_run_id in started:
                    if job_run_id is None:
                        continue
                    ended = self._glue.wait(job_run_id)
                    run.job_states[job] = ended.state
                    self.progress.append(f"{run.workflow}: run {run.run_id}: job {job} {ended.state}")
                for trigger in self.triggers:
                    if trigger.workflow != run.workflow or trigger.type != "CONDITIONAL":
                        continue
                    if trigger.name not in fired and trigger.fires(run.job_states):
                        fired.add(trigger.name)
                        pending += trigger.actions
            run.status = "COMPLETED"
        except Exception as exc:  # the runtime could not start or follow a job: the run is in ERROR
            LOGGER.exception("workflow run %s failed", run.run_id)
            run.status, run.error = "ERROR", f"{type(exc).__name__}: {exc}"
        finally:
            run.completed_on = dt.datetime.now(dt.UTC)
            seconds = (run.completed_on - run.started_on).total_seconds()
            counts = ", ".join(
                f"{k.removesuffix('Actions').lower()} {v}" for k, v in run.statistics().items() if v
            )
            self.progress.append(
                f"{run.workflow}: run {run.run_id} {run.status} in {seconds:.1f} s ({counts})"
            )
            run.finished.set()
            with self._lock:
                self._lock.notify_all()
            if self.on_run_end is not None:
                self.on_run_end(run)

    def _start_job(self, run: WorkflowRun, job: str) -> str | None:
        arguments = {"--WORKFLOW_NAME": run.workflow, "--WORKFLOW_RUN_ID": run.run_id}
        try:
            job_run_id = str(self._glue.start_job_run(JobName=job, Arguments=arguments)["JobRunId"])
        except GlueError as exc:  # e.g. ConcurrentRunsExceeded: the action fails, as on AWS
            LOGGER.warning("workflow run %s: job %s did not start: %s", run.run_id, job, exc)
            run.job_states[job] = "FAILED"
            return None
        run.job_runs[job] = job_run_id
        run.job_states[job] = "RUNNING"
        self.progress.append(f"{run.workflow}: run {run.run_id}: job {job} started ({job_run_id})")
        return job_run_id

    def wait(self, run_id: str, timeout: float | None = None) -> WorkflowRun:
        run = self.runs[run_id]
        run.finished.wait(timeout)
        return run

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for batch in self._batches.values():
                if batch.timer is not None:
                    batch.timer.cancel()
            self._batches.clear()
            self._lock.notify_all()

    # -- the Glue API ------------------------------------------------------------------------------------
    def describe(self, run: WorkflowRun) -> dict[str, Any]:
        """GetWorkflowRun's Run: moto's record (name, id, properties, previous run) and ours."""
        described: dict[str, Any] = dict(
            self._moto.get_workflow_run(Name=run.workflow, RunId=run.run_id, IncludeGraph=False)["Run"]
        )
        described.update({"Status": run.status, "Statistics": run.statistics(), "StartedOn": run.started_on})
        if run.completed_on is not None:
            described["CompletedOn"] = run.completed_on
        if run.error:
            described["ErrorMessage"] = run.error
        if run.batch is not None:
            described["StartingEventBatchCondition"] = {
                "BatchSize": run.batch[0],
                "BatchWindow": run.batch[1],
            }
        return described

    def get_workflow_run(self, Name: str, RunId: str, **_: Any) -> dict[str, Any]:
        run = self.runs.get(RunId)
        if run is None or run.workflow != Name:
            raise GlueError("EntityNotFoundException", f"Workflow run {RunId} of {Name} not found")
        return {"Run": self.describe(run)}

    def get_workflow_runs(self, Name: str, MaxResults: int = 100, **_: Any) -> dict[str, Any]:
        if Name not in self._max_runs:
            raise GlueError("EntityNotFoundException", f"Entity not found: workflow {Name}")
        runs = sorted((r for r in self.runs.values() if r.workflow == Name), key=lambda r: r.started_on)
        return {"Runs": [self.describe(r) for r in reversed(runs)][: int(MaxResults)]}

    def operations(self) -> dict[str, Callable[..., dict[str, Any]]]:
        """The operations the Glue endpoint answers from here (the others, moto's, pass through)."""
        return {
            "StartWorkflowRun": self.start_workflow_run,
            "GetWorkflowRun": self.get_workflow_run,
            "GetWorkflowRuns": self.get_workflow_runs,
        }


def _trigger_of(resource: Resource) -> Trigger:
    props = resource.properties
    predicate = props.get("Predicate") or {}
    batching = props.get("EventBatchingCondition") or {}
    return Trigger(
        name=resource.physical_id,
        workflow=str(props.get("WorkflowName", "")),
        type=str(props.get("Type", "ON_DEMAND")),
        actions=[str(a["JobName"]) for a in props.get("Actions", []) if "JobName" in a],
        conditions=[
            (str(c["JobName"]), str(c.get("State", "SUCCEEDED")))
            for c in predicate.get("Conditions", [])
            if "JobName" in c
        ],
        logical=str(predicate.get("Logical", "AND")),
        batch_size=int(batching.get("BatchSize", 1)),
        batch_window=int(batching.get("BatchWindow", 900)),
    )
