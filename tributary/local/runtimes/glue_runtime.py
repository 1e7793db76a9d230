"""Glue job runs on local Spark: StartJobRun runs the job's script, as Glue would.

The script gets the job's DefaultArguments overlaid with the run's Arguments (Glue's own `--JOB_NAME`
and `--JOB_RUN_ID` too) and reaches S3 through `S3Mirror`: objects named by the arguments are copied
to a local folder first, and what the run wrote there is uploaded to the local S3 after it.

Two modes. `warm` (the default): runs go to long-lived worker processes (`spark_worker.py`, one Python
and one JVM each) that keep Spark started between runs, each run isolated in its own SparkSession; a
worker that dies, or is killed to stop or time out a run, is replaced by a fresh one for the next run.
`cold`: each run is a new `python <script>` process that starts its own JVM (what Glue does on AWS,
and this runtime's behaviour before the warm mode; kept for comparison). In both, at most
`spark_workers` runs execute at once; the others wait in state WAITING, in the order they started.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tributary.local.faults import FaultInjector
from tributary.local.provisioning import ProvisionedStack
from tributary.local.runtimes.athena_runtime import parse_s3_uri
from tributary.local.runtimes.s3_mirror import S3Mirror

# The argument through which transform.py maps s3:// to local paths (glue/transform.py docstring).
SPARK_PATH_PREFIX_ARGUMENT = "--spark_path_prefix"
FINISHED_STATES = ("SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED", "ERROR")
MODES = ("warm", "cold")
# Heads the JVM's output appended to a warm run's log; the run's error message is read above it.
WORKER_LOG_MARK = "-- Spark worker log during this run --"


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


class _Killable(Protocol):
    def kill(self) -> None: ...


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
    process: _Killable | None = None  # the run's process (cold) or the worker running it (warm)
    worker_pid: int | None = None  # warm mode: the worker process that ran it

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
        mode: str = "warm",
        spark_workers: int = 1,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"Glue runtime mode must be one of {', '.join(MODES)}, not {mode!r}")
        if spark_workers < 1:
            raise ValueError(f"spark_workers must be at least 1, not {spark_workers}")
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
        self.mode = mode
        self._slots = _Slots(spark_workers)  # runs executing at once; the others are WAITING
        self._idle: list[_SparkWorker] = []  # warm workers between runs
        self._workers: set[_SparkWorker] = set()  # every live warm worker, busy or idle
        self._worker_numbers = itertools.count(1)
        self._closed = False

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
            self._slots.enqueue(run_id)  # runs execute in the order they were started
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
            self._slots.wake()  # a WAITING run leaves the queue
            stopped.append({"JobName": JobName, "JobRunId": run_id})
        return {"SuccessfulSubmissions": stopped, "Errors": errors}

    def wait(self, run_id: str, timeout: float | None = None) -> JobRun:
        run = self._runs[run_id]
        run.finished.wait(timeout)
        return run

    def logs(self, run_id: str) -> str:
        run = self._runs[run_id]
        return run.log_path.read_text(errors="replace") if run.log_path and run.log_path.exists() else ""

    def spark_stages(self, run_id: str) -> list[dict[str, int]] | None:
        """Warm mode: the active Spark stages of a running run, as its worker last reported them
        (`[{"stage", "done", "running", "failed", "total"}]`, tasks per stage; [] between stages).
        None when the run reports none (cold mode, whose log shows Spark's progress bar instead; a
        run not running yet, or ended)."""
        run = self._runs.get(run_id)
        if run is None or run.log_path is None or run.state != "RUNNING":
            return None
        try:
            document = json.loads(_stages_path(run.log_path).read_text())
        except (OSError, ValueError):
            return None
        stages = document.get("stages") if isinstance(document, dict) else None
        return stages if isinstance(stages, list) else None

    def prewarm(self) -> None:
        """Warm mode: start a worker and Spark in it now (in the background), so that the first run
        finds Spark started. It holds a slot while Spark starts, so it never adds a JVM to a busy one."""
        if self.mode == "warm":
            threading.Thread(target=self._prewarm, name="glue-prewarm", daemon=True).start()

    def close(self) -> None:
        """Kill the warm workers (their JVMs with them)."""
        with self._lock:
            self._closed = True
            workers, self._idle = list(self._workers), []
        for worker in workers:
            worker.kill()

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
            if run.stop_requested.is_set():
                self._set_state(run, "STOPPED")
                return
            names = (job.name, self.job_aliases.get(job.name, ""))
            execution = run.arguments.get("--run_id", "")  # a plan's `execution` filter sees the run id
            fault = self.faults.match("glue_job", *names, execution=execution) if self.faults else None
            if fault is not None and fault.action == "delay":
                run.stop_requested.wait(fault.delay_seconds)
            if not self._slots.acquire(run.id, run.stop_requested, lambda: self._set_state(run, "WAITING")):
                self._set_state(run, "STOPPED")  # stopped while it waited
                return
            try:
                before = self.mirror.snapshot()
                self._set_state(run, "RUNNING")
                arguments = {**run.arguments, "--JOB_NAME": job.name, "--JOB_RUN_ID": run.id}
                arguments.setdefault(SPARK_PATH_PREFIX_ARGUMENT, self.mirror.spark_prefix)
                argv: list[str] = []
                for key, value in arguments.items():
                    argv += [key if key.startswith("--") else f"--{key}", value]
                wait_seconds = run.timeout_minutes * self._seconds_per_minute
                if fault is not None and fault.action == "timeout":  # the run times out after delay_seconds
                    wait_seconds = fault.delay_seconds
                kill_after = fault.delay_seconds if fault is not None and fault.action == "kill" else None
                runner = self._run_warm if self.mode == "warm" else self._run_cold
                code = runner(run, script, argv, wait_seconds, kill_after)
            finally:
                self._slots.release()
            if code is None:
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
        finally:
            self._slots.leave(run.id)  # if it ended before its turn

    def _run_cold(
        self, run: JobRun, script: Path, argv: list[str], wait_seconds: float, kill_after: float | None
    ) -> int | None:
        """`python <script>` in its own process (and JVM); its exit status, None if it timed out."""
        assert run.log_path is not None
        with run.log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, str(script), *argv],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env(),
                cwd=self._root,
            )
            run.process = process
            if run.stop_requested.is_set():  # stopped while it was starting
                process.kill()
            killer = threading.Timer(kill_after or 0.0, process.kill)
            if kill_after is not None:  # the job's process dies mid-way
                killer.start()
            try:
                return process.wait(timeout=wait_seconds)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                return None
            finally:
                killer.cancel()

    def _run_warm(
        self, run: JobRun, script: Path, argv: list[str], wait_seconds: float, kill_after: float | None
    ) -> int | None:
        """The script in a warm worker; its exit status (a killed worker's is the signal's, as a killed
        process's), None if it timed out. A worker that died or was killed is not used again."""
        assert run.log_path is not None
        run.log_path.write_bytes(b"")
        worker = self._take_worker()
        run.process, run.worker_pid = worker, worker.pid
        if run.stop_requested.is_set():
            worker.kill()
        killer = threading.Timer(kill_after or 0.0, worker.kill)
        if kill_after is not None:  # the worker dies mid-way (its JVM with it)
            killer.start()
        jvm_log = worker.log_size()
        stages = _stages_path(run.log_path)
        request = {"script": str(script), "argv": argv, "log": str(run.log_path), "progress": str(stages)}
        try:
            response = worker.call(request, timeout=wait_seconds)
        except TimeoutError:
            worker.kill()
            return None
        finally:
            killer.cancel()
            worker.copy_log_since(jvm_log, run.log_path)
            stages.unlink(missing_ok=True)  # a killed worker could not remove it
        if response is None or response.get("spark_stopped"):
            worker.kill()
            self._forget(worker)
            return int(response["code"]) if response else worker.exit_code()
        run.process = None  # a late BatchStopJobRun must not kill the worker's next run
        self._give_back(worker)
        return int(response["code"])

    def _take_worker(self) -> _SparkWorker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive():
                    return worker
                self._workers.discard(worker)
            number = next(self._worker_numbers)
        logs_dir = self._work_dir / "glue-logs"
        logs_dir.mkdir(parents=True, exist_ok=True)
        worker = _SparkWorker(self._env(), self._root, logs_dir / f"spark-worker-{number}.log")
        with self._lock:
            self._workers.add(worker)
            if self._closed:
                worker.kill()
        return worker

    def _give_back(self, worker: _SparkWorker) -> None:
        with self._lock:
            if worker.alive() and not self._closed:
                self._idle.append(worker)
                return
            self._workers.discard(worker)
        worker.kill()

    def _forget(self, worker: _SparkWorker) -> None:
        with self._lock:
            self._workers.discard(worker)

    def _prewarm(self) -> None:
        never = threading.Event()
        self._slots.enqueue("prewarm")
        if not self._slots.acquire("prewarm", never, lambda: None):
            return
        try:
            worker = self._take_worker()
            try:
                response = worker.call({"boot": True}, timeout=600)
            except TimeoutError:
                response = None
            if response is None:
                worker.kill()
                self._forget(worker)
            else:
                self._give_back(worker)
        finally:
            self._slots.release()

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


def _stages_path(log_path: Path) -> Path:
    """Where a warm worker reports the run's active Spark stages (next to the run's log)."""
    return log_path.with_name(log_path.stem + ".stages.json")


def _error_message(log_path: Path, code: int) -> str:
    """The job's own account of the failure: the last error its logs name, else the exit status."""
    message = ""
    own_output = log_path.read_text(errors="replace").split(f"\n{WORKER_LOG_MARK}\n")[0]
    for line in own_output.splitlines():
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


class _Slots:
    """At most `capacity` runs execute at once; the others wait their turn, first come first served."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._busy = 0
        self._queue: deque[str] = deque()
        self._changed = threading.Condition()

    def _ready(self, run_id: str) -> bool:
        return self._queue[0] == run_id and self._busy < self.capacity

    def enqueue(self, run_id: str) -> None:
        with self._changed:
            self._queue.append(run_id)

    def leave(self, run_id: str) -> None:
        """A run that ends before it executes gives its place up."""
        with self._changed:
            if run_id in self._queue:
                self._queue.remove(run_id)
                self._changed.notify_all()

    def acquire(self, run_id: str, stop: threading.Event, waiting: Callable[[], None]) -> bool:
        """True once the enqueued run may execute (after `waiting()` if it had to wait); False if
        `stop` was set while it waited."""
        with self._changed:
            if self._ready(run_id):
                self._queue.popleft()
                self._busy += 1
                return True
        waiting()
        with self._changed:
            while not self._ready(run_id):
                if stop.is_set():
                    self._queue.remove(run_id)
                    self._changed.notify_all()
                    return False
                self._changed.wait(0.5)
            self._queue.popleft()
            self._busy += 1
            self._changed.notify_all()
            return True

    def release(self) -> None:
        with self._changed:
            self._busy -= 1
            self._changed.notify_all()

    def wake(self) -> None:
        with self._changed:
            self._changed.notify_all()


class _SparkWorker:
    """A warm worker (`python -m tributary.local.runtimes.spark_worker`) in its own process group, so that
    killing it kills its JVM too."""

    def __init__(self, env: Mapping[str, str], root: Path, log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tributary.local.runtimes.spark_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                cwd=root,
                env=dict(env),
                text=True,
                bufsize=1,
                start_new_session=True,
            )
        self.pid = self.process.pid
        self._talk = threading.Lock()

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait()

    def exit_code(self) -> int:
        return self.process.wait()

    def call(self, request: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        """Send a request and wait for its response: None if the worker died first; TimeoutError."""
        with self._talk:
            stdin, stdout = self.process.stdin, self.process.stdout
            assert stdin is not None and stdout is not None
            try:
                stdin.write(json.dumps(request) + "\n")
                stdin.flush()
            except (BrokenPipeError, ValueError):
                return None
            lines: list[str] = []
            reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
            reader.start()
            reader.join(timeout)
            if reader.is_alive():
                raise TimeoutError(f"no response from the Spark worker in {timeout:.0f} s")
            if not lines or not lines[0]:
                return None
            response: dict[str, Any] = json.loads(lines[0])
            return response

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def copy_log_since(self, offset: int, destination: Path) -> None:
        """Append what the worker (its JVM) logged since `offset` to a run's log."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                written = log.read()
        except OSError:
            return
        if written:
            with destination.open("ab") as out:
                out.write(f"\n{WORKER_LOG_MARK}\n".encode() + written)
