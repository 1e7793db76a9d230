"""The objects of a run and their records, numbered as the Glue job numbers them.

- Lines end at `\\n`, `\\r` or `\\r\\n` (Hadoop's line reader); a final line break opens no line.
- Every line must be valid text in the object's encoding, else the object is left out
  (`encoding`: "line N is not valid UTF-8"); a byte order mark at the start of line 1 is not data.
- CSV: a record whose quoted field spans lines is the lines joined with `\\n`, numbered by its first
  line (up to MAX_LINES_PER_RECORD lines; a quote still open at the end of the object joins nothing).
  Lines that are empty after trimming spaces are not records; with a header, line 1 is not a record.
- JSON Lines: every non-blank line is a record. JSON array files: each element is a record numbered by
  its position (`record_number`); a file that is not an array is one malformed record.

An object that cannot be read (corrupt gzip, unreadable, invalid text) raises ObjectFailed: the run
leaves it out and lists it in failed-objects.json, as the job does.
"""

from __future__ import annotations

import codecs
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from transform_lite.json_values import JsonArrayError, array_elements
from transform_lite.storage import Storage

MAX_LINES_PER_RECORD = 10_000
MAX_RAW_CHARS_OF_FILE_REJECT = 10_000
CHUNK_BYTES = 8 * 1024 * 1024
# The encodings the job supports (Python codec name -> Java charset name, as messages name them).
JAVA_CHARSETS = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8",
    "ascii": "US-ASCII",
    "iso8859-1": "ISO-8859-1",
    "iso8859-15": "ISO-8859-15",
    "cp1252": "windows-1252",
}
PYTHON_CODECS = {
    "UTF-8": "utf-8",
    "US-ASCII": "ascii",
    "ISO-8859-1": "latin-1",
    "ISO-8859-15": "iso8859_15",
    "windows-1252": "cp1252",
}
SPARK_HIDDEN_NAME = re.compile(r"(^[_.])|(\._COPYING_$)")
BOM = "\ufeff"

# (line number, record number, raw text, whether the record is a whole file that is no JSON array)
Record = tuple[int | None, int | None, str, bool]


