"""Upload-to-SUCCEEDED through the local stack against the Glue script alone, on the same 1 MB CSV.

    python -m bench.local_stack [--mb 1] [--workdir bench/out/local_stack]

(a) `glue/transform.py` run directly on local Spark, reading and writing a local folder (no AWS, no
    orchestration); (b) the same file uploaded to the raw bucket of a local stack built from
    template.yaml, timed until its execution SUCCEEDED (EventBridge → SQS → trigger → state machine →
    validate → Glue → Athena DDL → DynamoDB → SNS). Both include one Spark start. The trigger's
    batching window is capped at 0 s for (b): its 30 s are a production choice, not overhead.
The ratio (b)/(a) is the orchestration overhead; the goal is at most 1.3.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
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
    from tributary.local.glue_runtime import spark_job_env

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


def through_stack(csv: Path, workdir: Path) -> tuple[float, float, str]:
    from tributary.local.one_shot import run_files
    from tributary.local.stack import LocalStack, StackOptions

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    started = time.perf_counter()
    options = StackOptions(REPO, work_dir=workdir / "stack", batch_window_cap=0.0, real_time=True)
    with LocalStack(options) as stack:
        up_seconds = time.perf_counter() - started
        started = time.perf_counter()
        result = run_files(stack, [csv], dataset="orders", timeout=900, progress=False)
        seconds = time.perf_counter() - started
        status = result.reports[0].status if result.reports else "NO RUN"
    return seconds, up_seconds, status


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

    from tributary.local.lambda_runtime import FunctionConfig, LambdaFunction

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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.local_stack", description=__doc__)
    parser.add_argument("--mb", type=float, default=1.0, help="size of the CSV (default 1 MB)")
    parser.add_argument("--workdir", type=Path, default=REPO / "bench" / "out" / "local_stack")
    args = parser.parse_args(argv)
    if shutil.which("java") is None:
        print("local_stack: needs Java for local Spark; skipped")
        return 0
    args.workdir.mkdir(parents=True, exist_ok=True)
    csv = args.workdir / "orders-bench.csv"
    rows = orders_csv(csv, args.mb)
    print(f"input: {csv.stat().st_size / MB:.2f} MB, {rows} rows", flush=True)
    alone = glue_alone(csv, args.workdir / "glue")
    print(f"(a) Glue script alone on local Spark:        {alone:6.1f} s", flush=True)
    stack_seconds, up_seconds, status = through_stack(csv, args.workdir)
    print(
        f"(b) upload to {status} through the local stack: {stack_seconds:6.1f} s "
        f"(stack start {up_seconds:.1f} s, not counted)"
    )
    ratio = stack_seconds / alone
    print(f"orchestration overhead (b)/(a): {ratio:.2f}x (goal <= {GOAL}x)")
    handler, boto3 = trigger_import_times()
    print(
        f"trigger import: {handler * 1000:.0f} ms; bare `import boto3`: {boto3 * 1000:.0f} ms "
        f"({handler / boto3:.2f}x)"
    )
    return 0 if status == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
