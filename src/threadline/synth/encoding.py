"""Fitting text into the legacy code pages regional exports were saved in."""

from __future__ import annotations

import unicodedata

from anyascii import anyascii


def fit(text: str, encoding: str) -> str:
    """``text`` made encodable in ``encoding`` the way an old export would: accents dropped, other scripts
    transliterated, and anything left over replaced by '?'."""
    try:
        text.encode(encoding)
        return text
    except UnicodeEncodeError:
        pass
    out: list[str] = []
    for ch in text:
        try:
            ch.encode(encoding)
            out.append(ch)
            continue
        except UnicodeEncodeError:
            pass
        base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
        try:
            base.encode(encoding)
            out.append(base)
            continue
        except UnicodeEncodeError:
            pass
        latin = anyascii(ch)
        out.append(latin if latin else "?")
    return "".join(out)
