"""Tributary from Airflow (Amazon MWAA): a scheduled batch or a backfill through the pipeline's state machine.

Each DAG run takes, per dataset, the object versions under ``incoming/<dataset>/`` of the raw bucket last
modified in a window that no run has taken yet (no lineage, and not in the manifest of a run that has
not published), claims them as the trigger does (a version the trigger claimed first is left to it),
writes their manifest as the trigger does, and starts one execution per run of at most
``max_objects_per_run`` versions with the Amazon provider's StepFunctionStartExecutionOperator. The
provider's StepFunctionExecutionSensor waits for each; the last task reads each run record (the runs
table), whatever the runs did, and fails unless every run is SUCCEEDED.

- Scheduled batch: the window is the DAG run's data interval (``@daily`` by default;
  ``TRIBUTARY_SCHEDULE`` changes it).
- Backfill: trigger the DAG with ``start`` and/or ``end`` (ISO-8601 dates or date-times, UTC unless
  they say otherwise); the other bound defaults to the data interval's.

Settings: the Variable ``tributary_stack`` holds the stack's CloudFormation Outputs (JSON: an object of
OutputKey to value, or describe-stacks' list); ``tributary_datasets`` (JSON list) the datasets of a
scheduled batch. The DAG's params (``datasets``, ``start``, ``end``, ``state_machine_arn``,
``aws_conn_id``, ``max_objects_per_run``) override them per run. See dags/README.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.exceptions import AirflowException, AirflowFailException
from airflow.providers.amazon.aws.hooks.dynamodb import DynamoDBHook
from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.hooks.step_function import StepFunctionHook
from airflow.providers.amazon.aws.operators.step_function import StepFunctionStartExecutionOperator
from airflow.providers.amazon.aws.sensors.step_function import StepFunctionExecutionSensor
from airflow.utils.trigger_rule import TriggerRule

try:  # Airflow 3: tasks reach Variables through the Task SDK, not the metadata database
    from airflow.sdk import Param, Variable, dag, get_current_context, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task
    from airflow.models import Variable
    from airflow.models.param import Param
    from airflow.operators.python import get_current_context

try:
    from tributary_mwaa import planning
except ModuleNotFoundError:  # the DAGs folder is not on sys.path (Airflow 3 outside MWAA)
    sys.path.append(str(Path(__file__).resolve().parent))
    from tributary_mwaa import planning

DAG_ID = "tributary_batch"
STACK_VARIABLE = "tributary_stack"
DATASETS_VARIABLE = "tributary_datasets"
# Read when the file is parsed (environment, not the metadata database): how often the sensor asks
# Step Functions, and how long it waits for one run.
POKE_SECONDS = float(os.environ.get("TRIBUTARY_POKE_SECONDS", "60"))
RUN_TIMEOUT = timedelta(hours=float(os.environ.get("TRIBUTARY_RUN_TIMEOUT_HOURS", "6")))
SCHEDULE = os.environ.get("TRIBUTARY_SCHEDULE", "@daily")
LOG = logging.getLogger(__name__)


def _settings(params: dict[str, Any]) -> planning.Stack:
    outputs = Variable.get(STACK_VARIABLE, None, deserialize_json=True)
    if outputs is None:
        raise AirflowFailException(f"set the Variable {STACK_VARIABLE} to the stack's Outputs (JSON)")
    try:
        return planning.Stack.from_outputs(outputs, state_machine_arn=params.get("state_machine_arn") or "")
    except planning.PlanError as exc:
        raise AirflowFailException(f"Variable {STACK_VARIABLE}: {exc}") from exc


def _held(
    s3: Any, runs: Any, lineage: Any, dataset: str, candidates: list[Any], since: str
) -> tuple[set[str], list[dict[str, Any]]]:
    """Object ids of the candidates that a run already holds: published (lineage), or in the manifest of
    a run that has not published (queued, running, failed: a failed run's versions are run again by
    reprocessing that run). Also the QUEUED run records, whose execution may never have started."""
    held = set()
    for obj in candidates:
        found = lineage.query(
            KeyConditionExpression="object_id = :id",
            ExpressionAttributeValues={":id": obj.object_id},
            ProjectionExpression="object_id",
            Limit=1,
        )
        if found.get("Items"):
            held.add(obj.object_id)
    queued = []
    for status in planning.UNPUBLISHED_STATUSES:
        request: dict[str, Any] = {
            "IndexName": "by-status-created",
            "KeyConditionExpression": "#s = :s AND created_at >= :since",
            "FilterExpression": "dataset = :d",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":s": status, ":since": since, ":d": dataset},
        }
        while True:
            page = runs.query(**request)
            for item in page.get("Items", []):
                uri = str(item.get("manifest_uri") or "")
                bucket, _, key = uri.removeprefix("s3://").partition("/")
                if bucket and key and s3.check_for_key(key, bucket):
                    held |= planning.manifest_object_ids(json.loads(s3.read_key(key, bucket)))
                if status == "QUEUED":
                    queued.append(item)
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return held, queued


def _claim(claims: Any, run: planning.PlannedRun) -> planning.PlannedRun:
    """Claim each version of the run as the trigger does; keep those this run owns (a version the
    trigger claimed meanwhile belongs to its run; one this run claimed before is kept on a retry)."""
    owned = set()
    for obj in run.objects:
        try:
            claims.put_item(**planning.claim_request(obj.object_id, run.run_id, datetime.now(UTC)))
            owned.add(obj.object_id)
        except claims.meta.client.exceptions.ConditionalCheckFailedException:
            found = claims.get_item(Key={"id": planning.claim_key(obj.object_id)}, ConsistentRead=True)
            owner = planning.claim_owner(found.get("Item"))
            if owner == run.run_id:
                owned.add(obj.object_id)
            else:
                LOG.info("%s is claimed by run %r: left to it", obj.object_id, owner)
    return run.keeping(owned)


def _never_started(
    sfn: Any, stack: planning.Stack, queued: list[dict[str, Any]], min_age: float
) -> list[Any]:
    """The QUEUED runs older than ``min_age`` minutes that have no execution: their start failed (a
    DAG run whose start task failed, or a trigger whose start was never retried). They start again, as
    the same run."""
    stranded = []
    for item in planning.stale_queued(queued, now=datetime.now(UTC), min_age=timedelta(minutes=min_age)):
        try:
            sfn.describe_execution(executionArn=planning.execution_arn(stack.state_machine_arn, item.run_id))
        except sfn.exceptions.ExecutionDoesNotExist:
            stranded.append(item)
    return stranded


@dag(
    dag_id=DAG_ID,
    description="Tributary: a scheduled batch or a backfill through the pipeline's state machine",
    schedule=SCHEDULE,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,  # two runs of the DAG must not plan the same object versions
    tags=["tributary"],
    params={
        "datasets": Param(
            [],
            type="array",
            items={"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
            description=f"datasets to run; empty: the Variable {DATASETS_VARIABLE}",
        ),
        "start": Param(
            None,
            type=["null", "string"],
            description="backfill: objects last modified at or after this (ISO-8601); "
            "empty: the data interval's start",
        ),
        "end": Param(
            None,
            type=["null", "string"],
            description="backfill: objects last modified before this (ISO-8601); "
            "empty: the data interval's end",
        ),
        "state_machine_arn": Param(
            "", type="string", description=f"empty: PipelineStateMachineArn of the Variable {STACK_VARIABLE}"
        ),
        "aws_conn_id": Param("aws_default", type="string", description="the Airflow AWS connection"),
        "resume_queued_after_minutes": Param(
            15,
            type="number",
            minimum=0,
            description="a QUEUED run record this old without an execution is started again",
        ),
        "max_objects_per_run": Param(
            1000,
            type="integer",
            minimum=1,
            maximum=planning.MAX_OBJECTS_PER_RUN,
            description="object versions per execution (the template's TriggerBatchSize)",
        ),
    },
)
def tributary_batch() -> None:
    @task
    def plan_runs() -> list[dict[str, Any]]:
        """Write each run's manifest and QUEUED record; return the start operator's arguments."""
        context = get_current_context()
        params = context["params"]
        stack = _settings(params)
        try:
            names = planning.datasets(
                params.get("datasets") or Variable.get(DATASETS_VARIABLE, [], deserialize_json=True)
            )
            span = planning.window(
                params.get("start"),
                params.get("end"),
                context["data_interval_start"],
                context["data_interval_end"],
            )
            max_objects = int(params.get("max_objects_per_run") or 1000)
        except planning.PlanError as exc:
            raise AirflowFailException(str(exc)) from exc
        s3 = S3Hook(aws_conn_id=params["aws_conn_id"])
        dynamodb = DynamoDBHook(aws_conn_id=params["aws_conn_id"]).conn
        runs_table = dynamodb.Table(stack.runs_table)
        lineage_table = dynamodb.Table(stack.lineage_table)
        claims_table = dynamodb.Table(stack.idempotency_table)
        sfn = StepFunctionHook(aws_conn_id=params["aws_conn_id"]).conn
        principal = f"airflow:{context['dag'].dag_id}"
        request_id = context["run_id"]
        starts: list[dict[str, Any]] = []
        for dataset in names:
            listed: list[dict[str, Any]] = []
            for page in (
                s3.get_conn()
                .get_paginator("list_object_versions")
                .paginate(Bucket=stack.raw_bucket, Prefix=f"{planning.INCOMING_PREFIX}{dataset}/")
            ):
                listed.extend(page.get("Versions", []))
            candidates = planning.versions_in_window(stack.raw_bucket, dataset, listed, span)
            held, queued = _held(
                s3, runs_table, lineage_table, dataset, candidates, planning.runs_created_since(span)
            )
            planned = planning.plan_runs(dataset, candidates, held, max_objects)
            for stranded in _never_started(sfn, stack, queued, params["resume_queued_after_minutes"]):
                LOG.info("%s: run %s was queued but never started: starting it", dataset, stranded.run_id)
                starts.append(stranded.start(stack.state_machine_arn))
            LOG.info(
                "%s: %d object versions in [%s, %s), %d already taken by a run, %d run(s) to start",
                dataset,
                len(candidates),
                f"{span.start:%Y-%m-%dT%H:%M:%SZ}",
                f"{span.end:%Y-%m-%dT%H:%M:%SZ}",
                len(candidates) - sum(len(run.objects) for run in planned),
                len(planned),
            )
            for planned_run in planned:
                run = _claim(claims_table, planned_run)
                if not run.objects:
                    continue
                manifest = run.manifest(kind=span.kind, principal=principal, request_id=request_id)
                s3.load_string(
                    json.dumps(manifest, ensure_ascii=False),
                    run.manifest_key(),
                    bucket_name=stack.artifacts_bucket,
                    replace=True,
                )
                arn = planning.execution_arn(stack.state_machine_arn, run.run_id)
                record = run.queued_record(
                    artifacts_bucket=stack.artifacts_bucket, execution_arn=arn, now=datetime.now(UTC)
                )
                # Exists already after a retry of this task that wrote it.
                with contextlib.suppress(dynamodb.meta.client.exceptions.ConditionalCheckFailedException):
                    runs_table.put_item(Item=record, ConditionExpression="attribute_not_exists(run_id)")
                starts.append(run.start(stack.state_machine_arn, stack.artifacts_bucket))
        return starts

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def read_run_records(starts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The run record of every run planned, whatever its start and wait did (so a failed run's error
        and cause are in this task's log); fails unless every run is SUCCEEDED."""
        context = get_current_context()
        stack = _settings(context["params"])
        table = DynamoDBHook(aws_conn_id=context["params"]["aws_conn_id"]).conn.Table(stack.runs_table)
        records = []
        for start in starts:
            run_id = start["name"]
            item = table.get_item(Key={"run_id": run_id}, ConsistentRead=True).get("Item")
            records.append(planning.record_summary(item or {"run_id": run_id, "status": "NO RECORD"}))
            LOG.info("run record: %s", json.dumps(records[-1], sort_keys=True))
        failed = {
            record["run_id"]: record.get("status")
            for record in records
            if record.get("status") != "SUCCEEDED"
        }
        if failed:
            raise AirflowException(f"runs not SUCCEEDED: {failed}")
        return records

    starts = plan_runs()
    started = StepFunctionStartExecutionOperator.partial(
        task_id="start_execution", aws_conn_id="{{ params.aws_conn_id }}"
    ).expand_kwargs(starts)
    finished = StepFunctionExecutionSensor.partial(
        task_id="wait_for_execution",
        aws_conn_id="{{ params.aws_conn_id }}",
        mode="reschedule",  # frees the worker slot between pokes
        poke_interval=POKE_SECONDS,
        timeout=RUN_TIMEOUT.total_seconds(),
    ).expand(execution_arn=started.output)
    finished >> read_run_records(starts)


tributary_batch()
