"""Inside a warm Spark worker process: Glue job scripts run one after another in one Python + JVM.

Runs as `python -m tributary.local.runtimes.spark_worker`, started by `glue_runtime` with the environment of a
local Spark (`spark_job_env`). The protocol is one JSON line per request on stdin and one per response
on a private descriptor (fd 1 then points at stderr, the worker's log, which the JVM inherits):

    {"boot": true}                                   → {"booted": <seconds>}   start Spark now
    {"script": PATH, "argv": [...], "log": PATH,      → {"code": <exit status>, "seconds": ...}
     "progress": PATH}                                 (optional: the run's Spark stages, see below)

Each run is isolated as far as one process allows:
- its own SparkSession (`newSession()` of the first one: its own SQL configuration, temporary views and
  functions), handed to the script by `SparkSession.builder.getOrCreate()`; the first session is the one
  the first Spark script creates (or `boot` creates). After the run its jobs are cancelled, the cache
  emptied and global temporary views dropped;
- the script runs as `__main__` (fresh globals), in a fresh thread (Spark's thread-local properties),
  with its own `sys.argv`; `os.environ`, `sys.path` and the working directory are restored after it, and
  the project's own modules it imported (files under the working directory, outside site-packages) are
  forgotten, so the next run imports them again;
- what Python prints (stdout, stderr, logging handlers made during the run) goes to the run's log; log
  handlers left pointing at it are removed afterwards. The JVM's own output goes to the worker's log (the
  runtime appends the part written during a run to that run's log).
While a run executes, a thread polls Spark's status tracker once a second and writes the active stages
(`{"stages": [{"stage", "done", "running", "failed", "total"}...]}`, tasks per stage) to the request's
`progress` file, replaced atomically; the file is removed when the run ends. The runtime reads it for
`tributary run`'s progress line (in cold mode the run's own log shows Spark's console progress bar;
here the JVM's console is the worker's log, copied into the run's log only after the run).
A script that stops the SparkContext ends the worker after its run (the runtime starts a fresh one).
Stop, timeout and kill are the runtime's business: it kills the worker's process group. If stdin
closes (the runtime died), the worker exits at once, and its JVM with it (PySpark's gateway exits when
its stdin closes).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import runpy
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

PROGRESS_INTERVAL = 1.0  # seconds between two polls of Spark's status tracker


class _Spark:
    """The first SparkSession of the process and the per-run sessions made from it."""

    def __init__(self) -> None:
        self.base: Any = None

    def boot(self) -> float:
        started = time.perf_counter()
        from pyspark.sql import SparkSession

        self.base = SparkSession.builder.getOrCreate()
        return time.perf_counter() - started

    def session_for_run(self) -> Any:
        """A new session installed as the one `SparkSession.builder.getOrCreate()` returns (None before
        Spark started: the run's script then starts it, and its session becomes the first one)."""
        self.adopt()
        if self.base is None:
            return None
        session = self.base.newSession()
        _install(session)
        return session

    def adopt(self) -> None:
        if self.base is None and "pyspark.sql" in sys.modules:
            from pyspark.sql import SparkSession

            self.base = SparkSession._instantiatedSession  # started by a script

    def clean(self) -> bool:
        """After a run: back to the first session, nothing of the run left. False if Spark was stopped."""
        self.adopt()
        if self.base is None:
            return True
        if self.base._sc._jsc is None:  # the script stopped the SparkContext
            return False
        _install(self.base)
        self.base.sparkContext.cancelAllJobs()
        self.base.catalog.clearCache()
        for table in self.base.catalog.listTables("global_temp"):
            if table.isTemporary:
                self.base.catalog.dropGlobalTempView(table.name)
        return True


def active_status_tracker() -> Any:
    """The status tracker of the process's SparkContext, None before Spark started (or once stopped)."""
    if "pyspark" not in sys.modules:
        return None
    from pyspark import SparkContext

    context = SparkContext._active_spark_context
    return context.statusTracker() if context is not None else None


def active_stages(tracker: Any) -> list[dict[str, int]]:
    """Spark's active stages and their tasks, from a StatusTracker (`getActiveStageIds`, `getStageInfo`)."""
    stages = []
    for stage_id in sorted(tracker.getActiveStageIds()):
        info = tracker.getStageInfo(stage_id)
        if info is None:  # ended since it was listed
            continue
        stages.append(
            {
                "stage": int(stage_id),
                "done": int(info.numCompletedTasks),
                "running": int(info.numActiveTasks),
                "failed": int(info.numFailedTasks),
                "total": int(info.numTasks),
            }
        )
    return stages


class StageReporter:
    """Writes the active stages to `path` every `interval` seconds while a run executes (a daemon
    thread); `stop()` ends it and removes the file. A failing poll (Spark not started yet, stopping)
    writes nothing and tries again: progress must never fail a run."""

    def __init__(
        self,
        path: Path,
        tracker: Callable[[], Any] = active_status_tracker,
        interval: float = PROGRESS_INTERVAL,
    ) -> None:
        self.path = path
        self._tracker = tracker
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="stage-progress", daemon=True)

    def start(self) -> StageReporter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.path.unlink(missing_ok=True)

    def poll(self) -> None:
        try:
            tracker = self._tracker()
            stages = active_stages(tracker) if tracker is not None else []
        except Exception:  # Spark starting or stopping: nothing to show this time
            return
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps({"stages": stages, "at": time.time()}))
        os.replace(temporary, self.path)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.poll()
            except OSError:  # the folder went away (the runtime is closing)
                return


