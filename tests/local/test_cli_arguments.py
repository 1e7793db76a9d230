"""Bad arguments get a one-line answer (exit 2), never a traceback; the command-line conventions
(`--output`, `--json`, an example in every command's help, `--version`)."""

from __future__ import annotations

import json
import shlex
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tributary import __version__
from tributary.cli import EXAMPLES, build_parser, commands, main
from tributary.local.commands.operate import _changing_statements, _rows_out
from tributary.local.endpoints.control import serve_control
from tributary.local.endpoints.moto_server import MotoServer
from tributary.local.provisioning import provision
from tributary.local.session import StackInfo
from tributary.local.stack import LocalStack, StackOptions

REPO = Path(__file__).resolve().parents[2]
FIXTURE_APP = Path(__file__).parent / "fixtures" / "app"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stopped_stack(root: Path) -> str:
    """A `.tributary/stack.json` left by a `tributary up` that was killed: nothing listens at its URLs."""
    url = f"http://127.0.0.1:{_free_port()}"
    StackInfo(
        moto_url=url,
        states_url=url,
        control_url=url,
        region="us-east-1",
        state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:m",
        state_machine_definition="{}",
        raw_bucket="raw",
        artifacts_bucket="artifacts",
        curated_bucket="curated",
        runs_table="runs",
        glue_database="db",
        workgroup="wg",
        notifications_queue="q",
    ).save(root)
    return url


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("tributary: error: ") and "Traceback" not in err
    return err


@pytest.mark.parametrize(
    "command", [["runs"], ["history", "RUN"], ["graph"], ["query", "SELECT 1"], ["reprocess", "RUN"]]
)
def test_a_stopped_stack_is_named_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    url = _stopped_stack(tmp_path)
    err = _error(capsys, [*command, "--root", str(tmp_path)])
    assert "does not answer" in err and "tributary up" in err
    if command[0] != "reprocess":  # reprocess names the control endpoint's error instead
        assert url in err


def test_no_stack_at_all_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(capsys, ["runs", "--root", str(tmp_path)])
    assert "no local stack is running here" in err


def test_runs_status_must_be_a_run_status(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["runs", "--status", "BOGUS"])
    assert exit_.value.code == 2
    assert "invalid choice: 'BOGUS'" in capsys.readouterr().err
    assert build_parser().parse_args(["runs", "--status", "failed"]).status == "FAILED"


def test_put_refuses_an_empty_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "orders.csv"
    data.write_text("a\n1\n")
    err = _error(capsys, ["put", str(data), "--key", "", "--root", str(tmp_path)])
    assert "cannot be empty" in err


def test_graph_into_a_missing_folder_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "missing" / "run.html"
    err = _error(capsys, ["graph", "-o", str(target), "--root", str(tmp_path)])
    assert f"no such folder {target.parent}" in err
    assert not target.parent.exists()


@pytest.mark.parametrize(
    "sql",
    [
        "DROP TABLE orders",
        "drop table if exists orders",
        "ALTER TABLE orders DROP PARTITION (order_date = '2024-01-01')",
        "CREATE EXTERNAL TABLE x (a int) LOCATION 's3://b/x/'",
        "MSCK REPAIR TABLE orders",
        "SELECT 1; DROP TABLE orders",
        "-- a comment first\nDROP TABLE orders",
        "INSERT INTO orders SELECT * FROM orders",
    ],
)
def test_query_asks_for_allow_ddl_before_changing_the_catalog(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sql: str
) -> None:
    _stopped_stack(tmp_path)
    err = _error(capsys, ["query", sql, "--root", str(tmp_path)])
    assert "--allow-ddl" in err
    # With it, the statement goes on to the stack (here a stopped one, which is what is reported).
    err = _error(capsys, ["query", sql, "--allow-ddl", "--root", str(tmp_path)])
    assert "does not answer" in err


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT order_date, count(*) FROM orders GROUP BY 1",
        "WITH a AS (SELECT 1 AS x) SELECT x FROM a",
        "(SELECT 1) UNION ALL (SELECT 2)",
        "SHOW PARTITIONS orders",
        "SHOW TABLES",
        "DESCRIBE orders",
        "EXPLAIN SELECT 1",
        "VALUES (1)",
        "/* note */ SELECT 1 -- trailing",
    ],
)
def test_reads_need_no_flag(sql: str) -> None:
    assert _changing_statements(sql) == []


