"""The invariants, read from the stack's own state (never from what the harness expects to happen):

- per object version: its published rows are its good rows, exactly once (queried through the
  catalog's registered partitions, as Athena readers see them), or nothing of it is published and it
  has a refusal or quarantine with a reason (validate's rejected.json, the job's failed-objects.json,
  a quarantine `.reason.json`, the trigger's logged skip reason);
- no registered partition belongs to a run that is not SUCCEEDED (Glue GetPartitions + runs table),
  nor is any row of such a run visible; the one exception is a scenario that declares that its fault
  plan makes the rollback itself (UnpublishRun's DROP) fail for good: there a failed run's partitions
  may stay, but only if its run record's cause says `PARTITIONS MAY STILL BE REGISTERED` and names
  partition-batches.json, and (unless the plan fails the metric's Task too) the RunsLeftPublished
  metric (alarmed) rose by at least the number of such runs (read back from CloudWatch);
- raw objects untouched: every uploaded version is still there with the same ETag;
- dead-letter queues empty, or the scenario explains why not;
- executions: at most about object versions / batch size per dataset.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tributary.chaos.data import ObjectSpec
from tributary.local.runtimes.athena_runtime import AthenaRuntime

LOGGER = logging.getLogger("tributary.chaos")
ID_COLUMNS = {"orders": "order_id", "clicks": "event_id"}
LEFT_PUBLISHED = "PARTITIONS MAY STILL BE REGISTERED"  # the failure path's cause when its DROP failed
LEFT_PUBLISHED_METRIC = ("Tributary", "RunsLeftPublished")
FAILED_STATUSES = ("FAILED", "QUARANTINED")  # a run that failed (QUARANTINED: and its inputs were copied)


@dataclass(frozen=True)
class RollbackFails:
    """A scenario's declaration: its fault plan makes the rollback (UnpublishRun) fail for good, so a
    failed run may stay visible if it says so; `alarmed`: the plan leaves the metric's Task alone."""

    alarmed: bool = True

    @property
    def label(self) -> str:
        if self.alarmed:
            return "rollback failed for good, alarmed"
        return "rollback and its alarm failed for good"


@dataclass(frozen=True)
class StackView:
    """Where the state is: a client factory (moto's endpoint; stepfunctions to the engine's) and names."""

    client: Callable[[str], Any]
    stack_name: str  # physical names are <stack name>-<logical id> locally
    state_machine_arn: str
    database: str
    workgroup: str
    batch_size: int = 100
    batch_window: float = 0.0  # the trigger's batching window as the local stack runs it (seconds)
    # When the event of each object version, (key, version id), reached the ingest queue
    # (time.monotonic(), every delivery), where the stack lets the harness see it (in-process stacks;
    # see harness.record_arrivals). Filled while the scenario runs.
    arrivals: dict[tuple[str, str], list[float]] | None = None

    def name(self, logical_id: str) -> str:
        if logical_id.endswith("Bucket"):
            return f"{self.stack_name}-{logical_id.lower()}"
        return f"{self.stack_name}-{logical_id}"

    def queue_url(self, logical_id: str) -> str:
        return str(self.client("sqs").get_queue_url(QueueName=self.name(logical_id))["QueueUrl"])


@dataclass
class Uploaded:
    """One object version the harness put in the raw bucket."""

    spec: ObjectSpec
    version_id: str
    etag: str
    at: float = 0.0  # time.monotonic() when S3 answered the put


@dataclass
class ObjectOutcome:
    uploaded: Uploaded
    outcome: str  # published | refused | duplicated | lost | wrong
    reason: str = ""
    visible_from_failed_run: bool = False
    note: str = ""
    failed_runs: list[str] = field(default_factory=list)  # runs not SUCCEEDED whose rows readers see
    explained: bool = False  # visible, but from runs that say so (see RollbackFails)


@dataclass
class Verdict:
    outcomes: list[ObjectOutcome]
    executions: dict[str, int]  # per dataset, started during the scenario
    execution_limit: dict[str, int]
    failed_run_partitions: list[str]
    raw_changed: list[str]
    dead_letters: dict[str, int]
    violations: list[str] = field(default_factory=list)
    explanation: str = ""  # why visible rows of failed runs are explained (RollbackFails.label)

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes if o.outcome == outcome)

    @property
    def visible_from_failed(self) -> int:
        return sum(1 for o in self.outcomes if o.visible_from_failed_run)

    @property
    def visible_cell(self) -> str:
        """The table's cell: how many, and whether every one of them is explained and how."""
        visible = self.visible_from_failed
        explained = sum(1 for o in self.outcomes if o.explained)
        if not explained:
            return str(visible)
        if explained == visible:
            return f"{visible} (explained: {self.explanation})"
        return f"{visible} ({explained} explained: {self.explanation})"


