"""Checks each object of a manifest against the dataset contract and writes the run's documents."""

from __future__ import annotations

import json
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError
from etl_common.artifacts import get_document, put_document, put_json
from etl_common.contracts import Contract
from etl_common.models import (
    ContractVersion,
    ExecutionInput,
    Manifest,
    ManifestObject,
    RejectedList,
    RejectedObject,
    Rejection,
    RejectionCode,
    ValidatedManifest,
    ValidatedObject,
    ValidateResult,
)
from etl_common.plan import TransformPlan, compile_plan
from etl_common.quarantine import QuarantineStore
from etl_common.references import resolve_references
from etl_common.runs import RunRepository
from etl_common.s3_uri import run_artifact_key, s3_uri
from pydantic import BaseModel, ConfigDict, NonNegativeInt

from validate import sniffing
from validate.sniffing import Sample, SniffError
from validate.staging import Stager, read_refusal

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = Logger(child=True)

MAX_PARALLEL_OBJECTS = 8
# The ``error`` of the ``.reason.json`` beside a refused object's quarantined copy.
REFUSED_ERROR = "Tributary.ObjectRefused"
# The distributed Map's items: one per object of the manifest, with its index (validation/items.json).
ITEMS_NAME = "validation/items.json"


def refuse(obj: ManifestObject, code: RejectionCode, message: str) -> RejectedObject:
    logger.info("Object rejected", extra={"key": obj.key, "code": code, "reason": message})
    return RejectedObject(**obj.model_dump(), reasons=[Rejection(code=code, message=message)])


class ObjectOutcome(BaseModel):
    """What validating one object of a manifest gave: accepted (and staged) or refused, with its index."""

    model_config = ConfigDict(extra="forbid")

    index: NonNegativeInt
    accepted: ValidatedObject | None = None
    refused: RejectedObject | None = None


@dataclass(frozen=True)
class PreparedRun:
    manifest: Manifest
    plan: TransformPlan
    plan_uri: str
    contract_uri: str


class ObjectValidator:
    def __init__(self, s3: S3Client, contract: Contract):
        self._s3 = s3
        self._contract = contract

    def validate(self, obj: ManifestObject) -> ValidatedObject | RejectedObject:
        """Accept or refuse one object; only an error that is not about this object (throttling, an
        outage: the task's retry may cure it) escapes, never one that would sink the rest of the batch."""
        try:
            return self._validate(obj)
        except SniffError as exc:
            return refuse(obj, exc.code, str(exc))
        except ClientError as exc:
            refusal = read_refusal(exc)
            if refusal is None:
                raise
            return refuse(obj, refusal.code, str(refusal))
        except BotoCoreError:
            raise
        except Exception as exc:
            # An unforeseen error's text may quote the object (``int("<a value>")`` does): the log and
            # the reason name its type, the log adds where it was raised (code lines, not the message).
            logger.error(
                "Object could not be examined",
                extra={
                    "key": obj.key,
                    "error_type": type(exc).__name__,
                    "stack": "".join(traceback.format_tb(exc.__traceback__)),
                },
            )
            return refuse(obj, "unreadable", f"the object could not be examined: {type(exc).__name__}")

    def _version(self, obj: ManifestObject) -> dict[str, Any]:
        return {"VersionId": obj.version_id} if obj.version_id else {}

    def _validate(self, obj: ManifestObject) -> ValidatedObject:
        contract = self._contract
        head = self._s3.head_object(Bucket=obj.bucket, Key=obj.key, **self._version(obj))
        if not obj.version_id and obj.etag and head["ETag"].strip('"') != obj.etag:
            # Unversioned bucket: the object was overwritten after the event; that upload has its own event.
            raise SniffError("not_found", f"the object changed since the event (ETag {head['ETag']})")
        size = head["ContentLength"]
        if size == 0:
            raise SniffError("empty", "the object is empty")
        if size > contract.limits.max_object_bytes:
            raise SniffError(
                "too_large",
                f"{size} bytes exceeds the contract's limit of {contract.limits.max_object_bytes}",
            )

        body = self._s3.get_object(
            Bucket=obj.bucket, Key=obj.key, Range=f"bytes=0-{sniffing.SAMPLE_BYTES - 1}", **self._version(obj)
        )["Body"].read()
        sample = Sample(body, complete=size <= sniffing.SAMPLE_BYTES)

        gzipped = sniffing.is_gzip(sample.data)
        if contract.compression == "gzip" and not gzipped:
            raise SniffError(
                "compression_mismatch", "the contract says gzip, the object is not gzip-compressed"
            )
        if contract.compression == "none" and gzipped:
            raise SniffError("compression_mismatch", "the contract says no compression, the object is gzip")
        if gzipped:
            sample = sniffing.gunzip(sample)

        text = sniffing.decode(sample, contract.encoding)
        if not text.strip():
            raise SniffError("empty", "the object holds no data")
        found = sniffing.sniff_format(text)
        if found != contract.format:
            raise SniffError(
                "format_mismatch", f"the contract says {contract.format}, the object looks like {found}"
            )
        self._check_columns(text, sample.complete)

        return ValidatedObject(
            **obj.model_dump(),
            compression="gzip" if gzipped else "none",
            encoding=contract.encoding,
            format=contract.format,
        )

    def _check_columns(self, text: str, complete: bool) -> None:
        contract = self._contract
        names = contract.column_names
        required = [column.name for column in contract.columns if not column.nullable]
        if contract.format == "csv":
            assert contract.csv is not None  # filled in by the model for csv
            options = contract.csv
            sniffing.check_csv(
                text,
                complete,
                delimiter=options.delimiter,
                quote=options.quote,
                escape=options.escape,
                header=options.header,
                columns=names,
            )
        elif contract.format == "jsonl":
            sniffing.check_json_lines(text, complete, required=required, columns=names)
        else:
            sniffing.check_json_array(text, complete, required=required, columns=names)


