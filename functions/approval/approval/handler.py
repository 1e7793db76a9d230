"""Lambda entry point of the approval function (``approval.handler.lambda_handler``).

The state machine invokes it directly (AwaitApproval, ``lambda:invoke.waitForTaskToken``) with the task
token; people reach it through its function URL (AuthType AWS_IAM) to approve or refuse a run.
"""

import json
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from etl_common.aws import dynamodb_resource, sfn_client
from etl_common.models import utc_now
from etl_common.settings import RunsSettings
from pydantic import Field

from approval.logic import ApprovalDesk, ApprovalError, ApprovalRequest, caller_of, parse_decision


class ApprovalSettings(RunsSettings):
    notification_topic_arn: str = Field(min_length=1)


settings = ApprovalSettings()
logger = Logger()
tracer = Tracer()
metrics = Metrics()


def desk() -> ApprovalDesk:
    return ApprovalDesk(
        dynamodb_resource().Table(settings.runs_table),
        boto3.client("sns"),
        sfn_client(),
        settings.notification_topic_arn,
    )


def http(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "task_token" in event:
        request = parse(event=event, model=ApprovalRequest)
        logger.append_keys(run_id=request.run_id)
        asked = desk().ask(request, utc_now())
        metrics.add_metric(name="ApprovalsRequested", unit=MetricUnit.Count, value=1)
        logger.info("Decision asked", extra={"decide_before": asked["decide_before"]})
        return asked
    if "requestContext" not in event:
        raise ValueError(
            "unknown event: the approval function takes AwaitApproval's request (with task_token) or a "
            "function URL request"
        )
    try:
        decision = parse_decision(event, caller_of(event), utc_now())
        logger.append_keys(run_id=decision.run_id)
        decided = desk().decide(decision)
    except ApprovalError as exc:
        logger.warning("Decision not made", extra={"status": exc.status, "reason": exc.message})
        return http(exc.status, {"message": exc.message})
    if decision.decision == "approve":
        metrics.add_metric(name="RunsApproved", unit=MetricUnit.Count, value=1)
    else:
        metrics.add_metric(name="RunsRefused", unit=MetricUnit.Count, value=1)
    logger.info("Decision made", extra={"decision": decision.decision, "decided_by": decision.decided_by})
    return http(200, decided)
