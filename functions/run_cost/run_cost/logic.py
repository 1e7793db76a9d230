"""A finished run's AWS cost, from its execution history, the Glue job run, the functions' configuration
and the documented estimates of `etl_common.run_usage`; written to its run record as `cost`.

The record's `cost` map (DynamoDB numbers):
- `total_usd`, and its two parts `measured_usd` (what the history, GetJobRun, the functions'
  configuration, DescribeMapRun and the ResultWriter results show: state transitions, Express requests
  and GB-seconds of a distributed Map's EXPRESS children, Lambda GB-seconds of the state machine's
  invocations and of its children's, Glue DPU-seconds, Athena, DynamoDB/SNS/S3/CloudWatch requests of the
  state machine's own Tasks, its ItemReader and ResultWriter) and `estimated_usd`
  (`etl_common.run_usage.ESTIMATES`: requests made inside the functions and the Glue job, the trigger's
  invocation, EventBridge/SQS delivery, KMS; children whose duration could not be read; and this
  function's own invocation and reads);
- `by_service_usd`: the total by service (`etl_common.cost.SERVICES`; step_functions is Standard
  transitions plus Express children);
- `usage`: the quantities priced (transitions, express_executions, express_gb_seconds,
  lambda_gb_seconds, glue_dpu_seconds, ...), and `estimated_usage`: those that are estimates;
- `map_runs`: each distributed Map run priced: its state, execution type, children started and how
  they were counted, how their durations were known, the Lambda calls in them;
- `prices`: region and date of the list prices; `computed_at`; `execution_status`.
It is computed once the execution has ended (its Step Functions status change event), so the transition
count is the execution's whole count, not a forecast.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from etl_common.cost import US_EAST_1, GlueUse, LambdaUse, Prices, RunUsage, run_cost
from etl_common.run_usage import (
    ChildWorkflow,
    FunctionConfigs,
    estimated_usage,
    lambda_uses,
    map_runs_usage,
    usage_from_history,
)

# The trigger's invocation that started the run is not in its history: it is priced at this duration, an
# estimate for a warm invocation on AWS (manifest, run record, claims, StartExecution). The local stack
# measures 2 to 17 s for it (a fresh worker process, a loaded machine), which is not what AWS bills.
TRIGGER_ESTIMATE_MS = 400.0


@dataclass(frozen=True)
class RunFacts:
    """What the run record says about the run."""

    run_id: str
    object_count: int
    item_bytes: int


def item_bytes(item: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB counts it, near enough: attribute names plus values (numbers and
    strings as text)."""
    size = 0
    for name, value in item.items():
        size += len(str(name).encode()) + _value_bytes(value)
    return size


def _value_bytes(value: Any) -> int:
    if isinstance(value, Mapping):
        return 3 + sum(len(str(k).encode()) + _value_bytes(v) for k, v in value.items())
    if isinstance(value, list | set | tuple):
        return 3 + sum(_value_bytes(v) for v in value)
    if isinstance(value, bytes):
        return len(value)
    return len(str(value).encode())


def glue_use(job_run: Mapping[str, Any]) -> GlueUse:
    """GetJobRun's JobRun as a GlueUse: ExecutionTime (seconds), DPUSeconds when Glue reports them."""
    dpu_seconds = job_run.get("DPUSeconds")
    return GlueUse(
        float(job_run.get("ExecutionTime") or 0),
        str(job_run.get("WorkerType") or "G.1X"),
        int(job_run.get("NumberOfWorkers") or 2),
        str(job_run.get("ExecutionClass") or "STANDARD"),
        float(dpu_seconds) if dpu_seconds else None,
    )


def _decimal(value: float) -> Decimal:
    return Decimal(repr(round(value, 12)))


def _usage_numbers(usage: RunUsage, prices: Prices) -> dict[str, Decimal]:
    return {
        "transitions": Decimal(usage.transitions),
        "express_executions": Decimal(usage.express_executions()),
        "express_gb_seconds": _decimal(usage.express_gb_seconds()),
        "lambda_invocations": Decimal(sum(u.requests for u in usage.lambdas)),
        "lambda_gb_seconds": _decimal(usage.lambda_gb_seconds()),
        "glue_job_runs": Decimal(len(usage.glue)),
        "glue_dpu_seconds": _decimal(usage.glue_dpu_seconds(prices)),
        "athena_ddl_statements": Decimal(sum(1 for a in usage.athena if a.statement_type == "DDL")),
        "athena_bytes_scanned": Decimal(sum(a.bytes_scanned for a in usage.athena)),
        "dynamodb_write_units": _decimal(usage.dynamodb_write_units),
        "s3_put_requests": Decimal(usage.s3_put_requests),
        "s3_get_requests": Decimal(usage.s3_get_requests),
        "sns_publishes": Decimal(usage.sns_publishes),
        "sqs_requests": Decimal(usage.sqs_requests),
        "kms_requests": Decimal(usage.kms_requests),
        "cloudwatch_requests": Decimal(usage.cloudwatch_requests),
    }


