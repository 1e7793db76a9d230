"""Copies (never moves) each input of a failed run to ``quarantine/<dataset>/<run_id>/<original key>``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError
from etl_common.models import ManifestView, ObjectView, QuarantineReason, QuarantineRequest, utc_now
from etl_common.s3_uri import quarantine_prefix, s3_uri

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = Logger(child=True)

REASON_SUFFIX = ".reason.json"
_MISSING = {"404", "NoSuchKey", "NoSuchVersion", "NotFound"}


class Quarantiner:
    def __init__(self, s3: S3Client, artifacts_bucket: str):
        self._s3 = s3
        self._bucket = artifacts_bucket

    def quarantine_run(self, request: QuarantineRequest, manifest: ManifestView) -> tuple[int, str]:
        """Return how many objects were copied and the run's quarantine URI."""
        prefix = quarantine_prefix(request.dataset, request.run_id)
        copied = sum(self._quarantine_object(request, obj, prefix) for obj in manifest.objects)
        return copied, s3_uri(self._bucket, prefix)

    def _quarantine_object(self, request: QuarantineRequest, obj: ObjectView, prefix: str) -> bool:
        target = f"{prefix}{obj.key}"
        source = {"Bucket": obj.bucket, "Key": obj.key}
        if obj.version_id:
            source["VersionId"] = obj.version_id
        copied = True
        try:
            # Managed copy: a single CopyObject, or a multipart copy above 5 GB; the source is untouched.
            self._s3.copy(source, self._bucket, target)  # type: ignore[arg-type]
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in _MISSING:
                raise
            logger.warning("Input no longer exists; only its reason is written", extra={"key": obj.key})
            copied = False
        reason = QuarantineReason(
            run_id=request.run_id,
            dataset=request.dataset,
            source=s3_uri(obj.bucket, obj.key),
            version_id=obj.version_id,
            etag=obj.etag,
            error=request.error,
            cause=request.cause if copied else _missing_cause(request.cause),
            quarantined_at=utc_now(),
        )
        self._s3.put_object(
            Bucket=self._bucket,
            Key=f"{target}{REASON_SUFFIX}",
            Body=reason.model_dump_json(indent=2).encode("utf-8"),
            ContentType="application/json",
        )
        return copied


def _missing_cause(run_cause: str | None) -> str:
    note = "input missing at quarantine time"
    return f"{note}; the run failed with: {run_cause}" if run_cause else note