def read_manifest(request: ExecutionInput) -> Manifest:
    manifest = get_document(request.manifest_uri, Manifest)
    if manifest.run_id != request.run_id or manifest.dataset != request.dataset:
        raise ValueError(f"{request.manifest_uri} belongs to run {manifest.run_id} ({manifest.dataset})")
    return manifest


def prepare_run(
    request: ExecutionInput,
    contract: Contract,
    *,
    s3: S3Client,
    artifacts_bucket: str,
    reference_bucket: str = "",
) -> PreparedRun:
    """Everything a run's validation needs before its objects are examined: the manifest (of this run),
    the references read, the contract compiled into the run's plan. Writes plan.json and contract.json."""
    manifest = read_manifest(request)
    # Read first: a reference that cannot be used fails the run before anything is staged. Reference
    # files live in the raw bucket (REFERENCE_BUCKET), the bucket of the run's uploads by default.
    references = resolve_references(s3, reference_bucket or manifest.objects[0].bucket, contract)
    plan = compile_plan(contract, references)
    run_id = request.run_id
    # The contract compiled once per run: both executors run this plan and nothing else.
    plan_uri = put_json(artifacts_bucket, run_artifact_key(run_id, "plan.json"), plan.model_dump(mode="json"))
    contract_uri = put_json(
        artifacts_bucket, run_artifact_key(run_id, "contract.json"), contract.model_dump(mode="json")
    )
    return PreparedRun(manifest=manifest, plan=plan, plan_uri=plan_uri, contract_uri=contract_uri)


def write_items(prepared: PreparedRun, *, s3: S3Client, artifacts_bucket: str) -> str:
    """The run's objects as the distributed Map's items (``runs/<run_id>/validation/items.json``, a JSON
    array of ``{index, object}``): its ItemReader reads them from S3, not from the execution's payload."""
    manifest = prepared.manifest
    items = [
        {"index": index, "object": obj.model_dump(mode="json")} for index, obj in enumerate(manifest.objects)
    ]
    key = run_artifact_key(manifest.run_id, ITEMS_NAME)
    body = json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    s3.put_object(Bucket=artifacts_bucket, Key=key, Body=body, ContentType="application/json")
    return s3_uri(artifacts_bucket, key)


def load_prepared(request: ExecutionInput, *, artifacts_bucket: str) -> PreparedRun:
    """What prepare_run wrote for this run, read back (the summary after the Map)."""
    run_id = request.run_id
    plan_uri = s3_uri(artifacts_bucket, run_artifact_key(run_id, "plan.json"))
    return PreparedRun(
        manifest=read_manifest(request),
        plan=get_document(plan_uri, TransformPlan),
        plan_uri=plan_uri,
        contract_uri=s3_uri(artifacts_bucket, run_artifact_key(run_id, "contract.json")),
    )


def validate_object(
    obj: ManifestObject, index: int, contract: Contract, *, s3: S3Client, artifacts_bucket: str, run_id: str
) -> ObjectOutcome:
    """Accept (and stage, as ``runs/<run_id>/input/<index>``) or refuse one object of a run's manifest.
    Idempotent: run twice (an Express child runs at least once), it stages the same copy again."""
    outcome = ObjectValidator(s3, contract).validate(obj)
    if isinstance(outcome, ValidatedObject):
        outcome = Stager(s3, artifacts_bucket, run_id).stage(index, outcome)
    if isinstance(outcome, ValidatedObject):
        return ObjectOutcome(index=index, accepted=outcome)
    return ObjectOutcome(index=index, refused=outcome)


