"""The local stack's subcommands of `tributary`: up, run, put, query, runs, history, graph, schedule fire,
reprocess, approve/refuse, redrive (`operate`), env, aws, invoke, reset (`devtools`), and the driver of
`tributary run` (`one_shot`). The `tributary` entry point itself is `tributary/cli.py`."""
