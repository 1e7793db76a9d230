"""Athena DDL statements understood by the local stack, and their effect on the Glue catalog in moto.

Parsed with regular expressions: the statements the application and its users issue are a small,
regular subset of Hive DDL (no parser library of this dialect is in our dependencies).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_NAME = r'(?:`[^`]+`|"[^"]+"|[A-Za-z_][\w]*)'
_QUALIFIED = rf"(?P<name>{_NAME}(?:\s*\.\s*{_NAME})?)"
_PARTITION_SPEC = re.compile(r"PARTITION\s*\((?P<spec>[^)]*)\)(?:\s*LOCATION\s*'(?P<location>[^']*)')?", re.I)
_KEY_VALUE = re.compile(rf"(?P<key>{_NAME})\s*=\s*(?:'(?P<quoted>(?:[^']|'')*)'|(?P<bare>[^,\s)]+))")

_ALTER_ADD = re.compile(
    rf"^\s*ALTER\s+TABLE\s+{_QUALIFIED}\s+ADD\s+(?P<if>IF\s+NOT\s+EXISTS\s+)?(?P<rest>PARTITION.*)$",
    re.I | re.S,
)
_ALTER_DROP = re.compile(
    rf"^\s*ALTER\s+TABLE\s+{_QUALIFIED}\s+DROP\s+(?P<if>IF\s+EXISTS\s+)?(?P<rest>PARTITION.*)$", re.I | re.S
)
_DROP_TABLE = re.compile(rf"^\s*DROP\s+TABLE\s+(?P<if>IF\s+EXISTS\s+)?{_QUALIFIED}\s*;?\s*$", re.I | re.S)
_CREATE_TABLE = re.compile(
    rf"^\s*CREATE\s+(?:EXTERNAL\s+)?TABLE\s+(?P<if>IF\s+NOT\s+EXISTS\s+)?{_QUALIFIED}\s*(?P<rest>\(.*)$",
    re.I | re.S,
)
_PARTITIONED_BY = re.compile(r"^\s*(?:COMMENT\s+'[^']*'\s*)?PARTITIONED\s+BY\s*(?=\()", re.I)
_SHOW_PARTITIONS = re.compile(rf"^\s*SHOW\s+PARTITIONS\s+{_QUALIFIED}\s*;?\s*$", re.I)
_LOCATION = re.compile(r"LOCATION\s+'(?P<location>[^']*)'", re.I)
_STORED_AS = re.compile(r"STORED\s+AS\s+(?P<format>\w+)", re.I)
_TBLPROPERTIES = re.compile(r"TBLPROPERTIES\s*\((?P<props>.*)\)", re.I | re.S)

_PARQUET_STORAGE = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
}


class AthenaQueryError(Exception):
    """A statement Athena would refuse; the message is Athena's StateChangeReason."""


def unquote(name: str) -> str:
    name = name.strip()
    if name[:1] in '`"' and name[-1:] == name[:1]:
        return name[1:-1]
    return name.lower()


def split_qualified(name: str, default_database: str) -> tuple[str, str]:
    parts = [unquote(p) for p in re.findall(_NAME, name)]
    return (parts[0], parts[1]) if len(parts) == 2 else (default_database, parts[0])


@dataclass
class DdlResult:
    statement_type: str  # DDL or UTILITY, as GetQueryExecution reports it
    rows: list[list[str]] = field(default_factory=list)  # SHOW output, one column


def is_ddl(sql: str) -> bool:
    return bool(re.match(r"^\s*(ALTER|CREATE|DROP|SHOW|MSCK|DESCRIBE)\b", sql, re.I))


def run_ddl(glue: Any, sql: str, database: str) -> DdlResult:
    """Apply one DDL statement to the Glue catalog (a boto3 Glue client)."""
    statement = sql.strip().rstrip(";")
    for pattern, action in (
        (_ALTER_ADD, _add_partitions),
        (_ALTER_DROP, _drop_partitions),
        (_DROP_TABLE, _drop_table),
        (_CREATE_TABLE, _create_table),
        (_SHOW_PARTITIONS, _show_partitions),
    ):
        match = pattern.match(statement)
        if match:
            db, table = split_qualified(match.group("name"), database)
            return action(glue, db, table, match)
    if re.match(r"^\s*MSCK\s+REPAIR", statement, re.I):
        raise AthenaQueryError(
            "MSCK REPAIR TABLE is not emulated: register partitions with ALTER TABLE ADD PARTITION"
        )
    raise AthenaQueryError(f"line 1:1: statement not supported by the local Athena: {statement[:80]}")


def _get_table(glue: Any, database: str, table: str) -> dict[str, Any]:
    try:
        return dict(glue.get_table(DatabaseName=database, Name=table)["Table"])
    except glue.exceptions.EntityNotFoundException:
        raise AthenaQueryError(
            f"FAILED: SemanticException [Error 10001]: Table not found {database}.{table}"
        ) from None


def _partition_specs(table: dict[str, Any], rest: str) -> list[tuple[list[str], str | None]]:
    keys = [k["Name"].lower() for k in table.get("PartitionKeys", [])]
    specs = []
    for match in _PARTITION_SPEC.finditer(rest):
        values: dict[str, str] = {}
        for pair in _KEY_VALUE.finditer(match.group("spec")):
            value = pair.group("quoted")
            values[unquote(pair.group("key"))] = (
                value.replace("''", "'") if value is not None else pair.group("bare")
            )
        if sorted(values) != sorted(keys):
            raise AthenaQueryError(
                f"FAILED: ValidationException: partition spec {sorted(values)} does not match the "
                f"partition keys {keys} of {table['Name']}"
            )
        specs.append(([values[k] for k in keys], match.group("location")))
    if not specs:
        raise AthenaQueryError("line 1:1: mismatched input: a PARTITION (...) clause is expected")
    return specs


