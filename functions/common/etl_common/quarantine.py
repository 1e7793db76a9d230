"""Copies (never moves) an input aside to ``quarantine/<dataset>/<run_id>/<quarantine key>`` with its reason.

Shared by the quarantine task (every input of a failed run, with the run's error) and validate (each
object it refused, with that object's own reasons). Both write the same two keys for an object, so a
run whose refused objects were quarantined by validate and which fails later is quarantined again over
them: the copy is the same version, the ``.reason.json`` is replaced by the later one.

Keys are data, not paths. The quarantine key is the original key when that is plain (no empty, ``.`` or
``..`` segment, no leading or trailing ``/``, no control or bidirectional-override character, segments
of at most 255 bytes) and the copy's ``.reason.json`` still fits S3's 1,024-byte limit. Otherwise, and for
each version of a key that the run holds several versions of, it is a readable form of the key
(truncated to fit) followed by ``~`` and a digest of the key and its version, keeping the file's
suffix. The exact original key, version id and ETag are in ``.reason.json``. Unicode is kept as it is:
an NFD key and its NFC twin are two keys, and stay two.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import ClientError

from etl_common.models import QuarantineReason, Rejection, utc_now
from etl_common.objects import MISSING_ERROR_CODES, UNREADABLE_ERROR_CODES, supported_suffix
from etl_common.s3_uri import quarantine_prefix, s3_uri

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from mypy_boto3_s3 import S3Client

REASON_SUFFIX = ".reason.json"
MISSING_NOTE = "input missing at quarantine time"
UNREADABLE_NOTE = "input could not be copied"
MAX_KEY_BYTES = 1024  # S3's limit on a key's UTF-8 encoding
MAX_SEGMENT_BYTES = 255  # a file name on common file systems (a quarantine synced to a disk)
DIGEST_CHARS = 32  # 128 bits of SHA-256
DIGEST_MARK = "~"
_DIGEST_TAIL = re.compile(rf"{DIGEST_MARK}[0-9a-f]{{{DIGEST_CHARS}}}")
# Characters that reorder how a name is displayed (a "Trojan Source"-style name can pass for another).
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class SourceObject(Protocol):
    """An object version of a manifest (any of the manifest models)."""

    @property
    def bucket(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def version_id(self) -> str | None: ...
    @property
    def etag(self) -> str | None: ...


def _unsafe_char(char: str) -> bool:
    return char in _BIDI_CONTROLS or char == "\\" or unicodedata.category(char) == "Cc"


def is_plain_key(key: str) -> bool:
    """A key that reads the same as a path on any file system and in any listing."""
    segments = key.split("/")
    return (
        all(segment not in ("", ".", "..") for segment in segments)
        and all(len(segment.encode("utf-8", "surrogatepass")) <= MAX_SEGMENT_BYTES for segment in segments)
        and not any(_unsafe_char(char) for char in key)
        # would collide with the reason of another key, or mimic a digest form
        and not key.endswith(REASON_SUFFIX)
        and not _DIGEST_TAIL.search(segments[-1])
    )


def _truncate(text: str, max_bytes: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 encoding fits ``max_bytes`` (never half a character)."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= max_bytes:
        return text
    return data[: max(max_bytes, 0)].decode("utf-8", "ignore")


def _readable(key: str) -> list[str]:
    """The key's segments with what is unsafe made harmless (for the digest form)."""
    segments = []
    for segment in key.split("/"):
        if segment in ("", "."):
            continue
        cleaned = "".join("_" if _unsafe_char(char) else char for char in segment)
        segments.append("_.." if cleaned == ".." else _truncate(cleaned, MAX_SEGMENT_BYTES))
    return segments


def version_digest(key: str, version: str | None) -> str:
    material = f"{key}\0{version or ''}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(material).hexdigest()[:DIGEST_CHARS]


