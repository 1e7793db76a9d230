"""Quarantine: copies the inputs of a failed run aside, with the reason; the originals stay."""