def cost_record(
    measured: RunUsage,
    estimated: RunUsage,
    *,
    status: str,
    computed_at: str,
    map_runs: list[dict[str, Any]] | None = None,
    prices: Prices = US_EAST_1,
) -> dict[str, Any]:
    """The run record's `cost` map (see the module's docstring)."""
    measured_cost = run_cost(measured, prices)
    estimated_cost = run_cost(estimated, prices)
    by_service = {service: measured_cost[service] + estimated_cost[service] for service in measured_cost}
    numbers = _usage_numbers(measured.add(estimated), prices)
    estimated_numbers = {k: v for k, v in _usage_numbers(estimated, prices).items() if v}
    return {
        "total_usd": _decimal(sum(by_service.values())),
        "measured_usd": _decimal(sum(measured_cost.values())),
        "estimated_usd": _decimal(sum(estimated_cost.values())),
        "by_service_usd": {service: _decimal(value) for service, value in by_service.items()},
        "usage": numbers,
        "estimated_usage": estimated_numbers,
        "prices": f"{prices.region} list prices of {prices.checked} (etl_common/cost.py)",
        "execution_status": status,
        "computed_at": computed_at,
        "map_runs": [_dynamodb_value(m) for m in map_runs or []],
    }


def _dynamodb_value(value: Any) -> Any:
    if isinstance(value, float):
        return _decimal(value)
    if isinstance(value, dict):
        return {k: _dynamodb_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dynamodb_value(v) for v in value]
    return value


@dataclass
class RunUsages:
    """A run's usage: `measured`, `estimated`, and a summary of each distributed Map run priced."""

    measured: RunUsage
    estimated: RunUsage
    map_runs: list[dict[str, Any]]


def run_usage(
    events: list[dict[str, Any]],
    facts: RunFacts,
    configs: FunctionConfigs,
    job_run: Callable[[str, str], Mapping[str, Any]],
    *,
    trigger: tuple[str, float] | None = None,
    children: Mapping[str, ChildWorkflow] | None = None,
    describe_map_run: Callable[[str], Mapping[str, Any] | None] = lambda arn: None,
    get_object: Callable[[str, str], bytes] | None = None,
) -> RunUsages:
    """Measured and estimated usage of a run from its history. `job_run(job name, run id)` answers
    GetJobRun; `trigger` is the trigger function's name and the milliseconds its invocation is
    estimated at; `children` what each distributed Map's children run (`child_workflows` of the
    definition), `describe_map_run` answers DescribeMapRun and `get_object` reads the ResultWriter
    results (see `etl_common.run_usage.map_runs_usage`)."""
    found = usage_from_history(events, run_item_bytes=facts.item_bytes)
    measured = found.usage
    measured.lambdas.extend(lambda_uses(found, configs))
    for job_name, run_id in found.glue_job_runs:
        measured.glue.append(glue_use(job_run(job_name, run_id)))
    priced, result_gets = map_runs_usage(found, children or {}, configs, describe_map_run, get_object)
    for map_run in priced:
        measured = measured.add(map_run.measured)
    path = "glue" if found.glue_job_runs else "lite"
    estimated = estimated_usage(facts.object_count, queries=len(measured.athena), path=path)
    for map_run in priced:
        estimated = estimated.add(map_run.estimated)
    estimated.s3_get_requests += result_gets  # this function's reads of the ResultWriter results
    if trigger is not None:
        name, milliseconds = trigger
        memory, architecture, storage = configs.get(name, (128, "arm64", 512))
        estimated.lambdas.append(
            LambdaUse(name.rsplit(":", 1)[-1], milliseconds, memory, architecture, storage)
        )
    return RunUsages(measured, estimated, [m.summary for m in priced])


def history_pages(client: Any, execution_arn: str) -> Iterator[dict[str, Any]]:
    """GetExecutionHistory's events, oldest first, every page."""
    token = None
    while True:
        request: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        if token:
            request["nextToken"] = token
        page = client.get_execution_history(**request)
        yield from page["events"]
        token = page.get("nextToken")
        if not token:
            return


def self_use(name: str, elapsed_ms: float, memory_mb: int) -> LambdaUse:
    """This function's own invocation, up to the moment it writes the record."""
    return LambdaUse(name, math.ceil(elapsed_ms), memory_mb)
