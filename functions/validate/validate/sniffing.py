"""What a file's first bytes say about it: compression, text encoding, format and header.

Pure functions over a sample (the first ``SAMPLE_BYTES`` of the object), so a 5 GB upload costs one
ranged GET. ``complete`` tells whether the sample is the whole object, i.e. whether its end is real.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from etl_common.models import RejectionCode

from validate import json_text

GZIP_MAGIC = b"\x1f\x8b"
SAMPLE_BYTES = 256 * 1024
# Decompressed text examined at most (a gzip sample can inflate a lot).
MAX_TEXT_BYTES = 1024 * 1024
JSON_LINES_EXAMINED = 20
# The Glue job (Spark's CSV reader) has no limit on a field's length; the csv module's default (128 KiB)
# would refuse a file whose first record has one long field. The sample bounds what is parsed anyway.
csv.field_size_limit(max(csv.field_size_limit(), MAX_TEXT_BYTES))

Format = Literal["csv", "jsonl", "json"]


class SniffError(Exception):
    """The sample contradicts the contract; ``code`` is a ``Rejection.code``."""

    def __init__(self, code: RejectionCode, message: str):
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class Sample:
    data: bytes
    complete: bool


def is_gzip(data: bytes) -> bool:
    return data.startswith(GZIP_MAGIC)


def gunzip(sample: Sample) -> Sample:
    """Inflate the start of a gzip stream; a truncated stream is expected, a corrupt one is not."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(sample.data, MAX_TEXT_BYTES)
    except zlib.error as exc:
        raise SniffError("corrupt_gzip", f"gzip data is corrupt: {exc}") from exc
    complete = sample.complete and inflater.eof and not inflater.unconsumed_tail
    if sample.complete and not inflater.eof and not inflater.unconsumed_tail:
        raise SniffError("corrupt_gzip", "gzip stream ends before its end-of-stream marker")
    return Sample(data, complete)


def decode(sample: Sample, encoding: str) -> str:
    """Decode the sample; a multi-byte character cut by the sample's end is not an error."""
    # For UTF-8, tolerate (and drop) a byte-order mark.
    codec = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    decoder = codecs.getincrementaldecoder(codec)(errors="strict")
    try:
        return decoder.decode(sample.data, final=sample.complete)
    except UnicodeDecodeError as exc:
        raise SniffError(
            "encoding",
            f"not valid {encoding}: byte {exc.object[exc.start : exc.start + 1]!r} at offset {exc.start}",
        ) from exc


def sniff_format(text: str) -> Format:
    """JSON array if the text opens with '[', JSON Lines if with '{', CSV otherwise."""
    first = text.lstrip()[:1]
    if first == "[":
        return "json"
    if first == "{":
        return "jsonl"
    return "csv"


def check_csv(
    text: str, complete: bool, *, delimiter: str, quote: str, escape: str, header: bool, columns: list[str]
) -> None:
    """The first record (the header, or the first row) against the contract's columns.

    A record is what the Glue job reads as one (it reads CSV with multiLine): a quoted field may hold
    line breaks. Only the first record is examined; the job rejects bad rows one by one.
    """
    lines = io.StringIO(text).readlines()
    consumed = 0

    def counted() -> Iterator[str]:
        nonlocal consumed
        for line in lines:
            consumed += 1
            yield line

    reader = csv.reader(
        counted(),
        delimiter=delimiter,
        quotechar=quote,
        doublequote=escape == quote,
        escapechar=None if escape == quote else escape,
    )
    try:
        first = next(reader, None)
    except csv.Error as exc:
        raise SniffError("columns_mismatch", f"the first record is not valid CSV: {exc}") from exc
    if not complete and consumed == len(lines):
        # The record reaches the sample's end, so the sample may have cut it (its last line, or a
        # quoted field spanning lines).
        raise SniffError("columns_mismatch", "the first record is longer than the sample examined")
    if not first:
        raise SniffError("empty", "the file has no rows")
    if header:
        found = [name.strip() for name in first]
        if found != columns:
            raise SniffError("columns_mismatch", header_mismatch(found, columns))
    elif len(first) != len(columns):
        raise SniffError(
            "columns_mismatch", f"first row has {len(first)} fields, the contract {len(columns)}"
        )


