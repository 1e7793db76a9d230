"""Reference (master) data: the files a contract's ``references`` name, read once per run by validate.

A reference file is a UTF-8 CSV with a header line, in the raw bucket under ``reference/`` (a versioned
bucket: every upload of it is a new version). Validate reads the version current when the run is
validated (or the one the contract pins with ``version_id``), takes the named column's values, and
``etl_common.plan.compile_plan`` turns each ``in_reference`` rule into an ``allowed_values`` check with
those values: the executors run the plan and never read a reference file. The version read (S3
VersionId and ETag) is recorded on the run record, the validated manifest and each lineage item.

Messages name the reference, its key, line numbers and counts, never a value of the file.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from etl_common.models import ReferenceVersion
from etl_common.objects import MISSING_ERROR_CODES

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from etl_common.contracts import Contract, ReferenceTable

# The values go into plan.json and, as a set, into each executor's memory.
MAX_REFERENCE_BYTES = 8 * 1024 * 1024
MAX_REFERENCE_VALUES = 100_000


class ReferenceDataError(ValueError):
    """A reference file cannot be used (missing, too large, not UTF-8 CSV, no such column, no values)."""


@dataclass(frozen=True)
class ResolvedReference:
    version: ReferenceVersion
    # (line number, text) of each distinct non-empty value, in file order.
    values: tuple[tuple[int, str], ...]


def parse_reference(name: str, table: ReferenceTable, body: bytes, where: str) -> tuple[tuple[int, str], ...]:
    """The distinct non-empty values of the table's column, with their line numbers."""
    if len(body) > MAX_REFERENCE_BYTES:
        raise ReferenceDataError(f"reference {name!r}: {where} is larger than {MAX_REFERENCE_BYTES} bytes")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ReferenceDataError(
            f"reference {name!r}: {where} is not UTF-8 text (byte offset {error.start})"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if not header:
            raise ReferenceDataError(f"reference {name!r}: {where} is empty (a header line is expected)")
        if table.column not in header:
            raise ReferenceDataError(
                f"reference {name!r}: {where} has no column {table.column!r} in its header"
                f" ({len(header)} fields)"
            )
        index = header.index(table.column)
        seen: dict[str, int] = {}
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise ReferenceDataError(
                    f"reference {name!r}: {where} line {reader.line_num} has {len(row)} fields, the header"
                    f" {len(header)}"
                )
            value = row[index]
            if value != "" and value not in seen:
                seen[value] = reader.line_num
                if len(seen) > MAX_REFERENCE_VALUES:
                    raise ReferenceDataError(
                        f"reference {name!r}: {where} holds more than {MAX_REFERENCE_VALUES} values"
                    )
    except csv.Error as error:
        raise ReferenceDataError(
            f"reference {name!r}: {where} is not valid CSV at line {reader.line_num} ({type(error).__name__})"
        ) from None
    if not seen:
        raise ReferenceDataError(f"reference {name!r}: {where} holds no value in column {table.column!r}")
    return tuple((line, value) for value, line in seen.items())


def resolve_references(s3: S3Client, bucket: str, contract: Contract) -> dict[str, ResolvedReference]:
    """Read each reference the contract declares, at its current (or pinned) version."""
    resolved = {}
    for name, table in sorted(contract.references.items()):
        where = f"s3://{bucket}/{table.key}" + (f" (version {table.version_id})" if table.version_id else "")
        try:
            if table.version_id:
                response = s3.get_object(Bucket=bucket, Key=table.key, VersionId=table.version_id)
            else:
                response = s3.get_object(Bucket=bucket, Key=table.key)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in MISSING_ERROR_CODES:
                raise ReferenceDataError(
                    f"reference {name!r}: {where} does not exist (upload it, or fix the contract)"
                ) from None
            raise
        if response["ContentLength"] > MAX_REFERENCE_BYTES:
            raise ReferenceDataError(
                f"reference {name!r}: {where} is larger than {MAX_REFERENCE_BYTES} bytes"
            )
        values = parse_reference(name, table, response["Body"].read(), where)
        version_id = response.get("VersionId")
        resolved[name] = ResolvedReference(
            ReferenceVersion(
                name=name,
                bucket=bucket,
                key=table.key,
                version_id=None if version_id in (None, "", "null") else version_id,
                etag=response["ETag"].strip('"'),
                values=len(values),
            ),
            values,
        )
    return resolved


def read_local_references(contract: Contract, root: Path) -> dict[str, ResolvedReference]:
    """The references read from files (``root / key``), as tests and tools without S3 do: no version id,
    the file's MD5 as its ETag (what S3 gives a single-part upload)."""
    resolved = {}
    for name, table in sorted(contract.references.items()):
        path = root / table.key
        body = path.read_bytes()
        values = parse_reference(name, table, body, str(path))
        etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
        version = ReferenceVersion(
            name=name, bucket="local", key=table.key, version_id=None, etag=etag, values=len(values)
        )
        resolved[name] = ResolvedReference(version, values)
    return resolved


def reference_versions(resolved: Mapping[str, ResolvedReference]) -> list[ReferenceVersion]:
    return [resolved[name].version for name in sorted(resolved)]
