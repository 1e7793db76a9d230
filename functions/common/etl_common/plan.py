"""The transform plan: a dataset contract compiled once into what every executor runs.

``compile_plan(contract)`` turns a validated ``Contract`` into a ``TransformPlan``; validate writes
``plan.model_dump(mode="json")`` to ``runs/<run_id>/plan.json`` and both executors (the Glue Spark job
and the small-run Lambda) read only that document. They keep no contract rules of their own: every
decision about a row is written here, executor-neutrally.

How an executor runs a plan (the semantics the fields below carry):

- **Records.** ``format``/``csv``/``encoding``/``compression`` say how to split an object into records;
  ``malformed`` holds the messages of a record that cannot be split into the columns (rule ``format``,
  column null). A malformed record gets that one reason and no other check.
- **Text of a column.** The field's text as the record parser gives it, or null (a missing field, a
  JSON null, an unquoted empty CSV field). A JSON value that is not a string keeps its JSON text.
- **Value of a column.** ``string``: the text itself, untrimmed. Other types (``trim: true``): the
  text without leading and trailing U+0020 spaces (only those: Spark's ``trim``); the result must
  match ``parse.regex`` as a whole (a full match: Python ``re.fullmatch``; Java ``Matcher.matches``,
  or ``regexp_extract(text, regex, 0) = text``: ``$`` alone may match before a final line break).
  A text that is empty after trimming, or does not match, or is outside ``parse``'s range, has no
  value and fails the ``type`` check. Every regular expression the plan generates uses only syntax
  Java and Python read alike (``[0-9]`` rather than ``\\d``, no named groups, no inline flags).
  - ``integer``: the decimal integer; outside ``[min, max]`` fails.
  - ``double``: the nearest IEEE-754 double (round half to even, as Java's and Python's parsers do);
    a magnitude beyond the largest double is +/-infinity (``overflow: infinity``).
  - ``decimal``: the exact decimal; the regex already limits integer digits to ``precision - scale``
    and fraction digits to ``scale``, so no value is ever rounded.
  - ``boolean``: ``true_regex`` -> true, ``false_regex`` -> false (Spark's cast words, any case).
  - ``date``/``timestamp``: the groups of ``regex`` (numbers in ``groups``; a group that did not take
    part, or matched the empty string, takes ``defaults``) give year (+ ``year_base``), month, day,
    hour, minute, second, fraction (the digits after the point, truncated to ``fraction_digits``, i.e.
    microseconds) and the offset (``offset_sign`` ``+``/``-``, ``offset_hour``, ``offset_minute``; no
    sign = UTC). Each field must lie in ``field_ranges`` and the day must exist in that month of that
    proleptic Gregorian year (year 0 is a leap year), else the text is not a valid value. The local
    date-time minus the offset is the UTC instant; a ``date`` is that instant's UTC date. A valid value
    outside ``[min, max]`` (UTC; the year may be 0, negative or above 9999) fails with
    ``outside_message`` instead of ``message``.
    ``iso_lengths`` is a hint an executor may use to read common texts faster, with the same results:
    a text of one of these lengths that fully matches ``regex`` is laid out as ISO-8601 says, a local
    date ``YYYY-MM-DD`` (10 characters) or date-time ``YYYY-MM-DD HH:MM:SS`` (19, ``T`` or a space
    between date and time), every field taken, no fraction, no offset, the year unsigned (0000-9999):
    its value is what an ISO-8601 parser of exactly that layout reads (none for a date or time that
    does not exist), and its date that value's date.
- **Checks.** ``checks`` in order; a row's reasons are the failed checks in that order, each
  ``{"column", "rule", "message"}``. When ``quote_value`` is true the message is
  ``"'" + <the first 200 characters of the column's text, untrimmed> + "' " + message``.
  - ``type``: the text is not null and the column has no value.
  - ``required`` / ``not_null``: the text is null. ``partition``: the partition source's text is null.
  - ``min`` / ``max`` (only when the value is not null): value < ``bound`` / value > ``bound``, compared
    exactly with the decimal ``bound`` for int/bigint/decimal columns, as doubles for double columns.
  - ``allowed_values`` (value not null): the value is not one of ``values`` (already in the column's
    type: numbers, booleans, decimals as exact text, dates ``YYYY-MM-DD``, timestamps
    ``YYYY-MM-DDTHH:MM:SS.ffffff`` in UTC). A contract's ``in_reference`` rule is compiled to this
    check too, its ``values`` read by validate from the reference file's version of the run
    (``reference`` names it; ``references`` lists the versions); executors never read reference files.
  - ``regex`` (value not null): ``pattern`` is the user's Java regular expression, with *find*
    semantics (it may match anywhere in the text), run on the column's text.
  - ``unique`` (last, after every other check): the value is not null and occurs more than once among
    the run's records that are not malformed (rejected rows count too: the job cannot tell which
    occurrence is right); values compare in the column's type (a double's -0.0 equals 0.0).
- **Output.** Rows without reasons are written with ``output_columns`` (data columns, lineage, the
  partition column and ``run_id``, the last two only in the paths); rejected rows go to the rejects.
  ``rules`` are the quality rules counted in result.json (rows with a reason of that rule and column).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation, localcontext
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from etl_common.models import ReferenceVersion

if TYPE_CHECKING:
    from etl_common.contracts import Column, Contract
    from etl_common.references import ResolvedReference

PLAN_VERSION = 1
# Column names starting with this are the executors' own (Spark's helper columns, for example).
RESERVED_PREFIX = "__"
INGEST_DATE = "ingest_date"
PARTITION_VALUE_FORMAT = "yyyy-MM-dd"
DEFAULT_DATE_FORMAT = "yyyy-MM-dd"
MAX_QUOTED_CHARS = 200
MAX_JSON_DEPTH = 1000
LINEAGE_COLUMNS = ("source_object_key", "source_object_version", "ingested_at")

DATE_RANGE = ("0001-01-01", "9999-12-31")
TIMESTAMP_RANGE = ("0001-01-01T00:00:00", "9999-12-31T23:59:59.999999")
DATE_OUTSIDE = "is outside the date range 0001-01-01 to 9999-12-31 (UTC)"
TIMESTAMP_OUTSIDE = "is outside the timestamp range 0001-01-01 00:00:00 to 9999-12-31 23:59:59 (UTC)"

INT_RANGES = {"int": (-(2**31), 2**31 - 1), "bigint": (-(2**63), 2**63 - 1)}
INTEGER_REGEX = r"^[+-]?[0-9]+$"
DOUBLE_REGEX = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
# Spark's cast from string to boolean (StringUtils.isTrueString / isFalseString), any case.
TRUE_WORDS = ("t", "true", "y", "yes", "1")
FALSE_WORDS = ("f", "false", "n", "no", "0")

DATETIME_FIELDS = ("year", "month", "day", "hour", "minute", "second", "fraction")
OFFSET_FIELDS = ("offset_sign", "offset_hour", "offset_minute")
DATETIME_DEFAULTS = {"year": 1970, "month": 1, "day": 1, "hour": 0, "minute": 0, "second": 0, "fraction": 0}
FIELD_RANGES = {
    "month": (1, 12),
    "day": (1, 31),
    "hour": (0, 23),
    "minute": (0, 59),
    "second": (0, 59),
    "offset_hour": (0, 18),
    "offset_minute": (0, 59),
}
FRACTION_DIGITS = 6  # microseconds: further digits are truncated, as Spark does

# Timestamps without a format: ISO-8601 extended form, date alone or date and time, `T` or one space
# between them, seconds and a fraction (1 to 9 digits) optional, then an optional offset `Z`, `+HH`,
# `+HHMM` or `+HH:MM`. The year has 4 digits, or a sign and 4 to 6 (ISO-8601 expanded years).
ISO_TIMESTAMP_FORMAT = "yyyy-MM-dd[(T| )HH:mm[:ss[.fraction]][Z|+HH[[:]MM]]]"
ISO_TIMESTAMP_REGEX = (
    r"^([+-]?[0-9]{4,6})-([0-9]{2})-([0-9]{2})"
    r"(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?"
    r"(?:Z|([+-])([0-9]{2})(?::?([0-9]{2}))?)?)?$"
)
ISO_TIMESTAMP_GROUPS = {
    "year": 1,
    "month": 2,
    "day": 3,
    "hour": 4,
    "minute": 5,
    "second": 6,
    "fraction": 7,
    "offset_sign": 8,
    "offset_hour": 9,
    "offset_minute": 10,
}

MALFORMED_MESSAGES = {
    "csv_field_count": "malformed CSV record: expected {fields} fields",
    "csv_unclosed_quote": "malformed CSV record: a quoted field is not closed",
    "json_file": "malformed JSON file: not valid JSON or not a JSON array",
    "json_duplicate_key": "malformed JSON record: duplicate key ",
    "json_too_deep": f"malformed JSON record: nested deeper than {MAX_JSON_DEPTH} levels",
    "json_invalid": "malformed JSON record: not valid JSON or not a JSON object",
}


class PlanError(ValueError):
    """The contract cannot be compiled; each problem names the field (``columns.<i>...``) and why."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class DatetimeFormatError(ValueError):
    """A datetime format uses something the plan cannot compile (the message names the letter)."""


