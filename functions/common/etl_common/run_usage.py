"""What one run of the pipeline used, for `etl_common.cost`: measured from its execution history where
the history shows it, estimated (and named so) where it cannot.

Measured from the history (`usage_from_history`):
- state transitions: every state entered, and every retry of a Task (AWS bills both), in the
  execution itself;
- Lambda invocations made by Tasks, each for the time Step Functions saw it run (TaskStarted to its
  end: a little more than the billed duration), at the function's memory as deployed;
- the Glue job run (its id, from the Task's events, for GetJobRun's ExecutionTime and DPUSeconds);
- Athena statements run by a Task itself (statement type and bytes scanned);
- DynamoDB, SNS, CloudWatch and S3 requests made by the state machine's own Tasks that succeeded;
- each distributed Map run (MapRunStarted's mapRunArn, the Map state's name, and where its
  ResultWriter put the results, from the state's output).

A distributed Map's child executions are not in the parent's history. `map_runs_usage` prices each Map
run from what it did: how many children started (DescribeMapRun's executionCounts), how long each ran
(StopDate - StartDate of its entry in the ResultWriter results), and what a child runs (`child_workflows`,
from the definition the execution ran: EXPRESS or STANDARD, its states, the functions it invokes, its
Athena statements). EXPRESS children are Express requests and GB-seconds (`etl_common.cost.ExpressUse`),
not transitions; STANDARD children are transitions (and one free DDL statement each in RegisterPartitions
and UnpublishRun); each child's Lambda call is an invocation at the function's memory, for the child's
duration. Where a child's duration cannot be read it is estimated (EXPRESS_CHILD_ESTIMATE_MS,
CHILD_LAMBDA_ESTIMATE_MS) and that part goes to the estimated usage.

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
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from etl_common.cost import AthenaUse, ExpressUse, LambdaUse, RunUsage, dynamodb_write_units

logger = logging.getLogger(__name__)
CHILD_TRANSITIONS_PER_ITEM = 1  # a Standard child's transitions when its definition is not known
DYNAMODB_WRITES = ("putItem", "updateItem", "deleteItem")
FunctionConfigs = Mapping[str, tuple[int, str, int]]  # function name or ARN → (memory MB, arch, /tmp MB)


@dataclass
class MapRunSeen:
    """A distributed Map run as the parent's history shows it: its ARN, its Map state, the items the
    state started with, and where its ResultWriter put the children's results (the Map state's output,
    when it passes ResultWriterDetails on)."""

    arn: str
    state: str
    items: int
    results: tuple[str, str] | None = None  # (bucket, key of the manifest)


@dataclass
class HistoryUsage:
    """What the history shows, with what it leaves to be looked up (Glue run, function memory, Map runs)."""

    usage: RunUsage
    lambda_durations: list[tuple[str, float]] = field(default_factory=list)  # (FunctionName, ms)
    glue_job_runs: list[tuple[str, str]] = field(default_factory=list)  # (JobName, JobRunId)
    map_runs: list[MapRunSeen] = field(default_factory=list)
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
    map_state = ""  # the Map state entered last
    for event in events:
        kind = str(event.get("type", ""))
        event_id = int(event.get("id", 0))
        by_id[event_id] = event
        details = _details(event)
        previous = int(event.get("previousEventId", 0))
        if kind.endswith("StateEntered"):
            usage.transitions += 1
            if kind == "MapStateEntered":
                map_state = str(details.get("name", ""))
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
            # A distributed Map (MapRunStarted follows its MapStateStarted): its children are not in
            # this history; `map_run_usage` prices them from DescribeMapRun and their results.
            found.map_runs.append(MapRunSeen(str(details.get("mapRunArn", "")), map_state, map_length))
        elif kind == "MapStateExited":
            output = _json(details.get("output"))
            if isinstance(output, dict) and isinstance(output.get("ResultWriterDetails"), dict):
                writer = output["ResultWriterDetails"]
                for seen in found.map_runs:
                    if seen.arn == output.get("MapRunArn") and writer.get("Bucket") and writer.get("Key"):
                        seen.results = (str(writer["Bucket"]), str(writer["Key"]))
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


# -- distributed Map runs ---------------------------------------------------------------------------------
# When a child's duration cannot be read (no ResultWriter results, or they could not be read), an EXPRESS
# child and each Lambda call in it are priced at these durations, as estimates (on the estimated side of
# the record). Where they come from: a warm validate object-mode call (HEAD, ranged sample, checks,
# server-side copy) took 34 to 56 ms, child and call alike, on the local stack with its in-process S3
# (`python -m bench.cost`, one run of 1 file, 2026-12-07); AWS's S3 round trips take tens of milliseconds
# each, so 200 ms is allowed. A cold start (its Init Duration is billed) is not in it; under a burst on
# the local stack's 2 shared cores the children took 1.5 s median (starting and queueing workers).
EXPRESS_CHILD_ESTIMATE_MS = 200.0
CHILD_LAMBDA_ESTIMATE_MS = 200.0
EXPRESS_BASE_MEMORY_MB = 50.0  # an Express execution's memory: 50 MB + definition + payloads (pricing page)
MAX_RESULT_BYTES = 64 * 1024 * 1024  # ResultWriter files read at most, beyond which durations are estimated


@dataclass(frozen=True)
class ChildWorkflow:
    """What one child execution of a distributed Map runs, from the definition the execution ran: its
    execution type, the states it passes (a Standard child's transitions), the functions its Tasks
    invoke and the Athena statements it starts, its definition's size (an Express child's memory);
    and whether the Map reads its items from S3 (ItemReader)."""

    execution_type: str
    transitions: int
    functions: tuple[str, ...] = ()
    athena_statements: int = 0
    definition_bytes: int = 0
    item_reader: bool = False


def child_workflows(definition: str | Mapping[str, Any]) -> dict[str, ChildWorkflow]:
    """The child workflow of each distributed Map state of `definition` (ASL), by state name."""
    document = json.loads(definition) if isinstance(definition, str) else definition
    found: dict[str, ChildWorkflow] = {}

    def walk(states: Mapping[str, Any]) -> None:
        for name, state in states.items():
            processor = state.get("ItemProcessor") or state.get("Iterator") or {}
            config = processor.get("ProcessorConfig") or {}
            if state.get("Type") == "Map" and config.get("Mode") == "DISTRIBUTED":
                tasks = [s for s in processor.get("States", {}).values() if s.get("Type") == "Task"]
                functions = tuple(
                    str((t.get("Arguments") or t.get("Parameters") or {}).get("FunctionName", ""))
                    for t in tasks
                    if str(t.get("Resource", "")).startswith("arn:aws:states:::lambda:invoke")
                )
                athena = sum(1 for t in tasks if ":::athena:startQueryExecution" in str(t.get("Resource")))
                found[name] = ChildWorkflow(
                    str(config.get("ExecutionType", "STANDARD")),
                    len(processor.get("States", {})),
                    functions,
                    athena,
                    len(json.dumps(processor).encode()),
                    "ItemReader" in state,
                )
            for nested in (processor, *state.get("Branches", [])):
                if nested:
                    walk(nested.get("States", {}))

    walk(document.get("States", {}))
    return found


@dataclass
class MapRunUsage:
    """A distributed Map run priced: `measured` what DescribeMapRun, the results and the history show,
    `estimated` what they leave to the estimates above; `summary` goes on the cost record."""

    measured: RunUsage
    estimated: RunUsage
    summary: dict[str, Any]


def _children_started(described: Mapping[str, Any] | None, seen: MapRunSeen) -> tuple[int, int, str]:
    """(children started, items, source): DescribeMapRun's counts, or the history's item count."""
    if described:
        executions = described.get("executionCounts") or {}
        items = described.get("itemCounts") or {}
        started = int(executions.get("total", 0)) - int(executions.get("pending", 0))
        return started, int(items.get("total", 0)), "DescribeMapRun"
    return seen.items, seen.items, "history (MapStateStarted length; DescribeMapRun unavailable)"


def child_durations(results: Iterable[Mapping[str, Any]]) -> list[tuple[float, int]]:
    """(duration ms, payload bytes) of each child in ResultWriter's results (StopDate - StartDate)."""
    found = []
    for entry in results:
        begun, ended = _moment(entry.get("StartDate")), _moment(entry.get("StopDate"))
        if begun is None or ended is None:
            continue
        payload = len(str(entry.get("Input", "")).encode()) + len(str(entry.get("Output", "")).encode())
        found.append((max(0.0, (ended - begun).total_seconds() * 1000), payload))
    return found


