"""boto3 clients, created once per execution environment on first use.

No endpoint is hard-coded: boto3 honours ``AWS_ENDPOINT_URL`` (and the per-service variants), which is
how the local toolkit points every handler at its moto server.
"""

from functools import cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient, DynamoDBServiceResource
    from mypy_boto3_glue import GlueClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient

# Standard retry mode adds back-off with jitter on throttling, which the default legacy mode lacks.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


@cache
def s3_client() -> "S3Client":
    return boto3.client("s3", config=_CONFIG)


@cache
def dynamodb_resource() -> "DynamoDBServiceResource":
    return boto3.resource("dynamodb", config=_CONFIG)


@cache
def dynamodb_client() -> "DynamoDBClient":
    """A low-level client (the resource's own client converts Python values, so it cannot serve callers
    that pass DynamoDB JSON, such as Powertools Idempotency). Made from the same default session as the
    resource, whose loader caches the service model: the model is read once per execution environment."""
    return boto3.client("dynamodb", config=_CONFIG)


@cache
def sfn_client() -> "SFNClient":
    return boto3.client("stepfunctions", config=_CONFIG)


@cache
def glue_client() -> "GlueClient":
    return boto3.client("glue", config=_CONFIG)


@cache
def sqs_client() -> "SQSClient":
    return boto3.client("sqs", config=_CONFIG)


def reset_clients() -> None:
    """Forget the cached clients (tests start a fresh moto backend per test)."""
    for factory in (s3_client, dynamodb_resource, dynamodb_client, sfn_client, glue_client, sqs_client):
        factory.cache_clear()
