"""Lambda entry point of validate (``validate.handler.lambda_handler``), state machine tasks.

The event's ``mode`` says which part of a run's validation this invocation does:

- none: the whole run in one invocation (the manifest's objects in a threads pool), as before the
  distributed Map; ``tributary invoke ValidateFunction -e events/validate/input.json`` runs it.
- ``prepare`` (PrepareValidation): reads the manifest, its references and the contract, writes
  plan.json, contract.json and ``validation/items.json`` (the Map's items); returns where they are.
- ``object`` (each EXPRESS child of ValidateEachObject): validates and stages ONE object; returns its
  outcome (accepted with its staged copy, or refused with its reasons).
- ``summarise`` (ValidateObjects): reads the Map's ResultWriter output (``results_uri``, its
  manifest.json), quarantines the refused objects, writes validated.json and rejected.json and returns
  what the whole-run mode returns.
"""

from functools import lru_cache
from typing import Any, Literal

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from etl_common.aws import s3_client
from etl_common.contracts import Contract, load_contract
from etl_common.models import Document, ExecutionInput, ManifestObject, NonEmptyStr, ValidateResult
from etl_common.runs import RunRepository
from pydantic import NonNegativeInt

from validate.logic import (
    finish_run,
    load_prepared,
    prepare_run,
    validate_object,
    validate_run,
    write_items,
)
from validate.map_results import read_map_results
from validate.settings import ValidateSettings

settings = ValidateSettings()
runs = RunRepository(settings.runs_table) if settings.runs_table else None
logger = Logger()
tracer = Tracer()
metrics = Metrics()


class PrepareRequest(ExecutionInput):
    mode: Literal["prepare"]


class ObjectRequest(Document):
    """One item of the distributed Map: one object of the run's manifest and its index there."""

    mode: Literal["object"]
    run_id: NonEmptyStr
    dataset: NonEmptyStr
    index: NonNegativeInt
    object: ManifestObject


class SummariseRequest(ExecutionInput):
    mode: Literal["summarise"]
    # The ResultWriter's manifest.json of the run's ValidateEachObject Map Run.
    results_uri: NonEmptyStr


@lru_cache(maxsize=16)
def contract_of(dataset: str) -> Contract:
    """The dataset's contract (packaged with the function: the same for every invocation of a version)."""
    return load_contract(dataset, settings.contracts_dir)


def prepare(event: dict[str, Any]) -> dict[str, Any]:
    request = parse(event=event, model=PrepareRequest)
    s3 = s3_client()
    prepared = prepare_run(
        request,
        contract_of(request.dataset),
        s3=s3,
        artifacts_bucket=settings.artifacts_bucket,
        reference_bucket=settings.raw_bucket,
    )
    items_uri = write_items(prepared, s3=s3, artifacts_bucket=settings.artifacts_bucket)
    bucket, key = items_uri.removeprefix("s3://").split("/", 1)
    return {
        "items_bucket": bucket,
        "items_key": key,
        "object_count": len(prepared.manifest.objects),
        "plan_uri": prepared.plan_uri,
        "contract_uri": prepared.contract_uri,
    }


def one_object(event: dict[str, Any]) -> dict[str, Any]:
    request = parse(event=event, model=ObjectRequest)
    outcome = validate_object(
        request.object,
        request.index,
        contract_of(request.dataset),
        s3=s3_client(),
        artifacts_bucket=settings.artifacts_bucket,
        run_id=request.run_id,
    )
    return outcome.model_dump(mode="json", exclude_none=True)


def summarise(event: dict[str, Any]) -> ValidateResult:
    request = parse(event=event, model=SummariseRequest)
    s3 = s3_client()
    outcomes = read_map_results(s3, request.results_uri)
    prepared = load_prepared(request, artifacts_bucket=settings.artifacts_bucket)
    return finish_run(
        prepared,
        outcomes,
        contract_of(request.dataset),
        s3=s3,
        artifacts_bucket=settings.artifacts_bucket,
        runs=runs,
    )


def whole_run(event: dict[str, Any]) -> ValidateResult:
    request = parse(event=event, model=ExecutionInput)
    # An invalid or missing contract raises ContractError: the task fails and the run is quarantined.
    return validate_run(
        request,
        contract_of(request.dataset),
        s3=s3_client(),
        artifacts_bucket=settings.artifacts_bucket,
        reference_bucket=settings.raw_bucket,
        runs=runs,
    )


@logger.inject_lambda_context(correlation_id_path="run_id", clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    mode = event.get("mode") if isinstance(event, dict) else None
    if mode == "object":
        # A crash here fails this object's child alone; the Map's ToleratedFailurePercentage decides.
        outcome = one_object(event)
        metrics.add_metric(name="ObjectsValidated", unit=MetricUnit.Count, value=1)
        return outcome
    try:
        if mode == "prepare":
            prepared = prepare(event)
            metrics.add_metric(
                name="ObjectsToValidate", unit=MetricUnit.Count, value=prepared["object_count"]
            )
            return prepared
        result = summarise(event) if mode == "summarise" else whole_run(event)
    except Exception:
        # Every run-level invocation publishes a metric: a run that could not be validated at all (bad
        # input, bad contract, a manifest of another run, S3 errors) counts here; log_metrics flushes it.
        metrics.add_metric(name="RunsFailedValidation", unit=MetricUnit.Count, value=1)
        raise
    metrics.add_metric(name="ObjectsAccepted", unit=MetricUnit.Count, value=result.accepted)
    metrics.add_metric(name="ObjectsRejected", unit=MetricUnit.Count, value=result.rejected)
    logger.info("Run validated", extra=result.model_dump())
    return result.model_dump()
