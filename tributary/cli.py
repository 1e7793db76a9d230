"""The `tributary` command line: each area of the toolkit registers its own subcommands.

An area is a module with `register(subparsers)` that adds its commands; each command sets
`func(args) -> int` as its default. Errors a user can fix are raised as `UsageError` and printed
as one line, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that add subcommands, in the order `--help` lists them.
COMMAND_MODULES = (
    "tributary.states.cli",
    "tributary.local.cli",
)


class UsageError(Exception):
    """A problem with what the user asked for: printed as a message, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tributary",
        description=(
            "Run Tributary's SAM application locally: Step Functions engine, local AWS, Glue on Spark."
        ),
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real import error inside the module: surface it
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"tributary: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
