"""The Glue Workflow variant's publish step (templates/glue-workflow.yaml, PublishJob, a Python shell
job started by the conditional trigger once the transform step SUCCEEDED): for each run of the
workflow run (run property `tributary:runs`, written by transform_step.py), create or update the
dataset's table from the `table-input.json` the step wrote (the contract's table, as the Step Functions
pipeline's catalog function makes it) and register exactly the partitions the run wrote (`partitions`
of its result.json) with BatchCreatePartition: no crawler, no MSCK REPAIR. A partition that already
exists (a batch published again) is left as it is.

Python 3.9 and boto3 only (Glue Python shell).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workflow_common as common

ARGUMENTS = ("WORKFLOW_NAME", "WORKFLOW_RUN_ID", "database")
PARTITIONS_PER_CALL = 100  # BatchCreatePartition's limit


def sync_table(glue: Any, database: str, table_input: dict[str, Any]) -> str:
    """created | updated | unchanged; UpdateTable keeps the partitions."""
    try:
        current = glue.get_table(DatabaseName=database, Name=table_input["Name"])["Table"]
    except glue.exceptions.EntityNotFoundException:
        glue.create_table(DatabaseName=database, TableInput=table_input)
        return "created"
    same = (
        current.get("StorageDescriptor", {}).get("Columns") == table_input["StorageDescriptor"]["Columns"]
        and current.get("PartitionKeys") == table_input["PartitionKeys"]
    )
    if same:
        return "unchanged"
    glue.update_table(DatabaseName=database, TableInput=table_input)
    return "updated"


def partition_inputs(table_input: dict[str, Any], partitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = [key["Name"] for key in table_input["PartitionKeys"]]
    inputs = []
    for entry in partitions:
        descriptor = dict(table_input["StorageDescriptor"])
        descriptor["Location"] = entry["location"]
        inputs.append(
            {"Values": [str(entry["values"][key]) for key in keys], "StorageDescriptor": descriptor}
        )
    return inputs


def register(glue: Any, database: str, table: str, inputs: list[dict[str, Any]]) -> int:
    """BatchCreatePartition in calls of at most 100; the partitions created (existing ones are kept)."""
    created = 0
    for start in range(0, len(inputs), PARTITIONS_PER_CALL):
        chunk = inputs[start : start + PARTITIONS_PER_CALL]
        errors = glue.batch_create_partition(
            DatabaseName=database, TableName=table, PartitionInputList=chunk
        ).get("Errors", [])
        real = [e for e in errors if e.get("ErrorDetail", {}).get("ErrorCode") != "AlreadyExistsException"]
        if real:
            raise RuntimeError(
                f"BatchCreatePartition refused {len(real)} partitions of {table}: {real[0]['ErrorDetail']}"
            )
        created += len(chunk) - len(errors)
    return created


def main(argv: list[str] | None = None, clients: Callable[[str], Any] | None = None) -> int:
    args = common.job_arguments(sys.argv[1:] if argv is None else argv, ARGUMENTS)
    client = clients or common.client
    glue, s3 = client("glue"), client("s3")
    properties = glue.get_workflow_run_properties(Name=args["WORKFLOW_NAME"], RunId=args["WORKFLOW_RUN_ID"])[
        "RunProperties"
    ]
    runs = json.loads(properties.get(common.RUNS_PROPERTY, "[]"))
    for run in runs:
        if run.get("accepted") == "0":
            continue
        table_input = common.read_json(s3, run["table_input_uri"])
        result = common.read_json(s3, run["result_uri"])
        table_state = sync_table(glue, args["database"], table_input)
        created = register(
            glue, args["database"], table_input["Name"], partition_inputs(table_input, result["partitions"])
        )
        common.log(
            "run published",
            run_id=run["run_id"],
            table=table_input["Name"],
            table_state=table_state,
            partitions=len(result["partitions"]),
            created=created,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