def header_mismatch(found: list[str], columns: list[str]) -> str:
    """Why a header line differs from the contract's columns, in words that hold no text of the file.

    The line the contract calls a header may be a row of data (a file without one), so only counts,
    1-based field positions and the contract's own column names are named, never a field's text.
    """
    missing = [name for name in columns if name not in found]
    unknown = [position for position, name in enumerate(found, 1) if name not in columns]
    parts = []
    if missing:
        parts.append(f"missing {missing}")
    if unknown:
        parts.append(f"{len(unknown)} unexpected at {_positions(unknown)}")
    if not parts:
        moved = [position for position, name in enumerate(found, 1) if columns[position - 1 :][:1] != [name]]
        parts.append(f"order differs at {_positions(moved)}")
    return (
        f"the header line does not match the contract ({len(found)} fields, {len(columns)} columns; "
        f"{', '.join(parts)})"
    )


def _positions(positions: list[int], shown: int = 20) -> str:
    """``field 3`` or ``fields 1, 2``: the first ``shown`` positions, then how many more."""
    listed = ", ".join(str(position) for position in positions[:shown])
    more = f" and {len(positions) - shown} more" if len(positions) > shown else ""
    return f"field{'s' if len(positions) > 1 else ''} {listed}{more}"


def check_json_lines(text: str, complete: bool, *, required: list[str], columns: list[str]) -> None:
    """The first line that is a JSON object the job accepts holds the contract's fields.

    Lines the job rejects as rows (not valid JSON, a duplicate key, not an object) are skipped: one bad
    row is not a reason to refuse the file. Valid JSON nested at any depth parses.
    """
    lines = text.split("\n")
    if not complete:
        lines = lines[:-1]  # the last line may be cut by the sample's end
    examined = [line for line in lines if line.strip()][:JSON_LINES_EXAMINED]
    if not examined:
        raise SniffError("empty", "no complete JSON line in the sample")
    skipped: Counter[str] = Counter()
    for line in examined:
        try:
            record = json_text.loads(line, object_pairs_hook=json_text.unique_pairs)
        except json_text.DuplicateKeyError:
            skipped["with a duplicate key"] += 1
            continue
        except ValueError:  # JSONDecodeError, or a number Python will not convert
            skipped["not valid JSON"] += 1
            continue
        if isinstance(record, dict):
            _check_record_keys(record, required, columns)
            return
        skipped["not an object"] += 1
    detail = ", ".join(f"{count} {what}" for what, count in skipped.items())
    raise SniffError(
        "format_mismatch", f"none of the first {len(examined)} lines is a JSON object ({detail})"
    )


def check_json_array(text: str, complete: bool, *, required: list[str], columns: list[str]) -> None:
    """A whole (complete) sample must be an array of objects; a duplicate key in an element is that
    row's problem (the job rejects it), not the file's."""
    if not complete:
        return  # an array cannot be parsed from its beginning alone; the job checks the rest
    try:
        document = json_text.loads(text)
    except ValueError as exc:
        # A decoding error names a position; any other (a number Python will not convert) is named by
        # its type only, since its text may quote the document.
        detail = str(exc) if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise SniffError("format_mismatch", f"not a JSON document: {detail}") from exc
    if not isinstance(document, list) or not all(isinstance(item, dict) for item in document):
        raise SniffError("format_mismatch", "expected a JSON array of objects")
    if not document:
        raise SniffError("empty", "the JSON array is empty")
    _check_record_keys(document[0], required, columns)


def _check_record_keys(record: dict[str, object], required: list[str], columns: list[str]) -> None:
    missing = [name for name in required if name not in record]
    if missing:
        raise SniffError("columns_mismatch", f"first record lacks required fields {missing}")
    if not any(name in record for name in columns):
        raise SniffError("columns_mismatch", f"first record has none of the contract's fields {columns}")
