from etl_common.settings import ArtifactsSettings, ContractsSettings


class ValidateSettings(ContractsSettings, ArtifactsSettings):
    # Where the reference files contracts name live (RAW_BUCKET, under reference/); empty: the bucket of
    # the run's uploads, which is the raw bucket.
    raw_bucket: str = ""
    # The runs table (RUNS_TABLE), where validate records the contract and reference versions a run
    # used; empty: not recorded.
    runs_table: str = ""
