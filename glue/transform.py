"""Tributary's Glue job: the raw objects of one run become validated, partitioned, snappy Parquet.

The same file runs on AWS Glue 5.x (Spark 3.5, Python 3.11) and on a local SparkSession:

    python glue/transform.py --run_id R --manifest_uri URI --plan_uri URI --output_uri URI \
        --rejects_uri URI --result_uri URI [--ingest_ts ISO-8601] [--rows_per_file N] \
        [--spark_path_prefix PREFIX]

Arguments are Glue's `--name value` pairs (`--name=value` works too); names this job does not know
(Glue passes its own, such as `--JOB_ID` or `--TempDir`) are ignored. A missing or malformed argument
prints one line on stderr and exits with status 2.

- `--manifest_uri` is the validated manifest, `--plan_uri` the transform plan validate compiled
  from the dataset contract (`runs/<run_id>/plan.json`, written by `etl_common.plan`; read here as
  plain JSON: the job keeps no contract rule of its own, it runs what the plan says: the columns,
  how each text becomes a typed value, the checks in order with their messages, the partition),
  `--result_uri` where the result document goes. These small documents are read and written with
  boto3 when the URI is `s3://` (boto3 honours `AWS_ENDPOINT_URL`, so locally they reach a moto
  server), otherwise as local files (`file://` URI or plain path).
- `--output_uri` is the dataset's curated location; the job writes
  `<output_uri>/<partition_column>=<yyyy-MM-dd>/run_id=<run_id>/part-*.snappy.parquet`, after deleting
  whatever an earlier attempt of the same run left under `*/run_id=<run_id>/` (no other run is touched).
- `--rejects_uri` receives the refused rows as JSON Lines (replaced on every attempt).
- `--ingest_ts` is the ingest timestamp of the run (lineage column `ingested_at`, and the partition
  value when the plan partitions by `ingest_date`). Pass a stable one (the execution's start time)
  so that a retried run writes the same partitions; it defaults to now.
- `--rows_per_file` caps the rows of one Parquet file; by default it is derived from the average
  input row size so that a file holds about 256 MiB of raw input.

Data (inputs, curated output, rejects) is read and written by Spark. On AWS Glue Spark reads `s3://`
natively. Elsewhere, `to_spark_path` is the only place where a URI becomes a Spark path: when
`--spark_path_prefix` (or, if that argument is absent, the environment variable
`TRIBUTARY_SPARK_PATH_PREFIX`) is set, `s3://<bucket>/<key>` becomes `<prefix>/<bucket>/<key>`, for
example `file:///home/me/.tributary/s3/<bucket>/<key>` for a local mirror of the buckets. Neither is
set on AWS, so the bridge is inert there. Locations in the result document stay `s3://` URIs.

The job sets these Spark SQL options on the session it is given: session time zone UTC, ANSI mode off
(a failed cast is a reject, not a crash), the Spark 3 datetime parser (`timeParserPolicy=CORRECTED`),
Parquet timestamps as INT64 microseconds, Parquet dates and timestamps written and read as they are in
the proleptic Gregorian calendar (rebase modes CORRECTED, so years before 1900 are neither refused nor
shifted), an uncompressed in-memory cache, writes that keep one open file per partition value
instead of sorting (planned writes off, `maxConcurrentOutputFileWriters`), and no whole-stage
generated method larger than HotSpot compiles (`codegen.hugeMethodLimit` 8000). Dates and
timestamps are built from the groups of the plan's regular expressions (no datetime pattern is
parsed here) and accepted within the plan's range (0001-01-01 to 9999-12-31 23:59:59.999999 UTC);
a valid value outside it is a rejected row.

Plain CSV records (no quote or escape character, the plan's field count, values of simple shapes) are
typed and checked by pyarrow in Spark's Python workers (`fast_checked`, through `mapInArrow`, which
needs pyarrow and pandas there: Glue 5.0 provides both); every other record by Spark's expressions,
with the same values and reasons. A run of more than MAX_UNDECIDED_SHARE other records is checked by
Spark's expressions alone.

A quoted CSV field may span lines (up to MAX_LINES_PER_RECORD lines): the record is numbered by the
line it starts on. A JSON record with a duplicate top-level key, or nested deeper than the plan's
max_json_depth, is rejected with that reason.

Each object is read from the `staged_uri` validate copied it to (the version it accepted), or from its
`bucket`/`key` when a manifest has none. Failure is per object: an object the job cannot read (a name
Spark skips, a wrong compression suffix, invalid text in its encoding, a file Spark fails to read or
decompress) is left out and listed in `failed-objects.json` next to the result, and the others are
published. A failure no object explains writes `"status": "FAILED"` with a one-line `error` to the
result and summary, and ends the process with `TransformFailed: <that line>`.

Known limits: a JSON array file is parsed whole by one task (prefer JSON Lines for large
files); gzip is recognised by the `.gz` suffix, as Hadoop does; object names whose last segment starts
with `_` or `.` are refused because Spark's file sources skip them silently.
"""

from __future__ import annotations

import codecs
import json
import logging
import math
import operator
import os
import re
import sys
import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache, reduce
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

LOGGER = logging.getLogger("tributary.glue.transform")

REQUIRED_ARGS = ("run_id", "manifest_uri", "plan_uri", "output_uri", "rejects_uri", "result_uri")
OPTIONAL_ARGS = ("ingest_ts", "rows_per_file", "spark_path_prefix")
SPARK_PATH_PREFIX_ENV = "TRIBUTARY_SPARK_PATH_PREFIX"
# Step Functions execution names are the run ids; this subset keeps paths and SQL literals safe.
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
TARGET_RAW_BYTES_PER_FILE = 256 * 1024 * 1024
MIN_ROWS_PER_FILE = 10_000
MAX_ROWS_PER_FILE = 20_000_000
REJECT_ROWS_PER_FILE = 1_000_000
# A malformed JSON array file is rejected as one record; keep its raw text bounded.
MAX_RAW_CHARS_OF_FILE_REJECT = 10_000
# Spark's file sources silently skip these names, even when a file is named explicitly.
SPARK_HIDDEN_NAME = re.compile(r"(^[_.])|(\._COPYING_$)")
JAVA_CHARSETS = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8",
    "ascii": "US-ASCII",
    "iso8859-1": "ISO-8859-1",
    "iso8859-15": "ISO-8859-15",
    "cp1252": "windows-1252",
}
UTF8_CHARSETS = ("UTF-8", "US-ASCII")


class ArgumentError(ValueError):
    """A job argument is missing or malformed (exit status 2)."""


class PlanError(ValueError):
    """The plan (plan.json) cannot drive the job: another version, a missing field, a bad regex."""


class ManifestError(ValueError):
    """The manifest lists something the job cannot read."""


class TransformFailed(RuntimeError):
    """The run failed for a reason the job cannot pin on one object; the message is one line."""


class ObjectRefused(ManifestError):
    """One object of the manifest cannot be read as it is listed: `code` is a rejection code of
    validate's (hidden_name, compression_mismatch, encoding, corrupt_gzip, unreadable)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ObjectFailure:
    """An object the job left out, and why: its entry of failed-objects.json."""

    index: int
    item: dict[str, Any]  # the validated manifest's object, as listed
    code: str
    message: str

    def entry(self) -> dict[str, Any]:
        return {**self.item, "reasons": [{"code": self.code, "message": self.message}]}


class ObjectsFailed(Exception):
    """The job can name the objects that broke a step: it leaves them out and runs the step again."""

    def __init__(self, failures: Sequence[ObjectFailure]) -> None:
        super().__init__("; ".join(f"{f.item.get('key')}: {f.message}" for f in failures))
        self.failures = list(failures)


# --------------------------------------------------------------------------------------------- logs


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line, so that CloudWatch Logs Insights can filter on fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonLogFormatter())
    LOGGER.handlers[:] = [handler]
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False


def log_event(message: str, **fields: Any) -> None:
    """Counts, URIs and durations only: row data never reaches the logs."""
    LOGGER.info(message, extra={"fields": fields})


# ---------------------------------------------------------------------------------------- arguments


@dataclass(frozen=True)
class JobArgs:
    run_id: str
    manifest_uri: str
    plan_uri: str
    output_uri: str
    rejects_uri: str
    result_uri: str
    ingest_ts: datetime
    rows_per_file: int | None = None
    spark_path_prefix: str | None = None


def parse_glue_args(argv: Sequence[str]) -> dict[str, str]:
    """`--name value` and `--name=value` pairs; a name followed by another name has the value ''."""
    values: dict[str, str] = {}
    position = 0
    while position < len(argv):
        token = argv[position]
        position += 1
        if not token.startswith("--") or len(token) == 2:
            continue
        name, has_inline_value, inline_value = token[2:].partition("=")
        if has_inline_value:
            values[name] = inline_value
        elif position < len(argv) and not argv[position].startswith("--"):
            values[name] = argv[position]
            position += 1
        else:
            values[name] = ""
    return values


def parse_ingest_ts(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError as error:
        raise ArgumentError(f"--ingest_ts must be an ISO-8601 timestamp, got {text!r}") from error
    # A timestamp without an offset is taken as UTC, the time zone of the whole pipeline.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_rows_per_file(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ArgumentError(f"--rows_per_file must be a positive integer, got {text!r}")
    return int(text)


def job_args_from_argv(argv: Sequence[str], now: datetime) -> JobArgs:
    values = parse_glue_args(argv)
    missing = [f"--{name}" for name in REQUIRED_ARGS if not values.get(name)]
    if missing:
        raise ArgumentError(f"missing required argument(s): {', '.join(missing)}")
    if not RUN_ID_PATTERN.match(values["run_id"]):
        raise ArgumentError(f"--run_id must match {RUN_ID_PATTERN.pattern}, got {values['run_id']!r}")
    ingest_text = values.get("ingest_ts")
    rows_text = values.get("rows_per_file")
    prefix = values.get("spark_path_prefix") or os.environ.get(SPARK_PATH_PREFIX_ENV) or None
    return JobArgs(
        run_id=values["run_id"],
        manifest_uri=values["manifest_uri"],
        plan_uri=values["plan_uri"],
        output_uri=values["output_uri"],
        rejects_uri=values["rejects_uri"],
        result_uri=values["result_uri"],
        ingest_ts=parse_ingest_ts(ingest_text) if ingest_text else now,
        rows_per_file=parse_rows_per_file(rows_text) if rows_text else None,
        spark_path_prefix=prefix,
    )


# ------------------------------------------------------------------------------- documents and paths


def split_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def local_path_of(uri: str) -> str:
    return uri[len("file://") :] if uri.startswith("file://") else uri


@cache
def s3_client() -> Any:
    import boto3  # imported lazily: a run on local files needs no AWS SDK set-up

    return boto3.client("s3")


def read_document(uri: str) -> bytes:
    if uri.startswith("s3://"):
        bucket, key = split_s3_uri(uri)
        return s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    with open(local_path_of(uri), "rb") as document:
        return document.read()


def write_document(uri: str, body: bytes) -> None:
    if uri.startswith("s3://"):
        bucket, key = split_s3_uri(uri)
        s3_client().put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
        return
    path = local_path_of(uri)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as document:
        document.write(body)


def to_spark_path(uri: str, spark_path_prefix: str | None) -> str:
    """The one place where a URI becomes a path Spark reads or writes (see the module docstring)."""
    if spark_path_prefix and uri.startswith("s3://"):
        return spark_path_prefix.rstrip("/") + "/" + uri[len("s3://") :]
    return uri


def escape_glob(path: str) -> str:
    """Spark expands glob characters in input paths; S3 keys may contain them literally."""
    return re.sub(r"([\\{}\[\]*?])", r"\\\1", path)


def path_identity(path: str, percent_encoded: bool) -> str:
    """`authority|path` of a URI or local path, comparable between what we pass and what Spark reports."""
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):(//([^/]*))?(/.*)$", path)
    authority, file_path = (match.group(3) or "", match.group(4)) if match else ("", os.path.abspath(path))
    if percent_encoded:
        from urllib.parse import unquote

        file_path = unquote(file_path)
    return f"{authority}|{file_path}"


def spark_path_identity(path_column: Column) -> Column:
    """Spark-side twin of `path_identity(..., percent_encoded=True)` for `input_file_name()`."""
    pattern = r"^[A-Za-z][A-Za-z0-9+.-]*:(//([^/]*))?(/.*)$"
    authority = F.regexp_extract(path_column, pattern, 2)
    encoded_path = F.regexp_extract(path_column, pattern, 3)
    # url_decode is form decoding ('+' means space); a '+' in a path is literal.
    decoded_path = F.call_function("url_decode", F.replace(encoded_path, F.lit("+"), F.lit("%2B")))
    return F.concat(authority, F.lit("|"), decoded_path)


def hadoop_fs(spark: SparkSession, spark_path: str) -> tuple[Any, Any]:
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(spark_path)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path


def delete_spark_path(spark: SparkSession, spark_path: str) -> None:
    filesystem, path = hadoop_fs(spark, spark_path)
    if filesystem.exists(path):
        filesystem.delete(path, True)


def delete_run_partitions(spark: SparkSession, spark_output: str, run_id: str) -> int:
    """Remove `*/run_id=<run_id>` under the output: an earlier attempt's output, and only that."""
    filesystem, pattern = hadoop_fs(spark, f"{spark_output.rstrip('/')}/*/run_id={run_id}")
    statuses = filesystem.globStatus(pattern) or []
    for status in statuses:
        filesystem.delete(status.getPath(), True)
    return len(statuses)


def list_part_files(spark: SparkSession, spark_directory: str) -> list[str]:
    filesystem, path = hadoop_fs(spark, spark_directory)
    if not filesystem.exists(path):
        return []
    names = [status.getPath().getName() for status in filesystem.listStatus(path)]
    return sorted(name for name in names if name.startswith("part-"))


# --------------------------------------------------------------------------------------------- plan

# The job runs the plan validate compiled from the dataset plan (etl_common.plan, plan.json). It
# keeps no plan rule of its own: columns, parse specs, checks and messages all come from the plan.
PLAN_VERSION = 1


@dataclass(frozen=True)
class CsvSpec:
    delimiter: str = ","
    quote: str = '"'
    escape: str = '"'
    header: bool = True


@dataclass(frozen=True)
class PlanColumn:
    name: str
    type: str
    trim: bool
    parse: dict[str, Any]


