from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tributary.local.endpoints.moto_server import MotoServer

FIXTURE_APP = Path(__file__).parent / "fixtures" / "app"
REPO = Path(__file__).resolve().parents[2]


def copy_of_the_application(root: Path) -> Path:
    """The repository's application in a folder of its own (its .tributary apart from the checkout's):
    template and samconfig copied, the folders they name linked."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("template.yaml", "samconfig.toml"):
        shutil.copy(REPO / name, root / name)
    for name in ("functions", "contracts", "statemachine", "glue"):
        (root / name).symlink_to(REPO / name, target_is_directory=True)
    return root


logging.getLogger("werkzeug").setLevel(logging.ERROR)


@pytest.fixture(scope="session")
def _shared_moto_server() -> Iterator[MotoServer]:
    # One server for the session (its boto3 clients are slow to make); emptied after each test.
    with MotoServer() as server:
        yield server


@pytest.fixture
def moto_server(_shared_moto_server: MotoServer) -> Iterator[MotoServer]:
    yield _shared_moto_server
    _shared_moto_server.reset()
