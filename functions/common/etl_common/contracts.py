"""Dataset contracts: the pydantic model of ``contracts/<dataset>.yaml`` and its loader.

A contract drives validation (validate function), the transformation (compiled once by
``etl_common.plan.compile_plan`` into ``runs/<run_id>/plan.json``, which the executors run) and the
catalog table (from ``Contract.model_dump(mode="json")`` in ``runs/<run_id>/contract.json``). A
contract is valid only if it compiles: every rule the executors apply comes from here, through the plan.

Command line (used by tests and CI)::

    python -m etl_common.contracts check contracts/*.yaml
    python -m etl_common.contracts schema > contract.schema.json
"""

from __future__ import annotations

import argparse
import codecs
import json
import os
import re
import sys
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from etl_common.plan import RESERVED_PREFIX, datetime_format_problem, rule_value_problems

DEFAULT_CONTRACTS_DIR = "/opt"
DATASET_PATTERN = r"^[a-z][a-z0-9_]*$"
# The contract's own version: what its authors call it ("3", "2026.12.1", "v2-rc1"), recorded with the
# sha256 of its content on every run and lineage item.
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$"
DEFAULT_VERSION = "1"
# Reference (master) data lives in the raw bucket (versioned) under this prefix, apart from uploads.
REFERENCE_PREFIX = "reference/"
COLUMN_PATTERN = r"^[a-z_][a-z0-9_]*$"
# Names starting with RESERVED_PREFIX ("__") are the executors' own; "_id" and other "_" names are fine.
# Columns the pipeline adds to every table (lineage and partitioning); a contract may not declare them.
RESERVED_COLUMNS = frozenset({"source_object_key", "source_object_version", "run_id", "ingested_at"})
INGEST_DATE = "ingest_date"

_SIMPLE_TYPES = ("string", "int", "bigint", "double", "boolean", "date", "timestamp")
_DECIMAL = re.compile(r"^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$")
NUMERIC_TYPES = ("int", "bigint", "double")


class ContractError(Exception):
    """A contract is missing or invalid. The message names the file and each offending field."""

    def __init__(self, source: str, problems: Sequence[str]):
        self.source = source
        self.problems = list(problems)
        super().__init__(f"{source}: " + "; ".join(self.problems))


class ContractNotFoundError(ContractError):
    """No contract file for a dataset: the dataset is unknown."""


class _Strict(BaseModel):
    # Unknown keys are errors: a misspelt option must not be silently ignored. Built on first use, not
    # at import: the trigger and validate import this module on every cold start.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


def is_decimal(column_type: str) -> bool:
    return _DECIMAL.match(column_type) is not None


def _not_reserved(name: str) -> str:
    if name.startswith(RESERVED_PREFIX):
        raise ValueError(f"{name!r}: names starting with {RESERVED_PREFIX!r} are reserved for the executors")
    return name


class Column(_Strict):
    name: Annotated[str, Field(pattern=COLUMN_PATTERN, max_length=128)]
    type: str
    nullable: bool = True
    format: str | None = Field(default=None, description="Spark datetime pattern, date/timestamp only")
    description: str | None = None

    _name = field_validator("name")(_not_reserved)

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        value = value.strip().lower()
        if value in _SIMPLE_TYPES:
            return value
        match = _DECIMAL.match(value)
        if match is None:
            expected = ", ".join(_SIMPLE_TYPES)
            raise ValueError(f"unknown type {value!r}; expected one of {expected} or decimal(p,s)")
        precision, scale = int(match[1]), int(match[2])
        if not 1 <= precision <= 38 or scale > precision:
            raise ValueError(f"{value!r}: decimal needs 1 <= precision <= 38 and scale <= precision")
        return f"decimal({precision},{scale})"

    @model_validator(mode="after")
    def _format_only_for_dates(self) -> Column:
        if self.format is not None and self.type not in ("date", "timestamp"):
            raise ValueError(f"column {self.name!r}: 'format' applies only to date and timestamp columns")
        problem = datetime_format_problem(self.type, self.format)
        if problem is not None:
            raise ValueError(f"column {self.name!r}: {problem}")
        return self

    @property
    def is_numeric(self) -> bool:
        return self.type in NUMERIC_TYPES or is_decimal(self.type)


def _single_char(value: str) -> str:
    if len(value) != 1:
        raise ValueError(f"must be exactly one character, got {value!r}")
    return value


class CsvOptions(_Strict):
    delimiter: str = ","
    quote: str = '"'
    escape: str = '"'
    header: bool = True
    encoding: str = "utf-8"

    _chars = field_validator("delimiter", "quote", "escape")(_single_char)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError as exc:
            raise ValueError(f"unknown encoding {value!r}") from exc
        return value.lower()


class Partitioning(_Strict):
    column: Annotated[str, Field(pattern=COLUMN_PATTERN, max_length=128)]
    source: str = Field(description=f"a date/timestamp column, or {INGEST_DATE!r}")

    _column = field_validator("column")(_not_reserved)


