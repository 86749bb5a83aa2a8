"""What readers hand to the pipeline: table headers, rows read, and rows that could not be read."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Header:
    """The columns of a table (a delimited file, a sheet, the keys of a JSON collection)."""

    columns: list[str]
    table: str | None = None  # sheet name for workbooks


@dataclass(slots=True)
class Item:
    """One unit read from a file.

    `seq` increases through the file and is what an interrupted run resumes after. `row` and `locator` say
    where the item is in the evidence (line, sheet row, message or card). Tabular readers fill `raw` (column ->
    verbatim value); structured readers (mail, vCard) also fill `fields` with canonical names. An item with
    `error` is quarantined with `raw_text`."""

    seq: int
    row: int
    locator: str
    raw: dict[str, Any] | None = None
    fields: dict[str, Any] | None = None
    record_type: str | None = None
    raw_text: str | None = None
    error: str | None = None
    table: str | None = None
    extra_records: list[Item] = field(default_factory=list)


ESCAPE = "threadline-escape"


def _escape_undecodable(exc: UnicodeError) -> tuple[str, int]:
    """Decode bytes that are not valid in the file's encoding as U+DC00+byte, so they survive, can be
    detected and are shown as \\xNN. Unlike 'surrogateescape', this works for UTF-16 and UTF-32 too."""
    if isinstance(exc, UnicodeDecodeError):
        bad = exc.object[exc.start : exc.end]
        return "".join(chr(0xDC00 + b) for b in bad), exc.end
    raise exc


codecs.register_error(ESCAPE, _escape_undecodable)
_UNDECODABLE = re.compile("[\udc00-\udcff]")


def printable(text: str, encoding: str = "utf-8") -> str:
    """Text safe to store anywhere: undecodable bytes and NULs shown as escapes (\\x93), nothing dropped."""
    if _UNDECODABLE.search(text):
        text = _UNDECODABLE.sub(lambda m: f"\\x{ord(m.group(0)) - 0xDC00:02x}", text)
    return text.replace("\x00", "\\x00")


def has_undecodable(text: str) -> bool:
    return _UNDECODABLE.search(text) is not None
