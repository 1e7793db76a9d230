"""Athena on the local catalog: DDL on moto's Glue catalog, SELECT with DuckDB over Parquet in moto's S3.

A SELECT sees a catalogued table through its registered partitions only (the files under each
partition's location), as Athena does: data a run wrote but did not register stays invisible.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import hashlib
import io
import re
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from tributary.local.runtimes.athena_ddl import AthenaQueryError, DdlResult, is_ddl, run_ddl, split_qualified

_DUCKDB_TYPES = {
    "string": "VARCHAR",
    "varchar": "VARCHAR",
    "char": "VARCHAR",
    "int": "INTEGER",
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "smallint": "SMALLINT",
    "tinyint": "TINYINT",
    "double": "DOUBLE",
    "float": "FLOAT",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "binary": "BLOB",
}
# DuckDB result type → Athena's ColumnInfo type name.
_ATHENA_TYPES = {
    "VARCHAR": "varchar",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "HUGEINT": "bigint",
    "SMALLINT": "smallint",
    "TINYINT": "tinyint",
    "DOUBLE": "double",
    "FLOAT": "float",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "BLOB": "varbinary",
}


def parse_s3_uri(uri: str) -> tuple[str, str]:
    match = re.match(r"^s3a?://([^/]+)/?(.*)$", uri)
    if not match:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    return match.group(1), match.group(2)


@dataclass
class QueryExecution:
    id: str
    query: str
    database: str
    workgroup: str
    output_location: str
    state: str = "QUEUED"
    statement_type: str = "DML"
    reason: str = ""
    submitted: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    completed: dt.datetime | None = None
    columns: list[tuple[str, str, int, int]] = field(default_factory=list)  # name, type, precision, scale
    rows: list[list[str | None]] = field(default_factory=list)
    scanned_bytes: int = 0

    def describe(self) -> dict[str, Any]:
        """GetQueryExecution's QueryExecution."""
        status: dict[str, Any] = {"State": self.state, "SubmissionDateTime": self.submitted}
        if self.completed:
            status["CompletionDateTime"] = self.completed
        if self.reason:
            status["StateChangeReason"] = self.reason
        if self.state == "FAILED":
            status["AthenaError"] = {
                "ErrorCategory": 2,
                "ErrorType": 1100,
                "Retryable": False,
                "ErrorMessage": self.reason,
            }
        elapsed = int(((self.completed or self.submitted) - self.submitted).total_seconds() * 1000)
        return {
            "QueryExecutionId": self.id,
            "Query": self.query,
            "StatementType": self.statement_type,
            "ResultConfiguration": {"OutputLocation": self.output_location},
            "QueryExecutionContext": {"Database": self.database, "Catalog": "AwsDataCatalog"},
            "Status": status,
            "Statistics": {
                "EngineExecutionTimeInMillis": elapsed,
                "DataScannedInBytes": self.scanned_bytes,
                "TotalExecutionTimeInMillis": elapsed,
                "QueryQueueTimeInMillis": 0,
            },
            "WorkGroup": self.workgroup,
            "EngineVersion": {
                "SelectedEngineVersion": "AUTO",
                "EffectiveEngineVersion": "Athena engine version 3",
            },
        }

    def results(self, next_token: str | None = None, max_results: int = 1000) -> dict[str, Any]:
        """GetQueryResults: the header row first (for SELECT), then the data, paged."""
        header = [[name for name, *_ in self.columns]] if self.statement_type == "DML" else []
        rows = header + self.rows
        start = int(next_token or 0)
        page = rows[start : start + max_results]
        response: dict[str, Any] = {
            "ResultSet": {
                "Rows": [
                    {"Data": [{"VarCharValue": v} if v is not None else {} for v in row]} for row in page
                ],
                "ResultSetMetadata": {
                    "ColumnInfo": [
                        {
                            "CatalogName": "hive",
                            "SchemaName": "",
                            "TableName": "",
                            "Name": name,
                            "Label": name,
                            "Type": column_type,
                            "Precision": precision,
                            "Scale": scale,
                            "Nullable": "UNKNOWN",
                            "CaseSensitive": column_type == "varchar",
                        }
                        for name, column_type, precision, scale in self.columns
                    ]
                },
            },
            "UpdateCount": 0,
        }
        if start + max_results < len(rows):
            response["NextToken"] = str(start + max_results)
        return response


