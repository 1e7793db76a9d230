"""Creates or updates a dataset's Glue table so that it matches the contract the run used."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from etl_common.contracts import Contract
from etl_common.models import CatalogResult
from etl_common.s3_uri import curated_location

from catalog.table import differs, table_input

if TYPE_CHECKING:
    from mypy_boto3_glue import GlueClient

logger = Logger(child=True)


def sync_table(contract: Contract, *, glue: GlueClient, database: str, curated_bucket: str) -> CatalogResult:
    location = curated_location(curated_bucket, contract.dataset)
    desired = table_input(contract, location)
    result = {"database": database, "table": contract.dataset, "location": location}
    try:
        current = glue.get_table(DatabaseName=database, Name=contract.dataset)["Table"]
    except glue.exceptions.EntityNotFoundException:
        try:
            glue.create_table(DatabaseName=database, TableInput=desired)  # type: ignore[arg-type]
        except glue.exceptions.AlreadyExistsException:
            # Another run of the same dataset created it meanwhile: bring it in line below.
            current = glue.get_table(DatabaseName=database, Name=contract.dataset)["Table"]
        else:
            logger.info("Table created", extra=result)
            return CatalogResult(**result, created=True, updated=False)
    if not differs(current, desired):  # type: ignore[arg-type]
        return CatalogResult(**result, created=False, updated=False)
    # UpdateTable keeps the table's partitions: earlier runs stay readable.
    glue.update_table(DatabaseName=database, TableInput=desired)  # type: ignore[arg-type]
    logger.info("Table updated", extra=result)
    return CatalogResult(**result, created=False, updated=True)
