"""The Glue Workflow variant's Spark step (templates/glue-workflow.yaml, TransformJob): one job run per
workflow run, started by the EVENT trigger with a batch of S3 "Object Created" events.

Glue passes a job of a workflow only `--WORKFLOW_NAME` and `--WORKFLOW_RUN_ID`; the batch is in the run
property `aws:eventIds` (the event ids only). The events themselves reach the rule's second target, the
workflow's SQS queue (`--events_queue_url`), where this step takes the ones of its batch by id. Then, per
dataset, exactly what the Step Functions pipeline does, with the same code:

1. the manifest of the dataset's objects (`trigger.logic`: classify, deterministic run id),
2. validation (`validate.logic.validate_run`: staged inputs, plan.json, validated.json, quarantine),
3. glue/transform.py's `main` with the arguments the state machine would give it,
4. the table the contract describes (`catalog.table.table_input`) written as `table-input.json` beside
   the run's documents, for the publish step,

and finally the run property `tributary:runs` (JSON: run id, dataset, result URI, table input URI per
run), which the publish step reads, and the queue messages of the batch are deleted. A failure leaves
them in the queue: they come back after the visibility timeout and the next run takes them, with the
same run ids (the transform replaces its own run_id= prefixes), so a retried batch publishes once.

Validation runs here, not in a Python shell job before this one, because Python shell jobs run
Python 3.9 and the functions' code is Python 3.11 (Glue 5.0's Python).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workflow_common as common

EVENT_IDS_PROPERTY = "aws:eventIds"
RECEIVE_ROUNDS = 10  # empty receives before the events of the batch not found are given up


def batch_event_ids(properties: dict[str, str]) -> list[str]:
    """The event ids of the batch: Glue's `aws:eventIds` (a JSON list, or a bare comma-separated list)."""
    text = properties.get(EVENT_IDS_PROPERTY, "")
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        value = [part.strip() for part in text.strip("[]").split(",")]
    return [str(item).strip().strip('"') for item in value if str(item).strip()]


def take_batch(
    sqs: Any, queue_url: str, wanted: Iterable[str]
) -> tuple[list[dict[str, Any]], list[str], set[str]]:
    """Receive the queue's messages until every wanted event is found, or RECEIVE_ROUNDS receives in a
    row found none of them: (events of the batch, their receipt handles, ids not found). Messages of
    other batches are held while looking and made visible again at the end, for their own runs."""
    missing = set(wanted)
    events: list[dict[str, Any]] = []
    handles: list[str] = []
    others: list[str] = []
    fruitless = 0
    try:
        while missing and fruitless < RECEIVE_ROUNDS:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                "Messages", []
            )
            fruitless += 1
            for message in messages:
                try:
                    event = json.loads(message["Body"])
                except ValueError:
                    event = {}
                event_id = event.get("id") if isinstance(event, dict) else None
                if event_id in missing:
                    missing.discard(event_id)
                    events.append(event)
                    handles.append(message["ReceiptHandle"])
                    fruitless = 0
                else:  # another batch's event (or a duplicate delivery): left to its own run
                    others.append(message["ReceiptHandle"])
    finally:
        for handle in others:
            sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return events, handles, missing


