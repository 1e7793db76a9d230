"""What one run of the pipeline used, for `etl_common.cost`: measured from its execution history where
the history shows it, estimated (and named so) where it cannot.

Measured from the history (`usage_from_history`):
- state transitions: every state entered, and every retry of a Task (AWS bills both), in the
  execution itself; a distributed Map's child executions are not in the parent's history: each item
  is counted as `CHILD_TRANSITIONS_PER_ITEM` transitions (its one Task; a child's own retries are not
  seen). Known gap: the EXPRESS children of ValidateEachObject are priced the same way (one Standard
  transition each, about 20 times an Express child's request and duration; also counted as free
  Athena DDL statements) and their validate Lambda calls, not in the parent's history, are not counted;
- Lambda invocations made by Tasks, each for the time Step Functions saw it run (TaskStarted to its
  end: a little more than the billed duration), at the function's memory as deployed;
- the Glue job run (its id, from the Task's events, for GetJobRun's ExecutionTime and DPUSeconds);
- Athena queries: one DDL statement per item of a distributed Map over Athena (free), and the
  statement type and bytes scanned of a Task that ran a query itself;
- DynamoDB, SNS, CloudWatch and S3 requests made by the state machine's own Tasks that succeeded (and
  a distributed Map's ItemReader).

Estimated (`estimated_usage`): the requests made inside the functions and the Glue job, by the
trigger that started the run, by EventBridge and the ingest queue, and to KMS. `ESTIMATES` lists
them, per run, per object and per Athena statement. The S3 figures of every step but the Glue job's
were counted at the local stack's S3 on 2026-12-07 (`python -m bench.cost` counts them again and prints
them next to these: one small-run of 1 file, 14 PUT-class and 8 GET-class requests besides the state
machine's own 2 GETs; each more object, 1 PUT and 2 GETs); Spark's (Glue path) and the DynamoDB, SQS and
KMS figures are read from the code and the services' documented behaviour.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from etl_common.cost import AthenaUse, LambdaUse, RunUsage, dynamodb_write_units

CHILD_TRANSITIONS_PER_ITEM = 1
DYNAMODB_WRITES = ("putItem", "updateItem", "deleteItem")
FunctionConfigs = Mapping[str, tuple[int, str, int]]  # function name or ARN → (memory MB, arch, /tmp MB)


@dataclass
class HistoryUsage:
    """What the history shows, with what it leaves to be looked up (Glue run, function memory)."""

    usage: RunUsage
    lambda_durations: list[tuple[str, float]] = field(default_factory=list)  # (FunctionName, ms)
    glue_job_runs: list[tuple[str, str]] = field(default_factory=list)  # (JobName, JobRunId)
    distributed_items: int = 0
    dynamodb_writes: int = 0


def _details(event: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value)
    return None


def usage_from_history(events: Iterable[Mapping[str, Any]], *, run_item_bytes: int = 1024) -> HistoryUsage:
    """Read a Step Functions execution history (GetExecutionHistory's events, oldest first).

    `run_item_bytes` is the size of the run record the DynamoDB Tasks update: each update is billed one
    write request unit per KB of it."""
    usage = RunUsage()
    found = HistoryUsage(usage)
    scheduled: dict[int, dict[str, Any]] = {}  # TaskScheduled event id → its details
    started: dict[int, datetime] = {}  # TaskScheduled id → TaskStarted time
    by_id: dict[int, Mapping[str, Any]] = {}
    map_length = 0  # items of the Map state that started last
    for event in events:
        kind = str(event.get("type", ""))
        event_id = int(event.get("id", 0))
        by_id[event_id] = event
        details = _details(event)
        previous = int(event.get("previousEventId", 0))
        if kind.endswith("StateEntered"):
            usage.transitions += 1
        elif kind == "TaskScheduled":
            scheduled[event_id] = details
            if _task_attempt(by_id, previous) > 0:
                usage.transitions += 1  # a retry is one more transition
        elif kind == "TaskStarted":
            moment = _moment(event.get("timestamp"))
            if moment is not None:
                started[previous] = moment
        elif kind in ("TaskSucceeded", "TaskFailed", "TaskTimedOut"):
            task = _scheduled_of(by_id, event_id)
            if task is None:
                continue
            details_of_task = scheduled.get(task, {})
            resource_type = details_of_task.get("resourceType")
            if kind == "TaskSucceeded":  # a throttled or refused request is not billed
                _count_request(found, details_of_task, run_item_bytes)
            begun, ended = started.get(task), _moment(event.get("timestamp"))
            if resource_type == "lambda" and begun is not None and ended is not None:
                parameters = _json(details_of_task.get("parameters")) or {}
                milliseconds = max(0.0, (ended - begun).total_seconds() * 1000)
                found.lambda_durations.append((str(parameters.get("FunctionName", "")), milliseconds))
            if resource_type == "athena" and kind == "TaskSucceeded":
                output = _json(details.get("output")) or {}
                execution = output.get("QueryExecution", output)
                usage.athena.append(
                    AthenaUse(
                        str(execution.get("StatementType", "DML")),
                        int((execution.get("Statistics") or {}).get("DataScannedInBytes", 0)),
                    )
                )
        elif kind == "TaskSubmitted":
            task = _scheduled_of(by_id, event_id)
            details_of_task = scheduled.get(task or -1, {})
            if details_of_task.get("resourceType") == "glue":
                output = _json(details.get("output")) or {}
                parameters = _json(details_of_task.get("parameters")) or {}
                if output.get("JobRunId"):
                    found.glue_job_runs.append((str(parameters.get("JobName", "")), str(output["JobRunId"])))
        elif kind == "MapStateStarted":
            map_length = int(details.get("length", 0))
        elif kind == "MapRunStarted":
            # A distributed Map (MapRunStarted follows its MapStateStarted): its ItemReader read the
            # items from S3 (one GET); each item is a child execution running one DDL statement.
            found.distributed_items += map_length
            usage.transitions += map_length * CHILD_TRANSITIONS_PER_ITEM
            usage.athena.extend(AthenaUse("DDL", 0) for _ in range(map_length))
            usage.s3_get_requests += 1
    return found


def _task_attempt(by_id: Mapping[int, Mapping[str, Any]], previous: int) -> int:
    """0 for the first TaskScheduled after its state was entered, 1 and more for a retry's."""
    event = by_id.get(previous)
    attempts = 0
    while event is not None:
        kind = str(event.get("type", ""))
        if kind.endswith("StateEntered"):
            return attempts
        if kind in ("TaskFailed", "TaskTimedOut"):
            attempts += 1
        event = by_id.get(int(event.get("previousEventId", 0)))
    return attempts


def _scheduled_of(by_id: Mapping[int, Mapping[str, Any]], event_id: int) -> int | None:
    """The TaskScheduled event a task's later event belongs to (following previousEventId)."""
    event = by_id.get(event_id)
    while event is not None:
        if event.get("type") == "TaskScheduled":
            return int(event["id"])
        if str(event.get("type", "")).endswith("StateEntered"):
            return None
        event = by_id.get(int(event.get("previousEventId", 0)))
    return None


def _count_request(found: HistoryUsage, details: Mapping[str, Any], run_item_bytes: int) -> None:
    usage = found.usage
    resource_type = str(details.get("resourceType", ""))
    resource = str(details.get("resource", "")).split(".")[0]
    if resource_type == "dynamodb" and resource in DYNAMODB_WRITES:
        found.dynamodb_writes += 1
        usage.dynamodb_write_units += dynamodb_write_units(run_item_bytes)
    elif resource_type == "sns" and resource == "publish":
        usage.sns_publishes += 1
    elif resource_type == "aws-sdk:cloudwatch":
        usage.cloudwatch_requests += 1
    elif resource_type == "aws-sdk:s3":
        if resource.lower().startswith(("get", "head")):
            usage.s3_get_requests += 1
        else:
            usage.s3_put_requests += 1


def lambda_uses(found: HistoryUsage, configs: FunctionConfigs) -> list[LambdaUse]:
    """The history's Lambda invocations at each function's configuration (memory, architecture, /tmp);
    a function whose configuration is unknown is counted at 128 MB, Lambda's default, and named so."""
    uses = []
    for name, milliseconds in found.lambda_durations:
        memory, architecture, storage = configs.get(name, (128, "arm64", 512))
        uses.append(LambdaUse(name.rsplit(":", 1)[-1], milliseconds, memory, architecture, storage))
    return uses


# -- estimates ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Estimate:
    """Requests one step makes that the execution history does not show: `per_run` once per run,
    `per_object` for each object of the run, `per_query` for each Athena statement; `path` limits it to
    the runs of one transform path ("glue" or "lite")."""

    step: str
    service: str  # one of ESTIMATED_SERVICES
    per_run: float
    per_object: float
    why: str
    per_query: float = 0
    path: str | None = None


ESTIMATED_SERVICES = ("s3_put", "s3_get", "dynamodb_wru", "sqs", "kms")
ESTIMATES: tuple[Estimate, ...] = (
    Estimate("trigger", "s3_put", 1, 0, "the run's manifest"),
    Estimate("trigger", "dynamodb_wru", 1, 2, "run record; a claim (put, update) per object"),
    Estimate("trigger", "sqs", 2, 1, "each event sent to the queue; the batch received, deleted"),
    Estimate("validate", "s3_get", 1, 1, "the manifest; a HEAD per object"),
    Estimate("validate", "s3_put", 5, 1, "plan, contract, lists, references; a staged copy per object"),
    Estimate("catalog", "s3_get", 1, 0, "the run's contract"),
    Estimate("transform", "s3_get", 2, 1, "the plan, the validated list, each staged object"),
    Estimate("transform", "s3_put", 6, 0, "two listings; result, summary, batches; a part per partition"),
    Estimate("glue", "s3_put", 6, 2, "Spark's committer lists, writes, copies each part", path="glue"),
    Estimate("glue", "s3_get", 6, 1, "Spark reads its script and files, HEADs each input", path="glue"),
    Estimate("athena", "s3_put", 0, 0, "each statement's result file", per_query=1),
    Estimate("lineage", "s3_get", 2, 0, "the validated list and the result"),
    Estimate("lineage", "dynamodb_wru", 0, 1, "one lineage item per accepted object version"),
    Estimate("kms", "kms", 8, 0, "data keys cached for minutes: paid by a run alone, shared in a burst"),
)  # fmt: skip


def estimated_usage(
    objects: int, *, queries: int = 0, path: str = "lite", estimates: Iterable[Estimate] = ESTIMATES
) -> RunUsage:
    """The requests of `estimates` for a run of `objects` objects and `queries` Athena statements on
    transform `path`."""
    if objects < 0 or queries < 0:
        raise ValueError(f"objects and queries must be >= 0, not {objects} and {queries}")
    totals = dict.fromkeys(ESTIMATED_SERVICES, 0.0)
    for estimate in estimates:
        if estimate.path is None or estimate.path == path:
            totals[estimate.service] += (
                estimate.per_run + estimate.per_object * objects + estimate.per_query * queries
            )
    return RunUsage(
        dynamodb_write_units=totals["dynamodb_wru"],
        s3_put_requests=math.ceil(totals["s3_put"]),
        s3_get_requests=math.ceil(totals["s3_get"]),
        sqs_requests=math.ceil(totals["sqs"]),
        kms_requests=math.ceil(totals["kms"]),
    )
