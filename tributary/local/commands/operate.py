"""Commands of the local stack: up, run, put, query, runs, history, graph, schedule fire, reprocess,
approve/refuse, redrive."""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tributary.cli import UsageError, add_output_option
from tributary.local.commands import devtools
from tributary.local.delivery.schedules import InvalidSchedule

ROOT_HELP = "the project folder holding template.yaml and samconfig.toml (default: current folder)"
# The statuses a run record takes (statemachine/pipeline.asl.json, etl_common.runs).
RUN_STATUSES = ("QUEUED", "RUNNING", "AWAITING_APPROVAL", "SUCCEEDED", "FAILED", "QUARANTINED")


def register(subparsers: Any) -> None:
    up = subparsers.add_parser("up", help="start the local stack from template.yaml and follow its runs")
    _stack_options(up)
    up.add_argument("--port", type=int, default=4566, help="the one endpoint of every service (default 4566)")
    up.add_argument("--moto-port", type=int, default=0, help="moto's own port (default: a free port)")
    up.add_argument("--states-port", type=int, default=8083, help="local Step Functions port (default 8083)")
    up.add_argument("--athena-port", type=int, default=8084, help="local Athena port (default 8084)")
    up.add_argument("--glue-port", type=int, default=8085, help="local Glue port (default 8085)")
    up.add_argument(
        "--fault-plan",
        type=Path,
        metavar="FILE",
        help="inject the faults of this plan (JSON or YAML; see tributary/local/README.md, Fault injection)",
    )
    up.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="keep objects, queues, tables and executions here across restarts (default .tributary/state)",
    )
    up.add_argument("--fresh", action="store_true", help="drop the saved state and start empty")
    up.add_argument(
        "--ephemeral",
        action="store_true",
        help="keep no state (faster writes; a stop or crash loses everything, as with `tributary run`)",
    )
    up.set_defaults(func=_up)

    run = subparsers.add_parser("run", help="run files through the local pipeline once and report")
    run.add_argument(
        "files",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="uploaded to incoming/<dataset>/; a file in a folder named reference/ is reference data,"
        " uploaded first to reference/<file name>",
    )
    _stack_options(run)
    run.add_argument("--dataset", help="dataset of every file (default: from each file name)")
    add_output_option(run, ("text", "json"))
    run.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the runs")
    run.set_defaults(func=_run, batch_window_default=1.0)
    devtools.add_state_option(run, run=True)

    put = subparsers.add_parser("put", help="upload a file to the raw bucket of `tributary up`")
    put.add_argument("file", type=Path)
    put.add_argument("--key", help="object key (default incoming/<dataset>/<file name>)")
    put.add_argument("--dataset", help="dataset (default: from the file name)")
    put.add_argument("--root", type=Path, default=Path("."), help=ROOT_HELP)
    put.set_defaults(func=_put)

    query = subparsers.add_parser("query", help="run SQL on the local catalog (Athena on DuckDB)")
    query.add_argument("sql")
    query.add_argument("--database", help="default database (default: the stack's Glue database)")
    add_output_option(query, ("table", "text", "json"))
    query.add_argument(
        "--allow-ddl",
        action="store_true",
        help="run a statement that changes the catalog or data (CREATE, DROP, ALTER, INSERT, ...)",
    )
    query.add_argument("--root", type=Path, default=Path("."), help=ROOT_HELP)
    query.set_defaults(func=_query)

    runs = subparsers.add_parser("runs", help="list run records of `tributary up`")
    runs.add_argument(
        "--status", type=str.upper, choices=RUN_STATUSES, help="only runs with this status (any case)"
    )
    runs.add_argument(
        "--triggered-by",
        metavar="PRINCIPAL",
        help="only runs this principal caused: an uploader (S3's requester), a schedule's ARN or a person"
        " (the runs table's GSI by-trigger-principal-created, as on AWS)",
    )
    add_output_option(runs, ("table", "text", "json"))
    runs.add_argument("--root", type=Path, default=Path("."), help=ROOT_HELP)
    devtools.add_state_option(runs)
    runs.set_defaults(func=_runs)

    history = subparsers.add_parser("history", help="the execution history of a run")
    history.add_argument("run", help="run id (the execution name)")
    add_output_option(history, ("text", "json"))  # json: GetExecutionHistory's events
    history.add_argument("--root", type=Path, default=Path("."), help=ROOT_HELP)
    devtools.add_state_option(history)
    history.set_defaults(func=_history)

    graph = subparsers.add_parser("graph", help="draw the state machine (with a run's path) as HTML or SVG")
    graph.add_argument("run", nargs="?", help="run id whose executed path to draw")
    graph.add_argument(
        "-o", "--output", type=Path, help="file to write (.svg or .html; default .tributary/graph-*.html)"
    )
    graph.add_argument("--root", type=Path, default=Path("."), help=ROOT_HELP)
    devtools.add_state_option(graph)
    graph.set_defaults(func=_graph)

    schedule = subparsers.add_parser("schedule", help="schedules of `tributary up`")
    actions = schedule.add_subparsers(dest="action", metavar="ACTION")
    fire = actions.add_parser("fire", help="fire a schedule now (its target runs as if the time had come)")
    fire.add_argument("name", help="schedule name or logical id (e.g. SweepSchedule)")
    fire.add_argument("--root", type=Path, default=Path("."), help=ROOT_HELP)
    fire.set_defaults(func=_schedule_fire)

    reprocess = subparsers.add_parser(
        "reprocess", help="send a failed run's object versions through the pipeline again (the sweep)"
    )
    reprocess.add_argument("run", help="run id of a FAILED (or QUARANTINED) run")
    reprocess.add_argument(
        "--requested-by",
        help="who asks, recorded as the new run's trigger (default: the identity of the stack's credentials)",
    )
    add_output_option(reprocess, ("text", "json"))  # json: the sweep's answer
    reprocess.add_argument("--root", type=Path, default=Path("."), help=ROOT_HELP)
    reprocess.set_defaults(func=_reprocess)

    redrive = subparsers.add_parser(
        "redrive", help="move a dead-letter queue's upload events back to the ingest queue (the sweep)"
    )
    redrive.add_argument(
        "queue",
        choices=["ingest", "events"],
        help="ingest: IngestDeadLetterQueue; events: EventDeliveryDeadLetterQueue (undelivered events)",
    )
    redrive.add_argument("--max-messages", type=int, default=10_000, help="stop after this many messages")
    add_output_option(redrive, ("text", "json"))  # json: the sweep's answer
    redrive.add_argument("--root", type=Path, default=Path("."), help=ROOT_HELP)
    redrive.set_defaults(func=_redrive)

    # -- approval (issue 12): a run whose quality rules failed waits for a person's decision
    for verb, effect in (("approve", "publish it with its rejects recorded"), ("refuse", "quarantine it")):
        decide = subparsers.add_parser(
            verb,
            help=f"{verb} a run that awaits a decision (its quality rules failed): {effect}",
            epilog=(
                f'examples:\n  tributary {verb} RUN_ID --reason "why (kept on the run record)"\n'
                f'  tributary {verb} RUN_ID --reason "why" --url https://abc123.lambda-url.us-east-1.on.aws/'
            ),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        decide.add_argument("run", help="run id of a run AWAITING_APPROVAL (see `tributary runs`)")
        decide.add_argument("--reason", required=True, help="why; kept on the run record with who and when")
        decide.add_argument(
            "--url",
            help="on AWS: the stack's ApprovalFunctionUrl output; the request is signed (SigV4) with your "
            "AWS credentials, whose identity is recorded (default: the local stack)",
        )
        decide.add_argument("--region", help="the function URL's region (default: read from --url)")
        add_output_option(decide, ("text", "json"))  # json: the approval function's answer
        decide.add_argument("--root", type=Path, default=Path("."), help=ROOT_HELP)
        decide.set_defaults(func=_decide, decision=verb)

    devtools.register(subparsers)  # env, aws, invoke, reset


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _stack_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config-env", default="default", help="samconfig.toml environment (default: default)"
    )
    parser.add_argument("--root", type=Path, default=Path("."), help=ROOT_HELP)
    parser.add_argument(
        "-t",
        "--template",
        "--template-file",
        dest="template",
        type=Path,
        metavar="FILE",
        help="the SAM template (default ROOT/template.yaml); CodeUri paths are relative to its folder",
    )
    parser.add_argument(
        "--config-file",
        type=Path,
        metavar="FILE",
        help="the SAM CLI configuration file (default samconfig.toml beside the template)",
    )
    parser.add_argument(
        "--parameter-overrides",
        nargs="+",
        default=[],
        metavar="NAME=VALUE",
        help="template parameters over the samconfig environment's (SmallRunMaxBytes=0: all runs on Glue)",
    )
    parser.add_argument(
        "--batch-window",
        type=float,
        default=None,
        help="cap MaximumBatchingWindowInSeconds of event source mappings to this many seconds",
    )
    parser.add_argument(
        "--visibility-timeout",
        type=int,
        default=None,
        help="cap the visibility timeout of polled queues (failed messages come back sooner)",
    )
    parser.add_argument(
        "--virtual-clock",
        action="store_true",
        help="Wait states and retry back-off take no time (state durations then show engine time)",
    )
    parser.add_argument("--spark-cores", type=int, default=2, help="cores of the local Spark (default 2)")
    parser.add_argument(
        "--glue-mode",
        choices=("warm", "cold"),
        default="warm",
        help="warm: Glue runs share a long-lived Spark worker (default); cold: a new process and JVM per run",
    )
    parser.add_argument(
        "--glue-workers",
        type=_positive_int,
        default=1,
        help="Glue runs executing at once (default 1); the others wait in state WAITING",
    )
    parser.add_argument("--verbose", action="store_true", help="log what the stack does")