@dataclass(frozen=True)
class PlanCheck:
    rule: str
    column: str | None
    message: str
    quote_value: bool = False
    outside_message: str | None = None
    bound: str | None = None
    values: tuple[Any, ...] = ()
    pattern: str | None = None


@dataclass(frozen=True)
class PlanRule:
    """A quality rule counted in the result document."""

    column: str
    rule: str

    @property
    def label(self) -> str:
        return f"{self.rule}:{self.column}"


@dataclass(frozen=True)
class Plan:
    dataset: str
    format: str
    compression: str
    encoding: str
    csv: CsvSpec
    columns: tuple[PlanColumn, ...]
    checks: tuple[PlanCheck, ...]
    rules: tuple[PlanRule, ...]
    partition_column: str
    partition_source: str | None  # None: the run's ingest date
    partition_value_format: str
    malformed: dict[str, str]
    max_json_depth: int
    max_reject_ratio: float

    def column(self, name: str) -> PlanColumn:
        return next(spec for spec in self.columns if spec.name == name)


def plan_from_document(document: Any) -> Plan:
    """plan.json as the job uses it; a plan of another version, or one missing a field, is refused."""
    version = document.get("plan_version") if isinstance(document, dict) else None
    if version != PLAN_VERSION:
        raise PlanError(f"the plan has plan_version {version!r}; this job runs version {PLAN_VERSION}")
    try:
        csv = document.get("csv") or {}
        partition = document["partition"]
        malformed = document["malformed"]
        return Plan(
            dataset=str(document["dataset"]),
            format=str(document["format"]),
            compression=str(document["compression"]),
            encoding=str(document["encoding"]),
            csv=CsvSpec(
                **{key: csv[key] for key in ("delimiter", "quote", "escape", "header") if key in csv}
            ),
            columns=tuple(
                PlanColumn(str(c["name"]), str(c["type"]), bool(c["trim"]), dict(c["parse"]))
                for c in document["columns"]
            ),
            checks=tuple(
                PlanCheck(
                    rule=str(c["rule"]),
                    column=c.get("column"),
                    message=str(c["message"]),
                    quote_value=bool(c.get("quote_value")),
                    outside_message=c.get("outside_message"),
                    bound=c.get("bound"),
                    values=tuple(c.get("values") or ()),
                    pattern=c.get("pattern"),
                )
                for c in document["checks"]
            ),
            rules=tuple(PlanRule(str(r["column"]), str(r["rule"])) for r in document["rules"]),
            partition_column=str(partition["column"]),
            partition_source=None if partition["source_kind"] == "ingest_date" else str(partition["source"]),
            partition_value_format=str(partition["value_format"]),
            malformed={str(k): str(v) for k, v in malformed["messages"].items()},
            max_json_depth=int(malformed["max_json_depth"]),
            max_reject_ratio=float(document["max_reject_ratio"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise PlanError(f"the plan is incomplete: {type(error).__name__}: {error}") from error


def plan_regexes(plan: Plan) -> list[tuple[str, str]]:
    """(where, regex) of every regular expression the job hands to Java."""
    found = [
        (f"column {column.name}", column.parse[key])
        for column in plan.columns
        for key in ("regex", "true_regex", "false_regex")
        if key in column.parse
    ]
    found += [(f"check {c.rule}:{c.column}", c.pattern) for c in plan.checks if c.pattern is not None]
    return found


def check_plan_regexes(spark: SparkSession, plan: Plan) -> None:
    """The plan's patterns run as Java regular expressions; a bad one fails here, not mid-job."""
    for where, regex in plan_regexes(plan):
        try:
            spark.sparkContext._jvm.java.util.regex.Pattern.compile(regex)
        except Exception as error:
            raise PlanError(f"{where}: invalid regular expression") from error


# ----------------------------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class SourceObject:
    index: int
    bucket: str
    key: str
    version_id: str | None
    charset: str
    spark_path: str
    item: dict[str, Any] = field(default_factory=dict, compare=False)  # as the manifest lists it

    def failure(self, code: str, message: str) -> ObjectFailure:
        return ObjectFailure(self.index, self.item, code, message)

    @property
    def identity(self) -> str:
        return path_identity(self.spark_path, percent_encoded=False)


def java_charset(encoding: str) -> str:
    try:
        python_name = codecs.lookup(encoding).name
    except LookupError as error:
        raise ObjectRefused("encoding", f"unknown encoding {encoding!r}") from error
    if python_name not in JAVA_CHARSETS:
        raise ObjectRefused(
            "encoding", f"encoding {encoding!r} is not supported (supported: {sorted(JAVA_CHARSETS)})"
        )
    return JAVA_CHARSETS[python_name]


def check_readable_name(uri: str, compression: str | None) -> None:
    """The name Spark reads (the staged copy's, or the raw key's for an older manifest)."""
    name = uri.rsplit("/", 1)[-1]
    if SPARK_HIDDEN_NAME.search(name):
        raise ObjectRefused("hidden_name", f"{uri}: Spark skips file names starting with '_' or '.'")
    # Hadoop picks the codec from the suffix, so the suffix must tell the truth.
    if compression == "gzip" and not name.endswith(".gz"):
        raise ObjectRefused(
            "compression_mismatch", f"{uri} is gzip-compressed but its name does not end with .gz"
        )
    if compression == "none" and name.endswith(".gz"):
        raise ObjectRefused("compression_mismatch", f"{uri} ends with .gz but is not gzip-compressed")


def source_objects_from(
    manifest: dict[str, Any], plan: Plan, spark_path_prefix: str | None
) -> tuple[list[SourceObject], list[ObjectFailure]]:
    """The objects the job reads, and those it cannot read as listed (left out, with their reason)."""
    objects, failures = [], []
    for index, item in enumerate(manifest.get("objects") or []):
        bucket, key = str(item["bucket"]), str(item["key"])
        # validate sniffs each object; a plan that fixes the compression speaks for older manifests
        fixed = plan.compression if plan.compression in ("gzip", "none") else None
        # validate's copy of the accepted version (interface 1); older manifests name the raw object
        uri = str(item.get("staged_uri") or f"s3://{bucket}/{key}")
        try:
            check_readable_name(uri, item.get("compression") or fixed)
            charset = java_charset(item.get("encoding") or plan.csv.encoding)
        except ObjectRefused as refused:
            failures.append(ObjectFailure(index, dict(item), refused.code, str(refused)))
            continue
        objects.append(
            SourceObject(
                index=index,
                bucket=bucket,
                key=key,
                version_id=item.get("version_id"),
                charset=charset,
                spark_path=to_spark_path(uri, spark_path_prefix),
                item=dict(item),
            )
        )
    return objects, failures


def readable_objects(objects: Sequence[SourceObject]) -> list[SourceObject]:
    """One object per path. Staged inputs have a path per version; an older manifest without
    `staged_uri` names keys, whose current version Spark reads: when it lists several versions of
    one key, the rows are counted for the last one listed and the others read 0 rows."""
    last_per_path = {item.identity: item for item in objects}
    return sorted(last_per_path.values(), key=lambda item: item.index)


# Up to this many entries, a lookup the driver knows (an object's key and version, where a split's lines
# start) is a literal map in the plan instead of a broadcast join: a broadcast is a Spark job of its own
# (0.1-0.15 s each, three per run here), and a join hashes its key on every row. A literal map is
# searched entry by entry, so it stays small.
MAX_LITERAL_LOOKUP = 16


def literal_lookup(key: Column, mapping: dict[Any, Any], value_type: str) -> Column:
    """`mapping[key]` as a literal map (see MAX_LITERAL_LOOKUP); null for a key it does not hold."""
    entries = [F.lit(item) for pair in mapping.items() for item in pair]
    return F.create_map(*entries)[key].cast(value_type) if entries else F.lit(None).cast(value_type)


def objects_frame(spark: SparkSession, objects: Sequence[SourceObject]) -> DataFrame:
    schema = (
        "source_identity string, __object_index int, source_object_key string, source_object_version string"
    )
    rows = [(item.identity, item.index, item.key, item.version_id) for item in objects]
    return spark.createDataFrame(rows, schema)


# ------------------------------------------------------------------------------------------ reading

RECORD_COLUMNS = (
    "__object_index",
    "source_object_key",
    "source_object_version",
    "__line_number",
    "__record_number",
)


def decoded_text(value: Column, objects: Sequence[SourceObject], first_of_file: Column) -> Column:
    """Spark's text source keeps the bytes as they are; decode the objects that are not UTF-8."""
    decoded = value
    for charset in sorted({item.charset for item in objects} - set(UTF8_CHARSETS)):
        indexes = [item.index for item in objects if item.charset == charset]
        as_charset = F.decode(value.cast("binary"), charset)
        decoded = F.when(F.col("__object_index").isin(indexes), as_charset).otherwise(decoded)
    # a byte order mark is not data; only a file's first line can start with one
    return F.when(first_of_file, F.regexp_replace(decoded, "^\ufeff", "")).otherwise(decoded)


OFFSETS_SCHEMA = (
    "source_file string, partition_id long, first_row_id long, lines_before long,"
    " __object_index int, source_object_key string, source_object_version string"
)


@dataclass(frozen=True)
class LineStats:
    offsets: list[tuple[Any, ...]]
    quote_marks: int  # lines that may open or close a quoted CSV field spanning lines


def undecodable(value: Column, charsets: Iterable[str]) -> dict[str, Column]:
    """Per charset that can be invalid: true for a line whose bytes are not valid text in it. Spark's
    text source keeps a line's bytes as they are; decoding them as UTF-8 replaces invalid sequences."""
    checks = {}
    if "UTF-8" in charsets:
        checks["UTF-8"] = F.encode(value, "UTF-8") != value.cast("binary")
    if "US-ASCII" in charsets:
        checks["US-ASCII"] = value.rlike("[^\\x00-\\x7F]")
    return checks


def line_offsets(lines: DataFrame, objects: Sequence[SourceObject], quotes: CsvQuotes | None) -> LineStats:
    """Per (file, Spark partition): first row id, lines of the file in earlier partitions, its object.

    A file's splits are read in order, each by one partition, so line number = position in the
    partition + lines of the same file in earlier partitions (zipWithIndex, without leaving SQL).
    The file names Spark reports are matched to the manifest here, once per file, not once per row.
    The same scan counts the CSV lines that may open or close a quoted field spanning lines.
    """
    marks = quotes.may_change_state(F.col("value")) if quotes else F.lit(False)
    checks = undecodable(F.col("value"), {item.charset for item in objects})
    stats = (
        lines.groupBy("source_file", F.shiftright("row_id", 33).alias("partition_id"))
        .agg(
            F.min("row_id").alias("first_row_id"),
            F.count(F.lit(1)).alias("lines"),
            F.sum(marks.cast("long")).alias("marks"),
            *[F.min(F.when(bad, F.col("row_id"))).alias(f"bad_{name}") for name, bad in checks.items()],
        )
        .collect()
    )
    by_identity = {item.identity: item for item in objects}
    offsets: list[tuple[Any, ...]] = []
    lines_before: dict[str, int] = {}
    first_bad_line: dict[int, int] = {}
    for row in sorted(stats, key=lambda row: (row["source_file"], row["partition_id"])):
        name = row["source_file"]
        item = by_identity.get(path_identity(name, percent_encoded=True))
        if item is None:
            raise ManifestError("Spark read a file that the manifest does not list")
        before = lines_before.get(name, 0)
        offsets.append(
            (name, row["partition_id"], row["first_row_id"], before, item.index, item.key, item.version_id)
        )
        lines_before[name] = before + row["lines"]
        bad_row = row[f"bad_{item.charset}"] if item.charset in checks else None
        if bad_row is not None and item.index not in first_bad_line:
            first_bad_line[item.index] = bad_row - row["first_row_id"] + before + 1
    if first_bad_line:
        raise ObjectsFailed(
            [
                item.failure("encoding", f"line {first_bad_line[item.index]} is not valid {item.charset}")
                for item in objects
                if item.index in first_bad_line
            ]
        )
    return LineStats(offsets, sum(row["marks"] or 0 for row in stats))


def numbered_lines(
    spark: SparkSession, lines: DataFrame, offsets: list[tuple[Any, ...]], objects: Sequence[SourceObject]
) -> DataFrame:
    """`lines` with each line's object and number, from `line_offsets`. When every split holds one
    file's lines (a run of large files) and there are few splits, the split's id alone gives both, by
    literal lookups; otherwise the offsets are joined on (file, split)."""
    partition_id = F.shiftright("row_id", 33)
    splits = {offset[1] for offset in offsets}
    if len(splits) == len(offsets) <= MAX_LITERAL_LOOKUP:
        # line number = row_id - first_row_id + lines_before + 1
        starts = {offset[1]: offset[2] - offset[3] - 1 for offset in offsets}
        object_of = {offset[1]: offset[4] for offset in offsets}
        object_index = literal_lookup(partition_id, object_of, "int").alias("__object_index")
        with_object = lines.select("*", object_index)
        keys, versions = object_lineage(F.col("__object_index"), objects)
        return with_object.select(
            "*",
            keys,
            versions,
            (F.col("row_id") - literal_lookup(partition_id, starts, "long")).alias("__line_number"),
        )
    frame = spark.createDataFrame(offsets, OFFSETS_SCHEMA)
    return (
        lines.withColumn("partition_id", partition_id)
        .join(F.broadcast(frame), ["source_file", "partition_id"])
        .withColumn("__line_number", F.col("row_id") - F.col("first_row_id") + F.col("lines_before") + 1)
    )


def object_lineage(object_index: Column, objects: Sequence[SourceObject]) -> tuple[Column, Column]:
    """An object's key and version by literal lookups (for at most MAX_LITERAL_LOOKUP objects)."""
    keys = literal_lookup(object_index, {item.index: item.key for item in objects}, "string")
    versions = literal_lookup(object_index, {item.index: item.version_id for item in objects}, "string")
    return keys.alias("source_object_key"), versions.alias("source_object_version")


def read_text_lines(spark: SparkSession, objects: Sequence[SourceObject], plan: Plan) -> DataFrame:
    """One row per non-blank record of every object (CSV, JSON Lines), with the line it starts on."""
    lines = spark.read.text([escape_glob(item.spark_path) for item in objects]).select(
        F.input_file_name().alias("source_file"),
        F.monotonically_increasing_id().alias("row_id"),
        "value",
    )
    quotes = CsvQuotes.of(plan.csv) if plan.format == "csv" else None
    stats = line_offsets(lines, objects, quotes)
    numbered = (
        numbered_lines(spark, lines, stats.offsets, objects)
        .withColumn("__raw", decoded_text(F.col("value"), objects, F.col("__line_number") == 1))
        .withColumn("__record_number", F.lit(None).cast("long"))
        .select(*RECORD_COLUMNS, "__raw")
    )
    if quotes and stats.quote_marks:
        numbered = joined_csv_records(spark, numbered, quotes)
    data_lines = numbered.where(F.trim("__raw") != "")
    if plan.format == "csv" and plan.csv.header:
        data_lines = data_lines.where(F.col("__line_number") > 1)
    return data_lines.select(*RECORD_COLUMNS, "__raw", F.lit(False).alias("__malformed_file"))


# A quoted CSV field may span lines; a record longer than this is not joined (its lines are refused).
MAX_LINES_PER_RECORD = 10_000


def java_char(character: str) -> str:
    """One character as a Java regex escape, valid inside and outside a character class."""
    return f"\\x{{{ord(character):x}}}"


@dataclass(frozen=True)
class CsvQuotes:
    """Which lines leave a quoted field open (from outside one) or close it (from inside one).

    Java regular expressions over one line, possessive so that they never backtrack: a field is
    quoted (quote, content with escaped quotes, quote) or unquoted (no delimiter, not starting with
    the quote); `opens` = complete fields, then a quote whose field does not close on the line;
    `closes` = the rest of an open field, its closing quote, then complete fields to the end.
    """

    opens: str
    closes: str
    quote: str

    @classmethod
    def of(cls, csv: CsvSpec) -> CsvQuotes:
        q, d, e = java_char(csv.quote), java_char(csv.delimiter), java_char(csv.escape)
        content = f"(?:[^{q}]++|{q}{q})*+" if csv.quote == csv.escape else f"(?:[^{q}{e}]++|{e}.)*+"
        field = f"(?:{q}{content}{q}|(?:[^{d}{q}][^{d}]*+)?)"
        return cls(
            opens=f"^(?:{field}{d})*+{q}{content}$",
            closes=f"^{content}{q}(?:{d}{field})*+$",
            quote=csv.quote,
        )

    def may_change_state(self, line: Column) -> Column:
        return F.contains(line, F.lit(self.quote)) & (line.rlike(self.opens) | line.rlike(self.closes))


def record_spans(marks: Iterable[Any]) -> list[tuple[int, int, int]]:
    """(object, first line, last line) of each record whose quoted field spans lines.

    `marks` are the lines that may change the quote state, ordered by object and line. A field
    still open at the end of its object is not joined: its first line is refused as malformed.
    """
    spans: list[tuple[int, int, int]] = []
    current, start = None, None
    for index, line, opens, closes in marks:
        if index != current:
            current, start = index, None
        if start is None:
            start = line if opens else None
        elif closes:
            if line - start < MAX_LINES_PER_RECORD:
                spans.append((index, start, line))
            start = None
    return spans


def joined_csv_records(spark: SparkSession, numbered: DataFrame, quotes: CsvQuotes) -> DataFrame:
    """The lines of a record whose quoted field spans lines become one record (lines joined by \\n),
    numbered by the line it starts on; every other line stays a record of its own."""
    raw = F.col("__raw")
    marks = (
        numbered.where(quotes.may_change_state(raw))
        .select("__object_index", "__line_number", raw.rlike(quotes.opens), raw.rlike(quotes.closes))
        .orderBy("__object_index", "__line_number")
    )
    spans = record_spans(tuple(row) for row in marks.toLocalIterator())
    if not spans:
        return numbered
    span_lines = spark.createDataFrame(spans, "__object_index int, __record_start long, __last long").select(
        "__object_index",
        "__record_start",
        F.explode(F.sequence("__record_start", "__last")).alias("__line_number"),
    )
    joined = numbered.join(F.broadcast(span_lines), ["__object_index", "__line_number"], "left")
    single = joined.where(F.col("__record_start").isNull()).select(*RECORD_COLUMNS, "__raw")
    lines = F.sort_array(F.collect_list(F.struct("__line_number", "__raw")))
    merged = (
        joined.where(F.col("__record_start").isNotNull())
        .groupBy("__object_index", "source_object_key", "source_object_version", "__record_start")
        .agg(F.concat_ws("\n", F.transform(lines, lambda line: line["__raw"])).alias("__raw"))
        .select(
            "__object_index",
            "source_object_key",
            "source_object_version",
            F.col("__record_start").alias("__line_number"),
            F.lit(None).cast("long").alias("__record_number"),
            "__raw",
        )
    )
    return single.unionByName(merged)


def check_whole_text(files: DataFrame, objects: Sequence[SourceObject]) -> None:
    """JSON array files are read whole: one scan tells which ones are not valid text in their charset."""
    checks = undecodable(F.col("value"), {item.charset for item in objects})
    if not checks:
        return
    flags = [bad.alias(f"bad_{position}") for position, bad in enumerate(checks.values())]
    names = {charset: f"bad_{position}" for position, charset in enumerate(checks)}
    selected = files.select("__object_index", *flags)
    rows = selected.where(" OR ".join(names.values())).collect()
    bad = {row["__object_index"]: row for row in rows}
    failures = [
        item.failure("encoding", f"the object is not valid {item.charset}")
        for item in objects
        if item.index in bad and item.charset in checks and bad[item.index][names[item.charset]]
    ]
    if failures:
        raise ObjectsFailed(failures)


def read_json_array_records(spark: SparkSession, objects: Sequence[SourceObject]) -> DataFrame:
    """One row per element of each file's top-level JSON array; a file that is no array is one row."""
    whole = (
        spark.read.text([escape_glob(item.spark_path) for item in objects], wholetext=True)
        .select(spark_path_identity(F.input_file_name()).alias("source_identity"), "value")
        .join(F.broadcast(objects_frame(spark, objects)), "source_identity")
    )
    check_whole_text(whole, objects)
    files = whole.withColumn("text", decoded_text(F.col("value"), objects, F.lit(True))).withColumn(
        "elements", F.from_json("text", T.ArrayType(T.StringType()), json_options(JSON_DEPTH_PROBE))
    )
    elements = files.select("*", F.posexplode_outer("elements").alias("position", "element"))
    malformed_file = F.col("elements").isNull()
    return elements.where(malformed_file | F.col("element").isNotNull()).select(
        "__object_index",
        "source_object_key",
        "source_object_version",
        F.lit(None).cast("long").alias("__line_number"),
        F.when(~malformed_file, F.col("position") + 1).cast("long").alias("__record_number"),
        F.when(malformed_file, F.substring("text", 1, MAX_RAW_CHARS_OF_FILE_REJECT))
        .otherwise(F.col("element"))
        .alias("__raw"),
        malformed_file.alias("__malformed_file"),
    )


def read_records(spark: SparkSession, objects: Sequence[SourceObject], plan: Plan) -> DataFrame:
    if plan.format == "json":
        return read_json_array_records(spark, objects)
    return read_text_lines(spark, objects, plan)


# ------------------------------------------------------------------------------------------ parsing

# Spark's name for the text of a record it could not parse; "__" names are the executors' own.
CORRUPT_RECORD = "__corrupt_record"


def string_schema(plan: Plan) -> T.StructType:
    fields = [T.StructField(column.name, T.StringType()) for column in plan.columns]
    return T.StructType([*fields, T.StructField(CORRUPT_RECORD, T.StringType())])


# Deeper records are refused with the plan's reason (max_json_depth: Jackson's limit in Spark 3.5, which
# json_object_keys, used for duplicate keys, cannot raise); this second limit only tells them apart from
# invalid JSON, and lets a JSON array file split into its elements whatever their depth.
JSON_DEPTH_PROBE = 100_000


def json_options(max_depth: int) -> dict[str, str]:
    return {
        "mode": "PERMISSIVE",
        "columnNameOfCorruptRecord": CORRUPT_RECORD,
        "maxNestingDepth": str(max_depth),
    }


# Characters Java's String.split reads as regex syntax when alone (escaped, it splits without a regex).
JAVA_SPLIT_SPECIAL = ".$|()[{^?*+\\"
PARTS = "__parts"
# Spark's CSV parser refuses records of more fields than this (maxColumns); the split is not used then.
CSV_MAX_COLUMNS = 20480


def splits_plain_records(plan: Plan) -> bool:
    """Whether plain CSV records are split at their delimiter (`plain_csv_fields`) rather than parsed."""
    return plan.format == "csv" and len(plan.csv.delimiter) == 1 and len(plan.columns) < CSV_MAX_COLUMNS


def csv_parts(raw: Column, csv: CsvSpec) -> Column:
    """A CSV record split at every delimiter, for `plain_csv_fields`. A column of its own: Spark does
    not share an expression between a CASE condition and its branches, so each use would split
    the record again."""
    delimiter = "\\" + csv.delimiter if csv.delimiter in JAVA_SPLIT_SPECIAL else csv.delimiter
    return F.split(raw, delimiter, -1)


def plain_csv_fields(raw: Column, plan: Plan) -> tuple[Column, Column]:
    """(applies, fields): a record without quote, escape or line break characters and with as many
    fields as the plan has columns is its parts (`csv_parts`), an empty one null. That is what the
    CSV parser makes of such a record (no field can be quoted, nothing is trimmed), without the
    exception by which the parser learns of the end of the text (see parsed_fields)."""
    csv, parts = plan.csv, F.col(PARTS)
    special = [csv.quote, csv.escape, "\n", "\r"]
    plain = ~reduce(operator.or_, [F.contains(raw, F.lit(character)) for character in special])
    applies = plain & (F.size(parts) == len(plan.columns))
    fields = F.struct(
        *[F.when(parts[i] != "", parts[i]).alias(column.name) for i, column in enumerate(plan.columns)],
        F.lit(None).cast("string").alias(CORRUPT_RECORD),
    )
    return applies, fields


def parsed_fields(raw: Column, plan: Plan) -> Column:
    """Every column as text (never inferred); JSON values that are not strings keep their JSON.

    A CSV record goes to Spark's CSV parser only when it has a quote, escape or line break character
    or a field count other than the plan's (`plain_csv_fields`, when `splits_plain_records`; the
    frame then has the `csv_parts` column): the parser reads a record's last field to the end of its
    text and learns of the end from an exception, which fills in its stack trace, once per record.
    In a profile of the benchmark that was a quarter of the job's CPU."""
    if plan.format == "csv":
        csv = plan.csv
        options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_RECORD}
        csv_options = {"sep": csv.delimiter, "quote": csv.quote, "escape": csv.escape}
        parsed = F.from_csv(raw, string_schema(plan).simpleString(), {**options, **csv_options})
        if not splits_plain_records(plan):
            return parsed
        applies, fields = plain_csv_fields(raw, plan)
        return F.when(applies, fields).otherwise(parsed)
    return F.from_json(raw, string_schema(plan), json_options(plan.max_json_depth))


def duplicate_keys(raw: Column) -> Column:
    """The top-level keys of a JSON object that occur more than once (Spark would keep the last)."""
    keys = F.json_object_keys(raw)
    return F.array_distinct(
        F.filter(keys, lambda key: F.size(F.filter(keys, lambda other: other == key)) > 1)
    )


def malformed_reason(plan: Plan) -> Column:
    """The plan's message for a malformed record (evaluated for malformed records only)."""
    raw, messages = F.col("__raw"), plan.malformed
    if plan.format == "csv":
        unclosed = raw.rlike(CsvQuotes.of(plan.csv).opens)
        return F.when(unclosed, F.lit(messages["csv_unclosed_quote"])).otherwise(
            F.lit(messages["csv_field_count"])
        )
    deep_but_valid = F.from_json(raw, string_schema(plan), json_options(JSON_DEPTH_PROBE))[
        CORRUPT_RECORD
    ].isNull()
    duplicates = F.col("__duplicate_keys")
    return (
        F.when(F.col("__malformed_file"), F.lit(messages["json_file"]))
        .when(
            F.size(duplicates) > 0,
            F.concat(F.lit(messages["json_duplicate_key"]), F.array_join(duplicates, ", ")),
        )
        .when(deep_but_valid, F.lit(messages["json_too_deep"]))
        .otherwise(F.lit(messages["json_invalid"]))
    )


def parse_records(records: DataFrame, plan: Plan) -> DataFrame:
    source = records
    if splits_plain_records(plan):
        source = records.withColumn(PARTS, csv_parts(F.col("__raw"), plan.csv))
    parsed = source.withColumn("__fields", parsed_fields(F.col("__raw"), plan)).drop(PARTS)
    malformed = F.col("__malformed_file") | F.col(f"__fields.{CORRUPT_RECORD}").isNotNull()
    if plan.format != "csv":
        parsed = parsed.withColumn("__duplicate_keys", duplicate_keys(F.col("__raw")))
        malformed = malformed | (F.coalesce(F.size("__duplicate_keys"), F.lit(0)) > 0)
    parsed = parsed.withColumn("__malformed", malformed)
    parsed = parsed.withColumn("__malformed_reason", F.when(F.col("__malformed"), malformed_reason(plan)))
    # A malformed record's fields are guesses: keep none, so that it fails one check only.
    texts = {c.name: F.when(~F.col("__malformed"), F.col(f"__fields.`{c.name}`")) for c in plan.columns}
    kept = [name for name in records.columns if name != "__malformed_file"]
    return parsed.select(
        *kept,
        "__malformed",
        "__malformed_reason",
        *[text.alias(f"__text_{name}") for name, text in texts.items()],
        *derived_texts(plan.columns, texts),  # in the same step: one copy of the row less
    )


def derived_texts(columns: Sequence[PlanColumn], texts: dict[str, Column]) -> list[Column]:
    """What the typing reads several times, computed once per row from each column's text (`texts`):
    the value text of a trimmed column (`value_text`), the casts of `text_cast`, and the regex groups
    of date/timestamp texts (`datetime_groups`)."""
    values = [value_text(c, texts[c.name]).alias(value_of(c.name)) for c in columns if c.trim]
    casts = [
        cast.alias(cast_of(c.name))
        for c in columns
        if (cast := text_cast(c, value_text(c, texts[c.name]))) is not None
    ]
    groups = [
        datetime_groups(c, texts[c.name]).alias(groups_of(c.name))
        for c in columns
        if c.parse["kind"] in DATETIME_KINDS
    ]
    return [*values, *casts, *groups]


# -------------------------------------------------------------------------------------------- types


def text_of(name: str) -> Column:
    """A column's text as the record gives it (null when absent)."""
    return F.col(f"__text_{name}")


def value_text(column: PlanColumn, text: Column | None = None) -> Column:
    """The text a value is parsed from: trimmed of U+0020 spaces when the plan says so, null when
    empty. Without `text`, the `__value_` column that `parse_records` computes once per row (the
    typing and its checks read it many times); with `text`, that column's expression."""
    if text is None:
        return F.col(value_of(column.name)) if column.trim else text_of(column.name)
    if not column.trim:
        return text
    trimmed = F.trim(text)  # Spark's trim removes U+0020 only, as the plan's trim does
    return F.when(trimmed != "", trimmed)  # not F.length: it counts the characters of every text


def value_of(name: str) -> str:
    return f"__value_{name}"


def cast_of(name: str) -> str:
    return f"__cast_{name}"


def text_cast(column: PlanColumn, text: Column) -> Column | None:
    """Spark's cast of a value text that the typing reads more than once, or None: an integer's (its
    range is checked on it), and a date or timestamp text's of one of the plan's `iso_lengths` (null
    for any other text; a date or time that does not exist is null, in the UTC session)."""
    kind = column.parse["kind"]
    if kind == "integer":
        return text.cast(column.type)  # null beyond the type's range
    if kind in DATETIME_KINDS and (iso := iso_text(text, column.parse)) is not None:
        return F.when(iso, text.cast("timestamp"))
    return None


# Java's `$` also matches before a final line terminator (Python's re.fullmatch does not).
LINE_TERMINATORS = ("\n", "\r", "\u0085", "\u2028", "\u2029")


def full_match(text: Column, regex: str) -> Column:
    """The whole text matches the plan's (anchored) regex; group 0 decides only for a text ending
    with a line terminator, where `$` alone could have matched before it."""
    ends_clean = ~reduce(operator.or_, [text.endswith(end) for end in LINE_TERMINATORS])
    return text.rlike(regex) & (ends_clean | (F.regexp_extract(text, regex, 0) == text))


@dataclass(frozen=True)
class Typed:
    value: Column  # null when the text has no value of the column's type
    outside: Column | None = None  # date/timestamp: a valid value outside the plan's range


MICROS_PER_DAY = 86_400_000_000
EPOCH = datetime(1970, 1, 1)


def epoch_days(text: str) -> int:
    return (date.fromisoformat(text) - EPOCH.date()).days


def epoch_micros(text: str) -> int:
    return (datetime.fromisoformat(text) - EPOCH) // timedelta(microseconds=1)


DATETIME_KINDS = ("date", "timestamp")


def groups_of(name: str) -> str:
    return f"__groups_{name}"


def iso_text(text: Column, parse: dict[str, Any]) -> Column | None:
    """True for a text of one of the plan's `iso_lengths` (None when the plan gives none)."""
    lengths = [int(length) for length in parse.get("iso_lengths") or ()]
    # bytes, not characters (F.length counts them one by one): a text in ISO-8601 layout is ASCII, and
    # a text of as many bytes but fewer characters does not match the plan's regex either way
    return F.octet_length(text).isin(*lengths) if lengths else None


GROUP_SEPARATOR = "\u0001"


def datetime_groups(column: PlanColumn, text: Column | None = None) -> Column:
    """The regex groups of a date/timestamp text, laid out by one regexp_replace and split, for the
    texts not read in ISO-8601 layout (null for those). A column of its own, computed once per row:
    every field of `datetime_from_groups` reads it."""
    text, parse = value_text(column, text), column.parse
    groups: dict[str, int] = parse["groups"]
    names = sorted(groups, key=groups.__getitem__)
    laid_out = F.split(
        F.regexp_replace(text, parse["regex"], GROUP_SEPARATOR.join(f"${groups[n]}" for n in names)),
        GROUP_SEPARATOR,
    )
    iso = iso_text(text, parse)
    return laid_out if iso is None else F.when(~iso, laid_out)


def datetime_value(column: PlanColumn) -> Typed:
    """A date or timestamp as the plan says: a text of one of the plan's `iso_lengths` that matches
    its regex is in ISO-8601 layout and read by Spark's own cast (no pattern; several times cheaper
    than the groups); any other text is built from the regex groups."""
    text, parse = value_text(column), column.parse
    built = datetime_from_groups(text, parse, F.col(groups_of(column.name)))
    assert built.outside is not None
    iso = iso_text(text, parse)
    if iso is None:
        return built
    instant = F.col(cast_of(column.name))  # text_cast
    value = instant.cast("date") if parse["kind"] == "date" else instant
    low, high = (F.lit(parse[end]).cast(parse["kind"]) for end in ("min", "max"))
    valid = iso & full_match(text, parse["regex"]) & value.isNotNull()
    inside = value.between(low, high)
    # A row has a value from one side at most (the other is null): `greatest` evaluates both sides
    # unconditionally, so Spark computes their shared subexpressions once (it does not inside a CASE
    # branch, and the groups' arithmetic then grows into thousands of lines of generated code).
    return Typed(
        F.greatest(F.when(valid & inside, value), built.value),
        (valid & ~inside) | built.outside,
    )


def datetime_from_groups(text: Column, parse: dict[str, Any], laid_out: Column) -> Typed:
    """A date or timestamp built from the regex groups the plan names (no datetime pattern is parsed
    here), laid out by `datetime_groups`; integer arithmetic in UTC."""
    if int(parse["fraction_digits"]) != 6:
        raise PlanError(f"fraction_digits {parse['fraction_digits']} is not supported (microseconds only)")
    groups: dict[str, int] = parse["groups"]
    names = sorted(groups, key=groups.__getitem__)
    defaults: dict[str, int] = parse["defaults"]

    def field(name: str) -> Column:
        return laid_out.getItem(names.index(name)) if name in groups else F.lit("")

    # A field's number, its default when the group took no text, null without groups (a text read in
    # ISO-8601 layout): every step below is then null at once.
    def number(name: str, default: int = 0) -> Column:
        raw = field(name)
        return F.when(raw != "", raw.cast("long")).when(
            raw == "", F.lit(defaults.get(name, default)).cast("long")
        )

    year_text = field("year")
    year = F.when(year_text != "", year_text.cast("long") + int(parse["year_base"])).when(
        year_text == "", F.lit(defaults["year"]).cast("long")
    )
    month, day, hour, minute, second = (number(n) for n in ("month", "day", "hour", "minute", "second"))
    fraction = field("fraction")
    micros = F.when(fraction != "", F.rpad(F.substring(fraction, 1, 6), 6, "0").cast("long")).otherwise(0)
    offset_hour, offset_minute = number("offset_hour"), number("offset_minute")
    values = {
        "month": month,
        "day": day,
        "hour": hour,
        "minute": minute,
        "second": second,
        "offset_hour": offset_hour,
        "offset_minute": offset_minute,
    }
    in_ranges = F.lit(True)
    for name, (low, high) in parse["field_ranges"].items():
        in_ranges = in_ranges & values[name].between(int(low), int(high))
    # The day must exist in that month of that year: the Gregorian calendar repeats every 400 years, so
    # any year (even one Spark cannot hold) is checked in its twin between 2000 and 2399.
    twin = F.make_date((F.pmod(year, F.lit(400)) + 2000).cast("int"), month.cast("int"), day.cast("int"))
    valid = laid_out.isNotNull() & full_match(text, parse["regex"]) & in_ranges & twin.isNotNull()
    # Only years 0 to 10000 can reach the range (0001-01-01 .. 9999-12-31) once the offset is applied.
    in_span = year.between(0, 10000)
    local_date = F.make_date(F.when(in_span, year).cast("int"), month.cast("int"), day.cast("int"))
    sign = F.when(field("offset_sign") == "-", F.lit(-1)).otherwise(F.lit(1))
    minutes = (
        hour * 60 + minute - sign * (offset_hour * 60 + offset_minute)
    )  # UTC minutes from local midnight
    day_shift = F.floor(minutes / 1440)  # small numbers: exact in a double
    days = F.unix_date(local_date).cast("long") + day_shift
    if parse["kind"] == "date":
        inside = days.between(epoch_days(parse["min"]), epoch_days(parse["max"]))
        value = F.date_from_unix_date(days.cast("int"))
    else:
        instant = days * MICROS_PER_DAY + ((minutes - day_shift * 1440) * 60 + second) * 1_000_000 + micros
        inside = instant.between(epoch_micros(parse["min"]), epoch_micros(parse["max"]))
        value = F.timestamp_micros(instant)
    inside = in_span & F.coalesce(inside, F.lit(False))
    return Typed(F.when(valid & inside, value), valid & ~inside)


def typed_value(column: PlanColumn) -> Typed:
    """The value the plan's parse spec gives the text; null when there is none (ANSI off: no exception)."""
    text, parse = value_text(column), column.parse
    kind = parse["kind"]
    if kind == "string":
        return Typed(text)
    if kind == "integer":
        number = F.col(cast_of(column.name))  # text_cast
        return Typed(
            F.when(full_match(text, parse["regex"]) & number.between(parse["min"], parse["max"]), number)
        )
    if kind == "double":
        return Typed(F.when(full_match(text, parse["regex"]), text.cast("double")))
    if kind == "decimal":
        decimal_type = f"decimal({int(parse['precision'])},{int(parse['scale'])})"
        return Typed(F.when(full_match(text, parse["regex"]), text.cast(decimal_type)))
    if kind == "boolean":
        # The plan's words in any ASCII case, as its regexes say, without a regex: no character outside
        # ASCII lowers to one of the words' letters (only U+0130 and U+212A lower to ASCII: i, k).
        lowered = F.lower(text)
        return Typed(
            F.when(lowered.isin(*[word.lower() for word in parse["true_words"]]), F.lit(True)).when(
                lowered.isin(*[word.lower() for word in parse["false_words"]]), F.lit(False)
            )
        )
    if kind in DATETIME_KINDS:
        return datetime_value(column)
    raise PlanError(f"column {column.name}: parse kind {kind!r} is not supported by this job")


def outside_flag(name: str) -> str:
    return f"__outside_{name}"


# ------------------------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class Check:
    """One reason a row can be refused: `failed` is true for the rows it refuses."""

    column: str | None
    rule: str
    failed: Column
    message: Column

    def reason(self) -> Column:
        return F.when(
            self.failed,
            F.struct(
                F.lit(self.column).cast("string").alias("column"),
                F.lit(self.rule).alias("rule"),
                self.message.alias("message"),
            ),
        )


def check_message(check: PlanCheck) -> Column:
    """The plan's message; after the quoted text (first 200 characters) when the plan says so."""
    message = F.lit(check.message)
    if check.outside_message is not None and check.column is not None:
        message = F.when(F.col(outside_flag(check.column)), F.lit(check.outside_message)).otherwise(message)
    if not check.quote_value or check.column is None:
        return message
    return F.concat(F.lit("'"), F.substring(text_of(check.column), 1, 200), F.lit("' "), message)


def literal_of(value: Any, column: PlanColumn) -> Column:
    """An allowed value (already in the column's type in the plan) as a Spark literal of that type."""
    return F.lit(value).cast(column.type)


def plan_check(check: PlanCheck, plan: Plan) -> Check:
    name = str(check.column)
    text, typed = text_of(name), F.col(name)
    present = typed.isNotNull()
    rule = check.rule
    if rule == "type":
        failed = text.isNotNull() & typed.isNull()
    elif rule in ("required", "not_null", "partition"):
        failed = text.isNull()
    elif rule == "unique":
        failed = F.col(unique_flag(name))
    elif rule in ("min", "max"):
        column = plan.column(name)
        bound = (
            F.lit(float(str(check.bound))) if column.type == "double" else F.lit(Decimal(str(check.bound)))
        )
        failed = present & (typed < bound if rule == "min" else typed > bound)
    elif rule == "allowed_values":
        column = plan.column(name)
        failed = present & ~typed.isin([literal_of(value, column) for value in check.values])
    elif rule == "regex":
        failed = present & ~text.rlike(str(check.pattern))
    else:
        raise PlanError(f"check {rule!r} is not supported by this job")
    return Check(check.column, rule, failed, check_message(check))


def unique_flag(column: str) -> str:
    return f"__duplicate_{column}"


def unique_columns(plan: Plan) -> list[str]:
    return [str(check.column) for check in plan.checks if check.rule == "unique"]


def value_hash(column: str) -> Column:
    """A 64-bit hash of a unique column's value: equal values have equal hashes (`known_duplicates`)."""
    return F.xxhash64(column)


def repeated(frame: DataFrame, column: str, key: Column) -> DataFrame:
    """The keys that more than one row with a value in `column` has (usually few)."""
    return (
        frame.where(F.col(column).isNotNull())
        .groupBy(key)
        .agg(F.count(F.lit(1)).alias("__count"))
        .where(F.col("__count") > 1)
        .drop("__count")
    )


def repeated_hashes(checked: DataFrame, column: str) -> DataFrame:
    """The hashes that more than one row's value of a unique column has: every repeated value's, and
    rarely a collision of distinct values. Grouping by a long, not by the text, makes the first pass
    over every row cheaper (a fixed-width key, no text copied into the aggregation)."""
    return repeated(checked, column, value_hash(column).alias("__hash"))


def duplicate_values(checked: DataFrame, column: str) -> DataFrame:
    """Values of a unique column that occur more than once among `checked` (compared as values)."""
    return repeated(checked, column, F.col(column)).withColumn(unique_flag(column), F.lit(True))


def row_checks(plan: Plan) -> list[Check]:
    """Every check that needs only the row itself (all but unique), in the plan's order."""
    return [plan_check(check, plan) for check in plan.checks if check.rule != "unique"]


def reasons_column(checks: Sequence[Check]) -> Column:
    """Every reason of a refused row, in the order of the checks; a malformed record has one."""
    malformed = Check(None, "format", F.col("__malformed"), F.col("__malformed_reason")).reason()
    per_column = F.array_compact(F.array(*[check.reason() for check in checks]))
    return F.when(F.col("__malformed"), F.array(malformed)).otherwise(per_column)


def any_failed(checks: Sequence[Check]) -> Column:
    """True for a malformed record or a row that fails a check (a null outcome fails nothing, as in
    `reasons_column`). Cheap for the rows that pass: their reasons are never built."""
    failed = F.col("__malformed")
    for check in checks:
        failed = failed | F.coalesce(check.failed, F.lit(False))
    return failed


def unique_checks(plan: Plan) -> list[Check]:
    return [plan_check(check, plan) for check in plan.checks if check.rule == "unique"]


# ------------------------------------------------------------------------------------- fast rows
# Most records of most runs are plain: no quote or escape character, the plan's field count, every
# value of a simple shape. Those are typed and checked by pyarrow in the tasks (`mapInArrow`:
# vectorised C++, a batch at a time) and are *decided* there, with their reasons when they fail a
# check. Every other record (a quote, another field count, a value of another shape, a regex check on
# a text that is not printable ASCII) is typed and checked by the Spark expressions above. Each test
# below accepts only texts that the plan accepts and that pyarrow reads exactly as Spark's cast does,
# and each check decides a decided value the same way both ways, so a record gets the same values and
# reasons either way: tests/glue/test_glue_fast_rows.py runs the job both ways, and the differential
# tests put every run of theirs through this path against the small-run executor.

FAST_ROWS_ENABLED = True  # tests turn it off to compare
# A run whose share of undecided records is larger is checked by the Spark expressions alone: the
# pass by pyarrow bought little, and a large undecided part would unbalance the write's tasks.
MAX_UNDECIDED_SHARE = 0.25
# pyarrow's own fields, and the typed values under a prefix of their own: a contract column may be
# named like one of the fields (`reasons`, `raw_bytes`), never with a leading underscore
FAST_FIELD = "__pyarrow_"
FAST_PREFIX = "__typed_"
DECIDED = "__decided"
FAST = "__by_pyarrow"  # on the checked rows of a run `fast_checked` took: which branch a row is from
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
ARROW_INTEGER_TYPES = {
    "tinyint": "int8",
    "smallint": "int16",
    "int": "int32",
    "integer": "int32",
    "bigint": "int64",
}
INTEGER_SHAPE = r"^-?[0-9]{1,18}$"
# At most 15 significant digits (counted apart): a double read from it is one correctly rounded
# division or product of exact numbers, in Java's parser as in pyarrow's.
DOUBLE_SHAPE = r"^-?[0-9]{1,15}(\.[0-9]{1,15})?$"
PRINTABLE_ASCII = r"^[\x20-\x7e]*$"
# (kind, the plan's format) -> (shape, strptime format, text length, the plan's range)
DATETIME_LAYOUTS = {
    ("date", "yyyy-MM-dd"): (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "%Y-%m-%d", 10, ("0001-01-01", "9999-12-31")),
    ("timestamp", "yyyy-MM-dd HH:mm:ss"): (
        r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$",
        "%Y-%m-%d %H:%M:%S",
        19,
        ("0001-01-01T00:00:00", "9999-12-31T23:59:59.999999"),
    ),
}
# Regex syntax that RE2 (pyarrow) and Java do not read alike, or that one of them lacks: class
# intersections, Unicode and POSIX classes, quoting, anchors and boundaries other than ^ and $, back
# references, inline flags and look-arounds, possessive quantifiers, characters given by code.
UNSAFE_REGEX = re.compile(r"&&|\\[pPQEGZzAbBhHvVRXkKxuce0-9]|\(\?(?!:)|[*+?}]\+")


def regex_reads_alike(pattern: str) -> bool:
    """Whether RE2 and Java find `pattern` in the same printable ASCII texts (conservatively: a
    pattern of plain literals, classes without nesting, groups, alternatives and quantifiers)."""
    if UNSAFE_REGEX.search(pattern):
        return False
    in_class, escaped = False, False
    for character in pattern:
        if escaped:
            escaped = False
        elif character == "\\":
            escaped = True
        elif character == "[":
            if in_class:
                return False  # Java reads a class inside a class as a union
            in_class = True
        elif character == "]":
            in_class = False
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        pc.match_substring_regex(pa.array(["x"]), pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def fast_column(column: PlanColumn) -> dict[str, Any] | None:
    """How pyarrow decides the column's values (plain data, pickled to the Python workers), or None
    when it cannot decide any (then the run is checked by the Spark expressions alone)."""
    parse, kind = column.parse, column.parse["kind"]
    regex = parse.get("regex")
    if regex is not None and not regex_reads_alike(str(regex)):
        return None
    spec: dict[str, Any] = {"name": column.name, "kind": kind, "trim": column.trim, "regex": regex}
    if kind == "string" and column.type == "string":
        return {**spec, "arrow": "string"}
    if kind == "integer" and column.type in ARROW_INTEGER_TYPES:
        return {**spec, "arrow": ARROW_INTEGER_TYPES[column.type], "low": parse["min"], "high": parse["max"]}
    if kind == "decimal" and column.type.startswith("decimal("):
        precision, scale = int(parse["precision"]), int(parse["scale"])
        if not 0 <= scale < precision <= 38:
            return None
        fraction = rf"(\.[0-9]{{1,{scale}}})?" if scale else ""
        shape = rf"^-?[0-9]{{1,{precision - scale}}}{fraction}$"
        return {**spec, "arrow": f"decimal({precision},{scale})", "shape": shape}
    if kind == "double" and column.type == "double":
        return {**spec, "arrow": "float64"}
    if kind == "boolean" and column.type == "boolean":
        true_words = [str(word).lower() for word in parse["true_words"]]
        false_words = [str(word).lower() for word in parse["false_words"]]
        return {**spec, "arrow": "bool", "true_words": true_words, "false_words": false_words}
    layout = DATETIME_LAYOUTS.get((kind, str(parse.get("format"))))
    if layout is None or column.type != kind or (parse.get("min"), parse.get("max")) != layout[3]:
        return None
    if layout[2] not in {int(length) for length in parse.get("iso_lengths") or ()}:
        return None
    arrow = "date32" if kind == "date" else "timestamp"
    return {**spec, "arrow": arrow, "shape": layout[0], "format": layout[1]}


def fast_check(check: PlanCheck, plan: Plan) -> dict[str, Any] | None:
    """A row check as pyarrow tests it (that the row passes), or None when it cannot."""
    rule, name = check.rule, str(check.column)
    if rule == "unique":
        return {"rule": "skip"}  # over the run, by Spark
    if rule in ("required", "not_null", "partition", "type"):
        return {"rule": rule, "column": name}
    column = plan.column(name)
    kind = column.parse["kind"]
    if rule in ("min", "max"):
        bound = Decimal(str(check.bound))
        if kind == "integer":
            # an integer is below a bound when it is below the bound's ceiling (above: its floor)
            whole = math.ceil(bound) if rule == "min" else math.floor(bound)
            if not INT64_MIN <= whole <= INT64_MAX:
                return None
            return {"rule": rule, "column": name, "bound": int(whole)}
        if kind == "double":
            return {"rule": rule, "column": name, "bound": float(str(check.bound))}
        if kind == "decimal":
            precision, scale = int(column.parse["precision"]), int(column.parse["scale"])
            exact = bound.quantize(Decimal(1).scaleb(-scale))
            if exact != bound or len(exact.as_tuple().digits) > precision:
                return None  # a bound the column's type cannot hold: left to Spark
            return {"rule": rule, "column": name, "bound": str(exact)}
        return None
    if rule == "allowed_values" and kind == "string":
        return {"rule": rule, "column": name, "values": [str(value) for value in check.values]}
    if rule == "allowed_values" and kind == "integer":
        # a value outside the column's range is never equal to one (Spark's cast makes it null)
        low, high = int(column.parse["min"]), int(column.parse["max"])
        values = [int(value) for value in check.values if isinstance(value, int) and low <= value <= high]
        return {"rule": rule, "column": name, "values": values}
    if rule == "regex" and regex_reads_alike(str(check.pattern)):
        return {"rule": rule, "column": name, "pattern": str(check.pattern)}
    return None


def fast_spec(plan: Plan, ingest_ts: datetime) -> dict[str, Any] | None:
    """What pyarrow needs to decide a run's records, or None when it decides none of them."""
    if (
        plan.format != "csv"
        or len(plan.csv.delimiter) != 1
        or plan.csv.delimiter in (plan.csv.quote, plan.csv.escape)
    ):
        return None
    columns = [fast_column(column) for column in plan.columns]
    checks = [
        None
        if spec is None
        else {**spec, "column": check.column, "message": check.message, "quote": check.quote_value}
        for check in plan.checks
        for spec in [fast_check(check, plan)]
    ]
    if any(spec is None for spec in columns) or any(spec is None for spec in checks):
        return None
    partition: dict[str, Any]
    if plan.partition_source is None:
        partition = {"literal": ingest_ts.astimezone(UTC).strftime("%Y-%m-%d")}
    else:
        source = plan.column(plan.partition_source)
        if source.parse["kind"] not in DATETIME_KINDS or plan.partition_value_format != "yyyy-MM-dd":
            return None
        partition = {"column": source.name}
    return {
        "delimiter": plan.csv.delimiter,
        "specials": sorted({plan.csv.quote, plan.csv.escape} - {""}),
        "columns": columns,
        "checks": [check for check in checks if check is not None and check["rule"] != "skip"],
        "partition": partition,
    }


def decide_batches(spec: dict[str, Any]) -> Any:
    """The function `mapInArrow` runs on the Python workers: each batch of records (object, line and
    record number, __raw, __malformed_file) comes back with the decided ones first (their typed values
    in the `__typed_` columns, their outcome in the `__pyarrow_` ones, the raw text of a failed one
    only), then the others as they came. A closure: cloudpickle sends it, and the module's constants
    it reads, by value, so the workers need not import this script."""

    def decide(batches: Any) -> Any:
        from decimal import Decimal

        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        def arrow_type(name: str) -> Any:
            if name.startswith("decimal("):
                precision, scale = (int(part) for part in name[len("decimal(") : -1].split(","))
                return pa.decimal128(precision, scale)
            if name == "timestamp":
                return pa.timestamp("us", tz="UTC")
            return {"string": pa.string(), "bool": pa.bool_(), "date32": pa.date32()}.get(name) or getattr(
                pa, name
            )()

        def matches(text: Any, pattern: str) -> Any:
            return pc.fill_null(pc.match_substring_regex(text, pattern), False)

        def empty_is_null(text: Any) -> Any:
            return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)

        columns, checks, width = spec["columns"], spec["checks"], len(spec["columns"])
        reason = pa.struct([("column", pa.string()), ("rule", pa.string()), ("message", pa.string())])
        REASONS = pa.list_(reason)

        def typed(column: dict[str, Any], text: Any) -> tuple[Any, Any]:
            """(value, decided): decided is true for a null text or a value read as Spark reads it."""
            kind, target = column["kind"], arrow_type(column["arrow"])
            # absent: the field has no text (one of spaces, trimmed to nothing, is a type failure)
            absent = pc.is_null(text)
            if column["trim"]:
                text = empty_is_null(pc.utf8_trim(text, " "))
            if kind == "string":
                return text, pa.array(np.ones(len(text), dtype=bool))
            if kind == "boolean":
                lowered = pc.utf8_lower(text)
                true = pc.is_in(lowered, pa.array(column["true_words"], pa.string()))
                false = pc.is_in(lowered, pa.array(column["false_words"], pa.string()))
                value = pc.if_else(true, True, pc.if_else(false, False, pa.scalar(None, pa.bool_())))
                known = pc.and_(matches(text, PRINTABLE_ASCII), pc.is_valid(value))
                return value, pc.or_(absent, known)
            shape = {"integer": INTEGER_SHAPE, "double": DOUBLE_SHAPE}.get(kind, column.get("shape"))
            good = matches(text, shape)
            if column["regex"] is not None:
                good = pc.and_(good, matches(text, column["regex"]))
            if kind == "double":
                digits = pc.subtract(
                    pc.utf8_length(text),
                    pc.add(pc.count_substring(text, "-"), pc.count_substring(text, ".")),
                )
                good = pc.and_(good, pc.fill_null(pc.less_equal(digits, 15), False))
            chosen = pc.if_else(good, text, pa.scalar(None, pa.string()))
            if kind == "integer":
                wide = pc.cast(chosen, pa.int64())
                inside = pc.fill_null(
                    pc.and_(pc.greater_equal(wide, column["low"]), pc.less_equal(wide, column["high"])), False
                )
                value = pc.cast(pc.if_else(inside, wide, pa.scalar(None, pa.int64())), target)
                return value, pc.or_(absent, inside)
            if kind in ("decimal", "double"):
                return pc.cast(chosen, target), pc.or_(absent, good)
            # date, timestamp: strptime refuses a month, hour or minute out of range but carries a
            # day or second past the end over into the next month or minute; a text whose day (and
            # second) reads back unchanged is a day and time that exist
            instant = pc.strptime(chosen, column["format"], "s", error_is_null=True)
            exists = pc.and_(
                pc.equal(pc.day(instant), pc.cast(pc.utf8_slice_codeunits(chosen, 8, 10), pa.int64())),
                pc.greater_equal(chosen, "0001-01-01"),
            )
            if kind == "timestamp":
                second = pc.cast(pc.utf8_slice_codeunits(chosen, 17, 19), pa.int64())
                exists = pc.and_(exists, pc.equal(pc.second(instant), second))
            exists = pc.fill_null(exists, False)
            instant = pc.if_else(exists, instant, pa.scalar(None, instant.type))
            value = (
                pc.cast(instant, pa.date32())
                if kind == "date"
                else pc.cast(instant, pa.timestamp("us")).cast(target)
            )
            return value, pc.or_(absent, exists)

        for batch in batches:
            raw, rows = batch.column("__raw"), batch.num_rows
            plain = pc.invert(pc.fill_null(batch.column("__malformed_file"), True))
            plain = pc.and_(plain, pc.is_valid(raw))
            for special in spec["specials"]:
                plain = pc.and_(plain, pc.invert(pc.fill_null(pc.match_substring(raw, special), True)))
            parts = pc.split_pattern(raw, spec["delimiter"])
            plain = pc.and_(plain, pc.fill_null(pc.equal(pc.list_value_length(parts), width), False))
            candidates = pa.array(np.flatnonzero(plain.to_numpy(zero_copy_only=False)), pa.int64())
            fields = pc.list_flatten(parts.take(candidates))
            stride = np.arange(len(candidates), dtype=np.int64) * width
            texts = {
                c["name"]: empty_is_null(fields.take(pa.array(stride + i))) for i, c in enumerate(columns)
            }
            values, decided = {}, pa.array(np.ones(len(candidates), dtype=bool))
            for column in columns:
                value, known = typed(column, texts[column["name"]])
                values[column["name"]] = value
                decided = pc.and_(decided, known)
            # The checks, each exact both ways on the rows whose values are decided: a row that fails
            # one is decided too, with its reasons in the plan's order and messages.
            failures, unknown = [], pa.array(np.zeros(len(candidates), dtype=bool))
            for check in checks:
                rule, name = check["rule"], check["column"]
                value, present = values[name], pc.is_valid(values[name])
                if rule == "type":
                    continue  # a decided text has its value
                if rule in ("required", "not_null", "partition"):
                    fails = pc.is_null(texts[name])
                elif rule in ("min", "max"):
                    if pa.types.is_integer(value.type):
                        value, bound = pc.cast(value, pa.int64()), pa.scalar(check["bound"], pa.int64())
                    elif pa.types.is_decimal(value.type):
                        bound = pa.scalar(Decimal(check["bound"]), value.type)
                    else:
                        bound = pa.scalar(check["bound"], pa.float64())
                    fails = pc.less(value, bound) if rule == "min" else pc.greater(value, bound)
                elif rule == "allowed_values":
                    fails = pc.and_(
                        present, pc.invert(pc.is_in(value, pa.array(check["values"], value.type)))
                    )
                else:  # regex, over the field's text as the record gives it; RE2 reads it as Java does
                    text = texts[name]  # only when it is printable ASCII
                    ascii_text = matches(text, PRINTABLE_ASCII)
                    unknown = pc.or_(unknown, pc.fill_null(pc.and_(present, pc.invert(ascii_text)), False))
                    fails = pc.and_(present, pc.invert(matches(text, check["pattern"])))
                failures.append((check, pc.fill_null(fails, False).to_numpy(zero_copy_only=False)))
            decided = pc.and_(decided, pc.invert(unknown))
            chosen = np.asarray(decided.to_numpy(zero_copy_only=False), dtype=bool)
            failed = np.zeros(len(candidates), dtype=bool)
            for _, fails in failures:
                failed |= fails
            mine = candidates.to_numpy()[chosen]
            others = np.setdiff1d(np.arange(rows, dtype=np.int64), mine, assume_unique=True)
            order = pa.array(np.concatenate([mine, others]), pa.int64())
            kept = pa.array(chosen)
            n_mine, n_others = len(mine), len(others)
            mine_failed = failed[chosen]
            reasons: list[Any] = [None] * n_mine
            for position, row in zip(
                np.flatnonzero(mine_failed), np.flatnonzero(chosen)[mine_failed], strict=True
            ):
                reasons[position] = []
                for check, fails in failures:
                    if fails[row]:
                        message = check["message"]
                        if check["quote"]:
                            text = texts[check["column"]][row].as_py()
                            message = None if text is None else "'" + text[:200] + "' " + message
                        reasons[position].append(
                            {"column": check["column"], "rule": check["rule"], "message": message}
                        )
            outputs = [batch.column(name).take(order) for name in batch.schema.names if name != "__raw"]
            mine_raw = raw.take(pa.array(mine, pa.int64()))
            flags = pa.array(mine_failed)
            raw_out = pa.concat_arrays(
                [
                    pc.if_else(flags, mine_raw, pa.scalar(None, pa.string())),
                    raw.take(pa.array(others, pa.int64())),
                ]
            )
            partition = spec["partition"]
            if "literal" in partition:
                day = pa.array([partition["literal"]] * n_mine, pa.string())
            else:
                day = pc.cast(pc.cast(values[partition["column"]].filter(kept), pa.date32()), pa.string())
            sizes = pc.if_else(
                flags, pa.scalar(None, pa.int32()), pc.cast(pc.binary_length(mine_raw), pa.int32())
            )
            extras = [
                pa.array([True] * n_mine + [False] * n_others),
                pa.concat_arrays([day, pa.nulls(n_others, pa.string())]),
                pa.concat_arrays([sizes, pa.nulls(n_others, pa.int32())]),
                pa.concat_arrays([flags, pa.nulls(n_others, pa.bool_())]),
                pa.array(reasons + [None] * n_others, REASONS),
            ]
            for column in columns:
                target = arrow_type(column["arrow"])
                value = values[column["name"]].filter(kept).cast(target)
                extras.append(pa.concat_arrays([value, pa.nulls(n_others, target)]))
            names = [name for name in batch.schema.names if name != "__raw"] + ["__raw"]
            names += [DECIDED, f"{FAST_FIELD}partition_value", f"{FAST_FIELD}raw_bytes"]
            names += [f"{FAST_FIELD}row_failed", f"{FAST_FIELD}reasons"]
            names += [FAST_PREFIX + column["name"] for column in columns]
            yield pa.RecordBatch.from_arrays([*outputs, raw_out, *extras], names=names)

    return decide


REASONS_TYPE = "array<struct<column:string,rule:string,message:string>>"


@cache
def arrow_in_workers() -> bool:
    """Whether `mapInArrow` can run: PySpark needs pyarrow and pandas (Glue 5.0 provides both; a
    Spark without them checks every record with its expressions, as before)."""
    try:
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError:
        LOGGER.warning("pyarrow or pandas missing: every record is checked by Spark's expressions")
        return False
    return True


def fast_checked(
    records: DataFrame, plan: Plan, ingest_ts: datetime
) -> tuple[DataFrame, list[DataFrame]] | None:
    """The checked rows (as `checked_records` makes them) with the plain records decided by pyarrow
    (`decide_batches`) and the rest by `checked_records`, and the frames to unpersist; None when the
    plan or the run is not one for it. The first pass caches what pyarrow returns and counts it."""
    if not FAST_ROWS_ENABLED or not arrow_in_workers():
        return None
    spec = fast_spec(plan, ingest_ts)
    if spec is None:
        return None
    records = records.select(*CHECKED_KEEP[:3], "__raw", "__malformed_file")  # not the key and version
    record_fields = [f for f in records.schema.fields if f.name != "__raw"] + [records.schema["__raw"]]
    schema = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in record_fields)
    schema += f", `{DECIDED}` boolean, `{FAST_FIELD}partition_value` string, `{FAST_FIELD}raw_bytes` int"
    schema += f", `{FAST_FIELD}row_failed` boolean, `{FAST_FIELD}reasons` {REASONS_TYPE}"
    schema += "".join(f", `{FAST_PREFIX}{column.name}` {column.type}" for column in plan.columns)
    staged = records.mapInArrow(decide_batches(spec), schema).persist()
    counts = {row[DECIDED]: row["count"] for row in staged.groupBy(DECIDED).count().collect()}
    decided_rows, undecided_rows = counts.get(True, 0), counts.get(False, 0)
    if undecided_rows > MAX_UNDECIDED_SHARE * (decided_rows + undecided_rows):
        staged.unpersist()
        return None
    decided = staged.where(F.col(DECIDED)).select(
        *CHECKED_KEEP[:3],
        F.col(f"{FAST_FIELD}partition_value").alias("__partition_value"),
        *[F.col(FAST_PREFIX + column.name).alias(column.name) for column in plan.columns],
        F.col(f"{FAST_FIELD}row_failed").alias("__row_failed"),
        F.col(f"{FAST_FIELD}reasons").alias("__row_reasons"),
        "__raw",  # of a row that failed a check only
        F.col(f"{FAST_FIELD}raw_bytes").alias("__raw_bytes"),
        F.lit(True).alias(FAST),
    )
    if undecided_rows == 0:
        return decided, [staged]
    # the undecided records (a small share) in one partition: the write gives it a task of its own
    # (`write_curated`), so that each of its other tasks writes pyarrow's rows of whole splits
    undecided_records = staged.where(~F.col(DECIDED)).select(*records.columns).coalesce(1)
    undecided = checked_records(undecided_records, plan, ingest_ts).persist()
    # the branch marks are literals above the caches: a filter on them drops the other branch whole
    checked = decided.unionByName(undecided.withColumn(FAST, F.lit(False)))
    return checked, [staged, undecided]


# --------------------------------------------------------------------------------------- pipeline


def partition_value(plan: Plan, ingest_ts: datetime) -> Column:
    if plan.partition_source is None:
        return F.lit(ingest_ts.astimezone(UTC).strftime("%Y-%m-%d"))
    return F.date_format(F.col(plan.partition_source), plan.partition_value_format)


def typed_records(records: DataFrame, plan: Plan, ingest_ts: datetime) -> DataFrame:
    """Parsed and typed as the plan says; not yet checked."""
    parsed = parse_records(records, plan)
    typed_columns = []
    for column in plan.columns:
        typed = typed_value(column)
        typed_columns.append(typed.value.alias(column.name))
        if typed.outside is not None:
            typed_columns.append(typed.outside.alias(outside_flag(column.name)))
    # what only the typing reads (value texts, casts, regex groups) is not copied further
    derived = {value_of(c.name) for c in plan.columns} | {cast_of(c.name) for c in plan.columns}
    derived |= {groups_of(c.name) for c in plan.columns}
    return parsed.select(*[name for name in parsed.columns if name not in derived], *typed_columns)


CHECKED_KEEP = ("__object_index", "__line_number", "__record_number", "__partition_value")


def checked_records(records: DataFrame, plan: Plan, ingest_ts: datetime) -> DataFrame:
    """Every row checked by the checks that need only the row (all but unique). This is what is
    cached, so it keeps only what later steps read: the typed values, where the row came from and its
    partition value; the raw text and reasons of a row that failed; the text's UTF-8 length otherwise (for
    the file size estimate). The object's key and version, and the run id, are joined back on write."""
    checks = row_checks(plan)
    failed = F.col("__row_failed")
    typed = typed_records(records, plan, ingest_ts).select(
        "*",
        any_failed(checks).alias("__row_failed"),
        partition_value(plan, ingest_ts).alias("__partition_value"),
    )
    return typed.select(
        *CHECKED_KEEP,
        *[column.name for column in plan.columns],
        failed,
        F.when(failed, reasons_column(checks)).alias("__row_reasons"),
        F.when(failed, F.col("__raw")).alias("__raw"),
        F.when(~failed, F.octet_length("__raw")).alias("__raw_bytes"),
    )


def validated_records(checked: DataFrame, plan: Plan, duplicates: Sequence[DataFrame | None]) -> DataFrame:
    """unique = within the run: every row whose value occurs more than once is refused. `duplicates`
    holds each unique column's repeated values, None when it has none (then no join at all)."""
    flagged = checked
    for column, values in zip(unique_columns(plan), duplicates, strict=True):
        if values is None:
            flagged = flagged.withColumn(unique_flag(column), F.lit(False))
        else:
            flagged = flagged.join(values, column, "left").fillna(False, subset=[unique_flag(column)])
    row_failed, row_reasons = F.col("__row_failed"), F.col("__row_reasons")
    checks = unique_checks(plan)
    if not checks:
        return flagged.withColumn("__rejected", row_failed).withColumn("__reasons", row_reasons)
    unique_reasons = F.array_compact(F.array(*[check.reason() for check in checks]))
    rejected = row_failed
    for check in checks:
        rejected = rejected | check.failed
    return flagged.withColumn("__rejected", rejected).withColumn(
        "__reasons",
        F.when(row_failed, F.concat(row_reasons, unique_reasons)).when(F.col("__rejected"), unique_reasons),
    )


def configure_session(spark: SparkSession) -> None:
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    spark.conf.set("spark.sql.ansi.enabled", "false")
    spark.conf.set("spark.sql.legacy.timeParserPolicy", "CORRECTED")
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    # Dates and timestamps before 1900 (or the Gregorian switch of 1582) are written as they are, in the
    # proleptic Gregorian calendar that Athena/Trino and pyarrow read, not refused nor shifted to Julian.
    spark.conf.set("spark.sql.parquet.datetimeRebaseModeInWrite", "CORRECTED")
    spark.conf.set("spark.sql.parquet.int96RebaseModeInWrite", "CORRECTED")
    spark.conf.set("spark.sql.parquet.datetimeRebaseModeInRead", "CORRECTED")
    spark.conf.set("spark.sql.parquet.int96RebaseModeInRead", "CORRECTED")
    # The checked rows are cached once and read three times (unique values, counts, curated write; the
    # rejects only where there are any): an uncompressed cache is built faster than a compressed one
    # (3.8 s against 5.3 s for 100 MB here) and a run's rows fit in executor memory (else spill).
    spark.conf.set("spark.sql.inMemoryColumnarStorage.compressed", "false")
    # Each write task keeps a file open per partition value it meets (up to the limit) instead of
    # sorting its rows by partition value first: Spark 3.5 plans that sort unless planned writes are off.
    spark.conf.set("spark.sql.optimizer.plannedWrite.enabled", "false")
    spark.conf.set("spark.sql.maxConcurrentOutputFileWriters", str(MAX_OPEN_FILES_PER_TASK))
    # The checks of a wide contract make one generated method larger than HotSpot compiles (8000 bytes
    # of bytecode): it then runs interpreted, which took half the CPU of a run here. Past that size Spark
    # runs the stage as smaller generated functions instead of one whole-stage method.
    spark.conf.set("spark.sql.codegen.hugeMethodLimit", str(HOTSPOT_HUGE_METHOD_BYTES))
    # Records go to pyarrow (`fast_checked`) in batches of this many rather than Spark's 10,000: fewer
    # calls per row into pyarrow (the pass took 1.64 s against 1.83 s for 100 MB here), about 5 MB a batch.
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(ARROW_BATCH_ROWS))


