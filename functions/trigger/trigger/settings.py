from etl_common.settings import ArtifactsSettings, ContractsSettings, RunsSettings
from pydantic import Field


class TriggerSettings(ContractsSettings, ArtifactsSettings, RunsSettings):
    state_machine_arn: str = Field(min_length=1)
    idempotency_table: str = Field(min_length=1)
    # How long an object version is remembered. SQS and EventBridge redeliver within minutes; past this
    # window the sweep may enqueue an object again if it has no lineage (nothing was published).
    idempotency_ttl_seconds: int = Field(default=7 * 24 * 3600, gt=0)
    # When set, events about any other bucket are skipped.
    raw_bucket: str = ""