class ObjectFailed(Exception):
    """An object the run leaves out: `code` is a rejection code of validate's."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class SourceObject:
    index: int
    key: str
    version_id: str | None
    uri: str
    charset: str
    item: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def gzip(self) -> bool:
        # Hadoop picks the codec from the name, as the job reads it
        return self.uri.endswith(".gz")

    def failure(self, code: str, message: str) -> dict[str, Any]:
        return {**self.item, "reasons": [{"code": code, "message": message}]}


def java_charset(encoding: str) -> str:
    try:
        python_name = codecs.lookup(encoding).name
    except LookupError as error:
        raise ObjectFailed("encoding", f"unknown encoding {encoding!r}") from error
    if python_name not in JAVA_CHARSETS:
        raise ObjectFailed(
            "encoding", f"encoding {encoding!r} is not supported (supported: {sorted(JAVA_CHARSETS)})"
        )
    return JAVA_CHARSETS[python_name]


def check_readable_name(uri: str, compression: str | None) -> None:
    """The checks the job makes on the name it reads (only older manifests without staged_uri fail)."""
    name = uri.rsplit("/", 1)[-1]
    if SPARK_HIDDEN_NAME.search(name):
        raise ObjectFailed("hidden_name", f"{uri}: Spark skips file names starting with '_' or '.'")
    if compression == "gzip" and not name.endswith(".gz"):
        raise ObjectFailed(
            "compression_mismatch", f"{uri} is gzip-compressed but its name does not end with .gz"
        )
    if compression == "none" and name.endswith(".gz"):
        raise ObjectFailed("compression_mismatch", f"{uri} ends with .gz but is not gzip-compressed")


def source_objects(
    manifest: dict[str, Any], compression: str, encoding: str
) -> tuple[list[SourceObject], list[dict[str, Any]]]:
    """The objects of the manifest the run reads, and the entries of those it cannot read as listed."""
    objects, failures = [], []
    fixed = compression if compression in ("gzip", "none") else None
    for index, item in enumerate(manifest.get("objects") or []):
        bucket, key = str(item["bucket"]), str(item["key"])
        uri = str(item.get("staged_uri") or f"s3://{bucket}/{key}")
        try:
            check_readable_name(uri, item.get("compression") or fixed)
            charset = java_charset(item.get("encoding") or encoding)
        except ObjectFailed as failed:
            failures.append({**item, "reasons": [{"code": failed.code, "message": failed.message}]})
            continue
        objects.append(SourceObject(index, key, item.get("version_id"), uri, charset, dict(item)))
    return objects, failures


def readable_objects(objects: list[SourceObject]) -> list[SourceObject]:
    """One object per URI: an older manifest naming one key twice reads its current version once,
    counted for the last version listed (as the job does)."""
    last = {item.uri: item for item in objects}
    return sorted(last.values(), key=lambda item: item.index)


# -------------------------------------------------------------------------------------------- bytes


def _read_error(error: Exception, gzip: bool) -> ObjectFailed:
    """The job's reason for a file its reader cannot read (the Java reader's words where they differ)."""
    if isinstance(error, EOFError):
        kind, message = "EOFException", "Unexpected end of input stream"
    elif gzip and isinstance(error, OSError) and "Not a gzipped file" in str(error):
        kind, message = "ZipException", "Not in GZIP format"
    elif isinstance(error, zlib.error):
        # Hadoop's gzip reader wraps zlib's own message (both use zlib), except for these two
        detail = str(error).split(": ", 1)[-1]
        known = {
            "incorrect header check": "not a gzip file",
            "incorrect data check": "gzip stream CRC failure",
        }
        kind, message = "IOException", known.get(detail, detail)
    else:
        kind, message = type(error).__name__, str(error).splitlines()[0] if str(error) else ""
    code = "corrupt_gzip" if gzip else "unreadable"
    return ObjectFailed(code, f"cannot read the object: {kind}: {message}")


def byte_chunks(stream: IO[bytes], gzip: bool) -> Iterator[bytes]:
    """The object's bytes, decompressed, in chunks of about CHUNK_BYTES."""
    try:
        if gzip:
            decompressor = zlib.decompressobj(wbits=31)
            while True:
                compressed = stream.read(CHUNK_BYTES // 4)
                if not compressed:
                    break
                data = decompressor.decompress(compressed)
                while decompressor.eof and decompressor.unused_data:  # concatenated gzip members
                    rest = decompressor.unused_data
                    decompressor = zlib.decompressobj(wbits=31)
                    data += decompressor.decompress(rest)
                if data:
                    yield data
            tail = decompressor.flush()
            if tail:
                yield tail
            if not decompressor.eof:
                raise EOFError("compressed stream ended early")
        else:
            while True:
                data = stream.read(CHUNK_BYTES)
                if not data:
                    break
                yield data
    except ObjectFailed:
        raise
    except (EOFError, OSError, zlib.error) as error:
        raise _read_error(error, gzip) from error


def _drain(chunks: Iterator[bytes]) -> None:
    for _ in chunks:
        pass


def decode_lines(chunk: bytes, charset: str) -> list[str] | int:
    """The lines of `chunk` (which ends with a line break) as text, or the 0-based position of the
    first line that is not valid text in `charset`."""
    python_codec = PYTHON_CODECS[charset]
    if charset == "US-ASCII" and not chunk.isascii():
        return next(i for i, line in enumerate(chunk.splitlines()) if not line.isascii())
    try:
        # windows-1252 has five unassigned bytes, which Java decodes to U+FFFD
        text = chunk.decode(python_codec, errors="replace" if charset == "windows-1252" else "strict")
    except UnicodeDecodeError:
        for position, line in enumerate(chunk.splitlines()):
            try:
                line.decode(python_codec)
            except UnicodeDecodeError:
                return position
        raise
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def text_lines(storage: Storage, item: SourceObject) -> Iterator[str]:
    """The object's lines as text, in order (line 1 without a byte order mark)."""
    with storage.open(item.uri) as stream:
        chunks = byte_chunks(stream, item.gzip)
        pending = b""
        first = True
        before = 0
        for data in chunks:
            buffer = pending + data
            end = len(buffer) - 1 if buffer.endswith(b"\r") else len(buffer)  # may be half of \r\n
            cut = max(buffer.rfind(b"\n", 0, end), buffer.rfind(b"\r", 0, end))
            if cut < 0:
                pending = buffer
                continue
            pending = buffer[cut + 1 :]
            lines = _checked(buffer[: cut + 1], item, before, chunks)
            if first and lines:
                lines[0] = lines[0].removeprefix(BOM)
                first = False
            before += len(lines)
            yield from lines
        if pending:
            lines = _checked(pending + b"\n", item, before, chunks)
            if first and lines:
                lines[0] = lines[0].removeprefix(BOM)
            yield from lines


def _checked(complete: bytes, item: SourceObject, before: int, chunks: Iterator[bytes]) -> list[str]:
    decoded = decode_lines(complete, item.charset)
    if isinstance(decoded, int):
        _drain(chunks)  # a file that also fails to decompress is reported as that, as the job does
        raise ObjectFailed("encoding", f"line {before + decoded + 1} is not valid {item.charset}")
    return decoded


def whole_text(storage: Storage, item: SourceObject) -> str:
    """A JSON array file's text (read whole, as the job does), without a byte order mark."""
    with storage.open(item.uri) as stream:
        data = b"".join(byte_chunks(stream, item.gzip))
    if item.charset == "US-ASCII" and not data.isascii():
        raise ObjectFailed("encoding", f"the object is not valid {item.charset}")
    try:
        errors = "replace" if item.charset == "windows-1252" else "strict"
        text = data.decode(PYTHON_CODECS[item.charset], errors=errors)
    except UnicodeDecodeError as error:
        raise ObjectFailed("encoding", f"the object is not valid {item.charset}") from error
    return text.removeprefix(BOM)


# ------------------------------------------------------------------------------------------ records


def _java_char_class_escape(char: str) -> str:
    return re.escape(char)


# Java's `.` excludes these; Java's `$` (no MULTILINE) also matches before one final line terminator.
JAVA_DOT = "[^\\n\\r\\x85\\u2028\\u2029]"
JAVA_END = "(?=(?:\\r\\n|[\\n\\r\\x85\\u2028\\u2029])?\\Z)"


@dataclass(frozen=True)
class CsvQuotes:
    """Which lines may open a quoted field that does not close on the line, or close one: the job's
    possessive Java expressions, written for Python (same matches)."""

    opens: re.Pattern[str]
    closes: re.Pattern[str]
    quote: str

    @classmethod
    def of(cls, delimiter: str, quote: str, escape: str) -> CsvQuotes:
        q, d, e = (_java_char_class_escape(c) for c in (quote, delimiter, escape))
        content = f"(?:[^{q}]++|{q}{q})*+" if quote == escape else f"(?:[^{q}{e}]++|{e}{JAVA_DOT})*+"
        fields = f"(?:{q}{content}{q}|(?:[^{d}{q}][^{d}]*+)?)"
        return cls(
            opens=re.compile(f"^(?:{fields}{d})*+{q}{content}{JAVA_END}"),
            closes=re.compile(f"^{content}{q}(?:{d}{fields})*+{JAVA_END}"),
            quote=quote,
        )

    def unclosed(self, record: str) -> bool:
        return self.opens.search(record) is not None


def csv_records(lines: Iterator[str], quotes: CsvQuotes, header: bool) -> Iterator[Record]:
    """Records of a CSV object: lines, except those of a record whose quoted field spans lines, which
    are joined. Mirrors the job: a line may open such a field only outside one, and the first line
    that closes it ends the record (a line that closes one and opens another opens nothing)."""
    quote, opens, closes = quotes.quote, quotes.opens, quotes.closes
    held: list[str] = []  # the lines since an open quote, while it may still close
    start = 0
    in_field = False
    number = 0

    def emit(line_number: int, raw: str) -> Iterator[Record]:
        if raw.strip(" ") and not (header and line_number == 1):
            yield (line_number, None, raw, False)

    for number, line in enumerate(lines, start=1):
        if not in_field:
            if quote in line and opens.search(line):
                in_field, start, held = True, number, [line]
                continue
            yield from emit(number, line)
            continue
        if quote in line and closes.search(line):
            held.append(line)
            in_field = False
            if number - start < MAX_LINES_PER_RECORD:
                yield from emit(start, "\n".join(held))
            else:
                for offset, text in enumerate(held):
                    yield from emit(start + offset, text)
            held = []
            continue
        held.append(line)
    for offset, text in enumerate(held):  # still open at the end: its lines are records of their own
        yield from emit(start + offset, text)


def line_records(lines: Iterator[str]) -> Iterator[Record]:
    for number, line in enumerate(lines, start=1):
        if line.strip(" "):
            yield (number, None, line, False)


def object_records(storage: Storage, item: SourceObject, plan: Any) -> Iterator[Record]:
    """Every record of one object (raises ObjectFailed, possibly after yielding some)."""
    if plan.format == "json":
        text = whole_text(storage, item)
        try:
            elements = array_elements(text)
        except JsonArrayError:
            yield (None, None, text[:MAX_RAW_CHARS_OF_FILE_REJECT], True)
            return
        for position, element in elements:
            yield (None, position, element, False)
        return
    lines = text_lines(storage, item)
    if plan.format == "csv":
        csv = plan.csv
        yield from csv_records(lines, CsvQuotes.of(csv.delimiter, csv.quote, csv.escape), csv.header)
    else:
        yield from line_records(lines)