def _start(args: argparse.Namespace, **ports: Any) -> Any:
    from tributary.local.persistence.snapshots import StateError
    from tributary.local.stack import LocalStack, StackOptions

    root = args.root.resolve()
    template = (args.template or root / "template.yaml").resolve()
    if not template.is_file():
        raise UsageError(f"no template {template}" if args.template else f"no template.yaml in {root}")
    if args.config_file is not None and not args.config_file.is_file():
        raise UsageError(f"--config-file {args.config_file}: no such file")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s"
    )
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    window = (
        args.batch_window if args.batch_window is not None else getattr(args, "batch_window_default", None)
    )
    fault_plan = None
    if getattr(args, "fault_plan", None) is not None:
        from tributary.local.faults import FaultPlan, FaultPlanError

        try:
            fault_plan = FaultPlan.load(args.fault_plan)
        except FaultPlanError as exc:
            raise UsageError(str(exc)) from None
    parameter_overrides = devtools.parameter_overrides(args.parameter_overrides)
    options = StackOptions(
        root,
        fault_plan=fault_plan,
        config_env=args.config_env,
        template_file=template,
        config_file=args.config_file.resolve() if args.config_file else None,
        parameter_overrides=parameter_overrides,
        provisioning_defaults=getattr(args, "provisioning_defaults", {}),
        work_dir=root / ".tributary" / "work",
        batch_window_cap=window,
        visibility_timeout_cap=args.visibility_timeout,
        real_time=not args.virtual_clock,
        spark_cores=args.spark_cores,
        glue_mode=args.glue_mode,
        glue_workers=args.glue_workers,
        **ports,
    )
    try:
        stack = LocalStack(options).start()
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None
    except InvalidSchedule as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot start the local stack: {exc}") from None
    except StateError as exc:
        raise UsageError(f"cannot start the local stack: {exc}") from None
    for problem in stack.not_emulated:
        print(f"not emulated: {problem}", file=sys.stderr)
    if importlib.util.find_spec("pyspark") is None:
        print(
            "note: pyspark is not installed, so Glue job runs fail (runs the small-run path takes do not "
            "need it): pip install 'tributary[spark]' (and Java 17)",
            file=sys.stderr,
        )
    for note in stack.notes:
        print(f"note: {note}", file=sys.stderr)
    return stack


