"""Matching a seized file's column headers to Threadline's canonical fields.

Distributors keep their books in whatever language and spreadsheet habit they have, so headers are matched
against multilingual synonyms kept as data (``data/synonyms.yaml``) that reviewers can extend. The match is a
proposal: ingest prints it and saves it as a mapping file an analyst can correct and reuse.

How a header finds its field, strongest first (the strongest claim on a single-valued field wins, then header
order):

1. exact: the folded header is a synonym ("E-Mail", "e_mail", "EMAIL" all fold to "email");
2. numbered: the same after dropping a trailing number or a bracketed note ("Email2", "Phone (home)");
3. contains: the header contains a synonym as whole words, the longest one winning ("Customer Email Address");
   headers with words such as "product" or "verified" are left alone;
4. qualified: a shipping/billing/delivery copy ("ship_city", "Lieferadresse", "Ville de livraison"); it takes the
   field only when no unqualified column does, and ``ColumnMatch.qualifiers`` records which copy it is.

A column is never mapped to two fields. email, phone, aliases, street, ip, username and national_id may take
several columns; every other field takes one, and losing columns go to ``unmapped`` (the caller's ``extra``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import PurePath
from typing import Any

import yaml
from anyascii import anyascii

from threadline.model import CANONICAL_FIELDS
from threadline.model import RECORD_TYPES as ALL_RECORD_TYPES

__all__ = [
    "CANONICAL_FIELDS",
    "MULTI_VALUED_FIELDS",
    "RECORD_TYPES",
    "ColumnMatch",
    "guess_record_type",
    "header_key",
    "match_columns",
]

MULTI_VALUED_FIELDS = frozenset({"email", "phone", "aliases", "street", "ip", "username", "national_id"})
RECORD_TYPES = tuple(t for t in ALL_RECORD_TYPES if t != "media")

_EXACT, _NUMBERED, _CONTAINS, _QUALIFIED = 0, 1, 2, 3
_EVIDENCE = {_EXACT: "exact", _NUMBERED: "numbered", _CONTAINS: "contains", _QUALIFIED: "qualified"}


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


@lru_cache(maxsize=8192)
def _is_latin(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("LATIN")


@lru_cache(maxsize=16384)
def header_key(text: str) -> str:
    """Fold a header for comparison: NFKC, Latin letters to ASCII (ß → ss, ł → l), casefold, then only letters
    and digits. Other scripts stay as they are, without diacritics (Cyrillic ё = е), so "Эл. почта" folds to
    "элпочта"; match_columns also compares the transliteration ("elpochta")."""
    s = unicodedata.normalize("NFKC", text)
    if not s.isascii():
        s = "".join(anyascii(ch) if _is_latin(ch) else ch for ch in s)
    s = unicodedata.normalize("NFKD", s.casefold())
    return "".join(ch for ch in s if ch.isalnum() and not unicodedata.combining(ch))


def _translit_key(text: str) -> str:
    return header_key(anyascii(text)) if not text.isascii() else header_key(text)


_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD_SPLIT = re.compile(r"[\W_]+")
_BRACKETED = re.compile(r"\s*[(\[{][^)\]}]*[)\]}]\s*")
_TRAILING_NUMBER = re.compile(r"\d+$")
_CONNECTORS = _word_set("de di da del della do du des of for the to fur fuer dla la le el a au pour для по")


def _words(text: str) -> tuple[str, ...]:
    """Folded words of a header, camelCase and snake_case split: "shipCity" → ("ship", "city")."""
    spaced = _CAMEL.sub(" ", unicodedata.normalize("NFKC", text))
    return tuple(k for k in (header_key(w) for w in _WORD_SPLIT.split(spaced)) if k)


@dataclass(frozen=True, slots=True)
class _Synonyms:
    exact: dict[str, str]
    phrases: dict[tuple[str, ...], str]
    by_type: dict[str, dict[str, str]]
    qualifiers: dict[str, str]
    bare_name: frozenset[str]
    given_or_full: frozenset[str]
    family_or_full: frozenset[str]
    not_a_field: frozenset[str]
    ignore: frozenset[str]
    type_words: dict[str, tuple[str, ...]]
    type_headers: dict[str, frozenset[str]]
    conflicts: tuple[str, ...]


def _add(index: dict[str, str], key: str, field_name: str, conflicts: list[str] | None) -> None:
    if not key:
        return
    held = index.setdefault(key, field_name)
    if held != field_name and conflicts is not None:
        conflicts.append(f"{key!r}: {held} and {field_name}")


@lru_cache(maxsize=1)
def _synonyms() -> _Synonyms:
    """Load and fold synonyms.yaml once. Conflicts (one folded key, two fields) are kept for the tests to see;
    at run time the field listed first in the file wins."""
    text = resources.files("threadline.ingest").joinpath("data/synonyms.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    conflicts: list[str] = []
    exact: dict[str, str] = {}
    phrases: dict[tuple[str, ...], str] = {}
    fields: Mapping[str, list[str]] = data["fields"]
    for field_name, synonyms in fields.items():
        for synonym in [field_name, *map(str, synonyms)]:
            _add(exact, header_key(synonym), field_name, conflicts)
            words = _words(synonym)
            if words and phrases.setdefault(words, field_name) != field_name:
                conflicts.append(f"{words!r}: {phrases[words]} and {field_name}")
    for field_name, synonyms in fields.items():  # transliterations never displace a native synonym
        for synonym in synonyms:
            _add(exact, _translit_key(str(synonym)), field_name, None)
    by_type: dict[str, dict[str, str]] = {}
    for record_type, extra in (data.get("record_types") or {}).items():
        index = by_type.setdefault(record_type, {})
        for field_name, synonyms in extra.items():
            for synonym in synonyms:
                _add(index, header_key(str(synonym)), field_name, conflicts)
    qualifiers = {header_key(str(w)): kind for kind, words in data["qualifiers"].items() for w in words}
    context = data["context"]
    return _Synonyms(
        exact=exact,
        phrases=phrases,
        by_type=by_type,
        qualifiers=qualifiers,
        bare_name=frozenset(header_key(str(w)) for w in context["bare_name"]),
        given_or_full=frozenset(header_key(str(w)) for w in context["given_or_full"]),
        family_or_full=frozenset(header_key(str(w)) for w in context["family_or_full"]),
        not_a_field=frozenset(header_key(str(w)) for w in data["not_a_field"]),
        ignore=frozenset(header_key(str(w)) for w in data.get("ignore") or ()),
        type_words={t: tuple(header_key(str(w)) for w in words) for t, words in data["record_type_words"].items()},
        type_headers={
            t: frozenset(header_key(str(w)) for w in words) for t, words in data["record_type_headers"].items()
        },
        conflicts=tuple(conflicts),
    )


@dataclass(frozen=True, slots=True)
class ColumnMatch:
    """Which source columns feed which canonical fields, and how sure the matcher was about each."""

    fields: dict[str, list[str]]
    unmapped: list[str]
    by_column: dict[str, str]
    qualifiers: dict[str, str] = field(default_factory=dict)  # column → "shipping" | "billing"
    evidence: dict[str, str] = field(default_factory=dict)  # column → "exact" | "numbered" | "contains" | ...

    def mapping(self) -> dict[str, str | list[str]]:
        """The ``columns:`` section of a mapping file: one column as a string, several as a list."""
        return {f: cols[0] if len(cols) == 1 else list(cols) for f, cols in self.fields.items()}


@dataclass(frozen=True, slots=True)
class _Candidate:
    field: str
    rank: int
    key: str  # the synonym key that matched (for the bare-name rules)
    qualifier: str | None = None


def _lookup(key: str, record_type: str | None, syn: _Synonyms) -> str | None:
    if record_type is not None and key in syn.by_type.get(record_type, {}):
        return syn.by_type[record_type][key]
    return syn.exact.get(key)


def _contains(words: tuple[str, ...], syn: _Synonyms) -> tuple[str, str] | None:
    """The field of the longest synonym found as whole consecutive words; None when two fields tie."""
    if not words or any(w in syn.not_a_field for w in words):
        return None
    best: dict[str, int] = {}
    best_key: dict[str, str] = {}
    for start in range(len(words)):
        for end in range(start + 1, len(words) + 1):
            phrase = words[start:end]
            found = syn.phrases.get(phrase)
            if found is not None:
                size = sum(len(w) for w in phrase)
                if size > best.get(found, 0):
                    best[found], best_key[found] = size, "".join(phrase)
    if not best:
        return None
    top = max(best.values())
    winners = [f for f, size in best.items() if size == top]
    return (winners[0], best_key[winners[0]]) if len(winners) == 1 else None


def _candidate(header: str, record_type: str | None, syn: _Synonyms) -> _Candidate | None:
    key = header_key(header)
    if not key or key in syn.ignore:
        return None
    for probe in (key, _translit_key(header)):
        if (found := _lookup(probe, record_type, syn)) is not None:
            return _Candidate(found, _EXACT, probe)
    stripped = header_key(_BRACKETED.sub(" ", header))
    for probe in {_TRAILING_NUMBER.sub("", stripped), _TRAILING_NUMBER.sub("", key), stripped} - {key, ""}:
        if (found := _lookup(probe, record_type, syn)) is not None:
            return _Candidate(found, _NUMBERED, probe)
    qualified = _qualified(header, key, record_type, syn)
    if qualified is not None:
        return qualified
    contained = _contains(_words(header), syn)
    return _Candidate(contained[0], _CONTAINS, contained[1]) if contained else None


def _qualified(header: str, key: str, record_type: str | None, syn: _Synonyms) -> _Candidate | None:
    for prefix, kind in syn.qualifiers.items():
        rest = _TRAILING_NUMBER.sub("", key[len(prefix) :])
        if key.startswith(prefix) and rest and (found := _lookup(rest, record_type, syn)) is not None:
            return _Candidate(found, _QUALIFIED, rest, kind)
    words = _words(header)
    kinds = [syn.qualifiers[w] for w in words if w in syn.qualifiers]
    if not kinds:
        return None
    rest_words = tuple(w for w in words if w not in syn.qualifiers and w not in _CONNECTORS and not w.isdigit())
    rest = "".join(rest_words)
    if rest and (found := _lookup(rest, record_type, syn)) is not None:
        return _Candidate(found, _QUALIFIED, rest, kinds[0])
    contained = _contains(rest_words, syn)
    return _Candidate(contained[0], _QUALIFIED, contained[1], kinds[0]) if contained else None


def match_columns(headers: Sequence[str], record_type: str | None = None) -> ColumnMatch:
    """Propose canonical fields for a file's headers (see the module docstring for the rules).

    Bare name words depend on their neighbours: "Name"/"Naam" is full_name alone, family_name beside a
    given-name column (German "Vorname; Name"), unmapped beside both given and family columns. "Nombre"/"Nome"/
    "Имя" are given names beside a family-name column and whole names otherwise; French "Nom" likewise is a
    family name only beside "Prénom". A header repeated verbatim maps once; later copies are unmapped.
    """
    syn = _synonyms()
    record_type = record_type if record_type in RECORD_TYPES else None
    seen: set[str] = set()
    candidates: dict[int, _Candidate] = {}
    for i, header in enumerate(headers):
        if header in seen:
            continue
        seen.add(header)
        found = _candidate(header, record_type, syn)
        if found is not None:
            candidates[i] = found
    _apply_name_context(candidates, syn)
    chosen: dict[str, list[int]] = {}
    for rank_pass in (False, True):  # unqualified claims first; qualified copies only fill empty fields
        taken = set(chosen)
        order = sorted(candidates, key=lambda i: (candidates[i].rank, i))
        for i in order:
            c = candidates[i]
            if (c.qualifier is not None) != rank_pass or (rank_pass and c.field in taken):
                continue
            columns = chosen.setdefault(c.field, [])
            if not columns or c.field in MULTI_VALUED_FIELDS:
                columns.append(i)
    assigned = {i: f for f, columns in chosen.items() for i in columns}
    fields = {f: [headers[i] for i in sorted(chosen[f])] for f in CANONICAL_FIELDS if f in chosen}
    return ColumnMatch(
        fields=fields,
        unmapped=[h for i, h in enumerate(headers) if i not in assigned],
        by_column={headers[i]: f for i, f in sorted(assigned.items())},
        qualifiers={headers[i]: q for i in sorted(assigned) if (q := candidates[i].qualifier) is not None},
        evidence={headers[i]: _EVIDENCE[candidates[i].rank] for i in sorted(assigned)},
    )


def _apply_name_context(candidates: dict[int, _Candidate], syn: _Synonyms) -> None:
    def present(field_name: str, words: frozenset[str]) -> bool:
        return any(c.field == field_name and c.key not in words and c.qualifier is None for c in candidates.values())

    has_given = present("given_name", syn.given_or_full)
    has_family = present("family_name", syn.family_or_full)
    for i, c in list(candidates.items()):
        if c.rank > _NUMBERED or c.qualifier is not None:
            continue
        if c.key in syn.bare_name and c.field == "full_name":
            if has_given and has_family:
                del candidates[i]
            elif has_given:
                candidates[i] = _Candidate("family_name", c.rank, c.key)
        elif (c.key in syn.given_or_full and c.field == "given_name" and not has_family) or (
            c.key in syn.family_or_full and c.field == "family_name" and not has_given
        ):
            candidates[i] = _Candidate("full_name", c.rank, c.key)


_TYPE_PRIORITY = ("payment", "order", "message", "contact", "account", "customer")


def guess_record_type(headers: Sequence[str], filename: str) -> str:
    """customer | order | contact | message | payment | account, from the file name, then the headers.

    A file name word in any of several languages decides ("kunden_2012.csv" → customer, "platnosci.xlsx" →
    payment); when several kinds are named the more specific wins (payment, order, message, contact, account,
    customer). Otherwise headers: a subject/body column → message; an amount with a counterparty or payment
    method → payment; an amount with an order column → order; a password or last-login column → account.
    Default customer, the commonest back-office list.
    """
    syn = _synonyms()
    stem = header_key(PurePath(filename.replace("\\", "/")).stem) if filename else ""
    named = {t for t, words in syn.type_words.items() if any(w and w in stem for w in words)}
    for record_type in _TYPE_PRIORITY:
        if record_type in named:
            return record_type
    match = match_columns(headers)
    keys = {header_key(h) for h in headers} | {w for h in headers for w in _words(h)}

    def has(record_type: str) -> bool:
        return bool(keys & syn.type_headers.get(record_type, frozenset()))

    if has("message"):
        return "message"
    if "amount" in match.fields and ("counterparty" in match.fields or has("payment")):
        return "payment"
    if "amount" in match.fields and has("order"):
        return "order"
    if has("account"):
        return "account"
    return "customer"