class StackState:
    """Everything the checks read, gathered once after a scenario."""

    def __init__(self, view: StackView) -> None:
        self.view = view
        self.s3 = view.client("s3")
        self.dynamodb = view.client("dynamodb")
        self.runs = self._runs()
        self.refusals = self._refusals()
        self.skips = self._trigger_skips()

    # -- runs ------------------------------------------------------------------------------------------
    def _runs(self) -> dict[str, dict[str, Any]]:
        runs: dict[str, dict[str, Any]] = {}
        for page in self.dynamodb.get_paginator("scan").paginate(TableName=self.view.name("RunsTable")):
            for item in page["Items"]:
                runs[item["run_id"]["S"]] = {k: next(iter(v.values())) for k, v in item.items()}
        return runs

    def status(self, run_id: str) -> str:
        return str(self.runs.get(run_id, {}).get("status", "NO RECORD"))

    def left_published(self, run_id: str) -> bool:
        """The run is recorded failed (FAILED, or QUARANTINED: failed and its inputs quarantined) with
        a cause saying its partitions may still be registered and where their drop clauses are."""
        cause = str(self.runs.get(run_id, {}).get("cause", ""))
        failed = self.status(run_id) in FAILED_STATUSES
        return failed and LEFT_PUBLISHED in cause and "partition-batches.json" in cause

    # -- refusals --------------------------------------------------------------------------------------
    def _json(self, bucket: str, key: str) -> Any:
        try:
            return json.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except Exception:
            return None

    def _keys(self, bucket: str, prefix: str) -> Iterable[str]:
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                yield entry["Key"]

    def _refusals(self) -> dict[tuple[str, str], str]:
        """(key, version) → a reason, from every run's rejected.json and failed-objects.json and from
        every quarantine `.reason.json`."""
        artifacts = self.view.name("ArtifactsBucket")
        reasons: dict[tuple[str, str], str] = {}
        late: list[tuple[dict[str, Any], str]] = []

        def note(obj: dict[str, Any], why: str) -> None:
            if why.strip():
                reasons.setdefault((str(obj.get("key")), str(obj.get("version_id") or obj.get("etag"))), why)

        for run_id, record in self.runs.items():
            if record.get("status") in ("FAILED", "QUARANTINED") and (
                record.get("error") or record.get("cause")
            ):
                # a failed run names its error and can be reprocessed: a reason for each of its objects
                error = f"{record.get('error') or ''} {record.get('cause') or ''}"
                why = f"run {run_id} {record['status']}: {error}"
                manifest = self._json(artifacts, f"runs/{run_id}/manifest.json") or {}
                for obj in manifest.get("objects", []) if isinstance(manifest, dict) else []:
                    late.append((obj, why.strip()[:300]))
            for name in ("rejected.json", "failed-objects.json"):
                document = self._json(artifacts, f"runs/{run_id}/{name}") or {}
                for obj in document.get("objects", []) if isinstance(document, dict) else []:
                    why = "; ".join(f"{r.get('code')}: {r.get('message')}" for r in obj.get("reasons", []))
                    note(obj, why)
        for key in self._keys(artifacts, "quarantine/"):
            if key.endswith(".reason.json"):
                reason = self._json(artifacts, key) or {}
                why = "; ".join(f"{r.get('code')}: {r.get('message')}" for r in reason.get("reasons", []))
                why = why or " ".join(str(reason.get(k) or "") for k in ("error", "cause")).strip()
                source = str(reason.get("source", ""))
                object_key = reason.get("key") or (source.split("/", 3)[3] if source.count("/") >= 3 else "")
                note(
                    {"key": object_key, "version_id": reason.get("version_id"), "etag": reason.get("etag")},
                    why,
                )
        for obj, why in late:  # the object's own reasons first, its run's failure after them
            note(obj, why)
        return reasons

    def _trigger_skips(self) -> dict[str, str]:
        """Key → why the trigger skipped it (its structured log lines in CloudWatch Logs)."""
        logs = self.view.client("logs")
        skips: dict[str, str] = {}
        group = f"/aws/lambda/{self.view.stack_name}/trigger"
        try:
            pages = logs.get_paginator("filter_log_events").paginate(logGroupName=group)
            for page in pages:
                for event in page.get("events", []):
                    try:
                        entry = json.loads(event["message"])
                    except ValueError:
                        continue
                    if (
                        isinstance(entry, dict)
                        and entry.get("key")
                        and "skip" in str(entry.get("message", "")).lower()
                    ):
                        skips[str(entry["key"])] = str(entry.get("reason") or entry.get("message"))
        except Exception:  # no log group yet: nothing was skipped
            pass
        return skips

    # -- what readers see ------------------------------------------------------------------------------
    def published(self, dataset: str) -> list[tuple[str, str, str, str]]:
        """(row id, source key, source version, run id) of every row a reader of the table sees."""
        athena = AthenaRuntime(self.view.client)
        try:
            column = ID_COLUMNS[dataset]
            sql = f"SELECT {column}, source_object_key, source_object_version, run_id FROM {dataset}"
            query = athena.start_query_execution(
                QueryString=sql,
                QueryExecutionContext={"Database": self.view.database},
                WorkGroup=self.view.workgroup,
            )["QueryExecutionId"]
            execution = athena.get_query_execution(QueryExecutionId=query)["QueryExecution"]
            if execution["Status"]["State"] != "SUCCEEDED":
                reason = str(execution["Status"].get("StateChangeReason", ""))
                if "does not exist" in reason or "not found" in reason.lower():
                    return []  # no run of the dataset registered its table yet
                raise RuntimeError(f"cannot read {dataset}: {reason}")
            rows: list[tuple[str, str, str, str]] = []
            token: str | None = None
            while True:
                extra = {"NextToken": token} if token else {}
                page = athena.get_query_results(QueryExecutionId=query, MaxResults=1000, **extra)
                for row in page["ResultSet"]["Rows"]:
                    values = tuple(cell.get("VarCharValue", "") for cell in row["Data"])
                    if values != (column, "source_object_key", "source_object_version", "run_id"):
                        rows.append(values)
                token = page.get("NextToken")
                if not token:
                    return rows
        finally:
            athena.close()

    def registered_partitions(self, dataset: str) -> list[tuple[str, str]]:
        """(partition location, run id) of every partition the catalog has for the dataset's table."""
        glue = self.view.client("glue")
        found: list[tuple[str, str]] = []
        try:
            table = glue.get_table(DatabaseName=self.view.database, Name=dataset)["Table"]
        except Exception:
            return found
        keys = [k["Name"] for k in table.get("PartitionKeys", [])]
        for page in glue.get_paginator("get_partitions").paginate(
            DatabaseName=self.view.database, TableName=dataset
        ):
            for partition in page["Partitions"]:
                values = dict(zip(keys, partition["Values"], strict=False))
                found.append((partition["StorageDescriptor"].get("Location", ""), values.get("run_id", "")))
        return found

    def raw_etags(self) -> dict[tuple[str, str], str]:
        raw = self.view.name("RawBucket")
        etags: dict[tuple[str, str], str] = {}
        for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=raw):
            for version in page.get("Versions", []):
                etags[(version["Key"], version["VersionId"])] = version["ETag"].strip('"')
        return etags