# ------------------------------------------------------------------------------------------ metrics


@dataclass
class RunCounts:
    objects: dict[int, dict[str, int]]
    partitions: dict[str, int]
    rule_failures: dict[str, int]
    valid_raw_bytes: int

    @property
    def rows_read(self) -> int:
        return sum(counts["rows_read"] for counts in self.objects.values())

    @property
    def rows_rejected(self) -> int:
        return sum(counts["rows_rejected"] for counts in self.objects.values())


def rule_failed(rule: PlanRule) -> Column:
    return F.exists(
        "__reasons", lambda reason: (reason["rule"] == rule.rule) & (reason["column"] == rule.column)
    )


def count_run(validated: DataFrame, rules: Sequence[PlanRule]) -> RunCounts:
    """Every count of the result document in one aggregation over (object, partition value)."""
    rule_sums = [F.sum(rule_failed(rule).cast("long")).alias(f"rule_{i}") for i, rule in enumerate(rules)]
    rows = (
        validated.groupBy(
            "__object_index", F.when(~F.col("__rejected"), F.col("__partition_value")).alias("pv")
        )
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.sum(F.col("__rejected").cast("long")).alias("rejected_rows"),
            F.sum(F.when(~F.col("__rejected"), F.col("__raw_bytes"))).alias("raw_bytes"),
            *rule_sums,
        )
        .collect()
    )
    counts = RunCounts(
        objects={}, partitions={}, rule_failures={rule.label: 0 for rule in rules}, valid_raw_bytes=0
    )
    for row in rows:
        per_object = counts.objects.setdefault(row["__object_index"], {"rows_read": 0, "rows_rejected": 0})
        per_object["rows_read"] += row["rows"]
        per_object["rows_rejected"] += row["rejected_rows"]
        if row["pv"] is not None:
            counts.partitions[row["pv"]] = (
                counts.partitions.get(row["pv"], 0) + row["rows"] - row["rejected_rows"]
            )
        counts.valid_raw_bytes += row["raw_bytes"] or 0
        for i, rule in enumerate(rules):
            counts.rule_failures[rule.label] += row[f"rule_{i}"] or 0
    return counts


