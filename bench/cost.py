"""What runs cost on AWS, from what they did on the local stack: bursts of small files against one run
per file, and README's cost table.

    python -m bench.cost [--sizes 10,100,1000] [--path lite|glue] [--record] [--timeout 3600]
    python -m bench.cost --readme-table

A burst: N orders files of 3 rows uploaded at once to a local stack built from template.yaml (real
clock, the template's batching window), timed until every run has ended. Each execution's history gives
its usage (etl_common.run_usage: transitions, Lambda durations, the Glue job run, DDL statements, the
state machine's own requests), the trigger's invocations are timed, and the rest is the documented
estimate (run_usage.ESTIMATES). The usage is priced by etl_common.cost at the memory sizes, Glue worker
type and count that template.yaml gives (not what the local runtime happened to use). First, one file
alone: the run it makes, times N, is "one run per file". Printed per size: executions, wall time, cost
per run and per 1,000 files, and one run per file per 1,000 files.

--path glue sends every run to the Glue job (SmallRunMaxBytes=0): Spark starts, so run it under
`flock /tmp/tributary-spark.lock`. --record keeps the measured usage (durations, counts; no prices, no
memory sizes) in bench/cost-reference.json, from which --readme-table prints README's cost table with
the model: `tests/local/test_cost_table.py` checks that README's table is that output.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "functions" / "common"))  # etl_common, as the layer

from etl_common.cost import (  # noqa: E402
    SERVICES,
    US_EAST_1,
    AthenaUse,
    ExpressUse,
    GlueUse,
    LambdaUse,
    RunUsage,
    run_cost,
)

REFERENCE = REPO / "bench" / "cost-reference.json"
TEMPLATE = REPO / "template.yaml"
PATHS = ("lite", "glue")
SMALL_RUN_PARAMETER = "SmallRunMaxBytes"


# -- what template.yaml configures ------------------------------------------------------------------
@dataclass(frozen=True)
class FunctionSpec:
    memory_mb: int
    architecture: str
    ephemeral_storage_mb: int


def _resolve(value: Any, parameters: dict[str, Any]) -> Any:
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return parameters[value["Ref"]]["Default"]
    return value


def template_functions(template: Path = TEMPLATE) -> dict[str, FunctionSpec]:
    """Logical id → memory, architecture, /tmp of each function, as template.yaml configures it
    (Globals, then the function's own properties; a parameter's default)."""
    from tributary.local.provisioning.template import load_template

    document = load_template(template)
    parameters = document.get("Parameters") or {}
    defaults = (document.get("Globals") or {}).get("Function") or {}
    found = {}
    for name, resource in document["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = {**defaults, **(resource.get("Properties") or {})}
        memory = int(_resolve(props.get("MemorySize", 128), parameters))
        architecture = str((_resolve(props.get("Architectures"), parameters) or ["x86_64"])[0])
        storage = int(_resolve((props.get("EphemeralStorage") or {}).get("Size", 512), parameters))
        found[name] = FunctionSpec(memory, architecture, storage)
    return found


def template_glue(template: Path = TEMPLATE) -> tuple[str, int, str]:
    """The transform job's worker type, number of workers and execution class (parameter defaults)."""
    from tributary.local.provisioning.template import load_template

    document = load_template(template)
    parameters = document.get("Parameters") or {}
    job = document["Resources"]["TransformJob"]["Properties"]
    return (
        str(_resolve(job.get("WorkerType", "G.1X"), parameters)),
        int(_resolve(job.get("NumberOfWorkers", 2), parameters)),
        str(_resolve(job.get("ExecutionClass", "STANDARD"), parameters)),
    )


