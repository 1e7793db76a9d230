"""Lambda entry point of run_cost (``run_cost.handler.lambda_handler``): records a finished run's AWS cost.

EventBridge invokes it with the pipeline's "Step Functions Execution Status Change" event once an
execution has ended (SUCCEEDED, FAILED, TIMED_OUT, ABORTED): the history is then complete. It reads
the history, the Glue job run (GetJobRun) and each invoked function's configuration
(GetFunctionConfiguration: the memory the template gave it), prices them with `etl_common.cost` and
sets `cost` on the run record (see `run_cost.logic`). It never touches the run's status: a run whose
cost cannot be computed is only missing `cost`.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError
from etl_common.aws import dynamodb_resource, glue_client, s3_client, sfn_client
from etl_common.run_usage import child_workflows
from etl_common.settings import RunsSettings

from run_cost.logic import (
    TRIGGER_ESTIMATE_MS,
    RunFacts,
    cost_record,
    history_pages,
    item_bytes,
    run_usage,
    self_use,
)

ENDED = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


class RunCostSettings(RunsSettings):
    trigger_function_name: str = ""


settings = RunCostSettings()
logger = Logger()


def _function_configs(names: set[str]) -> dict[str, tuple[int, str, int]]:
    """Memory, architecture and /tmp size of each function, as deployed (GetFunctionConfiguration).
    A function that cannot be described is left out: it is then priced at 128 MB and named in
    `lambda_configuration_unknown`."""
    client = boto3.client("lambda")
    found = {}
    for name in sorted(n for n in names if n):
        try:
            config = client.get_function_configuration(FunctionName=name)
        except (ClientError, BotoCoreError) as exc:
            logger.warning(
                "Function configuration unavailable", extra={"function": name, "error": type(exc).__name__}
            )
            continue
        found[name] = (
            int(config.get("MemorySize", 128)),
            str((config.get("Architectures") or ["x86_64"])[0]),
            int((config.get("EphemeralStorage") or {}).get("Size", 512)),
        )
    return found


def _describe_map_run(arn: str) -> dict[str, Any] | None:
    """DescribeMapRun, or None when it cannot answer (the Map run is then counted from the history)."""
    try:
        return dict(sfn_client().describe_map_run(mapRunArn=arn))
    except (ClientError, BotoCoreError) as exc:
        logger.warning("Map run not described", extra={"map_run": arn, "error": type(exc).__name__})
        return None


def _children(execution_arn: str) -> dict[str, Any]:
    """What each distributed Map's children run, from the definition this execution ran."""
    try:
        definition = sfn_client().describe_state_machine_for_execution(executionArn=execution_arn)[
            "definition"
        ]
    except (ClientError, BotoCoreError) as exc:
        logger.warning("Definition unavailable", extra={"error": type(exc).__name__})
        return {}
    return dict(child_workflows(definition))


def _get_object(bucket: str, key: str) -> bytes:
    return bytes(s3_client().get_object(Bucket=bucket, Key=key)["Body"].read())


def _job_run(job_name: str, run_id: str) -> dict[str, Any]:
    return dict(
        glue_client().get_job_run(JobName=job_name, RunId=run_id, PredecessorsIncluded=False)["JobRun"]
    )


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    started = time.monotonic()
    detail = event.get("detail") or {}
    status = str(detail.get("status", ""))
    execution_arn = str(detail.get("executionArn", ""))
    # Under a customer managed key the event may carry no input; every execution is named after its
    # run id (the trigger, the sweep and the Airflow DAG name it so), so the name answers then.
    try:
        run_id = str(json.loads(detail.get("input") or "{}").get("run_id") or "")
    except (ValueError, AttributeError):
        run_id = ""
    run_id = run_id or str(detail.get("name") or "")
    if status not in ENDED or not execution_arn or not run_id:
        logger.info("Not an ended run", extra={"status": status, "has_run_id": bool(run_id)})
        return {"recorded": False}
    logger.append_keys(run_id=run_id)
    table = dynamodb_resource().Table(settings.runs_table)
    item = table.get_item(Key={"run_id": run_id}, ConsistentRead=True).get("Item")
    if item is None:
        logger.warning("No run record")
        return {"recorded": False}
    facts = RunFacts(run_id, int(str(item.get("object_count", 0))), item_bytes(item))
    events = list(history_pages(sfn_client(), execution_arn))
    functions = {
        str(json.loads(e["taskScheduledEventDetails"].get("parameters") or "{}").get("FunctionName", ""))
        for e in events
        if e.get("type") == "TaskScheduled" and e["taskScheduledEventDetails"].get("resourceType") == "lambda"
    }
    children = _children(execution_arn)
    functions |= {name for child in children.values() for name in child.functions}
    trigger = settings.trigger_function_name
    configs = _function_configs(functions | ({trigger} if trigger else set()))
    usages = run_usage(
        events,
        facts,
        configs,
        _job_run,
        trigger=(trigger, TRIGGER_ESTIMATE_MS) if trigger else None,
        children=children,
        describe_map_run=_describe_map_run,
        get_object=_get_object,
    )
    measured, estimated = usages.measured, usages.estimated
    elapsed_ms = (time.monotonic() - started) * 1000
    estimated.lambdas.append(self_use(context.function_name, elapsed_ms, int(context.memory_limit_in_mb)))
    cost = cost_record(
        measured,
        estimated,
        status=status,
        computed_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        map_runs=usages.map_runs,
    )
    unknown = sorted(name.rsplit(":", 1)[-1] for name in functions if name not in configs)
    if unknown:
        cost["lambda_configuration_unknown"] = unknown
    table.update_item(
        Key={"run_id": run_id},
        UpdateExpression="SET #cost = :cost",
        ConditionExpression="attribute_exists(run_id)",
        ExpressionAttributeNames={"#cost": "cost"},
        ExpressionAttributeValues={":cost": cost},
    )
    logger.info(
        "Run cost recorded", extra={"total_usd": str(cost["total_usd"]), "transitions": measured.transitions}
    )
    return {"recorded": True, "run_id": run_id, "total_usd": float(cost["total_usd"])}
