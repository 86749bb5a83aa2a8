"""A subject's canonical attributes (most frequent value, ties to the most recent record) and all its identifiers.

`canonical_attributes_in` is what resolve runs: DuckDB over the values `prepare.read_records` collected.
`canonical_attributes` reads the records again and works in plain Python: the twin the tests compare it with."""

from __future__ import annotations

from typing import Any

import duckdb
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


def values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v not in (None, "")]
    text = str(value).strip()
    return [text] if text else []


def first_value(value: Any) -> str | None:
    found = values(value)
    return found[0] if found else None


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
                for value in values(fields.get(name))[:1]:
                    seen = stats[key].setdefault(name, {})
                    count, last = seen.get(value, (0, ""))
                    seen[value] = (count + 1, max(last, stamp))
            for kind, source in IDENTIFIER_FIELDS.items():
                for value in values(fields.get(source)):
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


def canonical_attributes_in(con: duckdb.DuckDBPyConnection, groups: str) -> dict[int, dict[str, Any]]:
    """`canonical_attributes` for the groups in table `groups` (record_id, group_key), from the table
    `canonical` (prepare.CANONICAL_COLUMNS) in `con`."""
    fields = ", ".join(CANONICAL_FIELDS)
    out: dict[int, dict[str, Any]] = {}
    rows = con.execute(
        f"""
        WITH v AS (
            UNPIVOT (SELECT g.group_key, c.stamp, {", ".join(f"c.{f}" for f in CANONICAL_FIELDS)}
                     FROM canonical c JOIN {groups} g USING (record_id))
            ON {fields} INTO NAME field VALUE value
        ), counted AS (
            SELECT group_key, field, value, count(*) AS n, max(stamp) AS last FROM v GROUP BY ALL
        ), ranked AS (
            SELECT group_key, field, value,
                   row_number() OVER (PARTITION BY group_key, field ORDER BY n DESC, last DESC, value DESC) AS rank
            FROM counted
        )
        SELECT group_key, list(field), list(value) FROM ranked WHERE rank = 1 GROUP BY group_key
        """
    ).fetchall()
    order = {name: i for i, name in enumerate(CANONICAL_FIELDS)}
    for key, names, chosen in rows:
        pairs = sorted(zip(names, chosen, strict=True), key=lambda item: order[item[0]])
        out[int(key)] = {"attributes": dict(pairs), "identifiers": {}}
    kinds = list(IDENTIFIER_FIELDS)
    aggregates = ", ".join(
        f"list_sort(list_distinct(flatten(list(c.{k}) FILTER (WHERE c.{k} IS NOT NULL))))" for k in kinds
    )
    for key, *found in con.execute(
        f"SELECT g.group_key, {aggregates} FROM canonical c JOIN {groups} g USING (record_id) GROUP BY g.group_key"
    ).fetchall():
        entry = out.setdefault(int(key), {"attributes": {}, "identifiers": {}})
        entry["identifiers"] = {kind: list(v) for kind, v in sorted(zip(kinds, found, strict=True)) if v}
    return out