def _up(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from tributary.local.endpoints.control import serve_control
    from tributary.local.session import StackInfo, execution_history
    from tributary.local.views.progress import ProgressTracker, glue_detail, use_color
    from tributary.serving import stop_serving, url_of

    stack = _start(
        args,
        endpoint_port=args.port,
        moto_port=args.moto_port or None,
        states_port=args.states_port,
        athena_port=args.athena_port,
        glue_port=args.glue_port,
        state_dir=None
        if args.ephemeral
        else (args.state_dir or args.root / ".tributary" / "state").resolve(),
        fresh=args.fresh,
    )
    control = serve_control(stack)
    info = StackInfo.of(stack, url_of(control))
    path = info.save(args.root.resolve())
    print(
        f"Local stack {stack.stack.name} is up ({path}).\n"
        f"  endpoint:        {info.endpoint_url}   (every service; `tributary env` prints the variables)\n"
        f"  AWS (moto):      {info.moto_url}\n"
        + "".join(f"  {service.title():<15}  {url}\n" for service, url in stack.endpoints.items())
        + f"  raw bucket:      s3://{info.raw_bucket}/incoming/<dataset>/\n"
        f"  state machine:   {info.state_machine_arn}\n"
        "Use it with:\n"
        f"  export AWS_ENDPOINT_URL={info.endpoint_url} AWS_ACCESS_KEY_ID=testing "
        f"AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION={info.region}\n"
        f"  aws s3 cp FILE s3://{info.raw_bucket}/incoming/orders/   (or: tributary put FILE)\n"
        "Ctrl-C stops it.",
        flush=True,
    )
    sfn = info.client("stepfunctions")
    trackers: dict[str, ProgressTracker] = {}
    color = use_color(sys.stdout)
    shown = [0] * len(stack.mappings)
    workflow_lines = 0  # Glue Workflows (-t templates/glue-workflow.yaml): their progress lines shown
    try:
        while True:
            for line in stack.workflows.progress[workflow_lines:]:
                print(line, flush=True)
            workflow_lines = len(stack.workflows.progress)
            if not info.state_machine_arn:  # a template without a state machine: workflows only
                time.sleep(0.5)
                continue
            for index, mapping in enumerate(stack.mappings):
                for batch in mapping.batches[shown[index] :]:
                    for line in _batch_lines(mapping.config.function, batch):
                        print(line, flush=True)
                shown[index] = len(mapping.batches)
            for summary in sfn.list_executions(stateMachineArn=info.state_machine_arn)["executions"]:
                tracker = trackers.setdefault(summary["executionArn"], ProgressTracker(color=color))
                if tracker.status != "RUNNING" and summary["status"] != "RUNNING":
                    continue
                for line in tracker.feed(execution_history(sfn, summary["executionArn"])):
                    print(f"{summary['name']}  {line}", flush=True)
                now = datetime.now(UTC)  # a long state: its elapsed time, a Glue job's Spark stages
                for line in tracker.still_running(now, detail=glue_detail(stack.glue, now)):
                    print(f"{summary['name']}  {line}", flush=True)
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
    finally:
        stop_serving(control)
        stack.stop()
        (args.root.resolve() / ".tributary" / "stack.json").unlink(missing_ok=True)
    return 0


def _batch_lines(function: str, batch: Any) -> list[str]:
    """What an event source mapping's invocation did, for `tributary up`'s output."""
    from tributary.local.commands.one_shot import skipped_objects

    name = function.rsplit(":", 1)[-1]
    lines = [f"{name}: batch of {len(batch.message_ids)} message(s)"]
    if batch.function_error:
        error = batch.result.get("errorType", "") if isinstance(batch.result, dict) else ""
        lines.append(f"{name}: failed ({error}); the messages return after the queue's visibility timeout")
    elif batch.failed_ids:
        lines.append(f"{name}: {len(batch.failed_ids)} message(s) reported as failed, to be retried")
    for key, reason in skipped_objects(batch.logs).items():
        lines.append(f"{name}: skipped {key}: {reason}")
    return lines


def _run(args: argparse.Namespace) -> int:
    from tributary.local.commands.one_shot import run_files
    from tributary.local.views import report as reports
    from tributary.local.views.progress import use_color

    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)}")
    _nobody_to_approve(args)
    stack = _start(args, **devtools.run_state(args))  # its runs stay in the state folder
    try:
        color = use_color(sys.stderr)
        result = run_files(
            stack,
            [f.resolve() for f in args.files],
            dataset=args.dataset,
            timeout=args.timeout,
            color=color,
            out=sys.stderr,
        )
    finally:
        stack.stop()
    if args.json:
        print(result.to_json())
    else:
        for run_report in result.reports:
            print(reports.render_text(run_report, color=use_color(sys.stdout)))
        for upload, reason in result.skipped:
            print(f"skipped: {upload.key}: {reason}")
        if result.timed_out:
            print(f"timed out after {args.timeout:.0f}s waiting for the runs")
    return result.exit_code


