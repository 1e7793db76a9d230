"""Lambda entry point of validate (``validate.handler.lambda_handler``), a state machine task."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from etl_common.aws import s3_client
from etl_common.contracts import load_contract
from etl_common.models import ExecutionInput
from etl_common.runs import RunRepository

from validate.logic import validate_run
from validate.settings import ValidateSettings

settings = ValidateSettings()
runs = RunRepository(settings.runs_table) if settings.runs_table else None
logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(correlation_id_path="run_id", clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        request = parse(event=event, model=ExecutionInput)
        # An invalid or missing contract raises ContractError: the task fails and the run is quarantined.
        contract = load_contract(request.dataset, settings.contracts_dir)
        result = validate_run(
            request,
            contract,
            s3=s3_client(),
            artifacts_bucket=settings.artifacts_bucket,
            reference_bucket=settings.raw_bucket,
            runs=runs,
        )
    except Exception:
        # Every invocation publishes a metric: a run that could not be validated at all (bad input, bad
        # contract, a manifest of another run, S3 errors) counts here; log_metrics flushes it on the way out.
        metrics.add_metric(name="RunsFailedValidation", unit=MetricUnit.Count, value=1)
        raise
    metrics.add_metric(name="ObjectsAccepted", unit=MetricUnit.Count, value=result.accepted)
    metrics.add_metric(name="ObjectsRejected", unit=MetricUnit.Count, value=result.rejected)
    logger.info("Run validated", extra=result.model_dump())
    return result.model_dump()
