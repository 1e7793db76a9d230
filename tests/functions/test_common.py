"""etl_common helpers: S3 URIs, raw object naming and identity, settings."""

from __future__ import annotations

import pytest
from etl_common.objects import dataset_of, object_id, supported_suffix
from etl_common.s3_uri import S3Uri, parse_s3_uri, s3_uri
from etl_common.settings import ArtifactsSettings
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
