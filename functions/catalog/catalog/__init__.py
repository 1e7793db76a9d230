"""Catalog: the Glue table of a dataset, created or updated from its contract."""