# -------------------------------------------------------------------------------------- the model


class _Plan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class CsvPlan(_Plan):
    delimiter: str
    quote: str
    escape: str
    header: bool


class StringParse(_Plan):
    kind: Literal["string"] = "string"


class IntegerParse(_Plan):
    kind: Literal["integer"] = "integer"
    regex: str
    min: int
    max: int


class DoubleParse(_Plan):
    kind: Literal["double"] = "double"
    regex: str
    overflow: Literal["infinity"] = "infinity"


class DecimalParse(_Plan):
    kind: Literal["decimal"] = "decimal"
    regex: str
    precision: int
    scale: int


class BooleanParse(_Plan):
    kind: Literal["boolean"] = "boolean"
    true_words: list[str]
    false_words: list[str]
    true_regex: str
    false_regex: str


class DatetimeParse(_Plan):
    kind: Literal["date", "timestamp"]
    format: str = Field(description="the format as written in the contract, or the default's description")
    regex: str
    groups: dict[str, int]
    year_base: int = 0
    defaults: dict[str, int]
    field_ranges: dict[str, tuple[int, int]]
    fraction_digits: int = FRACTION_DIGITS
    min: str
    max: str
    iso_lengths: list[int] = Field(default_factory=list, description="a hint: see the module docstring")


