"""JSONPath as the Amazon States Language uses it: `$` is the input, `$$` the context object,
`$name` a variable (JSONPath-mode variables). Reference paths select one value; other paths
may select several, which AWS returns as a list."""

from __future__ import annotations

from typing import Any


class PathError(Exception):
    """A path that is malformed or selects nothing in the data it is applied to."""


def select(data: Any, path: str, *, context: Any = None, variables: dict[str, Any] | None = None) -> Any:
    """The value `path` selects in `data` (or in `context` for `$$`, or a variable for `$name`)."""
    raise NotImplementedError