class UniqueRule(_Strict):
    column: str
    rule: Literal["unique"]


class NotNullRule(_Strict):
    column: str
    rule: Literal["not_null"]


class MinRule(_Strict):
    column: str
    rule: Literal["min"]
    value: float


class MaxRule(_Strict):
    column: str
    rule: Literal["max"]
    value: float


class AllowedValuesRule(_Strict):
    column: str
    rule: Literal["allowed_values"]
    values: Annotated[list[str | int | float | bool], Field(min_length=1)]


class InReferenceRule(_Strict):
    """The value must be one of a reference table's values (``references``), read by validate from the
    reference file's version current at the run (or pinned) and compiled into the plan as allowed values."""

    column: str
    rule: Literal["in_reference"]
    reference: str


class ReferenceTable(_Strict):
    """A reference (master data) file: a UTF-8 CSV with a header line, in the raw bucket under
    ``reference/``. Each run reads one object version of it (the latest, or ``version_id`` when pinned)
    and records that version (S3 VersionId and ETag) on its run record and lineage."""

    key: Annotated[str, Field(min_length=len(REFERENCE_PREFIX) + 1, max_length=1024)]
    column: Annotated[
        str, Field(min_length=1, description="the header name of the column holding the values")
    ]
    version_id: str | None = Field(default=None, description="pin one S3 version; default: the latest")
    description: str = ""

    @field_validator("key")
    @classmethod
    def _under_reference(cls, value: str) -> str:
        if not value.startswith(REFERENCE_PREFIX) or value.endswith("/"):
            raise ValueError(
                f"{value!r}: a reference file's key must be under {REFERENCE_PREFIX!r}, not a folder"
            )
        return value


# Named groups and back-references (?P<..> (?P=..), comments (?#..), conditionals (?(..) and the a/L flags.
_PYTHON_ONLY_REGEX = re.compile(r"(?<!\\)\(\?(P[<=]|#|\(|[a-zA-Z]*[aL])")


class RegexRule(_Strict):
    column: str
    rule: Literal["regex"]
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {value!r}: {exc}") from exc
        # The pattern runs as a Java regular expression (Spark): Python-only constructs would pass here
        # and fail the job, so they are refused where both read the pattern alike.
        python_only = _PYTHON_ONLY_REGEX.search(value)
        if python_only is not None:
            raise ValueError(
                f"{value!r}: {python_only.group(0)!r} is Python regular-expression syntax; the pattern runs"
                " as a Java regular expression"
            )
        return value


QualityRule = Annotated[
    UniqueRule | NotNullRule | MinRule | MaxRule | AllowedValuesRule | RegexRule | InReferenceRule,
    Field(discriminator="rule"),
]


class Quality(_Strict):
    # A contract that states no tolerance tolerates no rejected rows.
    max_reject_ratio: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    rules: list[QualityRule] = Field(default_factory=list)


class Limits(_Strict):
    max_object_bytes: Annotated[int, Field(gt=0)] = 5 * 1024**3


