"""Copies (never moves) an input aside to ``quarantine/<dataset>/<run_id>/<original key>`` with its reason.

Shared by the quarantine task (every input of a failed run, with the run's error) and validate (each
object it refused, with that object's own reasons). Both write the same two keys for an object, so a
run whose refused objects were quarantined by validate and which fails later is quarantined again over
them: the copy is the same version, the ``.reason.json`` is replaced by the later one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import ClientError

from etl_common.models import QuarantineReason, Rejection, utc_now
from etl_common.s3_uri import quarantine_prefix, s3_uri

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mypy_boto3_s3 import S3Client

REASON_SUFFIX = ".reason.json"
_MISSING = {"404", "NoSuchKey", "NoSuchVersion", "NotFound"}
MISSING_NOTE = "input missing at quarantine time"


class SourceObject(Protocol):
    """An object version of a manifest (any of the manifest models)."""

    @property
    def bucket(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def version_id(self) -> str | None: ...
    @property
    def etag(self) -> str | None: ...


class QuarantineStore:
    """The quarantine of one run in the artifacts bucket."""

    def __init__(self, s3: S3Client, artifacts_bucket: str, *, dataset: str, run_id: str):
        self._s3 = s3
        self._bucket = artifacts_bucket
        self._dataset = dataset
        self._run_id = run_id
        self.prefix = quarantine_prefix(dataset, run_id)

    @property
    def uri(self) -> str:
        return s3_uri(self._bucket, self.prefix)

    def quarantine_object(
        self,
        obj: SourceObject,
        *,
        error: str | None,
        cause: str | None,
        reasons: Sequence[Rejection] = (),
    ) -> bool:
        """Copy the object's version and write its reason beside the copy; False if the input is gone
        (then only the reason is written, its cause saying so)."""
        target = f"{self.prefix}{obj.key}"
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
            copied = False
        reason = QuarantineReason(
            run_id=self._run_id,
            dataset=self._dataset,
            source=s3_uri(obj.bucket, obj.key),
            version_id=obj.version_id,
            etag=obj.etag,
            error=error,
            cause=cause if copied else missing_cause(cause),
            reasons=list(reasons),
            quarantined_at=utc_now(),
        )
        self._s3.put_object(
            Bucket=self._bucket,
            Key=f"{target}{REASON_SUFFIX}",
            Body=reason.model_dump_json(indent=2).encode("utf-8"),
            ContentType="application/json",
        )
        return copied


def missing_cause(cause: str | None) -> str:
    return f"{MISSING_NOTE}; {cause}" if cause else MISSING_NOTE
