"""Lambda entry point of the small-run transform (``transform_lite.handler.lambda_handler``), a state
machine task: event = the Glue job's arguments as one JSON object, result = summary.json's content."""

import traceback
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from etl_common.aws import s3_client

from transform_lite.logic import TransformFailed, run_transform
from transform_lite.storage import S3Storage

logger = Logger()


@logger.inject_lambda_context(correlation_id_path="run_id", clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        summary = run_transform(event, S3Storage(s3_client()))
    except TransformFailed as failed:
        # The one-line account (no field value in it, see logic.error_line) and the code frames of the
        # original error, not its text: an exception's message may quote a row's value.
        cause = failed.__cause__ or failed
        frames = "".join(traceback.format_tb(cause.__traceback__))
        logger.error(
            "Run failed", extra={"error": str(failed), "error_type": type(cause).__name__, "stack": frames}
        )
        raise
    logger.info(
        "Run transformed",
        extra={
            key: summary[key] for key in ("rows_read", "rows_rejected", "objects_failed", "partition_count")
        },
    )
    return summary
