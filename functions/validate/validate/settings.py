from etl_common.settings import ArtifactsSettings, ContractsSettings


class ValidateSettings(ContractsSettings, ArtifactsSettings):
    pass