def test_nothing_of_ours_runs_ddl_through_the_query_command() -> None:
    """The pipeline registers partitions through the Athena runtime, never through `tributary query`:
    no code, definition or Makefile target of ours calls the command (only the CLI modules name it)."""
    root = REPO
    own = {root / "tributary" / "cli.py", root / "tributary" / "local" / "commands" / "operate.py"}
    files = [root / "Makefile"] + [
        path
        for folder in ("tributary", "functions", "glue", "bench", "statemachine")
        for path in (root / folder).rglob("*")
        if path.suffix in {".py", ".json", ".yaml", ".sh"} and path.is_file() and path not in own
    ]
    calls = ("tributary query", '"query", "', "'query', '")
    callers = [path for path in files if any(call in path.read_text(errors="replace") for call in calls)]
    assert callers == []


@pytest.mark.parametrize(
    ("argv", "formats"),
    [
        (["run", "f.csv"], ("text", "json")),
        (["query", "SELECT 1"], ("table", "text", "json")),
        (["runs"], ("table", "text", "json")),
        (["history", "RUN"], ("text", "json")),
        (["reprocess", "RUN"], ("text", "json")),
        (["redrive", "ingest"], ("text", "json")),
    ],
)
def test_output_option_and_json_alias(
    argv: list[str], formats: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    parser = build_parser()
    assert parser.parse_args(argv).output == formats[0]
    assert parser.parse_args([*argv, "--json"]).output == "json"
    for fmt in formats:
        assert parser.parse_args([*argv, "--output", fmt]).output == fmt
    with pytest.raises(SystemExit):
        parser.parse_args([*argv, "--output", "yaml"])
    assert "invalid choice: 'yaml'" in capsys.readouterr().err


def test_rows_out_table_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    rows: list[list[str | None]] = [["run_id", "status"], ["r1", "FAILED"], ["r22", None]]
    _rows_out(rows, "table")
    assert capsys.readouterr().out.splitlines() == [
        "run_id  status",
        "------  ------",
        "r1      FAILED",
        "r22     NULL",
    ]
    _rows_out(rows, "text")
    assert capsys.readouterr().out.splitlines() == ["r1\tFAILED", "r22\tNULL"]


def test_every_command_has_an_example_that_parses() -> None:
    parser = build_parser()
    found = commands(parser)
    assert {"up", "run", "runs", "states execute"} <= set(found)
    for command, sub in found.items():
        assert sub.epilog and "example" in sub.epilog, f"`tributary {command} --help` has no example"
        assert f"tributary {command}" in sub.format_help(), command
    for command, examples in EXAMPLES.items():
        if command not in found:
            continue  # an example kept for a command this build does not have
        for example in examples:
            words = shlex.split(example, comments=True)
            assert words[0] == "tributary"
            if words[1:] == [command, "--help"]:
                continue
            build_parser().parse_args(words[1:])  # SystemExit (exit 2) if a flag does not exist


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"tributary {__version__}"


# -- `-t/--template` and `--config-file`, as SAM names them; `global` sections read as SAM reads them --


def test_template_and_config_file_that_do_not_exist_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _error(capsys, ["up", "--root", str(tmp_path), "-t", str(tmp_path / "nope.yaml")])
    assert f"no template {tmp_path / 'nope.yaml'}" in err
    template = tmp_path / "app.yaml"
    template.write_text((FIXTURE_APP / "template.yaml").read_text())
    err = _error(
        capsys, ["up", "--root", str(tmp_path), "--template-file", str(template), "--config-file", "x.toml"]
    )
    assert "--config-file x.toml: no such file" in err


def test_a_config_file_elsewhere_with_global_sections(tmp_path: Path, moto_server: MotoServer) -> None:
    config = tmp_path / "other.toml"
    config.write_text(
        "version = 0.1\n"
        '[prod.global.parameters]\nstack_name = "from-global"\nparameter_overrides = ["Stage=prod"]\n'
        '[prod.deploy.parameters]\nstack_name = "from-deploy"\n'
        '[default.global.parameters]\nstack_name = "tiny-global"\nparameter_overrides = "RetentionDays=5"\n'
    )
    stack = provision(FIXTURE_APP / "template.yaml", moto_server, "prod", config_file=config)
    assert stack.name == "from-deploy"  # the command's own section over the environment's global one
    assert "ProdOnlyQueue" in stack.resources  # Stage=prod from [prod.global.parameters]
    moto_server.reset()
    stack = provision(FIXTURE_APP / "template.yaml", moto_server, "default", config_file=config)
    assert stack.name == "tiny-global"
    assert "ProdOnlyQueue" not in stack.resources


def test_the_saved_state_fingerprint_follows_the_files_used(tmp_path: Path) -> None:
    from tributary.local.persistence.local_state import _fingerprint

    (tmp_path / "template.yaml").write_text("a")
    (tmp_path / "samconfig.toml").write_text("b")
    default = _fingerprint(tmp_path, "default")
    same = (tmp_path / "template.yaml", tmp_path / "samconfig.toml")
    assert _fingerprint(tmp_path, "default", same) == default  # states saved before still match
    other = tmp_path / "other.toml"
    other.write_text("c")
    assert _fingerprint(tmp_path, "default", (tmp_path / "template.yaml", other)) != default


# -- against a running stack built from the project's template.yaml (no Spark starts) ---------------


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, LocalStack]]:
    """A project folder whose .tributary/stack.json points at a running stack, as `tributary up` leaves."""
    folder = tmp_path_factory.mktemp("project")
    options = StackOptions(REPO, work_dir=folder / "work", real_time=False)
    with LocalStack(options) as stack:
        control = serve_control(stack)
        StackInfo.of(stack, f"http://127.0.0.1:{control.server_port}").save(folder)
        try:
            yield folder, stack
        finally:
            control.shutdown()