def rows_per_file_for(counts: RunCounts, requested: int | None) -> int:
    if requested:
        return requested
    valid_rows = sum(counts.partitions.values())
    average_bytes = counts.valid_raw_bytes / valid_rows if valid_rows else 1.0
    estimate = int(TARGET_RAW_BYTES_PER_FILE / max(average_bytes, 1.0))
    return max(MIN_ROWS_PER_FILE, min(MAX_ROWS_PER_FILE, estimate))


# ------------------------------------------------------------------------------------------ writing


@dataclass(frozen=True)
class RunRows:
    """What the writers join back to the cached rows: the objects' lineage, the run id, and the
    records (read again) when a unique rule refused rows whose raw text the cache does not keep."""

    objects: Sequence[SourceObject]
    run_id: str
    records: DataFrame | None


def with_lineage(rows: DataFrame, run: RunRows) -> DataFrame:
    """The object's key and version and the run id, which the cache does not repeat on every row: by
    literal lookups for a run of few objects, else joined from one small row per object."""
    if len(run.objects) <= MAX_LITERAL_LOOKUP:
        with_objects = rows.select("*", *object_lineage(F.col("__object_index"), run.objects))
    else:
        lineage = objects_frame(rows.sparkSession, run.objects).drop("source_identity")
        with_objects = rows.join(F.broadcast(lineage), "__object_index")
    return with_objects.withColumn("run_id", F.lit(run.run_id))


