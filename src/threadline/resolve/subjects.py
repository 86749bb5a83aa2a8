"""A subject's canonical attributes (most frequent value, ties to the most recent record) and all its identifiers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.model import SourceRecord

CANONICAL_FIELDS = (
    "given_name",
    "family_name",
    "full_name",
    "date_of_birth",
    "street",
    "city",
    "region",
    "postal_code",
    "country",
    "occupation",
    "organisation",
)
IDENTIFIER_FIELDS = {
    "email": "email_canonical",
    "phone": "phone",
    "username": "username",
    "ip": "ip",
    "national_id": "national_id",
}
_CHUNK = 20000


def _values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v not in (None, "")]
    text = str(value).strip()
    return [text] if text else []


def canonical_attributes(session: Session, groups: dict[int, list[int]]) -> dict[int, dict[str, Any]]:
    """For each group of records: {"attributes": field -> value, "identifiers": kind -> sorted values}."""
    owner = {record: key for key, records in groups.items() for record in records}
    # group -> field -> value -> (times seen, most recent record's stamp)
    stats: dict[int, dict[str, dict[str, tuple[int, str]]]] = {key: {} for key in groups}
    identifiers: dict[int, dict[str, set[str]]] = {key: {} for key in groups}
    ids = sorted(owner)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        query = select(SourceRecord.id, SourceRecord.fields).where(SourceRecord.id.in_(chunk))
        for record_id, fields in session.execute(query):
            key = owner[record_id]
            fields = fields or {}
            stamp = f"{fields.get('date') or ''}#{record_id:012d}"
            for name in CANONICAL_FIELDS:
                for value in _values(fields.get(name))[:1]:
                    seen = stats[key].setdefault(name, {})
                    count, last = seen.get(value, (0, ""))
                    seen[value] = (count + 1, max(last, stamp))
            for kind, source in IDENTIFIER_FIELDS.items():
                for value in _values(fields.get(source)):
                    identifiers[key].setdefault(kind, set()).add(value)
    out: dict[int, dict[str, Any]] = {}
    for key in groups:
        # Most frequent; among equals, the one in the most recent record.
        attributes = {
            name: max(seen.items(), key=lambda item: (item[1][0], item[1][1], item[0]))[0]
            for name, seen in stats[key].items()
        }
        out[key] = {
            "attributes": attributes,
            "identifiers": {kind: sorted(values) for kind, values in sorted(identifiers[key].items())},
        }
    return out
