"""The Glue runtime's warm Spark workers: isolation between runs, recovery, stop/timeout, queueing.

The fast tests run probe scripts that do not start Spark (the worker's isolation and life cycle are
the same); the slow one runs Spark in the worker and checks each run's SparkSession is its own.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tributary.local.endpoints.moto_server import MotoServer
from tributary.local.runtimes.glue_runtime import GlueRuntime, JobConfig, JobRun, _SparkWorker, spark_job_env

PROBE = """
import argparse, json, os, sys, time
import probe_state  # a module of the project: forgotten after each run

parser = argparse.ArgumentParser()
parser.add_argument("--value", default="")
parser.add_argument("--out")
parser.add_argument("--sleep", type=float, default=0)
parser.add_argument("--fail", default="")
parser.add_argument("--exit", type=int, default=None)
parser.add_argument("--die", action="store_true")
args, _ = parser.parse_known_args()
started = time.time()
print(f"probe value={args.value}")
seen = {
    "pid": os.getpid(),
    "env": os.environ.get("PROBE_VALUE"),
    "imports": probe_state.bump(),
    "global": globals().get("LEFT_BEHIND"),
    "argv_values": [a for a in sys.argv if a.startswith("v-")],
    "cwd": os.getcwd(),
}
os.environ["PROBE_VALUE"] = args.value
LEFT_BEHIND = args.value
sys.path.append("/probe/" + args.value)
os.chdir("/")
if args.die:
    os.kill(os.getpid(), 9)
if args.exit is not None:
    sys.exit(args.exit)
if args.fail:
    raise ValueError(args.fail)
time.sleep(args.sleep)
seen["started"], seen["ended"] = started, time.time()
seen["path_leak"] = [p for p in sys.path if p.startswith("/probe/") and p != "/probe/" + args.value]
with open(args.out, "w") as out:
    json.dump(seen, out)
"""

STATE = """
COUNT = 0

def bump():
    global COUNT
    COUNT += 1
    return COUNT
