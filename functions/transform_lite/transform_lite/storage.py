"""Where the executor reads and writes: S3 (the Lambda), or local folders (tests, benchmarks).

Both speak URIs as the job arguments give them: `s3://bucket/key`, or a local path / `file://` URI for
the small documents of a local run. `LocalStorage(mirror)` maps `s3://bucket/key` to
`<mirror>/bucket/key`, the layout of the local stack's bucket mirror (the Glue job's
`--spark_path_prefix`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def split_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


class Storage(Protocol):
    def open(self, uri: str) -> IO[bytes]:
        """A readable binary stream of the object (not buffered whole in memory)."""

    def read(self, uri: str) -> bytes: ...

    def write(self, uri: str, body: bytes, content_type: str = "application/json") -> None: ...

    def upload(self, uri: str, path: Path) -> None:
        """A local file (a Parquet or JSON Lines part written to /tmp) becomes the object `uri`."""

    def delete_prefix(self, uri: str) -> int:
        """Deletes every object under the prefix `uri`; returns how many."""

    def child_prefixes(self, uri: str) -> list[str]:
        """The `folder/` prefixes directly under the prefix `uri` (as URIs ending with '/')."""

    def names(self, uri: str) -> list[str]:
        """The names of the objects directly under the prefix `uri`."""


class S3Storage:
    def __init__(self, client: S3Client) -> None:
        self._s3 = client

    def open(self, uri: str) -> IO[bytes]:
        bucket, key = split_s3_uri(uri)
        body: Any = self._s3.get_object(Bucket=bucket, Key=key)["Body"]
        return body

    def read(self, uri: str) -> bytes:
        bucket, key = split_s3_uri(uri)
        return self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    def write(self, uri: str, body: bytes, content_type: str = "application/json") -> None:
        bucket, key = split_s3_uri(uri)
        self._s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)

    def upload(self, uri: str, path: Path) -> None:
        bucket, key = split_s3_uri(uri)
        self._s3.upload_file(str(path), bucket, key)

    def _pages(self, uri: str, delimiter: bool) -> Iterator[dict[str, Any]]:
        bucket, prefix = split_s3_uri(uri)
        paginator = self._s3.get_paginator("list_objects_v2")
        options: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if delimiter:
            options["Delimiter"] = "/"
        yield from paginator.paginate(**options)  # type: ignore[misc]

    def delete_prefix(self, uri: str) -> int:
        bucket, _ = split_s3_uri(uri)
        deleted = 0
        for page in self._pages(uri, delimiter=False):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self._s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})  # type: ignore[typeddict-item]
                deleted += len(keys)
        return deleted

    def child_prefixes(self, uri: str) -> list[str]:
        bucket, _ = split_s3_uri(uri)
        return [
            f"s3://{bucket}/{item['Prefix']}"
            for page in self._pages(uri, delimiter=True)
            for item in page.get("CommonPrefixes", [])
        ]

    def names(self, uri: str) -> list[str]:
        _, prefix = split_s3_uri(uri)
        return [
            item["Key"][len(prefix) :]
            for page in self._pages(uri, delimiter=True)
            for item in page.get("Contents", [])
        ]


class LocalStorage:
    """Local files: `s3://` URIs under `mirror` (when given), anything else as a path or file:// URI."""

    def __init__(self, mirror: Path | None = None) -> None:
        self._mirror = mirror

    def path(self, uri: str) -> Path:
        if uri.startswith("s3://"):
            if self._mirror is None:
                raise ValueError(f"no local mirror of the buckets for {uri}")
            return self._mirror / uri[len("s3://") :]
        return Path(uri[len("file://") :] if uri.startswith("file://") else uri)

    def open(self, uri: str) -> IO[bytes]:
        return self.path(uri).open("rb")

    def read(self, uri: str) -> bytes:
        return self.path(uri).read_bytes()

    def write(self, uri: str, body: bytes, content_type: str = "application/json") -> None:
        path = self.path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)

    def upload(self, uri: str, path: Path) -> None:
        target = self.path(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)

    def delete_prefix(self, uri: str) -> int:
        """A prefix ending with '/' is a folder here (the executor only deletes folders)."""
        folder = self.path(uri)
        if not folder.is_dir():
            return 0
        count = sum(len(files) for _, _, files in os.walk(folder))
        shutil.rmtree(folder)
        return count

    def child_prefixes(self, uri: str) -> list[str]:
        folder = self.path(uri)
        if not folder.is_dir():
            return []
        return [
            uri.rstrip("/") + "/" + child.name + "/" for child in sorted(folder.iterdir()) if child.is_dir()
        ]

    def names(self, uri: str) -> list[str]:
        folder = self.path(uri)
        if not folder.is_dir():
            return []
        return sorted(child.name for child in folder.iterdir() if child.is_file())
