"""Human approval of a run whose quality rules failed.

Two callers:
- the state machine's ``AwaitApproval`` (``lambda:invoke.waitForTaskToken``): ``request`` keeps the task
  token on the run record (status ``AWAITING_APPROVAL``) and publishes what failed and how to decide;
- a person, through the function URL (``AuthType: AWS_IAM``, so AWS has authenticated the caller and
  names them in the event): ``decide`` records the decision on the run record (who, when, approve or
  refuse, why), then answers the task: ``SendTaskSuccess`` to approve, ``SendTaskFailure``
  ``Tributary.ApprovalRefused`` to refuse. A decision that comes after the timeout is taken back from
  the record and refused with 410: the run was refused by timeout.

The decision is written before it is sent, on the condition that the token is still the run's and that
no decision was made yet, so two people deciding at once cannot both win.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_stepfunctions import SFNClient

AWAITING = "AWAITING_APPROVAL"
RUNNING = "RUNNING"
REFUSED_ERROR = "Tributary.ApprovalRefused"
DECISIONS = ("approve", "refuse")
MAX_REASON_CHARS = 1000
# What SendTaskSuccess/Failure answer once the task is over (timed out, or answered already).
TOO_LATE_CODES = {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}
DECISION_FIELDS = ("approval_decision", "approval_decided_by", "approval_decided_at", "approval_reason")


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


class ApprovalError(Exception):
    """A decision that cannot be made, with the HTTP status the function URL answers."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ApprovalRequest(BaseModel):
    """AwaitApproval's payload."""

    model_config = ConfigDict(extra="ignore")

    task_token: str = Field(min_length=1)
    run_id: str = Field(min_length=1)
    dataset: str = Field(min_length=1)
    execution_arn: str = Field(min_length=1)
    timeout_seconds: int = Field(gt=0)
    cause: str = ""
    summary: dict[str, Any] = Field(default_factory=dict)
    rejects_uri: str = ""
    result_uri: str = ""
    failed_objects_uri: str = ""


@dataclass(frozen=True)
class Decision:
    run_id: str
    decision: str  # approve | refuse
    decided_by: str
    decided_at: str
    reason: str

    def answer(self) -> str:
        """What the task receives: SendTaskSuccess's output, or SendTaskFailure's cause."""
        return json.dumps(
            {
                "decision": self.decision,
                "decided_by": self.decided_by,
                "decided_at": self.decided_at,
                "reason": self.reason,
            }
        )


def caller_of(event: dict[str, Any]) -> str:
    """The IAM principal AWS authenticated for a function URL request (AuthType AWS_IAM)."""
    iam = ((event.get("requestContext") or {}).get("authorizer") or {}).get("iam") or {}
    caller = iam.get("userArn") or iam.get("callerId")
    if not isinstance(caller, str) or not caller:
        raise ApprovalError(
            403,
            "a decision needs the caller's IAM identity: call the approval function URL, signed with "
            "SigV4 (AuthType AWS_IAM)",
        )
    return caller