"""


@pytest.fixture
def app(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    root.mkdir()
    (root / "probe.py").write_text(PROBE)
    (root / "probe_state.py").write_text(STATE)
    return root


def _glue(
    aws: MotoServer, root: Path, work: Path, states: list[tuple[str, str]] | None = None, **options: object
) -> GlueRuntime:
    def changed(_job: JobConfig, run: JobRun) -> None:
        if states is not None:
            states.append((run.id, run.state))

    config = JobConfig(name="probe", script="probe.py", max_concurrent_runs=10)
    return GlueRuntime(
        [config],
        aws.client,
        aws.env(),
        root,
        work,
        on_state_change=changed,
        seconds_per_minute=1.0,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def glue(moto_server: MotoServer, app: Path, tmp_path: Path) -> Iterator[GlueRuntime]:
    runtime = _glue(moto_server, app, tmp_path / "work")
    yield runtime
    runtime.close()


def _run(glue: GlueRuntime, out: Path | None = None, **arguments: object) -> JobRun:
    args = {f"--{k}": str(v) for k, v in arguments.items()}
    if out is not None:
        args["--out"] = str(out)
    run_id = glue.start_job_run(JobName="probe", Arguments=args)["JobRunId"]
    return glue.wait(run_id, 60)


def _start_sleepers(glue: GlueRuntime, folder: Path, name: str, count: int, seconds: float) -> list[str]:
    """Start `count` runs that sleep, each writing what it saw to folder/<name><i>.json."""
    return [
        glue.start_job_run(
            JobName="probe", Arguments={"--sleep": str(seconds), "--out": str(folder / f"{name}{i}.json")}
        )["JobRunId"]
        for i in range(count)
    ]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_runs_share_a_worker_and_see_nothing_of_each_other(glue: GlueRuntime, tmp_path: Path) -> None:
    first = _run(glue, tmp_path / "a.json", value="v-a")
    second = _run(glue, tmp_path / "b.json", value="v-b")
    assert (first.state, second.state) == ("SUCCEEDED", "SUCCEEDED"), glue.logs(second.id)
    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in "ab")
    assert a["pid"] == b["pid"] == first.worker_pid == second.worker_pid  # warm: one process
    assert b["env"] is None  # the first run's os.environ change did not reach the second
    assert b["imports"] == 1  # the project's module was imported afresh
    assert b["global"] is None
    assert b["argv_values"] == ["v-b"]
    assert b["path_leak"] == []
    assert b["cwd"] == a["cwd"] == str(glue._root)  # the first run's chdir was undone
    assert "probe value=v-a" in glue.logs(first.id)
    assert "probe value=v-b" not in glue.logs(first.id)
    assert "probe value=v-b" in glue.logs(second.id)
    assert "probe value=v-a" not in glue.logs(second.id)


def test_a_failed_run_does_not_poison_the_worker(glue: GlueRuntime, tmp_path: Path) -> None:
    failed = _run(glue, tmp_path / "x.json", value="v-x", fail="bad input")
    exited = _run(glue, tmp_path / "y.json", value="v-y", exit=3)
    good = _run(glue, tmp_path / "z.json", value="v-z")
    assert failed.state == "FAILED" and failed.error_message == "ValueError: bad input"
    assert exited.state == "FAILED" and exited.error_message == "Command failed with exit code 3"
    assert good.state == "SUCCEEDED", glue.logs(good.id)
    assert failed.worker_pid == exited.worker_pid == good.worker_pid
    assert json.loads((tmp_path / "z.json").read_text())["env"] is None
    assert "bad input" not in glue.logs(good.id)


def test_a_dead_worker_is_replaced_for_the_next_run(glue: GlueRuntime, tmp_path: Path) -> None:
    died = _run(glue, tmp_path / "d.json", value="v-d", die=True)
    assert died.state == "FAILED" and "exit code -9" in died.error_message
    assert died.worker_pid is not None and not _pid_alive(died.worker_pid)
    after = _run(glue, tmp_path / "e.json", value="v-e")
    assert after.state == "SUCCEEDED", glue.logs(after.id)
    assert after.worker_pid != died.worker_pid


def test_stop_and_timeout_kill_the_worker_and_the_next_run_gets_a_fresh_one(
    glue: GlueRuntime, tmp_path: Path
) -> None:
    run_id = glue.start_job_run(JobName="probe", Arguments={"--sleep": "60", "--out": str(tmp_path / "s")})[
        "JobRunId"
    ]
    deadline = time.monotonic() + 20
    while glue.get_job_run(JobName="probe", RunId=run_id)["JobRun"]["JobRunState"] != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)  # the worker has the request
    glue.batch_stop_job_run(JobName="probe", JobRunIds=[run_id])
    stopped = glue.wait(run_id, 20)
    assert stopped.state == "STOPPED"
    assert stopped.worker_pid is not None and not _pid_alive(stopped.worker_pid)
    timed_out = glue.start_job_run(
        JobName="probe", Arguments={"--sleep": "60", "--out": str(tmp_path / "t")}, Timeout=1
    )["JobRunId"]
    timed = glue.wait(timed_out, 30)
    assert timed.state == "TIMEOUT" and "timed out after 1 minutes" in timed.error_message
    assert timed.worker_pid not in (None, stopped.worker_pid) and not _pid_alive(timed.worker_pid)
    good = _run(glue, tmp_path / "g.json", value="v-g")
    assert good.state == "SUCCEEDED" and good.worker_pid not in (stopped.worker_pid, timed.worker_pid)


def test_runs_beyond_capacity_wait_their_turn(moto_server: MotoServer, app: Path, tmp_path: Path) -> None:
    states: list[tuple[str, str]] = []
    glue = _glue(moto_server, app, tmp_path / "work", states)
    try:
        ids = _start_sleepers(glue, tmp_path, "q", 3, 1.0)
        time.sleep(0.5)
        waiting = glue.start_job_run(JobName="probe", Arguments={"--sleep": "1"})["JobRunId"]
        time.sleep(0.3)
        assert glue.get_job_run(JobName="probe", RunId=waiting)["JobRun"]["JobRunState"] == "WAITING"
        glue.batch_stop_job_run(JobName="probe", JobRunIds=[waiting])
        assert glue.wait(waiting, 10).state == "STOPPED"
        runs = [glue.wait(i, 60) for i in ids]
    finally:
        glue.close()
    assert [r.state for r in runs] == ["SUCCEEDED"] * 3
    seen = [json.loads((tmp_path / f"q{i}.json").read_text()) for i in range(3)]
    assert len({s["pid"] for s in seen}) == 1  # one worker, no second process
    for earlier, later in itertools.pairwise(seen):  # one at a time, in the order started
        assert earlier["ended"] <= later["started"]
    by_run = {i: [state for run_id, state in states if run_id == i] for i in [*ids, waiting]}
    assert by_run[ids[0]] == ["RUNNING", "SUCCEEDED"]
    assert by_run[ids[1]] == by_run[ids[2]] == ["WAITING", "RUNNING", "SUCCEEDED"]
    assert by_run[waiting] == ["WAITING", "STOPPING", "STOPPED"]


def test_two_workers_run_two_at_once(moto_server: MotoServer, app: Path, tmp_path: Path) -> None:
    glue = _glue(moto_server, app, tmp_path / "work", spark_workers=2)
    try:
        ids = _start_sleepers(glue, tmp_path, "w", 2, 1.5)
        runs = [glue.wait(i, 60) for i in ids]
    finally:
        glue.close()
    assert [r.state for r in runs] == ["SUCCEEDED"] * 2
    a, b = (json.loads((tmp_path / f"w{i}.json").read_text()) for i in range(2))
    assert a["pid"] != b["pid"]
    assert a["started"] < b["ended"] and b["started"] < a["ended"]  # overlapping


def test_cold_mode_starts_a_process_per_run(moto_server: MotoServer, app: Path, tmp_path: Path) -> None:
    glue = _glue(moto_server, app, tmp_path / "work", mode="cold")
    first = _run(glue, tmp_path / "c1.json", value="v-1")
    second = _run(glue, tmp_path / "c2.json", value="v-2")
    assert (first.state, second.state) == ("SUCCEEDED", "SUCCEEDED")
    one, two = (json.loads((tmp_path / f"c{i}.json").read_text()) for i in (1, 2))
    assert one["pid"] != two["pid"] and first.worker_pid is None


def test_bad_options_are_refused_with_a_message(moto_server: MotoServer, app: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode must be one of warm, cold, not 'hot'"):
        _glue(moto_server, app, tmp_path, mode="hot")
    with pytest.raises(ValueError, match="spark_workers must be at least 1"):
        _glue(moto_server, app, tmp_path, spark_workers=0)


def test_close_kills_idle_workers_and_a_worker_ends_when_its_runtime_goes(
    glue: GlueRuntime, app: Path, tmp_path: Path
) -> None:
    run = _run(glue, tmp_path / "k.json", value="v-k")
    assert run.worker_pid is not None and _pid_alive(run.worker_pid)
    glue.close()
    assert not _pid_alive(run.worker_pid)
    orphan = _SparkWorker(spark_job_env({}, 1), app, tmp_path / "orphan.log")
    assert orphan.process.stdin is not None
    orphan.process.stdin.close()  # what the runtime's death looks like from the worker
    assert orphan.process.wait(10) == 0


SPARK_PROBE = """
import argparse, json
from pyspark.sql import SparkSession

