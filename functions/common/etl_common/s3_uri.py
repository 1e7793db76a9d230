"""``s3://bucket/key`` URIs and the artifact layout of docs/interfaces.md."""

from typing import NamedTuple
from urllib.parse import urlsplit


class S3Uri(NamedTuple):
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_s3_uri(uri: str) -> S3Uri:
    """Split an ``s3://`` URI. The key is taken verbatim: object keys are never URL-encoded in our URIs."""
    parts = urlsplit(uri, allow_fragments=False)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    # urlsplit would treat '?' as the start of a query; S3 keys may contain it, so slice by hand.
    key = uri[len("s3://") + len(parts.netloc) :].removeprefix("/")
    return S3Uri(parts.netloc, key)


def s3_uri(bucket: str, key: str) -> str:
    return str(S3Uri(bucket, key))


def run_artifact_key(run_id: str, name: str) -> str:
    """Key of one of a run's documents: manifest.json, contract.json, validated.json, rejected.json, ..."""
    return f"runs/{run_id}/{name}"


def staged_input_key(run_id: str, index: int, suffix: str) -> str:
    """Key of the staged copy of the ``index``-th accepted object, which the Glue job reads."""
    return run_artifact_key(run_id, f"input/{index:05d}{suffix}")


def quarantine_prefix(dataset: str, run_id: str) -> str:
    return f"quarantine/{dataset}/{run_id}/"


def curated_location(bucket: str, dataset: str) -> str:
    return f"s3://{bucket}/{dataset}/"
