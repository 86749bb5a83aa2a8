"""Delimited text (comma, semicolon, tab, pipe), streamed line by line with quoted newlines kept."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from threadline.ingest.items import ESCAPE, Header, Item, has_undecodable, printable
from threadline.ingest.sources import SeizedFile

MAX_FIELD = 1 << 20  # a single field over 1 MiB is not a record of a back office


class _LineTap:
    """Feeds lines to the csv module and remembers which ones made up the current row."""

    def __init__(self, stream: io.TextIOBase) -> None:
        self.stream = stream
        self.line_no = 0
        self.taken: list[str] = []

    def __iter__(self) -> _LineTap:
        return self

    def __next__(self) -> str:
        line = self.stream.readline()
        if not line:
            raise StopIteration
        self.line_no += 1
        self.taken.append(line)
        return line

    def take(self) -> tuple[int, str]:
        """(first line number, raw text) of the lines consumed since the last call."""
        first = self.line_no - len(self.taken) + 1
        text = "".join(self.taken)
        self.taken = []
        return first, text


def read_delimited(file: SeizedFile, encoding: str, delimiter: str) -> Iterator[Header | Item]:
    csv.field_size_limit(MAX_FIELD)
    with file.open() as raw:
        stream = io.TextIOWrapper(raw, encoding=encoding, errors=ESCAPE, newline="")
        tap = _LineTap(stream)
        reader = csv.reader(tap, delimiter=delimiter, strict=False)
        header: list[str] | None = None
        seq = 0
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                line, text = tap.take()
                seq += 1
                reason = str(exc)
                if "field larger than field limit" in reason:
                    reason = f"a field is longer than {MAX_FIELD} bytes; not a record (check the file)"
                yield Item(seq, line, str(line), raw_text=printable(text, encoding), error=f"unreadable row: {reason}")
                continue
            line, text = tap.take()
            if not any(f.strip() for f in fields):
                continue  # blank line
            if header is None:
                header = [printable(h.strip(), encoding) or f"column_{i + 1}" for i, h in enumerate(fields)]
                header = _unique(header)
                yield Header(header)
                continue
            seq += 1
            if len(fields) > len(header) and not any(f.strip() for f in fields[len(header) :]):
                fields = fields[: len(header)]  # trailing delimiters only
            if len(fields) != len(header):
                yield Item(
                    seq,
                    line,
                    str(line),
                    raw_text=printable(text, encoding),
                    error=f"{len(fields)} fields where the header has {len(header)}",
                )
                continue
            if has_undecodable(text):
                bad = (
                    next(h for h, f in zip(header, fields, strict=True) if has_undecodable(f))
                    if any(has_undecodable(f) for f in fields)
                    else "(quoting)"
                )
                yield Item(
                    seq,
                    line,
                    str(line),
                    raw_text=printable(text, encoding),
                    error=f"bytes that are not valid {encoding} in column {bad!r} (the file mixes encodings?)",
                )
                continue
            if "\x00" in text:
                yield Item(seq, line, str(line), raw_text=printable(text, encoding), error="NUL byte inside the row")
                continue
            yield Item(seq, line, str(line), raw=dict(zip(header, fields, strict=True)))


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        if name in seen:
            seen[name] += 1
            out.append(f"{name}_{seen[name]}")
        else:
            seen[name] = 1
            out.append(name)
    return out