def _nobody_to_approve(args: argparse.Namespace) -> None:
    """`tributary run` serves no `tributary approve` and ends with its runs: a run whose quality rules
    fail is quarantined at once (ApprovalTimeoutSeconds 0, where the template has that parameter) instead
    of waiting for a decision nobody can give, unless --parameter-overrides sets it. Only when `run`
    provisions the stack: a state saved before (by `tributary up`) is reused as it is."""
    from tributary.local.provisioning.template import load_template

    template = (args.template or args.root / "template.yaml").resolve()
    if any(item.startswith("ApprovalTimeoutSeconds=") for item in args.parameter_overrides):
        return
    try:
        parameters = load_template(template).get("Parameters") or {}
    except (OSError, ValueError):
        return  # _start says what is wrong with the template
    if "ApprovalTimeoutSeconds" in parameters:
        # Not an override: the state `run` leaves must still open in `tributary up` (which then says
        # that approval is off in it), and a state `up` left is reused as it is.
        args.provisioning_defaults = {"ApprovalTimeoutSeconds": "0"}


def _info(root: Path) -> Any:
    from tributary.local.session import STACK_FILE, StackInfo

    try:
        info = StackInfo.load(root.resolve())
    except FileNotFoundError:
        raise UsageError(
            f"no local stack is running here ({STACK_FILE} not found): start `tributary up`"
        ) from None
    if not _answers(info.moto_url):
        raise UsageError(
            f"the local stack of {STACK_FILE} does not answer at {info.moto_url} (stopped or killed?): "
            "start `tributary up`"
        )
    return info


