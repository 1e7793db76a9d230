"""A folder that mirrors objects of the local S3, for programs that read and write files (local Spark).

The Glue job sees `s3://bucket/key` as `<root>/bucket/key` (its `--spark_path_prefix` bridge). Before a
run the objects it will read are copied in; after it, what it created, changed or deleted in the
folder is applied to S3. Hadoop's own S3 connector (s3a) is not available offline, hence files.

Keys are data, not paths: an S3 key may hold `..`, a leading `/`, `//`, control characters, any
Unicode and up to 1,024 bytes, while a file name is at most 255 bytes and `.`/`..` mean something.
Each `/`-separated component of the bucket and key that is not a plain file name is encoded
(`local_parts`): `%` + its percent-encoding (every byte but `A-Za-z0-9_.~-`), split over several
`%+`-prefixed directories when longer than a file name. The encoded form never contains `/`, `.` or
`..` alone, so the path stays under the mirror's root; every path is also resolved and checked to be
inside it (a symlink placed in the folder cannot lead out). Plain components keep their name, so
`s3://bucket/key` is still `<root>/bucket/key` for the Glue job's `--spark_path_prefix` bridge; the
job reads the staged copies validate makes (`staged_uri`, safe names) rather than original keys.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from tributary.local.runtimes.athena_runtime import parse_s3_uri

# Hadoop's local file system writes a checksum file beside each file; S3 has none.
_LOCAL_ONLY_SUFFIXES = (".crc",)

Snapshot = dict[str, tuple[int, int]]  # relative path → (mtime_ns, size)

NAME_MAX = 255  # bytes of one file name (ext4, APFS, NTFS: 255)
PATH_MAX = 4096  # bytes of a whole path (Linux)
_MARK = "%"  # an encoded component: % + percent-encoding of the original
_CONTINUED = "%+"  # a slice of a long encoded component; the next one continues it ("+" is always encoded)
_SLICE = NAME_MAX - len(_CONTINUED)


class UnsafePath(ValueError):
    """A key that cannot be given a path inside the mirror (too long for this folder's depth)."""


def _is_plain(component: str) -> bool:
    """A component usable as a file name as it is, and never mistaken for an encoded one."""
    return (
        component not in ("", ".", "..")
        and not component.startswith(_MARK)
        and "\\" not in component
        and component.isprintable()  # no control, format, separator-other or surrogate characters
        and len(component.encode("utf-8", "surrogatepass")) <= NAME_MAX
    )


def encode_component(component: str) -> list[str]:
    """File names for one `/`-separated component of a key: itself when plain, else its encoding."""
    if _is_plain(component):
        return [component]
    quoted = quote(component, safe="", errors="surrogatepass")  # only A-Za-z0-9_.~-%
    if len(quoted) + len(_MARK) <= NAME_MAX:
        return [_MARK + quoted]
    slices = [quoted[i : i + _SLICE] for i in range(0, len(quoted), _SLICE)]
    return [_CONTINUED + s for s in slices[:-1]] + [_MARK + slices[-1]]


def local_parts(bucket: str, key: str) -> list[str]:
    """The relative path (as file names) of s3://bucket/key in a mirror."""
    return [name for component in [bucket, *key.split("/")] for name in encode_component(component)]


def decode_parts(names: list[str]) -> tuple[str, str] | None:
    """(bucket, key) of a relative path made by `local_parts`, or of a file a program wrote (plain
    names); None for a path no key maps to (a dangling `%+` slice)."""
    components: list[str] = []
    pending: list[str] = []
    for name in names:
        if name.startswith(_CONTINUED):
            pending.append(name[len(_CONTINUED) :])
        elif name.startswith(_MARK):
            components.append(unquote("".join(pending) + name[len(_MARK) :], errors="surrogatepass"))
            pending = []
        elif pending:
            return None
        else:
            components.append(name)
    if pending or len(components) < 2:
        return None
    return components[0], "/".join(components[1:])


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
        """Where s3://bucket/key is mirrored: always inside the root, whatever the key holds."""
        root = Path(os.path.realpath(self.root))
        path = root.joinpath(*local_parts(bucket, key))
        if len(os.fsencode(path)) >= PATH_MAX:
            raise UnsafePath(f"s3://{bucket}/{key[:64]}…: its mirrored path would exceed {PATH_MAX} bytes")
        resolved = Path(os.path.realpath(path))  # follows any symlink placed in the folder
        if resolved == root or not resolved.is_relative_to(root):
            raise UnsafePath(f"s3://{bucket}/{key[:64]}: mirrored outside {root}")
        return path

    def fetch(self, bucket: str, key: str, version_id: str | None = None) -> Path:
        target = self.path_of(bucket, key)
        extra = {"VersionId": version_id} if version_id else {}
        body = self.s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if not Path(os.path.realpath(target.parent)).is_relative_to(os.path.realpath(self.root)):
                raise UnsafePath(f"s3://{bucket}/{key[:64]}: mirrored outside {self.root}")
            target.write_bytes(body)
        except (IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
            # S3 may hold both `a` and `a/b`; a folder cannot hold a file and a folder named `a`.
            raise UnsafePath(
                f"s3://{bucket}/{key[:64]}: cannot be mirrored, a file and a folder would share a name "
                f"({exc.strerror})"
            ) from None
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
                # The validated manifest names a staged copy of each accepted version (safe name).
                if isinstance(item.get("staged_uri"), str) and item["staged_uri"].startswith("s3://"):
                    self.fetch(*parse_s3_uri(item["staged_uri"]))
                    staged.append(item["staged_uri"])
                else:
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
            bucket, key = _object_of(relative)
            self.s3.upload_file(str(self.root / relative), bucket, key)
            report.uploaded.append(f"s3://{bucket}/{key}")
        for relative in sorted(set(before) - set(after)):
            bucket, key = _object_of(relative)
            self.s3.delete_object(Bucket=bucket, Key=key)
            report.deleted.append(f"s3://{bucket}/{key}")
        return report


def _object_of(relative: str) -> tuple[str, str]:
    located = decode_parts(relative.split(os.sep))
    if located is None:  # never for what _publishable lets through
        raise ValueError(f"no S3 object is mirrored at {relative}")
    return located


def _publishable(relative: str, prefixes: tuple[str, ...]) -> bool:
    if relative.endswith(_LOCAL_ONLY_SUFFIXES) or "/_temporary/" in f"/{relative}":
        return False  # checksums and Spark's uncommitted task output never reach S3
    located = decode_parts(relative.split(os.sep))
    return located is not None and f"{located[0]}/{located[1]}".startswith(prefixes)


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
