"""The saved state of a local stack, read while no stack runs on it (`tributary runs`, `history RUN`,
`graph RUN` after `tributary run` or `tributary up` ended): moto's state restored into an in-process
moto server, the executions that had ended served by a Step Functions endpoint of their own, and the
names from what provisioning saved. Nothing is written: the folder is locked while it is read (a
`tributary up` starting meanwhile waits for nothing, it is refused and says so)."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tributary.local.endpoints.moto_server import MotoServer
from tributary.local.persistence.local_state import LocalState
from tributary.local.persistence.snapshots import MotoStore, StateError
from tributary.serving import stop_serving, url_of


@contextmanager
def read_saved_state(folder: Path) -> Iterator[Any]:
    """A StackInfo of the state saved in `folder`, valid inside the `with` block.

    Raises StateError when the folder holds no saved stack or a stack is running on it."""
    from tributary.local.session import StackInfo
    from tributary.states.server.backend import StepFunctionsBackend
    from tributary.states.server.protocol import serve_in_background

    if not (folder / "stack.pickle").exists():
        raise StateError(f"no saved state in {folder}")
    state = LocalState(folder)  # the lock: refused while `tributary up` runs on the folder
    aws: MotoServer | None = None
    server = None
    try:
        if not state.saved:
            raise StateError(f"no saved state in {folder}")
        stack = pickle.loads(state.stack_file.read_bytes())["stack"]  # our own file
        aws = MotoServer().start()
        MotoStore(state.moto_dir).load()  # restored into moto's services; no writer: read only
        backend = StepFunctionsBackend(region=aws.region)
        for resource in stack.of_type("AWS::StepFunctions::StateMachine"):
            backend.create_state_machine(
                resource.attributes["Name"],
                resource.attributes["Definition"],
                str(resource.properties.get("RoleArn", "")),
                str(resource.properties.get("StateMachineType", "STANDARD")),
            )
        # Only the executions that had ended: one that had not is started again by `tributary up`.
        backend.restore([r for r in state.journal.records() if r["status"] != "RUNNING"])
        server = serve_in_background(backend)
        states_url = url_of(server)
        yield StackInfo.of_provisioned(stack, aws.endpoint_url, states_url, aws.region)
    finally:
        if server is not None:
            stop_serving(server)
        if aws is not None:
            aws.stop()
        state.close()


def unfinished_executions(folder: Path) -> list[str]:
    """Names of the executions saved as RUNNING (they run again when `tributary up` restarts)."""
    from tributary.local.persistence.executions import ExecutionJournal

    if not (folder / "executions").is_dir():
        return []
    return [r["name"] for r in ExecutionJournal(folder / "executions").records() if r["status"] == "RUNNING"]