class AthenaRuntime:
    """StartQueryExecution / GetQueryExecution / GetQueryResults / StopQueryExecution, locally.

    `clients(service)` returns a boto3 client for moto (glue, s3, athena).
    """

    def __init__(self, client_factory: Any, cache_dir: Path | None = None) -> None:
        self._client = client_factory
        self._executions: dict[str, QueryExecution] = {}
        self._lock = threading.Lock()
        self._cache_holder = None if cache_dir else tempfile.TemporaryDirectory(prefix="tributary-athena-")
        self.cache_dir = cache_dir or Path(self._cache_holder.name)  # type: ignore[union-attr]
        self.cache_dir.mkdir(parents=True, exist_ok=True)

    # -- API ---------------------------------------------------------------------------------------
    def start_query_execution(
        self,
        QueryString: str,
        QueryExecutionContext: dict[str, str] | None = None,
        WorkGroup: str = "primary",
        ResultConfiguration: dict[str, Any] | None = None,
        **_: Any,
    ) -> dict[str, str]:
        database = (QueryExecutionContext or {}).get("Database", "default")
        output = (ResultConfiguration or {}).get("OutputLocation") or self._workgroup_output(WorkGroup)
        if not output:
            raise AthenaQueryError(
                "No output location provided. An output location is required either through the Workgroup "
                "result configuration setting or as an API input."
            )
        execution = QueryExecution(str(uuid.uuid4()), QueryString, database, WorkGroup, "")
        suffix = "txt" if is_ddl(QueryString) else "csv"
        execution.output_location = f"{output.rstrip('/')}/{execution.id}.{suffix}"
        with self._lock:
            self._executions[execution.id] = execution
        # Run now: local queries take milliseconds and callers poll GetQueryExecution anyway.
        self._run(execution)
        return {"QueryExecutionId": execution.id}

    def get_query_execution(self, QueryExecutionId: str, **_: Any) -> dict[str, Any]:
        return {"QueryExecution": self._execution(QueryExecutionId).describe()}

    def get_query_results(
        self, QueryExecutionId: str, NextToken: str | None = None, MaxResults: int = 1000, **_: Any
    ) -> dict[str, Any]:
        execution = self._execution(QueryExecutionId)
        if execution.state != "SUCCEEDED":
            raise AthenaQueryError(f"Query has not yet finished. Current state: {execution.state}")
        return execution.results(NextToken, MaxResults)

    def stop_query_execution(self, QueryExecutionId: str, **_: Any) -> dict[str, Any]:
        execution = self._execution(QueryExecutionId)
        if execution.state in ("QUEUED", "RUNNING"):
            execution.state = "CANCELLED"
        return {}

    def _execution(self, execution_id: str) -> QueryExecution:
        with self._lock:
            execution = self._executions.get(execution_id)
        if execution is None:
            raise AthenaQueryError(f"QueryExecution {execution_id} was not found")
        return execution

    def _workgroup_output(self, workgroup: str) -> str:
        try:
            group = self._client("athena").get_work_group(WorkGroup=workgroup)["WorkGroup"]
        except Exception:
            return ""
        return str(group.get("Configuration", {}).get("ResultConfiguration", {}).get("OutputLocation", ""))

    # -- execution ---------------------------------------------------------------------------------
    def _run(self, execution: QueryExecution) -> None:
        execution.state = "RUNNING"
        try:
            if is_ddl(execution.query):
                result: DdlResult = run_ddl(self._client("glue"), execution.query, execution.database)
                execution.statement_type = result.statement_type
                execution.rows = [list(row) for row in result.rows]
                if result.rows:
                    execution.columns = [("partition", "varchar", 0, 0)]
            else:
                self._select(execution)
            self._write_results(execution)
            execution.state = "SUCCEEDED"
        except AthenaQueryError as exc:
            execution.state, execution.reason = "FAILED", str(exc)
        except duckdb.Error as exc:
            execution.state, execution.reason = "FAILED", _athena_message(exc)
        execution.completed = dt.datetime.now(dt.UTC)

    def _select(self, execution: QueryExecution) -> None:
        connection = duckdb.connect()
        try:
            tables = _referenced_tables(execution.query, execution.database)
            for database, table in sorted(tables):
                execution.scanned_bytes += self._register_view(connection, database, table)
            if any(db == execution.database for db, _ in tables):
                connection.execute(f'SET schema = "{execution.database}"')
            cursor = connection.execute(execution.query)
            description = cursor.description or []
            execution.columns = [
                _column_info(_athena_name(name, index), column_type)
                for index, (name, column_type, *_) in enumerate(description)
            ]
            execution.rows = [[_varchar(value) for value in row] for row in cursor.fetchall()]
        finally:
            connection.close()

    def _register_view(self, connection: duckdb.DuckDBPyConnection, database: str, name: str) -> int:
        glue = self._client("glue")
        try:
            table = glue.get_table(DatabaseName=database, Name=name)["Table"]
        except glue.exceptions.EntityNotFoundException:
            raise AthenaQueryError(
                f"TABLE_NOT_FOUND: line 1:1: Table 'awsdatacatalog.{database}.{name}' does not exist"
            ) from None
        columns = table.get("StorageDescriptor", {}).get("Columns", [])
        keys = table.get("PartitionKeys", [])
        selects: list[str] = []
        scanned = 0
        if keys:
            partitions = []
            for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=name):
                partitions.extend(page["Partitions"])
            for partition in partitions:
                files, size = self._fetch(partition["StorageDescriptor"]["Location"])
                scanned += size
                if files:
                    constants = [
                        f'CAST({_literal(value)} AS {_duckdb_type(key["Type"])}) AS "{key["Name"]}"'
                        for key, value in zip(keys, partition["Values"], strict=True)
                    ]
                    selects.append(_select_files(files, columns, constants))
        else:
            files, scanned = self._fetch(table.get("StorageDescriptor", {}).get("Location", ""))
            if files:
                selects.append(_select_files(files, columns, []))
        if not selects:  # no data yet: the table's columns, no rows
            typed = [f'CAST(NULL AS {_duckdb_type(c["Type"])}) AS "{c["Name"]}"' for c in [*columns, *keys]]
            selects.append(f"SELECT {', '.join(typed)} WHERE false")
        connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{database}"')
        connection.execute(
            f'CREATE OR REPLACE VIEW "{database}"."{name}" AS ' + " UNION ALL BY NAME ".join(selects)
        )
        return scanned

    def _fetch(self, location: str) -> tuple[list[Path], int]:
        """The Parquet files under an S3 prefix, downloaded once (cached by ETag)."""
        if not location:
            return [], 0
        bucket, prefix = parse_s3_uri(location)
        prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        s3 = self._client("s3")
        files, total = [], 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                # Hidden and marker files are skipped, as Athena skips names starting with _ or .
                if key.endswith("/") or Path(key).name.startswith(("_", ".")):
                    continue
                digest = hashlib.sha256(f"{bucket}/{key}/{item['ETag']}".encode()).hexdigest()[:32]
                local = self.cache_dir / f"{digest}.parquet"
                if not local.exists():
                    partial = local.with_suffix(".part")
                    s3.download_file(bucket, key, str(partial))
                    partial.rename(local)
                files.append(local)
                total += int(item["Size"])
        return files, total

    def _write_results(self, execution: QueryExecution) -> None:
        bucket, key = parse_s3_uri(execution.output_location)
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
        if execution.statement_type == "DML":
            writer.writerow([name for name, *_ in execution.columns])
            writer.writerows([["" if v is None else v for v in row] for row in execution.rows])
        else:
            buffer.write("".join(f"{row[0]}\n" for row in execution.rows))
        try:
            self._client("s3").put_object(Bucket=bucket, Key=key, Body=buffer.getvalue().encode())
        except Exception as exc:
            raise AthenaQueryError(
                f"Unable to write query results to {execution.output_location}: {exc}"
            ) from exc

    def close(self) -> None:
        if self._cache_holder is not None:
            self._cache_holder.cleanup()


