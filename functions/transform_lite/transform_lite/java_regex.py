"""A user's Java regular expression (a contract's `regex` rule) run with Python's `re` as Java runs it.

The contract only admits patterns Python compiles; where both read a pattern but mean different things,
this rewrites it: outside character classes Java's `.` matches no line terminator (\\n, \\r, U+0085,
U+2028, U+2029; Python's excludes only \\n) and Java's `$` also matches before a final line terminator
(Python's only before a final \\n). Classes like \\d, \\w, \\s and case-insensitive matching are ASCII
in Java by default: the pattern is compiled with re.ASCII. The rule uses find semantics (`search`).
"""

from __future__ import annotations

import re

JAVA_DOT = "[^\\n\\r\\x85\\u2028\\u2029]"
JAVA_END = "(?=(?:\\r\\n|[\\n\\r\\x85\\u2028\\u2029])?\\Z)"


def java_pattern(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    position, in_class = 0, False
    while position < len(pattern):
        char = pattern[position]
        if char == "\\" and position + 1 < len(pattern):
            out.append(pattern[position : position + 2])
            position += 2
            continue
        if in_class:
            if char == "]":
                in_class = False
            out.append(char)
        elif char == "[":
            in_class = True
            out.append(char)
            if pattern[position + 1 : position + 2] == "^":
                out.append("^")
                position += 1
            if pattern[position + 1 : position + 2] == "]":  # a leading ']' is literal in a class
                out.append("]")
                position += 1
        elif char == ".":
            out.append(JAVA_DOT)
        elif char == "$":
            out.append(JAVA_END)
        else:
            out.append(char)
        position += 1
    return re.compile("".join(out), re.ASCII)