ParseSpec = Annotated[
    StringParse | IntegerParse | DoubleParse | DecimalParse | BooleanParse | DatetimeParse,
    Field(discriminator="kind"),
]


class ColumnPlan(_Plan):
    name: str
    type: str
    nullable: bool
    trim: bool
    description: str = Field(description="the type as named in 'is not a valid ...' messages")
    parse: ParseSpec


class CheckPlan(_Plan):
    rule: str
    column: str | None
    message: str
    quote_value: bool = False
    outside_message: str | None = None  # type checks of date/timestamp columns
    bound: str | None = None  # min/max: exact decimal text
    values: list[Any] | None = None  # allowed_values, in the column's type
    reference: str | None = None  # allowed_values compiled from an in_reference rule: the reference's name
    pattern: str | None = None  # regex


class MalformedPlan(_Plan):
    rule: Literal["format"] = "format"
    messages: dict[str, str]
    max_json_depth: int = MAX_JSON_DEPTH


class RulePlan(_Plan):
    column: str
    rule: str


class PartitionPlan(_Plan):
    column: str
    source: str = Field(description="a date/timestamp column, or 'ingest_date' (the run's ingest_ts)")
    source_kind: Literal["column", "ingest_date"]
    value_format: str = PARTITION_VALUE_FORMAT


