"""Delimited text (comma, semicolon, tab, pipe), streamed line by line with quoted newlines kept."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from threadline.ingest.items import ESCAPE, Header, Item, has_undecodable, printable
from threadline.ingest.sources import SeizedFile

MAX_FIELD = 1 << 20  # a single field over 1 MiB is not a record of a back office


def read_delimited(file: SeizedFile, encoding: str, delimiter: str) -> Iterator[Header | Item]:
    csv.field_size_limit(MAX_FIELD)
    with file.open() as raw:
        stream = io.TextIOWrapper(raw, encoding=encoding, errors=ESCAPE, newline="")
        # The physical lines the csv module consumed for the current row: their text is what a quarantined row
        # keeps, and their count moves the line number on. A generator feeds them (cheaper than a class).
        taken: list[str] = []

        def lines() -> Iterator[str]:
            for line in iter(stream.readline, ""):
                taken.append(line)
                yield line

        reader = csv.reader(lines(), delimiter=delimiter, strict=False)
        header: list[str] | None = None
        width = 0
        seq = 0
        consumed = 0  # lines read before the current row
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                line, text = consumed + 1, "".join(taken)
                consumed += len(taken)
                taken.clear()
                seq += 1
                reason = str(exc)
                if "field larger than field limit" in reason:
                    reason = f"a field is longer than {MAX_FIELD} bytes; not a record (check the file)"
                yield Item(seq, line, str(line), raw_text=printable(text, encoding), error=f"unreadable row: {reason}")
                continue
            line = consumed + 1
            text = taken[0] if len(taken) == 1 else "".join(taken)
            consumed += len(taken)
            taken.clear()
            if not "".join(fields).strip():
                continue  # blank line
            if header is None:
                header = [printable(h.strip(), encoding) or f"column_{i + 1}" for i, h in enumerate(fields)]
                header = _unique(header)
                width = len(header)
                yield Header(header)
                continue
            seq += 1
            if len(fields) > width and not "".join(fields[width:]).strip():
                fields = fields[:width]  # trailing delimiters only
            if len(fields) != width:
                yield Item(
                    seq,
                    line,
                    str(line),
                    raw_text=printable(text, encoding),
                    error=f"{len(fields)} fields where the header has {width}",
                )
                continue
            if not text.isascii() and has_undecodable(text):
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