parser = argparse.ArgumentParser()
parser.add_argument("--value")
parser.add_argument("--out")
parser.add_argument("--fail", default="")
args, _ = parser.parse_known_args()
spark = SparkSession.builder.appName("probe").getOrCreate()
seen = {
    "conf": spark.conf.get("tributary.probe", "unset"),
    "partitions": spark.conf.get("spark.sql.shuffle.partitions"),
    "views": sorted(t.name for t in spark.catalog.listTables()),
}
spark.conf.set("tributary.probe", args.value)
spark.conf.set("spark.sql.shuffle.partitions", "7")
frame = spark.createDataFrame([(args.value,)], ["value"])
frame.createOrReplaceTempView("probe_" + args.value)
frame.cache().count()
if args.fail:
    spark.sql("SELECT raise_error('" + args.fail + "')").collect()
seen["rows"] = spark.sql("SELECT value FROM probe_" + args.value).collect()[0][0]
with open(args.out, "w") as out:
    json.dump(seen, out)
"""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("java") is None, reason="needs Java for local Spark")
def test_each_run_has_its_own_spark_session(moto_server: MotoServer, tmp_path: Path) -> None:
    root = tmp_path / "app"
    root.mkdir()
    (root / "probe.py").write_text(textwrap.dedent(SPARK_PROBE))
    glue = _glue(moto_server, root, tmp_path / "work")
    try:
        runs = [
            _run(glue, tmp_path / "s1.json", value="one"),
            _run(glue, tmp_path / "s2.json", value="two", fail="boom"),
            _run(glue, tmp_path / "s3.json", value="three"),
        ]
        # a stand-in for a second job started while the third was running: it waits, then runs warm
        fourth = threading.Thread(target=lambda: runs.append(_run(glue, tmp_path / "s4.json", value="four")))
        fourth.start()
        fourth.join(120)
    finally:
        glue.close()
    assert [r.state for r in runs] == ["SUCCEEDED", "FAILED", "SUCCEEDED", "SUCCEEDED"], glue.logs(runs[1].id)
    assert "RuntimeException: boom" in glue.logs(runs[1].id)  # the JVM's own log, in the run's log
    assert len({r.worker_pid for r in runs}) == 1
    first, third, fourth_seen = (json.loads((tmp_path / f"s{i}.json").read_text()) for i in (1, 3, 4))
    for seen in (first, third, fourth_seen):
        assert seen["conf"] == "unset"  # no other run's setting
        assert seen["partitions"] == "4"  # the worker's configuration, not a previous run's 7
        assert seen["views"] == []  # no other run's temporary views
    assert third["rows"] == "three"
    assert "boom" not in glue.logs(runs[2].id)  # logs are per run


def _parse(*argv: str) -> Any:
    import argparse

    from tributary.local.commands import operate

    parser = argparse.ArgumentParser()
    operate.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(list(argv))


def test_the_cli_chooses_the_glue_mode_and_its_workers(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse("run", "x.csv")
    assert (args.glue_mode, args.glue_workers) == ("warm", 1)
    args = _parse("up", "--glue-mode", "cold", "--glue-workers", "2")
    assert (args.glue_mode, args.glue_workers) == ("cold", 2)
    refused = ((("--glue-workers", "0"), "must be at least 1, not 0"), (("--glue-mode", "hot"), "'hot'"))
    for bad, message in refused:
        with pytest.raises(SystemExit):
            _parse("up", *bad)
        assert message in capsys.readouterr().err


SPARK_SLEEPER = """
import sys, time
from pyspark.sql import SparkSession

