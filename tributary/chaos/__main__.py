"""`python -m tributary.chaos`: run the fault scenarios against the local stack and print the table."""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from tributary.chaos.harness import Settings
from tributary.chaos.runner import all_names, run, selected


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tributary.chaos", description=__doc__)
    parser.add_argument("--reduced", action="store_true", help="the reduced sizes the CI test runs")
    parser.add_argument("--only", nargs="+", metavar="WORD", help="scenarios whose name contains a WORD")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--work-dir", type=Path, help="keep the stacks' folders (logs, S3 mirror) here")
    parser.add_argument(
        "--batch-window", type=float, default=2.0, help="cap of the trigger's batching window (s)"
    )
    parser.add_argument(
        "--path",
        choices=("glue", "lite"),
        default="glue",
        help="transform path of the runs: glue (every run on the Glue job, its faults reachable) or lite "
        "(the template's SmallRunMaxBytes: small files go to the small-run function)",
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds a scenario may take")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(all_names()))
        return 0
    if args.only and not selected(all_names(), args.only):
        parser.error(f"no scenario matches {' '.join(args.only)} (see --list)")
    if shutil.which("java") is None:
        print("tributary.chaos: needs Java for local Spark (the Glue job)", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    settings = Settings(
        reduced=args.reduced,
        batch_window=args.batch_window,
        scenario_timeout=args.timeout,
        transform_path=args.path,
        work_dir=args.work_dir,
    )
    results = run(settings, args.only)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