class OutputColumn(_Plan):
    name: str
    type: str
    arrow: str
    role: Literal["data", "lineage", "partition", "run"]
    in_path: bool = False
    # Whether the Parquet field may hold nulls: data and key lineage columns may; the run's ingest
    # time is one value for every row.
    nullable: bool = True


class TransformPlan(_Plan):
    plan_version: int = PLAN_VERSION
    dataset: str
    contract_sha256: str
    # The contract's own version and the reference files' versions its checks were compiled from
    # (absent in plans written before they were recorded).
    contract_version: str = "1"
    references: list[ReferenceVersion] = Field(default_factory=list)
    format: Literal["csv", "jsonl", "json"]
    compression: Literal["auto", "none", "gzip"]
    encoding: str
    csv: CsvPlan | None
    columns: list[ColumnPlan]
    malformed: MalformedPlan
    checks: list[CheckPlan]
    rules: list[RulePlan]
    partition: PartitionPlan
    output_columns: list[OutputColumn]
    max_reject_ratio: float

    def column(self, name: str) -> ColumnPlan:
        return next(column for column in self.columns if column.name == name)


# ---------------------------------------------------------------------------- datetime formats


class CompiledFormat(BaseModel):
    regex: str
    groups: dict[str, int]
    year_base: int = 0


_SUPPORTED = "y, M, d, H, m, s, S, X, x, Z, 'quoted text' and [optional] sections"


_REGEX_SPECIAL = frozenset("\\.^$|?*+()[]{}")


def _literal(text: str) -> str:
    """Characters as a regex both Java and Python read literally (metacharacters escaped)."""
    return "".join(f"\\{c}" if c in _REGEX_SPECIAL else c for c in text)


def _year(count: int) -> tuple[str, int]:
    """Spark parses `y` as java.time's `u` (proleptic year): signs as its SignStyle says."""
    if count == 2:
        return "([0-9]{2})", 2000  # reduced two-digit year: 2000 to 2099
    if count in (1, 3):
        return f"(-?[0-9]{{{count},9}})", 0  # SignStyle.NORMAL: a minus sign only
    if count in (4, 5, 6):
        # SignStyle.EXCEEDS_PAD: unsigned takes exactly `count` digits; more need a sign
        return f"([0-9]{{{count}}}|-[0-9]{{{count},9}}|\\+[0-9]{{{count + 1},9}})", 0
    raise DatetimeFormatError(f"too many pattern letters 'y' ({count}); at most 6")


def _two_digits(letter: str, count: int) -> str:
    if count == 1:
        return "([0-9]{1,2})"
    if count == 2:
        return "([0-9]{2})"
    hint = " (month names are not supported)" if letter == "M" else ""
    raise DatetimeFormatError(f"too many pattern letters {letter!r} ({count}); at most 2{hint}")


def _offset(letter: str, count: int) -> str:
    if count > 3:
        raise DatetimeFormatError(f"pattern letter {letter!r} {count} times is not supported; at most 3")
    zulu = "Z|" if letter == "X" else ""
    if letter == "Z" or count == 2:
        body = "([+-])([0-9]{2})([0-9]{2})"
    elif count == 1:
        body = "([+-])([0-9]{2})([0-9]{2})?"
    else:
        body = "([+-])([0-9]{2}):([0-9]{2})"
    return f"(?:{zulu}{body})"


