"""The fault harness: scenarios against the local stack, the invariants checked after each, a table.

    python -m tributary.chaos [--reduced] [--only WORD ...] [--work-dir DIR]

See tributary/local/README.md (Fault injection and the chaos harness).
"""
