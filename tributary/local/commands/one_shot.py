"""`tributary run FILE...`: upload files to a local stack's raw bucket, follow the runs they start,
and gather one report per run (plus the uploads that started none)."""

from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import ClientError

from tributary.local.delivery.event_source_mapping import BatchRecord
from tributary.local.session import StackInfo, execution_history, run_documents
from tributary.local.stack import LocalStack
from tributary.local.views import report as reports
from tributary.local.views.progress import ProgressTracker, glue_detail

_DATASET = re.compile(r"^[a-z][a-z0-9_]*")


def dataset_of(path: Path, known: list[str]) -> str:
    """The dataset a file belongs to: the longest contract name its file name starts with."""
    name = path.name.lower()
    matches = [d for d in known if name.startswith(d) and name[len(d) : len(d) + 1] in ("", "-", "_", ".")]
    if matches:
        return max(matches, key=len)
    found = _DATASET.match(name)
    return found.group(0).split("_")[0] if found else "unknown"


@dataclass
class Snapshot:
    """What a stack had done before some uploads: their runs are the ones that came after."""

    executions: set[str]
    batches: list[int]  # batch records per event source mapping


@dataclass
class Upload:
    path: Path
    key: str
    version_id: str | None


@dataclass
class OneShotResult:
    reports: list[reports.RunReport]
    skipped: list[tuple[Upload, str]] = field(default_factory=list)  # uploads that started no run
    timed_out: bool = False

    @property
    def exit_code(self) -> int:
        if self.skipped or self.timed_out:
            return 1
        return reports.exit_code(self.reports)

    def to_json(self) -> str:
        """A JSON array with one report per run; an upload that started no run is an entry of its own
        with status SKIPPED (and TIMED_OUT entries for uploads still waiting at the deadline)."""
        entries = [reports.report_dict(r) for r in self.reports]
        for item, why in self.skipped:
            status = "TIMED_OUT" if self.timed_out else "SKIPPED"
            entries.append(
                {
                    "run_id": None,
                    "status": status,
                    "dataset": item.key.split("/")[1] if item.key.count("/") >= 2 else None,
                    "objects": [
                        {"key": item.key, "outcome": "skipped", "reason": why, "version_id": item.version_id}
                    ],
                    "rows_in": None,
                    "rows_out": None,
                    "rows_rejected": None,
                    "partitions": [],
                    "outputs": [],
                }
            )
        return json.dumps(entries, indent=2, default=str, ensure_ascii=False)


# A file in a folder of this name is reference (master) data a contract names (references: key
# reference/<file name>): uploaded first, to reference/ in the raw bucket, and followed by no run.
REFERENCE_FOLDER = "reference"


def is_reference(path: Path) -> bool:
    return path.parent.name == REFERENCE_FOLDER


def upload(stack: LocalStack, files: list[Path], dataset: str | None) -> list[Upload]:
    """Upload the files; return the data uploads (reference files are uploaded first and not returned)."""
    contracts = sorted(p.stem for p in (stack.options.root / "contracts").glob("*.yaml"))
    s3 = stack.aws.client("s3")
    bucket = stack.physical_id("RawBucket")
    for path in filter(is_reference, files):
        with path.open("rb") as body:
            s3.put_object(Bucket=bucket, Key=f"{REFERENCE_FOLDER}/{path.name}", Body=body)
    done = []
    for path in [path for path in files if not is_reference(path)]:
        key = f"incoming/{dataset or dataset_of(path, contracts)}/{path.name}"
        with path.open("rb") as body:
            response = s3.put_object(Bucket=bucket, Key=key, Body=body)
        done.append(Upload(path, key, response.get("VersionId")))
    return done


def skipped_objects(logs: str) -> dict[str, str]:
    """Object key → why the trigger skipped it, from its structured log lines ("Object skipped")."""
    skipped: dict[str, str] = {}
    for line in logs.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("key") and "skip" in str(entry.get("message", "")).lower():
            skipped[str(entry["key"])] = str(entry.get("reason") or entry.get("message"))
    return skipped


