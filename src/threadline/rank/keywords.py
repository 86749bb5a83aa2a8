"""Occupation and employer keywords, matched on normalised text in any script.

`normalise` folds case, compatibility forms and script: every character becomes ASCII through anyascii, so
"Учительница", "uchitelnitsa" and "UCHITEL'NITSA" meet, and so do Lehrerin/LEHRERIN and enseignante/ENSEIGNANTE.
Apostrophes vanish inside words (d'accueil -> daccueil, учитель -> uchitel), every other non-alphanumeric
character is a word boundary. Scripts written without spaces between words (Han, kana, Hangul syllables, Thai,
Lao, Khmer, Myanmar) become one word per character, so a keyword written in them matches wherever its characters
appear in sequence ("教师" inside "小学教师"), which is how such text is searched without a word segmenter.
Hebrew and Arabic-script letters stay as they are (vowel points removed, Arabic letter variants unified):
romanised, these scripts lose their vowels and collide with Latin words (معلم "teacher" would become "mlm").

A keyword is one or more words separated by spaces; a word may start and/or end with `*` to stand for any letters
within the same word: `lehrer*` matches Lehrer, Lehrerin, Lehrerinnen; `*lehrer*` also Grundschullehrerin. Without
`*` a word must match a whole word, so `trener` does not match "trenerka" unless written `trener*`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from anyascii import anyascii

# Word-per-character scripts: CJK ideographs (and extensions, compatibility), kana, Hangul syllables and jamo,
# Thai, Lao, Khmer, Myanmar.
_CHARACTER_WORDS = (
    (0x0E00, 0x0EFF),
    (0x1000, 0x109F),
    (0x1100, 0x11FF),
    (0x1780, 0x17FF),
    (0x3040, 0x30FF),
    (0x3130, 0x318F),
    (0x31F0, 0x31FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xAC00, 0xD7AF),
    (0xF900, 0xFAFF),
    (0xFF66, 0xFF9F),
    (0x20000, 0x2FFFF),
)
_ABJADS = ((0x0590, 0x05FF), (0x0600, 0x06FF), (0x0750, 0x077F), (0x08A0, 0x08FF))
# Vowel points, cantillation, Arabic harakat and tatweel: left out, as writers mostly leave them out.
_ABJAD_MARKS = re.compile("[\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_ABJAD_LETTERS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ة": "ه", "ى": "ي", "ی": "ي", "ک": "ك"})
_APOSTROPHES = re.compile(r"['`\u2018\u2019\u02bc\u02b9\u00b4]")
WORD_CHARS = "a-z0-9\u05d0-\u05ea\u0620-\u064a\u066e-\u06d3\u06fa-\u06ff\u0750-\u077f\u08a0-\u08ff"
_NOT_WORD = re.compile(f"[^{WORD_CHARS}]+")
MIN_STEM = 3  # letters a `*` word needs, so `a*` cannot match half the language
MIN_WORD = 2


def _character_word(code: int) -> bool:
    return any(lo <= code <= hi for lo, hi in _CHARACTER_WORDS)


def _abjad(code: int) -> bool:
    return any(lo <= code <= hi for lo, hi in _ABJADS)


@lru_cache(maxsize=65536)
def normalise(text: str) -> str:
    """Lower-case ASCII (or Hebrew/Arabic) words separated by single spaces (see the module docstring)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    if any(_abjad(ord(ch)) for ch in folded):
        folded = _ABJAD_MARKS.sub("", folded).translate(_ABJAD_LETTERS)
    parts: list[str] = []
    for ch in folded:
        if ord(ch) < 128 or _abjad(ord(ch)):
            parts.append(ch)
        elif _character_word(ord(ch)):
            parts.append(f" {anyascii(ch)} ")
        else:
            parts.append(anyascii(ch))
    ascii_text = _APOSTROPHES.sub("", "".join(parts).lower())
    return _NOT_WORD.sub(" ", ascii_text).strip()


class KeywordError(ValueError):
    """A keyword that cannot be used, with the reason (the rules loader adds the file and line)."""


@dataclass(frozen=True)
class Keyword:
    text: str  # as written in the rules
    pattern: str  # the regular expression over normalised text
    compiled: re.Pattern[str] = field(compare=False, repr=False)

    def matches(self, normalised: str) -> bool:
        return self.compiled.search(normalised) is not None


def compile_keyword(text: str) -> Keyword:
    """The keyword as a pattern over normalised text; KeywordError says why a keyword is unusable."""
    if not isinstance(text, str):
        raise KeywordError(f"{text!r} is not text")
    return _compile(text)


@lru_cache(maxsize=16384)
def _compile(text: str) -> Keyword:
    words = text.split()
    if not words:
        raise KeywordError("an empty keyword matches nothing")
    pieces: list[str] = []
    letters = 0
    for word in words:
        lead, trail = word.startswith("*"), word.endswith("*") and len(word) > 1
        core = word.strip("*")
        if "*" in core:
            raise KeywordError(f"{text!r}: '*' may only begin or end a word")
        sub = normalise(core).split()
        if not sub:
            if lead or trail or not core:
                raise KeywordError(f"{text!r}: '*' needs letters beside it in the same word")
            continue  # punctuation between words ("foster & partners") is a word boundary, as in the text
        stem = "".join(sub)
        if (lead or trail) and len(stem) < MIN_STEM:
            raise KeywordError(f"{text!r}: a word with '*' needs at least {MIN_STEM} letters, or it matches too much")
        letters += len(stem)
        escaped = [re.escape(s) for s in sub]
        if lead:
            escaped[0] = "[^ ]*" + escaped[0]
        if trail:
            escaped[-1] = escaped[-1] + "[^ ]*"
        pieces.append(" ".join(escaped))
    if not pieces:
        raise KeywordError(f"{text!r} has no letters or digits")
    if letters < MIN_WORD:
        raise KeywordError(f"{text!r} is too short to mean anything on its own")
    # Normalised text is words and single spaces, so a word boundary is a space or either end.
    pattern = f"(?<![^ ]){' '.join(pieces)}(?![^ ])"
    return Keyword(text, pattern, re.compile(pattern))


class KeywordSet:
    """Keywords compiled into one alternation; `find` names the keywords a text matches."""

    def __init__(self, keywords: Iterable[Keyword]) -> None:
        unique: dict[str, Keyword] = {}
        for keyword in keywords:
            unique.setdefault(keyword.pattern, keyword)
        self.keywords = tuple(unique.values())
        self._any = re.compile("|".join(f"(?:{k.pattern})" for k in self.keywords)) if self.keywords else None

    def __bool__(self) -> bool:
        return bool(self.keywords)

    def find(self, normalised: str) -> list[str]:
        if self._any is None or self._any.search(normalised) is None:
            return []
        return [k.text for k in self.keywords if k.matches(normalised)]
