"""Starting state machine executions."""

from etl_common.aws import sfn_client
from etl_common.models import ExecutionInput


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN Step Functions gives an execution of ``state_machine_arn`` named ``name``."""
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"


def start_execution(state_machine_arn: str, execution_input: ExecutionInput) -> tuple[str, bool]:
    """Start the run named after its ``run_id``; return (execution ARN, whether it was started now).

    ``ExecutionAlreadyExists`` means an earlier delivery of the same batch started it: success.
    """
    client = sfn_client()
    try:
        response = client.start_execution(
            stateMachineArn=state_machine_arn,
            name=execution_input.run_id,
            input=execution_input.model_dump_json(),
        )
    except client.exceptions.ExecutionAlreadyExists:
        return execution_arn(state_machine_arn, execution_input.run_id), False
    return response["executionArn"], True
