"""Upload-to-SUCCEEDED through the local stack on each transform path, what each costs, and the
orchestration overhead, on the same 1 MB orders CSV.

    python -m bench.local_stack [--mb 1] [--paths cold,warm,small] [--workdir bench/out/local_stack]

(a) `glue/transform.py` run directly on local Spark (a fresh process), reading and writing a local
    folder: no AWS, no orchestration.
(b) the file uploaded to the raw bucket of a local stack built from template.yaml, timed until its
    execution SUCCEEDED (EventBridge → SQS → trigger → state machine → validate → transform → Athena
    DDL → DynamoDB → SNS), twice per path (two uploads, same content), one stack per path:
    - `cold`: the Glue job in a fresh process per run, its own JVM: the local Glue runtime before warm
      workers, and the figure the others are compared with ("today's");
    - `warm`: the Glue job in the runtime's long-lived Spark worker (run 1 starts it, run 2 finds it
      started);
    - `small`: the small-run path (a Lambda function, no Spark), when template.yaml has the
      `SmallRunMaxBytes` parameter.
    The Glue paths set SmallRunMaxBytes=0 (when it exists) so that the 1 MB file goes to Glue; `small`
    sets it above the file's size. The trigger's batching window is capped at 0 s: its 30 s are a
    production choice, not overhead.
Then the cost per run of each path on AWS from `etl_common.cost` (us-east-1 list prices): the
transform (Glue: the job's workers x the run's time, one-minute minimum, STANDARD and FLEX; small
run: the function's memory x its measured duration), plus every other Lambda invocation of the run
(memory x measured duration) and the state transitions of its execution. Durations are local ones.
(b)/(a) for `cold` is the orchestration overhead; the goal is at most 1.3.
Also: the trigger handler's import time against a bare `import boto3` (best of 5, fresh processes).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "functions" / "common"))  # etl_common (cost, contracts, plan), as the layer
MB = 1024 * 1024
GOAL = 1.3


def orders_csv(path: Path, size_mb: float, seed: int = 7) -> int:
    """A valid orders export (contracts/orders.yaml) of about `size_mb`; returns its row count."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 20, tzinfo=UTC)
    lines = ["order_id,customer_id,amount,quantity,status,ordered_at"]
    size = len(lines[0]) + 1
    index = 0
    while size < size_mb * MB:
        index += 1
        at = start + timedelta(seconds=rng.randrange(4 * 86400))
        line = (
            f"ORD-{index:06d},C{rng.randrange(10000):04d},{rng.randrange(100, 99999) / 100:.2f},"
            f"{rng.randrange(1, 9)},{rng.choice(['NEW', 'PAID', 'SHIPPED'])},{at:%Y-%m-%d %H:%M:%S}"
        )
        lines.append(line)
        size += len(line) + 1
    path.write_text("\n".join(lines) + "\n")
    return index


