"""The local stack's commands: up, run, put, query, runs, history, graph, schedule fire (`commands`), env,
aws, invoke, reset (`devtools`), and the driver of `tributary run` (`one_shot`)."""
