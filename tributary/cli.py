"""The `tributary` command line: each area of the toolkit registers its own subcommands.

An area is a module with `register(subparsers)` that adds its commands; each command sets
`func(args) -> int` as its default. Errors a user can fix are raised as `UsageError` and printed
as one line, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterator, Sequence

from tributary import __version__

# Modules that add subcommands, in the order `--help` lists them.
COMMAND_MODULES = (
    "tributary.states.command_line",
    "tributary.local.commands.operate",
)


class UsageError(Exception):
    """A problem with what the user asked for: printed as a message, exit code 2."""


# An example for every command, shown at the end of its `--help` (a command with its own epilog keeps it).
EXAMPLES: dict[str, tuple[str, ...]] = {
    "up": (
        "tributary up                                  # template.yaml and samconfig.toml of this folder",
        "tributary up --config-env prod --fresh -t app/template.yaml --config-file app/samconfig.toml",
    ),
    "run": (
        "tributary run events/data/orders-sample.csv events/data/clicks-sample.jsonl",
        "tributary run data.csv --dataset orders --parameter-overrides SmallRunMaxBytes=0 --output json",
    ),
    "put": ('tributary put "my orders.csv" --key "incoming/orders/my orders.csv"',),
    "query": (
        'tributary query "SELECT order_date, count(*) FROM orders GROUP BY 1"',
        'tributary query "DROP TABLE scratch" --allow-ddl',
    ),
    "runs": ("tributary runs --status FAILED --output json",),
    "history": ("tributary history RUN_ID --output json",),
    "graph": ("tributary graph RUN_ID -o run.html",),
    "schedule": ("tributary schedule fire SweepSchedule",),
    "schedule fire": ("tributary schedule fire SweepSchedule",),
    "reprocess": ("tributary reprocess RUN_ID",),
    "redrive": ("tributary redrive ingest --max-messages 100",),
    "env": ('tributary env            # the variables to export: eval "$(tributary env)"',),
    "aws": ("tributary aws s3 ls",),
    "invoke": ("tributary invoke TriggerFunction -e events/trigger/object-created-csv.json",),
    "reset": ("tributary reset --yes",),
    "states": ("tributary states validate statemachine/pipeline.asl.json",),
    "states execute": (
        "tributary states execute statemachine/pipeline.asl.json --input @events/validate/input.json "
        "-s RunTtlDays=30 -s TransformJobTimeoutMinutes=30 -s SmallRunMaxBytes=67108864 "
        "--mock-config tests/statemachine/mock_config.json --test-case HappyPath",
    ),
    "states validate": ("tributary states validate statemachine/*.asl.json",),
    "states test-state": (
        'tributary states test-state --definition \'{"Type": "Pass", "End": true}\' --input \'{"a": 1}\'',
    ),
    "states serve": ("tributary states serve --port 8083",),
}


def add_output_option(parser: argparse.ArgumentParser, formats: Sequence[str]) -> None:
    """`--output FORMAT` (the first format is the default) and `--json`, kept as `--output json`.

    The command reads `args.output`; `args.json` is set too (True for json) for code written before.
    """
    parser.add_argument(
        "--output",
        choices=tuple(formats),
        default=formats[0],
        help=f"how to print the result (default {formats[0]})",
    )
    parser.add_argument(
        "--json", dest="output", action="store_const", const="json", help="the same as --output json"
    )
    parser.set_defaults(output_formats=tuple(formats))


def _commands(
    parser: argparse.ArgumentParser, path: str = ""
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                command = f"{path} {name}".strip()
                yield command, sub
                yield from _commands(sub, command)


def commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every command and subcommand ("states execute") of the parser, by name."""
    return dict(_commands(parser))


def _add_examples(parser: argparse.ArgumentParser) -> None:
    for command, sub in commands(parser).items():
        examples = EXAMPLES.get(command)
        if examples and not sub.epilog:
            heading = "example:" if len(examples) == 1 else "examples:"
            sub.epilog = heading + "\n" + "\n".join(f"  {line}" for line in examples)
            if sub.formatter_class is argparse.HelpFormatter:
                sub.formatter_class = argparse.RawDescriptionHelpFormatter


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tributary",
        description=(
            "Run Tributary's SAM application locally: Step Functions engine, local AWS, Glue on Spark."
        ),
        epilog="`tributary COMMAND --help` shows a command's options and an example.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real import error inside the module: surface it
                raise
            continue
        module.register(subparsers)
    _add_examples(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if getattr(args, "output_formats", None):
        args.json = args.output == "json"
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"tributary: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        # An endpoint of the local stack that does not answer (stopped, killed): one line, no traceback.
        from botocore.exceptions import EndpointConnectionError

        if not isinstance(exc, EndpointConnectionError):
            raise
        print(f"tributary: error: {exc}: is `tributary up` running?", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
