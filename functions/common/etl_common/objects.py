"""Raw object naming (``incoming/<dataset>/...``) and the identity of an object version."""

from typing import Final, Literal

INCOMING_PREFIX: Final = "incoming/"
# EventBridge-shaped events the sweep enqueues carry this source instead of "aws.s3".
SWEEP_SOURCE: Final = "tributary.sweep"
# The ``detail.reason`` of those events, and the trigger kind each records (etl_common.models.TriggerKind).
SWEEP_REASONS: Final[dict[str, Literal["sweep", "backfill", "reprocess"]]] = {
    "Sweep": "sweep",
    "Backfill": "backfill",
    "Reprocess": "reprocess",
}
# Longest first, so that ".csv.gz" is recognised before ".gz".
SUPPORTED_SUFFIXES: Final = (
    ".csv.gz",
    ".jsonl.gz",
    ".ndjson.gz",
    ".json.gz",
    ".csv",
    ".jsonl",
    ".ndjson",
    ".json",
    ".gz",
)


# S3 error codes on reading one object version: it is gone (or, unversioned, overwritten since the event)...
MISSING_ERROR_CODES: Final = frozenset({"404", "NoSuchKey", "NoSuchVersion", "NotFound"})
CHANGED_ERROR_CODES: Final = frozenset({"412", "PreconditionFailed"})
# ...or S3 will not serve it: permanent for this object, not for the run (an archived object answers
# GetObject with InvalidObjectState and CopyObject with ObjectNotInActiveTierError).
UNREADABLE_ERROR_CODES: Final = frozenset(
    {"403", "AccessDenied", "AllAccessDisabled", "InvalidObjectState", "ObjectNotInActiveTierError"}
)


def dataset_of(key: str) -> str | None:
    """The first path segment after ``incoming/``, or None when the key is not under a dataset folder."""
    if not key.startswith(INCOMING_PREFIX):
        return None
    dataset, separator, rest = key.removeprefix(INCOMING_PREFIX).partition("/")
    if not dataset or not separator or not rest:
        return None
    return dataset


def supported_suffix(key: str) -> str | None:
    lowered = key.lower()
    return next((suffix for suffix in SUPPORTED_SUFFIXES if lowered.endswith(suffix)), None)


def is_folder_marker(key: str) -> bool:
    return key.endswith("/")


def object_id(bucket: str, key: str, version: str | None) -> str:
    """``s3://bucket/key#version``: the identity used for idempotency and lineage.

    ``version`` is the version id, or the ETag when the bucket is not versioned.
    """
    return f"s3://{bucket}/{key}#{version or 'null'}"
