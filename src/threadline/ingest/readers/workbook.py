"""XLSX workbooks, every sheet, read-only and streaming (openpyxl)."""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterator
from typing import Any

from threadline.ingest.items import Header, Item, printable
from threadline.ingest.sources import SeizedFile


def cell_text(value: Any) -> str:
    """A cell as the text a person sees: dates as ISO, whole numbers without '.0'."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return printable(str(value))


def read_workbook(file: SeizedFile) -> Iterator[Header | Item]:
    from openpyxl import load_workbook  # with numpy, half a second at every start when here at the top

    seq = 0
    with file.open() as handle:
        try:
            workbook = load_workbook(handle, read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
            yield Item(1, 1, "workbook", raw_text=None, error=f"unreadable workbook: {exc}")
            return
        try:
            for sheet in workbook.worksheets:
                header: list[str] | None = None
                for row_no, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                    texts = [cell_text(v).strip() for v in values]
                    if not any(texts):
                        continue
                    if header is None:
                        while texts and not texts[-1]:
                            texts.pop()
                        header = [t or f"column_{i + 1}" for i, t in enumerate(texts)]
                        yield Header(header, table=sheet.title)
                        continue
                    seq += 1
                    raw = dict(zip(header, texts[: len(header)], strict=False))
                    for i, extra in enumerate(texts[len(header) :], start=len(header) + 1):
                        if extra:
                            raw[f"column_{i}"] = extra
                    yield Item(seq, row_no, f"{sheet.title}!{row_no}", raw=raw, table=sheet.title)
        finally:
            workbook.close()