# -- what a set of runs did (no prices, no memory sizes) -------------------------------------------------
@dataclass
class Measured:
    """The usage of the runs one upload set made, as counts and durations."""

    label: str
    path: str
    files: int
    executions: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    wall_seconds: float = 0.0
    load: str = ""
    transitions: int = 0
    lambda_ms: list[tuple[str, float]] = field(default_factory=list)  # (logical id, ms) per invocation
    # Each EXPRESS child of a distributed Map: (duration ms, memory MB), from its ResultWriter result.
    express_children: list[tuple[float, float]] = field(default_factory=list)
    glue_seconds: list[float] = field(default_factory=list)  # ExecutionTime of each Glue job run
    athena_ddl: int = 0
    dynamodb_write_units: float = 0
    s3_put_requests: int = 0
    s3_get_requests: int = 0
    sns_publishes: int = 0
    sqs_requests: int = 0
    kms_requests: int = 0
    cloudwatch_requests: int = 0
    # S3 requests: counted at the local S3 (moto) for the functions and the state machine; what
    # etl_common.run_usage.ESTIMATES would have said instead, for comparison (not priced).
    estimated_s3_put_requests: int = 0
    estimated_s3_get_requests: int = 0
    map_runs: list[dict[str, Any]] = field(default_factory=list)  # run_usage.map_run_usage's summaries
    # For comparison, not priced: what the local Lambda runtime reports for each of validate's object-mode
    # calls (Duration, Init Duration: Lambda's REPORT line; init 0 when warm), against the child's time.
    validate_object_reported_ms: list[tuple[float, float]] = field(default_factory=list)

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Measured:
        return cls(
            **{
                **document,
                "lambda_ms": [(str(n), float(ms)) for n, ms in document["lambda_ms"]],
                "express_children": [
                    (float(ms), float(mb)) for ms, mb in document.get("express_children", [])
                ],
                "validate_object_reported_ms": [
                    (float(ms), float(init)) for ms, init in document.get("validate_object_reported_ms", [])
                ],
            }
        )

    def usage(
        self,
        functions: dict[str, FunctionSpec] | None = None,
        glue: tuple[str, int, str] | None = None,
        execution_class: str | None = None,
    ) -> RunUsage:
        """The usage at template.yaml's memory sizes and Glue workers (or those given)."""
        functions = functions if functions is not None else template_functions()
        worker_type, workers, template_class = glue if glue is not None else template_glue()
        lambdas = []
        for logical_id, milliseconds in self.lambda_ms:
            spec = functions.get(logical_id, FunctionSpec(128, "arm64", 512))
            lambdas.append(
                LambdaUse(
                    logical_id, milliseconds, spec.memory_mb, spec.architecture, spec.ephemeral_storage_mb
                )
            )
        return RunUsage(
            transitions=self.transitions,
            lambdas=lambdas,
            glue=[
                GlueUse(seconds, worker_type, workers, execution_class or template_class)
                for seconds in self.glue_seconds
            ],
            athena=[AthenaUse("DDL", 0) for _ in range(self.athena_ddl)],
            dynamodb_write_units=self.dynamodb_write_units,
            s3_put_requests=self.s3_put_requests,
            s3_get_requests=self.s3_get_requests,
            sns_publishes=self.sns_publishes,
            sqs_requests=self.sqs_requests,
            kms_requests=self.kms_requests,
            cloudwatch_requests=self.cloudwatch_requests,
            express=[ExpressUse(ms, mb) for ms, mb in self.express_children],
        )

    def add_usage(self, usage: RunUsage, logical_ids: dict[str, str]) -> None:
        """Add a run's usage (from its history and the estimates); functions named by logical id."""
        self.transitions += usage.transitions
        for use in usage.lambdas:
            self.lambda_ms.extend(
                [(logical_ids.get(use.function, use.function), use.duration_ms)] * use.requests
            )
        for express in usage.express:
            self.express_children.extend([(express.duration_ms, express.memory_mb)] * express.executions)
        self.glue_seconds.extend(g.execution_seconds for g in usage.glue)
        self.athena_ddl += sum(1 for a in usage.athena if a.statement_type == "DDL")
        self.dynamodb_write_units += usage.dynamodb_write_units
        self.s3_put_requests += usage.s3_put_requests
        self.s3_get_requests += usage.s3_get_requests
        self.sns_publishes += usage.sns_publishes
        self.sqs_requests += usage.sqs_requests
        self.kms_requests += usage.kms_requests
        self.cloudwatch_requests += usage.cloudwatch_requests


def total_cost(measured: Measured, **kwargs: Any) -> float:
    return sum(run_cost(measured.usage(**kwargs)).values())


