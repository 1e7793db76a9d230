"""The state types of the Amazon States Language and the function that runs one attempt of each.

The engine (engine.py) imports none of the state modules, which import it: the runtime of an
execution brings this table (`Runtime.handlers`), so that `tributary.states` has no import cycle."""

from __future__ import annotations

from tributary.states import map_state, parallel_state, simple_states, task_state
from tributary.states.engine import Handler

HANDLERS: dict[str, Handler] = {
    "Pass": simple_states.run_pass,
    "Choice": simple_states.run_choice,
    "Wait": simple_states.run_wait,
    "Succeed": simple_states.run_succeed,
    "Fail": simple_states.run_fail,
    "Task": task_state.run_task,
    "Parallel": parallel_state.run_parallel,
    "Map": map_state.run_map,
}
