"""Lambda entry point of the sweep (``sweep.handler.lambda_handler``), run by EventBridge Scheduler."""

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from etl_common.aws import s3_client, sqs_client
from etl_common.lineage import LineageRepository
from etl_common.settings import FunctionSettings
from pydantic import Field

from sweep.logic import Sweeper
from sweep.models import parse_sweep_request


class SweepSettings(FunctionSettings):
    raw_bucket: str = Field(min_length=1)
    lineage_table: str = Field(min_length=1)
    ingest_queue_url: str = Field(min_length=1)


settings = SweepSettings()
logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_sweep_request(event)
    sweeper = Sweeper(
        s3=s3_client(),
        sqs=sqs_client(),
        lineage=LineageRepository(settings.lineage_table),
        queue_url=settings.ingest_queue_url,
    )
    enqueued = sweeper.sweep(
        settings.raw_bucket,
        request,
        account=context.invoked_function_arn.split(":")[4],
        region=os.environ.get("AWS_REGION", "us-east-1"),
    )
    metrics.add_metric(name="ObjectsEnqueued", unit=MetricUnit.Count, value=enqueued)
    logger.info("Sweep done", extra={"enqueued": enqueued, "prefix": request.prefix})
    return {"enqueued": enqueued}
