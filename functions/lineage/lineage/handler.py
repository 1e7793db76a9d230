"""Lambda entry point of lineage (``lineage.handler.lambda_handler``), a state machine task.

Two actions: ``record`` (the default; RecordLineage, before the run's commit) writes one item per object
version of the run; ``retract`` (RetractLineage, on the failure path of a run that may have written them)
deletes those items again, so that lineage never names a run that did not succeed.
"""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from etl_common.artifacts import get_document
from etl_common.lineage import LineageRepository
from etl_common.models import JobResult, LineageRequest, LineageResult, ManifestView
from etl_common.settings import FunctionSettings
from pydantic import Field

from lineage.logic import RetractRequest, RetractResult, lineage_entries, retracted_ids, task_action


class LineageSettings(FunctionSettings):
    lineage_table: str = Field(min_length=1)


settings = LineageSettings()
logger = Logger()
tracer = Tracer()
repository = LineageRepository(settings.lineage_table)


@logger.inject_lambda_context(correlation_id_path="run_id", clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if task_action(event) == "retract":
        retract = parse(event=event, model=RetractRequest)
        manifest = get_document(retract.manifest_uri, ManifestView)
        count = repository.delete_all(retract.run_id, retracted_ids(manifest, retract.run_id))
        logger.info("Lineage retracted", extra={"objects": count})
        return RetractResult(retracted=count).model_dump()
    request = parse(event=event, model=LineageRequest)
    manifest = get_document(request.manifest_uri, ManifestView)
    result = get_document(request.result_uri, JobResult)
    count = repository.put_all(lineage_entries(manifest, result))
    logger.info("Lineage recorded", extra={"objects": count, "partitions": len(result.partitions)})
    return LineageResult(objects=count).model_dump()