def _readable(args: argparse.Namespace) -> Any:
    """The running stack, else the state it saved (after `tributary run`, or `tributary up` stopped)."""
    try:
        return _info(args.root)
    except UsageError:
        info = devtools.saved_stack_info(args)
        if info is None:
            raise
        return info


def _answers(url: str, timeout: float = 2.0) -> bool:
    """Whether something accepts connections at the URL's host and port."""
    import socket
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=timeout):
            return True
    except OSError:
        return False


def _put(args: argparse.Namespace) -> int:
    from tributary.local.commands.one_shot import dataset_of

    if args.key == "":
        raise UsageError("--key '': an object key cannot be empty (leave --key out for the default)")
    info = _info(args.root)
    if not args.file.is_file():
        raise UsageError(f"no such file: {args.file}")
    contracts = sorted(p.stem for p in (args.root / "contracts").glob("*.yaml"))
    key = args.key or f"incoming/{args.dataset or dataset_of(args.file, contracts)}/{args.file.name}"
    with args.file.open("rb") as body:
        response = info.client("s3").put_object(Bucket=info.raw_bucket, Key=key, Body=body)
    print(f"s3://{info.raw_bucket}/{key} (version {response.get('VersionId', 'null')})")
    return 0


def _query(args: argparse.Namespace) -> int:
    from tributary.local.runtimes.athena_runtime import AthenaRuntime

    changes = _changing_statements(args.sql)
    if changes and not args.allow_ddl:
        raise UsageError(
            f"{', '.join(changes)} changes the catalog or data under running pipelines: "
            "add --allow-ddl to run it"
        )
    info = _info(args.root)
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        return clients.setdefault(service, info.client(service))

    athena = AthenaRuntime(client, args.root.resolve() / ".tributary" / "athena-cache")
    query_id = athena.start_query_execution(
        QueryString=args.sql,
        QueryExecutionContext={"Database": args.database or info.glue_database},
        WorkGroup=info.workgroup,
    )["QueryExecutionId"]
    execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
    if execution["Status"]["State"] != "SUCCEEDED":
        print(f"FAILED: {execution['Status'].get('StateChangeReason', '')}", file=sys.stderr)
        return 1
    rows = [
        [cell.get("VarCharValue") for cell in row["Data"]]
        for row in athena.get_query_results(QueryExecutionId=query_id, MaxResults=100000)["ResultSet"]["Rows"]
    ]
    if args.json:
        header, *body = rows if execution["StatementType"] == "DML" else ([], *rows)
        print(
            json.dumps([dict(zip(header, row, strict=False)) for row in body] if header else body, indent=2)
        )
    else:
        _rows_out(rows, args.output, header=execution["StatementType"] == "DML")
    return 0


