"""The per-object outcomes a run's distributed Map left in S3 (its ResultWriter), read back for the summary.

The Map (ValidateEachObject) runs one EXPRESS child per object of the manifest; its ResultWriter puts
``<prefix>/<map run id>/manifest.json`` and the result files it lists (``SUCCEEDED_<n>.json`` and
``FAILED_<n>.json``: arrays, or JSON Lines). A succeeded child's ``Output`` (JSON text) is the
validate function's answer for its object (an ``ObjectOutcome``); a failed child (its Lambda crashed,
timed out or was throttled past its retries, or the child outlived Express's five minutes) has its
``Input`` (the object and its index), ``Error`` and ``Cause``: that object is refused with that reason,
alone, and the rest of the run goes on (within the Map's ToleratedFailurePercentage).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from etl_common.models import ManifestObject, RejectedObject, Rejection
from etl_common.s3_uri import parse_s3_uri

from validate.logic import ObjectOutcome

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# A child's error message is cut to this many characters in its object's reason.
MAX_REASON_CHARS = 300
_ERROR_MESSAGE = re.compile(r'"[Ee]rrorMessage"\s*:\s*"((?:[^"\\]|\\.)*)"')


def _body(s3: S3Client, bucket: str, key: str) -> str:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")


def _entries(text: str) -> list[dict[str, Any]]:
    """A result file's entries: a JSON array, or one JSON value a line (``OutputType: JSONL``)."""
    stripped = text.strip()
    if not stripped:
        return []
    if stripped.startswith("["):
        return list(json.loads(stripped))
    return [json.loads(line) for line in stripped.splitlines() if line.strip()]


def _as_json(value: Any) -> Any:
    """``Input`` / ``Output`` are JSON text in the result files; already parsed is accepted too."""
    return json.loads(value) if isinstance(value, str) else value


def failure_message(error: str | None, cause: str | None) -> str:
    """One line for a crashed child: its error and the first line of its cause (a Lambda error's
    ``errorMessage`` when the cause is Lambda's error document), never a stack trace."""
    text = (cause or "").strip()
    found = _ERROR_MESSAGE.search(text) if text.startswith("{") else None
    if found:
        text = json.loads(f'"{found.group(1)}"')
    first = text.strip().splitlines()[0] if text.strip() else "no cause"
    if len(first) > MAX_REASON_CHARS:
        first = first[: MAX_REASON_CHARS - 1] + "…"
    return f"the object's validation failed ({error or 'unknown error'}: {first})"


def failed_child_outcome(entry: dict[str, Any]) -> ObjectOutcome:
    item = _as_json(entry["Input"])
    fields = ManifestObject.model_validate(item["object"]).model_dump()
    reason = Rejection(code="unreadable", message=failure_message(entry.get("Error"), entry.get("Cause")))
    return ObjectOutcome(index=item["index"], refused=RejectedObject(**fields, reasons=[reason]))


def read_map_results(s3: S3Client, manifest_uri: str) -> list[ObjectOutcome]:
    """Every outcome the Map Run recorded, one per object index: a child that ran twice (Express runs
    children at least once) counts once, a success over a failure."""
    location = parse_s3_uri(manifest_uri)
    manifest = json.loads(_body(s3, location.bucket, location.key))
    bucket = manifest.get("DestinationBucket") or location.bucket
    files = manifest.get("ResultFiles", {})
    outcomes: dict[int, ObjectOutcome] = {}
    for entry_file in files.get("FAILED", []):
        for entry in _entries(_body(s3, bucket, entry_file["Key"])):
            outcome = failed_child_outcome(entry)
            outcomes.setdefault(outcome.index, outcome)
    for entry_file in files.get("SUCCEEDED", []):
        for entry in _entries(_body(s3, bucket, entry_file["Key"])):
            outcome = ObjectOutcome.model_validate(_as_json(entry["Output"]))
            outcomes[outcome.index] = outcome
    return [outcomes[index] for index in sorted(outcomes)]