def quarantine_key(prefix: str, key: str, version: str | None, *, distinct: bool = False) -> str:
    """Where the copy of ``key`` (at ``version``) goes under ``prefix``; its reason is that plus
    ``.reason.json``. ``distinct``: the run holds several versions of the key, so each gets its own."""
    budget = MAX_KEY_BYTES - len(prefix.encode("utf-8")) - len(REASON_SUFFIX)
    if not distinct and is_plain_key(key) and len(key.encode("utf-8", "surrogatepass")) <= budget:
        return prefix + key
    suffix = supported_suffix(key) or ""
    tail = f"{DIGEST_MARK}{version_digest(key, version)}{suffix}"
    if budget < len(tail):
        raise ValueError(f"the quarantine prefix {prefix!r} leaves no room for a key")
    segments = _readable(key[: len(key) - len(suffix)])
    if segments:
        segments[-1] = _truncate(segments[-1], MAX_SEGMENT_BYTES - len(tail))
    return prefix + _truncate("/".join(segments), budget - len(tail)) + tail


def several_versions(objects: Iterable[SourceObject]) -> frozenset[str]:
    """Keys that appear with more than one version among ``objects`` (a run's manifest)."""
    counts = Counter(obj.key for obj in objects)
    return frozenset(key for key, count in counts.items() if count > 1)


class QuarantineStore:
    """The quarantine of one run in the artifacts bucket.

    ``objects``: the run's manifest objects, so that two versions of one key get two copies (pass the
    whole manifest, the same from every caller, so that every caller writes the same keys).
    """

    def __init__(
        self,
        s3: S3Client,
        artifacts_bucket: str,
        *,
        dataset: str,
        run_id: str,
        objects: Iterable[SourceObject] = (),
    ):
        self._s3 = s3
        self._bucket = artifacts_bucket
        self._dataset = dataset
        self._run_id = run_id
        self._several = several_versions(objects)
        self.prefix = quarantine_prefix(dataset, run_id)

    @property
    def uri(self) -> str:
        return s3_uri(self._bucket, self.prefix)

    def copy_key(self, obj: SourceObject) -> str:
        return quarantine_key(
            self.prefix, obj.key, obj.version_id or obj.etag, distinct=obj.key in self._several
        )

    def quarantine_object(
        self,
        obj: SourceObject,
        *,
        error: str | None,
        cause: str | None,
        reasons: Sequence[Rejection] = (),
    ) -> bool:
        """Copy the object's version and write its reason beside the copy; False if the input is gone
        or S3 will not serve it (then only the reason is written, its cause saying so)."""
        target = self.copy_key(obj)
        source = {"Bucket": obj.bucket, "Key": obj.key}
        if obj.version_id:
            source["VersionId"] = obj.version_id
        note = None
        try:
            # Managed copy: a single CopyObject, or a multipart copy above 5 GB; the source is untouched.
            self._s3.copy(source, self._bucket, target)  # type: ignore[arg-type]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in MISSING_ERROR_CODES:
                note = MISSING_NOTE
            elif code in UNREADABLE_ERROR_CODES:
                note = f"{UNREADABLE_NOTE} ({code})"
            else:
                raise
        reason = QuarantineReason(
            run_id=self._run_id,
            dataset=self._dataset,
            source=s3_uri(obj.bucket, obj.key),
            key=obj.key,
            version_id=obj.version_id,
            etag=obj.etag,
            error=error,
            cause=cause if note is None else noted_cause(note, cause),
            reasons=list(reasons),
            quarantined_at=utc_now(),
        )
        self._s3.put_object(
            Bucket=self._bucket,
            Key=f"{target}{REASON_SUFFIX}",
            Body=reason.model_dump_json(indent=2).encode("utf-8"),
            ContentType="application/json",
        )
        return note is None


def noted_cause(note: str, cause: str | None) -> str:
    return f"{note}; {cause}" if cause else note


def missing_cause(cause: str | None) -> str:
    return noted_cause(MISSING_NOTE, cause)
