"""A subject's canonical attributes (most frequent value, ties to the most recent record) and all its identifiers.

`canonical_attributes_in` is what resolve runs: DuckDB over the values `prepare.read_records` collected.
`canonical_attributes` reads the records again and works in plain Python: the twin the tests compare it with."""

from __future__ import annotations

from typing import Any

import duckdb
import orjson
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
# The canonical values a Subject row carries in columns of its own.
SUBJECT_COLUMNS = ("given_name", "family_name", "full_name", "date_of_birth", "country")
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


def canonical_json_in(con: duckdb.DuckDBPyConnection, groups: str) -> None:
    """`canonical_attributes` in DuckDB, for the groups in table `groups` (record_id, group_key), from the table
    `canonical` (prepare.CANONICAL_COLUMNS) in `con`. Creates table `canonical_json`: group_key, attributes and
    identifiers as JSON text, and the canonical given_name, family_name, full_name, date_of_birth, country."""
    fields = ", ".join(CANONICAL_FIELDS)
    order = ", ".join(f"'{f}'" for f in CANONICAL_FIELDS)
    kinds = list(IDENTIFIER_FIELDS)
    gathered = ", ".join(
        f"list_sort(list_distinct(flatten(list(c.{k}) FILTER (WHERE c.{k} IS NOT NULL)))) AS {k}" for k in kinds
    )
    named = ", ".join(f"max(value) FILTER (WHERE field = '{f}') AS {f}" for f in SUBJECT_COLUMNS)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE canonical_json AS
        WITH v AS (
            UNPIVOT (SELECT g.group_key, c.stamp, {", ".join(f"c.{f}" for f in CANONICAL_FIELDS)}
                     FROM canonical c JOIN {groups} g USING (record_id))
            ON {fields} INTO NAME field VALUE value
        ), counted AS (
            SELECT group_key, field, value, count(*) AS n, max(stamp) AS last FROM v GROUP BY ALL
        ), chosen AS (
            SELECT group_key, field, value FROM counted
            QUALIFY row_number() OVER (PARTITION BY group_key, field ORDER BY n DESC, last DESC, value DESC) = 1
        ), attributes AS (
            SELECT group_key, to_json(map_from_entries(
                       list(struct_pack(k := field, v := value) ORDER BY list_position([{order}], field))
                   )) AS attributes,
                   {named}
            FROM chosen GROUP BY group_key
        ), held AS (
            SELECT g.group_key, {gathered} FROM canonical c JOIN {groups} g USING (record_id) GROUP BY g.group_key
        ), identifiers AS (
            SELECT group_key, to_json(map_from_entries(list(struct_pack(k := kind, v := found) ORDER BY kind)))
                   AS identifiers
            FROM (UNPIVOT held ON {", ".join(kinds)} INTO NAME kind VALUE found)
            GROUP BY group_key
        )
        SELECT k.group_key, coalesce(a.attributes, '{{}}') AS attributes,
               coalesce(i.identifiers, '{{}}') AS identifiers, {", ".join(f"a.{f}" for f in SUBJECT_COLUMNS)}
        FROM (SELECT DISTINCT group_key FROM {groups}) k
        LEFT JOIN attributes a USING (group_key) LEFT JOIN identifiers i USING (group_key)
        """
    )


def canonical_attributes_in(con: duckdb.DuckDBPyConnection, groups: str) -> dict[int, dict[str, Any]]:
    """`canonical_json_in` read back as `canonical_attributes` returns it."""
    canonical_json_in(con, groups)
    return {
        int(key): {"attributes": orjson.loads(attributes), "identifiers": orjson.loads(identifiers)}
        for key, attributes, identifiers in con.execute(
            "SELECT group_key, attributes, identifiers FROM canonical_json"
        ).fetchall()
    }