def compile_datetime_format(pattern: str) -> CompiledFormat:
    """A Spark datetime pattern (the subset named in _SUPPORTED) as a regex with numbered groups."""
    parts: list[str] = []
    groups: dict[str, int] = {}
    year_base = 0
    depth = 0
    position = 0

    def add_groups(*names: str) -> None:
        for name in names:
            if name in groups:
                field = "offset" if name.startswith("offset") else name
                raise DatetimeFormatError(f"the {field} appears twice")
            groups[name] = len(groups) + 1

    while position < len(pattern):
        char = pattern[position]
        if char == "'":
            end, text = position + 1, []
            while True:
                if end >= len(pattern):
                    raise DatetimeFormatError("a quoted literal is not closed (')")
                if pattern[end] == "'":
                    if pattern[end + 1 : end + 2] == "'":
                        text.append("'")
                        end += 2
                        continue
                    break
                text.append(pattern[end])
                end += 1
            parts.append(_literal("".join(text)) if text else "'")
            position = end + 1
            continue
        if char == "[":
            parts.append("(?:")
            depth += 1
            position += 1
            continue
        if char == "]":
            if depth == 0:
                raise DatetimeFormatError("']' closes no optional section")
            parts.append(")?")
            depth -= 1
            position += 1
            continue
        if char in "#{}":
            raise DatetimeFormatError(f"{char!r} is reserved in datetime patterns; quote it ('{char}')")
        if not (char.isascii() and char.isalpha()):
            parts.append(_literal(char))
            position += 1
            continue
        count = 1
        while position + count < len(pattern) and pattern[position + count] == char:
            count += 1
        position += count
        if char == "y":
            regex, year_base = _year(count)
            add_groups("year")
        elif char in "MdHms":
            regex = _two_digits(char, count)
            add_groups({"M": "month", "d": "day", "H": "hour", "m": "minute", "s": "second"}[char])
        elif char == "S":
            if count > 9:
                raise DatetimeFormatError(f"too many pattern letters 'S' ({count}); at most 9")
            regex = f"([0-9]{{1,{count}}})"  # Spark parses 1 to `count` fraction digits
            add_groups("fraction")
        elif char in "XxZ":
            regex = _offset(char, count)
            add_groups(*OFFSET_FIELDS)
        else:
            raise DatetimeFormatError(
                f"pattern letter {char!r} is not supported (supported: {_SUPPORTED}; quote literal"
                f" text, as in 'T')"
            )
        parts.append(regex)
    if depth:
        raise DatetimeFormatError("an optional section '[' is not closed")
    if not groups:
        raise DatetimeFormatError("the pattern has no date or time field")
    return CompiledFormat(regex="^" + "".join(parts) + "$", groups=groups, year_base=year_base)


# The regexes whose matching texts of these lengths are in ISO-8601 layout: formats whose fields all
# have fixed widths but the year's (4 digits unsigned; a signed year makes the text longer).
ISO_LAYOUT_LENGTHS = {
    compile_datetime_format("yyyy-MM-dd").regex: [10],
    compile_datetime_format("yyyy-MM-dd HH:mm:ss").regex: [19],
    compile_datetime_format("yyyy-MM-dd'T'HH:mm:ss").regex: [19],
    # the ISO-8601 family: only the date alone has one layout at its length (19 characters may also
    # be a date, hours, minutes and an offset)
    ISO_TIMESTAMP_REGEX: [10],
}


def iso_lengths(regex: str) -> list[int]:
    """The lengths at which a text matching `regex` is an ISO-8601 date or date-time (see the module
    docstring): for the formats above, whose only variable-width field is the year (4 digits unless
    signed, which makes the text longer), and for the date alone of the ISO-8601 family."""
    return list(ISO_LAYOUT_LENGTHS.get(regex, []))


def datetime_format_problem(column_type: str, pattern: str | None) -> str | None:
    """Why a date/timestamp column's format cannot be compiled, or None."""
    if column_type not in ("date", "timestamp") or pattern is None:
        return None
    try:
        compile_datetime_format(pattern)
    except DatetimeFormatError as error:
        return f"format {pattern!r}: {error}"
    return None


# ------------------------------------------------------------------------------------- columns


def decimal_regex(precision: int, scale: int) -> str:
    """At most precision - scale integer digits (leading zeros aside) and at most scale fraction digits."""
    integer_digits = precision - scale
    fraction = f"(?:\\.[0-9]{{0,{scale}}})?" if scale else "\\.?"
    alternatives = [f"0*[0-9]{{1,{integer_digits}}}{fraction}" if integer_digits else f"0+{fraction}"]
    if scale:
        alternatives.append(f"0*\\.[0-9]{{1,{scale}}}")
    return "^[+-]?(?:" + "|".join(alternatives) + ")$"