# Statements that only read: the rest (CREATE, DROP, ALTER, MSCK, INSERT, DELETE, ...) needs --allow-ddl.
READ_STATEMENTS = ("SELECT", "WITH", "VALUES", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "TABLE")


def _changing_statements(sql: str) -> list[str]:
    """The first keyword of each statement of `sql` that is not a read (an empty list: only reads)."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    logging.getLogger("sqlglot").setLevel(logging.ERROR)  # no "falling back to Command" warnings
    reads = (exp.Query, exp.Values, exp.Describe, exp.Show)  # Query: SELECT, UNION, WITH ... SELECT
    try:
        statements = [s for s in sqlglot.parse(sql, read="athena") if s is not None]
    except SqlglotError:
        statements = []  # not parsed: judged by each statement's first word
    if statements:
        changes = []
        for statement in statements:
            if isinstance(statement, reads):
                continue
            first = statement.sql(dialect="athena", comments=False).split(None, 1)
            word = first[0].upper() if first else type(statement).__name__.upper()
            if not (isinstance(statement, exp.Command) and word in READ_STATEMENTS):
                changes.append(word)
        return changes
    words = [part.split(None, 1)[0].upper() for part in sql.split(";") if part.strip()]
    return [word for word in words if word.lstrip("(") not in READ_STATEMENTS]


def _rows_out(rows: list[list[str | None]], output: str, header: bool = True) -> None:
    """Rows as an aligned table, or as tab-separated text without the header row (the first, if any)."""
    if output == "text":
        for row in rows[1 if header else 0 :]:
            print("\t".join("NULL" if v is None else v for v in row))
    else:
        _table(rows)


def _table(rows: list[list[str | None]]) -> None:
    if not rows:
        print("(no rows)")
        return
    cells = [["NULL" if v is None else v for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells if i < len(row)) for i in range(len(cells[0]))]
    for index, row in enumerate(cells):
        print("  ".join(value.ljust(widths[i]) for i, value in enumerate(row)).rstrip())
        if index == 0 and len(cells) > 1:
            print("  ".join("-" * w for w in widths))


def _runs(args: argparse.Namespace) -> int:
    from tributary.local.views.report import plain_item

    info = _readable(args)
    dynamodb = info.client("dynamodb")
    pages = (
        dynamodb.get_paginator("query").paginate(
            TableName=info.runs_table,
            IndexName="by-trigger-principal-created",
            KeyConditionExpression="trigger_principal = :who",
            ExpressionAttributeValues={":who": {"S": args.triggered_by}},
        )
        if args.triggered_by
        else dynamodb.get_paginator("scan").paginate(TableName=info.runs_table)
    )
    items = [plain_item(i) for page in pages for i in page["Items"]]
    if args.status:
        items = [i for i in items if str(i.get("status", "")).upper() == args.status.upper()]
    items.sort(key=lambda i: str(i.get("created_at", "")))
    if args.json:
        print(json.dumps(items, indent=2, default=str))
        return 0
    rows: list[list[str | None]] = [["run_id", "status", "dataset", "objects", "rows_written", "created_at"]]
    for item in items:
        rows.append(
            [
                str(item.get(k, ""))
                for k in ("run_id", "status", "dataset", "object_count", "rows_written", "created_at")
            ]
        )
    _rows_out(rows, args.output)
    return 0


def _execution_arn(info: Any, run_id: str) -> str:
    return info.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{run_id}"


def _history(args: argparse.Namespace) -> int:
    from tributary.local.session import execution_history
    from tributary.local.views.progress import progress_lines, use_color

    info = _readable(args)
    try:
        events = execution_history(info.client("stepfunctions"), _execution_arn(info, args.run))
    except Exception as exc:
        raise UsageError(f"no run {args.run}: {exc}") from None
    if args.json:
        print(json.dumps(events, indent=2, default=str))
    else:
        for line in progress_lines(events, color=use_color(sys.stdout)):
            print(line)
    return 0


def _graph(args: argparse.Namespace) -> int:
    from tributary.local.session import execution_history
    from tributary.local.views.graph import render_html, render_svg

    if args.output is not None and not args.output.parent.is_dir():
        raise UsageError(f"-o {args.output}: no such folder {args.output.parent}")
    info = _readable(args)
    events = None
    if args.run:
        try:
            events = execution_history(info.client("stepfunctions"), _execution_arn(info, args.run))
        except Exception as exc:
            raise UsageError(f"no run {args.run}: {exc}") from None
    output = args.output or args.root / ".tributary" / f"graph-{args.run or 'machine'}.html"
    output.parent.mkdir(parents=True, exist_ok=True)
    title = f"{info.state_machine_arn.rsplit(':', 1)[-1]}" + (f" — {args.run}" if args.run else "")
    render = render_svg if output.suffix == ".svg" else render_html
    output.write_text(render(info.state_machine_definition, events, title=title))
    print(output.resolve().as_uri())
    return 0


def _schedule_fire(args: argparse.Namespace) -> int:
    info = _info(args.root)
    request = urllib.request.Request(
        f"{info.control_url}/schedules/{args.name}/fire", method="POST", data=b""
    )
    try:
        with urllib.request.urlopen(request, timeout=900) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise UsageError(json.loads(exc.read() or b"{}").get("error", str(exc))) from None
    print(json.dumps(body.get("result"), indent=2, default=str))
    result = body.get("result")
    return 1 if isinstance(result, dict) and result.get("function_error") else 0


# -- reprocess and redrive: the sweep function of the running stack, as `aws lambda invoke` runs it ----
SWEEP_FUNCTION = "SweepFunction"


def _invoke_function(info: Any, function: str, payload: dict[str, Any]) -> Any:
    """What the stack's control endpoint answers for one invocation (`result`: payload, function_error);
    a refusal by the stack, or a stack that does not answer, is a UsageError."""
    request = urllib.request.Request(
        f"{info.control_url}/functions/{function}/invoke",
        method="POST",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=900) as response:
            return json.loads(response.read())["result"]
    except urllib.error.HTTPError as exc:
        raise UsageError(json.loads(exc.read() or b"{}").get("error", str(exc))) from None
    except urllib.error.URLError as exc:
        raise UsageError(
            f"the local stack does not answer ({exc.reason}): is `tributary up` running?"
        ) from None


def _invoke_sweep(root: Path, payload: dict[str, Any]) -> dict[str, Any]:
    """The sweep's answer; a refusal by the stack or an error of the function is a UsageError."""
    result = _invoke_function(_info(root), SWEEP_FUNCTION, payload)
    answer = result.get("payload") if isinstance(result, dict) else None
    if result.get("function_error") or not isinstance(answer, dict):
        message = answer.get("errorMessage") if isinstance(answer, dict) else None
        raise UsageError(f"the sweep failed: {message or result.get('function_error') or answer}")
    return answer


