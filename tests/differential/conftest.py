"""The differential tests share the Glue tests' local SparkSession (run them under
`flock /tmp/tributary-spark.lock`)."""

from tests.glue.conftest import spark

__all__ = ["spark"]