def dead_letters(view: StackView) -> dict[str, int]:
    """Messages in each dead-letter queue."""
    sqs = view.client("sqs")
    counts = {}
    for logical_id in ("IngestDeadLetterQueue", "EventDeliveryDeadLetterQueue"):
        attributes = sqs.get_queue_attributes(
            QueueUrl=view.queue_url(logical_id),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        counts[logical_id] = sum(int(v) for v in attributes.values())
    return counts


def runs_left_published(view: StackView) -> int | None:
    """The sum of the RunsLeftPublished metric the stack's CloudWatch holds (None: not readable)."""
    namespace, metric = LEFT_PUBLISHED_METRIC
    cloudwatch = view.client("cloudwatch")
    now = datetime.now(UTC)
    total = 0.0
    try:
        for listed in cloudwatch.list_metrics(Namespace=namespace, MetricName=metric)["Metrics"]:
            points = cloudwatch.get_metric_statistics(
                Namespace=namespace,
                MetricName=metric,
                Dimensions=listed.get("Dimensions", []),
                StartTime=now - timedelta(days=1),
                EndTime=now + timedelta(hours=1),
                Period=86400,
                Statistics=["Sum"],
            )["Datapoints"]
            total += sum(point["Sum"] for point in points)
    except Exception:
        LOGGER.warning("cannot read the %s metric", metric, exc_info=True)
        return None
    return int(total)


def executions_by_dataset(view: StackView) -> dict[str, set[str]]:
    sfn = view.client("stepfunctions")
    found: dict[str, set[str]] = {}
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=view.state_machine_arn):
        for execution in page["executions"]:
            dataset = execution["name"].split("-", 1)[0]
            found.setdefault(dataset, set()).add(execution["executionArn"])
    return found


