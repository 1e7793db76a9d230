from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tributary.local.endpoints.moto_server import MotoServer

logging.getLogger("werkzeug").setLevel(logging.ERROR)


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server
