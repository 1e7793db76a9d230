"""Runtimes of the local stack: Lambda functions in warm worker processes, Glue jobs on local Spark
(with the folder that mirrors S3 for them), Athena queries on DuckDB over the local Glue catalog."""
