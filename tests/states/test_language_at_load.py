"""The query language is chosen once, when a state is loaded: no state module reads the run's
language (`run.jsonata`) when the state runs; a state's `__init__` decides with `self.jsonata`
(its field sources, its rule trees, its `io`). The engine's lifecycle (engine.py) reads no
language either: the steps that differ (input, arguments, output and assign) are the state's `io`
(state_io.py), one object per language chosen at load."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import tributary.states.engine
import tributary.states.state
import tributary.states.state_io
from tributary.states.state import load_machine
from tributary.states.state_io import JSONATA_IO, JSONPATH_IO, JsonataIo, JsonPathIo

STATE_MODULES = Path(tributary.states.state.__file__).parent


def language_reads_at_run_time(
    path: Path, names: tuple[str, ...] = ("jsonata", "jsonata_field")
) -> list[int]:
    """The lines of `path` that read `<something>.jsonata` (the state's or the run's language) or
    call the engine's `jsonata_field` (an expression evaluated without a loaded source) outside
    an `__init__`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    in_init: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "__init__":
            in_init.update(id(inner) for inner in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        if id(node) in in_init or not isinstance(node, ast.Attribute):
            continue
        if node.attr in names:
            found.append(node.lineno)
    return sorted(found)


@pytest.mark.parametrize(
    "path",
    sorted(STATE_MODULES.glob("*.py")),
    ids=lambda p: p.name,
)
def test_a_state_module_does_not_choose_its_language_at_run_time(path: Path) -> None:
    assert language_reads_at_run_time(path) == []


def test_the_check_sees_a_run_time_choice(tmp_path: Path) -> None:
    module = tmp_path / "sample.py"
    module.write_text(
        "class S:\n"
        "    def __init__(self):\n"
        "        self.kind = 1 if self.jsonata else 2\n"
        "    def body(self, engine, run):\n"
        "        if run.jsonata:\n"
        "            return engine.jsonata_field(run, 1, {}, 'X')\n"
        "        return self.jsonata\n",
        encoding="utf-8",
    )
    assert language_reads_at_run_time(module) == [5, 6, 7]


@pytest.mark.parametrize(
    ("module", "names"),
    [
        # The engine keeps `jsonata_field` for the TestState API's inspection data only.
        (tributary.states.engine, ("jsonata", "payload_template")),
        (tributary.states.state_io, ("jsonata", "jsonata_field", "payload_template")),
    ],
    ids=["engine", "state_io"],
)
def test_the_engine_lifecycle_does_not_choose_a_language_at_run_time(
    module: object, names: tuple[str, ...]
) -> None:
    """Neither reads a state's language, nor applies a template as written (`payload_template`,
    `jsonata_field`): the lifecycle evaluates the sources the state loaded."""
    path = Path(str(getattr(module, "__file__", "")))
    assert language_reads_at_run_time(path, names) == []


def test_the_check_sees_a_lifecycle_that_chooses(tmp_path: Path) -> None:
    module = tmp_path / "engine_like.py"
    module.write_text(
        "def effective_input(run):\n    return run.state_input if run.state.jsonata else run.input_of()\n",
        encoding="utf-8",
    )
    assert language_reads_at_run_time(module, ("jsonata",)) == [2]


def test_each_state_holds_the_io_of_its_language_from_load() -> None:
    machine = load_machine(
        {
            "QueryLanguage": "JSONata",
            "StartAt": "A",
            "States": {
                "A": {"Type": "Pass", "Next": "B"},
                "B": {"Type": "Pass", "QueryLanguage": "JSONPath", "Next": "P"},
                "P": {
                    "Type": "Parallel",
                    "Branches": [{"StartAt": "X", "States": {"X": {"Type": "Succeed"}}}],
                    "End": True,
                },
            },
        }
    )
    states = machine.states
    assert states["A"].io is JSONATA_IO and isinstance(JSONATA_IO, JsonataIo)
    assert states["B"].io is JSONPATH_IO and isinstance(JSONPATH_IO, JsonPathIo)
    (branch,) = states["P"].branches  # type: ignore[attr-defined]
    assert branch.states["X"].io is JSONATA_IO
