"""Validate: checks each object of a run against its dataset contract before the Glue job reads it."""
