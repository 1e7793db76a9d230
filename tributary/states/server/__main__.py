"""`python -m tributary.states.server [--port N] [--mock-config F] [--real-time] [--patience S]`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tributary.states.mock_config import MockConfig, MockConfigError
from tributary.states.server.backend import DEFAULT_PATIENCE, StepFunctionsBackend
from tributary.states.server.protocol import make_server

DEFAULT_PORT = 8083


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not seconds >= 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, not {text!r}")
    return seconds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks one)"
    )
    parser.add_argument("--mock-config", help="a Step Functions Local MockConfigFile answering Task states")
    parser.add_argument("--test-case", help="the mock config's test case when the ARN has no #TestCase")
    parser.add_argument(
        "--real-time",
        action="store_true",
        help="run executions on the real clock: Wait states and retry back-off take real time "
        "(default: a virtual clock, on which they are instant)",
    )
    parser.add_argument(
        "--patience",
        type=_seconds,
        default=DEFAULT_PATIENCE,
        metavar="SECONDS",
        help="virtual clock only: the real seconds a task token (.waitForTaskToken, activity) waits for "
        "SendTaskSuccess/Failure/Heartbeat before virtual time jumps to its TimeoutSeconds or "
        "HeartbeatSeconds, at most that many seconds (default %(default)g; 0: callback timeouts pass "
        "at once). Wait states and retry back-off are instant whatever the patience.",
    )


def backend_from_args(args: argparse.Namespace) -> StepFunctionsBackend:
    """The backend the options ask for."""
    return StepFunctionsBackend(
        mock_config=args.mock_config,
        test_case=args.test_case,
        real_time=args.real_time,
        patience=args.patience,
    )


def serve(args: argparse.Namespace) -> int:
    backend = backend_from_args(args)
    server = make_server(backend, args.host, args.port)
    print(f"Step Functions endpoint on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tributary.states.server", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.mock_config:
        try:
            args.mock_config = MockConfig.load(args.mock_config)
        except MockConfigError as exc:
            parser.error(f"not a readable Step Functions Local MockConfigFile: {exc}")
    try:
        return serve(args)
    except OSError as exc:
        parser.error(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")


if __name__ == "__main__":
    sys.exit(main())
