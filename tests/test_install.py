"""`pip install` of the toolkit as a user does it: the wheel built from pyproject.toml alone, installed
into an empty virtual environment, gives a working `tributary`.

The wheel is built from a copy of only what packaging reads (pyproject.toml, README.md, tributary/), so
nothing of the repository's other folders can leak into it, and the tree is left untouched. The
dependencies are installed from the package index with the pinned versions as constraints
(requirements-dev.txt): the declared ranges must admit them, and pip's cache makes it quick (about a
minute for the base install on a loaded 2-core machine; the `spark` extra adds pyspark, about 320 MB).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SPARK_LOCK = "/tmp/tributary-spark.lock"


def _run(
    argv: list[str], cwd: Path, timeout: float = 900, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "AWS_"))}
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{argv} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    shutil.copy(REPO / "pyproject.toml", source)
    shutil.copy(REPO / "README.md", source)
    shutil.copytree(REPO / "tributary", source / "tributary", ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(source)], source)
    (built,) = dist.glob("tributary-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Iterator[Path]:
    """An empty virtual environment with only the wheel (and its dependencies) installed."""
    folder = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", str(folder)], folder)
    pip = [str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run([*pip, "-c", str(REPO / "requirements-dev.txt"), str(wheel)], folder)
    yield folder


def _project(folder: Path) -> Path:
    """What `tributary run` reads from the project's folder: template.yaml, samconfig.toml and what the
    template names (functions/, glue/, statemachine/, the contracts/ the layer ships)."""
    folder.mkdir()
    for entry in ("template.yaml", "samconfig.toml", "contracts", "functions", "glue", "statemachine"):
        if (REPO / entry).is_dir():
            shutil.copytree(REPO / entry, folder / entry, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(REPO / entry, folder / entry)
    return folder


def test_the_wheel_holds_the_package_only(wheel: Path) -> None:
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/", 1)[0] for name in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"tributary"}
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert 'Requires-Dist: pyspark==3.5.4; extra == "spark"' in text
    assert "Requires-Dist: moto[" in text


def test_base_install_gives_a_working_tributary(venv: Path, tmp_path: Path) -> None:
    tributary = str(venv / "bin" / "tributary")
    python = str(venv / "bin" / "python")
    assert "states" in _run([tributary, "--help"], tmp_path).stdout
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert _run([tributary, "--version"], tmp_path).stdout.strip() == f"tributary {version}"
    # The base install is lean: no Spark.
    assert _run([python, "-c", "import pyspark"], tmp_path, check=False).returncode != 0
    # `tributary states ...` works anywhere: a definition validated and executed.
    machine = tmp_path / "m.asl.json"
    machine.write_text(json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))
    assert "valid" in _run([tributary, "states", "validate", str(machine)], tmp_path).stdout.lower()
    out = _run([tributary, "states", "execute", str(machine), "--input", '{"a": 1}', "--quiet"], tmp_path)
    assert json.loads(out.stdout) == {"a": 1}
    # The project's own definition, as CreateStateMachine would check it.
    _run([tributary, "states", "validate", "statemachine/pipeline.asl.json"], REPO)
    # A command that needs a running stack says so, in one line.
    result = _run([tributary, "runs"], tmp_path, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no local stack is running here" in result.stderr
    # Without Spark, a small run takes the small-run path (TransformLiteFunction) and succeeds.
    sample = str(REPO / "events" / "data" / "orders-sample.csv")
    result = _run([tributary, "run", sample, "--output", "json"], _project(tmp_path / "project"), check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "pyspark is not installed" in result.stderr
    assert [report["status"] for report in json.loads(result.stdout)] == ["SUCCEEDED"]


def test_the_spark_extra_runs_the_pipeline_on_local_spark(venv: Path, wheel: Path, tmp_path: Path) -> None:
    """`pip install 'tributary[spark]'`, then `tributary run` in the project's folder (it reads
    template.yaml, samconfig.toml, functions/, glue/, statemachine/ and contracts/ from there); every
    run on the Glue job (SmallRunMaxBytes=0), so Spark runs."""
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run([*pip, "-c", str(REPO / "requirements-dev.txt"), f"{wheel}[spark]"], tmp_path)
    work = _project(tmp_path / "project")
    sample = str(REPO / "events" / "data" / "orders-sample.csv")
    argv = [
        "flock", SPARK_LOCK, str(venv / "bin" / "tributary"), "run", sample,
        "--parameter-overrides", "SmallRunMaxBytes=0", "--output", "json",
    ]  # fmt: skip
    result = _run(argv, work, timeout=1800, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "pyspark is not installed" not in result.stderr
    assert [report["status"] for report in json.loads(result.stdout)] == ["SUCCEEDED"]