def check(
    view: StackView,
    uploads: list[Uploaded],
    executions_before: dict[str, set[str]],
    *,
    waves: list[list[Uploaded]] | None = None,
    dead_letters_before: dict[str, int] | None = None,
    dead_letters_explained: str = "",
    rollback_fails: RollbackFails | None = None,
    left_published_before: int | None = None,
) -> Verdict:
    """Classify every uploaded object version and check the stack-wide invariants. `rollback_fails`:
    the scenario's plan makes the rollback fail for good (see RollbackFails); `left_published_before`:
    the RunsLeftPublished sum before the scenario."""
    state = StackState(view)
    datasets = sorted({u.spec.dataset for u in uploads})
    rows_by_version: dict[tuple[str, str], list[tuple[str, str]]] = {}  # (key, version) → (row id, run id)
    every_run: set[str] = set()
    for dataset in datasets:
        for row_id, key, version, run_id in state.published(dataset):
            rows_by_version.setdefault((key, version), []).append((row_id, run_id))
            every_run.add(run_id)
    violations: list[str] = []
    outcomes = [_classify(u, rows_by_version.get((u.spec.key, u.version_id), []), state) for u in uploads]
    for outcome in outcomes:
        if outcome.outcome != "published" and outcome.uploaded.spec.must_publish:
            violations.append(f"good file {outcome.uploaded.spec.key[:60]} not published: {outcome.outcome}")
    after = executions_by_dataset(view)
    scenario_runs = {
        arn.rsplit(":", 1)[-1]
        for dataset, arns in after.items()
        for arn in arns - executions_before.get(dataset, set())
    }
    partitions = [
        (location, run_id)
        for dataset in datasets
        for location, run_id in state.registered_partitions(dataset)
        if run_id in scenario_runs and state.status(run_id) != "SUCCEEDED"
    ]

    def metric_rise() -> int | None:
        now = runs_left_published(view)
        return None if now is None or left_published_before is None else now - left_published_before

    violations += failed_run_violations(outcomes, partitions, state, rollback_fails, metric_rise)
    failed_partitions = [f"{location} (run {r}: {state.status(r)})" for location, r in partitions]
    etags = state.raw_etags()
    changed = [u.spec.key for u in uploads if etags.get((u.spec.key, u.version_id)) != u.etag.strip('"')]
    if changed:
        violations.append(f"{len(changed)} raw object version(s) changed or gone")
    dead = {k: n - (dead_letters_before or {}).get(k, 0) for k, n in dead_letters(view).items()}
    if any(n > 0 for n in dead.values()) and not dead_letters_explained:
        violations.append(f"new dead-letter messages: {dead}")
    executions, limits = {}, {}
    for dataset in datasets:
        started = len(after.get(dataset, set()) - executions_before.get(dataset, set()))
        versions = sum(1 for u in uploads if u.spec.dataset == dataset and u.spec.body)
        limit = sum(
            _execution_limit(
                [u for u in wave if u.spec.dataset == dataset and u.spec.body],
                view.batch_size,
                view.batch_window,
                view.arrivals,
            )
            for wave in (waves or [uploads])
        )
        executions[dataset], limits[dataset] = started, limit
        if started > limit:
            violations.append(
                f"{dataset}: {started} executions for {versions} object versions (limit {limit})"
            )
    for outcome in outcomes:
        if outcome.outcome in ("duplicated", "lost", "wrong"):
            violations.append(f"{outcome.outcome}: {outcome.uploaded.spec.kind}: {outcome.note}")
    explanation = rollback_fails.label if rollback_fails else ""
    return Verdict(outcomes, executions, limits, failed_partitions, changed, dead, violations, explanation)


