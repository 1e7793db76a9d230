"""etl_common helpers: S3 URIs, raw object naming and identity, settings."""

from __future__ import annotations

import json
import unicodedata
from types import SimpleNamespace
from typing import Any

import pytest
from etl_common.objects import dataset_of, object_id, supported_suffix
from etl_common.s3_uri import S3Uri, parse_s3_uri, s3_uri
from etl_common.settings import ArtifactsSettings
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError


@pytest.mark.parametrize("key", ["a/b.csv", "a b+c%20?x=1#frag.csv", "ünï/東京.jsonl", "runs/r/"])
def test_s3_uris_round_trip_any_key(key):
    assert parse_s3_uri(s3_uri("bucket", key)) == S3Uri("bucket", key)


@pytest.mark.parametrize("uri", ["http://bucket/key", "s3:///key", "bucket/key"])
def test_non_s3_uris_are_refused(uri):
    with pytest.raises(ValueError, match="not an s3:// URI"):
        parse_s3_uri(uri)


@pytest.mark.parametrize(
    ("key", "dataset"),
    [
        ("incoming/orders/a.csv", "orders"),
        ("incoming/orders/2026/11/a.csv", "orders"),
        ("incoming/orders/", None),
        ("incoming/a.csv", None),
        ("elsewhere/orders/a.csv", None),
    ],
)
def test_the_dataset_is_the_first_folder_under_incoming(key, dataset):
    assert dataset_of(key) == dataset


@pytest.mark.parametrize(
    ("key", "suffix"),
    [
        ("a.CSV", ".csv"),
        ("a.csv.gz", ".csv.gz"),
        ("a.ndjson", ".ndjson"),
        ("a.xlsx", None),
        ("a.csv.zip", None),
    ],
)
def test_supported_suffixes(key, suffix):
    assert supported_suffix(key) == suffix


def test_object_identity_names_the_version_or_the_etag():
    assert object_id("raw", "incoming/d/a b.csv", "v1") == "s3://raw/incoming/d/a b.csv#v1"
    assert object_id("raw", "incoming/d/a b.csv", None) == "s3://raw/incoming/d/a b.csv#null"


def test_missing_settings_fail_naming_the_variable(monkeypatch):
    monkeypatch.delenv("ARTIFACTS_BUCKET", raising=False)
    with pytest.raises(ValidationError, match="artifacts_bucket"):
        ArtifactsSettings()
    monkeypatch.setenv("ARTIFACTS_BUCKET", "artifacts")
    assert ArtifactsSettings().artifacts_bucket == "artifacts"


# -- quarantine keys: any key maps to a safe, distinct key; the original is in .reason.json -----------

PREFIX = "quarantine/orders/orders-20261124T101458Z-0123456789/"
PLAIN_KEYS = [
    "incoming/orders/a b+c%20?x=1#frag.csv",
    "incoming/orders/_part-0001.csv",
    "incoming/orders/.hidden.csv",
    "incoming/orders/caf\u00e9.csv",  # NFC
    "incoming/orders/cafe\u0301.csv",  # NFD: another key, kept as it is
    "incoming/orders/\U0001f4e6/\U0001f680\u200d\U0001f468.csv",  # emoji, with a zero-width joiner
    "incoming/orders/\u05e9\u05dc\u05d5\u05dd/\u0645\u0631\u062d\u0628\u0627.csv",  # Hebrew, Arabic (RTL)
    "incoming/orders/...csv",
]
UNSAFE_KEYS = [
    "incoming/orders/../../../etc/passwd.csv",
    "/incoming/orders/a.csv",
    "incoming//orders/a.csv",
    "incoming/orders/./a.csv",
    "incoming/orders/..",
    "incoming/orders/a.csv/",
    "incoming/orders/" + "x" * 990 + ".csv",  # ~1,000 bytes
    "incoming/orders/" + "\u00e9" * 490 + ".csv",  # ~1,000 bytes of 2-byte characters
    "incoming/orders/" + "y" * 300 + ".csv",  # a file name longer than file systems allow
    "incoming/orders/bell\x07.csv",
    "incoming/orders/new\nline.csv",
    "incoming/orders/del\x7f\x85.csv",  # DEL and a C1 control
    "incoming/orders/invoice\u202egpj.csv",  # right-to-left override
    "incoming/orders/back\\slash.csv",
    "incoming/orders/a.csv.reason.json",  # would be the reason of incoming/orders/a.csv
    "incoming/orders/a~0123456789abcdef0123456789abcdef.csv",  # looks like a digest form
]


def segments_after_prefix(key: str) -> list[str]:
    assert key.startswith(PREFIX)
    return key.removeprefix(PREFIX).split("/")


def assert_safe(target: str) -> None:
    from etl_common.quarantine import MAX_KEY_BYTES, MAX_SEGMENT_BYTES, REASON_SUFFIX

    assert len((target + REASON_SUFFIX).encode("utf-8")) <= MAX_KEY_BYTES
    for segment in segments_after_prefix(target):
        assert segment not in ("", ".", "..")
        assert len(segment.encode("utf-8")) <= MAX_SEGMENT_BYTES
    assert not any(unicodedata.category(char) == "Cc" or char in "\u202e\\" for char in target)