def decimal_shape(column_type: str) -> tuple[int, int]:
    precision, scale = re.findall(r"\d+", column_type)
    return int(precision), int(scale)


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c}]" if c.isalpha() else c for c in word)


def _words_regex(words: Sequence[str]) -> str:
    return "^(?:" + "|".join(_any_case(word) for word in words) + ")$"


def describe_type(column: Column) -> str:
    return f"{column.type} ({column.format})" if column.format else column.type


def parse_spec(
    column: Column,
) -> StringParse | IntegerParse | DoubleParse | DecimalParse | BooleanParse | DatetimeParse:
    kind = column.type
    if kind == "string":
        return StringParse()
    if kind in INT_RANGES:
        low, high = INT_RANGES[kind]
        return IntegerParse(regex=INTEGER_REGEX, min=low, max=high)
    if kind == "double":
        return DoubleParse(regex=DOUBLE_REGEX)
    if kind == "boolean":
        return BooleanParse(
            true_words=list(TRUE_WORDS),
            false_words=list(FALSE_WORDS),
            true_regex=_words_regex(TRUE_WORDS),
            false_regex=_words_regex(FALSE_WORDS),
        )
    if kind in ("date", "timestamp"):
        if kind == "timestamp" and column.format is None:
            compiled = CompiledFormat(regex=ISO_TIMESTAMP_REGEX, groups=ISO_TIMESTAMP_GROUPS)
            written = ISO_TIMESTAMP_FORMAT
        else:
            written = column.format or DEFAULT_DATE_FORMAT
            compiled = compile_datetime_format(written)
        first, last = DATE_RANGE if kind == "date" else TIMESTAMP_RANGE
        return DatetimeParse(
            iso_lengths=iso_lengths(compiled.regex),
            kind=kind,
            format=written,
            regex=compiled.regex,
            groups=compiled.groups,
            year_base=compiled.year_base,
            defaults=dict(DATETIME_DEFAULTS),
            field_ranges=dict(FIELD_RANGES),
            min=first,
            max=last,
        )
    precision, scale = decimal_shape(kind)
    return DecimalParse(regex=decimal_regex(precision, scale), precision=precision, scale=scale)


def arrow_type(column_type: str) -> str:
    simple = {
        "string": "string",
        "int": "int32",
        "bigint": "int64",
        "double": "float64",
        "boolean": "bool",
        "date": "date32",
        "timestamp": "timestamp[us, tz=UTC]",
    }
    if column_type in simple:
        return simple[column_type]
    precision, scale = decimal_shape(column_type)
    return f"decimal128({precision}, {scale})"


# --------------------------------------------------------------------------------- rule values


def _plain_decimal(value: Decimal) -> str:
    text = format(value, "f")
    return "0" if text in ("-0", "0") else text


def bound_text(value: float) -> str:
    """A min/max bound as exact decimal text: the shortest text that reads back as the float."""
    return _plain_decimal(Decimal(repr(float(value))).normalize())


def _parse_iso_timestamp(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def typed_allowed_value(column: Column, value: Any) -> Any:
    """An allowed value in the column's type (JSON-serialisable), or ValueError naming why not."""
    kind = column.type
    if kind == "string":
        if isinstance(value, bool | float):
            raise ValueError(
                f"{value!r} is not a string (YAML reads yes/no/on/off and 1.5 as other types: quote it)"
            )
        return str(value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        word = str(value).lower()
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS
        raise ValueError(f"{value!r} is not a boolean")
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a {kind}")
    if kind in INT_RANGES:
        number = Decimal(str(value)) if not isinstance(value, int) else Decimal(value)
        low, high = INT_RANGES[kind]
        if number != number.to_integral_value() or not low <= number <= high:
            raise ValueError(f"{value!r} is not a valid {kind}")
        return int(number)
    if kind == "double":
        try:
            return float(value)
        except ValueError as error:
            raise ValueError(f"{value!r} is not a double") from error
    if kind == "date":
        if isinstance(value, date) and not isinstance(value, datetime):
            return value.isoformat()
        return date.fromisoformat(str(value)).isoformat()
    if kind == "timestamp":
        moment = value if isinstance(value, datetime) else _parse_iso_timestamp(str(value))
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        return moment.isoformat(timespec="microseconds")
    precision, scale = decimal_shape(kind)
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value))
        with localcontext(prec=80):  # decimal(38, s) needs more than the default 28 digits
            exact = number.quantize(Decimal(1).scaleb(-scale))
    except InvalidOperation as error:
        raise ValueError(f"{value!r} is not a valid {kind}") from error
    text = _plain_decimal(exact)
    if exact != number or not re.fullmatch(decimal_regex(precision, scale), text):
        raise ValueError(f"{value!r} is not a valid {kind}")
    return text


