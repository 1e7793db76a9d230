"""Runs scenarios against a local stack and checks the invariants after each.

Most scenarios share one in-process stack (`LocalStack`) on the engine's virtual clock (Retry back-off
takes no real time; jobs, batching windows and visibility timeouts still run in real time). Scenarios
whose timing matters (Glue's concurrent-run limit with its real back-off, the burst) get a stack on the
real clock; the kill-and-restart scenario runs `tributary up` in a subprocess and kills it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tributary.chaos.data import DataFactory, ObjectSpec
from tributary.chaos.invariants import (
    RollbackFails,
    StackView,
    Uploaded,
    Verdict,
    check,
    dead_letters,
    executions_by_dataset,
    runs_left_published,
)
from tributary.local.delivery.events import s3_event
from tributary.local.faults import FaultInjector, FaultPlan

REPO = Path(__file__).resolve().parents[2]
LOGGER = logging.getLogger("tributary.chaos")
# The files a project root needs for `tributary up` (linked into a scratch root for the subprocess).
_ROOT_ENTRIES = ("template.yaml", "samconfig.toml", "contracts", "functions", "glue", "statemachine")


@dataclass
class Settings:
    reduced: bool = False  # the CI sizes
    batch_window: float = 2.0  # cap of the trigger's batching window
    # Cap of the ingest queue's visibility timeout (redelivery after a crash). A trigger invocation
    # killed after claiming some versions leaves claims the trigger takes over only once that
    # invocation cannot be running (its 60 s timeout + 5 s): until then their messages are retried, so
    # the cap times the queue's maxReceiveCount - 1 (4) must exceed 65 s, or they reach the DLQ.
    visibility_timeout: int = 20
    scenario_timeout: float = 900.0
    work_dir: Path | None = None
    seed: int = 7
    # Which transform path the runs take. "glue" (SmallRunMaxBytes=0) keeps the Glue job's faults
    # (timeout, killed process, concurrent-run limit) reachable; "lite" leaves the template's threshold,
    # so the scenarios' small files go to the small-run function.
    transform_path: str = "glue"

    def size(self, full: int, reduced: int) -> int:
        return reduced if self.reduced else full


@dataclass
class Result:
    name: str
    verdict: Verdict | None
    seconds: float
    faults: dict[str, int] = field(default_factory=dict)  # injections per fault rule
    error: str = ""  # the scenario could not be run to its end
    paired: bool = False  # ran at the same time as another scenario (wall time shared)

    @property
    def ok(self) -> bool:
        return not self.error and self.verdict is not None and not self.verdict.violations


class Context:
    """What a scenario does to the stack: upload, redeliver, set faults, wait until it is quiet."""

    def __init__(
        self,
        view: StackView,
        faults: FaultInjector | None,
        data: DataFactory,
        settings: Settings,
        bus_put: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.view = view
        self.faults = faults
        self.data = data
        self.settings = settings
        self.uploads: list[Uploaded] = []
        self._bus_put = bus_put
        self._s3 = view.client("s3")
        # Paired with a scenario of the other dataset: its faults apply to executions of its dataset
        # only (`execution` filter), and both run at once. `shared` holds every paired plan's rules.
        self.dataset = "orders"
        self.shared: dict[str, list[dict[str, Any]]] | None = None
        self.injected: dict[str, int] = {}  # per rule, over every plan the scenario set
        # Uploads separated by a wait are separate batches: the execution limit adds up per wave.
        self.waves: list[list[Uploaded]] = [[]]

    def absorb(self) -> dict[str, int]:
        """What the plan in force injected, added to what earlier plans did."""
        if self.faults is not None:
            for rule, count in self.faults.summary().items():
                self.injected[rule] = self.injected.get(rule, 0) + count
            self.faults.clear()
        return self.injected

    def plan(self, document: dict[str, Any]) -> None:
        if self.faults is None:
            raise RuntimeError("this stack takes its fault plan at start-up")
        rules = [dict(rule) for rule in document.get("faults", [])]
        if self.shared is not None:
            for index, rule in enumerate(rules):
                rule["execution"] = f"{self.dataset}-"
                rule["id"] = f"{self.dataset}: {rule.get('id') or index}"
            self.shared[self.dataset] = rules
            rules = [rule for plan in self.shared.values() for rule in plan]
        if self.shared is None:
            self.absorb()
        self.faults.set_plan(FaultPlan.parse({**document, "faults": rules}, "scenario plan"))

    def upload(self, specs: list[ObjectSpec], threads: int = 8) -> list[Uploaded]:
        raw = self.view.name("RawBucket")

        def put(spec: ObjectSpec) -> Uploaded:
            response = self._s3.put_object(Bucket=raw, Key=spec.key, Body=spec.body)
            return Uploaded(spec, str(response.get("VersionId")), str(response["ETag"]), time.monotonic())

        if len(specs) == 1 or threads == 1:
            done = [put(spec) for spec in specs]
        else:
            with concurrent.futures.ThreadPoolExecutor(threads) as pool:
                done = list(pool.map(put, specs))
        self.uploads.extend(done)
        self.waves[-1].extend(done)
        return done

    def redeliver(self, uploaded: Uploaded) -> None:
        """This version's S3 event once more, through the event bus (EventBridge delivers at least once)."""
        if self._bus_put is None:
            raise RuntimeError("redelivery needs the in-process stack")
        event = s3_event(
            "s3:ObjectCreated:Put",
            self.view.name("RawBucket"),
            "us-east-1",
            "123456789012",
            uploaded.spec.key,
            len(uploaded.spec.body),
            uploaded.etag,
            uploaded.version_id,
        )
        assert event is not None
        self._bus_put(event)

    def wait_quiet(self, quiet: float | None = None) -> None:
        """Until nothing is queued, in flight or running, and it stays so for the batching window."""
        quiet = quiet if quiet is not None else self.settings.batch_window + 1.5
        sqs, sfn = self.view.client("sqs"), self.view.client("stepfunctions")
        ingest = self.view.queue_url("IngestQueue")
        deadline = time.monotonic() + self.settings.scenario_timeout
        calm_since: float | None = None
        while time.monotonic() < deadline:
            attributes = sqs.get_queue_attributes(
                QueueUrl=ingest,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            queued = sum(int(v) for v in attributes.values())
            running = sfn.list_executions(stateMachineArn=self.view.state_machine_arn, statusFilter="RUNNING")
            busy = queued or running["executions"]
            if busy:
                calm_since = None
            elif calm_since is None:
                calm_since = time.monotonic()
            elif time.monotonic() - calm_since >= quiet:
                if self.waves[-1]:
                    self.waves.append([])
                return
            time.sleep(0.5)
        raise TimeoutError(f"the stack was still busy after {self.settings.scenario_timeout:.0f} s")


Scenario = Callable[[Context], str]  # does its uploads and faults; returns why dead letters are expected


@dataclass
class Named:
    name: str
    run: Scenario
    clock: str = "virtual"  # virtual | real | subprocess
    pairable: bool = False  # its faults can be scoped to one dataset's executions (state, api, glue_job)
    # Its plan makes the rollback itself fail for good (a double fault): only there may a failed run
    # stay visible, and only if it says so (see invariants.RollbackFails).
    rollback_fails: RollbackFails | None = None


def run_pair(
    pair: list[Named],
    view: StackView,
    faults: FaultInjector | None,
    data: DataFactory,
    settings: Settings,
) -> list[Result]:
    """Two scenarios at once, one on orders and one on clicks, each's faults scoped to its dataset's
    executions; each is checked on its own objects (and its own dataset's partitions and executions)."""
    if len(pair) == 1:
        return [run_scenario(pair[0], view, faults, data, settings, None)]
    shared: dict[str, list[dict[str, Any]]] = {}
    contexts = []
    for dataset in ("orders", "clicks"):
        context = Context(view, faults, data, settings)
        context.dataset, context.shared = dataset, shared
        contexts.append(context)
    before, dead_before = executions_by_dataset(view), dead_letters(view)
    left_before = runs_left_published(view)
    started = time.monotonic()
    results = []
    try:
        explained = [named.run(context) for named, context in zip(pair, contexts, strict=True)]
        contexts[0].wait_quiet()
        injected = faults.summary() if faults is not None else {}
        seconds = time.monotonic() - started
        for named, context, why in zip(pair, contexts, explained, strict=True):
            mine = {
                rule.split(": ", 1)[-1]: n for rule, n in injected.items() if rule.startswith(context.dataset)
            }
            verdict = check(
                view,
                context.uploads,
                before,
                dead_letters_before=dead_before,
                dead_letters_explained=why,
                rollback_fails=named.rollback_fails,
                left_published_before=left_before,
            )
            results.append(Result(named.name, verdict, seconds, mine, paired=True))
    except Exception as exc:
        LOGGER.exception("scenarios %s", ", ".join(n.name for n in pair))
        seconds = time.monotonic() - started
        results = [Result(n.name, None, seconds, error=f"{type(exc).__name__}: {exc}") for n in pair]
    finally:
        if faults is not None:
            faults.clear()
    return results


def run_scenario(
    named: Named,
    view: StackView,
    faults: FaultInjector | None,
    data: DataFactory,
    settings: Settings,
    bus_put: Callable[[dict[str, Any]], None] | None,
) -> Result:
    context = Context(view, faults, data, settings, bus_put)
    before, dead_before = executions_by_dataset(view), dead_letters(view)
    left_before = runs_left_published(view)
    started = time.monotonic()
    try:
        explained = named.run(context)
        context.wait_quiet()
        injected = context.absorb()
        verdict = check(
            view,
            context.uploads,
            before,
            waves=context.waves,
            dead_letters_before=dead_before,
            dead_letters_explained=explained,
            rollback_fails=named.rollback_fails,
            left_published_before=left_before,
        )
        return Result(named.name, verdict, time.monotonic() - started, injected)
    except Exception as exc:
        LOGGER.exception("scenario %s", named.name)
        if faults is not None:
            faults.clear()
        return Result(named.name, None, time.monotonic() - started, error=f"{type(exc).__name__}: {exc}")


# -- stacks ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def in_process_stack(settings: Settings, real_time: bool) -> Iterator[tuple[StackView, FaultInjector, Any]]:
    from tributary.local.stack import LocalStack, StackOptions

    for noisy in ("werkzeug", "urllib3.connectionpool", "samtranslator"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="tributary-chaos-") as scratch:
        work = (settings.work_dir or Path(scratch)) / ("real" if real_time else "virtual")
        options = StackOptions(
            REPO,
            work_dir=work,
            batch_window_cap=settings.batch_window,
            visibility_timeout_cap=settings.visibility_timeout,
            real_time=real_time,
            parameter_overrides={"SmallRunMaxBytes": "0"} if settings.transform_path == "glue" else {},
        )
        with LocalStack(options) as stack:
            view = view_of(stack)
            record_arrivals(stack, view)
            yield view, stack.faults, stack.bus.put


def view_of(stack: Any) -> StackView:
    from tributary.local.session import StackInfo

    info = StackInfo.of(stack)
    mapping = stack.mappings[0].config if stack.mappings else None
    window = stack.mappings[0].window if stack.mappings else 0.0
    return StackView(
        client=info.client,
        stack_name=stack.stack.name,
        state_machine_arn=info.state_machine_arn,
        database=info.glue_database,
        workgroup=info.workgroup,
        batch_size=mapping.batch_size if mapping else 100,
        batch_window=window,
        arrivals={},
    )


def record_arrivals(stack: Any, view: StackView) -> None:
    """Note in `view.arrivals` when the event bus puts each object version's event in the ingest queue.
    The in-process stack answers an upload before its event is delivered (the bus delivers one event
    at a time, on a thread of its own), so when S3 answered is not when the trigger could see it."""
    if view.arrivals is None:
        return
    arrivals = view.arrivals
    ingest = f":{view.name('IngestQueue')}"
    to_queue = stack.bus.deliverers["sqs"]

    def deliver(arn: str, body: str) -> None:
        to_queue(arn, body)
        if arn.endswith(ingest):
            with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
                obj = json.loads(body)["detail"]["object"]
                version = str(obj.get("version-id"))  # "None" when unversioned, as Uploaded has it
                arrivals.setdefault((obj["key"], version), []).append(time.monotonic())

    stack.bus.deliverers["sqs"] = deliver


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class StackProcess:
    """`tributary up` in a subprocess of its own session (so that killing it kills its Spark too)."""

    def __init__(self, root: Path, settings: Settings, fault_plan: Path | None = None) -> None:
        self.root = root
        self.settings = settings
        self.ports = [_free_port() for _ in range(4)]
        self.fault_plan = fault_plan
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 120.0) -> StackView:
        from tributary.local.session import STACK_FILE, StackInfo

        (self.root / STACK_FILE).unlink(missing_ok=True)
        command = [
            sys.executable,
            "-m",
            "tributary",
            "up",
            "--root",
            str(self.root),
            "--port",
            str(self.ports[0]),
            "--states-port",
            str(self.ports[1]),
            "--athena-port",
            str(self.ports[2]),
            "--glue-port",
            str(self.ports[3]),
            "--batch-window",
            str(self.settings.batch_window),
            "--visibility-timeout",
            str(self.settings.visibility_timeout),
        ]
        if self.fault_plan is not None:
            command += ["--fault-plan", str(self.fault_plan)]
        self.starts += 1
        log = (self.root / f"up-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=self.root, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while not (self.root / STACK_FILE).exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"tributary up exited ({self.process.returncode}): see {log.name}")
            if time.monotonic() > deadline:
                raise TimeoutError("tributary up did not come up")
            time.sleep(0.3)
        info = StackInfo.load(self.root)
        return StackView(
            client=info.client,
            stack_name=info.runs_table.removesuffix("-RunsTable"),
            state_machine_arn=info.state_machine_arn,
            database=info.glue_database,
            workgroup=info.workgroup,
        )

    def kill(self) -> None:
        """SIGKILL to the whole session: the stack, its Lambda workers and its Spark, at once."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


@contextlib.contextmanager
def scratch_root(settings: Settings) -> Iterator[Path]:
    """A project root for `tributary up` whose .tributary/ folder is the harness's own."""
    with tempfile.TemporaryDirectory(prefix="tributary-chaos-root-") as scratch:
        root = Path(scratch)
        for entry in _ROOT_ENTRIES:
            (root / entry).symlink_to(REPO / entry)
        if (REPO / ".aws-sam").is_dir():
            (root / ".aws-sam").symlink_to(REPO / ".aws-sam")
        try:
            yield root
        finally:
            if settings.work_dir is not None:  # keep the stack's logs for a look afterwards
                shutil.copytree(root, settings.work_dir / "restart-root", symlinks=True, dirs_exist_ok=True)
