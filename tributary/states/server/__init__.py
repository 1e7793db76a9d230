"""The local Step Functions endpoint: `backend` holds state machines and executions, `protocol`
speaks AWS JSON 1.0 over HTTP. Start it with `python -m tributary.states.server --port N`,
`tributary states serve`, or from Python with `serve_in_background(StepFunctionsBackend(...))`."""

from __future__ import annotations

from tributary.states.server.backend import StepFunctionsBackend
from tributary.states.server.protocol import make_server, serve_in_background

__all__ = ["StepFunctionsBackend", "make_server", "serve_in_background"]
