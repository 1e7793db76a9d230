from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tributary.local.endpoints.moto_server import MotoServer

FIXTURE_APP = Path(__file__).parent / "fixtures" / "app"

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