def map_run_usage(
    seen: MapRunSeen,
    child: ChildWorkflow | None,
    configs: FunctionConfigs,
    *,
    described: Mapping[str, Any] | None = None,
    results: list[Mapping[str, Any]] | None = None,
    result_files: int = 0,
) -> MapRunUsage:
    """Price one distributed Map run from what it did.

    - Children: those DescribeMapRun counts as started (not pending); without it, the history's items.
    - EXPRESS children: one Express request each, for its own duration (StopDate - StartDate in the
      ResultWriter `results`), memory 50 MB + its definition + its payloads in 64 MB chunks; a child
      without a readable result is priced at EXPRESS_CHILD_ESTIMATE_MS, as an estimate.
    - STANDARD children: `child.transitions` state transitions each (their own retries are not seen).
    - Each Lambda call of a child (`child.functions`) at the function's memory (`configs`), one per child
      started; a child's duration bounds the call's (measured, as for the parent's Tasks), else
      CHILD_LAMBDA_ESTIMATE_MS (an estimate). Retries inside an Express child leave no trace: its
      Retry is on Lambda service errors and throttling, which are not billed invocations.
    - Athena statements in STANDARD children: one DDL statement (free) per child and statement.
    - S3: the ItemReader's GET, and ResultWriter's PUTs (`result_files` + the manifest).
    """
    measured, estimated = RunUsage(), RunUsage()
    started, items, source = _children_started(described, seen)
    execution_type = child.execution_type if child else "STANDARD"
    durations = child_durations(results or [])[:started]
    timed = len(durations)
    untimed = max(0, started - timed)
    definition_bytes = child.definition_bytes if child else 0
    if execution_type == "EXPRESS":
        for milliseconds, payload in durations:
            memory = EXPRESS_BASE_MEMORY_MB + (definition_bytes + payload) / (1024 * 1024)
            measured.express.append(ExpressUse(milliseconds, memory))
        if untimed:
            memory = EXPRESS_BASE_MEMORY_MB + definition_bytes / (1024 * 1024)
            estimated.express.append(ExpressUse(EXPRESS_CHILD_ESTIMATE_MS, memory, untimed))
    else:
        measured.transitions += started * (child.transitions if child else CHILD_TRANSITIONS_PER_ITEM)
        measured.athena.extend(
            AthenaUse("DDL", 0) for _ in range(started * (child.athena_statements if child else 0))
        )
    for function in child.functions if child else ():
        memory, architecture, storage = configs.get(function, (128, "arm64", 512))
        name = function.rsplit(":", 1)[-1]
        share = len(child.functions) if child else 1
        for milliseconds, _ in durations:
            measured.lambdas.append(LambdaUse(name, milliseconds / share, memory, architecture, storage))
        if untimed:
            estimated.lambdas.append(
                LambdaUse(name, CHILD_LAMBDA_ESTIMATE_MS, memory, architecture, storage, requests=untimed)
            )
    measured.s3_get_requests += 1 if child is None or child.item_reader else 0  # the ItemReader's read
    if seen.results is not None:
        measured.s3_put_requests += result_files + 1
    summary = {
        "state": seen.state,
        "map_run_arn": seen.arn,
        "execution_type": execution_type,
        "children": started,
        "items": items,
        "counted_by": source,
        "status": str((described or {}).get("status", "unknown")),
        "children_timed": timed,
        "duration_source": (
            "ResultWriter results (StopDate - StartDate)" if timed == started
            else f"ResultWriter results for {timed}, estimated for {untimed} "
            f"({EXPRESS_CHILD_ESTIMATE_MS:.0f} ms child, {CHILD_LAMBDA_ESTIMATE_MS:.0f} ms per Lambda call)"
        ),
        "lambda_calls": started * len(child.functions) if child else 0,
    }  # fmt: skip
    return MapRunUsage(measured, estimated, summary)


