"""Large delimited files cut into pieces at row boundaries, for worker processes to read and build on their own.

Reading a million-row file row by row in one process, and sending every row to the workers, cost the ingest
process as much as the workers' normalising. A piece is a run of whole rows as bytes: the ingest process only
looks for where to cut, and a worker decodes, parses and builds the piece.

Where a row ends is found without parsing: at a line ending after an even number of quote characters. That holds
for RFC 4180 quoting, and a worker checks it row by row (readers.delimited, `regular`); a piece with a stray quote
is read again in order from its start, which is a true row boundary (see pipeline._FileIngest)."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

# Codecs in which the bytes of '"', '\n' and '\r' never occur inside another character, and that carry no state
# from one line to the next: a piece can start at any of their line endings.
_ASCII_SAFE_NAMES = (
    "ascii",
    "utf-8",
    "utf-8-sig",
    "latin-1",
    *(f"iso8859-{n}" for n in (*range(2, 12), *range(13, 17))),
    *(f"cp{n}" for n in (437, 850, 852, 855, 857, 858, 866, 874, 932, 949, 950, *range(1250, 1259))),
    "koi8-r",
    "koi8-u",
    "mac-roman",
    "mac-cyrillic",
    "mac-latin2",
    "shift_jis",
    "shift_jisx0213",
    "euc_jp",
    "euc_kr",
    "gb2312",
    "gbk",
    "gb18030",
    "big5",
    "big5hkscs",
)
_ASCII_SAFE = frozenset(codecs.lookup(name).name for name in _ASCII_SAFE_NAMES)
LARGEST_PIECE = 64 << 20  # no row boundary in this much: read the file in order


def can_cut(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name in _ASCII_SAFE
    except LookupError:
        return False


@dataclass(frozen=True, slots=True)
class Piece:
    start: int  # byte offset of its first row
    line: int  # lines before it
    data: bytes


class Uncut(Exception):
    """From `start` (after `line` lines) the file cannot be cut: read it in order from there."""

    def __init__(self, start: int, line: int) -> None:
        super().__init__(start, line)
        self.start = start
        self.line = line


def cut(handle: IO[bytes], size: int) -> Iterator[Piece]:
    """Pieces of about `size` bytes, each ending after a line ending, read from the start of `handle`.

    Raises Uncut where a line ends with a lone carriage return (the csv reader counts it as a line ending, and
    line numbers would differ) or where no cut is found within LARGEST_PIECE bytes."""
    buffer = b""
    start = line = 0
    want = size
    ended = False
    while True:
        while len(buffer) < want and not ended:
            more = handle.read(max(want - len(buffer), 1 << 16))
            ended = not more
            buffer += more
        if ended:
            if buffer:
                yield _piece(start, line, buffer)
            return
        at = row_end(buffer, want) or row_end(buffer, len(buffer))
        if at is None:
            if len(buffer) >= LARGEST_PIECE:
                raise Uncut(start, line)
            want = len(buffer) * 2
            continue
        piece = _piece(start, line, buffer[:at])
        buffer = buffer[at:]
        start += at
        line += piece.data.count(b"\n")
        want = size
        yield piece


def row_end(data: bytes, limit: int) -> int | None:
    """The offset just after the last newline before `limit` in `data` with an even number of quote characters
    before it."""
    at = data.rfind(b"\n", 0, limit)
    if at < 0:
        return None
    quotes = data.count(b'"', 0, at)
    while quotes % 2:
        before = data.rfind(b"\n", 0, at)
        if before < 0:
            return None
        quotes -= data.count(b'"', before, at)
        at = before
    return at + 1


def _piece(start: int, line: int, data: bytes) -> Piece:
    if data.count(b"\r") != data.count(b"\r\n"):
        raise Uncut(start, line)
    return Piece(start, line, data)


def lines(text: str) -> list[str]:
    """The lines of a piece's text, each with its ending, as a text stream's readline gives them (a piece has
    no lone carriage return; unlike str.splitlines, form feeds and other separators are not line endings)."""
    parts = text.split("\n")
    last = parts.pop()
    out = [part + "\n" for part in parts]
    if last:
        out.append(last)
    return out
