"""The report of a run, for a terminal (`render_text`) and for scripts (`render_json`, `--json`).

    report = build_report(
        run_record,              # RunsTable item as a plain dict (Decimals or typed {"S": ...} values)
        result=result_document,  # runs/<run_id>/result.json parsed; None when the run failed before Glue
        rejected=rejected_list,  # runs/<run_id>/rejected.json parsed (or its "objects" list), or None
        history=events,          # GetExecutionHistory's events, or None
        quarantine_uri=None,     # s3://…/quarantine/<dataset>/<run_id>/ (else from the record or history)
        manifest=None,           # runs/<run_id>/manifest.json parsed: all objects (the record lists 100)
        failed_objects=None,     # runs/<run_id>/failed-objects.json parsed (else result's failed_objects)
        copies=None,             # {(key, version id or ETag): QuarantinedCopy} from the run's .reason.json
    )
    quarantined_copies(prefix, uris, read)   # builds `copies` from a listing of the quarantine prefix
    print(render_text(report, color=use_color(sys.stdout)))
    print(render_json([report]))     # a JSON array; render_json(report) gives one object
    report_dict(report)              # the same as plain values, to embed in a larger document
    sys.exit(exit_code([report]))    # 0 only when every run SUCCEEDED (and there was at least one)
    plain_item(item)                 # a DynamoDB item (either shape) as plain JSON values

JSON keys (docs/interfaces.md's documents, renamed for readers): run_id, status, dataset, objects (key,
outcome = processed | skipped | rejected | pending, reason, version_id, etag, rows_in, rows_out,
rows_rejected, quarantine_uri, quarantine_error), object_count, objects_failed, rows_in, rows_out,
rows_rejected, partitions (location, values, rows, files), outputs, rejects_uri, quality (passed,
max_reject_ratio, reject_ratio, rules), approval (decision = approve | refuse | timeout, decided_by,
decided_at, reason, requested_at, expires_at; null when the run was never asked), states (name,
seconds, status, visits, retries, depth), error,
cause, failed_state, quarantine_uri, started_at, finished_at,
seconds. Unknown values are null. Everything here is pure: the caller reads S3, DynamoDB and the history.

An object is one version of a key (a key uploaded twice in a run is two objects; the text shows the
version of such keys). Objects the Glue job could not read are `rejected` with "the Glue job could not
read it: <code>: <message>". `quarantine_uri` is the copy its `.reason.json` names (a safe key may be a
digest form, not the original key), null when only the reason was written; without reason files (older
runs) it is the quarantine prefix + the key.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from tributary.local.views.progress import (
    FAILED,
    RUNNING,
    STOPPED,
    SUCCEEDED,
    ProgressTracker,
    StateVisit,
    format_seconds,
    parse_timestamp,
)

PROCESSED, SKIPPED, REJECTED, PENDING = "processed", "skipped", "rejected", "pending"
_UNFINISHED = ("QUEUED", "RUNNING", "AWAITING_APPROVAL")
LIST_LIMIT = 10  # longer lists (objects, partitions, files) are summarised in text; JSON keeps all
T = TypeVar("T")
_QUARANTINE_FAILED = "(quarantine failed)"
REASON_SUFFIX = ".reason.json"  # beside each quarantined copy

_GREEN, _RED, _YELLOW, _BOLD, _DIM, _RESET = (
    "\033[32m",
    "\033[31m",
    "\033[33m",
    "\033[1m",
    "\033[2m",
    "\033[0m",
)


@dataclass
class ObjectOutcome:
    key: str
    outcome: str  # processed | skipped | rejected | pending
    reason: str | None = None
    version_id: str | None = None
    rows_in: int | None = None
    rows_out: int | None = None
    rows_rejected: int | None = None
    quarantine_uri: str | None = None  # where the copy of this input is (refused, left out, or run failed)
    etag: str | None = None
    quarantine_error: str | None = None  # the error its `.reason.json` holds (Tributary.ObjectRefused, ...)

    @property
    def version(self) -> str | None:
        """What tells two versions of the key apart: the version id, or the ETag (unversioned bucket)."""
        return self.version_id or self.etag


@dataclass(frozen=True)
class QuarantinedCopy:
    """One `<copy>.reason.json` of a run's quarantine, found by the caller (`copies` of build_report)."""

    uri: str  # the copy's URI (the reason's minus `.reason.json`)
    exists: bool = True  # False: only the reason was written (the input was gone or could not be copied)
    error: str | None = None
    cause: str | None = None


CopyKey = tuple[str, str | None]  # (exact original key, version id or else ETag)


@dataclass
class Partition:
    location: str
    values: dict[str, str] = field(default_factory=dict)
    rows: int | None = None
    files: int | None = None


