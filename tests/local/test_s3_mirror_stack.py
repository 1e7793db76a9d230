"""Hostile keys put with boto3 into a running local stack: its Glue runtime stages them through the
mirror, and nothing is written outside the stack's folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tributary.local.stack import LocalStack, StackOptions

from .conftest import FIXTURE_APP
from .test_s3_mirror import HOSTILE_KEYS, _files, _naive

# moto's URL routing answers 404 to keys with a line break; every other hostile key is stored.
REFUSED_BY_MOTO = {k for k in HOSTILE_KEYS if "\n" in k}


def test_hostile_keys_through_the_local_stack_stay_inside_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "project" / ".tributary"
    work = folder / "work"
    with LocalStack(StackOptions(FIXTURE_APP, work_dir=work, batch_window_cap=0.2)) as stack:
        s3 = stack.aws.client("s3")
        raw = stack.physical_id("RawBucket")
        curated = stack.physical_id("CuratedBucket")
        versions = {}
        for key in HOSTILE_KEYS:
            try:
                versions[key] = s3.put_object(Bucket=raw, Key=key, Body=key.encode())["VersionId"]
            except s3.exceptions.ClientError:
                assert key in REFUSED_BY_MOTO
        stored = list(versions)
        assert len(stored) == len(HOSTILE_KEYS) - len(REFUSED_BY_MOTO)
        manifest = {"objects": [{"bucket": raw, "key": k, "version_id": versions[k]} for k in stored]}
        s3.put_object(Bucket=curated, Key="runs/r1/manifest.json", Body=json.dumps(manifest).encode())
        run_id = stack.glue.start_job_run(
            JobName=stack.physical_id("Job"),
            Arguments={
                "--manifest_uri": f"s3://{curated}/runs/r1/manifest.json",
                "--output_uri": f"s3://{curated}/out/",
                # An argument naming a hostile key is staged too.
                "--extra": f"s3://{raw}/../../escape-1.csv",
            },
        )["JobRunId"]
        run = stack.glue.wait(run_id, 120)
        assert run.finished.is_set()
        mirror = stack.glue.mirror
        for key in stored:
            path = mirror.path_of(raw, key)
            assert path.read_bytes() == key.encode(), key  # each staged at its version, inside the folder
            naive = _naive(mirror.root, raw, key)
            if not naive.is_relative_to(mirror.root):
                assert not naive.exists(), naive
    written = _files(tmp_path)
    assert written, "the stack wrote nothing: the test would prove nothing"
    outside = {p for p in written if not Path(os.path.realpath(p)).is_relative_to(os.path.realpath(folder))}
    assert outside == set()