def failed_run_violations(
    outcomes: list[ObjectOutcome],
    partitions: list[tuple[str, str]],
    state: StackState,
    rollback_fails: RollbackFails | None,
    metric_rise: Callable[[], int | None],
) -> list[str]:
    """Rows and registered partitions of runs not SUCCEEDED (`partitions`: (location, run id) of the
    scenario's runs not SUCCEEDED): each is a violation, unless the scenario declares that its rollback
    fails for good (`rollback_fails`) and the run says so (`StackState.left_published`); then, if the
    plan leaves the metric's Task alone, the RunsLeftPublished metric must have risen (`metric_rise`,
    None when not readable) by at least the number of such runs. Marks explained outcomes."""
    violations: list[str] = []
    left: set[str] = set()  # failed runs left visible that say so, in a scenario that declares it
    unexplained = 0
    for _, run_id in partitions:
        if rollback_fails and state.left_published(run_id):
            left.add(run_id)
        else:
            unexplained += 1
    if unexplained:
        violations.append(f"{unexplained} registered partition(s) of runs not SUCCEEDED, unexplained")
    for outcome in outcomes:
        if not outcome.visible_from_failed_run:
            continue
        outcome.explained = bool(rollback_fails) and all(state.left_published(r) for r in outcome.failed_runs)
        if outcome.explained:
            left.update(outcome.failed_runs)
        else:
            violations.append(f"visible from a failed run: {outcome.uploaded.spec.kind}: {outcome.note}")
    if left and rollback_fails and rollback_fails.alarmed:
        rise = metric_rise()
        if rise is None:
            violations.append("RunsLeftPublished metric not readable: the alarm cannot be checked")
        elif rise < len(left):
            violations.append(f"{len(left)} failed run(s) left visible but RunsLeftPublished rose by {rise}")
    return violations


def _execution_limit(
    wave: list[Uploaded],
    batch_size: int,
    window: float = 0.0,
    arrivals: dict[tuple[str, str], list[float]] | None = None,
) -> int:
    """At most about versions / batch size: one more for a batch window that closed early, a quarter
    more for bursts that arrive over several windows, and one more per whole window the wave's events
    took to reach the ingest queue beyond the first (each window may close a batch of its own). When
    the events arrived is read from `arrivals` where the stack records it, else from when S3 answered
    the puts. The two differ: the in-process stack answers an upload before its event is delivered,
    and its event bus delivers one event at a time, so on a loaded machine a burst uploaded within one
    window reaches the queue over several (a CI run at load 9: 3 executions of a 150-file wave whose
    uploads took less than a window; tests/chaos/test_burst_batches.py). The bound still fails a
    pipeline that starts runs per file or per few files."""
    if not wave:
        return 0
    batches = math.ceil(len(wave) / batch_size)
    times = [t for u in wave for t in (arrivals or {}).get((u.spec.key, u.version_id), [u.at]) if t]
    spread = int((max(times) - min(times)) // window) if window > 0 and times else 0
    return batches + max(1, math.ceil(batches / 4)) + spread


def _classify(uploaded: Uploaded, rows: list[tuple[str, str]], state: StackState) -> ObjectOutcome:
    spec = uploaded.spec
    counts = Counter(row_id for row_id, _ in rows)
    failed_runs = sorted({run_id for _, run_id in rows if state.status(run_id) != "SUCCEEDED"})
    visible = bool(failed_runs)
    reason = state.refusals.get((spec.key, uploaded.version_id)) or state.skips.get(spec.key, "")
    published = set(counts)
    note = ""
    if visible:
        note = f"rows of run(s) {', '.join(f'{r} ({state.status(r)})' for r in failed_runs)}"
    duplicates = [row_id for row_id, n in counts.items() if n > 1]
    strangers = published - spec.good - spec.optional
    missing = spec.good - published
    if duplicates:
        outcome = "duplicated"
        note = note or f"{len(duplicates)} row(s) published more than once (e.g. {duplicates[0]})"
    elif strangers:
        outcome = "wrong"
        note = (
            note
            or f"{len(strangers)} row(s) published that are not its good rows (e.g. {sorted(strangers)[0]})"
        )
    elif not published:
        outcome = "refused" if reason else "lost"
        note = note or ("" if reason else f"{len(spec.good)} good row(s): not published, no refusal found")
    elif missing:
        outcome = "lost"
        note = note or f"{len(missing)} of {len(spec.good)} good row(s) not published"
    else:
        outcome = "published"
    return ObjectOutcome(uploaded, outcome, reason, visible, note, failed_runs)