def glue_alone(csv: Path, workdir: Path) -> float:
    from tributary.local.runtimes.glue_runtime import spark_job_env

    mirror = workdir / "s3"
    shutil.rmtree(mirror, ignore_errors=True)
    source = mirror / "bench-raw" / "incoming" / "orders" / csv.name
    source.parent.mkdir(parents=True)
    shutil.copy(csv, source)
    manifest = workdir / "validated.json"
    manifest.write_text(
        json.dumps(
            {
                "run_id": "bench",
                "dataset": "orders",
                "objects": [
                    {
                        "bucket": "bench-raw",
                        "key": f"incoming/orders/{csv.name}",
                        "size": csv.stat().st_size,
                        "compression": "none",
                        "encoding": "utf-8",
                    }
                ],
            }
        )
    )
    command = [
        sys.executable,
        str(REPO / "glue" / "transform.py"),
        "--run_id", "bench",
        "--manifest_uri", str(manifest),
        "--contract_uri", str(REPO / "contracts" / "orders.yaml"),
        *_plan_argument(workdir),
        "--output_uri", "s3://bench-curated/orders/",
        "--rejects_uri", "s3://bench-artifacts/rejects/orders/run_id=bench/",
        "--result_uri", str(workdir / "result.json"),
        "--spark_path_prefix", mirror.resolve().as_uri(),
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, env=spark_job_env({}, 2), cwd=REPO, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    result = json.loads((workdir / "result.json").read_text())
    if result.get("status") != "SUCCEEDED":
        raise RuntimeError(f"the Glue script alone did not succeed: {result.get('status')}")
    return seconds


def _plan_argument(workdir: Path) -> list[str]:
    """`--plan_uri` with the orders contract compiled, when etl_common has the plan compiler."""
    try:
        from etl_common.contracts import load_contract_file
        from etl_common.plan import compile_plan
    except ImportError:
        return []
    plan = compile_plan(load_contract_file(REPO / "contracts" / "orders.yaml"))
    path = workdir / "plan.json"
    path.write_text(json.dumps(plan.model_dump(mode="json")))
    return ["--plan_uri", str(path)]


PATHS = {
    "cold": "Glue, a process per run (today)",
    "warm": "Glue, warm Spark worker",
    "small": "small-run path (Lambda)",
}
SMALL_RUN_PARAMETER = "SmallRunMaxBytes"


@dataclass
class Invocation:
    function: str  # logical id
    duration_ms: float
    memory_mb: int
    ephemeral_mb: int
    architecture: str


@dataclass
class PathRun:
    """One upload through the stack on one path."""

    seconds: float
    status: str
    transform_state: str | None  # RunTransformJob, RunSmallTransform, ... (the state that ran)
    transitions: int
    invocations: list[Invocation] = field(default_factory=list)
    glue_seconds: float | None = None  # the Glue job run's execution time
    glue_workers: tuple[str, int] = ("G.1X", 2)


def template_parameters() -> set[str]:
    from tributary.local.provisioning.template import load_template

    return set((load_template(REPO / "template.yaml").get("Parameters") or {}).keys())


def _function_properties(stack: Any) -> dict[str, tuple[int, int, str]]:
    """Logical id → (memory MB, ephemeral storage MB, architecture) as provisioned."""
    found = {}
    for resource in stack.stack.of_type("AWS::Lambda::Function"):
        props = resource.properties
        memory = int(props.get("MemorySize", 128))
        ephemeral = int((props.get("EphemeralStorage") or {}).get("Size", 512))
        architecture = (props.get("Architectures") or ["x86_64"])[0]
        found[resource.logical_id] = (memory, ephemeral, architecture)
    return found


def _record_invocations(stack: Any, into: list[Invocation]) -> None:
    properties = _function_properties(stack)
    seen: set[int] = set()
    for function in stack.lambdas._functions.values():
        if id(function) in seen:
            continue
        seen.add(id(function))
        previous = function.on_invoked
        memory, ephemeral, architecture = properties.get(
            function.config.logical_id, (function.config.memory_mb, 512, "arm64")
        )

        def record(config: Any, result: Any, previous: Any = previous, m: int = memory, e: int = ephemeral,
                   a: str = architecture) -> None:  # fmt: skip
            into.append(Invocation(config.logical_id or config.name, result.duration_ms, m, e, a))
            if previous is not None:
                previous(config, result)

        function.on_invoked = record


def through_stack(csv: Path, workdir: Path, path: str, runs: int = 2) -> tuple[list[PathRun], float]:
    """`runs` uploads of the file (one after the other) through one stack on `path`; and the stack's
    start-up time (not counted)."""
    from tributary.local.commands.one_shot import run_files
    from tributary.local.stack import LocalStack, StackOptions

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # SAM's translator warns of its own unpublished usage metrics when the template is provisioned
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    overrides = {}
    if SMALL_RUN_PARAMETER in template_parameters():
        overrides[SMALL_RUN_PARAMETER] = str(10 * csv.stat().st_size) if path == "small" else "0"
    started = time.perf_counter()
    shutil.rmtree(workdir / f"stack-{path}", ignore_errors=True)
    options = StackOptions(
        REPO,
        work_dir=workdir / f"stack-{path}",
        batch_window_cap=0.0,
        real_time=True,
        glue_mode="cold" if path == "cold" else "warm",
        parameter_overrides=overrides,
    )
    measured: list[PathRun] = []
    with LocalStack(options) as stack:
        up_seconds = time.perf_counter() - started
        (job,) = stack.glue._jobs.values()
        invocations: list[Invocation] = []
        _record_invocations(stack, invocations)
        for number in range(1, runs + 1):
            upload = workdir / f"orders-{path}-{number}.csv"
            shutil.copy(csv, upload)
            invocations.clear()
            started = time.perf_counter()
            result = run_files(stack, [upload], dataset="orders", timeout=900, progress=False)
            seconds = time.perf_counter() - started
            report = result.reports[0] if result.reports else None
            states = report.states if report else []
            transform = next(
                (s.name for s in states if s.name.startswith("Run") and "Transform" in s.name), None
            )
            glue_runs = stack.glue.get_job_runs(JobName=job.name)["JobRuns"]
            glue_seconds = None
            if transform == "RunTransformJob" and glue_runs:
                latest = glue_runs[0]
                glue_seconds = (latest["CompletedOn"] - latest["StartedOn"]).total_seconds()
            measured.append(
                PathRun(
                    seconds,
                    report.status if report else "NO RUN",
                    transform,
                    sum(s.visits + s.retries for s in states),
                    list(invocations),
                    glue_seconds,
                    (job.worker_type, job.number_of_workers),
                )
            )
    return measured, up_seconds


def run_costs(run: PathRun) -> dict[str, float]:
    """The run's cost on AWS, by part (USD, us-east-1 list prices)."""
    from etl_common import cost

    def invocation_cost(item: Invocation) -> float:
        return cost.lambda_cost(
            item.duration_ms,
            item.memory_mb,
            architecture=item.architecture,
            ephemeral_storage_mb=item.ephemeral_mb,
        )

    transform = [i for i in run.invocations if "Transform" in i.function]
    others = [i for i in run.invocations if "Transform" not in i.function]
    parts = {
        "other Lambdas": sum(invocation_cost(i) for i in others),
        "state transitions": cost.step_functions_cost(run.transitions),
    }
    if run.glue_seconds is not None:
        worker_type, workers = run.glue_workers
        parts["Glue STANDARD"] = cost.glue_job_cost(
            run.glue_seconds, worker_type=worker_type, number_of_workers=workers
        )
        parts["Glue FLEX"] = cost.glue_job_cost(
            run.glue_seconds, worker_type=worker_type, number_of_workers=workers, execution_class="FLEX"
        )
    if transform:
        parts["transform Lambda"] = sum(invocation_cost(i) for i in transform)
    return parts


def import_time(statement: str, env: dict[str, str], cwd: Path, repeat: int = 5) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    best = float("inf")
    for _ in range(repeat):
        output = subprocess.run(
            [sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True
        )
        if output.returncode != 0:
            raise RuntimeError(output.stderr.strip().splitlines()[-1] if output.stderr else "import failed")
        best = min(best, float(output.stdout.strip()))
    return best


def trigger_import_times() -> tuple[float, float]:
    import os

    from tributary.local.runtimes.lambda_runtime import FunctionConfig, LambdaFunction

    config = FunctionConfig(
        name="trigger",
        arn="arn:aws:lambda:us-east-1:123456789012:function:trigger",
        handler="trigger.handler.lambda_handler",
        code_dir=REPO / "functions" / "trigger",
        layer_dirs=(REPO / "functions" / "common", REPO / "contracts"),
        environment={
            "RAW_BUCKET": "raw",
            "ARTIFACTS_BUCKET": "artifacts",
            "CURATED_BUCKET": "curated",
            "RUNS_TABLE": "runs",
            "LINEAGE_TABLE": "lineage",
            "IDEMPOTENCY_TABLE": "idempotency",
            "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:pipeline",
            "CONTRACTS_DIR": "/opt",
            "POWERTOOLS_SERVICE_NAME": "trigger",
            "AWS_DEFAULT_REGION": "us-east-1",
        },
    )
    function = LambdaFunction(config, {"AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"})
    try:
        env = {**os.environ, **function.worker_env()}
        handler = import_time("import trigger.handler", env, config.code_dir)
        boto3 = import_time("import boto3", env, config.code_dir)
    finally:
        function.close()
    return handler, boto3


def _steady(runs: list[PathRun]) -> float:
    """The median time of the runs after the first (which starts workers, Spark, Lambda runtimes)."""
    import statistics

    return statistics.median(r.seconds for r in runs[1:])


def _load() -> str:
    import os

    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _print_costs(path: str, run: PathRun) -> None:
    from etl_common.cost import US_EAST_1

    parts = run_costs(run)
    shared = parts["other Lambdas"] + parts["state transitions"]
    lambdas = [i for i in run.invocations if "Transform" not in i.function]
    shared_text = (
        f"{len(lambdas)} other Lambda invocations ${parts['other Lambdas']:.6f} + "
        f"{run.transitions} state transitions ${parts['state transitions']:.6f}"
    )
    if "Glue STANDARD" in parts:
        worker_type, workers = run.glue_workers
        billed = max(run.glue_seconds or 0.0, US_EAST_1.glue_minimum_seconds)
        standard, flex = parts["Glue STANDARD"], parts["Glue FLEX"]
        print(
            f"  {PATHS[path]:34s} total STANDARD ${standard + shared:.5f}, FLEX ${flex + shared:.5f}\n"
            f"  {'':34s} Glue {workers} x {worker_type}, {run.glue_seconds:.1f} s, billed {billed:.0f} s: "
            f"STANDARD ${standard:.5f}, FLEX ${flex:.5f}; {shared_text}"
        )
    elif "transform Lambda" in parts:
        item = next(i for i in run.invocations if "Transform" in i.function)
        lite = parts["transform Lambda"]
        print(
            f"  {PATHS[path]:34s} total ${lite + shared:.6f}\n"
            f"  {'':34s} {item.function} {item.memory_mb} MB x {item.duration_ms / 1000:.2f} s: "
            f"${lite:.6f}; {shared_text}"
        )
    else:
        print(f"  {PATHS[path]:34s} no transform ran ({run.status})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.local_stack", description=__doc__)
    parser.add_argument("--mb", type=float, default=1.0, help="size of the CSV (default 1 MB)")
    parser.add_argument(
        "--paths", default="cold,warm,small", help="comma-separated, of: cold, warm, small (default all)"
    )
    parser.add_argument(
        "--runs", type=int, default=2, help="uploads per path, one after the other (default 2; at least 2)"
    )
    parser.add_argument("--workdir", type=Path, default=REPO / "bench" / "out" / "local_stack")
    args = parser.parse_args(argv)
    if args.runs < 2:
        parser.error("--runs must be at least 2 (run 1 starts what later runs find started)")
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    unknown = [p for p in paths if p not in PATHS]
    if unknown or not paths:
        parser.error(f"--paths takes cold, warm, small; not {', '.join(unknown) or 'nothing'}")
    if shutil.which("java") is None:
        print("local_stack: needs Java for local Spark; skipped")
        return 0
    if "small" in paths and SMALL_RUN_PARAMETER not in template_parameters():
        print(f"small-run path: template.yaml has no {SMALL_RUN_PARAMETER} parameter yet; skipped")
        paths.remove("small")
    args.workdir.mkdir(parents=True, exist_ok=True)
    csv = args.workdir / "orders-bench.csv"
    rows = orders_csv(csv, args.mb)
    print(f"input: {csv.stat().st_size / MB:.2f} MB, {rows} rows; load average {_load()}", flush=True)
    alone = glue_alone(csv, args.workdir / "glue")
    print(f"(a) Glue script alone on local Spark (own process): {alone:6.1f} s", flush=True)
    print("(b) upload to SUCCEEDED through the local stack (stack start not counted):", flush=True)
    results: dict[str, list[PathRun]] = {}
    ok = True
    for path in paths:
        runs, up_seconds = through_stack(csv, args.workdir, path, args.runs)
        results[path] = runs
        wrong = [
            r
            for r in runs
            if r.status != "SUCCEEDED" or (path == "small") != (r.transform_state == "RunSmallTransform")
        ]
        ok = ok and not wrong
        times = "  ".join(
            f"run {i}: {r.seconds:5.1f} s ({r.status}, {r.transform_state})" for i, r in enumerate(runs, 1)
        )
        print(f"  {PATHS[path]:34s} {times}  (stack start {up_seconds:.1f} s)", flush=True)
    if "cold" in results:
        today = _steady(results["cold"])
        print(f"ratio to today's (cold Glue: {today:.1f} s), median of runs 2..{args.runs} of each path:")
        for path, runs in results.items():
            steady = _steady(runs)
            print(
                f"  {PATHS[path]:34s} {steady:5.1f} s {steady / today:5.2f}x ({today / steady:.1f}x faster)"
            )
        ratio = results["cold"][0].seconds / alone
        print(f"orchestration overhead, cold run 1 (b)/(a): {ratio:.2f}x (goal <= {GOAL}x)")
    from etl_common.cost import US_EAST_1

    print(f"cost per run on AWS ({US_EAST_1.region} list prices of {US_EAST_1.checked}; local durations):")
    for path, runs in results.items():
        _print_costs(path, runs[-1])
    print(f"load average at the end {_load()}")
    handler, boto3 = trigger_import_times()
    print(
        f"trigger import: {handler * 1000:.0f} ms; bare `import boto3`: {boto3 * 1000:.0f} ms "
        f"({handler / boto3:.2f}x)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
