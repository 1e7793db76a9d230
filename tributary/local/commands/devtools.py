"""Commands that make the local stack fit the tools people know: `tributary env` (the variables to
export, or SAM's env-vars file), `tributary aws ...` (the AWS CLI against the stack), `tributary invoke`
(the Docker-free `sam local invoke`) and `tributary reset` (drop the saved state)."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tributary.cli import UsageError

RUN_ID = re.compile(r"\b(([a-z][a-z0-9_]*)-\d{8}T\d{6}Z-[0-9a-f]{10})\b")
ROOT_HELP = "the project folder holding template.yaml and samconfig.toml (default: current folder)"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


def register(subparsers: Any) -> None:
    env = subparsers.add_parser(
        "env",
        help="print the variables that point boto3 and the AWS CLI at `tributary up`",
        description='Print the variables to export for `tributary up` (eval "$(tributary env)"), or, '
        "with --sam FILE, write an env-vars file for `sam local invoke --env-vars FILE`.",
        epilog='examples:\n  eval "$(tributary env)"\n  tributary env --sam .tributary/sam-env.json\n'
        "  sam local invoke ValidateFunction -e events/validate/input.json "
        "--env-vars .tributary/sam-env.json --docker-network host",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    env.add_argument("--sam", type=Path, metavar="FILE", help="write SAM's env-vars JSON file here")
    env.add_argument(
        "--docker-host",
        default="127.0.0.1",
        help="host name of this machine as containers see it, for --sam (default 127.0.0.1, with "
        "`sam local invoke --docker-network host`; host.docker.internal with Docker Desktop)",
    )
    env.add_argument("--root", type=Path, default=Path("."), help=ROOT_HELP)
    env.set_defaults(func=_env)

    aws = subparsers.add_parser(
        "aws",
        help="run the AWS CLI against `tributary up` (tributary aws s3 ls)",
        description="Run the AWS CLI with the endpoint, region and credentials of `tributary up`.",
        epilog="examples:\n  tributary aws s3 ls\n  tributary aws stepfunctions list-state-machines",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    aws.add_argument("--root", type=Path, default=Path("."), help=ROOT_HELP)
    aws.add_argument("arguments", nargs=argparse.REMAINDER, help="the AWS CLI's arguments")
    aws.set_defaults(func=_aws)

    invoke = subparsers.add_parser(
        "invoke",
        help="invoke one function with an event, as `sam local invoke` does, without Docker",
        description="Run a function's handler once in the Lambda-like worker of the local stack, with "
        "an event. Against `tributary up` when it runs here (the handler reaches its endpoint), else "
        "standalone (the template provisioned in a throwaway local AWS). The result goes to stdout, "
        "the function's log to stderr; the exit code is 1 when the function failed.",
        epilog="examples:\n  tributary invoke ValidateFunction -e events/validate/input.json\n"
        '  echo \'{"redrive": "ingest"}\' | tributary invoke SweepFunction -e -\n'
        "  tributary invoke TriggerFunction -e events/trigger/sqs-batch.json -n env.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    invoke.add_argument("function", help="logical id (ValidateFunction) or function name")
    invoke.add_argument("-e", "--event", help="JSON event file, - for stdin (default: {})")
    invoke.add_argument(
        "-n",
        "--env-vars",
        type=Path,
        metavar="FILE",
        help='SAM\'s env-vars file: {"Parameters": {...}, "<LogicalId or name>": {...}}; '
        "as in SAM, only variables the template declares are overridden",
    )
    invoke.add_argument("-t", "--template", type=Path, help="template (standalone; default template.yaml)")
    invoke.add_argument(
        "--parameter-overrides", nargs="+", default=[], metavar="NAME=VALUE", help="template parameters"
    )
    invoke.add_argument("--config-env", default="default", help="samconfig.toml environment (standalone)")
    invoke.add_argument(
        "--standalone", action="store_true", help="do not use `tributary up` even when it runs here"
    )
    invoke.add_argument(
        "--no-name-mapping",
        action="store_true",
        help="pass the event as it is (by default, as the sample events name them, buckets "
        "<stack>-<raw|artifacts|curated>-<account> become the local stack's, and run ids with no local "
        "run the latest local run of their dataset)",
    )
    invoke.add_argument("--root", type=Path, default=Path("."), help=ROOT_HELP)
    invoke.set_defaults(func=_invoke)

    reset = subparsers.add_parser(
        "reset",
        help="delete the saved state of the local stack (objects, queues, tables, runs)",
        epilog="examples:\n  tributary reset --yes\n  tributary reset --state-dir /tmp/state",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    reset.add_argument("--state-dir", type=Path, metavar="DIR", help="default .tributary/state")
    reset.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    reset.add_argument("--root", type=Path, default=Path("."), help=ROOT_HELP)
    reset.set_defaults(func=_reset)


# -- the running stack -----------------------------------------------------------------------------
def running_stack(root: Path) -> Any:
    """The StackInfo of `tributary up` in this project, or None when none answers."""
    from tributary.local.session import StackInfo

    try:
        info = StackInfo.load(root.resolve())
    except (FileNotFoundError, ValueError, TypeError):
        return None
    try:
        _control(info, "GET", "functions")
    except UsageError:
        return None
    return info


def _control(info: Any, method: str, path: str) -> dict[str, Any]:
    request = urllib.request.Request(f"{info.control_url}/{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return dict(json.loads(response.read()))
    except (urllib.error.URLError, OSError) as exc:
        raise UsageError(f"the local stack does not answer ({exc}): is `tributary up` running?") from None


def _require_stack(root: Path) -> Any:
    info = running_stack(root)
    if info is None:
        raise UsageError("no local stack answers here: start `tributary up` (in this folder, or give --root)")
    if not info.endpoint_url:
        raise UsageError("the running stack has no single endpoint: restart it with this version")
    return info


def endpoint_env(info: Any) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": info.endpoint_url, **CREDENTIALS, "AWS_DEFAULT_REGION": info.region}


def sam_env_document(functions: list[dict[str, Any]], endpoint_url: str) -> dict[str, Any]:
    """SAM's env-vars file for `sam local invoke --env-vars FILE`: for each function (by logical id) the
    variables its template declares, with the local stack's values and AWS_ENDPOINT_URL set to the
    stack's endpoint where it is declared (template.yaml declares it empty in Globals, which boto3 ignores
    on AWS). Only declared variables are named: SAM CLI overrides those and nothing else (credentials and
    region come from the shell's AWS credentials, `eval "$(tributary env)"`)."""
    document: dict[str, Any] = {}
    declaring = False
    for function in functions:
        variables = dict(function["environment"])
        if "AWS_ENDPOINT_URL" in variables:
            variables["AWS_ENDPOINT_URL"] = endpoint_url
            declaring = True
        document[function["logical_id"] or function["name"]] = variables
    if declaring:  # for all functions, applied by SAM only to those that declare it
        document = {"Parameters": {"AWS_ENDPOINT_URL": endpoint_url}, **document}
    return document


def _env(args: argparse.Namespace) -> int:
    info = _require_stack(args.root)
    variables = endpoint_env(info)
    if args.sam is not None:
        described = _control(info, "GET", "functions")
        url = info.endpoint_url.replace("127.0.0.1", args.docker_host, 1)
        document = sam_env_document(described["functions"], url)
        if not args.sam.parent.is_dir():
            raise UsageError(f"no such folder: {args.sam.parent}")
        args.sam.write_text(json.dumps(document, indent=2) + "\n")
        print(args.sam)
        undeclared = [
            f["logical_id"] for f in described["functions"] if "AWS_ENDPOINT_URL" not in f["environment"]
        ]
        if undeclared:  # SAM CLI sets only the variables a function declares (and its own AWS_* ones)
            print(
                "note: `sam local invoke` passes a function only the variables its template declares; "
                f"{', '.join(undeclared)} do not declare AWS_ENDPOINT_URL, so their AWS calls reach the "
                "local stack only once the template declares it (their resource names are set either way)",
                file=sys.stderr,
            )
        return 0
    for name, value in variables.items():
        print(f"export {name}={value}")
    return 0


def _aws(args: argparse.Namespace) -> int:
    info = _require_stack(args.root)
    beside = Path(sys.executable).parent / "aws"
    program = str(beside) if beside.exists() else shutil.which("aws")
    if program is None:
        raise UsageError("the AWS CLI is not installed (pip install awscli)")
    env = {**os.environ, **endpoint_env(info), "AWS_CONFIG_FILE": os.devnull}
    env.pop("AWS_PROFILE", None)
    return subprocess.call([program, *args.arguments], env=env)


# -- invoke ------------------------------------------------------------------------------------------
@dataclass
class Target:
    """Where an invocation runs: the functions, the resources' names and the environment to reach."""

    functions: list[Any]
    stack_name: str
    resources: dict[str, str]
    env: dict[str, str]
    close: list[Any] = field(default_factory=list)
    latest_runs: dict[str, str] = field(default_factory=dict)  # dataset → its latest local run id


def _invoke(args: argparse.Namespace) -> int:
    from tributary.local.runtimes.lambda_runtime import LambdaRuntime

    event = _read_event(args.event)
    target = _standalone(args) if args.standalone else _against_stack(args.root)
    if target is None:
        target = _standalone(args)
    elif args.template or args.parameter_overrides or args.config_env != "default":
        print(
            "note: -t, --parameter-overrides and --config-env apply standalone only: the functions of the "
            "running stack are used (--standalone to provision the template apart)",
            file=sys.stderr,
        )
    try:
        config = _find(target.functions, args.function)
        if args.env_vars is not None:
            config = _with_env_vars(config, _read_env_vars(args.env_vars))
        if not args.no_name_mapping:
            event = map_sample_names(event, target.stack_name, target.resources, target.latest_runs)
        runtime = LambdaRuntime([config], target.env)
        try:
            result = runtime.invoke(config.name, event)
        finally:
            runtime.close()
    finally:
        for close in reversed(target.close):
            close()
    sys.stderr.write(result.logs)
    print(json.dumps(result.payload, indent=2, default=str, ensure_ascii=False))
    return 1 if result.function_error else 0


def _read_event(name: str | None) -> Any:
    if name is None:
        return {}
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read the event {name}: {exc.strerror or exc}") from None
    try:
        return json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise UsageError(f"the event {name} is not JSON: {exc}") from None


def _read_env_vars(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read --env-vars {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"--env-vars {path} is not JSON: {exc}") from None
    if not isinstance(document, dict) or not all(isinstance(v, dict) for v in document.values()):
        raise UsageError(
            f'--env-vars {path}: expected {{"Parameters": {{NAME: value}}, "<Function>": {{NAME: value}}}}'
        )
    return document


def _with_env_vars(config: Any, document: dict[str, Any]) -> Any:
    """SAM's rule: Parameters for every function, then the function's own object (by logical id or
    name) over them; only variables the template declares for the function are overridden."""
    import dataclasses

    overrides = {**document.get("Parameters", {})}
    for key in (config.name, config.logical_id):  # the logical id wins, as in SAM
        overrides.update(document.get(key, {}) if key else {})
    environment = dict(config.environment)
    ignored = sorted(set(overrides) - set(environment))
    if ignored:
        print(
            f"note: not declared by {config.logical_id or config.name}, not set: {', '.join(ignored)}",
            file=sys.stderr,
        )
    for name in set(overrides) & set(environment):
        value = overrides[name]
        environment[name] = value if isinstance(value, str) else json.dumps(value)
    return dataclasses.replace(config, environment=environment)


def _find(functions: list[Any], name: str) -> Any:
    for config in functions:
        if name in (config.logical_id, config.name, config.arn):
            return config
    known = ", ".join(sorted(c.logical_id or c.name for c in functions))
    raise UsageError(f"no function {name} in the template (functions: {known})")


def _against_stack(root: Path) -> Target | None:
    from tributary.local.runtimes.lambda_runtime import FunctionConfig

    info = running_stack(root)
    if info is None or not info.endpoint_url:
        return None
    described = _control(info, "GET", "functions")
    functions = []
    for document in described["functions"]:
        document = {**document, "code_dir": Path(document["code_dir"])}
        document["layer_dirs"] = tuple(Path(d) for d in document["layer_dirs"])
        functions.append(FunctionConfig(**document))
    env = {**endpoint_env(info), "AWS_REGION": info.region, "AWS_CONFIG_FILE": os.devnull}
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    print(f"invoking against the local stack at {info.endpoint_url}", file=sys.stderr)
    return Target(
        functions, described["stack_name"], dict(described["resources"]), env, latest_runs=_latest_runs(info)
    )


def _latest_runs(info: Any) -> dict[str, str]:
    """The latest run of each dataset in the stack's runs table: the latest SUCCEEDED one (whose
    documents a sample event may name all exist), else the latest of any status."""
    from tributary.local.views.report import plain_item

    latest: dict[str, tuple[bool, str, str]] = {}
    pages = info.client("dynamodb").get_paginator("scan").paginate(TableName=info.runs_table)
    for item in (plain_item(i) for page in pages for i in page["Items"]):
        dataset, created = str(item.get("dataset", "")), str(item.get("created_at", ""))
        rank = (item.get("status") == "SUCCEEDED", created, str(item["run_id"]))
        if dataset and (dataset not in latest or rank > latest[dataset]):
            latest[dataset] = rank
    return {dataset: run_id for dataset, (_, _, run_id) in latest.items()}


def _standalone(args: argparse.Namespace) -> Target:
    from tributary.local.endpoints.moto_server import MotoServer
    from tributary.local.provisioning import provision
    from tributary.local.runtimes.lambda_runtime import function_configs

    template = (args.template or args.root / "template.yaml").resolve()
    if not template.is_file():
        raise UsageError(f"no template {template}")
    overrides = parameter_overrides(args.parameter_overrides)
    aws = MotoServer().start()
    try:
        stack = provision(template, aws, args.config_env, overrides)
    except KeyError as exc:
        aws.stop()
        raise UsageError(str(exc.args[0])) from None
    except BaseException:
        aws.stop()
        raise
    build_dir = template.parent / ".aws-sam" / "build"
    print(
        f"invoking standalone: {template.name} provisioned in a throwaway local AWS at {aws.endpoint_url}",
        file=sys.stderr,
    )
    return Target(
        function_configs(stack, build_dir if build_dir.is_dir() else None),
        stack.name,
        {r.logical_id: r.physical_id for r in stack.resources.values()},
        aws.env(),
        [aws.stop],
    )


def parameter_overrides(items: list[str]) -> dict[str, str]:
    """`--parameter-overrides NAME=VALUE ...` as a dict."""
    overrides = {}
    for item in items:
        name, equals, value = item.partition("=")
        if not equals or not name:
            raise UsageError(f"--parameter-overrides takes NAME=VALUE pairs, got {item!r}")
        overrides[name] = value
    return overrides


def map_sample_names(
    event: Any, stack_name: str, resources: dict[str, str], latest_runs: dict[str, str] | None = None
) -> Any:
    """The sample events name AWS resources and runs that the local stack does not have:
    - buckets as `<stack>-<name>-<account>` (RawBucket: tributary-dev-raw-123456789012) become the local
      bucket of that logical id (tributary-dev-rawbucket);
    - state machines named as CloudFormation names them (`PipelineStateMachine-AbCdEf123456`, in
      stateMachine and execution ARNs) become the local state machine of that logical id;
    - run ids (`<dataset>-<yyyymmddThhmmssZ>-<10 hex>`) that are not local runs become the latest local
      run of their dataset (`latest_runs`), wherever they appear (in URIs too)."""
    from tributary.local.endpoints.moto_server import ACCOUNT_ID

    names = {}
    for logical_id, physical_id in resources.items():
        if logical_id.endswith("Bucket") and len(logical_id) > len("Bucket"):
            short = logical_id.removesuffix("Bucket").lower()
            names[f"{stack_name}-{short}-{ACCOUNT_ID}"] = physical_id
    text = json.dumps(event, ensure_ascii=False)
    for logical_id, physical_id in resources.items():
        # CloudFormation names a state machine `<LogicalId>-<12 random characters>`; its executions'
        # ARNs carry that name too.
        if isinstance(physical_id, str) and physical_id.startswith("arn:aws:states:"):
            local_name = physical_id.rsplit(":", 1)[-1]
            pattern = rf"(:(?:stateMachine|execution):){re.escape(logical_id)}-[A-Za-z0-9]{{12,13}}(?=[:\"])"
            text = re.sub(pattern, rf"\g<1>{local_name}", text)
    local_runs = set((latest_runs or {}).values())
    for match in set(RUN_ID.findall(text)):
        run_id, dataset = match
        if run_id not in local_runs and dataset in (latest_runs or {}):
            names[run_id] = (latest_runs or {})[dataset]
    for sample, local in sorted(names.items(), key=lambda item: -len(item[0])):
        text = text.replace(sample, local)
    return json.loads(text)


# -- the saved state: `tributary run` keeps its runs; runs/history/graph read them afterwards --------
STATE_DIR = Path(".tributary") / "state"
_saved_states = contextlib.ExitStack()  # saved states opened by this command, closed at exit
_opened: dict[Path, Any] = {}
atexit.register(_saved_states.close)


def close_saved_states() -> None:
    """Let go of the saved states this process opened (their folders are then unlocked)."""
    _opened.clear()
    _saved_states.close()


def add_state_option(parser: argparse.ArgumentParser, *, run: bool = False) -> None:
    """--state-dir (and, for `tributary run`, --fresh and --ephemeral)."""
    parser.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="the local stack's state folder (default .tributary/state)"
        + ("; the runs stay there, for `tributary runs`, `history` and `graph`" if run else ""),
    )
    if run:
        parser.add_argument("--fresh", action="store_true", help="drop the saved state and start empty")
        parser.add_argument(
            "--ephemeral", action="store_true", help="keep no state (nothing to look at afterwards)"
        )


def state_folder(args: argparse.Namespace) -> Path:
    return (getattr(args, "state_dir", None) or args.root / STATE_DIR).resolve()


def run_state(args: argparse.Namespace) -> dict[str, Any]:
    """StackOptions of `tributary run`: the state folder of `tributary up`, unless --ephemeral."""
    if args.ephemeral and (args.fresh or args.state_dir is not None):
        raise UsageError("--ephemeral keeps no state: it goes without --fresh and --state-dir")
    if args.ephemeral:
        return {"state_dir": None, "fresh": False}
    folder = state_folder(args)
    if _locked(folder):
        raise UsageError(
            f"`tributary up` is running on {folder}: send it the files with `tributary put FILE`, "
            "or run apart with `tributary run --ephemeral` (or --state-dir DIR)"
        )
    return {"state_dir": folder, "fresh": args.fresh}


def _locked(folder: Path) -> bool:
    """Whether a stack holds the lock of the state folder."""
    import fcntl

    if not (folder / "lock").exists():
        return False
    with open(folder / "lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(lock, fcntl.LOCK_UN)
    return False


def saved_stack_info(args: argparse.Namespace) -> Any:
    """The StackInfo of the state saved in the state folder, served from this process until it
    exits; None when the folder holds no saved stack."""
    from tributary.local.persistence.saved import read_saved_state, unfinished_executions
    from tributary.local.persistence.snapshots import StateError

    folder = state_folder(args)
    if not (folder / "stack.pickle").exists():
        return None
    if folder in _opened:  # a second command in this process (tests): the same servers
        return _opened[folder]
    try:
        info = _opened[folder] = _saved_states.enter_context(read_saved_state(folder))
    except StateError as exc:
        raise UsageError(f"cannot read the saved state: {exc}") from None
    print(f"note: no local stack is running; reading the state saved in {folder}", file=sys.stderr)
    unfinished = unfinished_executions(folder)
    if unfinished:
        print(
            f"note: {len(unfinished)} run(s) had not ended (they run again at the next `tributary up`): "
            + ", ".join(unfinished),
            file=sys.stderr,
        )
    return info


# -- reset ---------------------------------------------------------------------------------------------
def _reset(args: argparse.Namespace) -> int:
    import fcntl

    folder = state_folder(args)
    close_saved_states()
    if not folder.exists():
        print(f"nothing to reset: {folder} does not exist")
        return 0
    if not (folder / "lock").exists() and not (folder / "moto").exists():
        raise UsageError(f"{folder} is not a state folder of the local stack (no lock, no moto/)")
    with open(folder / "lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise UsageError(f"a local stack is running on {folder}: stop it first") from None
        if not args.yes:
            if not sys.stdin.isatty():
                raise UsageError(f"reset deletes {folder}: confirm with --yes")
            answer = input(f"Delete the local stack's state in {folder} (objects, tables, runs)? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("nothing deleted")
                return 1
        for child in folder.iterdir():
            if child.name == "lock":
                continue
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    print(f"deleted the state in {folder}")
    return 0
