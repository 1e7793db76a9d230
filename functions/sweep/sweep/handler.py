"""Lambda entry point of the sweep (``sweep.handler.lambda_handler``): run by EventBridge Scheduler to
sweep, and by hand to reprocess a failed run (``{"reprocess_run_id": "RUN"}``) or redrive a dead-letter
queue (``{"redrive": "ingest"}`` or ``{"redrive": "events"}``)."""

import os
from dataclasses import asdict
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from etl_common.aws import dynamodb_resource, s3_client, sqs_client
from etl_common.lineage import LineageRepository
from etl_common.settings import ArtifactsSettings, RunsSettings
from pydantic import Field

from sweep.logic import Invoker, Sweeper
from sweep.models import RedriveRequest, ReprocessRequest, parse_sweep_request
from sweep.redrive import Redriver
from sweep.reprocess import Reprocessor


class SweepSettings(ArtifactsSettings, RunsSettings):
    raw_bucket: str = Field(min_length=1)
    lineage_table: str = Field(min_length=1)
    ingest_queue_url: str = Field(min_length=1)
    ingest_dead_letter_queue_url: str = Field(min_length=1)
    event_delivery_dead_letter_queue_url: str = Field(min_length=1)


settings = SweepSettings()
logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_sweep_request(event)
    account = context.invoked_function_arn.split(":")[4]
    region = os.environ.get("AWS_REGION", "us-east-1")
    if isinstance(request, ReprocessRequest):
        reprocessor = Reprocessor(
            s3=s3_client(),
            sqs=sqs_client(),
            dynamodb=dynamodb_resource(),
            runs_table=settings.runs_table,
            lineage_table=settings.lineage_table,
            artifacts_bucket=settings.artifacts_bucket,
            queue_url=settings.ingest_queue_url,
        )
        report = reprocessor.reprocess(
            request.reprocess_run_id,
            account=account,
            region=region,
            invoker=Invoker.of(request.requested_by, context.aws_request_id),
        )
        metrics.add_metric(name="ObjectsEnqueued", unit=MetricUnit.Count, value=report.enqueued)
        return asdict(report)
    if isinstance(request, RedriveRequest):
        queue_url = (
            settings.ingest_dead_letter_queue_url
            if request.redrive == "ingest"
            else settings.event_delivery_dead_letter_queue_url
        )
        redriver = Redriver(sqs=sqs_client(), ingest_queue_url=settings.ingest_queue_url)
        redriven = redriver.redrive(
            request.redrive,
            queue_url,
            max_messages=request.max_messages,
            remaining_millis=context.get_remaining_time_in_millis,
        )
        metrics.add_metric(name="MessagesRedriven", unit=MetricUnit.Count, value=redriven.moved)
        return asdict(redriven)
    sweeper = Sweeper(
        s3=s3_client(),
        sqs=sqs_client(),
        lineage=LineageRepository(settings.lineage_table),
        queue_url=settings.ingest_queue_url,
    )
    enqueued = sweeper.sweep(
        settings.raw_bucket, request, account=account, region=region, request_id=context.aws_request_id
    )
    metrics.add_metric(name="ObjectsEnqueued", unit=MetricUnit.Count, value=enqueued)
    logger.info(
        "Sweep done",
        extra={"enqueued": enqueued, "prefix": request.prefix, "requested_by": request.requested_by},
    )
    return {"enqueued": enqueued}
