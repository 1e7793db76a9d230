"""A burst of small uploads through the local stack: the ingestion parameters before and after.

    python -m bench.burst [--files 1000] [--rows 3] [--configs old,new] [--timeout 3600]

N orders files of a few rows each are uploaded at once (8 threads) to the raw bucket of a local stack
built from template.yaml, as `tributary up` runs it (real clock, the template's batching window). The
clock stops when every uploaded object version is in a run that ended, and nothing is queued. Printed
per parameter set: executions, Glue start refusals (ConcurrentRunsExceededException, each one a Retry
of the state machine), runs by status, the longest run, the longest trigger invocation, wall time.
Each set starts its own stack in this process, on the same files; the ratio old/new is the gain.

The parameter sets override samconfig's [default] environment:
  old: TriggerBatchSize=100, TriggerBatchingWindowSeconds=30, GlueMaxConcurrentRuns=3 (before issue 8)
  new: the template's and samconfig's current values
Spark starts for every Glue run: run it under `flock /tmp/tributary-spark.lock` on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OLD = {"TriggerBatchSize": "100", "TriggerBatchingWindowSeconds": "30", "GlueMaxConcurrentRuns": "3"}
CONFIGS: dict[str, dict[str, str]] = {"old": OLD, "new": {}}
ENDED = ("SUCCEEDED", "FAILED", "QUARANTINED")


def orders_files(count: int, rows: int) -> list[tuple[str, bytes]]:
    """``count`` valid orders files (contracts/orders.yaml) of ``rows`` rows each, every order id unique."""
    files = []
    for index in range(count):
        lines = ["order_id,customer_id,amount,quantity,status,ordered_at"]
        for row in range(rows):
            order = index * rows + row + 1
            lines.append(
                f"ORD-{order:06d},C{order % 997:04d},{order % 500 + 1}.25,{row + 1},NEW,2026-11-24 10:00:00"
            )
        files.append((f"incoming/orders/burst/{index:05d}.csv", ("\n".join(lines) + "\n").encode()))
    return files


@dataclass
class Outcome:
    name: str
    parameters: dict[str, str]
    files: int
    wall_seconds: float = 0.0
    executions: int = 0
    glue_refusals: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    objects_in_runs: int = 0
    longest_run_seconds: float = 0.0
    trigger_invocations: int = 0
    longest_trigger_seconds: float = 0.0
    # Longest time in each of these states over the runs (the Glue task includes its Retry waits).
    longest_state_seconds: dict[str, float] = field(default_factory=dict)
    timed_out: bool = False


def _with_overrides(overrides: dict[str, str]) -> Callable[[], None]:
    """samconfig's parameters with ``overrides`` on top, for stacks started in this process."""
    from tributary.local import provisioning

    original = provisioning.samconfig_parameters

    def merged(path: Path, config_env: str) -> dict[str, str]:
        return {**original(path, config_env), **overrides}

    provisioning.samconfig_parameters = merged

    def restore() -> None:
        provisioning.samconfig_parameters = original

    return restore


def _parameters(stack: Any) -> dict[str, str]:
    mapping = stack.mappings[0].config
    job = stack.stack.resources["TransformJob"].properties
    return {
        "BatchSize": str(mapping.batch_size),
        "Window": f"{mapping.batching_window_seconds:g}s",
        "GlueMaxConcurrentRuns": str((job.get("ExecutionProperty") or {}).get("MaxConcurrentRuns", 1)),
    }


def _count_glue_refusals(stack: Any) -> list[int]:
    from tributary.local.runtimes.glue_runtime import GlueError

    refusals = [0]
    start = stack.glue.start_job_run

    def counting(**request: Any) -> Any:
        try:
            return start(**request)
        except GlueError as exc:
            if exc.code == "ConcurrentRunsExceededException":
                refusals[0] += 1
            raise

    stack.glue.start_job_run = counting
    return refusals


def _time_triggers(stack: Any) -> list[float]:
    durations: list[float] = []
    for mapping in stack.mappings:
        invoke = mapping.invoke

        def timed(payload: Any, invoke: Any = invoke) -> Any:
            started = time.perf_counter()
            try:
                return invoke(payload)
            finally:
                durations.append(time.perf_counter() - started)

        mapping.invoke = timed
    return durations


def _upload(stack: Any, files: list[tuple[str, bytes]]) -> None:
    bucket = stack.physical_id("RawBucket")
    local = threading.local()

    def put(item: tuple[str, bytes]) -> None:
        if not hasattr(local, "s3"):
            local.s3 = stack.aws.client("s3")
        local.s3.put_object(Bucket=bucket, Key=item[0], Body=item[1])

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, files))


def _runs(stack: Any) -> list[dict[str, Any]]:
    from tributary.local.views.report import plain_item

    dynamodb = stack.aws.client("dynamodb")
    table = stack.physical_id("RunsTable")
    return [
        plain_item(item)
        for page in dynamodb.get_paginator("scan").paginate(TableName=table)
        for item in page["Items"]
    ]


def _queued(stack: Any) -> int:
    sqs = stack.aws.client("sqs")
    url = stack.physical_id("IngestQueue")
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


# Validation is three states: prepare, the distributed Map of EXPRESS children, the summary.
VALIDATION_STATES = ("PrepareValidation", "ValidateEachObject", "ValidateObjects")
TIMED_STATES = (*VALIDATION_STATES, "RunTransformJob")


