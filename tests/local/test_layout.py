"""The layout of tributary: no import cycle between tributary/local's modules (imports inside functions
count, `if TYPE_CHECKING:` ones do not; the checker is tests/states/test_import_cycles.py's), and no two
modules of the whole tributary package share a file name, so that a name says which module it is."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import tributary.local
from tests.states.test_import_cycles import cycles, imports_of, module_names

PACKAGE = "tributary.local"
ROOT = Path(tributary.local.__file__).parent


def _modules() -> dict[str, Path]:
    return module_names(PACKAGE, ROOT)


def test_tributary_local_has_no_import_cycle() -> None:
    modules = _modules()
    assert f"{PACKAGE}.runtimes.glue_runtime" in modules and f"{PACKAGE}.commands.operate" in modules
    graph = {name: imports_of(name, path, set(modules)) for name, path in modules.items()}
    assert f"{PACKAGE}.stack" in graph[f"{PACKAGE}.endpoints.control"]  # the graph sees the imports
    assert cycles(graph) == []


# The file names Python gives a meaning to, which every package may have.
PYTHON_NAMES = {"__init__.py", "__main__.py"}


def shared_file_names(root: Path) -> dict[str, list[str]]:
    """Each module file name used more than once under `root`, with where (relative to `root`)."""
    paths = [path for path in sorted(root.rglob("*.py")) if path.name not in PYTHON_NAMES]
    names = Counter(path.name for path in paths)
    return {
        name: [str(path.relative_to(root)) for path in paths if path.name == name]
        for name, count in names.items()
        if count > 1
    }


def test_the_checker_finds_a_file_name_shared_across_packages(tmp_path: Path) -> None:
    for relative in ("cli.py", "a/cli.py", "a/b/cli.py", "a/__init__.py", "b/__init__.py", "__main__.py"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("", encoding="utf-8")
    (tmp_path / "b" / "__main__.py").write_text("", encoding="utf-8")
    assert shared_file_names(tmp_path) == {"cli.py": ["a/b/cli.py", "a/cli.py", "cli.py"]}


def test_no_two_modules_of_tributary_share_a_file_name() -> None:
    package = ROOT.parent  # tributary/: the local stack, the engine, chaos, the command line
    assert (package / "cli.py").is_file() and (package / "states" / "command_line.py").is_file()
    assert shared_file_names(package) == {}


def test_every_resource_creator_is_in_provisioning() -> None:
    """A resource type's creator (`@creates(...)`) lives in provisioning/, whatever emulates the resource
    afterwards (a runtime, the event bus): the folder names where a template's resource becomes one."""
    outside = sorted(
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*.py")
        if "@creates(" in path.read_text(encoding="utf-8") and path.parent.name != "provisioning"
    )
    assert outside == []
    assert "@creates(" in (ROOT / "provisioning" / "glue_workflow_resources.py").read_text(encoding="utf-8")