# -- measuring on the local stack ------------------------------------------------------------------------
def _report_object_calls(stack: Any) -> list[tuple[float, float]]:
    """(Duration, Init Duration) the local Lambda runtime reports for each of validate's object-mode calls
    (the calls of ValidateEachObject's children; Init Duration 0 for a warm one)."""
    reported: list[tuple[float, float]] = []
    function = stack.lambdas.function("ValidateFunction")
    invoke = function.invoke

    def reporting(payload: Any, invoke: Any = invoke) -> Any:
        result = invoke(payload)
        if isinstance(payload, dict) and payload.get("mode") == "object":
            reported.append((result.duration_ms, result.init_ms if result.cold_start else 0.0))
        return result

    function.invoke = reporting
    return reported


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


class S3RequestCounter(logging.Handler):
    """Counts the S3 requests the local S3 (moto's werkzeug server) answers, by price class, from its
    request log: path-style requests to the stack's buckets, once it is provisioned. The uploads
    themselves (PUT to the raw bucket's incoming/) are the producer's, not the pipeline's."""

    REQUEST = re.compile(r'"(GET|PUT|POST|DELETE|HEAD) (/[^ ]*) HTTP')

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.raw_bucket = ""
        self.buckets: set[str] = set()  # counted once set: after the stack is provisioned
        self.put = self.get = self.free = 0
        self.seen: list[tuple[str, str, str, str]] = []  # (class, method, path, query) of each request
        self._count_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        match = self.REQUEST.search(record.getMessage())
        if match is None:
            return
        method, target = match.groups()
        path, _, query = target.partition("?")
        if path.split("/")[1] not in self.buckets:
            return  # not S3, or not the stack's buckets
        if method == "PUT" and self.raw_bucket and path.startswith(f"/{self.raw_bucket}/incoming/"):
            return
        listing = method == "GET" and (path.rstrip("/").count("/") == 1 or "list-type" in query)
        if method == "DELETE" or (method == "POST" and "delete" in query):
            kind = "free"
        elif method in ("PUT", "POST") or listing:
            kind = "put"  # PUT, COPY, POST, LIST
        else:
            kind = "get"  # GET, HEAD
        with self._count_lock:
            setattr(self, kind, getattr(self, kind) + 1)
            self.seen.append((kind, method, path, query))


