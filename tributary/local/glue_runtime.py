"""Glue job runs on local Spark: StartJobRun runs the job's script in a subprocess, as Glue would.

The script gets the job's DefaultArguments overlaid with the run's Arguments (Glue's own `--JOB_NAME`
and `--JOB_RUN_ID` too) and reaches S3 through `S3Mirror`: objects named by the arguments are copied
to a local folder first, and what the run wrote there is uploaded to the local S3 after it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tributary.local.athena_runtime import parse_s3_uri
from tributary.local.faults import FaultInjector
from tributary.local.provisioning import ProvisionedStack
from tributary.local.s3_mirror import S3Mirror

# The argument through which transform.py maps s3:// to local paths (glue/transform.py docstring).
SPARK_PATH_PREFIX_ARGUMENT = "--spark_path_prefix"
FINISHED_STATES = ("SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED", "ERROR")


class GlueError(Exception):
    """A Glue API error: `code` is the exception name Glue returns (EntityNotFoundException, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class JobConfig:
    name: str
    script: str  # local path (relative to the template) or s3:// URI
    default_arguments: Mapping[str, str] = field(default_factory=dict)
    max_concurrent_runs: int = 1
    timeout_minutes: int = 2880
    glue_version: str = "5.0"
    worker_type: str = "G.1X"
    number_of_workers: int = 2


@dataclass
class JobRun:
    id: str
    job_name: str
    arguments: dict[str, str]
    timeout_minutes: int
    state: str = "STARTING"
    error_message: str = ""
    started_on: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    last_modified_on: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    completed_on: dt.datetime | None = None
    log_path: Path | None = None
    finished: threading.Event = field(default_factory=threading.Event)
    stop_requested: threading.Event = field(default_factory=threading.Event)
    process: subprocess.Popen[bytes] | None = None

    def describe(self, job: JobConfig) -> dict[str, Any]:
        """GetJobRun's JobRun."""
        end = self.completed_on or dt.datetime.now(dt.UTC)
        run: dict[str, Any] = {
            "Id": self.id,
            "Attempt": 0,
            "JobName": self.job_name,
            "JobMode": "SCRIPT",
            "StartedOn": self.started_on,
            "LastModifiedOn": self.last_modified_on,
            "JobRunState": self.state,
            "Arguments": dict(self.arguments),
            "PredecessorRuns": [],
            "AllocatedCapacity": job.number_of_workers,
            "ExecutionTime": int((end - self.started_on).total_seconds()),
            "Timeout": self.timeout_minutes,
            "MaxCapacity": float(job.number_of_workers),
            "WorkerType": job.worker_type,
            "NumberOfWorkers": job.number_of_workers,
            "LogGroupName": "/aws-glue/jobs",
            "GlueVersion": job.glue_version,
        }
        if self.completed_on:
            run["CompletedOn"] = self.completed_on
        if self.error_message:
            run["ErrorMessage"] = self.error_message
        return run


def job_configs(stack: ProvisionedStack) -> list[JobConfig]:
    configs = []
    for resource in stack.of_type("AWS::Glue::Job"):
        props = resource.properties
        configs.append(
            JobConfig(
                name=resource.physical_id,
                script=str(props["Command"]["ScriptLocation"]),
                default_arguments={k: str(v) for k, v in (props.get("DefaultArguments") or {}).items()},
                max_concurrent_runs=int((props.get("ExecutionProperty") or {}).get("MaxConcurrentRuns", 1)),
                timeout_minutes=int(props.get("Timeout", 2880)),
                glue_version=str(props.get("GlueVersion", "5.0")),
                worker_type=str(props.get("WorkerType", "G.1X")),
                number_of_workers=int(props.get("NumberOfWorkers", 2)),
            )
        )
    return configs


StateListener = Callable[[JobConfig, JobRun], None]


class GlueRuntime:
    """StartJobRun / GetJobRun / GetJobRuns / BatchStopJobRun for the stack's jobs."""

    def __init__(
        self,
        jobs: list[JobConfig],
        client_factory: Any,
        base_env: Mapping[str, str],
        root: Path,
        work_dir: Path,
        spark_cores: int = 2,
        on_state_change: StateListener | None = None,
        seconds_per_minute: float = 60.0,
    ) -> None:
        self._jobs = {job.name: job for job in jobs}
        self._client = client_factory
        self._base_env = dict(base_env)
        self._root = root
        self._work_dir = work_dir
        self._spark_cores = spark_cores
        self._runs: dict[str, JobRun] = {}
        self._lock = threading.Lock()
        self.mirror = S3Mirror(work_dir / "s3", client_factory("s3"))
        self._on_state_change = on_state_change
        # Job timeouts are in minutes; tests shrink the minute rather than wait for one.
        self._seconds_per_minute = seconds_per_minute
        self.faults: FaultInjector | None = None  # a fault plan's glue_job faults (tributary.local.faults)
        self.job_aliases: dict[str, str] = {}  # job name → logical id, the names a fault plan may use

    # -- API ---------------------------------------------------------------------------------------
    def start_job_run(
        self, JobName: str, Arguments: Mapping[str, str] | None = None, Timeout: int | None = None, **_: Any
    ) -> dict[str, str]:
        job = self._job(JobName)
        with self._lock:
            running = [
                r for r in self._runs.values() if r.job_name == JobName and r.state not in FINISHED_STATES
            ]
            if len(running) >= job.max_concurrent_runs:
                raise GlueError("ConcurrentRunsExceededException", f"Concurrent runs exceeded for {JobName}")
            run_id = "jr_" + uuid.uuid4().hex + uuid.uuid4().hex[:32]
            arguments = {**job.default_arguments, **{k: str(v) for k, v in (Arguments or {}).items()}}
            run = JobRun(run_id, JobName, arguments, Timeout if Timeout is not None else job.timeout_minutes)
            self._runs[run_id] = run
        threading.Thread(
            target=self._execute, args=(job, run), name=f"glue-{run_id[:12]}", daemon=True
        ).start()
        return {"JobRunId": run_id}

    def get_job_run(self, JobName: str, RunId: str, **_: Any) -> dict[str, Any]:
        job = self._job(JobName)
        run = self._runs.get(RunId)
        if run is None or run.job_name != JobName:
            raise GlueError("EntityNotFoundException", f"Job Run with id {RunId} not found")
        return {"JobRun": run.describe(job)}

    def get_job_runs(self, JobName: str, **_: Any) -> dict[str, Any]:
        job = self._job(JobName)
        runs = sorted((r for r in self._runs.values() if r.job_name == JobName), key=lambda r: r.started_on)
        return {"JobRuns": [r.describe(job) for r in reversed(runs)]}

    def batch_stop_job_run(self, JobName: str, JobRunIds: list[str], **_: Any) -> dict[str, Any]:
        stopped, errors = [], []
        for run_id in JobRunIds:
            run = self._runs.get(run_id)
            if run is None or run.state in FINISHED_STATES:
                errors.append(
                    {
                        "JobName": JobName,
                        "JobRunId": run_id,
                        "ErrorDetail": {"ErrorCode": "InvalidInputException"},
                    }
                )
                continue
            run.stop_requested.set()
            self._set_state(run, "STOPPING")
            if run.process is not None:
                run.process.kill()
            stopped.append({"JobName": JobName, "JobRunId": run_id})
        return {"SuccessfulSubmissions": stopped, "Errors": errors}

    def wait(self, run_id: str, timeout: float | None = None) -> JobRun:
        run = self._runs[run_id]
        run.finished.wait(timeout)
        return run

    def logs(self, run_id: str) -> str:
        run = self._runs[run_id]
        return run.log_path.read_text(errors="replace") if run.log_path and run.log_path.exists() else ""

    def _job(self, name: str) -> JobConfig:
        job = self._jobs.get(name)
        if job is None:
            raise GlueError("EntityNotFoundException", f"Job {name} not found")
        return job

    # -- execution ---------------------------------------------------------------------------------
    def _set_state(self, run: JobRun, state: str, message: str = "") -> None:
        run.state = state
        run.last_modified_on = dt.datetime.now(dt.UTC)
        if message:
            run.error_message = message
        if state in FINISHED_STATES:
            run.completed_on = run.last_modified_on
        job = self._jobs[run.job_name]
        if self._on_state_change is not None:
            self._on_state_change(job, run)
        if state in FINISHED_STATES:
            run.finished.set()

    def _execute(self, job: JobConfig, run: JobRun) -> None:
        logs_dir = self._work_dir / "glue-logs"
        logs_dir.mkdir(parents=True, exist_ok=True)
        run.log_path = logs_dir / f"{run.id}.log"
        try:
            script = self._script(job)
            self.mirror.stage_arguments(run.arguments)
            before = self.mirror.snapshot()
            if run.stop_requested.is_set():
                self._set_state(run, "STOPPED")
                return
            names = (job.name, self.job_aliases.get(job.name, ""))
            execution = run.arguments.get("--run_id", "")  # a plan's `execution` filter sees the run id
            fault = self.faults.match("glue_job", *names, execution=execution) if self.faults else None
            if fault is not None and fault.action == "delay":
                run.stop_requested.wait(fault.delay_seconds)
            self._set_state(run, "RUNNING")
            command = [sys.executable, str(script)]
            arguments = {**run.arguments, "--JOB_NAME": job.name, "--JOB_RUN_ID": run.id}
            arguments.setdefault(SPARK_PATH_PREFIX_ARGUMENT, self.mirror.spark_prefix)
            for key, value in arguments.items():
                command += [key if key.startswith("--") else f"--{key}", value]
            with run.log_path.open("wb") as log:
                run.process = subprocess.Popen(
                    command, stdout=log, stderr=subprocess.STDOUT, env=self._env(), cwd=self._root
                )
                if run.stop_requested.is_set():  # stopped while it was starting
                    run.process.kill()
                wait_seconds = run.timeout_minutes * self._seconds_per_minute
                if fault is not None and fault.action == "timeout":  # the run times out after delay_seconds
                    wait_seconds = fault.delay_seconds
                killer = threading.Timer(fault.delay_seconds if fault else 0.0, run.process.kill)
                if fault is not None and fault.action == "kill":  # the job's process dies mid-way
                    killer.start()
                try:
                    code = run.process.wait(timeout=wait_seconds)
                    killer.cancel()
                except subprocess.TimeoutExpired:
                    killer.cancel()
                    run.process.kill()
                    run.process.wait()
                    self._set_state(run, "TIMEOUT", f"Job run timed out after {run.timeout_minutes} minutes")
                    return
            if run.stop_requested.is_set():
                self._set_state(run, "STOPPED")
                return
            outputs = [v for k, v in run.arguments.items() if isinstance(v, str) and v.startswith("s3://")]
            self.mirror.publish_changes(before, outputs)
            if code == 0:
                self._set_state(run, "SUCCEEDED")
            else:
                self._set_state(run, "FAILED", _error_message(run.log_path, code))
        except Exception as exc:  # staging or publication failed: Glue calls this an ERROR run
            self._set_state(run, "ERROR", f"{type(exc).__name__}: {exc}")

    def _script(self, job: JobConfig) -> Path:
        if job.script.startswith("s3://"):
            bucket, key = parse_s3_uri(job.script)
            return self.mirror.fetch(bucket, key)
        path = (self._root / job.script).resolve()
        if not path.exists():
            raise FileNotFoundError(f"script {job.script} not found")
        return path

    def _env(self) -> dict[str, str]:
        return spark_job_env(self._base_env, self._spark_cores)


def spark_job_env(base_env: Mapping[str, str], cores: int) -> dict[str, str]:
    """The environment of a job script's process: ours without AWS settings, then `base_env`, then
    a small local Spark (no UI, few shuffle partitions, the cores we were given)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "PYSPARK"))}
    env.update(base_env)
    env.update(
        {
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
            "SPARK_LOCAL_IP": "127.0.0.1",
            "PYSPARK_SUBMIT_ARGS": (
                f"--master local[{cores}] --conf spark.ui.enabled=false "
                "--conf spark.sql.shuffle.partitions=4 --conf spark.driver.memory=1g pyspark-shell"
            ),
        }
    )
    return env


def _error_message(log_path: Path, code: int) -> str:
    """The job's own account of the failure: the last error its logs name, else the exit status."""
    message = ""
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            if "Error" in line or "Exception" in line:
                message = line.strip()
            continue
        if isinstance(entry, dict) and entry.get("level") == "ERROR":
            if entry.get("error_message"):  # the job's own one-line account (glue/transform.py)
                return str(entry["error_message"])
            exception = str(entry.get("exception") or "").strip().splitlines()
            message = exception[-1] if exception else str(entry.get("message", ""))
    return message or f"Command failed with exit code {code}"
