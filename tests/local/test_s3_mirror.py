"""Keys are data, not paths: whatever an S3 key holds, the local mirror writes inside its root."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tributary.local.runtimes.s3_mirror import NAME_MAX, S3Mirror, UnsafePath, decode_parts, local_parts

BUCKET = "raw-local"
# Every kind of key that is not a plain relative path, each with a body that names it.
HOSTILE_KEYS = [
    "../../escape-1.csv",
    "incoming/../../../../../../../../../../tmp/escape-2.csv",
    "/leading/slash.csv",
    "//double//slashes//",
    "a/./b/../c.csv",
    ".",
    "x/./y",  # "." inside a key (and no clash with the key ".", a file of the same encoded name)
    "incoming/../x",
    "a" * 1024,  # one component of 1,024 bytes (a file name is at most 255)
    "é" * 512,  # 1,024 bytes of UTF-8, 6 bytes each once percent-encoded
    "🙂" * 256,
    "/".join(["d" * 200] * 5),  # long, in several plain components
    "x/" * 300,  # 300 levels and an empty last component
    "nul\x00byte.csv",
    "\x01\n\tcontrol\x7f.csv",
    "%41 looks encoded",
    "%+ looks like a slice",
    "folder/",
    "\\..\\..\\windows.csv",
    "日本/データ.csv",
    "\u202eright-to-left\u200b.csv",
    "back\\slash/../..",
    " ",
    "-",
]


class FakeS3:
    """The few S3 calls the mirror makes, over a dict (no server: keys moto's URL parsing refuses too)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

        class Exceptions:
            NoSuchKey = KeyError

        self.exceptions = Exceptions

    def get_object(self, Bucket: str, Key: str, VersionId: str | None = None) -> dict[str, Any]:
        return {"Body": io.BytesIO(self.objects[Bucket, Key])}

    def upload_file(self, filename: str, bucket: str, key: str) -> None:
        self.objects[bucket, key] = Path(filename).read_bytes()

    def delete_object(self, Bucket: str, Key: str) -> None:
        self.objects.pop((Bucket, Key), None)


def _files(folder: Path) -> set[Path]:
    return {Path(d) / f for d, _, files in os.walk(folder) for f in files}


def _naive(root: Path, bucket: str, key: str) -> Path:
    """Where the mirror used to write it: the key joined to the root, `..` and all."""
    return Path(os.path.normpath(os.path.join(root, bucket, key.lstrip("/")))) if "\x00" not in key else root


@pytest.mark.parametrize("key", HOSTILE_KEYS, ids=lambda k: repr(k[:24]))
def test_every_hostile_key_is_mirrored_inside_the_root_and_maps_back(tmp_path: Path, key: str) -> None:
    s3 = FakeS3()
    s3.objects[BUCKET, key] = key.encode("utf-8", "surrogatepass")
    root = tmp_path / "stack" / "work" / "s3"
    mirror = S3Mirror(root, s3)
    path = mirror.fetch(BUCKET, key)
    assert path.read_bytes() == s3.objects[BUCKET, key]
    assert Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root))
    assert _files(tmp_path) == {path}  # nothing else written, anywhere under tmp_path
    relative = path.relative_to(root).parts
    assert all(0 < len(name.encode()) <= NAME_MAX and name not in (".", "..") for name in relative)
    assert decode_parts(list(relative)) == (BUCKET, key)
    naive = _naive(root, BUCKET, key)
    if not naive.is_relative_to(root):
        assert not naive.exists()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from(["", ".", "..", "%", "%+", "%2F", "\\"]), st.text(max_size=300)), max_size=8
    ).map("/".join)
)
def test_any_key_encodes_to_safe_file_names_and_decodes_to_itself(key: str) -> None:
    parts = local_parts(BUCKET, key)
    for name in parts:
        assert name not in ("", ".", "..")
        assert "/" not in name and "\x00" not in name
        assert len(name.encode("utf-8", "surrogatepass")) <= NAME_MAX
    assert decode_parts(parts) == (BUCKET, key)