def measure(label: str, files: int, path: str, workdir: Path, timeout: float) -> Measured:
    """Upload `files` small orders files at once to a fresh local stack and wait for every run."""
    from etl_common.run_usage import (
        ESTIMATES,
        child_workflows,
        estimated_usage,
        map_runs_usage,
        usage_from_history,
    )

    from bench.burst import ENDED, _queued, _runs, _sfn, _time_triggers, _upload, orders_files
    from bench.local_stack import template_parameters
    from tributary.local.session import execution_history
    from tributary.local.stack import LocalStack, StackOptions

    overrides = (
        {SMALL_RUN_PARAMETER: "0"} if path == "glue" and SMALL_RUN_PARAMETER in template_parameters() else {}
    )
    shutil.rmtree(workdir, ignore_errors=True)
    uploads = orders_files(files, 3)
    result = Measured(label, path, files, load=_load())
    options = StackOptions(REPO, work_dir=workdir, real_time=True, parameter_overrides=overrides)
    counter = S3RequestCounter()
    server_log = logging.getLogger("werkzeug")
    server_log.addHandler(counter)
    server_log.setLevel(logging.INFO)
    server_log.propagate = False
    with LocalStack(options) as stack:
        counter.raw_bucket = stack.physical_id("RawBucket")
        counter.buckets = {r.physical_id for r in stack.stack.of_type("AWS::S3::Bucket")}
        logical_ids = {r.physical_id: r.logical_id for r in stack.stack.of_type("AWS::Lambda::Function")}
        triggers = _time_triggers(stack)
        reported = _report_object_calls(stack)
        started = time.perf_counter()
        _upload(stack, uploads)
        while True:
            runs = _runs(stack)
            ended = [run for run in runs if run.get("status") in ENDED]
            objects = sum(int(run.get("object_count", 0)) for run in ended)
            if runs and len(ended) == len(runs) and objects >= files and _queued(stack) == 0:
                break
            if time.perf_counter() - started > timeout:
                print(f"[{label}] timed out: {len(ended)}/{len(runs)} runs ended", flush=True)
                break
            time.sleep(1)
        result.wall_seconds = time.perf_counter() - started
        sfn = _sfn(stack)
        counter.buckets = set()  # what follows is this benchmark reading, not the pipeline running
        s3 = stack.aws.client("s3")

        def get_object(bucket: str, key: str) -> bytes:
            return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

        def describe_map_run(arn: str) -> dict[str, Any] | None:
            return dict(sfn.describe_map_run(mapRunArn=arn))

        (job,) = stack.glue._jobs.values()
        job_runs = {r["Id"]: r for r in stack.glue.get_job_runs(JobName=job.name)["JobRuns"]}
        by_run = {str(run["run_id"]): run for run in runs}
        for summary in sfn.list_executions(stateMachineArn=stack.state_machine_arn())["executions"]:
            events = execution_history(sfn, summary["executionArn"])
            run_id = json.loads(events[0]["executionStartedEventDetails"]["input"]).get("run_id", "")
            record = by_run.get(run_id, {})
            status = str(record.get("status", summary["status"]))
            result.statuses[status] = result.statuses.get(status, 0) + 1
            found = usage_from_history(events, run_item_bytes=len(json.dumps(record, default=str)))
            usage = found.usage
            usage.lambdas.extend(
                LambdaUse(name.rsplit(":", 1)[-1], ms, 0) for name, ms in found.lambda_durations
            )
            definition = sfn.describe_state_machine_for_execution(executionArn=summary["executionArn"])
            children = child_workflows(definition["definition"])
            priced, _ = map_runs_usage(found, children, {}, describe_map_run, get_object)
            for map_run in priced:  # the children (Express requests and durations, their Lambda calls)
                usage = usage.add(map_run.measured).add(map_run.estimated)
                result.map_runs.append(map_run.summary)
            for _, job_run_id in found.glue_job_runs:
                described = job_runs.get(job_run_id)
                if described is not None:
                    seconds = (described["CompletedOn"] - described["StartedOn"]).total_seconds()
                    usage.glue.append(GlueUse(seconds))
            run_path = "glue" if found.glue_job_runs else "lite"
            objects, queries = int(record.get("object_count", 0)), len(usage.athena)
            estimate = estimated_usage(objects, queries=queries, path=run_path)
            result.estimated_s3_put_requests += estimate.s3_put_requests
            result.estimated_s3_get_requests += estimate.s3_get_requests
            # S3 is counted at the local S3, but for Spark's requests (the local Glue job reads and
            # writes a mirror of the buckets): those stay estimates.
            spark = estimated_usage(
                objects, queries=queries, path=run_path, estimates=[e for e in ESTIMATES if e.step == "glue"]
            )
            estimate.s3_put_requests, estimate.s3_get_requests = spark.s3_put_requests, spark.s3_get_requests
            usage.s3_put_requests = usage.s3_get_requests = 0  # the state machine's own: counted below
            result.executions += 1
            result.add_usage(usage.add(estimate), logical_ids)
        result.lambda_ms.extend(("TriggerFunction", seconds * 1000) for seconds in triggers)
        result.validate_object_reported_ms = sorted(reported)
    server_log.removeHandler(counter)
    server_log.setLevel(logging.ERROR)
    result.s3_put_requests += counter.put
    result.s3_get_requests += counter.get
    return result


# -- printing ----------------------------------------------------------------------------------------------
def _money(value: float) -> str:
    return f"${value:.4f}" if value >= 0.01 else f"${value:.6f}"


