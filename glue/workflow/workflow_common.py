"""What the Glue Workflow variant's job scripts share (glue/workflow/*.py): arguments, clients, logs,
the contracts folder and, locally only, the bridge between s3:// and local Spark's mirror folder.

Python 3.9 compatible: the publish step runs as a Glue Python shell job (Python 3.9).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

RUNS_PROPERTY = "tributary:runs"
# A checkout: glue/workflow/ → the repository, whose functions' packages the scripts import.
REPOSITORY = Path(__file__).resolve().parents[2]
FUNCTION_PACKAGES = ("functions/common", "functions/validate", "functions/trigger", "functions/catalog")


def job_arguments(argv: Sequence[str], names: Sequence[str]) -> dict[str, str]:
    """The named job arguments (`--name value` or `--name=value`); Glue's own arguments are ignored."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for name in names:
        parser.add_argument(f"--{name}", required=True)
    known, _ = parser.parse_known_args(list(argv))
    return {name: str(getattr(known, name)) for name in names}


def client(service: str) -> Any:
    import boto3

    return boto3.client(service)


def log(message: str, **fields: Any) -> None:
    """One JSON line per event (CloudWatch Logs on AWS, the run's log locally); counts and ids only."""
    now = dt.datetime.now(dt.timezone.utc)  # noqa: UP017 (dt.UTC is Python 3.11; Python shell runs 3.9)
    entry = {"time": now.isoformat(), "message": message, **fields}
    print(json.dumps(entry, default=str), flush=True)


def use_repository_code() -> None:
    """Run from a checkout (the local stack): import the functions' packages from it. On AWS they come
    from `--extra-py-files` (functions.zip) and this does nothing."""
    for folder in FUNCTION_PACKAGES:
        path = REPOSITORY / folder
        if path.is_dir() and str(path) not in sys.path:
            sys.path.append(str(path))
    glue_folder = REPOSITORY / "glue"
    if (glue_folder / "transform.py").is_file() and str(glue_folder) not in sys.path:
        sys.path.append(str(glue_folder))


def contracts_dir(args: dict[str, str], s3: Any) -> Path:
    """The contracts: the checkout's contracts/ when run from one, else `--contracts_uri`'s *.yaml
    downloaded to a temporary folder."""
    local = REPOSITORY / "contracts"
    if local.is_dir() and (REPOSITORY / "functions").is_dir():
        return local
    uri = args["contracts_uri"]
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    folder = Path(tempfile.mkdtemp(prefix="contracts-"))
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            name = item["Key"][len(prefix) :]
            if name.endswith(".yaml") and "/" not in name:
                s3.download_file(bucket, item["Key"], str(folder / name))
    return folder


def read_json(s3: Any, uri: str) -> Any:
    bucket, _, key = uri[len("s3://") :].partition("/")
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


class _NoBridge:
    def stage(self, uris: Sequence[str]) -> None:
        pass

    def publish(self, uris: Sequence[str]) -> None:
        pass


class _MirrorBridge:
    """Locally, Spark reads and writes a mirror folder of the local S3 (`--spark_path_prefix`): the
    objects a run reads are copied in first and what it wrote is uploaded after, by the local Glue
    runtime's own mirror (tributary.local.runtimes.s3_mirror)."""

    def __init__(self, mirror: Any) -> None:
        self._mirror = mirror
        self._before = mirror.snapshot()

    def stage(self, uris: Sequence[str]) -> None:
        self._before = self._mirror.snapshot()
        self._mirror.stage_arguments({str(i): uri for i, uri in enumerate(uris)})
        self._before = self._mirror.snapshot()

    def publish(self, uris: Sequence[str]) -> None:
        self._mirror.publish_changes(self._before, list(uris))
        self._before = self._mirror.snapshot()


@contextlib.contextmanager
def local_s3_bridge(spark_path_prefix: str, s3: Any) -> Iterator[Any]:
    """The bridge for a `file://` `--spark_path_prefix` (local runs only); nothing on AWS."""
    if not spark_path_prefix.startswith("file://"):
        yield _NoBridge()
        return
    from urllib.parse import unquote, urlparse

    from tributary.local.runtimes.s3_mirror import S3Mirror

    yield _MirrorBridge(S3Mirror(Path(unquote(urlparse(spark_path_prefix).path)), s3))
