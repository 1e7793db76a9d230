"""What a run looks like: live progress lines, the report of a run, the state machine drawn as SVG/HTML."""
