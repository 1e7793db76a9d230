"""Copies (never moves) inputs to ``quarantine/<dataset>/<run_id>/<original key>`` with their reasons.

Two forms of request:
- a failed run (``manifest_uri``, ``error``, ``cause``): every input of the run, with the run's failure;
- the objects the Glue job could not process (``failed_objects_uri``, runs/<run_id>/failed-objects.json):
  each listed object with its own reasons and error ``Tributary.ObjectFailed``, while the run goes on
  with the others.

The copy and its ``.reason.json`` are written by ``etl_common.quarantine`` (validate uses it for the
objects it refuses). An object already quarantined is copied again over its earlier copy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools import Logger
from etl_common.models import ManifestView, QuarantineRequest, Rejection
from etl_common.quarantine import QuarantineStore
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = Logger(child=True)

OBJECT_FAILED = "Tributary.ObjectFailed"


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FailedObjectsRequest(_Lenient):
    """QuarantineFailedObjects' input: ``{"run_id", "dataset", "failed_objects_uri"}``."""

    run_id: str = Field(min_length=1)
    dataset: str = Field(min_length=1)
    failed_objects_uri: str = Field(min_length=1)


class FailureReason(_Lenient):
    # The job's codes (read/decompress/decode errors) are its own: any non-empty code is kept as written.
    code: str = Field(min_length=1)
    message: str


class FailedObject(_Lenient):
    """An object of failed-objects.json: the validated object's fields and why the job left it out."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    reasons: list[FailureReason] = Field(min_length=1)

    def cause(self) -> str:
        return "; ".join(f"{reason.code}: {reason.message}" for reason in self.reasons)

    def rejections(self) -> list[Rejection]:
        # Rejection's code names validate's refusals; the job's codes are kept verbatim in the reason file.
        return [
            Rejection.model_construct(code=cast(Any, reason.code), message=reason.message)
            for reason in self.reasons
        ]


class FailedObjectsList(_Lenient):
    """runs/<run_id>/failed-objects.json, written by the Glue job (same shape as rejected.json)."""

    run_id: str
    dataset: str
    objects: list[FailedObject]


def is_failed_objects_request(event: dict[str, object]) -> bool:
    return "failed_objects_uri" in event


class Quarantiner:
    def __init__(self, s3: S3Client, artifacts_bucket: str):
        self._s3 = s3
        self._bucket = artifacts_bucket

    def quarantine_run(self, request: QuarantineRequest, manifest: ManifestView) -> tuple[int, str]:
        """Return how many objects were copied and the run's quarantine URI."""
        # The whole manifest, as validate passes it: two versions of one key get two copies, at the keys
        # validate gave its refusals.
        store = QuarantineStore(
            self._s3, self._bucket, dataset=request.dataset, run_id=request.run_id, objects=manifest.objects
        )
        copied = 0
        for obj in manifest.objects:
            if store.quarantine_object(obj, error=request.error, cause=request.cause):
                copied += 1
            else:
                logger.warning("Input no longer exists; only its reason is written", extra={"key": obj.key})
        return copied, store.uri

    def quarantine_failed_objects(
        self, request: FailedObjectsRequest, failed: FailedObjectsList
    ) -> tuple[int, int, str]:
        """Quarantine each object the job left out, with its own reasons. Return how many were listed,
        how many were copied (an input gone since gets its reason only) and the quarantine URI."""
        if (failed.run_id, failed.dataset) != (request.run_id, request.dataset):
            raise ValueError(
                f"failed objects of run {failed.run_id} ({failed.dataset}) do not belong to run "
                f"{request.run_id} ({request.dataset})"
            )
        store = QuarantineStore(
            self._s3, self._bucket, dataset=request.dataset, run_id=request.run_id, objects=failed.objects
        )
        copied = 0
        for obj in failed.objects:
            if store.quarantine_object(obj, error=OBJECT_FAILED, cause=obj.cause(), reasons=obj.rejections()):
                copied += 1
            else:
                logger.warning("Input no longer exists; only its reason is written", extra={"key": obj.key})
        return len(failed.objects), copied, store.uri
