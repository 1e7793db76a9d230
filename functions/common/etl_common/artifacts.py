"""JSON documents in S3 (manifests, contract.json, results), read and written through pydantic models."""

import json
from typing import Any, TypeVar

from pydantic import BaseModel

from etl_common.aws import s3_client
from etl_common.s3_uri import parse_s3_uri, s3_uri

ModelT = TypeVar("ModelT", bound=BaseModel)


def put_document(bucket: str, key: str, document: BaseModel) -> str:
    """Write ``document`` as JSON and return its URI. Writes are whole-object, so readers never see half."""
    body = document.model_dump_json(indent=2).encode("utf-8")
    s3_client().put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    return s3_uri(bucket, key)


def put_json(bucket: str, key: str, document: dict[str, Any]) -> str:
    body = json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8")
    s3_client().put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    return s3_uri(bucket, key)


def get_json(uri: str) -> Any:
    location = parse_s3_uri(uri)
    response = s3_client().get_object(Bucket=location.bucket, Key=location.key)
    return json.loads(response["Body"].read())


def get_document(uri: str, model: type[ModelT]) -> ModelT:
    return model.model_validate(get_json(uri))