spark = SparkSession.builder.getOrCreate()
spark.range(3).count()
open(sys.argv[sys.argv.index("--ready") + 1], "w").close()
time.sleep(120)
"""


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(p) for p in (task / "children").read_text().split())
    return found


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("java") is None, reason="needs Java for local Spark")
def test_the_worker_and_its_jvm_end_when_the_runtime_dies_mid_run(tmp_path: Path) -> None:
    (tmp_path / "sleeper.py").write_text(SPARK_SLEEPER)
    worker = _SparkWorker(spark_job_env({}, 1), tmp_path, tmp_path / "worker.log")
    request = {"script": str(tmp_path / "sleeper.py"), "argv": ["--ready", str(tmp_path / "ready")]}
    reply = threading.Thread(target=lambda: worker.call({**request, "log": str(tmp_path / "run.log")}, 300))
    reply.start()
    deadline = time.monotonic() + 120
    while not (tmp_path / "ready").exists():
        assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-2000:]
        time.sleep(0.2)
    jvms = _children(worker.pid)
    assert jvms, "Spark's JVM is a child of the worker"
    assert worker.process.stdin is not None
    worker.process.stdin.close()  # the runtime is gone: the worker's stdin ends
    assert worker.process.wait(10) == 0
    deadline = time.monotonic() + 30
    while any(_pid_alive(pid) for pid in jvms):
        assert time.monotonic() < deadline, "the JVM outlived its worker"
        time.sleep(0.2)
    reply.join(10)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("java") is None, reason="needs Java for local Spark")
def test_prewarm_starts_spark_before_the_first_run_and_the_run_uses_it(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    root = tmp_path / "app"
    root.mkdir()
    (root / "probe.py").write_text(textwrap.dedent(SPARK_PROBE))
    glue = _glue(moto_server, root, tmp_path / "work")
    try:
        glue.prewarm()
        deadline = time.monotonic() + 180
        while not glue._idle:
            assert time.monotonic() < deadline, "no warm worker after 180 s"
            time.sleep(0.2)
        (warm,) = glue._idle
        run = _run(glue, tmp_path / "p.json", value="pre")
    finally:
        glue.close()
    assert run.state == "SUCCEEDED", glue.logs(run.id)
    assert run.worker_pid == warm.pid
    assert json.loads((tmp_path / "p.json").read_text())["conf"] == "unset"