def _reprocess(args: argparse.Namespace) -> int:
    # As a person invoking the sweep on AWS says who they are: the trigger of the new run (audit trail).
    requested_by = args.requested_by or _info(args.root).client("sts").get_caller_identity()["Arn"]
    answer = _invoke_sweep(args.root, {"reprocess_run_id": args.run, "requested_by": requested_by})
    if args.json:
        print(json.dumps(answer, indent=2))
        return 1 if answer.get("refused") else 0
    if answer.get("refused"):
        print(f"not reprocessed: {answer['refused']}", file=sys.stderr)
        return 1
    print(f"{args.run}: {answer['enqueued']} object version(s) sent to the ingest queue")
    for skipped in answer.get("skipped", []):
        print(f"  skipped {skipped['key']} (version {skipped['version_id'] or 'null'}): {skipped['reason']}")
    if answer["enqueued"]:
        print("their new run(s) show in `tributary runs` once the trigger's batch window closes")
    return 0


# -- approve and refuse: the approval function of the running stack, as its function URL calls it ------
APPROVAL_FUNCTION = "ApprovalFunction"


def approval_request(run_id: str, decision: str, reason: str, caller: str, account: str) -> dict[str, Any]:
    """The event a function URL with AuthType AWS_IAM gives the function (payload format 2.0): the body,
    and the caller AWS authenticated. Locally the caller is the identity of the stack's credentials."""
    return {
        "version": "2.0",
        "rawPath": "/",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": account,
            "authorizer": {"iam": {"userArn": caller, "accountId": account}},
            "http": {"method": "POST", "path": "/", "sourceIp": "127.0.0.1", "userAgent": "tributary"},
        },
        "body": json.dumps({"run_id": run_id, "decision": decision, "reason": reason}),
        "isBase64Encoded": False,
    }


