"""Configuration from the functions' environment variables (docs/interfaces.md).

Each function declares the settings it needs by subclassing; a missing variable fails at cold start
with a message naming it, instead of later with a ``KeyError`` deep inside a request.
"""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from etl_common.contracts import DEFAULT_CONTRACTS_DIR


class FunctionSettings(BaseSettings):
    """Field ``artifacts_bucket`` is read from ``ARTIFACTS_BUCKET``, and so on."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)


class ContractsSettings(FunctionSettings):
    contracts_dir: Path = Path(DEFAULT_CONTRACTS_DIR)


class ArtifactsSettings(FunctionSettings):
    artifacts_bucket: str = Field(min_length=1)


class RunsSettings(FunctionSettings):
    runs_table: str = Field(min_length=1)
    run_ttl_days: int = Field(default=90, gt=0)
