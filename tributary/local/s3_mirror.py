"""A folder that mirrors objects of the local S3, for programs that read and write files (local Spark).

The Glue job sees `s3://bucket/key` as `<root>/bucket/key` (its `--spark_path_prefix` bridge). Before a
run the objects it will read are copied in; after it, what it created, changed or deleted in the
folder is applied to S3. Hadoop's own S3 connector (s3a) is not available offline, hence files.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tributary.local.athena_runtime import parse_s3_uri

# Hadoop's local file system writes a checksum file beside each file; S3 has none.
_LOCAL_ONLY_SUFFIXES = (".crc",)

Snapshot = dict[str, tuple[int, int]]  # relative path → (mtime_ns, size)


@dataclass
class SyncReport:
    uploaded: list[str]
    deleted: list[str]


class S3Mirror:
    def __init__(self, root: Path, s3: Any) -> None:
        self.root = root
        self.s3 = s3
        root.mkdir(parents=True, exist_ok=True)

    @property
    def spark_prefix(self) -> str:
        return self.root.resolve().as_uri()

    def path_of(self, bucket: str, key: str) -> Path:
        return self.root / bucket / key

    def fetch(self, bucket: str, key: str, version_id: str | None = None) -> Path:
        target = self.path_of(bucket, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        extra = {"VersionId": version_id} if version_id else {}
        body = self.s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()
        target.write_bytes(body)
        return target

    def stage_arguments(self, arguments: dict[str, str]) -> list[str]:
        """Copy in every object an argument names, and the objects a manifest argument lists."""
        staged = []
        for value in arguments.values():
            if not isinstance(value, str) or not value.startswith("s3://") or value.endswith("/"):
                continue
            bucket, key = parse_s3_uri(value)
            try:
                path = self.fetch(bucket, key)
            except self.s3.exceptions.NoSuchKey:
                continue
            except Exception:  # an output location, or a bucket that does not exist yet
                continue
            staged.append(value)
            for item in _manifest_objects(path):
                self.fetch(item["bucket"], item["key"], item.get("version_id"))
                staged.append(f"s3://{item['bucket']}/{item['key']}")
        return staged

    def snapshot(self) -> Snapshot:
        state: Snapshot = {}
        for directory, _, files in os.walk(self.root):
            for name in files:
                path = Path(directory) / name
                stat = path.stat()
                state[str(path.relative_to(self.root))] = (stat.st_mtime_ns, stat.st_size)
        return state

    def publish_changes(self, before: Snapshot, uris: list[str]) -> SyncReport:
        """Upload files created or changed since `before`, delete from S3 those removed since: only
        under the given s3:// URIs (a job's outputs), so that another run's work is left alone."""
        prefixes = tuple(uri[len("s3://") :] for uri in uris if uri.startswith("s3://"))
        after = {k: v for k, v in self.snapshot().items() if _publishable(k, prefixes)}
        before = {k: v for k, v in before.items() if _publishable(k, prefixes)}
        report = SyncReport([], [])
        for relative, signature in sorted(after.items()):
            if before.get(relative) == signature:
                continue
            bucket, _, key = relative.partition("/")
            self.s3.upload_file(str(self.root / relative), bucket, key)
            report.uploaded.append(f"s3://{bucket}/{key}")
        for relative in sorted(set(before) - set(after)):
            bucket, _, key = relative.partition("/")
            self.s3.delete_object(Bucket=bucket, Key=key)
            report.deleted.append(f"s3://{bucket}/{key}")
        return report


def _publishable(relative: str, prefixes: tuple[str, ...]) -> bool:
    if relative.endswith(_LOCAL_ONLY_SUFFIXES) or "/_temporary/" in f"/{relative}":
        return False  # checksums and Spark's uncommitted task output never reach S3
    return relative.startswith(prefixes)


def _manifest_objects(path: Path) -> list[dict[str, Any]]:
    """The `objects` of a manifest document (docs/interfaces.md), or nothing for any other file."""
    if path.stat().st_size > 64 * 1024 * 1024 or path.suffix not in (".json", ""):
        return []
    try:
        document = json.loads(path.read_text())
    except (UnicodeDecodeError, ValueError):
        return []
    objects = document.get("objects") if isinstance(document, dict) else None
    if not isinstance(objects, list):
        return []
    return [o for o in objects if isinstance(o, dict) and "bucket" in o and "key" in o]