def validate_run(
    request: ExecutionInput,
    contract: Contract,
    *,
    s3: S3Client,
    artifacts_bucket: str,
    reference_bucket: str = "",
    runs: RunRepository | None = None,
) -> ValidateResult:
    """The whole run in one process (a threads pool): what the distributed Map, its children and the
    summary do one object per child, in the same functions."""
    prepared = prepare_run(
        request, contract, s3=s3, artifacts_bucket=artifacts_bucket, reference_bucket=reference_bucket
    )

    def one(index: int, obj: ManifestObject) -> ObjectOutcome:
        return validate_object(
            obj, index, contract, s3=s3, artifacts_bucket=artifacts_bucket, run_id=request.run_id
        )

    objects = prepared.manifest.objects
    with ThreadPoolExecutor(max_workers=MAX_PARALLEL_OBJECTS) as pool:
        outcomes = list(pool.map(one, range(len(objects)), objects))
    return finish_run(prepared, outcomes, contract, s3=s3, artifacts_bucket=artifacts_bucket, runs=runs)


def finish_run(
    prepared: PreparedRun,
    outcomes: list[ObjectOutcome],
    contract: Contract,
    *,
    s3: S3Client,
    artifacts_bucket: str,
    runs: RunRepository | None = None,
) -> ValidateResult:
    """Quarantine the refused objects and write validated.json and rejected.json from one outcome per
    object of the manifest (in manifest order); what ValidateObjects returns."""
    manifest = prepared.manifest
    by_index = {outcome.index: outcome for outcome in outcomes}
    missing = [index for index in range(len(manifest.objects)) if index not in by_index]
    if missing:
        raise ValueError(
            f"no validation outcome for {len(missing)} object(s) of the manifest, first {missing[0]}"
        )
    ordered = [by_index[index] for index in range(len(manifest.objects))]
    accepted = [outcome.accepted for outcome in ordered if outcome.accepted is not None]
    rejected = [outcome.refused for outcome in ordered if outcome.refused is not None]
    run_id = manifest.run_id
    plan = prepared.plan
    versions = ContractVersion(
        contract_version=plan.contract_version,
        contract_sha256=plan.contract_sha256,
        references=plan.references,
    )
    with ThreadPoolExecutor(max_workers=MAX_PARALLEL_OBJECTS) as pool:
        quarantine_uri = quarantine_refused(
            rejected,
            QuarantineStore(
                s3, artifacts_bucket, dataset=manifest.dataset, run_id=run_id, objects=manifest.objects
            ),
            pool,
        )
    validated_uri = put_document(
        artifacts_bucket,
        run_artifact_key(run_id, "validated.json"),
        ValidatedManifest(
            run_id=run_id,
            dataset=manifest.dataset,
            created_at=manifest.created_at,
            source=manifest.source,
            contract_uri=prepared.contract_uri,
            objects=accepted,
            versions=versions,
        ),
    )
    # Which contract and reference versions the run used, on its record (audit trail).
    if runs is not None and not runs.record_versions(run_id, versions, prepared.plan_uri):
        logger.warning(
            "The run has no record: its versions are in validated.json only", extra={"run_id": run_id}
        )
    rejected_uri = put_document(
        artifacts_bucket,
        run_artifact_key(run_id, "rejected.json"),
        RejectedList(
            run_id=run_id, dataset=manifest.dataset, objects=rejected, quarantine_uri=quarantine_uri
        ),
    )
    return ValidateResult(
        validated_manifest_uri=validated_uri,
        rejected_uri=rejected_uri,
        contract_uri=prepared.contract_uri,
        accepted=len(accepted),
        rejected=len(rejected),
        table=contract.dataset,
        quarantine_uri=quarantine_uri,
        plan_uri=prepared.plan_uri,
        accepted_bytes=sum(obj.size for obj in accepted),
    )


def quarantine_refused(
    rejected: list[RejectedObject], store: QuarantineStore, pool: ThreadPoolExecutor
) -> str | None:
    """Copy each refused object (the original stays) with its own reasons; the quarantine URI, or None."""
    if not rejected:
        return None

    def quarantine(obj: RejectedObject) -> None:
        cause = "; ".join(f"{reason.code}: {reason.message}" for reason in obj.reasons)
        if not store.quarantine_object(obj, error=REFUSED_ERROR, cause=cause, reasons=obj.reasons):
            logger.info("Refused object no longer exists; only its reason is written", extra={"key": obj.key})

    # list() waits for every copy and raises the first failure: a copy that failed fails the task.
    list(pool.map(quarantine, rejected))
    return store.uri
