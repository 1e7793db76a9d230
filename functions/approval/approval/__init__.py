"""Approval: a person decides whether a run whose quality gate failed is published or quarantined."""
