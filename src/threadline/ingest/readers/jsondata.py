"""JSON arrays (streamed with ijson, so a huge export needs little memory) and JSON Lines."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import ijson

from threadline.ingest.items import ESCAPE, Header, Item, printable
from threadline.ingest.sources import SeizedFile

MAX_RAW = 1 << 20


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """Nested objects as dotted keys; lists of scalars joined with '; ', lists of objects kept as JSON text."""
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, inner in value.items():
            out.update(flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            return {prefix: "; ".join("" if v is None else str(v) for v in value)}
        return {prefix: json.dumps(value, ensure_ascii=False, default=str)}
    return {prefix: "" if value is None else printable(str(value))}


def _records_prefix(file: SeizedFile) -> str | None:
    """Where the list of records is: the top-level array, or the first array of objects inside an object.
    An object holding no such array is itself the one record ("" is returned then as well)."""
    with file.open() as handle:
        try:
            previous: tuple[str, str] | None = None
            first_event = None
            for prefix, event, _ in ijson.parse(handle):
                first_event = first_event or event
                if previous is not None and previous[1] == "start_array" and event == "start_map":
                    return previous[0]
                previous = (prefix, event)
            if first_event == "start_map":
                return "<document>"
        except ijson.JSONError:
            return None
    return None


def read_json(file: SeizedFile, encoding: str) -> Iterator[Header | Item]:
    prefix = _records_prefix(file)
    if prefix is None:
        yield Item(1, 1, "document", error="no list of records found in this JSON document", raw_text=_head(file))
        return
    if prefix == "<document>":
        yield from _single_document(file, encoding)
        return
    item_prefix = f"{prefix}.item" if prefix else "item"
    seq = 0
    header_keys: list[str] = []
    with file.open() as handle:
        stream: Any = handle if encoding in ("utf-8", "utf-8-sig", "ascii") else io.TextIOWrapper(handle, encoding)
        try:
            for element in ijson.items(stream, item_prefix, use_float=True):
                seq += 1
                if not isinstance(element, dict):
                    yield Item(
                        seq,
                        seq,
                        f"[{seq - 1}]",
                        raw_text=printable(json.dumps(element, default=str)),
                        error="array element is not an object",
                    )
                    continue
                raw = flatten(element)
                new = [k for k in raw if k not in header_keys]
                if new:
                    header_keys.extend(new)
                    yield Header(list(header_keys))
                yield Item(seq, seq, f"[{seq - 1}]", raw=raw)
        except (ijson.JSONError, UnicodeDecodeError) as exc:
            seq += 1
            yield Item(
                seq,
                seq,
                f"after [{seq - 2}]",
                raw_text=None,
                error=f"JSON broken after element {seq - 1}: {exc}; the rest of the file was not read",
            )


def _single_document(file: SeizedFile, encoding: str) -> Iterator[Header | Item]:
    with file.open() as handle:
        text = handle.read().decode(encoding, errors=ESCAPE)
    try:
        element = json.loads(text)
    except ValueError as exc:
        yield Item(1, 1, "document", raw_text=printable(text[:MAX_RAW], encoding), error=f"not valid JSON: {exc}")
        return
    raw = flatten(element)
    yield Header(list(raw))
    yield Item(1, 1, "document", raw=raw)


def _head(file: SeizedFile) -> str:
    return printable(file.head(4096).decode("utf-8", ESCAPE))


def read_json_lines(file: SeizedFile, encoding: str) -> Iterator[Header | Item]:
    header_keys: list[str] = []
    seq = 0
    with file.open() as raw:
        stream = io.TextIOWrapper(raw, encoding=encoding, errors=ESCAPE, newline="")
        for line_no, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            seq += 1
            text = printable(line.rstrip("\r\n"), encoding)
            if len(line) > MAX_RAW:
                yield Item(seq, line_no, str(line_no), raw_text=text[:MAX_RAW], error="line longer than 1 MiB")
                continue
            try:
                element = json.loads(line)
            except ValueError as exc:
                yield Item(seq, line_no, str(line_no), raw_text=text, error=f"not valid JSON: {exc}")
                continue
            if not isinstance(element, dict):
                yield Item(seq, line_no, str(line_no), raw_text=text, error="line is not a JSON object")
                continue
            flat = flatten(element)
            if any("\udc80" <= ch <= "\udcff" for v in flat.values() for ch in v):
                yield Item(seq, line_no, str(line_no), raw_text=text, error=f"bytes that are not valid {encoding}")
                continue
            new = [k for k in flat if k not in header_keys]
            if new:
                header_keys.extend(new)
                yield Header(list(header_keys))
            yield Item(seq, line_no, str(line_no), raw=flat)
