"""Lambda entry point of catalog (``catalog.handler.lambda_handler``), a state machine task."""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from etl_common.artifacts import get_document
from etl_common.aws import glue_client
from etl_common.contracts import Contract
from etl_common.models import CatalogRequest
from etl_common.settings import FunctionSettings
from pydantic import Field

from catalog.logic import sync_table


class CatalogSettings(FunctionSettings):
    glue_database: str = Field(min_length=1)
    curated_bucket: str = Field(min_length=1)


settings = CatalogSettings()
logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(correlation_id_path="run_id", clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(event=event, model=CatalogRequest)
    # The contract the run validated against (runs/<run_id>/contract.json), not whatever is deployed now.
    contract = get_document(request.contract_uri, Contract)
    result = sync_table(
        contract, glue=glue_client(), database=settings.glue_database, curated_bucket=settings.curated_bucket
    )
    return result.model_dump()
