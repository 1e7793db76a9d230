"""Stages each accepted object version: a server-side copy into ``runs/<run_id>/input/``.

The Glue job reads these copies (``staged_uri``), never the raw keys, so what it publishes is exactly the
version validate examined, whatever happens to the key afterwards, and Spark never sees an original name.
A copy names the source by version id; in an unversioned bucket it requires the ETag of the event
(``CopySourceIfMatch``), so an overwritten object is refused instead of its newer content being staged.
Copies are tagged so that the artifacts bucket's lifecycle rule ``ExpireStagedInputs`` deletes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from etl_common.models import ManifestObject, RejectedObject, Rejection, RejectionCode, ValidatedObject
from etl_common.objects import CHANGED_ERROR_CODES, MISSING_ERROR_CODES, UNREADABLE_ERROR_CODES
from etl_common.s3_uri import s3_uri, staged_input_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# template.yaml, ArtifactsBucket, lifecycle rule ExpireStagedInputs filters on this tag.
STAGED_TAG_KEY = "tributary-staged-input"
STAGED_TAG_VALUE = "true"
STAGED_TAGGING = urlencode({STAGED_TAG_KEY: STAGED_TAG_VALUE})
# A single CopyObject takes at most 5 GiB; from this size on, the managed copy copies parts in parallel
# (UploadPartCopy), which is also faster than one CopyObject for large objects within Lambda's timeout.
MULTIPART_THRESHOLD = 256 * 1024 * 1024
PART_SIZE = 256 * 1024 * 1024
PARALLEL_PARTS = 8
FORMAT_SUFFIX = {"csv": ".csv", "jsonl": ".jsonl", "json": ".json"}


class StagingError(Exception):
    def __init__(self, code: RejectionCode, message: str):
        self.code = code
        super().__init__(message)


def staged_suffix(obj: ValidatedObject) -> str:
    """``.csv`` | ``.jsonl`` | ``.json`` from the format, plus ``.gz`` when the content is gzip (the name
    is how Spark picks the codec, and validate sniffed the content)."""
    return FORMAT_SUFFIX[obj.format] + (".gz" if obj.compression == "gzip" else "")


def copy_source(obj: ManifestObject) -> dict[str, str]:
    source = {"Bucket": obj.bucket, "Key": obj.key}
    if obj.version_id:
        source["VersionId"] = obj.version_id
    return source


def read_refusal(exc: ClientError) -> StagingError | None:
    """The refusal an S3 error on reading one object version amounts to; None if not about the object."""
    code = exc.response.get("Error", {}).get("Code", "")
    if code in MISSING_ERROR_CODES:
        return StagingError("not_found", "the object version no longer exists")
    if code in CHANGED_ERROR_CODES:
        return StagingError("not_found", "the object changed since the event (its ETag no longer matches)")
    if code in UNREADABLE_ERROR_CODES:
        return StagingError("unreadable", f"S3 refuses to read the object version ({code})")
    return None


class Stager:
    """Copies accepted versions to ``runs/<run_id>/input/<NNNNN><suffix>`` in the artifacts bucket, NNNNN
    the object's index in the run's manifest (a refused object leaves a gap; the executors read each
    object's ``staged_uri``, never the listing)."""

    def __init__(
        self, s3: S3Client, artifacts_bucket: str, run_id: str, *, config: TransferConfig | None = None
    ):
        self._s3 = s3
        self._bucket = artifacts_bucket
        self._run_id = run_id
        self._config = config or TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD,
            multipart_chunksize=PART_SIZE,
            max_concurrency=PARALLEL_PARTS,
        )

    def key(self, index: int, obj: ValidatedObject) -> str:
        return staged_input_key(self._run_id, index, staged_suffix(obj))

    def _copy(self, source: dict[str, str], key: str, size: int, extra: dict[str, Any]) -> None:
        args = {"Tagging": STAGED_TAGGING, "TaggingDirective": "REPLACE", **extra}
        if size < self._config.multipart_threshold and "CopySourceIfMatch" not in extra:
            # One request (the managed copy first HEADs the source: for its size, and with If-Match
            # when the copy is conditional, which checks the ETag twice).
            self._s3.copy_object(CopySource=source, Bucket=self._bucket, Key=key, **args)  # type: ignore[arg-type]
            return
        # Managed copy: parts copied in parallel (required above 5 GiB); it tags the result too.
        self._s3.copy(source, self._bucket, key, ExtraArgs=args, Config=self._config)  # type: ignore[arg-type]

    def stage(self, index: int, obj: ValidatedObject) -> ValidatedObject | RejectedObject:
        """The object with its ``staged_uri``, or refused when its version cannot be copied any more."""
        key = self.key(index, obj)
        extra: dict[str, Any] = {}
        if not obj.version_id and obj.etag:
            extra["CopySourceIfMatch"] = f'"{obj.etag}"'
        try:
            self._copy(copy_source(obj), key, obj.size, extra)
        except ClientError as exc:
            refusal = read_refusal(exc)
            if refusal is None:
                raise
            manifest_fields = ManifestObject.model_fields
            fields = obj.model_dump(include=set(manifest_fields))
            return RejectedObject(**fields, reasons=[Rejection(code=refusal.code, message=str(refusal))])
        return obj.model_copy(update={"staged_uri": s3_uri(self._bucket, key)})