def read_results(
    get_object: Callable[[str, str], bytes], bucket: str, key: str
) -> tuple[list[Any], int, int]:
    """The children's results a ResultWriter wrote: (entries, result files, GET requests made), from its
    manifest at `bucket`/`key` (ResultFiles: SUCCEEDED, FAILED, PENDING; JSON arrays or JSON lines).
    Files beyond MAX_RESULT_BYTES in all are not read (their children's durations are then estimated)."""
    manifest = json.loads(get_object(bucket, key))
    destination = str(manifest.get("DestinationBucket") or bucket)
    files = [
        f
        for kind in ("SUCCEEDED", "FAILED", "PENDING")
        for f in (manifest.get("ResultFiles") or {}).get(kind) or []
    ]
    entries: list[Any] = []
    gets, read = 1, 0
    for file in files:
        read += int(file.get("Size", 0))
        if read > MAX_RESULT_BYTES:
            break
        text = get_object(destination, str(file["Key"])).decode()
        gets += 1
        stripped = text.strip()
        if stripped.startswith("["):
            entries.extend(json.loads(stripped))
        else:
            entries.extend(json.loads(line) for line in stripped.splitlines() if line.strip())
    return entries, len(files), gets


def map_runs_usage(
    found: HistoryUsage,
    children: Mapping[str, ChildWorkflow],
    configs: FunctionConfigs,
    describe: Callable[[str], Mapping[str, Any] | None],
    get_object: Callable[[str, str], bytes] | None = None,
) -> tuple[list[MapRunUsage], int]:
    """Each distributed Map run of `found` priced (`map_run_usage`), and the S3 GETs made reading the
    results. `describe(map run ARN)` answers DescribeMapRun (None when it cannot); `get_object(bucket,
    key)` reads the ResultWriter files (None: durations estimated). A failed read estimates instead."""
    priced, gets = [], 0
    for seen in found.map_runs:
        results: list[Any] | None = None
        files = 0
        if seen.results is not None and get_object is not None:
            try:
                results, files, made = read_results(get_object, *seen.results)
                gets += made
            except Exception as exc:  # unreadable (S3 refused, not JSON, ...): durations estimated
                logger.warning("ResultWriter results unreadable for %s: %s", seen.arn, type(exc).__name__)
        child = children.get(seen.state)
        priced.append(
            map_run_usage(
                seen, child, configs, described=describe(seen.arn), results=results, result_files=files
            )
        )
    return priced, gets


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