def _cli(root: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--root", str(root)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.slow
@pytest.mark.xdist_group("local_stack_e2e")
def test_query_ddl_needs_allow_ddl_against_the_catalog(
    running: tuple[Path, LocalStack], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, stack = running
    glue = stack.aws.client("glue")
    database = StackInfo.load(folder).glue_database
    curated = stack.physical_id("CuratedBucket")

    def exists() -> bool:
        return any(t["Name"] == "scratch" for t in glue.get_tables(DatabaseName=database)["TableList"])

    create = f"CREATE EXTERNAL TABLE scratch (a int) STORED AS PARQUET LOCATION 's3://{curated}/scratch/'"
    code, _, err = _cli(folder, capsys, "query", create)
    assert code == 2 and "--allow-ddl" in err and not exists()
    code, _, err = _cli(folder, capsys, "query", create, "--allow-ddl")
    assert code == 0, err
    assert exists()
    code, out, err = _cli(folder, capsys, "query", "SELECT count(*) AS n FROM scratch", "--output", "json")
    assert code == 0, err
    assert json.loads(out) == [{"n": "0"}]
    code, out, _ = _cli(folder, capsys, "query", "SELECT count(*) AS n FROM scratch", "--output", "text")
    assert out == "0\n"
    code, _, err = _cli(folder, capsys, "query", "DROP TABLE scratch")
    assert code == 2 and "DROP changes the catalog" in err and exists()
    code, _, err = _cli(folder, capsys, "query", "DROP TABLE scratch", "--allow-ddl")
    assert code == 0, err
    assert not exists()


@pytest.mark.slow
@pytest.mark.xdist_group("local_stack_e2e")
def test_runs_put_and_graph_against_a_running_stack(
    running: tuple[Path, LocalStack], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder, stack = running
    code, out, _ = _cli(folder, capsys, "runs", "--output", "json")
    assert (code, json.loads(out)) == (0, [])
    assert _cli(folder, capsys, "runs", "--json")[1] == out
    code, out, _ = _cli(folder, capsys, "runs", "--status", "failed", "--output", "text")
    assert (code, out) == (0, "")
    data = tmp_path / "orders.csv"
    data.write_text("a\n1\n")
    code, _, err = _cli(folder, capsys, "put", str(data), "--key", "")
    assert code == 2 and "cannot be empty" in err
    listed = stack.aws.client("s3").list_object_versions(Bucket=stack.physical_id("RawBucket"))
    assert not listed.get("Versions")  # nothing uploaded
    code, _, err = _cli(folder, capsys, "graph", "-o", str(tmp_path / "no" / "g.svg"))
    assert code == 2 and "no such folder" in err
    code, out, err = _cli(folder, capsys, "graph", "-o", str(tmp_path / "g.svg"))
    assert code == 0, err
    assert (tmp_path / "g.svg").read_text().lstrip().startswith("<svg")