def test_plain_keys_keep_their_path_for_the_spark_bridge(tmp_path: Path) -> None:
    mirror = S3Mirror(tmp_path, FakeS3())
    key = "curated/orders/order_date=2024-01-01/run_id=r é/part-0000.snappy.parquet"
    assert mirror.path_of(BUCKET, key) == Path(os.path.realpath(tmp_path)) / BUCKET / key
    assert decode_parts([BUCKET, *key.split("/")]) == (BUCKET, key)


def test_a_bucket_name_is_encoded_too(tmp_path: Path) -> None:
    s3 = FakeS3()
    s3.objects["..", "x"] = b"1"
    path = S3Mirror(tmp_path / "s3", s3).fetch("..", "x")
    assert path.is_relative_to(tmp_path / "s3") and path.parent.name == "%.."


def test_a_symlink_in_the_folder_cannot_lead_out(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "s3"
    (root / BUCKET).mkdir(parents=True)
    (root / BUCKET / "incoming").symlink_to(outside)
    s3 = FakeS3()
    s3.objects[BUCKET, "incoming/a.csv"] = b"1"
    with pytest.raises(UnsafePath, match="outside"):
        S3Mirror(root, s3).fetch(BUCKET, "incoming/a.csv")
    assert not any(outside.iterdir())


def test_a_key_that_is_also_a_folder_is_a_clear_error(tmp_path: Path) -> None:
    s3 = FakeS3()
    s3.objects[BUCKET, "a"] = b"file"
    s3.objects[BUCKET, "a/b"] = b"in folder"
    mirror = S3Mirror(tmp_path, s3)
    mirror.fetch(BUCKET, "a/b")
    with pytest.raises(UnsafePath, match="a file and a folder would share a name"):
        mirror.fetch(BUCKET, "a")


def test_a_path_too_long_for_the_file_system_is_refused_not_truncated(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["f" * 250] * 4)  # a root already 1,000 bytes deep
    with pytest.raises(UnsafePath, match="exceed 4096 bytes"):
        S3Mirror(deep, FakeS3()).path_of(BUCKET, "\x01" * 1024)


def test_outputs_written_beside_encoded_inputs_publish_under_their_keys(tmp_path: Path) -> None:
    s3 = FakeS3()
    hostile = "out/../../evil\n.csv"
    s3.objects[BUCKET, hostile] = b"old"
    mirror = S3Mirror(tmp_path, s3)
    fetched = mirror.fetch(BUCKET, hostile)
    before = mirror.snapshot()
    fetched.write_bytes(b"changed by the job")
    spark = mirror.root / BUCKET / "out" / "col=é ü" / "part-0.parquet"
    spark.parent.mkdir(parents=True)
    spark.write_bytes(b"parquet")
    (spark.parent / ".part-0.parquet.crc").write_bytes(b"crc")
    report = mirror.publish_changes(before, [f"s3://{BUCKET}/out/"])
    assert sorted(report.uploaded) == sorted(
        [f"s3://{BUCKET}/{hostile}", f"s3://{BUCKET}/out/col=é ü/part-0.parquet"]
    )
    assert s3.objects[BUCKET, hostile] == b"changed by the job"
    assert s3.objects[BUCKET, "out/col=é ü/part-0.parquet"] == b"parquet"


def test_staging_reads_the_staged_copy_of_a_manifest_object(tmp_path: Path) -> None:
    s3 = FakeS3()
    hostile = "incoming/orders/../../../" + "é" * 400
    s3.objects["artifacts", "runs/r1/input/00000.csv"] = b"staged"
    manifest = {
        "objects": [
            {
                "bucket": BUCKET,
                "key": hostile,
                "version_id": "v1",
                "staged_uri": "s3://artifacts/runs/r1/input/00000.csv",
            }
        ]
    }
    s3.objects["artifacts", "runs/r1/validated-manifest.json"] = json.dumps(manifest).encode()
    mirror = S3Mirror(tmp_path, s3)
    staged = mirror.stage_arguments({"--manifest_uri": "s3://artifacts/runs/r1/validated-manifest.json"})
    assert staged == [
        "s3://artifacts/runs/r1/validated-manifest.json",
        "s3://artifacts/runs/r1/input/00000.csv",
    ]
    assert (tmp_path / "artifacts" / "runs" / "r1" / "input" / "00000.csv").read_bytes() == b"staged"
    assert not mirror.path_of(BUCKET, hostile).exists()  # the original key is not fetched at all