def _referenced_tables(sql: str, default_database: str) -> set[tuple[str, str]]:
    try:
        names = duckdb.get_table_names(sql, qualified=True)
    except duckdb.Error as exc:
        raise AthenaQueryError(_athena_message(exc)) from exc
    tables = set()
    for qualified in names:
        qualified = re.split(r"\s+AS\s+", qualified, flags=re.I)[0]
        parts = [p for p in re.findall(r'"[^"]+"|`[^`]+`|[^."`\s]+', qualified)]
        if len(parts) >= 3:  # awsdatacatalog.db.table
            parts = parts[-2:]
        tables.add(split_qualified(".".join(parts), default_database))
    return tables


def _select_files(files: list[Path], columns: list[dict[str, str]], constants: list[str]) -> str:
    paths = ", ".join(_literal(str(f)) for f in files)
    selected = [f'"{c["Name"]}"' for c in columns] or ["*"]
    return f"SELECT {', '.join([*selected, *constants])} FROM read_parquet([{paths}], union_by_name = true)"


def _athena_name(name: str, index: int) -> str:
    # Athena names an unaliased expression _col<i>; DuckDB names it by its text (count_star()).
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else f"_col{index}"


def _duckdb_type(hive_type: str) -> str:
    hive_type = hive_type.lower().strip()
    if hive_type.startswith("decimal"):
        return hive_type.upper()
    if hive_type.startswith(("varchar", "char")):
        return "VARCHAR"
    return _DUCKDB_TYPES.get(hive_type, "VARCHAR")


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _column_info(name: str, duckdb_type: Any) -> tuple[str, str, int, int]:
    type_name = str(duckdb_type)
    decimal_match = re.match(r"DECIMAL\((\d+),\s*(\d+)\)", type_name)
    if decimal_match:
        return name, "decimal", int(decimal_match.group(1)), int(decimal_match.group(2))
    base = type_name.split("(")[0]
    if base.startswith("TIMESTAMP"):
        base = "TIMESTAMP"
    athena = _ATHENA_TYPES.get(base, type_name.lower())
    precision = {"integer": 10, "bigint": 19, "double": 17, "varchar": 2147483647, "boolean": 0}.get(
        athena, 0
    )
    return name, athena, precision, 0


def _varchar(value: Any) -> str | None:
    """A value as GetQueryResults' VarCharValue prints it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    return str(value)


def _athena_message(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return (
        f"SYNTAX_ERROR: {text}"
        if isinstance(exc, duckdb.ParserException)
        else f"GENERIC_INTERNAL_ERROR: {text}"
    )
