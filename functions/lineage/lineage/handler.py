"""Lambda entry point of lineage (``lineage.handler.lambda_handler``), a state machine task."""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from etl_common.artifacts import get_document
from etl_common.lineage import LineageRepository
from etl_common.models import JobResult, LineageRequest, LineageResult, ManifestView
from etl_common.settings import FunctionSettings
from pydantic import Field

from lineage.logic import lineage_entries


class LineageSettings(FunctionSettings):
    lineage_table: str = Field(min_length=1)


settings = LineageSettings()
logger = Logger()
tracer = Tracer()
repository = LineageRepository(settings.lineage_table)


@logger.inject_lambda_context(correlation_id_path="run_id", clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=LineageRequest)
    manifest = get_document(request.manifest_uri, ManifestView)
    result = get_document(request.result_uri, JobResult)
    count = repository.put_all(lineage_entries(manifest, result))
    logger.info("Lineage recorded", extra={"objects": count, "partitions": len(result.partitions)})
    return LineageResult(objects=count).model_dump()
