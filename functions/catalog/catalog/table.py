"""The Glue ``TableInput`` a contract describes: Parquet, partitioned by the contract's column and run_id."""

from typing import Any

from etl_common.contracts import Contract

PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"

# Glue's length limits for a column comment and a table description.
MAX_COMMENT = 255
MAX_DESCRIPTION = 2048

# Written by the Glue job next to the contract's columns (lineage of every row).
LINEAGE_COLUMNS = (
    ("source_object_key", "string", "Raw object key the row came from"),
    ("source_object_version", "string", "Version id (or ETag) of that raw object"),
    ("ingested_at", "timestamp", "When the run that wrote the row started"),
)


def hive_type(contract_type: str) -> str:
    """Contract types are named as in Hive/Athena DDL already (decimal(p,s) included)."""
    return contract_type


def table_input(contract: Contract, location: str) -> dict[str, Any]:
    columns = [
        {
            "Name": column.name,
            "Type": hive_type(column.type),
            "Comment": (column.description or "")[:MAX_COMMENT],
        }
        for column in contract.columns
    ]
    partitioning = contract.partitioning
    columns += [{"Name": name, "Type": type_, "Comment": comment} for name, type_, comment in LINEAGE_COLUMNS]
    return {
        "Name": contract.dataset,
        "Description": contract.description[:MAX_DESCRIPTION],
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {
            "EXTERNAL": "TRUE",
            "classification": "parquet",
            "parquet.compression": "SNAPPY",
            "tributary.contract.format": contract.format,
        },
        # Both partition keys are strings: readers filter on them as text, and the run_id makes each
        # run's output a partition of its own (published atomically when the state machine adds it).
        "PartitionKeys": [
            {
                "Name": partitioning.column,
                "Type": "string",
                "Comment": f"from {partitioning.source}",
            },
            {"Name": "run_id", "Type": "string", "Comment": "Pipeline run (Step Functions execution name)"},
        ],
        "StorageDescriptor": {
            "Columns": columns,
            "Location": location,
            "InputFormat": PARQUET_INPUT_FORMAT,
            "OutputFormat": PARQUET_OUTPUT_FORMAT,
            "Compressed": True,
            "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE, "Parameters": {"serialization.format": "1"}},
        },
    }


def differs(current: dict[str, Any], desired: dict[str, Any]) -> bool:
    """Whether the table Glue holds lacks anything the contract asks for (Glue adds fields of its own)."""
    descriptor = current.get("StorageDescriptor", {})
    wanted = desired["StorageDescriptor"]
    parameters = current.get("Parameters", {})

    def columns(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [(item["Name"], item["Type"]) for item in items]

    return (
        columns(descriptor.get("Columns", [])) != columns(wanted["Columns"])
        or columns(current.get("PartitionKeys", [])) != columns(desired["PartitionKeys"])
        or descriptor.get("Location") != wanted["Location"]
        or descriptor.get("SerdeInfo", {}).get("SerializationLibrary") != PARQUET_SERDE
        or any(parameters.get(key) != value for key, value in desired["Parameters"].items())
        or current.get("Description", "") != desired["Description"]
    )