# ------------------------------------------------------------------------------------ compiling


def contract_sha256(contract: Contract) -> str:
    """sha256 of the contract's JSON (model_dump(mode="json"), keys sorted, no spaces, UTF-8)."""
    text = json.dumps(
        contract.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def column_plan(column: Column) -> ColumnPlan:
    return ColumnPlan(
        name=column.name,
        type=column.type,
        nullable=column.nullable,
        trim=column.type != "string",
        description=describe_type(column),
        parse=parse_spec(column),
    )


def column_checks(column: Column) -> list[CheckPlan]:
    outside = {"date": DATE_OUTSIDE, "timestamp": TIMESTAMP_OUTSIDE}.get(column.type)
    checks = []
    if column.type != "string":  # any text is a string: a string column has no type check
        checks.append(
            CheckPlan(
                rule="type",
                column=column.name,
                message=f"is not a valid {describe_type(column)}",
                quote_value=True,
                outside_message=outside,
            )
        )
    if not column.nullable:
        checks.append(CheckPlan(rule="required", column=column.name, message="required value is missing"))
    return checks


def reference_check(rule: Any, column: Column, references: Mapping[str, ResolvedReference]) -> CheckPlan:
    """An in_reference rule as the allowed_values check of the reference's values, typed as the column."""
    resolved = references.get(rule.reference)
    if resolved is None:
        raise PlanError(
            [
                f"reference {rule.reference!r} was not read: a contract with references compiles with"
                " their values (validate reads them)"
            ]
        )
    values: dict[Any, None] = {}
    for line, text in resolved.values:
        try:
            values[typed_allowed_value(column, text)] = None
        except (ValueError, ArithmeticError):  # decimal.InvalidOperation is an ArithmeticError
            raise PlanError(
                [
                    f"reference {rule.reference!r}: the value at line {line} is not a valid {column.type}"
                    f" (column {column.name!r})"
                ]
            ) from None
    return CheckPlan(
        rule="allowed_values",
        column=column.name,
        message=f"value is not in reference {rule.reference}",
        values=list(values),
        reference=rule.reference,
    )


def rule_check(rule: Any, column: Column) -> CheckPlan:
    name, kind = column.name, rule.rule
    if kind == "not_null":
        return CheckPlan(rule=kind, column=name, message="value is null")
    if kind == "unique":
        return CheckPlan(rule=kind, column=name, message="value occurs more than once in the run")
    if kind in ("min", "max"):
        word = "below the minimum" if kind == "min" else "above the maximum"
        return CheckPlan(
            rule=kind, column=name, message=f"value is {word} {rule.value}", bound=bound_text(rule.value)
        )
    if kind == "allowed_values":
        values = [typed_allowed_value(column, value) for value in rule.values]
        return CheckPlan(rule=kind, column=name, message="value is not an allowed value", values=values)
    return CheckPlan(
        rule=kind, column=name, message=f"value does not match {rule.pattern}", pattern=rule.pattern
    )


def quality_rules(contract: Contract) -> list[Any]:
    """The contract's rules without a repeated `unique` on one column (it would say nothing new)."""
    seen: set[str] = set()
    kept = []
    for rule in contract.quality.rules:
        if rule.rule == "unique":
            if rule.column in seen:
                continue
            seen.add(rule.column)
        kept.append(rule)
    return kept


def rule_value_problems(contract: Contract) -> list[str]:
    """allowed_values that the column's type cannot hold (a rule that could never match them)."""
    by_name = {column.name: column for column in contract.columns}
    problems = []
    for index, rule in enumerate(contract.quality.rules):
        column = by_name.get(rule.column)
        if column is None or rule.rule != "allowed_values":
            continue
        for value in rule.values:
            try:
                typed_allowed_value(column, value)
            except ValueError as error:
                problems.append(f"quality.rules.{index}.values: {error}")
    return problems


def compile_plan(
    contract: Contract, references: Mapping[str, ResolvedReference] | None = None
) -> TransformPlan:
    """The plan of a validated contract (a Contract is only built when it compiles). A contract with
    ``in_reference`` rules needs its references read (etl_common.references); PlanError otherwise."""
    by_name = {column.name: column for column in contract.columns}
    rules = quality_rules(contract)
    resolved = references or {}

    def check_of(rule: Any) -> CheckPlan:
        column = by_name[rule.column]
        return (
            reference_check(rule, column, resolved)
            if rule.rule == "in_reference"
            else rule_check(rule, column)
        )

    checks = [check for column in contract.columns for check in column_checks(column)]
    checks += [check_of(rule) for rule in rules if rule.rule != "unique"]
    part = contract.partitioning
    source_kind: Literal["column", "ingest_date"] = "ingest_date" if part.source == INGEST_DATE else "column"
    if source_kind == "column" and by_name[part.source].nullable:
        # the ingest date always exists; a required source already has the "required" check
        checks.append(
            CheckPlan(
                rule="partition", column=part.source, message=f"partition source {part.source} is empty"
            )
        )
    checks += [rule_check(rule, by_name[rule.column]) for rule in rules if rule.rule == "unique"]
    output = [
        OutputColumn(name=column.name, type=column.type, arrow=arrow_type(column.type), role="data")
        for column in contract.columns
    ]
    output += [
        OutputColumn(name="source_object_key", type="string", arrow="string", role="lineage"),
        OutputColumn(name="source_object_version", type="string", arrow="string", role="lineage"),
        OutputColumn(
            name="ingested_at",
            type="timestamp",
            arrow="timestamp[us, tz=UTC]",
            role="lineage",
            nullable=False,
        ),
        OutputColumn(name=part.column, type="string", arrow="string", role="partition", in_path=True),
        OutputColumn(name="run_id", type="string", arrow="string", role="run", in_path=True),
    ]
    messages = dict(MALFORMED_MESSAGES)
    messages["csv_field_count"] = messages["csv_field_count"].format(fields=len(contract.columns))
    csv = contract.csv
    return TransformPlan(
        dataset=contract.dataset,
        contract_sha256=contract_sha256(contract),
        contract_version=contract.version,
        references=[resolved[name].version for name in sorted(resolved)],
        format=contract.format,
        compression=contract.compression,
        encoding=contract.encoding,
        csv=CsvPlan(delimiter=csv.delimiter, quote=csv.quote, escape=csv.escape, header=csv.header)
        if csv is not None
        else None,
        columns=[column_plan(column) for column in contract.columns],
        malformed=MalformedPlan(messages=messages),
        checks=checks,
        # An in_reference rule's reasons carry the rule of its check (allowed_values).
        rules=[
            RulePlan(column=rule.column, rule="allowed_values" if rule.rule == "in_reference" else rule.rule)
            for rule in rules
        ],
        partition=PartitionPlan(column=part.column, source=part.source, source_kind=source_kind),
        output_columns=output,
        max_reject_ratio=contract.quality.max_reject_ratio,
    )


def plan_document(
    contract: Contract, references: Mapping[str, ResolvedReference] | None = None
) -> dict[str, Any]:
    """The plan as the JSON document validate writes (plan.json)."""
    return compile_plan(contract, references).model_dump(mode="json")