@dataclass
class StateTime:
    name: str
    seconds: float | None  # summed over visits (a Map's inner states are visited once per iteration)
    status: str  # succeeded | failed | stopped | running
    visits: int = 1
    retries: int = 0
    depth: int = 0  # 1 inside a Parallel branch or a Map iteration, 2 in one nested in those, ...


@dataclass
class RunReport:
    run_id: str
    status: str  # the run record's status (SUCCEEDED, FAILED, QUARANTINED, ...), or TIMED_OUT / ABORTED
    dataset: str | None = None
    objects: list[ObjectOutcome] = field(default_factory=list)
    object_count: int | None = None
    rows_in: int | None = None
    rows_out: int | None = None
    rows_rejected: int | None = None
    partitions: list[Partition] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    rejects_uri: str | None = None
    quality: dict[str, Any] | None = None
    states: list[StateTime] = field(default_factory=list)
    error: str | None = None
    cause: str | None = None
    failed_state: str | None = None
    quarantine_uri: str | None = None
    objects_failed: int | None = None  # objects the Glue job could not read and left out
    started_at: str | None = None
    finished_at: str | None = None
    seconds: float | None = None
    # Human approval of a run whose quality rules failed (the run record's approval_* fields).
    approval: dict[str, Any] | None = None
    # What the run cost on AWS (the run record's `cost`, set by the run-cost function once it ended).
    cost: dict[str, Any] | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


# ---------------------------------------------------------------------------------------------- building
def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_number(v) for v in value]
    if isinstance(value, dict):
        return {k: _number(v) for k, v in value.items()}
    return value


_TYPED = {"S", "N", "BOOL", "NULL", "L", "M", "SS", "NS", "BS", "B"}


def _untyped(value: Any) -> Any:
    """A DynamoDB typed attribute value (`{"N": "3"}`) as a plain value."""
    if not (isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _TYPED):
        return value
    kind, inner = next(iter(value.items()))
    if kind == "N":
        number = Decimal(str(inner))
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "NS":
        return [_untyped({"N": v}) for v in inner]
    if kind == "NULL":
        return None
    if kind == "L":
        return [_untyped(v) for v in inner]
    if kind == "M":
        return {k: _untyped(v) for k, v in inner.items()}
    return inner


def plain_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain JSON values, whether boto3's resource (Decimals) or client (typed) shape."""
    typed = bool(item) and all(
        isinstance(v, dict) and len(v) == 1 and next(iter(v)) in _TYPED for v in item.values()
    )
    if typed:
        return {k: _untyped(v) for k, v in item.items()}
    return {k: _number(v) for k, v in item.items()}


