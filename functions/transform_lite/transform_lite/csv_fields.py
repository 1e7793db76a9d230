"""CSV records split into fields exactly as Spark's `from_csv` does (univocity-parsers 2.9 with Spark
3.5's options: no whitespace trimming, unescaped quotes handled as STOP_AT_DELIMITER, no comments).

A record is one string (the lines of a record whose quoted field spans lines are already joined with
`\\n`); only its end ends it, a line break is data. Empty fields, quoted or not, become null.

The rules, as measured against Spark (tests/differential):
- an unquoted field runs to the next delimiter, quotes and escapes included, spaces kept;
- a field starting with the quote runs to a quote followed by the delimiter, by whitespace (U+0001
  to U+0020) or by the end; quote-quote (quote = escape) or escape-quote stands for a quote, and
  whitespace after the closing quote is dropped;
- a closing quote followed by anything else (an unescaped quote) makes the field its raw text from the
  opening quote up to the next delimiter;
- at the end of the record, a quote still open keeps what was read (a lone quote, or the first
  character after a quote that turned a field raw being a quote, adds one more quote); a delimiter
  at the end adds one empty field.

Records without a field that starts with the quote (almost all of them) are split with `str.split`.
"""

from __future__ import annotations

NO_CHAR = "\0"


def _is_blank(char: str) -> bool:
    return "\x01" <= char <= " "


class _End(Exception):
    """The end of the record was reached while reading a character."""


class _Reader:
    """The state of one record being split: position, current and previous character, current value."""

    def __init__(self, splitter: CsvSplitter, text: str) -> None:
        self.s = splitter
        self.text = text
        self.pos = -1
        self.ch = NO_CHAR
        self.prev = NO_CHAR
        self.unescaped = False
        self.value: list[str] = []

    def next(self) -> str:
        self.pos += 1
        if self.pos >= len(self.text):
            raise _End
        self.ch = self.text[self.pos]
        return self.ch

    def append_until(self, stops: str) -> str:
        """Appends from the current character up to (not including) one of `stops`, which it returns
        and stands on. At the end of the record `ch` keeps the character it started from."""
        text, start = self.text, self.pos
        position = start
        while text[position] not in stops:
            position += 1
            if position >= len(text):
                self.value.append(text[start:])
                self.pos = position
                raise _End
        self.value.append(text[start:position])
        self.pos = position
        return text[position]

    def fields(self) -> list[str]:
        out: list[str] = []
        s = self.s
        try:
            self.next()
            while True:
                if self.ch != s.delimiter:
                    self.unescaped = False
                    self.prev = NO_CHAR
                    if self.ch == s.quote:
                        self.quoted()
                    else:
                        self.ch = self.append_until(s.delimiter)
                out.append("".join(self.value))
                self.value = []
                self.next()
        except _End:
            if self.ch == s.quote and self.prev != s.quote and not self.unescaped:
                self.value.append(s.quote)
            out.append("".join(self.value))
        return out

    def quoted(self) -> None:
        s = self.s
        q, e, d = s.quote, s.escape, s.delimiter
        if self.prev != NO_CHAR:  # the rest of a field turned raw by an unescaped quote
            self.value.insert(0, q)
            self.next()
            self.ch = self.append_until(d)
            return
        self.next()
        while True:
            if self.prev == q and (_is_blank(self.ch) or self.ch == d):
                break
            if self.ch != q and self.ch != e:
                if self.prev == q:  # an unescaped quote
                    self.unescaped = True
                    self.value.append(q + self.ch)
                    self.prev = self.ch
                    self.quoted()
                    return
                if self.prev == e and e != NO_CHAR:
                    self.value.append(e)
                stop = self.append_until(s.stops)
                self.ch = self.prev = stop
                self.next()
            else:
                self.quote_or_escape()
                self.prev = self.ch
                self.next()
                if self.unescaped and self.ch == d:
                    return
        if self.ch != d and _is_blank(self.ch):
            blanks = []
            while True:
                blanks.append(self.ch)
                self.next()
                if not (_is_blank(self.ch) and self.ch != d):
                    break
            if self.ch != d:
                self.value.append(q + "".join(blanks) + self.ch)
                self.prev = self.ch
                self.quoted()

    def quote_or_escape(self) -> None:
        s = self.s
        q, e, ee = s.quote, s.escape, s.escape_escape
        if self.ch == e and self.prev == ee and ee != NO_CHAR:
            self.value.append(e)
            self.ch = NO_CHAR
        elif self.prev == e:
            if self.ch == q:
                self.value.append(q)
                self.ch = NO_CHAR
            else:
                self.value.append(self.prev)
        elif self.ch == q and self.prev == q:
            self.value.append(q)
        elif self.prev == q:
            self.unescaped_in_value()

    def unescaped_in_value(self) -> None:
        q, e, d = self.s.quote, self.s.escape, self.s.delimiter
        self.value.append(q)
        self.prev = self.ch
        while self.ch != d:
            if self.ch != q and self.ch != e:
                if self.prev == q:
                    self.unescaped_in_value()
                    return
                self.value.append(self.ch)
            else:
                self.quote_or_escape()
            self.prev = self.ch
            self.next()


class CsvSplitter:
    """Splits records for one (delimiter, quote, escape) triple."""

    def __init__(self, delimiter: str, quote: str, escape: str) -> None:
        self.delimiter = delimiter
        self.quote = quote
        self.escape = escape
        # What escapes the escape itself: the escape when it differs from the quote (Spark's default).
        self.escape_escape = escape if escape != quote else NO_CHAR
        self.stops = "".join(dict.fromkeys(c for c in (quote, escape, self.escape_escape) if c != NO_CHAR))
        self._quoted_field = delimiter + quote

    def split(self, record: str) -> list[str | None]:
        """The fields of a non-empty `record`, None for an empty one."""
        if record.startswith(self.quote) or self._quoted_field in record:
            fields = _Reader(self, record).fields()
        else:
            fields = record.split(self.delimiter)
        return [field or None for field in fields]
