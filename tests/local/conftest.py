from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tributary.local.moto_server import MotoServer

FIXTURE_APP = Path(__file__).parent / "fixtures" / "app"

logging.getLogger("werkzeug").setLevel(logging.ERROR)


@pytest.fixture
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server
