"""The small-run transform: the Glue job's work for a run small enough for one Lambda invocation.

`run_transform(arguments, storage)` takes the job arguments (docs/interfaces.md; the Glue job's
`--name value` pairs as one JSON object), reads the plan validate compiled, converts every object of
the validated manifest and writes the same outputs and documents as glue/transform.py. It returns
summary.json's content. An object that cannot be read is left out (failed-objects.json); a failure no
object explains writes a FAILED result and summary, then raises TransformFailed with one line.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from etl_common.plan import PLAN_VERSION, TransformPlan

from transform_lite.convert import Converter
from transform_lite.documents import RunInfo, failed_result, result_document, run_documents, summary_document
from transform_lite.sources import ObjectFailed, readable_objects, source_objects
from transform_lite.storage import Storage

REQUIRED = ("run_id", "manifest_uri", "plan_uri", "output_uri", "rejects_uri", "result_uri")
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


class TransformFailed(RuntimeError):
    """The run failed for a reason no object explains; the message is one line."""


class ArgumentError(TransformFailed):
    """An argument is missing or malformed (nothing is written: the run's documents have no place)."""


class ManifestError(ValueError):
    """The manifest cannot drive this run."""


class PlanError(ValueError):
    """The plan cannot drive this executor."""


# Errors whose message the executor writes itself (no field value in it), or an OS error naming a path.
_DESCRIBED_ERRORS = (TransformFailed, ManifestError, PlanError, ObjectFailed, OSError)


@dataclass(frozen=True)
class Arguments:
    run_id: str
    manifest_uri: str
    plan_uri: str
    output_uri: str
    rejects_uri: str
    result_uri: str
    ingest_ts: datetime
    rows_per_file: int | None = None


def parse_ingest_ts(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError as error:
        raise ArgumentError(f"ingest_ts must be an ISO-8601 timestamp, got {text!r}") from error
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def arguments_from(event: Any, now: datetime) -> Arguments:
    if not isinstance(event, dict):
        raise ArgumentError("the event must be a JSON object of the job arguments")
    values = {key.removeprefix("--"): value for key, value in event.items()}
    missing = [name for name in REQUIRED if not values.get(name)]
    if missing:
        raise ArgumentError(f"missing required argument(s): {', '.join(missing)}")
    for name in REQUIRED:
        if not isinstance(values[name], str):
            raise ArgumentError(f"{name} must be a string")
    if not RUN_ID_PATTERN.match(values["run_id"]):
        raise ArgumentError(f"run_id must match {RUN_ID_PATTERN.pattern}, got {values['run_id']!r}")
    rows = values.get("rows_per_file")
    if rows not in (None, "") and not (str(rows).isdigit() and int(rows) >= 1):
        raise ArgumentError(f"rows_per_file must be a positive integer, got {rows!r}")
    ingest = values.get("ingest_ts")
    return Arguments(
        run_id=values["run_id"],
        manifest_uri=values["manifest_uri"],
        plan_uri=values["plan_uri"],
        output_uri=values["output_uri"],
        rejects_uri=values["rejects_uri"],
        result_uri=values["result_uri"],
        ingest_ts=parse_ingest_ts(str(ingest)) if ingest else now,
        rows_per_file=int(rows) if rows not in (None, "") else None,
    )


def load_plan(storage: Storage, uri: str) -> TransformPlan:
    document = json.loads(storage.read(uri))
    if not isinstance(document, dict) or document.get("plan_version") != PLAN_VERSION:
        found = document.get("plan_version") if isinstance(document, dict) else None
        raise PlanError(f"plan_version {found!r} is not supported (this executor runs {PLAN_VERSION})")
    return TransformPlan.model_validate(document)


def load_manifest(storage: Storage, uri: str, run_id: str) -> dict[str, Any]:
    manifest = json.loads(storage.read(uri))
    if not isinstance(manifest, dict):
        raise ManifestError("the manifest is not a JSON object")
    if manifest.get("run_id") not in (None, run_id):
        raise ManifestError(f"the manifest belongs to run {manifest.get('run_id')!r}, not {run_id!r}")
    return manifest


def error_line(error: BaseException) -> tuple[str, str]:
    """`<Type>: <first line>` for errors whose text we know holds no row data (ours, I/O, AWS calls);
    any other error only by its type, since its text may quote a value (`int('<value>')`)."""
    kind = type(error).__name__
    if not isinstance(error, _DESCRIBED_ERRORS) and not _is_aws_error(error):
        return kind, kind
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    message = lines[0][:1000] if lines else ""
    return kind, f"{kind}: {message}" if message else kind


def _is_aws_error(error: BaseException) -> bool:
    # botocore's errors name the operation, the error code and the resource, never an object's content.
    return type(error).__module__.startswith(("botocore.", "boto3."))


def write_documents(storage: Storage, result: dict[str, Any], result_uri: str) -> None:
    for uri, body in run_documents(result, result_uri):
        storage.write(uri, body)


def run_transform(event: Any, storage: Storage, work_folder: Path | None = None) -> dict[str, Any]:
    args = arguments_from(event, datetime.now(UTC))
    info = RunInfo(args.run_id, args.result_uri, args.rejects_uri, datetime.now(UTC), time.monotonic())
    failures: list[dict[str, Any]] = []
    try:
        result = convert_run(args, storage, info, failures, work_folder)
    except Exception as error:
        kind, line = error_line(error)
        failed = failed_result(info, kind, line, failures, time.monotonic())
        with contextlib.suppress(Exception):  # the original error matters more than this one
            write_documents(storage, failed, args.result_uri)
        raise TransformFailed(line) from error
    return summary_document(result, args.result_uri)


def convert_run(
    args: Arguments, storage: Storage, info: RunInfo, failures: list[dict[str, Any]], work_folder: Path | None
) -> dict[str, Any]:
    plan = load_plan(storage, args.plan_uri)
    info.dataset = plan.dataset
    manifest = load_manifest(storage, args.manifest_uri, args.run_id)
    listed, refused = source_objects(manifest, plan.compression, plan.encoding)
    failures.extend(refused)
    converter = Converter(
        plan,
        storage,
        run_id=args.run_id,
        ingest_ts=args.ingest_ts,
        output_uri=args.output_uri,
        rejects_uri=args.rejects_uri,
        rows_per_file=args.rows_per_file,
        work_folder=work_folder,
    )
    try:
        converter.clear_earlier_output()
        read_failures: list[dict[str, Any]] = []
        encoding_failures: list[dict[str, Any]] = []
        failed_indexes = set()
        for item in readable_objects(listed):
            try:
                converter.read_object(item)
            except ObjectFailed as failed:
                # the job reports read failures before the encoding failures its line scan finds
                (encoding_failures if failed.code == "encoding" else read_failures).append(
                    item.failure(failed.code, failed.message)
                )
                failed_indexes.add(item.index)
        failures.extend(read_failures + encoding_failures)
        objects = [item for item in listed if item.index not in failed_indexes]
        counts, outputs = converter.write(objects)
    finally:
        converter.close()
    result = result_document(
        info,
        objects,
        counts,
        outputs,
        plan.partition.column,
        converter.rules,
        plan.max_reject_ratio,
        failures,
        time.monotonic(),
    )
    write_documents(storage, result, args.result_uri)
    return result