RECORD_KEY = ("__object_index", "__line_key", "__record_key")


def record_key(rows: DataFrame) -> DataFrame:
    """A record's identity as join keys: its object, the line it starts on or its position in a JSON
    array (one of the two is null)."""
    return rows.withColumn("__line_key", F.coalesce("__line_number", F.lit(-1))).withColumn(
        "__record_key", F.coalesce("__record_number", F.lit(-1))
    )


def with_raw_text(rejected: DataFrame, records: DataFrame) -> DataFrame:
    """The cache keeps the raw text of rows that failed a row check only: a row refused by a unique
    rule alone gets its text from the input, read again for those records only."""
    missing = rejected.where(F.col("__raw").isNull()).drop("__raw")
    count = missing.count()
    if count == 0:
        return rejected
    keys = record_key(missing)
    texts = record_key(records).select(*RECORD_KEY, "__raw")
    found = texts.join(F.broadcast(keys) if count <= MAX_BROADCAST_ROWS else keys, list(RECORD_KEY))
    return rejected.where(F.col("__raw").isNotNull()).unionByName(found.drop(*RECORD_KEY[1:]))


def write_rejects(
    spark: SparkSession, validated: DataFrame, rejected_rows: int, spark_rejects: str, run: RunRows
) -> None:
    delete_spark_path(spark, spark_rejects)  # an earlier attempt's rejects are replaced, never added to
    if rejected_rows == 0:
        return
    rejected = validated.where("__rejected")
    if run.records is not None:
        rejected = with_raw_text(rejected, run.records)
    rejects = with_lineage(rejected, run).select(
        "run_id",
        "source_object_key",
        "source_object_version",
        F.col("__line_number").alias("line_number"),
        F.col("__record_number").alias("record_number"),
        F.col("__raw").alias("raw"),
        F.col("__reasons").alias("reasons"),
    )
    files = max(1, math.ceil(rejected_rows / REJECT_ROWS_PER_FILE))
    rejects.repartition(files).write.mode("overwrite").option("ignoreNullFields", "false").json(spark_rejects)


