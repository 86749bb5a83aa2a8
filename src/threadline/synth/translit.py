"""Romanisation of Cyrillic and Greek names by several real-world systems.

A Russian customer may be Юрий in one file, Yuriy on a card, Yury in a passport, Iouri on a French order and Jurij
in a library catalogue. Resolution has to survive all of them, so the generator writes all of them. Each system is
a small, reviewable table; scripts without a table fall back to anyascii.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Final

from anyascii import anyascii

_CYR_BASE: Final[dict[str, str]] = {
    "а": "a",
    "б": "b",
    "в": "v",
    "г": "g",
    "д": "d",
    "е": "e",
    "ё": "e",
    "ж": "zh",
    "з": "z",
    "и": "i",
    "й": "y",
    "к": "k",
    "л": "l",
    "м": "m",
    "н": "n",
    "о": "o",
    "п": "p",
    "р": "r",
    "с": "s",
    "т": "t",
    "у": "u",
    "ф": "f",
    "х": "kh",
    "ц": "ts",
    "ч": "ch",
    "ш": "sh",
    "щ": "shch",
    "ъ": "",
    "ы": "y",
    "ь": "",
    "э": "e",
    "ю": "yu",
    "я": "ya",
    "і": "i",
    "ї": "yi",
    "є": "ye",
    "ґ": "g",
    "ў": "u",
    "ј": "j",
    "љ": "lj",
    "њ": "nj",
    "ћ": "c",
    "ђ": "dj",
    "џ": "dz",
    "ѓ": "gj",
    "ќ": "kj",
    "ѕ": "dz",
}

# Each system: letter overrides and word-ending rules (applied to the lower-cased word before the letters).
_CYRILLIC_SYSTEMS: Final[dict[str, tuple[dict[str, str], tuple[tuple[str, str], ...]]]] = {
    # BGN/PCGN: the English-language default (Yuriy, Aleksandr, Sergey).
    "bgn": ({"ё": "yo"}, (("ий", "iy"), ("ый", "yy"))),
    # The simplified spelling common in English text and older passports (Yury, Sergei).
    "simple": ({"й": "i", "ё": "yo"}, (("ий", "y"), ("ей", "ei"))),
    # ICAO Doc 9303 (Russian passports since 2013): Iurii, Aleksandr.
    "icao": ({"й": "i", "ю": "iu", "я": "ia", "ъ": "ie", "х": "kh"}, ()),
    # Scholarly / ISO 9-like with diacritics (Jurij, Aleksandr, Ščukin).
    "scholarly": (
        {
            "ж": "ž",
            "х": "x",
            "ц": "c",
            "ч": "č",
            "ш": "š",
            "щ": "šč",
            "ю": "ju",
            "я": "ja",
            "й": "j",
            "ё": "ë",
            "э": "è",
            "є": "je",
            "ї": "ji",
        },
        (("ий", "ij"),),
    ),
    # French usage (Iouri, Tchaïkovski).
    "french": (
        {
            "у": "ou",
            "ю": "iou",
            "я": "ia",
            "ш": "ch",
            "ч": "tch",
            "ж": "j",
            "щ": "chtch",
            "х": "kh",
            "й": "ï",
            "ё": "io",
            "э": "e",
            "ы": "y",
        },
        (("ий", "i"), ("ей", "eï")),
    ),
    # German usage (Juri, Schtschukin, Tschaikowski).
    "german": (
        {
            "в": "w",
            "ж": "sch",
            "ш": "sch",
            "ч": "tsch",
            "щ": "schtsch",
            "ц": "z",
            "х": "ch",
            "й": "j",
            "ю": "ju",
            "я": "ja",
            "з": "s",
            "ё": "jo",
            "э": "e",
        },
        (("ий", "i"), ("ей", "ei")),
    ),
}

_GREEK_DIGRAPHS: Final[dict[str, dict[str, str]]] = {
    # ELOT 743 / UN: Georgios, Ioannis, Konstantinos.
    "elot": {
        "ου": "ou",
        "αι": "ai",
        "ει": "ei",
        "οι": "oi",
        "αυ": "av",
        "ευ": "ev",
        "γγ": "ng",
        "γκ": "gk",
        "μπ": "mp",
        "ντ": "nt",
    },
    # Phonetic spelling people choose themselves: Yiorgos, Yannis, Kostas, Dimitris.
    "phonetic": {
        "ου": "ou",
        "αι": "e",
        "ει": "i",
        "οι": "i",
        "αυ": "av",
        "ευ": "ev",
        "γι": "y",
        "γγ": "ng",
        "γκ": "g",
        "μπ": "b",
        "ντ": "d",
    },
    # Classical / academic: Georgios, Ioannes, Konstantinos with eta as e, upsilon as y.
    "classical": {
        "ου": "ou",
        "αι": "ai",
        "ει": "ei",
        "οι": "oi",
        "αυ": "au",
        "ευ": "eu",
        "γγ": "ng",
        "γκ": "nk",
        "μπ": "mp",
        "ντ": "nt",
    },
}
_GREEK_LETTERS: Final[dict[str, dict[str, str]]] = {
    "elot": {"η": "i", "υ": "y", "χ": "ch", "β": "v", "θ": "th"},
    "phonetic": {"η": "i", "υ": "i", "χ": "h", "β": "v", "θ": "th"},
    "classical": {"η": "e", "υ": "y", "χ": "ch", "β": "b", "θ": "th"},
}
_GREEK_BASE: Final[dict[str, str]] = {
    "α": "a",
    "γ": "g",
    "δ": "d",
    "ε": "e",
    "ζ": "z",
    "ι": "i",
    "κ": "k",
    "λ": "l",
    "μ": "m",
    "ν": "n",
    "ξ": "x",
    "ο": "o",
    "π": "p",
    "ρ": "r",
    "σ": "s",
    "ς": "s",
    "τ": "t",
    "φ": "f",
    "ψ": "ps",
    "ω": "o",
}

CYRILLIC_SYSTEMS: Final[tuple[str, ...]] = tuple(_CYRILLIC_SYSTEMS)
GREEK_SYSTEMS: Final[tuple[str, ...]] = tuple(_GREEK_DIGRAPHS)


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def _capitalise_like(original: str, latin: str) -> str:
    if not latin or not original:
        return latin
    if original.isupper() and len(original) > 1:
        return latin.upper()
    if original[0].isupper():
        return latin[0].upper() + latin[1:]
    return latin


def _map_word(
    word: str, letters: Mapping[str, str], digraphs: Mapping[str, str], endings: tuple[tuple[str, str], ...]
) -> str:
    low = word.lower()
    tail = ""
    for ending, repl in endings:
        if low.endswith(ending) and len(low) > len(ending):
            low, tail = low[: -len(ending)], repl
            break
    out: list[str] = []
    i = 0
    while i < len(low):
        pair = low[i : i + 2]
        if len(pair) == 2 and pair in digraphs:
            out.append(digraphs[pair])
            i += 2
            continue
        ch = low[i]
        out.append(letters.get(ch, ch))
        i += 1
    return _capitalise_like(word, "".join(out) + tail)


def _map_text(text: str, fn: object) -> str:
    # Words are separated by spaces and hyphens; each keeps its own capital.
    assert callable(fn)
    parts: list[str] = []
    word = ""
    for ch in text:
        if ch in " -":
            parts.append(fn(word) if word else "")
            parts.append(ch)
            word = ""
        else:
            word += ch
    if word:
        parts.append(fn(word))
    return "".join(parts)


def cyrillic_to_latin(text: str, system: str = "bgn") -> str:
    """Romanise Cyrillic ``text`` by ``system`` (one of CYRILLIC_SYSTEMS); other characters pass through."""
    overrides, endings = _CYRILLIC_SYSTEMS[system]
    letters = {**_CYR_BASE, **overrides}
    # Word-initial е/ё in BGN is "ye"; keep it simple: handled by the letter table only.
    return _map_text(text, lambda w: _map_word(w, letters, {}, endings))


def greek_to_latin(text: str, system: str = "elot") -> str:
    """Romanise Greek ``text`` by ``system`` (one of GREEK_SYSTEMS), ignoring accents."""
    letters = {**_GREEK_BASE, **_GREEK_LETTERS[system]}
    digraphs = _GREEK_DIGRAPHS[system]
    return _map_text(_strip_accents(text), lambda w: _map_word(w, letters, digraphs, ()))


def systems_for(script: str) -> tuple[str, ...]:
    """The romanisation systems available for a script (empty: use ``to_latin``'s fallback)."""
    if script == "Cyrillic":
        return CYRILLIC_SYSTEMS
    if script == "Greek":
        return GREEK_SYSTEMS
    return ()


def to_latin(text: str, script: str, system: str | None = None) -> str:
    """Latin spelling of ``text`` written in ``script``; ``system`` picks a romanisation where tables exist."""
    if script == "Cyrillic":
        return cyrillic_to_latin(text, system or "bgn")
    if script == "Greek":
        return greek_to_latin(text, system or "elot")
    if script == "Latin":
        return text
    return anyascii(text).strip()


def ascii_fold(text: str) -> str:
    """Plain ASCII for identifiers (e-mail local parts, usernames): accents dropped, other scripts anyascii'd."""
    return anyascii(_strip_accents(text))
