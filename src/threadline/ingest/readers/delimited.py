"""Delimited text (comma, semicolon, tab, pipe), streamed line by line with quoted newlines kept."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import IO

from threadline.ingest.items import ESCAPE, Header, Item, has_undecodable, printable
from threadline.ingest.sources import SeizedFile

MAX_FIELD = 1 << 20  # a single field over 1 MiB is not a record of a back office


class IrregularQuoting(Exception):
    """A row whose quote characters are not all RFC 4180 quoting (a stray quote inside an unquoted field, a
    quoted field still open at the end): where rows start can then be found only by reading in order."""


def read_delimited(
    file: SeizedFile,
    encoding: str,
    delimiter: str,
    *,
    start: int = 0,
    header: list[str] | None = None,
    line: int = 0,
    seq: int = 0,
) -> Iterator[Header | Item]:
    """Rows of the file. From a byte offset `start` where a row begins, with the `header` already read, `line`
    lines and `seq` rows before it, when an earlier reading stopped there."""
    with file.open() as raw:
        _skip(raw, start)
        stream = io.TextIOWrapper(raw, encoding=_after_start(encoding, start), errors=ESCAPE, newline="")
        yield from read_rows(iter(stream.readline, ""), encoding, delimiter, header=header, line=line, seq=seq)


def read_rows(
    lines: Iterable[str],
    encoding: str,
    delimiter: str,
    *,
    header: list[str] | None = None,
    line: int = 0,
    seq: int = 0,
    regular: bool = False,
) -> Iterator[Header | Item]:
    """Rows from physical lines (each with its line ending). `regular`: raise IrregularQuoting at the first row
    (blank rows and the header included) whose quoting is not RFC 4180's, or that the csv module cannot read;
    a reader that started at a guessed row boundary then knows the guess may be wrong."""
    csv.field_size_limit(MAX_FIELD)
    # The physical lines the csv module consumed for the current row: their text is what a quarantined row
    # keeps, and their count moves the line number on. A generator feeds them (cheaper than a class).
    taken: list[str] = []
    check = _regular_row(delimiter).fullmatch if regular else None

    def feed() -> Iterator[str]:
        for text in lines:
            taken.append(text)
            yield text

    reader = csv.reader(feed(), delimiter=delimiter, strict=False)
    width = len(header) if header is not None else 0
    consumed = line  # lines read before the current row
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if check is not None:
                raise IrregularQuoting(consumed + 1) from exc
            line, text = consumed + 1, "".join(taken)
            consumed += len(taken)
            taken.clear()
            seq += 1
            reason = str(exc)
            if "field larger than field limit" in reason:
                reason = f"a field is longer than {MAX_FIELD} bytes; not a record (check the file)"
            yield _unreadable(seq, line, text, encoding, f"unreadable row: {reason}")
            continue
        line = consumed + 1
        text = taken[0] if len(taken) == 1 else "".join(taken)
        consumed += len(taken)
        taken.clear()
        if check is not None and '"' in text and check(text) is None:
            raise IrregularQuoting(line)
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
            yield _unreadable(seq, line, text, encoding, f"{len(fields)} fields where the header has {width}")
            continue
        if not text.isascii() and has_undecodable(text):
            bad = (
                next(h for h, f in zip(header, fields, strict=True) if has_undecodable(f))
                if any(has_undecodable(f) for f in fields)
                else "(quoting)"
            )
            reason = f"bytes that are not valid {encoding} in column {bad!r} (the file mixes encodings?)"
            yield _unreadable(seq, line, text, encoding, reason)
            continue
        if "\x00" in text:
            yield _unreadable(seq, line, text, encoding, "NUL byte inside the row")
            continue
        yield Item(seq, line, str(line), raw=dict(zip(header, fields, strict=True)))


def _unreadable(seq: int, line: int, text: str, encoding: str, reason: str) -> Item:
    """A row to quarantine: its text as read (undecodable bytes shown as \\xNN) and why."""
    return Item(seq, line, str(line), raw_text=printable(text, encoding), error=reason)


@lru_cache(maxsize=8)
def _regular_row(delimiter: str) -> re.Pattern[str]:
    """One row of RFC 4180 text: fields either quoted (doubled quotes inside, any other character, newlines
    too) or holding no quote at all, then the line ending."""
    d = re.escape(delimiter)
    field = f'(?:"[^"]*(?:""[^"]*)*"|[^"{d}\\r\\n]*)'
    return re.compile(f"{field}(?:{d}{field})*(?:\\r\\n|\\n|\\r)?")


def _skip(raw: IO[bytes], start: int) -> None:
    if not start:
        return
    if raw.seekable():
        raw.seek(start)
        return
    left = start
    while left > 0:  # an entry of a nested archive: read up to the offset
        data = raw.read(min(left, 1 << 20))
        if not data:
            return
        left -= len(data)


def _after_start(encoding: str, start: int) -> str:
    """The codec for text read from `start`: a byte-order mark is only ever at the start of the file."""
    return "utf-8" if start and encoding.replace("_", "-").lower() == "utf-8-sig" else encoding


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