def curated_rows(validated: DataFrame, plan: Plan, ingest_ts: datetime, run: RunRows) -> DataFrame:
    return with_lineage(validated.where(~F.col("__rejected")), run).select(
        *[F.col(column.name) for column in plan.columns],
        "source_object_key",
        "source_object_version",
        F.lit(ingest_ts).cast("timestamp").alias("ingested_at"),
        F.col("__partition_value").alias(plan.partition_column),
        "run_id",
        "__object_index",
        "__line_number",
        "__record_number",
        *([FAST] if FAST in validated.columns else []),
    )


def files_per_partition(partitions: dict[str, int], rows_per_file: int) -> dict[str, int]:
    return {value: max(1, math.ceil(rows / rows_per_file)) for value, rows in partitions.items() if rows}


def write_tasks(partitions: dict[str, int], rows_per_file: int, cores: int) -> int | None:
    """Tasks that write the curated rows where they are (no shuffle), or None when the rows are worth
    shuffling into the planned files. Without a shuffle, one task per core while each still writes
    MIN_ROWS_PER_WRITE_TASK rows (fewer when the input has fewer splits) writes its rows of every
    partition value, a new file each `rows_per_file` rows: at most tasks x values files besides the
    planned ones. More tasks than cores would add files, not speed. That is accepted up to twice the
    planned files, which always holds for a small run (one task writes exactly the planned files) or
    a run of one partition value; beyond, a shuffle keeps the files as few and as full as planned."""
    files = files_per_partition(partitions, rows_per_file)
    rows = sum(partitions.values())
    tasks = max(1, min(cores, rows // MIN_ROWS_PER_WRITE_TASK))
    return tasks if tasks * len(files) <= 2 * sum(files.values()) else None


def write_curated(
    curated: DataFrame, plan: Plan, partitions: dict[str, int], rows_per_file: int, spark_output: str
) -> None:
    """The rows where they are, by `write_tasks` tasks; or one task per planned file (rows of a
    partition value spread over its files by a stable hash). Either way no task sorts its rows."""
    partition_column = plan.partition_column
    tasks = write_tasks(partitions, rows_per_file, curated.sparkSession.sparkContext.defaultParallelism)
    if tasks is not None and tasks > 1 and FAST in curated.columns:
        # Coalescing joins partitions by their count, not their rows: the rows pyarrow decided
        # (whole splits) go to `tasks` tasks and the others (one small partition) to one more, which
        # writes a file per partition value only when some of them passed.
        by_pyarrow = F.col(FAST)
        planned = curated.where(by_pyarrow).coalesce(tasks).unionByName(curated.where(~by_pyarrow))
    elif tasks is not None:
        planned = curated.coalesce(tasks)
    else:
        files = files_per_partition(partitions, rows_per_file)
        files_of_value = F.create_map(*[F.lit(item) for pair in files.items() for item in pair])
        bucket = F.pmod(
            F.hash("__object_index", "__line_number", "__record_number"),
            files_of_value[F.col(partition_column)],
        )
        planned = (
            curated.withColumn("__file", bucket)
            .repartition(sum(files.values()), partition_column, "__file")
            .drop("__file")
        )
    writer = (
        planned.drop("__object_index", "__line_number", "__record_number", FAST)
        .write.mode("overwrite")
        .option("partitionOverwriteMode", "dynamic")  # replaces this run's partitions only
        .option("maxRecordsPerFile", rows_per_file)
        .option("compression", "snappy")
        .option("parquet.page.size", str(PARQUET_PAGE_BYTES))
        .option("parquet.dictionary.page.size", str(PARQUET_DICTIONARY_PAGE_BYTES))
    )
    # A column whose written values are all distinct (a unique rule) gains nothing from a Parquet
    # dictionary, which Parquet fills until it outgrows its page, then drops: a hash lookup per value
    # for nothing (the largest part of the write's CPU with a unique text column here).
    for column in unique_columns(plan):
        writer = writer.option(f"parquet.enable.dictionary#{column}", "false")
    writer.partitionBy(partition_column, "run_id").parquet(spark_output)


# ------------------------------------------------------------------------------------------- result


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def partition_entries(
    spark: SparkSession, args: JobArgs, plan: Plan, counts: RunCounts
) -> list[dict[str, Any]]:
    entries = []
    output_uri = args.output_uri.rstrip("/")
    spark_output = to_spark_path(output_uri, args.spark_path_prefix).rstrip("/")
    for value in sorted(value for value, rows in counts.partitions.items() if rows):
        relative = f"{plan.partition_column}={value}/run_id={args.run_id}"
        files = list_part_files(spark, f"{spark_output}/{relative}")
        entries.append(
            {
                "values": {plan.partition_column: value, "run_id": args.run_id},
                "location": f"{output_uri}/{relative}/",
                "rows": counts.partitions[value],
                "files": len(files),
                "_files": files,
            }
        )
    return entries


def partition_spec(entry: dict[str, Any]) -> str:
    values = ", ".join(f"{name}={sql_literal(value)}" for name, value in entry["values"].items())
    return f"PARTITION ({values})"


def partition_clause(entries: Sequence[dict[str, Any]]) -> str:
    """`ALTER TABLE ... ADD IF NOT EXISTS` form: partitions with their location, space-separated."""
    return " ".join(f"{partition_spec(entry)} LOCATION {sql_literal(entry['location'])}" for entry in entries)


def drop_clause(entries: Sequence[dict[str, Any]]) -> str:
    """`ALTER TABLE ... DROP IF EXISTS` form: the same partitions, comma-separated, no location."""
    return ", ".join(partition_spec(entry) for entry in entries)


# At most this many partitions in one `ALTER TABLE ... ADD IF NOT EXISTS` statement: the state machine
# runs one statement per batch, so neither its state payload nor Athena's query length grows with the
# number of partitions a run wrote (a backfill can touch thousands).
PARTITIONS_PER_BATCH = 100


def partition_batches(entries: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """The partitions cut into statements of at most PARTITIONS_PER_BATCH partitions each: `clause`
    registers a batch (ADD), `drop_clause` takes the same batch back (DROP, when the run is unpublished)."""
    batches = [
        entries[start : start + PARTITIONS_PER_BATCH]
        for start in range(0, len(entries), PARTITIONS_PER_BATCH)
    ]
    return [{"clause": partition_clause(batch), "drop_clause": drop_clause(batch)} for batch in batches]


def sibling_uri(uri: str, name: str) -> str:
    """`name` in the same folder as `uri` (summary.json and partition-batches.json sit next to
    result.json)."""
    folder, _, _ = uri.rpartition("/")
    return f"{folder}/{name}"


def summary_document(result: dict[str, Any], result_uri: str) -> dict[str, Any]:
    """The bounded part of the result document, which the state machine reads whole: counts, the
    verdict and URIs only, nothing that grows with the objects or partitions of the run."""
    quality = result["quality"]
    return {
        "run_id": result["run_id"],
        "dataset": result["dataset"],
        "status": result["status"],
        "rows_read": result["rows_read"],
        "rows_written": result["rows_written"],
        "rows_rejected": result["rows_rejected"],
        "reject_ratio": result["reject_ratio"],
        "object_count": len(result["objects"]),
        "objects_failed": len(result["failed_objects"]),
        "partition_count": len(result["partitions"]),
        "quality": {
            "passed": quality["passed"],
            "max_reject_ratio": quality["max_reject_ratio"],
            "reject_ratio": quality["reject_ratio"],
        },
        "result_uri": result_uri,
        "rejects_uri": result["rejects_uri"],
        "partition_batches_uri": sibling_uri(result_uri, "partition-batches.json"),
        "failed_objects_uri": sibling_uri(result_uri, "failed-objects.json"),
        **({"error": result["error"]} if "error" in result else {}),
    }


def object_entries(objects: Sequence[SourceObject], counts: RunCounts) -> list[dict[str, Any]]:
    entries = []
    for item in objects:
        per_object = counts.objects.get(item.index, {"rows_read": 0, "rows_rejected": 0})
        entries.append(
            {
                "key": item.key,
                "version_id": item.version_id,
                "rows_read": per_object["rows_read"],
                "rows_written": per_object["rows_read"] - per_object["rows_rejected"],
                "rows_rejected": per_object["rows_rejected"],
            }
        )
    return entries


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def result_document(
    args: JobArgs,
    plan: Plan,
    objects: Sequence[SourceObject],
    counts: RunCounts,
    partitions: list[dict[str, Any]],
    progress: RunProgress,
) -> dict[str, Any]:
    rows_read, rows_rejected = counts.rows_read, counts.rows_rejected
    ratio = round(rows_rejected / rows_read, 6) if rows_read else 0.0
    started_at, started_clock = progress.timing
    rules = [
        {"column": rule.column, "rule": rule.rule, "failed_rows": counts.rule_failures[rule.label]}
        for rule in plan.rules
    ]
    return {
        "run_id": args.run_id,
        "dataset": plan.dataset,
        "status": "SUCCEEDED",
        "rows_read": rows_read,
        "rows_written": rows_read - rows_rejected,
        "rows_rejected": rows_rejected,
        "reject_ratio": ratio,
        "objects": object_entries(objects, counts),
        "failed_objects": [failure.entry() for failure in progress.failures],
        "partitions": [{k: v for k, v in entry.items() if k != "_files"} for entry in partitions],
        "partition_clause": partition_clause(partitions),
        "rejects_uri": args.rejects_uri,
        "outputs": [entry["location"] + name for entry in partitions for name in entry["_files"]],
        "quality": {
            "passed": ratio <= plan.max_reject_ratio,
            "max_reject_ratio": plan.max_reject_ratio,
            "reject_ratio": ratio,
            "rules": rules,
        },
        "timing": {
            "started_at": iso_utc(started_at),
            "finished_at": iso_utc(datetime.now(UTC)),
            "seconds": round(time.monotonic() - started_clock, 3),
        },
    }


# --------------------------------------------------------------------------------------------- job


def load_inputs(args: JobArgs) -> tuple[Plan, dict[str, Any]]:
    plan = plan_from_document(json.loads(read_document(args.plan_uri)))
    manifest = json.loads(read_document(args.manifest_uri))
    if manifest.get("run_id") not in (None, args.run_id):
        raise ManifestError(f"the manifest belongs to run {manifest.get('run_id')!r}, not {args.run_id!r}")
    return plan, manifest


def empty_counts(plan: Plan) -> RunCounts:
    return RunCounts(
        objects={}, partitions={}, rule_failures={r.label: 0 for r in plan.rules}, valid_raw_bytes=0
    )


@dataclass
class RunProgress:
    """What a failed run can still report: when it started, its dataset, the objects it left out."""

    timing: tuple[datetime, float]
    dataset: str = ""
    failures: list[ObjectFailure] = field(default_factory=list)


def transform(spark: SparkSession, args: JobArgs) -> dict[str, Any]:
    """Run the job on `spark` and return the result document (also written to `args.result_uri`).

    An object the job can name as the cause of a failure is left out (failed-objects.json) and the
    rest is processed; any other failure writes a FAILED result and summary, then is raised again."""
    progress = RunProgress(timing=(datetime.now(UTC), time.monotonic()))
    try:
        return run_job(spark, args, progress)
    except Exception as error:
        write_failed_documents(args, progress, error)
        raise


def run_job(spark: SparkSession, args: JobArgs, progress: RunProgress) -> dict[str, Any]:
    configure_session(spark)
    plan, manifest = load_inputs(args)
    progress.dataset = plan.dataset
    check_plan_regexes(spark, plan)
    listed, refused = source_objects_from(manifest, plan, args.spark_path_prefix)
    progress.failures.extend(refused)
    log_event("run started", run_id=args.run_id, dataset=plan.dataset, objects=len(listed))
    counts, objects = convert_what_can_be_read(spark, args, plan, listed, progress)
    partitions = partition_entries(spark, args, plan, counts)
    result = result_document(args, plan, objects, counts, partitions, progress)
    write_run_documents(args, result, partition_batches(partitions))
    log_event(
        "run finished",
        run_id=args.run_id,
        rows_read=result["rows_read"],
        rows_written=result["rows_written"],
        rows_rejected=result["rows_rejected"],
        objects_failed=len(result["failed_objects"]),
        partitions=len(partitions),
        quality_passed=result["quality"]["passed"],
        seconds=result["timing"]["seconds"],
    )
    return result


def convert_what_can_be_read(
    spark: SparkSession,
    args: JobArgs,
    plan: Plan,
    listed: Sequence[SourceObject],
    progress: RunProgress,
) -> tuple[RunCounts, list[SourceObject]]:
    """Convert the objects; when a failure names objects, leave them out and convert the rest again
    (at most once per object). Each attempt starts from no output of this run."""
    objects = list(listed)
    spark_output = to_spark_path(args.output_uri, args.spark_path_prefix)
    for _attempt in range(len(listed) + 1):
        removed = delete_run_partitions(spark, spark_output, args.run_id)
        log_event("earlier output of this run removed", run_id=args.run_id, partitions=removed)
        readable = readable_objects(objects)
        if not readable:
            delete_spark_path(spark, to_spark_path(args.rejects_uri, args.spark_path_prefix))
            return empty_counts(plan), objects
        try:
            return convert(spark, args, plan, readable, spark_output), objects
        except ObjectsFailed as failed:
            failures = failed.failures
        except Exception as error:
            failures = failures_named_in(spark, error, readable)
            if not failures:
                raise
        for failure in failures:
            log_event("object left out", run_id=args.run_id, object_index=failure.index, reason=failure.code)
        progress.failures.extend(failures)
        left_out = {failure.index for failure in failures}
        objects = [item for item in objects if item.index not in left_out]
    raise RuntimeError("objects kept failing after every one was left out")  # unreachable: bounded


def java_cause(error: BaseException) -> Any:
    """The Java exception behind a Py4J or PySpark error, if any."""
    return getattr(error, "java_exception", None) or getattr(error, "_origin", None)


def root_cause_line(error: BaseException) -> tuple[str, str]:
    """(type, message): the innermost cause's class and the first line of its message."""
    cause = java_cause(error)
    if cause is not None:
        try:
            seen = 0
            while cause.getCause() is not None and seen < 20:
                cause, seen = cause.getCause(), seen + 1
            kind, text = str(cause.getClass().getSimpleName()), str(cause.getMessage() or "")
        except Exception:  # the gateway is gone: fall back to the Python side of the error
            kind, text = type(error).__name__, str(error)
    else:
        kind, text = type(error).__name__, str(error)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return kind, (lines[0] if lines else "")[:1000]


# A failure while reading or decompressing input, which Spark does not always pin on a file (a gzip cut
# short fails inside Hadoop's LineRecordReader with a bare EOFException naming none).
_READ_ERROR = re.compile(
    r"EOFException|ZipException|DataFormatException|CharacterCodingException|MalformedInput"
    r"|Unexpected end of (input|ZLIB input) stream|not in GZIP format|invalid (stored block|distance|code)"
)


def failures_named_in(
    spark: SparkSession, error: BaseException, objects: Sequence[SourceObject]
) -> list[ObjectFailure]:
    """The objects whose file the error names (Spark names the file it failed to read) and that fail
    again when read alone: an error that merely mentions a file (a plan, a write) blames no object.
    A read error that names no file is pinned by reading every object alone (only on this failure path)."""
    from urllib.parse import unquote

    cause = java_cause(error)
    text = f"{error}\n{cause.toString() if cause is not None else ''}"
    text = f"{text}\n{unquote(text)}"

    def named(item: SourceObject) -> bool:
        file_path = path_identity(item.spark_path, percent_encoded=False).split("|", 1)[1]
        return re.search(re.escape(file_path) + r"(?![\w-]|\.\w)", text) is not None

    suspects = [item for item in objects if named(item)]
    if not suspects and _READ_ERROR.search(" ".join(root_cause_line(error)) + "\n" + text):
        suspects = list(objects)
    failures = []
    for item in suspects:
        try:
            spark.read.text(escape_glob(item.spark_path)).count()
            continue
        except Exception as read_error:
            kind, message = root_cause_line(read_error)
        gzip = str(item.item.get("compression")) == "gzip" or item.spark_path.endswith(".gz")
        code = "corrupt_gzip" if gzip else "unreadable"
        failures.append(item.failure(code, f"cannot read the object: {kind}: {message}"))
    return failures


def write_run_documents(args: JobArgs, result: dict[str, Any], batches: list[dict[str, str]]) -> None:
    """result.json, then partition-batches.json, failed-objects.json and summary.json beside it."""
    write_document(args.result_uri, json.dumps(result, indent=1).encode())
    summary = summary_document(result, args.result_uri)
    write_document(summary["partition_batches_uri"], json.dumps(batches).encode())
    failed = {
        "run_id": args.run_id,
        "dataset": result["dataset"],
        "objects": result["failed_objects"],
        "quarantine_uri": None,
    }
    write_document(summary["failed_objects_uri"], json.dumps(failed, indent=1).encode())
    write_document(sibling_uri(args.result_uri, "summary.json"), json.dumps(summary, indent=1).encode())


# Errors whose message holds no row data, so a failed run may report it: the job's own, and the I/O,
# access and resource errors whose messages name paths, codes or sizes. Any other error (a Spark
# expression error may quote the value it failed on) is reported by its class name only.
_DESCRIBED_JAVA_ERRORS = frozenset(
    {
        "FileNotFoundException", "AccessDeniedException", "AmazonS3Exception", "S3Exception",
        "AwsServiceException", "SdkClientException", "EOFException", "ZipException", "IOException",
        "CharacterCodingException", "MalformedInputException", "OutOfMemoryError", "SocketTimeoutException",
        "FileAlreadyExistsException", "ParentNotDirectoryException", "PathIOException",
        "AccessControlException",
    }
)  # fmt: skip
_DESCRIBED_ERRORS = (ArgumentError, PlanError, ManifestError, TransformFailed, ObjectsFailed, OSError)


def error_line(error: BaseException) -> tuple[str, str]:
    """The one line a failed run reports (type, message): never a stack frame, never a row's value."""
    kind, message = root_cause_line(error)
    described = kind in _DESCRIBED_JAVA_ERRORS if java_cause(error) is not None else None
    if described is None:
        described = isinstance(error, _DESCRIBED_ERRORS) or type(error).__module__.startswith("botocore.")
    if not described:
        return kind, kind
    return kind, f"{kind}: {message}" if message else kind


def error_chain(error: BaseException) -> list[str]:
    """The classes of a Java error's causes, outermost first (what a log may say without a message)."""
    cause, chain = java_cause(error), [type(error).__name__]
    try:
        while cause is not None and len(chain) < 20:
            chain.append(str(cause.getClass().getName()))
            cause = cause.getCause()
    except Exception:  # the gateway is gone
        pass
    return chain


def write_failed_documents(args: JobArgs, progress: RunProgress, error: BaseException) -> None:
    """A FAILED result and summary naming the error; best effort, the error itself is raised anyway."""
    kind, message = error_line(error)
    started_at, started_clock = progress.timing
    result = {
        "run_id": args.run_id,
        "dataset": progress.dataset,
        "status": "FAILED",
        "error": {"type": kind, "message": message},
        "rows_read": 0,
        "rows_written": 0,
        "rows_rejected": 0,
        "reject_ratio": 0.0,
        "objects": [],
        "failed_objects": [failure.entry() for failure in progress.failures],
        "partitions": [],
        "partition_clause": "",
        "rejects_uri": args.rejects_uri,
        "outputs": [],
        "quality": {"passed": False, "max_reject_ratio": None, "reject_ratio": 0.0, "rules": []},
        "timing": {
            "started_at": iso_utc(started_at),
            "finished_at": iso_utc(datetime.now(UTC)),
            "seconds": round(time.monotonic() - started_clock, 3),
        },
    }
    try:
        write_run_documents(args, result, [])
    except Exception as write_error:  # the original error matters more than this one
        fields = {"run_id": args.run_id, "error": type(write_error).__name__}
        LOGGER.error("failed run documents not written", extra={"fields": fields})


def convert(
    spark: SparkSession,
    args: JobArgs,
    plan: Plan,
    objects: Sequence[SourceObject],
    spark_output: str,
) -> RunCounts:
    records = read_records(spark, objects, plan)
    persisted: list[DataFrame] = []
    try:
        fast = fast_checked(records, plan, args.ingest_ts)
        if fast is None:
            checked = checked_records(records, plan, args.ingest_ts).persist()
            persisted.append(checked)
        else:
            checked, cached = fast
            persisted.extend(cached)
        # the first pass over the checked rows (it builds the cache, or reads what `fast_checked`
        # cached) finds the repeated values
        duplicates = [known_duplicates(checked, column, persisted) for column in unique_columns(plan)]
        validated = validated_records(checked, plan, duplicates)
        counts = count_run(validated, plan.rules)
        log_event(
            "rows checked", run_id=args.run_id, rows_read=counts.rows_read, rows_rejected=counts.rows_rejected
        )
        refused_by_unique = any(values is not None for values in duplicates)
        run = RunRows(objects, args.run_id, records if refused_by_unique else None)
        spark_rejects = to_spark_path(args.rejects_uri, args.spark_path_prefix)
        write_rejects(spark, validated, counts.rows_rejected, spark_rejects, run)
        rows_per_file = rows_per_file_for(counts, args.rows_per_file)
        if any(counts.partitions.values()):
            curated = curated_rows(validated, plan, args.ingest_ts, run)
            write_curated(curated, plan, counts.partitions, rows_per_file, spark_output)
        log_event(
            "curated data written",
            run_id=args.run_id,
            partitions=sum(1 for rows in counts.partitions.values() if rows),
            rows_per_file=rows_per_file,
        )
        return counts
    finally:
        for frame in persisted:
            frame.unpersist()


# A unique column's repeated values, and the records whose raw text is read again, are broadcast to
# every task (no shuffle of the rows) up to this many; beyond, they are joined by a shuffle.
MAX_BROADCAST_ROWS = 1_000_000
# Files one write task keeps open at once (one per partition value); past it, it sorts the rest.
MAX_OPEN_FILES_PER_TASK = 32
# A write task without a shuffle gets at least this many rows (a small run stays one task, one file
# per partition value); more rows are spread over the cores.
MIN_ROWS_PER_WRITE_TASK = 100_000
# Parquet pages (and dictionary pages) smaller than parquet-mr's 1 MB: its page buffers grow by
# allocating new slabs (the write's hottest method in a profile here); with these sizes the curated
# write of the 100 MB benchmark took 0.68x the time (best of 4) for files of the same size (30.4 MB
# against 30.2 MB).
PARQUET_PAGE_BYTES = 64 * 1024
PARQUET_DICTIONARY_PAGE_BYTES = 256 * 1024
ARROW_BATCH_ROWS = 50_000
# HotSpot leaves methods larger than this (bytecode) to the interpreter (-XX:+DontCompileHugeMethods).
HOTSPOT_HUGE_METHOD_BYTES = 8000


def known_duplicates(checked: DataFrame, column: str, persisted: list[DataFrame]) -> DataFrame | None:
    """A unique column's repeated values, or None when no value repeats, so that the rule then costs
    no join. The pass over every row groups the values' hashes (`repeated_hashes`); only the rows
    whose hash repeats are then grouped by value, so a hash collision refuses nothing."""
    hashes = repeated_hashes(checked, column).persist()
    persisted.append(hashes)
    repeated = hashes.count()
    if repeated == 0:
        return None
    by_hash = F.broadcast(hashes) if repeated <= MAX_BROADCAST_ROWS else hashes
    candidates = checked.join(by_hash, value_hash(column) == F.col("__hash"), "left_semi")
    values = duplicate_values(candidates, column).persist()
    persisted.append(values)
    found = values.count()
    if found == 0:
        return None
    return F.broadcast(values) if found <= MAX_BROADCAST_ROWS else values


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging()
    try:
        args = job_args_from_argv(sys.argv[1:] if argv is None else argv, datetime.now(UTC))
    except ArgumentError as error:
        print(f"transform.py: {error}", file=sys.stderr)
        return 2
    spark = SparkSession.builder.appName("tributary-transform").getOrCreate()
    try:
        transform(spark, args)
    except Exception as error:
        kind, message = error_line(error)
        fields = {
            "run_id": args.run_id,
            "error": type(error).__name__,
            "error_type": kind,
            "error_message": message,
            # Classes and code frames only: exception texts (Spark's included) may quote a row's value.
            "error_chain": error_chain(error),
            "stack": "".join(traceback.format_tb(error.__traceback__)),
        }
        LOGGER.error("run failed", extra={"fields": fields})
        # One line, no stack frame: what Glue's job run (and the state machine's Catch) carries.
        raise TransformFailed(message) from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
