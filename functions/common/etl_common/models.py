"""Documents exchanged between the parts (docs/interfaces.md): manifests, task inputs and results.

Documents we write are exact (``extra="forbid"``); documents written by other parts (the Glue job's
result) are read leniently (``extra="ignore"``) so that an added field does not break a run.

Every model is built on first use (``defer_build``), not at import: each function uses a few of them,
and building the validators of all of them would be paid by every cold start.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt

from etl_common.objects import object_id

NonEmptyStr = Annotated[str, Field(min_length=1)]


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Document(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class ForeignDocument(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


# What made an object version enter a run: an upload, the scheduled sweep, a backfill (the sweep invoked
# by a person) or the reprocess of a failed run.
TriggerKind = Literal["upload", "sweep", "backfill", "reprocess"]


class TriggerSource(Document):
    """Who or what caused an object version to enter a run (audit trail), from its "Object Created" event.

    ``principal``: for an upload, S3's ``detail.requester`` (the account id, or the AWS service principal,
    of the request); for the sweep, the schedule's ARN; for a backfill or reprocess, the ``requested_by``
    the person gave when invoking the sweep function (``unattributed`` when none was given).
    ``request_id``: for an upload, S3's request id (CloudTrail's ``requestID`` of the PutObject data
    event, which names the IAM identity); for the sweep, the sweep invocation's Lambda request id.
    """

    kind: TriggerKind
    principal: NonEmptyStr
    source_ip: str | None = None
    request_id: str | None = None
    # S3's reason (PutObject, CompleteMultipartUpload, CopyObject, ...) or the sweep's (Sweep, ...).
    reason: str | None = None
    event_id: str | None = None


class ManifestObject(Document):
    """One object version of a run. ``key`` is the decoded key, exactly as S3 stores it."""

    bucket: NonEmptyStr
    key: NonEmptyStr
    version_id: str | None = None
    etag: str | None = None
    size: NonNegativeInt
    event_time: datetime
    # Absent in manifests written before the trigger recorded it.
    trigger: TriggerSource | None = None

    @property
    def version(self) -> str | None:
        """What tells two versions apart: the version id, or the ETag in an unversioned bucket."""
        return self.version_id or self.etag

    @property
    def object_id(self) -> str:
        return object_id(self.bucket, self.key, self.version)


class Manifest(Document):
    run_id: NonEmptyStr
    dataset: NonEmptyStr
    created_at: datetime
    source: Literal["eventbridge", "sweep"] = "eventbridge"
    objects: Annotated[list[ManifestObject], Field(min_length=1)]


class ExecutionInput(Document):
    """The state machine's input: names, a URI and a count (claim check), never the object list."""

    run_id: NonEmptyStr
    dataset: NonEmptyStr
    manifest_uri: NonEmptyStr
    object_count: NonNegativeInt


class ValidatedObject(ManifestObject):
    compression: Literal["gzip", "none"]
    encoding: str
    format: Literal["csv", "jsonl", "json"]
    # The server-side copy of this version that the Glue job reads (runs/<run_id>/input/<NNNNN><ext>);
    # absent in manifests written before validate staged its inputs (the job then reads bucket/key).
    staged_uri: str | None = None


class ReferenceVersion(Document):
    """The object version of a reference (master data) file a run checked against (``references``)."""

    name: NonEmptyStr
    bucket: NonEmptyStr
    key: NonEmptyStr
    # None in a bucket without versioning: the ETag then tells the content apart.
    version_id: str | None
    etag: str
    values: NonNegativeInt


class ContractVersion(Document):
    """Which contract a run used: its own ``version`` field and the sha256 of its JSON (TransformPlan's)."""

    contract_version: NonEmptyStr
    contract_sha256: NonEmptyStr
    references: list[ReferenceVersion] = Field(default_factory=list)

    def attributes(self) -> dict[str, object]:
        """As the attributes of a run record or a lineage item."""
        return self.model_dump(mode="json")


class ValidatedManifest(Document):
    run_id: NonEmptyStr
    dataset: NonEmptyStr
    created_at: datetime
    source: Literal["eventbridge", "sweep"] = "eventbridge"
    contract_uri: NonEmptyStr
    objects: list[ValidatedObject]
    # Absent in validated manifests written before runs recorded the versions they used.
    versions: ContractVersion | None = None