def _install(session: Any) -> None:
    # PySpark's builder returns SparkSession._instantiatedSession; there is no public setter for it.
    from pyspark.sql import SparkSession

    SparkSession._instantiatedSession = session
    SparkSession._activeSession = session
    session._jvm.SparkSession.setDefaultSession(session._jsparkSession)
    session._jvm.SparkSession.setActiveSession(session._jsparkSession)


def _exit_code(exc: SystemExit, log: TextIO) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=log)
    return 1


def _run_script(script: str, argv: list[str], log: TextIO) -> int:
    sys.argv = [script, *argv]
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        return _exit_code(exc, log)
    except BaseException:  # the script's failure is the run's, reported as Python would
        traceback.print_exc(file=log)
        return 1
    return 0


def _project_module(module: Any, root: Path) -> bool:
    file = getattr(module, "__file__", None)
    if not file or "site-packages" in file:
        return False
    try:
        return Path(file).resolve().is_relative_to(root)
    except (OSError, ValueError):
        return False


def _forget_handlers(stream: TextIO) -> None:
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        if isinstance(logger, logging.Logger):
            for handler in list(logger.handlers):
                if getattr(handler, "stream", None) is stream:
                    logger.removeHandler(handler)


def run(spark: _Spark, request: dict[str, Any]) -> dict[str, Any]:
    """One job run, isolated as the module docstring says."""
    started = time.perf_counter()
    root = Path.cwd().resolve()
    saved_env, saved_path, saved_stdio = dict(os.environ), list(sys.path), (sys.stdout, sys.stderr)
    modules = set(sys.modules)
    script = str(request["script"])
    code = 1
    reporter: StageReporter | None = None
    with open(request["log"], "a", buffering=1, encoding="utf-8", errors="replace") as log:
        sys.stdout = sys.stderr = log
        try:
            if request.get("progress"):
                reporter = StageReporter(Path(request["progress"])).start()
            spark.session_for_run()
            sys.path.insert(0, str(Path(script).parent))
            result: list[int] = []
            thread = threading.Thread(
                target=lambda: result.append(_run_script(script, list(request["argv"]), log)),
                name="glue-run",
            )
            thread.start()
            thread.join()
            code = result[0] if result else 1
        except BaseException:  # a failure of the worker itself fails this run only
            traceback.print_exc(file=log)
            code = 1
        finally:
            if reporter is not None:
                reporter.stop()
            log.flush()
            sys.stdout, sys.stderr = saved_stdio
            _forget_handlers(log)
            os.environ.clear()
            os.environ.update(saved_env)
            sys.path[:] = saved_path
            os.chdir(root)
            for name in set(sys.modules) - modules:
                if _project_module(sys.modules[name], root):
                    del sys.modules[name]
    alive = spark.clean()
    return {"code": code, "seconds": time.perf_counter() - started, "spark_stopped": not alive}


def main() -> None:
    channel: TextIO = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray writes to fd 1 (and the JVM's stdout) go to the worker's log
    sys.stdout = sys.stderr
    requests: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def read() -> None:  # the runtime's requests; EOF means the runtime is gone
        for line in sys.stdin:
            requests.put(json.loads(line))
        os._exit(0)

    threading.Thread(target=read, name="requests", daemon=True).start()
    spark = _Spark()
    while True:
        request = requests.get()
        if request is None:
            return
        if request.get("boot"):
            response: dict[str, Any] = {"booted": spark.boot()}
        else:
            response = run(spark, request)
        channel.write(json.dumps(response) + "\n")
        if response.get("spark_stopped"):
            os._exit(0)


if __name__ == "__main__":
    main()