def _add_partitions(glue: Any, database: str, name: str, match: re.Match[str]) -> DdlResult:
    table = _get_table(glue, database, name)
    keys = [k["Name"] for k in table.get("PartitionKeys", [])]
    storage = dict(table.get("StorageDescriptor", {}))
    base = storage.get("Location", "").rstrip("/")
    for values, location in _partition_specs(table, match.group("rest")):
        default_location = base + "/" + "/".join(f"{k}={v}" for k, v in zip(keys, values, strict=True)) + "/"
        partition = {
            "Values": values,
            "StorageDescriptor": {**storage, "Location": location or default_location},
        }
        try:
            glue.create_partition(DatabaseName=database, TableName=name, PartitionInput=partition)
        except glue.exceptions.AlreadyExistsException:
            if not match.group("if"):
                raise AthenaQueryError("FAILED: AlreadyExistsException: Partition already exists.") from None
    return DdlResult("DDL")


def _drop_partitions(glue: Any, database: str, name: str, match: re.Match[str]) -> DdlResult:
    table = _get_table(glue, database, name)
    for values, _ in _partition_specs(table, match.group("rest")):
        try:
            glue.delete_partition(DatabaseName=database, TableName=name, PartitionValues=values)
        except glue.exceptions.EntityNotFoundException:
            if not match.group("if"):
                raise AthenaQueryError(
                    f"FAILED: SemanticException: partition {values} does not exist"
                ) from None
    return DdlResult("DDL")


def _drop_table(glue: Any, database: str, name: str, match: re.Match[str]) -> DdlResult:
    try:
        glue.delete_table(DatabaseName=database, Name=name)
    except glue.exceptions.EntityNotFoundException:
        if not match.group("if"):
            raise AthenaQueryError(
                f"FAILED: SemanticException [Error 10001]: Table not found {database}.{name}"
            ) from None
    return DdlResult("DDL")


def _columns(text: str | None) -> list[dict[str, str]]:
    if not text:
        return []
    columns = []
    depth, current = 0, ""
    for char in text + ",":  # split on commas outside decimal(p,s) and struct<...>
        if char in "(<":
            depth += 1
        elif char in ")>":
            depth -= 1
        if char == "," and depth == 0:
            if current.strip():
                name, _, rest = current.strip().partition(" ")
                column_type = re.sub(r"\s+COMMENT\s+'.*'$", "", rest.strip(), flags=re.I)
                columns.append({"Name": unquote(name), "Type": column_type.lower().replace(" ", "")})
            current = ""
        else:
            current += char
    return columns


def _balanced(text: str) -> tuple[str, str]:
    """The inside of the parenthesis `text` starts with, and what follows it."""
    depth = 0
    for index, char in enumerate(text):
        depth += char == "("
        depth -= char == ")"
        if depth == 0:
            return text[1:index], text[index + 1 :]
    raise AthenaQueryError("line 1:1: mismatched input: unbalanced parentheses")


def _create_table(glue: Any, database: str, name: str, match: re.Match[str]) -> DdlResult:
    column_text, rest = _balanced(match.group("rest"))
    partition_text = None
    partitioned = _PARTITIONED_BY.match(rest)
    if partitioned:
        partition_text, rest = _balanced(rest[partitioned.end() :])
    location = _LOCATION.search(rest)
    stored = _STORED_AS.search(rest)
    if stored and stored.group("format").upper() != "PARQUET":
        raise AthenaQueryError(f"only STORED AS PARQUET tables are emulated, not {stored.group('format')}")
    parameters = {"classification": "parquet", "EXTERNAL": "TRUE"}
    properties = _TBLPROPERTIES.search(rest)
    if properties:
        for key, value in re.findall(r"'([^']*)'\s*=\s*'([^']*)'", properties.group("props")):
            parameters[key] = value
    table_input = {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": parameters,
        "PartitionKeys": _columns(partition_text),
        "StorageDescriptor": {
            "Columns": _columns(column_text),
            "Location": location.group("location") if location else "",
            **_PARQUET_STORAGE,
        },
    }
    try:
        glue.create_table(DatabaseName=database, TableInput=table_input)
    except glue.exceptions.AlreadyExistsException:
        if not match.group("if"):
            raise AthenaQueryError(
                f"FAILED: AlreadyExistsException: Table {database}.{name} already exists"
            ) from None
    except glue.exceptions.EntityNotFoundException:
        raise AthenaQueryError(f"FAILED: SemanticException: Database does not exist: {database}") from None
    return DdlResult("DDL")


def _show_partitions(glue: Any, database: str, name: str, match: re.Match[str]) -> DdlResult:
    table = _get_table(glue, database, name)
    keys = [k["Name"] for k in table.get("PartitionKeys", [])]
    rows = []
    for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=name):
        for partition in page["Partitions"]:
            rows.append(["/".join(f"{k}={v}" for k, v in zip(keys, partition["Values"], strict=True))])
    return DdlResult("UTILITY", sorted(rows))
