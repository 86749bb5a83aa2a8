"""From stored records to the flat table Splink compares: one row per person-like record, matching forms only.

Messages are not people (their participants are contact records of their own); media rows are not either.
Everything here is deterministic, so the same records always give the same table."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from email.header import decode_header, make_header
from functools import lru_cache
from importlib import resources
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.ingest.normalise import name_key
from threadline.model import SourceRecord

# Record types that are people (or a person's trace); messages and media are not.
PERSON_TYPES = ("customer", "order", "contact", "payment", "account")
# An e-mail or phone given with this many different (repeated) names is a shared mailbox or line: an office,
# a family account. It stays an identifier for links but is no evidence that two records are one person.
SHARED_NAMES = 8

_ENCODED_WORD = re.compile(r"=\?[^?]+\?[bBqQ]\?[^?]*\?=")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NOT_ALNUM = re.compile(r"[^0-9A-Z]")
_STREET_STOP = frozenset({"str", "st", "rd", "ave", "av", "the", "de", "la", "le", "du", "del", "der", "ul", "apt"})

COLUMNS: dict[str, pa.DataType] = {
    "unique_id": pa.int64(),
    "record_type": pa.string(),
    "given": pa.string(),
    "family": pa.string(),
    "given_canon": pa.string(),
    "name_sorted": pa.string(),
    "dob": pa.string(),
    "dob_swapped": pa.string(),
    "dob_year": pa.string(),
    "emails": pa.list_(pa.string()),
    "phones": pa.list_(pa.string()),
    "phone_tails": pa.list_(pa.string()),
    "postal_code": pa.string(),
    "street_tokens": pa.list_(pa.string()),
    "city": pa.string(),
    "username": pa.string(),
    "national_id": pa.string(),
    "ips": pa.list_(pa.string()),
    "country": pa.string(),
}


@lru_cache(maxsize=1)
def nicknames() -> dict[str, str]:
    """Familiar form (folded) -> canonical given name (folded), from `data/nicknames.yaml`."""
    text = (resources.files("threadline.resolve") / "data" / "nicknames.yaml").read_text(encoding="utf-8")
    table: dict[str, str] = {}
    for canonical, forms in (yaml.safe_load(text) or {}).items():
        key = name_key(str(canonical))
        table.setdefault(key, key)
        for form in forms or []:
            table.setdefault(name_key(str(form)), key)
    return table


def decode_words(text: str) -> str:
    """Names still in MIME encoded-word form (`=?utf-8?b?...?=`), as some mail headers arrive, decoded."""
    if "=?" not in text or not _ENCODED_WORD.search(text):
        return text
    try:
        return str(make_header(decode_header(text)))
    except (UnicodeDecodeError, LookupError, ValueError):
        return text


@dataclass
class Prepared:
    """The comparison table and what was left out of it, with counts for the report.

    `rows` holds one representative per group of records whose matching forms are identical and carry real
    evidence (an identifier, a date of birth or a street address); `duplicates` maps each other record of such a
    group to its representative. Comparing identical rows again would only multiply work (a buyer's hundreds of
    orders, a mailbox's thousands of messages) without changing a decision."""

    rows: list[dict[str, Any]]
    insufficient: list[int]
    duplicates: dict[int, int] = field(default_factory=dict)
    skipped_values: Counter[str] = field(default_factory=Counter)
    shared_identifiers: dict[str, int] = field(default_factory=dict)
    by_type: Counter[str] = field(default_factory=Counter)

    def table(self) -> pa.Table:
        return to_arrow(self.rows)


def to_arrow(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.table({name: pa.array([r[name] for r in rows], type=kind) for name, kind in COLUMNS.items()})


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    text = str(value).strip()
    return [text] if text else []


def _key(value: str | None) -> str | None:
    if not value:
        return None
    return name_key(decode_words(value)) or None


def _dob(value: str | None, skipped: Counter[str]) -> tuple[str | None, str | None, str | None]:
    if not value:
        return None, None, None
    if not _ISO_DATE.match(value):
        skipped["date_of_birth"] += 1
        return None, None, None
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        skipped["date_of_birth"] += 1
        return None, None, None
    swapped = None
    if parsed.day <= 12 and parsed.day != parsed.month:
        swapped = f"{parsed.year:04d}-{parsed.day:02d}-{parsed.month:02d}"
    return value, swapped, value[:4]


def _emails(values: list[str], skipped: Counter[str]) -> list[str]:
    out = []
    for value in values:
        email = value.lower()
        local, _, domain = email.partition("@")
        if not local or "." not in domain:
            skipped["email"] += 1
            continue
        out.append(email)
    return sorted(set(out))


def _phones(values: list[str], skipped: Counter[str]) -> list[str]:
    out = []
    for value in values:
        digits = value[1:] if value.startswith("+") else ""
        if not digits.isdigit() or len(digits) < 7:
            skipped["phone"] += 1
            continue
        out.append(value)
    return sorted(set(out))


def record_row(record_id: int, record_type: str, fields: dict[str, Any], skipped: Counter[str]) -> dict[str, Any]:
    """One record's matching forms. Empty lists become None so Splink's null levels see them as missing."""
    given = _key(_text(fields.get("given_name_key")) or _text(fields.get("given_name")))
    family = _key(_text(fields.get("family_name_key")) or _text(fields.get("family_name")))
    full = _text(fields.get("full_name"))
    if full and "=?" in full:
        given = family = None  # an undecoded header: the keys ingest made from it are noise
    if given is None and family is None:
        tokens = (_key(full) or _key(_text(fields.get("full_name_key"))) or "").split()
        if len(tokens) >= 2:
            given, family = tokens[0], tokens[-1]
        elif tokens:
            given = tokens[0]
    tokens = sorted([*(given or "").split(), *(family or "").split()])
    first = given.split()[0] if given else None
    dob, dob_swapped, dob_year = _dob(_text(fields.get("date_of_birth")), skipped)
    emails = _emails(_list(fields.get("email_canonical")), skipped)
    phones = _phones(_list(fields.get("phone")), skipped)
    if fields.get("phone_invalid"):
        skipped["phone"] += len(_list(fields.get("phone_invalid")))
    postal = _text(fields.get("postal_code"))
    postal = _NOT_ALNUM.sub("", postal.upper()) or None if postal else None
    street = _key(_text(fields.get("street")))
    street_tokens = sorted(
        {t for t in (street or "").split() if (len(t) >= 3 or t.isdigit()) and t not in _STREET_STOP}
    )
    username = _text(fields.get("username"))
    national_id = _text(fields.get("national_id"))
    national_id = _NOT_ALNUM.sub("", national_id.upper()) or None if national_id else None
    return {
        "unique_id": record_id,
        "record_type": record_type,
        "given": given,
        "family": family,
        "given_canon": nicknames().get(first, first) if first else None,
        "name_sorted": " ".join(tokens) or None,
        "dob": dob,
        "dob_swapped": dob_swapped,
        "dob_year": dob_year,
        "emails": emails or None,
        "phones": phones or None,
        "phone_tails": sorted({p[-7:] for p in phones}) or None,
        "postal_code": postal,
        "street_tokens": street_tokens or None,
        "city": _key(_text(fields.get("city"))),
        "username": username.lower() if username else None,
        "national_id": national_id,
        "ips": sorted(set(_list(fields.get("ip")))) or None,
        "country": _text(fields.get("country")),
    }


def sufficient(row: dict[str, Any]) -> bool:
    """Enough to match on: an identifier, or a name of at least two parts. A first name alone is not."""
    if row["emails"] or row["phones"] or row["username"] or row["national_id"]:
        return True
    return len((row["name_sorted"] or "").split()) >= 2


def shared_values(rows: Iterable[dict[str, Any]], column: str) -> set[str]:
    """Identifier values given with many different names (each seen at least twice): shared mailboxes and lines."""
    names: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        for value in row[column] or ():
            names[value][row["name_sorted"] or ""] += 1
    return {value for value, counter in names.items() if sum(1 for c in counter.values() if c >= 2) >= SHARED_NAMES}


def drop_shared(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Remove shared e-mails and phones from the matching columns (they stay indexed as identifiers)."""
    found: dict[str, int] = {}
    for column in ("emails", "phones"):
        shared = shared_values(rows, column)
        found[column] = len(shared)
        if not shared:
            continue
        for row in rows:
            values = row[column]
            if values and not shared.isdisjoint(values):
                kept = [v for v in values if v not in shared]
                row[column] = kept or None
                if column == "phones":
                    row["phone_tails"] = sorted({p[-7:] for p in kept}) or None
    return found


def iter_records(session: Session, *, only_ids: set[int] | None = None) -> Iterator[tuple[int, str, dict[str, Any]]]:
    query = (
        select(SourceRecord.id, SourceRecord.record_type, SourceRecord.fields)
        .where(SourceRecord.record_type.in_(PERSON_TYPES))
        .order_by(SourceRecord.id)
        .execution_options(yield_per=20000)
    )
    for record_id, record_type, fields in session.execute(query):
        if only_ids is None or record_id in only_ids:
            yield record_id, record_type, fields or {}


def prepare(records: Iterable[tuple[int, str, dict[str, Any]]]) -> Prepared:
    skipped: Counter[str] = Counter()
    rows: list[dict[str, Any]] = []
    insufficient: list[int] = []
    by_type: Counter[str] = Counter()
    for record_id, record_type, fields in records:
        row = record_row(record_id, record_type, fields, skipped)
        by_type[record_type] += 1
        if sufficient(row):
            rows.append(row)
        else:
            insufficient.append(record_id)
    shared = drop_shared(rows)
    rows, duplicates = collapse_identical(rows)
    return Prepared(rows, insufficient, duplicates, skipped, shared, by_type)


_MATCH_COLUMNS = [c for c in COLUMNS if c not in ("unique_id", "record_type")]


def _evidence(row: dict[str, Any]) -> bool:
    return bool(
        row["emails"]
        or row["phones"]
        or row["username"]
        or row["national_id"]
        or row["dob"]
        or (row["postal_code"] and row["street_tokens"])
    )


def collapse_identical(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """Keep one row per group of identical matching forms (with evidence); map the rest to it."""
    first: dict[tuple[Any, ...], int] = {}
    kept: list[dict[str, Any]] = []
    duplicates: dict[int, int] = {}
    for row in rows:
        if not _evidence(row):
            kept.append(row)
            continue
        key = tuple(tuple(v) if isinstance(v, list) else v for v in (row[c] for c in _MATCH_COLUMNS))
        representative = first.get(key)
        if representative is None:
            first[key] = row["unique_id"]
            kept.append(row)
        else:
            duplicates[row["unique_id"]] = representative
    return kept, duplicates
