"""The layout of tributary/local: no import cycle between its modules (imports inside functions count,
`if TYPE_CHECKING:` ones do not; the checker is tests/states/test_import_cycles.py's), and no two of its
modules share a file name, so that a name says which module it is."""

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


def test_no_two_modules_share_a_file_name() -> None:
    names = Counter(path.name for path in ROOT.rglob("*.py") if path.name != "__init__.py")
    assert [name for name, count in names.items() if count > 1] == []


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