def _int(value: Any) -> int | None:
    value = _number(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def partition_values(location: str) -> dict[str, str]:
    """`s3://b/orders/order_date=2026-11-24/run_id=r1/` → {"order_date": "2026-11-24", "run_id": "r1"}."""
    values: dict[str, str] = {}
    for segment in location.split("/"):
        name, sep, value = segment.partition("=")
        if sep and name and "." not in name:
            values[name] = value
    return values


def _partitions(result: Mapping[str, Any] | None, record: Mapping[str, Any]) -> list[Partition]:
    found: list[Partition] = []
    source = result.get("partitions") if result else None
    if not isinstance(source, list):
        source = record.get("partitions")
    for entry in source if isinstance(source, list) else []:
        if isinstance(entry, str):
            found.append(Partition(entry, partition_values(entry)))
        elif isinstance(entry, Mapping):
            location = str(entry.get("location") or "")
            values = entry.get("values")
            found.append(
                Partition(
                    location,
                    {str(k): str(v) for k, v in values.items()}
                    if isinstance(values, Mapping)
                    else partition_values(location),
                    _int(entry.get("rows")),
                    _int(entry.get("files")),
                )
            )
    return found


def _state_times(visits: list[StateVisit]) -> list[StateTime]:
    rank = {FAILED: 3, RUNNING: 2, STOPPED: 1, SUCCEEDED: 0}
    by_name: dict[str, StateTime] = {}
    for visit in visits:
        seconds = visit.seconds
        known = by_name.get(visit.name)
        if known is None:
            by_name[visit.name] = StateTime(visit.name, seconds, visit.status, 1, visit.retries, visit.depth)
            continue
        known.visits += 1
        known.retries += visit.retries
        if seconds is not None:
            known.seconds = (known.seconds or 0.0) + seconds
        if rank.get(visit.status, 0) > rank.get(known.status, 0):
            known.status = visit.status
    for entry in by_name.values():
        if entry.seconds is not None:
            entry.seconds = round(entry.seconds, 3)
    return list(by_name.values())


def _failed_visit(visits: list[StateVisit]) -> StateVisit | None:
    """The state where the run went wrong: the first failure, innermost first; else the state that named
    the failure for the failure path (the pipeline's `failure` variable); else a Fail state."""
    # A failure its catcher turned into something other than the run's `failure` (AwaitApproval's refusal
    # or timeout, kept as `approval`) is an outcome the pipeline handles, not where the run went wrong.
    failed = [
        v
        for v in visits
        if v.status == FAILED and v.type != "Fail" and not (v.assigned and "failure" not in v.assigned)
    ]
    if failed:
        # failed_event_id 0: closed when the execution ended (a timeout): the innermost state is to blame
        return min(failed, key=lambda v: (v.failed_event_id or float("inf"), -v.depth, -v.entered_id))
    for visit in visits:
        if isinstance(visit.assigned.get("failure"), dict):
            return visit
    return next((v for v in visits if v.type == "Fail"), None)


def _quarantine(
    given: str | None, record: Mapping[str, Any], visits: list[StateVisit]
) -> tuple[str | None, bool]:
    """The quarantine prefix, and whether quarantining was attempted and failed."""
    if given:
        return given, False
    if _text(record.get("quarantine_uri")):
        return str(record["quarantine_uri"]), False
    failed = False
    for visit in reversed(visits):
        value = visit.assigned.get("quarantineUri")
        if value == _QUARANTINE_FAILED:
            failed = True
        elif isinstance(value, str) and value.startswith("s3://"):
            return value, False
    return None, failed


def _reasons(entry: Mapping[str, Any]) -> str | None:
    reasons = entry.get("reasons")
    if isinstance(reasons, list):
        parts = []
        for reason in reasons:
            if isinstance(reason, Mapping):
                code, message = reason.get("code"), reason.get("message")
                parts.append(": ".join(str(p) for p in (code, message) if p))
            elif reason:
                parts.append(str(reason))
        if parts:
            return "; ".join(parts)
    for key in ("reason", "message"):
        if _text(entry.get(key)):
            return str(entry[key])
    return None


def build_report(
    run_record: Mapping[str, Any],
    result: Mapping[str, Any] | None = None,
    rejected: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    history: Iterable[Mapping[str, Any]] | None = None,
    quarantine_uri: str | None = None,
    *,
    manifest: Mapping[str, Any] | None = None,
    failed_objects: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    copies: Mapping[CopyKey, QuarantinedCopy] | None = None,
) -> RunReport:
    """Put the documents of one run together (any of them may be missing but the record)."""
    record = plain_item(run_record)
    result = _number(dict(result)) if result else None
    tracker = ProgressTracker()
    if history is not None:
        tracker.feed(history)
    visits = tracker.visits

    status = _text(record.get("status")) or ("UNKNOWN" if history is None else tracker.status)
    if tracker.status in ("FAILED", "TIMED_OUT", "ABORTED") and status in (*_UNFINISHED, "SUCCEEDED"):
        status = tracker.status  # the execution ended badly whatever the record says
    elif tracker.status == "SUCCEEDED" and status in _UNFINISHED:
        status = "SUCCEEDED"

    report = RunReport(
        run_id=str(record.get("run_id") or (result or {}).get("run_id") or "?"),
        status=status,
        dataset=_text(record.get("dataset")) or _text((result or {}).get("dataset")),
    )
    failed = None if status == "SUCCEEDED" else _failed_visit(visits)
    if status != "SUCCEEDED":
        report.failed_state = failed.name if failed is not None else None
        failure = failed.assigned.get("failure") if failed is not None else None
        failure = failure if isinstance(failure, Mapping) else {}
        report.error = (
            _text(record.get("error"))
            or (failed.error if failed is not None else None)
            or _text(failure.get("Error"))
            or tracker.error
        )
        report.cause = (
            _text(record.get("cause"))
            or (failed.cause if failed is not None else None)
            or _text(failure.get("Cause"))
            or tracker.cause
        )
        if report.cause == "(no cause)":
            report.cause = None
    quarantine, quarantine_failed = _quarantine(quarantine_uri, record, visits)
    report.quarantine_uri = quarantine

    # A job that failed as a whole writes a FAILED result: its zero rows and closed gate measured nothing.
    job_failed = bool(result) and str((result or {}).get("status", "")).upper() == "FAILED"
    job_error = (result or {}).get("error") if job_failed else None
    if isinstance(job_error, Mapping) and report.status != "SUCCEEDED" and not report.cause:
        report.cause = ": ".join(str(p) for p in (job_error.get("type"), job_error.get("message")) if p)
    source = {} if job_failed else result or {}
    report.rows_in = _int(source.get("rows_read", record.get("rows_read")))
    report.rows_out = _int(source.get("rows_written", record.get("rows_written")))
    report.rows_rejected = _int(source.get("rows_rejected", record.get("rows_rejected")))
    report.partitions = _partitions(None if job_failed else result, record)
    outputs = source.get("outputs")
    report.outputs = [str(o) for o in outputs] if isinstance(outputs, list) else []
    report.rejects_uri = _text(source.get("rejects_uri"))
    quality = source.get("quality")
    report.quality = dict(quality) if isinstance(quality, Mapping) else None
    report.approval = _approval(record)
    report.states = _state_times(visits)

    started = _text(record.get("started_at")) or _text(record.get("created_at"))
    finished = _text(record.get("finished_at"))
    if not (started and finished) and tracker.started_at is not None:  # one source for both ends
        started = tracker.started_at.isoformat()
        finished = tracker.finished_at.isoformat() if tracker.finished_at is not None else None
    report.started_at, report.finished_at = started, finished
    if tracker.started_at is not None and tracker.finished_at is not None:
        report.seconds = round((tracker.finished_at - tracker.started_at).total_seconds(), 3)
    else:
        begin, end = parse_timestamp(started), parse_timestamp(finished)
        if begin is not None and end is not None:
            report.seconds = round((end - begin).total_seconds(), 3)

    report.object_count = _int(record.get("object_count"))
    report.objects_failed = _int(record.get("objects_failed"))
    report.cost = record.get("cost") if isinstance(record.get("cost"), Mapping) else None
    report.objects = _objects(
        report, record, result, rejected, manifest, quarantine_failed, failed_objects, copies
    )
    if report.object_count is None and (manifest is not None or not record.get("objects")):
        report.object_count = len(report.objects)
    return report


class _Objects:
    """The run's object versions in order, found again by key and version; a source that names no
    version (the record's key list, an old result) takes the first version of the key it has not named."""

    def __init__(self) -> None:
        self.items: list[ObjectOutcome] = []
        self._by_key: dict[str, list[ObjectOutcome]] = {}

    def get(self, item: Any, claimed: set[int] | None = None) -> ObjectOutcome | None:
        if isinstance(item, str):
            key, version_id, etag = item, None, None
        elif isinstance(item, Mapping) and _text(item.get("key")):
            key, version_id, etag = str(item["key"]), _text(item.get("version_id")), _text(item.get("etag"))
        else:
            return None
        free = [o for o in self._by_key.get(key, []) if claimed is None or id(o) not in claimed]
        exact = [
            o
            for o in free
            if (version_id and o.version_id == version_id) or (etag and o.etag == etag and not version_id)
        ]
        fits = [
            o
            for o in free
            if (not version_id or not o.version_id or o.version_id == version_id)
            and (not etag or not o.etag or o.etag == etag)
        ]
        if exact or fits:
            found = (exact or fits)[0]
        else:
            found = ObjectOutcome(key, PENDING)
            self.items.append(found)
            self._by_key.setdefault(key, []).append(found)
        found.version_id = found.version_id or version_id
        found.etag = found.etag or etag
        if claimed is not None:
            claimed.add(id(found))
        return found

    def several(self, key: str) -> bool:
        return len(self._by_key.get(key, [])) > 1


def _listed(document: Mapping[str, Any] | Sequence[Any] | None) -> list[Any]:
    objects = document.get("objects") if isinstance(document, Mapping) else document
    return list(objects) if isinstance(objects, list | tuple) else []


def _copy_for(outcome: ObjectOutcome, copies: Mapping[CopyKey, QuarantinedCopy]) -> QuarantinedCopy | None:
    found = copies.get((outcome.key, outcome.version))
    if found is None and outcome.version is None:  # an unversioned record: the key's only copy
        matches = [c for (key, _), c in copies.items() if key == outcome.key]
        found = matches[0] if len(matches) == 1 else None
    return found


def _objects(
    report: RunReport,
    record: Mapping[str, Any],
    result: Mapping[str, Any] | None,
    rejected: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
    manifest: Mapping[str, Any] | None,
    quarantine_failed: bool,
    failed_objects: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    copies: Mapping[CopyKey, QuarantinedCopy] | None = None,
) -> list[ObjectOutcome]:
    objects = _Objects()
    listed = manifest.get("objects") if manifest else None
    claimed: set[int] = set()
    for item in listed if isinstance(listed, list) else record.get("objects") or []:
        objects.get(item, claimed)

    # Copied to quarantine/ whatever becomes of the run: refused by validate, left out by the job.
    set_aside: set[int] = set()
    refused_copies = rejected.get("quarantine_uri") if isinstance(rejected, Mapping) else None
    claimed = set()
    for item in _listed(rejected):
        outcome = objects.get(item, claimed)
        if outcome is None:
            continue
        outcome.outcome, outcome.reason = REJECTED, _reasons(item) or "refused by validate"
        if _text(refused_copies):
            outcome.quarantine_uri = str(refused_copies).rstrip("/") + "/" + outcome.key
        set_aside.add(id(outcome))

    left_out = _listed(failed_objects) or _listed((result or {}).get("failed_objects"))
    claimed, failed = set(), 0
    for item in left_out:
        outcome = objects.get(item, claimed)
        if outcome is None or id(outcome) in set_aside:
            continue
        why = _reasons(item)
        outcome.outcome = REJECTED
        outcome.reason = "the Glue job could not read it" + (f": {why}" if why else "")
        if report.quarantine_uri:
            outcome.quarantine_uri = report.quarantine_uri.rstrip("/") + "/" + outcome.key
        set_aside.add(id(outcome))
        failed += 1
    if left_out:
        report.objects_failed = failed

    done = result.get("objects") if result else None
    claimed = set()
    for item in done if isinstance(done, list) else []:
        outcome = objects.get(item, claimed)
        if outcome is None:
            continue
        outcome.rows_in = _int(item.get("rows_read"))
        outcome.rows_out = _int(item.get("rows_written"))
        outcome.rows_rejected = _int(item.get("rows_rejected"))
        if id(outcome) in set_aside:
            continue
        if report.status == "SUCCEEDED":
            outcome.outcome = PROCESSED
            outcome.reason = "no rows (empty file)" if outcome.rows_in == 0 else None
        elif report.status not in _UNFINISHED:
            outcome.outcome = SKIPPED
            outcome.reason = "transformed but not published: " + _run_failure(report)

    for outcome in objects.items:
        if outcome.outcome != PENDING:
            continue
        if report.status in _UNFINISHED:
            outcome.reason = f"run {report.status}"
        elif report.status == "SUCCEEDED":
            outcome.outcome, outcome.reason = SKIPPED, "not in the Glue job's result"
        else:
            outcome.outcome, outcome.reason = SKIPPED, "not processed: " + _run_failure(report)

    run_quarantined = report.status not in ("SUCCEEDED", *_UNFINISHED)
    for outcome in objects.items:
        copy = _copy_for(outcome, copies) if copies else None
        if copy is not None:  # where the copy really is (a safe key may not be the original key)
            outcome.quarantine_uri = copy.uri if copy.exists else None
            outcome.quarantine_error = copy.error
            if not copy.exists:
                why = ((copy.cause or "").strip() or "?").splitlines()[0][:200]  # its note comes first
                outcome.reason = (outcome.reason or "") + f" (not copied to quarantine: {why})"
            continue
        if not run_quarantined or outcome.quarantine_uri:
            continue  # (an old run without reason files: the copy is at the prefix + the key)
        if report.quarantine_uri:
            outcome.quarantine_uri = report.quarantine_uri.rstrip("/") + "/" + outcome.key
        elif quarantine_failed:
            outcome.reason = (outcome.reason or "") + " (quarantine failed)"
    return objects.items


def quarantined_copies(
    prefix: str, listing: Iterable[str], read: Callable[[str], Any]
) -> dict[CopyKey, QuarantinedCopy]:
    """The copies of a run's quarantine (`prefix` = s3://…/quarantine/<dataset>/<run_id>/) by (exact key,
    version id or else ETag), from the URIs listed under it and `read(uri)` → a `.reason.json` parsed (None
    when unreadable). A reason without `key` (older runs) is for the key its path spells."""
    uris = set(listing)
    copies: dict[CopyKey, QuarantinedCopy] = {}
    for uri in sorted(uris):
        if not (uri.startswith(prefix) and uri.endswith(REASON_SUFFIX)):
            continue
        copy_uri = uri[: -len(REASON_SUFFIX)]
        document = read(uri)
        document = document if isinstance(document, Mapping) else {}
        key = _text(document.get("key")) or copy_uri[len(prefix) :]
        version = _text(document.get("version_id")) or _text(document.get("etag"))
        copies[(key, version)] = QuarantinedCopy(
            copy_uri, copy_uri in uris, _text(document.get("error")), _text(document.get("cause"))
        )
    return copies


def _run_failure(report: RunReport) -> str:
    where = f" at {report.failed_state}" if report.failed_state else ""
    why = f" ({report.error})" if report.error else ""
    verb = {"TIMED_OUT": "timed out", "ABORTED": "was aborted"}.get(report.status, "failed")
    return f"the run {verb}{where}{why}"


# ---------------------------------------------------------------------------------------------- output
_APPROVAL_FIELDS = ("decision", "decided_by", "decided_at", "reason", "requested_at", "expires_at")


def _approval(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The decision asked for and made on the run record, if the run was ever asked."""
    found = {name: _text(record.get(f"approval_{name}")) for name in _APPROVAL_FIELDS}
    return found if any(found.values()) else None


def _approval_lines(report: RunReport, paint: Any) -> list[str]:
    approval = report.approval or {}
    decision = approval.get("decision")
    if decision is None and report.status != "AWAITING_APPROVAL":
        return [f"Approval: asked at {approval.get('requested_at') or '?'}, no decision recorded"]
    if decision is None:
        return [
            paint(
                f"Awaiting approval until {approval.get('expires_at') or '?'} (its quality rules failed):",
                _YELLOW,
            ),
            f"  tributary approve {report.run_id} --reason TEXT   # publish it, its rejects recorded",
            f"  tributary refuse {report.run_id} --reason TEXT    # quarantine it",
        ]
    if decision == "timeout":
        return [paint(f"Approval: none by {approval.get('decided_at')}: {approval.get('reason')}", _RED)]
    verb, colour = ("approved", _GREEN) if decision == "approve" else ("refused", _RED)
    who = f"{verb} by {approval.get('decided_by')} at {approval.get('decided_at')}"
    return [paint(f"Approval: {who}: {approval.get('reason') or '(no reason given)'}", colour)]


def report_dict(report: RunReport) -> dict[str, Any]:
    """The report as JSON-ready values (the `--json` shape)."""
    document = asdict(report)
    document["objects"] = [asdict(o) for o in report.objects]
    return document


def render_json(reports: RunReport | Sequence[RunReport], indent: int | None = 2) -> str:
    """One report as a JSON object, several (a list) as a JSON array."""
    if isinstance(reports, RunReport):
        return json.dumps(report_dict(reports), indent=indent, ensure_ascii=False)
    return json.dumps([report_dict(r) for r in reports], indent=indent, ensure_ascii=False)


def exit_code(reports: Iterable[RunReport | str]) -> int:
    """0 only when there was at least one run and every run SUCCEEDED (reports or bare statuses), else 1."""
    statuses = [r.status if isinstance(r, RunReport) else r for r in reports]
    return 0 if statuses and all(s == "SUCCEEDED" for s in statuses) else 1


def _count(value: int | None, noun: str) -> str:
    if value is None:
        return f"? {noun}s"
    return f"{value} {noun}" + ("" if value == 1 else "s")


def _known(value: int | None) -> str:
    return "?" if value is None else str(value)


def render_text(report: RunReport, *, color: bool = False, limit: int = LIST_LIMIT) -> str:
    """The report for a terminal (ANSI colours only if `color`). A list longer than `limit` (objects,
    partitions, output files) is summarised: totals, its first and last few entries and how many are
    left out; `render_json` keeps every entry."""

    def paint(text: str, colour: str) -> str:
        return f"{colour}{text}{_RESET}" if color else text

    good = report.succeeded
    status = paint(report.status, _GREEN if good else _YELLOW if report.status in _UNFINISHED else _RED)
    head = f"Run {paint(report.run_id, _BOLD)}  {status}"
    extra = [
        p
        for p in (f"dataset {report.dataset}" if report.dataset else "", format_seconds(report.seconds))
        if p
    ]
    lines = [head + (f"  ({', '.join(extra)})" if extra else "")]

    if not good and report.status not in _UNFINISHED:
        where = report.failed_state or "?"
        lines.append(paint(f"Failed at {where}: {report.error or 'unknown error'}", _RED))
        if report.cause:
            lines.extend("  " + line for line in _cause_lines(report.cause))
        if report.quarantine_uri:
            lines.append(f"Quarantined inputs (copies; the originals stay): {report.quarantine_uri}")
        elif any(o.reason and o.reason.endswith("(quarantine failed)") for o in report.objects):
            lines.append(paint("Quarantine failed: the inputs were not copied", _RED))

    tally = {
        kind: sum(1 for o in report.objects if o.outcome == kind) for kind in (PROCESSED, SKIPPED, REJECTED)
    }
    summary = f"{tally[PROCESSED]} processed, {tally[SKIPPED]} skipped, {tally[REJECTED]} rejected"
    if report.objects_failed:
        summary += f" ({report.objects_failed} the Glue job could not read)"
    pending = sum(1 for o in report.objects if o.outcome == PENDING)
    if pending:
        summary += f", {pending} pending"
    lines.append(f"Objects: {summary}")
    labels = _object_labels(report.objects)
    width = min(60, max((len(label) for label in labels), default=0))
    marks = {PROCESSED: ("✔", _GREEN), SKIPPED: ("-", _YELLOW), REJECTED: ("✘", _RED), PENDING: ("…", _DIM)}
    shown_objects = _elided(
        list(zip(report.objects, labels, strict=True)),
        limit,
        "object",
        keep=lambda e: e[0].outcome != PROCESSED,
    )
    for entry in shown_objects:
        if isinstance(entry, str):
            lines.append(f"  {entry}")
            continue
        obj, label = entry
        mark, colour = marks.get(obj.outcome, ("?", _DIM))
        detail = []
        if obj.rows_in is not None:
            detail.append(
                f"{obj.rows_in} in, {_known(obj.rows_out)} out, {_known(obj.rows_rejected)} rejected"
            )
        if obj.outcome != PROCESSED or obj.reason:
            detail.append(f"{obj.outcome}: {obj.reason}" if obj.reason else obj.outcome)
        lines.append(f"  {paint(mark, colour)} {label.ljust(width)}  {'; '.join(detail)}".rstrip())
        if obj.quarantine_uri:
            lines.append(f"      quarantined copy: {obj.quarantine_uri}")
    if report.object_count is not None and report.object_count > len(report.objects):
        lines.append(f"  … and {report.object_count - len(report.objects)} more (see the manifest)")

    if report.rows_in is not None or report.rows_out is not None:
        ratio = ""
        if report.rows_in and report.rows_rejected is not None:
            ratio = f" ({report.rows_rejected / report.rows_in:.1%})"
        lines.append(
            f"Rows: {_known(report.rows_in)} in, {_known(report.rows_out)} out, "
            f"{_known(report.rows_rejected)} rejected{ratio}"
        )
    if report.rejects_uri and report.rows_rejected:
        lines.append(f"Rejected rows: {report.rejects_uri}")

    if report.partitions:
        lines.append(f"Partitions ({len(report.partitions)}{_partition_totals(report.partitions)}):")
        for part in _elided(report.partitions, limit, "partition"):
            if isinstance(part, str):
                lines.append(f"  {part}")
                continue
            shown = ", ".join(f"{k}={v}" for k, v in part.values.items() if k != "run_id") or part.location
            sizes = []
            if part.rows is not None:
                sizes.append(_count(part.rows, "row"))
            if part.files is not None:
                sizes.append(_count(part.files, "file"))
            lines.append(f"  {shown}  {', '.join(sizes)}  {part.location}".replace("    ", "  "))
    if report.outputs:
        under = _common_folder(report.outputs) if len(report.outputs) > limit else ""
        lines.append(f"Output files ({len(report.outputs)})" + (f" under {under}" if under else "") + ":")
        lines.extend(f"  {uri}" for uri in _elided(report.outputs, limit, "output file"))

    if report.quality:
        lines.extend(_quality_lines(report.quality, paint))
    if report.approval:
        lines.extend(_approval_lines(report, paint))
    if report.status in ("SUCCEEDED", "FAILED", "QUARANTINED", "TIMED_OUT", "ABORTED"):
        lines.extend(cost_lines(report.cost))

    if report.states:
        lines.append("Time per state:")
        name_width = min(40, max(len(s.name) + 2 * s.depth for s in report.states))
        state_marks = {
            SUCCEEDED: ("✔", _GREEN),
            FAILED: ("✘", _RED),
            STOPPED: ("■", _YELLOW),
            RUNNING: ("▶", _DIM),
        }
        for state in report.states:
            mark, colour = state_marks.get(state.status, ("?", _DIM))
            notes = []
            if state.visits > 1:
                notes.append(f"{state.visits} visits")
            if state.retries:
                notes.append(f"{state.retries} retr{'ies' if state.retries > 1 else 'y'}")
            took = format_seconds(state.seconds) or "-"
            tail = f"  ({', '.join(notes)})" if notes else ""
            label = ("  " * state.depth + state.name).ljust(name_width)
            lines.append(f"  {paint(mark, colour)} {label}  {took.rjust(7)}{tail}")
    return "\n".join(lines)


def _usd(value: Any) -> str:
    amount = float(value or 0)
    return f"${amount:.4f}" if amount >= 0.01 else f"${amount:.6f}"


def _express_children(count: Any) -> str:
    return f", {count} Express child" if count == 1 else f", {count} Express children"


def cost_lines(cost: Mapping[str, Any] | None) -> list[str]:
    """The run's AWS cost as its record has it: total, measured and estimated parts, the main services."""
    if not cost:
        return ["Cost on AWS: not recorded (the run-cost function sets it once the execution has ended)"]
    usage = cost.get("usage") or {}
    by_service = cost.get("by_service_usd") or {}
    main = {"step_functions": "Step Functions", "lambda": "Lambda", "glue": "Glue"}
    other = sum(float(v or 0) for k, v in by_service.items() if k not in main)
    amounts = {
        "step_functions": f"{usage.get('transitions', '?')} transitions"
        + (_express_children(usage["express_executions"]) if usage.get("express_executions") else ""),
        "lambda": f"{float(usage.get('lambda_gb_seconds') or 0):.2f} GB-s",
        "glue": f"{float(usage.get('glue_dpu_seconds') or 0):.0f} DPU-s",
    }
    parts = [f"{label} {_usd(by_service.get(key))} ({amounts[key]})" for key, label in main.items()]
    return [
        f"Cost on AWS: {_usd(cost.get('total_usd'))} (measured {_usd(cost.get('measured_usd'))}, "
        f"estimated {_usd(cost.get('estimated_usd'))}; {cost.get('prices', '')})",
        f"  {', '.join(parts)}, other requests {_usd(other)}",
    ]


def _elided(
    items: Sequence[T], limit: int, noun: str, keep: Callable[[T], bool] | None = None
) -> list[T | str]:
    """`items` when there are at most `limit` of them; else the first and last few, those `keep`
    wants seen (at most `limit` of them), and in each gap a line saying how many are left out."""
    if limit < 2 or len(items) <= limit:
        return list(items)
    tail = limit // 2
    chosen = set(range(limit - tail)) | set(range(len(items) - tail, len(items)))
    if keep is not None:
        chosen |= set([i for i, item in enumerate(items) if keep(item)][:limit])
    shown: list[T | str] = []
    gap = 0
    for index, item in enumerate(items):
        if index not in chosen:
            gap += 1
            continue
        if gap:
            shown.append(_left_out(gap, noun))
            gap = 0
        shown.append(item)
    if gap:
        shown.append(_left_out(gap, noun))
    return shown


def _left_out(count: int, noun: str) -> str:
    return f"… {count} more {noun}{'s' if count != 1 else ''} (all of them: --output json)"


def _partition_totals(partitions: Sequence[Partition]) -> str:
    """`; 1461 rows, 1461 files in all`: the sums over the partitions that say their sizes."""
    totals = []
    for attribute, noun in (("rows", "row"), ("files", "file")):
        known = [getattr(p, attribute) for p in partitions if getattr(p, attribute) is not None]
        if known:
            total = _count(sum(known), noun)
            totals.append(total if len(known) == len(partitions) else f"{total} in {len(known)} of them")
    return f"; {', '.join(totals)} in all" if totals else ""


def _common_folder(uris: Sequence[str]) -> str:
    """The longest folder (ending in `/`) every URI is under, or empty when it is only the scheme."""
    folders = [uri.split("/")[:-1] for uri in uris]
    common = folders[0] if folders else []
    for parts in folders[1:]:
        same = next((i for i, (a, b) in enumerate(zip(common, parts, strict=False)) if a != b), None)
        common = common[: min(len(common), len(parts)) if same is None else same]
    return "/".join(common) + "/" if len(common) > 3 else ""


def _object_labels(objects: Sequence[ObjectOutcome]) -> list[str]:
    """Each object's key, with its version where the run holds several versions of the key."""
    counts = Counter(o.key for o in objects)
    return [f"{o.key} (version {o.version or '?'})" if counts[o.key] > 1 else o.key for o in objects]


def _cause_lines(cause: str, limit: int = 20) -> list[str]:
    """A cause to read: a Lambda error's message and stack rather than its JSON; long text cut."""
    try:
        parsed = json.loads(cause)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("errorMessage"), str):
        kind = parsed.get("errorType")
        lines = [f"{kind}: {parsed['errorMessage']}" if isinstance(kind, str) else parsed["errorMessage"]]
        stack = parsed.get("stackTrace")
        if isinstance(stack, list):
            lines += [str(frame).rstrip() for frame in stack]
    else:
        lines = cause.strip().splitlines()
    lines = [line for text in lines for line in text.splitlines() if line.strip()]
    return lines[:limit] + ([f"… ({len(lines) - limit} more lines)"] if len(lines) > limit else [])


def _quality_lines(quality: Mapping[str, Any], paint: Any) -> list[str]:
    passed = quality.get("passed")
    verdict = "passed" if passed is True else "failed" if passed is False else "unknown"
    ratio, limit = quality.get("reject_ratio"), quality.get("max_reject_ratio")
    numbers = ""
    if isinstance(ratio, int | float) and isinstance(limit, int | float):
        numbers = f" (reject ratio {ratio:.4g} {'≤' if ratio <= limit else '>'} max {limit:.4g})"
    colour = _GREEN if passed is True else _RED
    lines = [f"Quality gate: {paint(verdict, colour)}{numbers}"]
    for rule in quality.get("rules") or []:
        if not isinstance(rule, Mapping):
            continue
        failed_rows = _int(rule.get("failed_rows"))
        mark = paint("✔", _GREEN) if failed_rows == 0 else paint("✘", _RED) if failed_rows else "?"
        detail = [f"{k}={rule[k]}" for k in ("value", "values", "pattern") if k in rule]
        name = f"{rule.get('column', '?')} {rule.get('rule', '?')}" + (
            f" {' '.join(detail)}" if detail else ""
        )
        lines.append(f"  {mark} {name}: {_count(failed_rows, 'failed row')}")
    return lines