def cost_lines(single: Measured, bursts: list[Measured]) -> list[str]:
    """Per burst: executions, wall time, cost per run and per 1,000 files; and one run per file."""
    one = total_cost(single) / max(single.executions, 1)
    parts = run_cost(single.usage())
    breakdown = ", ".join(f"{service} {_money(value)}" for service, value in parts.items() if value)
    lines = [
        f"one run of 1 file by service: {breakdown}",
        f"one file alone ({single.path}): {single.executions} run, {single.transitions} transitions, "
        f"{len(single.express_children)} Express children, "
        f"{_money(one)} per run -> one run per file: {_money(one * 1000)} per 1,000 files",
    ]
    header = ["files", "runs", "wall", "per run", "per 1,000 files", "one run per file"]
    widths = [6, 5, 7, 10, 16, 17]
    lines.append(" ".join(f"{h:>{w}}" for h, w in zip(header, widths, strict=True)))
    for measured in [single, *bursts]:
        lines.append(
            f"S3 requests, {measured.label}: counted {measured.s3_put_requests} PUT-class + "
            f"{measured.s3_get_requests} GET-class; ESTIMATES would say "
            f"{measured.estimated_s3_put_requests} + "
            f"{measured.estimated_s3_get_requests}"
        )
    for measured in [single, *bursts]:
        durations = sorted(ms for ms, _ in measured.express_children)
        if durations:
            lines.append(
                f"EXPRESS children, {measured.label}: {len(durations)}, each "
                f"{durations[len(durations) // 2]:.0f} ms median, {durations[-1]:.0f} ms at most "
                "(StopDate - StartDate; their validate calls are priced for as long)"
            )
    lines.extend(object_calls_note(m) for m in [single, *bursts] if m.validate_object_reported_ms)
    for burst in bursts:
        total = total_cost(burst)
        lines.append(
            f"{burst.files:>6} {burst.executions:>5} {burst.wall_seconds:>6.0f}s "
            f"{_money(total / max(burst.executions, 1)):>10} "
            f"{_money(total / burst.files * 1000):>16} {_money(one * 1000):>17}"
        )
    return lines


def object_calls_note(measured: Measured) -> str:
    """How long validate's object-mode calls were priced for (their children's time) against what the
    local Lambda runtime reported for them (Duration + Init Duration): the gap is the local machine
    starting and queueing up to MaxConcurrency workers on shared cores."""
    calls = measured.validate_object_reported_ms
    children = sum(ms for ms, _ in measured.express_children) / 1000
    duration = sum(ms for ms, _ in calls) / 1000
    init = sum(ms for _, ms in calls) / 1000
    cold = sum(1 for _, ms in calls if ms)
    warm = sorted(ms for ms, init_ms in calls if not init_ms)
    return (
        f"{measured.label[0].upper()}{measured.label[1:]}: validate's {len(calls):,} object-mode calls "
        "priced for their children's "
        f"{children:,.1f} s; the local Lambda runtime reported {duration:,.1f} s of Duration and "
        f"{init:,.1f} s of Init Duration ({cold:,} cold starts)"
        + (f", a warm call {warm[len(warm) // 2]:.0f} ms median" if warm else "")
    )


TABLE_START = "<!-- cost-table:start -->"
TABLE_END = "<!-- cost-table:end -->"