def _decide(args: argparse.Namespace) -> int:
    if not args.reason.strip():
        raise UsageError("--reason must say why (it is kept on the run record)")
    status, body = _decide_on_aws(args) if args.url else _decide_locally(args)
    if args.json:
        print(json.dumps({"status_code": status, **body}, indent=2))
    elif status == 200:
        verb = "approved" if args.decision == "approve" else "refused"
        print(f"{args.run}: {verb} by {body['decided_by']} at {body['decided_at']}: {body['reason']}")
        follows = "published" if args.decision == "approve" else "quarantined"
        print(f"the run goes on and is {follows}: `tributary runs` shows its status")
    else:
        message = body.get("message") or body.get("Message") or body
        print(f"not {args.decision}d ({status}): {message}", file=sys.stderr)
    return 0 if status == 200 else 1


def _decide_locally(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    info = _info(args.root)
    identity = info.client("sts").get_caller_identity()
    event = approval_request(args.run, args.decision, args.reason, identity["Arn"], identity["Account"])
    result = _invoke_function(info, APPROVAL_FUNCTION, event)
    answer = result.get("payload") if isinstance(result, dict) else None
    if result.get("function_error") or not isinstance(answer, dict) or "statusCode" not in answer:
        message = answer.get("errorMessage") if isinstance(answer, dict) else None
        raise UsageError(f"the approval function failed: {message or result.get('function_error') or answer}")
    return int(answer["statusCode"]), json.loads(answer.get("body") or "{}")


def _decide_on_aws(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    """POST the decision to the function URL, signed with SigV4 (service lambda) as AuthType AWS_IAM
    requires; AWS names the signer to the function, which records it."""
    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    session = boto3.session.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise UsageError("no AWS credentials to sign the request with (aws configure, AWS_PROFILE, ...)")
    host = urllib.parse.urlsplit(args.url).hostname or ""
    parts = host.split(".")
    from_host = (
        parts[2] if len(parts) == 5 and parts[1] == "lambda-url" and host.endswith(".on.aws") else None
    )
    region = args.region or from_host or session.region_name
    if not region:
        raise UsageError(f"which region is {args.url} in? pass --region")
    body = json.dumps({"run_id": args.run, "decision": args.decision, "reason": args.reason})
    signed = AWSRequest(method="POST", url=args.url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(credentials.get_frozen_credentials(), "lambda", region).add_auth(signed)
    request = urllib.request.Request(
        args.url, data=body.encode(), method="POST", headers=dict(signed.headers.items())
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        text = exc.read().decode("utf-8", "replace")
        try:
            answer = json.loads(text)
        except ValueError:
            answer = {"message": text.strip() or exc.reason}
        return exc.code, answer if isinstance(answer, dict) else {"message": str(answer)}
    except urllib.error.URLError as exc:
        raise UsageError(f"{args.url} does not answer ({exc.reason})") from None


def _redrive(args: argparse.Namespace) -> int:
    if args.max_messages < 1:
        raise UsageError("--max-messages must be at least 1")
    answer = _invoke_sweep(args.root, {"redrive": args.queue, "max_messages": args.max_messages})
    if args.json:
        print(json.dumps(answer, indent=2))
        return 1 if answer.get("failed") else 0
    print(f"{args.queue} dead-letter queue: {answer['moved']} message(s) moved to the ingest queue")
    if answer.get("failed"):
        print(f"  {answer['failed']} could not be sent; they stay in the dead-letter queue")
    for kept in answer.get("kept", []):
        error = f" ({kept['error']})" if kept.get("error") else ""
        print(f"  kept {kept['message_id']}: {kept['kind']}{error}")
    if answer.get("more"):
        print("  more messages are waiting: run it again")
    return 1 if answer.get("failed") else 0
