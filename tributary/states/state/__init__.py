"""The state types of the Amazon States Language, one module each, and the function that runs one
attempt of each (`HANDLERS`).

The engine (engine.py) imports none of these modules, which import it: the runtime of an execution
brings this table (`Runtime.handlers`), so that `tributary.states` has no import cycle. Every state
goes through the engine's shared lifecycle (entered event, input, the state's body here, output and
assign, size check, exited or failed events); a module holds only what its state type does."""

from __future__ import annotations

from tributary.states.engine import Handler
from tributary.states.state import choice, fail, map, parallel, pass_state, succeed, task, wait

HANDLERS: dict[str, Handler] = {
    "Pass": pass_state.run_pass,
    "Choice": choice.run_choice,
    "Wait": wait.run_wait,
    "Succeed": succeed.run_succeed,
    "Fail": fail.run_fail,
    "Task": task.run_task,
    "Parallel": parallel.run_parallel,
    "Map": map.run_map,
}
