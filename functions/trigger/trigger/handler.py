"""Lambda entry point of the trigger (``trigger.handler.lambda_handler``), on the SQS ingest queue."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.typing import LambdaContext
from etl_common.runs import RunRepository

from trigger.claims import ObjectClaims
from trigger.events import IngestQueueRecord
from trigger.executions import execution_arn, start_execution
from trigger.logic import Accepted, RunStarter, Skipped, classify
from trigger.settings import TriggerSettings

settings = TriggerSettings()
logger = Logger()
# Only botocore is patched: the trigger makes no other kind of call, and patching every module the X-Ray
# SDK knows (requests, httplib, sqlite3, ...) imports them, costing the cold start ~80 ms for nothing.
tracer = Tracer(patch_modules=("botocore",))
metrics = Metrics()
# A record whose body is not an S3 EventBridge event fails on its own (and reaches the DLQ).
processor = BatchProcessor(
    event_type=EventType.SQS, model=IngestQueueRecord, raise_on_entire_batch_failure=False
)
claims = ObjectClaims(settings.idempotency_table, settings.idempotency_ttl_seconds)
starter = RunStarter(
    artifacts_bucket=settings.artifacts_bucket,
    state_machine_arn=settings.state_machine_arn,
    claims=claims,
    runs=RunRepository(settings.runs_table, settings.run_ttl_days),
    start_execution=start_execution,
    execution_arn=execution_arn,
)


@tracer.capture_method
def record_handler(record: IngestQueueRecord) -> Accepted | Skipped:
    event = record.body
    logger.set_correlation_id(event.id)
    outcome = classify(
        event, record.messageId, contracts_dir=settings.contracts_dir, raw_bucket=settings.raw_bucket
    )
    if isinstance(outcome, Skipped):
        logger.info(
            "Object skipped", extra={"reason": outcome.reason, "bucket": outcome.bucket, "key": outcome.key}
        )
        metrics.add_metric(name="ObjectsSkipped", unit=MetricUnit.Count, value=1)
        with single_metric(name="ObjectsSkipped", unit=MetricUnit.Count, value=1) as by_reason:
            by_reason.add_dimension(name="Reason", value=outcome.reason.value)
    return outcome


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    claims.register_lambda_context(context)
    records = event.get("Records", [])
    metrics.add_metric(name="ObjectsReceived", unit=MetricUnit.Count, value=len(records))
    with processor(records=records, handler=record_handler, lambda_context=context):
        processed = processor.process()
    logger.set_correlation_id(None)

    accepted = [
        result for status, result, _ in processed if status == "success" and isinstance(result, Accepted)
    ]
    report = starter.start_all(accepted)

    metrics.add_metric(name="DuplicatesIgnored", unit=MetricUnit.Count, value=report.duplicates)
    metrics.add_metric(name="ExecutionsStarted", unit=MetricUnit.Count, value=len(report.started))
    failures = processor.response()["batchItemFailures"] + [
        {"itemIdentifier": message_id} for message_id in dict.fromkeys(report.failed_message_ids)
    ]
    logger.info(
        "Batch processed",
        extra={
            "records": len(records),
            "accepted": len(accepted),
            "runs_started": report.started,
            "runs_resumed": report.resumed,
            "duplicates": report.duplicates,
            "failed": len(failures),
        },
    )
    return {"batchItemFailures": failures}