class Contract(_Strict):
    dataset: Annotated[str, Field(pattern=DATASET_PATTERN, max_length=64)]
    version: Annotated[str, Field(pattern=VERSION_PATTERN)] = DEFAULT_VERSION
    description: str = ""
    format: Literal["csv", "jsonl", "json"]
    compression: Literal["auto", "none", "gzip"] = "auto"
    csv: CsvOptions | None = None
    columns: Annotated[list[Column], Field(min_length=1)]
    partitioning: Partitioning
    quality: Quality = Field(default_factory=Quality)
    limits: Limits = Field(default_factory=Limits)
    references: dict[Annotated[str, Field(pattern=DATASET_PATTERN, max_length=64)], ReferenceTable] = Field(
        default_factory=dict
    )

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        # YAML reads `version: 1.10` as the number 1.1: a version is written as text.
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not text: quote the version (version: '{value}')")
        return value

    @model_validator(mode="before")
    @classmethod
    def _csv_defaults(cls, data: Any) -> Any:
        # Fill in the CSV defaults so that contract.json carries every option the Glue job needs.
        if isinstance(data, dict) and data.get("format") == "csv" and data.get("csv") is None:
            return {**data, "csv": {}}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Contract:
        problems: list[str] = []
        if self.csv is not None and self.format != "csv":
            problems.append(f"csv: options apply only to format csv, not {self.format}")
        names = [column.name for column in self.columns]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            problems.append(f"columns: duplicate names {duplicates}")
        reserved = sorted(RESERVED_COLUMNS.intersection(names))
        if reserved:
            problems.append(f"columns: {reserved} are reserved for lineage and partitioning")
        by_name = {column.name: column for column in self.columns}
        part = self.partitioning
        if part.column in by_name or part.column in RESERVED_COLUMNS:
            problems.append(f"partitioning.column: {part.column!r} clashes with a data or reserved column")
        if part.source != INGEST_DATE:
            source = by_name.get(part.source)
            if source is None:
                problems.append(f"partitioning.source: {part.source!r} is not a column nor {INGEST_DATE!r}")
            elif source.type not in ("date", "timestamp"):
                problems.append(f"partitioning.source: {part.source!r} is {source.type}, not date/timestamp")
        for index, rule in enumerate(self.quality.rules):
            column = by_name.get(rule.column)
            where = f"quality.rules.{index}"
            if column is None:
                problems.append(f"{where}: unknown column {rule.column!r}")
            elif isinstance(rule, MinRule | MaxRule) and not column.is_numeric:
                problems.append(
                    f"{where}: {rule.rule} needs a numeric column, {rule.column!r} is {column.type}"
                )
            elif isinstance(rule, RegexRule) and column.type != "string":
                problems.append(f"{where}: regex needs a string column, {rule.column!r} is {column.type}")
        problems.extend(self._reference_problems())
        problems.extend(rule_value_problems(self))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _reference_problems(self) -> list[str]:
        problems = []
        used = set()
        allowed_columns = {rule.column for rule in self.quality.rules if rule.rule == "allowed_values"}
        for index, rule in enumerate(self.quality.rules):
            if not isinstance(rule, InReferenceRule):
                continue
            used.add(rule.reference)
            where = f"quality.rules.{index}"
            if rule.reference not in self.references:
                problems.append(
                    f"{where}: unknown reference {rule.reference!r} (declare it under references)"
                )
            if rule.column in allowed_columns:
                # Both compile to allowed values: their counts in result.json could not be told apart.
                problems.append(f"{where}: {rule.column!r} has allowed_values too; keep one of the two rules")
        problems += [
            f"references.{name}: no quality rule uses it (rule: in_reference)"
            for name in sorted(set(self.references) - used)
        ]
        return problems

    @property
    def reference_rules(self) -> list[InReferenceRule]:
        return [rule for rule in self.quality.rules if isinstance(rule, InReferenceRule)]

    @cached_property
    def encoding(self) -> str:
        """Text encoding of the files: the CSV option, or UTF-8 (JSON text is UTF-8 by RFC 8259)."""
        return self.csv.encoding if self.csv is not None else "utf-8"

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]


def _describe(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"]) or "(contract)"
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{location}: {message}")
    return problems


def parse_contract(text: str, source: str, expected_dataset: str | None = None) -> Contract:
    """Parse and validate a contract's YAML text; ``source`` names the file in error messages."""
    import yaml  # only when a contract is read: not every invocation of the trigger reads one

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ContractError(source, [f"not valid YAML: {exc}"]) from exc
    if not isinstance(document, dict):
        raise ContractError(source, ["a contract must be a YAML mapping"])
    try:
        contract = Contract.model_validate(document)
    except ValidationError as exc:
        raise ContractError(source, _describe(exc)) from exc
    if expected_dataset is not None and contract.dataset != expected_dataset:
        raise ContractError(
            source, [f"dataset: {contract.dataset!r} must equal the file name {expected_dataset!r}"]
        )
    return contract


def contracts_dir() -> Path:
    return Path(os.environ.get("CONTRACTS_DIR") or DEFAULT_CONTRACTS_DIR)


def contract_path(dataset: str, directory: Path | None = None) -> Path:
    if re.match(DATASET_PATTERN, dataset) is None:
        # Also keeps a crafted incoming/ prefix from reaching outside the contracts directory.
        raise ContractNotFoundError(dataset, [f"{dataset!r} is not a valid dataset name ({DATASET_PATTERN})"])
    return (directory or contracts_dir()) / f"{dataset}.yaml"


def load_contract_file(path: Path) -> Contract:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ContractNotFoundError(str(path), ["no such contract file"]) from exc
    return parse_contract(text, str(path), expected_dataset=path.stem)


def load_contract(dataset: str, directory: Path | None = None) -> Contract:
    """Load ``<CONTRACTS_DIR>/<dataset>.yaml``; ``ContractNotFoundError`` if the dataset has none."""
    return load_contract_file(contract_path(dataset, directory))


def contract_json_schema() -> dict[str, Any]:
    return Contract.model_json_schema()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m etl_common.contracts", description="Dataset contracts")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="validate contract files; exit status 1 if any is invalid")
    check.add_argument("files", nargs="+", type=Path)
    commands.add_parser("schema", help="print the JSON schema of a contract")
    args = parser.parse_args(argv)

    if args.command == "schema":
        print(json.dumps(contract_json_schema(), indent=2))
        return 0
    failed = 0
    for path in args.files:
        try:
            contract = load_contract_file(path)
        except ContractError as exc:
            failed += 1
            print(f"INVALID {exc}", file=sys.stderr)
        else:
            print(f"OK {path}: {contract.dataset} ({contract.format}, {len(contract.columns)} columns)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
