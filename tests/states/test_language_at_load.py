"""The query language is chosen once, when a state is loaded: no state module reads the run's
language (`run.jsonata`) when the state runs; a state's `__init__` decides with `self.jsonata`
(its field sources, its rule trees), and the engine's lifecycle (engine.py) is the one place where
the two languages differ at run time."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import tributary.states.state

STATE_MODULES = Path(tributary.states.state.__file__).parent


def language_reads_at_run_time(path: Path) -> list[int]:
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
        if node.attr in ("jsonata", "jsonata_field"):
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