def prepare_runs(events: list[dict[str, Any]], args: dict[str, str], s3: Any) -> list[dict[str, str]]:
    """Manifest + validation per dataset of the batch: the arguments of each transform run."""
    from catalog.table import table_input
    from etl_common.artifacts import put_document, put_json
    from etl_common.contracts import load_contract
    from etl_common.models import ExecutionInput, Manifest
    from etl_common.s3_uri import curated_location, run_artifact_key
    from trigger.events import ObjectCreatedEvent
    from trigger.logic import Accepted, classify, group_by_dataset, run_id_for
    from validate.logic import validate_run

    contracts_dir = common.contracts_dir(args, s3)
    accepted: list[Accepted] = []
    for event in events:
        outcome = classify(
            ObjectCreatedEvent.model_validate(event),
            str(event.get("id", "")),
            contracts_dir=contracts_dir,
            raw_bucket=args["raw_bucket"],
        )
        if isinstance(outcome, Accepted):
            accepted.append(outcome)
        else:
            common.log("event skipped", reason=str(outcome.reason), key_length=len(outcome.key))
    artifacts, curated = args["artifacts_bucket"], args["curated_bucket"]
    runs = []
    for dataset, items in sorted(group_by_dataset(accepted).items()):
        objects = sorted((item.obj for item in items), key=lambda obj: (obj.key, obj.version or ""))
        run_id = run_id_for(dataset, objects)
        manifest = Manifest(
            run_id=run_id,
            dataset=dataset,
            created_at=max(obj.event_time for obj in objects),
            source="eventbridge",
            objects=objects,
        )
        manifest_uri = put_document(artifacts, run_artifact_key(run_id, "manifest.json"), manifest)
        contract = load_contract(dataset, contracts_dir)
        request = ExecutionInput(
            run_id=run_id, dataset=dataset, manifest_uri=manifest_uri, object_count=len(objects)
        )
        validated = validate_run(
            request, contract, s3=s3, artifacts_bucket=artifacts, reference_bucket=args["raw_bucket"]
        )
        table_uri = put_json(
            artifacts,
            run_artifact_key(run_id, "table-input.json"),
            table_input(contract, curated_location(curated, dataset)),
        )
        common.log("run validated", run_id=run_id, accepted=validated.accepted, rejected=validated.rejected)
        runs.append(
            {
                "run_id": run_id,
                "dataset": dataset,
                "accepted": str(validated.accepted),
                "rejected": str(validated.rejected),
                "manifest_uri": validated.validated_manifest_uri,
                "plan_uri": validated.plan_uri,
                "output_uri": curated_location(curated, dataset),
                "rejects_uri": f"s3://{artifacts}/rejects/{dataset}/run_id={run_id}/",
                "result_uri": f"s3://{artifacts}/runs/{run_id}/result.json",
                "table_input_uri": table_uri,
                "ingest_ts": manifest.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
    return runs


def transform_argv(run: dict[str, str], spark_path_prefix: str) -> list[str]:
    """glue/transform.py's arguments, as the state machine's RunTransformJob gives them."""
    argv = []
    for name in (
        "run_id",
        "manifest_uri",
        "plan_uri",
        "output_uri",
        "rejects_uri",
        "result_uri",
        "ingest_ts",
    ):
        argv += [f"--{name}", run[name]]
    if spark_path_prefix:
        argv += ["--spark_path_prefix", spark_path_prefix]
    return argv


def run_transforms(runs: list[dict[str, str]], spark_path_prefix: str, s3: Any) -> None:
    import transform  # glue/transform.py: --extra-py-files on AWS, the folder above this one locally

    with common.local_s3_bridge(spark_path_prefix, s3) as bridge:
        for run in runs:
            if run["accepted"] == "0":
                common.log("run has no accepted object: nothing to transform", run_id=run["run_id"])
                continue
            bridge.stage([run["manifest_uri"], run["plan_uri"]])
            code = transform.main(transform_argv(run, spark_path_prefix))
            bridge.publish([run["output_uri"], run["rejects_uri"], run["result_uri"].rsplit("/", 1)[0] + "/"])
            if code != 0:
                raise RuntimeError(
                    f"transform.py refused its arguments for run {run['run_id']} (exit {code})"
                )


def main(argv: list[str] | None = None, clients: Callable[[str], Any] | None = None) -> int:
    common.use_repository_code()
    import transform  # glue/transform.py: --extra-py-files on AWS, the folder above this one locally

    args = transform.parse_glue_args(sys.argv[1:] if argv is None else argv)
    client = clients or common.client
    glue, sqs, s3 = client("glue"), client("sqs"), client("s3")
    started = time.monotonic()
    workflow, workflow_run = args["WORKFLOW_NAME"], args["WORKFLOW_RUN_ID"]
    properties = glue.get_workflow_run_properties(Name=workflow, RunId=workflow_run)["RunProperties"]
    wanted = batch_event_ids(properties)
    events, handles, missing = take_batch(sqs, args["events_queue_url"], wanted)
    common.log("batch received", events=len(wanted), found=len(events), missing=len(missing))
    runs = prepare_runs(events, args, s3)
    run_transforms(runs, args.get("spark_path_prefix", ""), s3)
    glue.put_workflow_run_properties(
        Name=workflow,
        RunId=workflow_run,
        RunProperties={
            common.RUNS_PROPERTY: json.dumps(
                [
                    {
                        k: run[k]
                        for k in (
                            "run_id",
                            "dataset",
                            "accepted",
                            "rejected",
                            "result_uri",
                            "table_input_uri",
                        )
                    }
                    for run in runs
                ]
            ),
            "tributary:missingEventIds": json.dumps(sorted(missing)),
        },
    )
    for handle in handles:  # only now: a failed step leaves its events to the next run
        sqs.delete_message(QueueUrl=args["events_queue_url"], ReceiptHandle=handle)
    common.log("step finished", runs=len(runs), seconds=round(time.monotonic() - started, 3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