def follow(
    stack: LocalStack,
    uploads: list[Upload],
    *,
    timeout: float = 600.0,
    out: TextIO = sys.stderr,
    color: bool = False,
    poll: float = 0.25,
    progress: bool = True,
    earlier: Snapshot | None = None,
) -> OneShotResult:
    """Follow the runs the uploads start; `earlier` is what existed before them."""
    info = StackInfo.of(stack)
    sfn = info.client("stepfunctions")
    s3, dynamodb = stack.aws.client("s3"), stack.aws.client("dynamodb")
    trackers: dict[str, ProgressTracker] = {}
    finished: set[str] = set()
    deadline = time.monotonic() + timeout
    expected = len(uploads)

    before = earlier or Snapshot(set(), [0] * len(stack.mappings))

    def new_batches() -> list[BatchRecord]:
        return [b for m, seen in zip(stack.mappings, before.batches, strict=True) for b in m.batches[seen:]]

    def triggered() -> int:
        return sum(len(batch.message_ids) - len(batch.failed_ids) for batch in new_batches())

    def say(line: str) -> None:
        if progress:
            print(line, file=out, flush=True)

    timed_out = False
    while True:
        executions = [
            e
            for e in sfn.list_executions(stateMachineArn=info.state_machine_arn)["executions"]
            if e["executionArn"] not in before.executions
        ]
        for summary in executions:
            arn = summary["executionArn"]
            if arn in finished:
                continue
            tracker = trackers.setdefault(arn, ProgressTracker(color=color))
            label = summary["name"]
            for line in tracker.feed(execution_history(sfn, arn)):
                say(f"{label}  {line}")
            now = datetime.now(UTC)  # a long state: its elapsed time, a Glue job's Spark stages
            for line in tracker.still_running(now, detail=glue_detail(stack.glue, now)):
                say(f"{label}  {line}")
            if tracker.status != "RUNNING":
                finished.add(arn)
        if triggered() >= expected and executions and len(finished) == len(executions):
            break
        if triggered() >= expected and not executions:
            break
        if time.monotonic() > deadline:
            timed_out = True
            break
        time.sleep(poll)

    result = OneShotResult([], timed_out=timed_out)
    manifests: list[Any] = []
    _await_costs(stack, dynamodb, info.runs_table, sfn, sorted(trackers))
    for arn in sorted(trackers):
        history = execution_history(sfn, arn)
        described = sfn.describe_execution(executionArn=arn)
        run_id = json.loads(described.get("input") or "{}").get("run_id", described["name"])
        documents = run_documents(info, run_id, s3, dynamodb)
        manifests.append(documents["manifest"])
        extra = quarantine_documents(s3, info.artifacts_bucket, run_id, documents)
        result.reports.append(
            reports.build_report(
                documents["run_record"],
                result=documents["result"],
                rejected=documents["rejected"],
                history=history,
                manifest=documents["manifest"],
                failed_objects=extra["failed_objects"],
                copies=extra["copies"],
            )
        )
    skipped = skipped_objects("\n".join(batch.logs for batch in new_batches()))
    for item in uploads_without_run(uploads, manifests):
        reason = skipped.get(item.key) or "no run started (see the trigger's logs)"
        result.skipped.append((item, reason))
    return result


def _await_costs(
    stack: Any, dynamodb: Any, table: str, sfn: Any, arns: list[str], seconds: float = 20.0
) -> None:
    """Give the run-cost function (invoked once an execution has ended) a moment to set each run's
    `cost`, when the stack has a rule for ended executions; a report without it says so."""
    if not any("aws.states" in rule.pattern for rule in stack.bus.rules):
        return
    run_ids = []
    for arn in arns:
        described = sfn.describe_execution(executionArn=arn)
        run_ids.append(json.loads(described.get("input") or "{}").get("run_id", described["name"]))
    deadline = time.monotonic() + seconds
    for run_id in run_ids:
        while time.monotonic() < deadline:
            item = dynamodb.get_item(TableName=table, Key={"run_id": {"S": run_id}}).get("Item") or {}
            if "cost" in item:
                break
            time.sleep(0.2)


def uploads_without_run(uploads: list[Upload], manifests: list[Any]) -> list[Upload]:
    """The uploads that no run's manifest lists, by key and version (a key uploaded twice is two)."""
    in_runs: set[tuple[str, str | None]] = set()
    for manifest in manifests:
        for obj in (manifest or {}).get("objects", []):
            in_runs.update({(obj.get("key", ""), obj.get("version_id")), (obj.get("key", ""), None)})
    return [item for item in uploads if (item.key, item.version_id) not in in_runs]


def _get_json(s3: Any, bucket: str, key: str) -> Any:
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except (ClientError, ValueError):
        return None


def quarantine_documents(
    s3: Any, artifacts_bucket: str, run_id: str, documents: dict[str, Any]
) -> dict[str, Any]:
    """What the report needs beyond `run_documents`: runs/<run_id>/failed-objects.json (None when the job
    wrote none) and the run's quarantine copies, by (key, version), read from their `.reason.json`."""
    failed = _get_json(s3, artifacts_bucket, f"runs/{run_id}/failed-objects.json")
    record = reports.plain_item(documents.get("run_record") or {})
    rejected = documents.get("rejected")
    dataset = (
        record.get("dataset")
        or (rejected or {}).get("dataset")
        or (documents.get("result") or {}).get("dataset")
    )
    # Every copy of the run is under one prefix: validate's refusals, the job's left-outs, a failed run's.
    prefix = f"s3://{artifacts_bucket}/quarantine/{dataset}/{run_id}/" if dataset else None
    for given in ((rejected or {}).get("quarantine_uri"), record.get("quarantine_uri")):
        if not prefix and isinstance(given, str) and given.startswith("s3://"):
            prefix = given if given.endswith("/") else given + "/"
    if prefix is None:
        return {"failed_objects": failed, "copies": None}
    bucket, _, key_prefix = prefix[len("s3://") :].partition("/")
    keys: list[str] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key_prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
    except ClientError:
        return {"failed_objects": failed, "copies": None}
    base = f"s3://{bucket}/"
    copies = reports.quarantined_copies(
        prefix, (base + k for k in keys), lambda uri: _get_json(s3, bucket, uri[len(base) :])
    )
    return {"failed_objects": failed, "copies": copies}


def snapshot(stack: LocalStack) -> Snapshot:
    sfn = StackInfo.of(stack).client("stepfunctions")
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=stack.state_machine_arn())
    executions = {e["executionArn"] for page in pages for e in page["executions"]}
    return Snapshot(executions, [len(m.batches) for m in stack.mappings])


def run_files(
    stack: LocalStack, files: list[Path], *, dataset: str | None = None, **follow_options: Any
) -> OneShotResult:
    earlier = snapshot(stack)
    return follow(stack, upload(stack, files, dataset), earlier=earlier, **follow_options)
