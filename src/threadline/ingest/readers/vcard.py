"""vCard 3 and 4 contact books (vobject), one card at a time so one broken card costs only itself."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import vobject

from threadline.ingest.items import ESCAPE, Item, has_undecodable, printable
from threadline.ingest.sources import SeizedFile


def _cards(file: SeizedFile, encoding: str) -> Iterator[tuple[int, str, str | None]]:
    """(first line, text, problem) per BEGIN:VCARD … END:VCARD block; stray text is reported too."""
    with file.open() as raw:
        stream = io.TextIOWrapper(raw, encoding=encoding, errors=ESCAPE, newline="")
        block: list[str] = []
        start = 0
        stray: list[str] = []
        stray_start = 0
        for line_no, line in enumerate(stream, start=1):
            upper = line.strip().upper()
            if upper == "BEGIN:VCARD":
                if block:
                    yield start, "".join(block), "card without END:VCARD"
                if stray and any(s.strip() for s in stray):
                    yield stray_start, "".join(stray), "text outside any card"
                stray = []
                block = [line]
                start = line_no
                continue
            if block:
                block.append(line)
                if upper == "END:VCARD":
                    yield start, "".join(block), None
                    block = []
                continue
            if not stray:
                stray_start = line_no
            stray.append(line)
        if block:
            yield start, "".join(block), "card without END:VCARD (file ends inside it)"
        if stray and any(s.strip() for s in stray):
            yield stray_start, "".join(stray), "text outside any card"


def _values(card: Any, name: str) -> list[Any]:
    return [c.value for c in card.contents.get(name, [])]


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value if v)
    return printable(str(value)).strip()


def card_fields(card: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if names := _values(card, "fn"):
        fields["full_name"] = _text(names[0])
    if structured := _values(card, "n"):
        n = structured[0]
        fields["given_name"] = _text(getattr(n, "given", "")) or None
        fields["family_name"] = _text(getattr(n, "family", "")) or None
    aliases = [a.strip() for v in _values(card, "nickname") for a in _text(v).split(",") if a.strip()]
    if aliases:
        fields["aliases"] = aliases
    fields["email"] = [_text(v) for v in _values(card, "email") if _text(v)]
    fields["phone"] = [_text(v) for v in _values(card, "tel") if _text(v)]
    if addresses := _values(card, "adr"):
        a = addresses[0]
        fields["street"] = _text(getattr(a, "street", "")) or None
        fields["city"] = _text(getattr(a, "city", "")) or None
        fields["region"] = _text(getattr(a, "region", "")) or None
        fields["postal_code"] = _text(getattr(a, "code", "")) or None
        fields["country"] = _text(getattr(a, "country", "")) or None
    if orgs := _values(card, "org"):
        fields["organisation"] = _text(orgs[0])
    titles = _values(card, "title") + _values(card, "role")
    if titles:
        fields["occupation"] = _text(titles[0])
    if birthdays := _values(card, "bday"):
        fields["date_of_birth"] = _text(birthdays[0])
    if notes := _values(card, "note"):
        fields["extra"] = {"note": _text(notes[0])}
    return {k: v for k, v in fields.items() if v not in (None, "", [])}


def read_vcards(file: SeizedFile, encoding: str) -> Iterator[Item]:
    for index, (line, text, problem) in enumerate(_cards(file, encoding), start=1):
        locator = f"card {index}"
        shown = printable(text, encoding)
        if problem is not None:
            yield Item(index, line, locator, raw_text=shown, error=problem)
            continue
        if has_undecodable(text):
            yield Item(index, line, locator, raw_text=shown, error=f"bytes that are not valid {encoding}")
            continue
        try:
            card = vobject.readOne(text, ignoreUnreadable=True)
            fields = card_fields(card)
        except Exception as exc:  # vobject raises many kinds of errors on broken cards; each is quarantined
            yield Item(index, line, locator, raw_text=shown, error=f"unreadable vCard: {exc}")
            continue
        if not fields:
            yield Item(index, line, locator, raw_text=shown, error="card holds no name, e-mail, phone or address")
            continue
        version = _values(card, "version")
        raw = {"vcard": shown, "version": _text(version[0]) if version else ""}
        yield Item(index, line, locator, raw=raw, fields=fields, record_type="contact")