@pytest.mark.parametrize("key", PLAIN_KEYS)
def test_a_plain_key_is_its_own_quarantine_key(key):
    from etl_common.quarantine import is_plain_key, quarantine_key

    assert is_plain_key(key)
    assert quarantine_key(PREFIX, key, "v1") == PREFIX + key


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_any_other_key_gets_a_safe_readable_form_with_a_digest_of_key_and_version(key):
    from etl_common.quarantine import is_plain_key, quarantine_key, version_digest

    target = quarantine_key(PREFIX, key, "v1")

    assert not is_plain_key(key) or len((PREFIX + key).encode()) > 1000
    assert_safe(target)
    assert target.endswith(f"~{version_digest(key, 'v1')}" + (supported_suffix(key) or ""))
    assert quarantine_key(PREFIX, key, "v2") != target
    assert quarantine_key(PREFIX, key, "v1") == target  # every caller computes the same key
    # readable: it starts like the key, what was unsafe made harmless
    assert target.removeprefix(PREFIX)[:8] in ("incoming", "~" + version_digest(key, "v1")[:7])


def test_the_readable_part_of_a_long_key_is_its_beginning():
    from etl_common.quarantine import quarantine_key

    key = "incoming/orders/" + "\u00e9" * 490 + ".csv.gz"
    target = quarantine_key(PREFIX, key, "v1")

    assert_safe(target)
    assert target.startswith(PREFIX + "incoming/orders/\u00e9\u00e9\u00e9") and target.endswith(".csv.gz")


def test_two_versions_of_a_key_in_one_run_get_two_quarantine_keys():
    from etl_common.quarantine import quarantine_key

    key = "incoming/orders/a.csv"
    first, second = (quarantine_key(PREFIX, key, version, distinct=True) for version in ("v1", "v2"))

    assert first != second
    assert_safe(first) and first.startswith(PREFIX + "incoming/orders/a~")


@given(keys=st.lists(st.text(min_size=1, max_size=400), min_size=2, max_size=6, unique=True))
@settings(max_examples=300)
def test_any_keys_map_to_safe_and_distinct_quarantine_keys(keys):
    from etl_common.quarantine import quarantine_key

    targets = [quarantine_key(PREFIX, key, "v1") for key in keys]
    for target in targets:
        assert_safe(target)
    assert len(set(targets)) == len(keys)


def put_key(s3: Any, bucket: str, key: str, body: bytes, **extra: Any) -> Any:
    response = s3.put_object(Bucket=bucket, Key=key, Body=body, **extra)
    return SimpleNamespace(
        bucket=bucket, key=key, version_id=response["VersionId"], etag=response["ETag"].strip('"')
    )


def test_quarantine_copies_objects_with_any_key_and_records_the_original(stack, s3):
    from etl_common.quarantine import QuarantineStore

    keys = [*PLAIN_KEYS[3:7], *UNSAFE_KEYS[:3], UNSAFE_KEYS[6], UNSAFE_KEYS[9], UNSAFE_KEYS[12]]
    objects = [put_key(s3, stack.raw_bucket, key, f"body of {key}".encode()) for key in keys]
    store = QuarantineStore(s3, stack.artifacts_bucket, dataset="orders", run_id="r1", objects=objects)

    for obj in objects:
        assert store.quarantine_object(obj, error="Tributary.ObjectRefused", cause="bad")

    for obj in objects:
        target = store.copy_key(obj)
        assert target.startswith("quarantine/orders/r1/")
        copy = s3.get_object(Bucket=stack.artifacts_bucket, Key=target)["Body"].read()
        assert copy == f"body of {obj.key}".encode()
        reason = json.loads(
            s3.get_object(Bucket=stack.artifacts_bucket, Key=target + ".reason.json")["Body"].read()
        )
        assert (reason["key"], reason["version_id"], reason["etag"]) == (obj.key, obj.version_id, obj.etag)
        assert reason["source"] == f"s3://{stack.raw_bucket}/{obj.key}"
    listed = s3.list_objects_v2(Bucket=stack.artifacts_bucket, Prefix="quarantine/")["Contents"]
    assert len(listed) == 2 * len(objects)


def test_two_versions_of_a_key_in_a_run_are_both_quarantined(stack, s3):
    from etl_common.quarantine import QuarantineStore

    first = put_key(s3, stack.raw_bucket, "incoming/orders/a.csv", b"first")
    second = put_key(s3, stack.raw_bucket, "incoming/orders/a.csv", b"second")
    store = QuarantineStore(
        s3, stack.artifacts_bucket, dataset="orders", run_id="r1", objects=[first, second]
    )

    for obj in (first, second):
        store.quarantine_object(obj, error="States.TaskFailed", cause="boom")

    bodies = {
        s3.get_object(Bucket=stack.artifacts_bucket, Key=store.copy_key(obj))["Body"].read()
        for obj in (first, second)
    }
    assert bodies == {b"first", b"second"}


def test_an_input_s3_will_not_copy_gets_its_reason_saying_so(stack, s3):
    from etl_common.quarantine import QuarantineStore

    archived = put_key(s3, stack.raw_bucket, "incoming/orders/old.csv", b"x", StorageClass="GLACIER")
    store = QuarantineStore(s3, stack.artifacts_bucket, dataset="orders", run_id="r1")

    assert not store.quarantine_object(archived, error="Tributary.ObjectRefused", cause="unreadable: ...")

    target = store.copy_key(archived)
    reason = json.loads(
        s3.get_object(Bucket=stack.artifacts_bucket, Key=target + ".reason.json")["Body"].read()
    )
    assert reason["cause"] == "input could not be copied (ObjectNotInActiveTierError); unreadable: ..."
    assert "Contents" not in s3.list_objects_v2(Bucket=stack.artifacts_bucket, Prefix=target + "x")
    assert [
        item["Key"]
        for item in s3.list_objects_v2(Bucket=stack.artifacts_bucket, Prefix="quarantine/")["Contents"]
    ] == [target + ".reason.json"]
