"""Lambda entry point of quarantine (``quarantine.handler.lambda_handler``).

Called on the failure path (QuarantineInputs: every input of a failed run; the run record becomes
QUARANTINED) and by QuarantineFailedObjects (the objects the Glue job could not process, each with its
own reasons; the run goes on, so its record is left alone).
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from etl_common.artifacts import get_document
from etl_common.aws import s3_client
from etl_common.models import ManifestView, QuarantineRequest, QuarantineResult
from etl_common.runs import RunRepository
from etl_common.settings import ArtifactsSettings, RunsSettings

from quarantine.logic import FailedObjectsList, FailedObjectsRequest, Quarantiner, is_failed_objects_request


class QuarantineSettings(ArtifactsSettings, RunsSettings):
    pass


settings = QuarantineSettings()
logger = Logger()
tracer = Tracer()
metrics = Metrics()
runs = RunRepository(settings.runs_table, settings.run_ttl_days)


@logger.inject_lambda_context(correlation_id_path="run_id", clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    quarantiner = Quarantiner(s3_client(), settings.artifacts_bucket)
    if is_failed_objects_request(event):
        failed_request = parse(event=event, model=FailedObjectsRequest)
        failed = get_document(failed_request.failed_objects_uri, FailedObjectsList)
        listed, copied, quarantine_uri = quarantiner.quarantine_failed_objects(failed_request, failed)
        metrics.add_metric(name="ObjectsQuarantined", unit=MetricUnit.Count, value=copied)
        logger.info("Failed objects quarantined", extra={"listed": listed, "quarantine_uri": quarantine_uri})
        return QuarantineResult(quarantined=copied, quarantine_uri=quarantine_uri).model_dump()
    request = parse(event=event, model=QuarantineRequest)
    manifest = get_document(request.manifest_uri, ManifestView)
    copied, quarantine_uri = quarantiner.quarantine_run(request, manifest)
    if not runs.mark_quarantined(request.run_id, quarantine_uri):
        logger.warning("No run record to mark QUARANTINED", extra={"run_id": request.run_id})
    metrics.add_metric(name="ObjectsQuarantined", unit=MetricUnit.Count, value=copied)
    logger.info("Run quarantined", extra={"quarantined": copied, "quarantine_uri": quarantine_uri})
    return QuarantineResult(quarantined=copied, quarantine_uri=quarantine_uri).model_dump()