RejectionCode = Literal[
    "not_found",
    # Refused by validate before it staged its inputs (names Spark skips); kept to read old documents.
    "hidden_name",
    # The object could not be read safely (access denied, archived, or a sample the checks cannot handle).
    "unreadable",
    "too_large",
    "empty",
    "compression_mismatch",
    "corrupt_gzip",
    "encoding",
    "format_mismatch",
    "columns_mismatch",
]


class Rejection(Document):
    code: RejectionCode
    message: str


class RejectedObject(ManifestObject):
    reasons: Annotated[list[Rejection], Field(min_length=1)]


class RejectedList(Document):
    run_id: NonEmptyStr
    dataset: NonEmptyStr
    objects: list[RejectedObject]
    # Where validate copied these objects (quarantine/<dataset>/<run_id>/); None when the list is empty.
    quarantine_uri: str | None = None


class ValidateResult(Document):
    validated_manifest_uri: str
    rejected_uri: str
    contract_uri: str
    accepted: NonNegativeInt
    rejected: NonNegativeInt
    table: str
    # Where validate copied the objects it refused (quarantine/<dataset>/<run_id>/); None if it refused none.
    quarantine_uri: str | None
    # The contract compiled once for this run (runs/<run_id>/plan.json): what the executors run.
    plan_uri: str
    # Bytes of the accepted object versions (= the staged bytes): the state machine picks the executor by it.
    accepted_bytes: NonNegativeInt


class CatalogRequest(ForeignDocument):
    run_id: NonEmptyStr
    dataset: NonEmptyStr
    contract_uri: NonEmptyStr


class CatalogResult(Document):
    database: str
    table: str
    location: str
    created: bool
    updated: bool


class LineageRequest(ForeignDocument):
    run_id: NonEmptyStr
    dataset: NonEmptyStr
    manifest_uri: NonEmptyStr
    result_uri: NonEmptyStr


class LineageResult(Document):
    objects: NonNegativeInt


class QuarantineRequest(ForeignDocument):
    run_id: NonEmptyStr
    dataset: NonEmptyStr
    manifest_uri: NonEmptyStr
    # Step Functions' Catch output: both may be absent or null when the failure carried none.
    error: str | None = None
    cause: str | None = None


class QuarantineResult(Document):
    quarantined: NonNegativeInt
    quarantine_uri: str


class QuarantineReason(Document):
    """``<copy>.reason.json``: why an input was quarantined (its run failed, or validate refused it)."""

    run_id: str
    dataset: str
    source: str
    # The exact original key (the copy's own key is a safe form of it; absent in older reasons).
    key: str | None = None
    version_id: str | None
    etag: str | None
    error: str | None
    cause: str | None
    # The object's own reasons when validate refused it; empty when the whole run failed.
    reasons: list[Rejection] = Field(default_factory=list)
    quarantined_at: datetime


class ObjectResult(ForeignDocument):
    key: str
    version_id: str | None = None
    rows_read: NonNegativeInt = 0
    rows_written: NonNegativeInt = 0
    rows_rejected: NonNegativeInt = 0


class FailedObjectResult(ForeignDocument):
    key: str
    version_id: str | None = None


class PartitionResult(ForeignDocument):
    values: dict[str, str]
    location: str
    rows: NonNegativeInt = 0
    files: NonNegativeInt = 0


class JobResult(ForeignDocument):
    """``runs/<run_id>/result.json`` as written by the Glue job (only the fields we use)."""

    run_id: str
    dataset: str
    status: str
    rows_read: NonNegativeInt = 0
    rows_written: NonNegativeInt = 0
    rows_rejected: NonNegativeInt = 0
    objects: list[ObjectResult] = Field(default_factory=list)
    partitions: list[PartitionResult] = Field(default_factory=list)
    outputs: list[str] = Field(default_factory=list)
    # Objects the job could not read and left out (failed-objects.json lists them with their reasons).
    failed_objects: list[FailedObjectResult] = Field(default_factory=list)


class ObjectView(ForeignDocument):
    """An object of a manifest or of a validated manifest, whichever the state machine passes."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: NonNegativeInt = 0
    event_time: datetime | None = None
    trigger: TriggerSource | None = None

    @property
    def object_id(self) -> str:
        return object_id(self.bucket, self.key, self.version_id or self.etag)


class ManifestView(ForeignDocument):
    run_id: str
    dataset: str
    objects: list[ObjectView]
    # Only in a validated manifest (see ValidatedManifest).
    versions: ContractVersion | None = None