def parse_decision(event: dict[str, Any], caller: str, now: datetime) -> Decision:
    """A function URL request's body: {"run_id", "decision": "approve" | "refuse", "reason"}."""
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method", "POST")
    if method != "POST":
        raise ApprovalError(405, f"use POST, not {method}")
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body).decode("utf-8")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApprovalError(400, "the body is not valid base64 UTF-8") from exc
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise ApprovalError(400, 'the body must be JSON: {"run_id", "decision", "reason"}') from exc
    if not isinstance(document, dict):
        raise ApprovalError(400, 'the body must be a JSON object: {"run_id", "decision", "reason"}')
    run_id, decision, reason = document.get("run_id"), document.get("decision"), document.get("reason")
    if not isinstance(run_id, str) or not run_id.strip():
        raise ApprovalError(400, "run_id is required")
    if decision not in DECISIONS:
        raise ApprovalError(400, f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
    if not isinstance(reason, str) or not reason.strip():
        raise ApprovalError(400, "reason is required: say why (it is kept on the run record)")
    if len(reason) > MAX_REASON_CHARS:
        raise ApprovalError(400, f"reason is {len(reason)} characters; at most {MAX_REASON_CHARS}")
    return Decision(run_id.strip(), decision, caller, iso(now), reason.strip())


def notification(request: ApprovalRequest, expires_at: str) -> dict[str, Any]:
    """The SNS message: what failed (counts, ratios, where the rejects are) and how to decide."""
    summary = request.summary
    quality = summary.get("quality") if isinstance(summary.get("quality"), dict) else {}
    body = {"run_id": request.run_id, "decision": "approve", "reason": "..."}
    return {
        "run_id": request.run_id,
        "dataset": request.dataset,
        "status": AWAITING,
        "what_failed": request.cause,
        "reject_ratio": summary.get("reject_ratio"),
        "max_reject_ratio": (quality or {}).get("max_reject_ratio"),
        "rows_read": summary.get("rows_read"),
        "rows_written": summary.get("rows_written"),
        "rows_rejected": summary.get("rows_rejected"),
        "partition_count": summary.get("partition_count"),
        "objects_failed": summary.get("objects_failed", 0),
        "rejects_uri": request.rejects_uri,
        "result_uri": request.result_uri,
        "failed_objects_uri": request.failed_objects_uri,
        "decide_before": expires_at,
        "how_to_decide": (
            "POST " + json.dumps(body) + " (decision approve or refuse, reason required) to the approval "
            "function URL (stack output ApprovalFunctionUrl), signed with your IAM credentials (SigV4, "
            f"service lambda). Approve: the run is published with its rejects recorded. Refuse, or no "
            f"decision before {expires_at}: the run is quarantined. Locally: tributary approve "
            f"{request.run_id} --reason TEXT, or tributary refuse {request.run_id} --reason TEXT."
        ),
        "execution_arn": request.execution_arn,
    }


class ApprovalDesk:
    def __init__(self, runs: Table, sns: SNSClient, sfn: SFNClient, topic_arn: str) -> None:
        self.runs = runs
        self.sns = sns
        self.sfn = sfn
        self.topic_arn = topic_arn

    # ------------------------------------------------------------------ the state machine asks
    def ask(self, request: ApprovalRequest, now: datetime) -> dict[str, Any]:
        expires_at = iso(now + timedelta(seconds=request.timeout_seconds))
        try:
            # A retried AwaitApproval (a Lambda error) asks again: the new token replaces the old one.
            self.runs.update_item(
                Key={"run_id": request.run_id},
                ConditionExpression="execution_arn = :execution_arn AND #status IN (:running, :awaiting)",
                UpdateExpression=(
                    "SET #status = :awaiting, approval_token = :token, approval_requested_at = :now, "
                    "approval_expires_at = :expires_at, quality_failure = :cause, "
                    "rejects_uri = :rejects_uri, updated_at = :now REMOVE " + ", ".join(DECISION_FIELDS)
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":execution_arn": request.execution_arn,
                    ":running": RUNNING,
                    ":awaiting": AWAITING,
                    ":token": request.task_token,
                    ":now": iso(now),
                    ":expires_at": expires_at,
                    ":cause": request.cause or "(no cause)",
                    ":rejects_uri": request.rejects_uri,
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise RuntimeError(
                    f"run {request.run_id}: the run record is not RUNNING for execution "
                    f"{request.execution_arn}; no decision asked"
                ) from exc
            raise
        self.sns.publish(
            TopicArn=self.topic_arn,
            Subject=f"Tributary run NEEDS APPROVAL: {request.dataset}"[:100],
            Message=json.dumps(notification(request, expires_at)),
            MessageAttributes={
                "status": {"DataType": "String", "StringValue": AWAITING},
                "dataset": {"DataType": "String", "StringValue": request.dataset},
            },
        )
        return {"run_id": request.run_id, "status": AWAITING, "decide_before": expires_at}

    # ------------------------------------------------------------------ a person decides
    def decide(self, decision: Decision) -> dict[str, Any]:
        item = self.runs.get_item(Key={"run_id": decision.run_id}, ConsistentRead=True).get("Item")
        if item is None:
            raise ApprovalError(404, f"no run {decision.run_id}")
        record = {key: str(value) for key, value in item.items()}
        token = record.get("approval_token")
        if record.get("status") != AWAITING or not token:
            decided = record.get("approval_decision")
            already = (
                f" ({decided} by {record.get('approval_decided_by')} at {record.get('approval_decided_at')})"
                if decided
                else ""
            )
            status = record.get("status", "without status")
            raise ApprovalError(409, f"run {decision.run_id} is {status}, not {AWAITING}{already}")
        self._claim(decision, token)
        try:
            if decision.decision == "approve":
                self.sfn.send_task_success(taskToken=token, output=decision.answer())
            else:
                self.sfn.send_task_failure(taskToken=token, error=REFUSED_ERROR, cause=decision.answer())
        except ClientError as exc:
            self._take_back(decision)
            if exc.response["Error"]["Code"] in TOO_LATE_CODES:
                raise ApprovalError(
                    410,
                    f"run {decision.run_id}: too late, the decision window closed at "
                    f"{record.get('approval_expires_at', '(unknown)')} and the run was refused by timeout "
                    "(or its execution was stopped)",
                ) from exc
            raise
        return asdict(decision)

    def _claim(self, decision: Decision, token: str) -> None:
        try:
            self.runs.update_item(
                Key={"run_id": decision.run_id},
                ConditionExpression=(
                    "#status = :awaiting AND approval_token = :token "
                    "AND attribute_not_exists(approval_decision)"
                ),
                UpdateExpression=(
                    "SET approval_decision = :decision, approval_decided_by = :by, "
                    "approval_decided_at = :at, approval_reason = :reason, updated_at = :at"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":awaiting": AWAITING,
                    ":token": token,
                    ":decision": decision.decision,
                    ":by": decision.decided_by,
                    ":at": decision.decided_at,
                    ":reason": decision.reason,
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ApprovalError(
                    409,
                    f"run {decision.run_id}: another decision was made first, or the run stopped waiting",
                ) from exc
            raise

    def _take_back(self, decision: Decision) -> None:
        """Removes a decision that could not be sent, unless the state machine has since recorded its own
        (a timeout)."""
        try:
            self.runs.update_item(
                Key={"run_id": decision.run_id},
                ConditionExpression=(
                    "approval_decision = :decision AND approval_decided_by = :by "
                    "AND approval_decided_at = :at"
                ),
                UpdateExpression="REMOVE " + ", ".join(DECISION_FIELDS),
                ExpressionAttributeValues={
                    ":decision": decision.decision,
                    ":by": decision.decided_by,
                    ":at": decision.decided_at,
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