def readme_table(reference: Path = REFERENCE, template: Path = TEMPLATE) -> str:
    """README's cost table (markdown), from the recorded usage, template.yaml and etl_common.cost."""
    document = json.loads(reference.read_text())
    measurements = {m["label"]: Measured.from_json(m) for m in document["measured"]}
    functions = template_functions(template)
    glue = template_glue(template)
    memory = ", ".join(
        f"{name.removesuffix('Function')} {spec.memory_mb} MB" for name, spec in sorted(functions.items())
    )
    rows = [
        "| what | files | runs | transitions | Express children | Lambda GB-s | Glue DPU-s | Step Functions "
        "| Lambda | Glue | other | total | per 1,000 files |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, measured in measurements.items():
        classes = [None] if measured.path == "lite" else [None, "FLEX" if glue[2] != "FLEX" else "STANDARD"]
        for execution_class in classes:
            usage = measured.usage(functions, glue, execution_class)
            parts = run_cost(usage)
            total = sum(parts.values())
            other = total - parts["step_functions"] - parts["lambda"] - parts["glue"]
            name = label if execution_class is None else f"{label}, Glue {execution_class}"
            rows.append(
                f"| {name} | {measured.files:,} | {measured.executions} | {usage.transitions:,} | "
                f"{usage.express_executions():,} | {usage.lambda_gb_seconds():.1f} | "
                f"{usage.glue_dpu_seconds():.0f} | {_money(parts['step_functions'])} | "
                f"{_money(parts['lambda'])} | {_money(parts['glue'])} | {_money(other)} | {_money(total)} | "
                f"{_money(total / measured.files * 1000)} |"
            )
    notes = [
        "",
        f"Prices: {US_EAST_1.region} list prices of {US_EAST_1.checked} "
        "(`functions/common/etl_common/cost.py`); "
        f"memory from template.yaml: {memory}; Glue {glue[1]} x {glue[0]} ({glue[2]}). "
        f"Usage measured on the local stack on {document['measured_on']}: transitions and Lambda durations "
        "from the executions (local durations, cold starts included); the validation Map's EXPRESS children "
        "counted by DescribeMapRun and timed by their ResultWriter results, each priced as an Express "
        "request and its duration (Step Functions column) plus its validate call (Lambda column); "
        "S3 requests counted at the local S3; "
        "Spark's S3, DynamoDB, SQS and KMS requests are the estimates of `etl_common/run_usage.py`. "
        "One run per file costs the first row's total per file. "
        + " ".join(
            object_calls_note(m) + "."
            for m in measurements.values()
            if m.validate_object_reported_ms and m.files >= 100
        )
        + " The local machine has 2 cores shared with other work; load average (1 minute) at the start of "
        + ", ".join(f"{m.label} {m.load.split()[0]}" for m in measurements.values() if m.load)
        + ". "
        '"other": ' + ", ".join(s for s in SERVICES if s not in ("step_functions", "lambda", "glue")) + ".",
        "Printed by `python -m bench.cost --readme-table`.",
    ]
    return "\n".join(rows + notes)


def readme_section(readme: Path) -> str | None:
    """The text between README's cost-table markers, or None when they are missing."""
    text = readme.read_text()
    if TABLE_START not in text or TABLE_END not in text:
        return None
    return text.split(TABLE_START, 1)[1].split(TABLE_END, 1)[0].strip()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cost", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="10,100,1000", help="burst sizes, comma-separated (default 10,100,1000)"
    )
    parser.add_argument(
        "--path", default="lite", choices=PATHS, help="transform path of every run (default lite)"
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait per burst")
    parser.add_argument("--workdir", type=Path, default=REPO / "bench" / "out" / "cost")
    parser.add_argument("--record", action="store_true", help=f"keep the measured usage in {REFERENCE.name}")
    parser.add_argument("--readme-table", action="store_true", help="print README's cost table and exit")
    args = parser.parse_args(argv)
    if args.readme_table:
        if not REFERENCE.exists():
            print(
                f"no {REFERENCE.relative_to(REPO)}: run `python -m bench.cost --record` first",
                file=sys.stderr,
            )
            return 1
        print(readme_table())
        return 0
    try:
        sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    except ValueError:
        parser.error(f"--sizes takes whole numbers separated by commas, not {args.sizes!r}")
    if not sizes or min(sizes) < 1:
        parser.error("--sizes must name at least one size, each at least 1")
    if args.path == "glue" and shutil.which("java") is None:
        print("cost: --path glue needs Java for local Spark; skipped")
        return 0
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    print(f"load average {_load()}; {US_EAST_1.region} list prices of {US_EAST_1.checked}", flush=True)
    single = measure(f"one run of 1 file ({args.path})", 1, args.path, args.workdir / "single", args.timeout)
    print(f"[single] {single.executions} run in {single.wall_seconds:.1f} s ({single.statuses})", flush=True)
    bursts = []
    for size in sizes:
        burst = measure(
            f"burst of {size:,} files ({args.path})",
            size,
            args.path,
            args.workdir / f"burst-{size}",
            args.timeout,
        )
        print(
            f"[{size}] {burst.executions} runs in {burst.wall_seconds:.0f} s ({burst.statuses}), "
            f"load {_load()}",
            flush=True,
        )
        bursts.append(burst)
    print("\n".join(cost_lines(single, bursts)))
    print(f"load average after {_load()}")
    if args.record:
        previous = json.loads(REFERENCE.read_text()) if REFERENCE.exists() else {"measured": []}
        labels = {m.label for m in [single, *bursts]}
        kept = [m for m in previous["measured"] if m["label"] not in labels]
        REFERENCE.write_text(
            json.dumps(
                {
                    "measured_on": time.strftime("%Y-%m-%d"),
                    "measured": kept + [asdict(m) for m in [single, *bursts]],
                },
                indent=1,
            )
            + "\n"
        )
        print(f"recorded in {REFERENCE.relative_to(REPO)}")
    ok = all(set(m.statuses) <= {"SUCCEEDED"} for m in [single, *bursts])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