def _state_durations(stack: Any) -> dict[str, float]:
    """The longest entered-to-exited time of each TIMED_STATES state over the stack's executions."""
    from tributary.local.session import execution_history

    sfn = _sfn(stack)
    longest = dict.fromkeys(TIMED_STATES, 0.0)
    arn = stack.state_machine_arn()
    for summary in sfn.list_executions(stateMachineArn=arn)["executions"]:
        entered: dict[str, Any] = {}
        for event in execution_history(sfn, summary["executionArn"]):
            details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails") or {}
            name = details.get("name")
            if name not in longest:
                continue
            if event["type"].endswith("StateEntered"):
                entered[name] = event["timestamp"]
            elif name in entered:
                seconds = (event["timestamp"] - entered.pop(name)).total_seconds()
                longest[name] = max(longest[name], seconds)
    return longest


def _sfn(stack: Any) -> Any:
    import boto3

    return boto3.client(
        "stepfunctions",
        endpoint_url=stack.states_url,
        region_name=stack.aws.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _seconds(start: Any, end: Any) -> float:
    if not start or not end:
        return 0.0
    return (datetime.fromisoformat(str(end)) - datetime.fromisoformat(str(start))).total_seconds()


def run_burst(
    name: str, overrides: dict[str, str], files: list[tuple[str, bytes]], workdir: Path, timeout: float
) -> Outcome:
    from tributary.local.stack import LocalStack, StackOptions

    restore = _with_overrides(overrides)
    shutil.rmtree(workdir, ignore_errors=True)
    try:
        options = StackOptions(REPO, work_dir=workdir, real_time=True)
        with LocalStack(options) as stack:
            restore()
            outcome = Outcome(name, _parameters(stack), len(files))
            refusals = _count_glue_refusals(stack)
            triggers = _time_triggers(stack)
            started = time.perf_counter()
            _upload(stack, files)
            print(
                f"[{name}] {len(files)} files uploaded in {time.perf_counter() - started:.1f} s", flush=True
            )
            deadline = started + timeout
            shown = ""
            while True:
                runs = _runs(stack)
                ended = [run for run in runs if run.get("status") in ENDED]
                objects = sum(int(run.get("object_count", 0)) for run in ended)
                line = f"[{name}] runs {len(ended)}/{len(runs)} ended, objects {objects}/{len(files)}"
                if line != shown:
                    print(f"{line} at {time.perf_counter() - started:.0f} s", flush=True)
                    shown = line
                if runs and len(ended) == len(runs) and objects >= len(files) and _queued(stack) == 0:
                    break
                if time.perf_counter() > deadline:
                    outcome.timed_out = True
                    break
                time.sleep(2)
            outcome.wall_seconds = time.perf_counter() - started
            outcome.executions = len(runs)
            outcome.glue_refusals = refusals[0]
            outcome.objects_in_runs = objects
            for run in runs:
                status = str(run.get("status"))
                outcome.statuses[status] = outcome.statuses.get(status, 0) + 1
            outcome.longest_run_seconds = max(
                (
                    _seconds(run.get("started_at") or run.get("created_at"), run.get("finished_at"))
                    for run in ended
                ),
                default=0.0,
            )
            outcome.longest_state_seconds = _state_durations(stack)
            outcome.trigger_invocations = len(triggers)
            outcome.longest_trigger_seconds = max(triggers, default=0.0)
    finally:
        restore()
    return outcome


def render(outcomes: list[Outcome]) -> str:
    header = ["set", "BatchSize", "Window", "GlueMax", "executions", "Glue refusals", "runs by status",
              "longest run", "validate", "Glue task", "trigger calls (longest)", "wall time"]  # fmt: skip
    rows = [header]
    for o in outcomes:
        rows.append(
            [
                o.name,
                o.parameters["BatchSize"],
                o.parameters["Window"],
                o.parameters["GlueMaxConcurrentRuns"],
                str(o.executions),
                str(o.glue_refusals),
                " ".join(f"{k}={v}" for k, v in sorted(o.statuses.items())),
                f"{o.longest_run_seconds:.0f} s",
                f"{sum(o.longest_state_seconds.get(name, 0) for name in VALIDATION_STATES):.0f} s",
                f"{o.longest_state_seconds.get('RunTransformJob', 0):.0f} s",
                f"{o.trigger_invocations} ({o.longest_trigger_seconds:.1f} s)",
                f"{o.wall_seconds:.0f} s" + (" TIMED OUT" if o.timed_out else ""),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows)


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.burst", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--files", type=int, default=1000, help="files in the burst (default 1000)")
    parser.add_argument("--rows", type=int, default=3, help="rows per file (default 3)")
    parser.add_argument("--configs", default="old,new", help="parameter sets to run, in order (old,new)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait per set")
    parser.add_argument("--workdir", type=Path, default=REPO / "bench" / "out" / "burst")
    parser.add_argument("--json", type=Path, help="also write the outcomes to this file")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.configs.split(",") if name.strip()]
    unknown = [name for name in names if name not in CONFIGS]
    if args.files < 1 or args.rows < 1 or unknown or not names:
        parser.error(f"--files and --rows must be at least 1; sets are {', '.join(CONFIGS)}")
    if shutil.which("java") is None:
        print("burst: needs Java for local Spark; skipped")
        return 0
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    files = orders_files(args.files, args.rows)
    print(f"burst of {args.files} files x {args.rows} rows; load average {_load()}")
    outcomes = [run_burst(name, CONFIGS[name], files, args.workdir / name, args.timeout) for name in names]
    print(render(outcomes))
    by_name = {o.name: o for o in outcomes}
    if "old" in by_name and "new" in by_name and by_name["new"].wall_seconds:
        print(f"wall time old/new: {by_name['old'].wall_seconds / by_name['new'].wall_seconds:.1f}x")
    print(f"load average after: {_load()}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"at": datetime.now(UTC).isoformat(), "outcomes": [o.__dict__ for o in outcomes]}, indent=2
            )
        )
    return 0 if all(not o.timed_out and o.statuses.keys() <= {"SUCCEEDED"} for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
