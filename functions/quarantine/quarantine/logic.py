"""Copies (never moves) each input of a failed run to ``quarantine/<dataset>/<run_id>/<original key>``.

The copy and its ``.reason.json`` are written by ``etl_common.quarantine`` (validate uses it for the
objects it refuses). An object validate already quarantined is copied again over its earlier copy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from etl_common.models import ManifestView, QuarantineRequest
from etl_common.quarantine import QuarantineStore

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = Logger(child=True)


class Quarantiner:
    def __init__(self, s3: S3Client, artifacts_bucket: str):
        self._s3 = s3
        self._bucket = artifacts_bucket

    def quarantine_run(self, request: QuarantineRequest, manifest: ManifestView) -> tuple[int, str]:
        """Return how many objects were copied and the run's quarantine URI."""
        store = QuarantineStore(self._s3, self._bucket, dataset=request.dataset, run_id=request.run_id)
        copied = 0
        for obj in manifest.objects:
            if store.quarantine_object(obj, error=request.error, cause=request.cause):
                copied += 1
            else:
                logger.warning("Input no longer exists; only its reason is written", extra={"key": obj.key})
        return copied, store.uri
