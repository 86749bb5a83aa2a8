"""The distributor's own keys: an order names its customer number, a payment its order number, a refund its order.

An analyst rebuilding a customer database by hand follows these first; Splink cannot see them, because a foreign
key is a value in one record equal to another record's id, not a field two records share. References are found
from the data, not from column names: a column kept in `extra` is a reference to another record type of the same
seizure when at least `MIN_HIT_SHARE` of its values are that type's record keys (keys must be unique within the
seizure and table). Only references from one table to another are followed (a "referred by" customer number in
the customer table names somebody else; a refund sheet naming an order of the orders sheet is the same buyer), and
only when the two records' names are compatible: a partner paying for an order is a
household member, not the customer, and stays apart for Splink and the review queue to judge.

`references_in` is what resolve runs: DuckDB over the keys `prepare.read_records` collected, names compared in
Python only where they differ. `find_references` reads the store and works in plain Python: the twin the tests
compare it with.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.model import SourceFile, SourceRecord

MIN_HIT_SHARE = 0.8
MIN_HITS = 3
NAME_SIMILARITY = 0.85
PROBABILITY = 0.99  # not 1.0: a reference is strong evidence, an analyst's "same" is certainty


@dataclass
class References:
    edges: list[tuple[int, int, float]] = field(default_factory=list)
    # "orders.xlsx!Orders.customer_id -> customers.csv": references followed
    columns: dict[str, int] = field(default_factory=dict)
    name_conflicts: int = 0
    # The fast path keeps its edges in DuckDB (table `reference_edges`) and only counts them here.
    edge_count: int | None = None

    def to_dict(self) -> dict[str, Any]:
        count = len(self.edges) if self.edge_count is None else self.edge_count
        return {"edges": count, "columns": dict(self.columns), "name_conflicts": self.name_conflicts}


def reference_name(fields: dict[str, Any]) -> str | None:
    key = fields.get("full_name_key")
    if not key:
        parts = [fields.get("given_name_key"), fields.get("family_name_key")]
        key = " ".join(p for p in parts if p)
    return " ".join(sorted(str(key).split())) if key else None


def _token_fits(token: str, others: list[str]) -> bool:
    return any(
        token == other
        or (len(token) == 1 and other.startswith(token))
        or (len(token) > 1 and SequenceMatcher(None, token, other).ratio() >= NAME_SIMILARITY)
        for other in others
    )


def names_compatible(a: str | None, b: str | None) -> bool:
    """Either side has no name, or the names (sorted tokens of the matching keys) are nearly the same, or every
    word of the shorter name fits one of the longer ("m kowalczyk" and "kowalczyk marta"; a typo in one word)."""
    if not a or not b or a == b:
        return True
    if SequenceMatcher(None, a, b).ratio() >= NAME_SIMILARITY:
        return True
    ta, tb = a.split(), b.split()

    def fits(short: list[str], long: list[str]) -> bool:
        return any(len(t) > 1 for t in short) and all(_token_fits(t, long) for t in short)

    if len(ta) != len(tb):
        return fits(ta, tb) if len(ta) < len(tb) else fits(tb, ta)
    return fits(ta, tb) or fits(tb, ta)


def find_references(session: Session, record_types: tuple[str, ...]) -> References:
    """Edges between records joined by the seizure's own keys, among records of `record_types`."""
    rows = session.execute(
        select(
            SourceRecord.id,
            SourceFile.seizure_id,
            SourceFile.path,
            SourceRecord.locator,
            SourceRecord.record_key,
            SourceRecord.fields,
        )
        .join(SourceFile, SourceRecord.source_file_id == SourceFile.id)
        .where(SourceRecord.record_type.in_(record_types))
        .order_by(SourceRecord.id)
        .execution_options(yield_per=20000)
    )
    from threadline.resolve.prepare import reference_values, source_table

    keys: dict[tuple[int, str], dict[str, int]] = defaultdict(dict)
    repeated: set[tuple[int, str, str]] = set()
    names: dict[int, str | None] = {}
    candidates: dict[tuple[str, str], list[tuple[int, int, str]]] = defaultdict(list)
    for record_id, seizure_id, path, locator, record_key, fields in rows:
        fields = fields or {}
        table = source_table(path, locator)
        if record_key:
            by_key = keys[(seizure_id, table)]
            if record_key in by_key:
                repeated.add((seizure_id, table, record_key))
            by_key[record_key] = record_id
        # A record's own key can name a record of another table too (a refund sheet keyed by order number).
        found_values = reference_values(fields, record_key)
        if found_values:
            names[record_id] = reference_name(fields)
            for column, value in found_values:
                candidates[(table, column)].append((record_id, seizure_id, value))
    for seizure_id, table, record_key in repeated:
        keys[(seizure_id, table)].pop(record_key, None)
    tables_by_seizure: dict[int, list[str]] = defaultdict(list)
    for seizure_id, table in keys:
        tables_by_seizure[seizure_id].append(table)

    found = References()
    targets: set[int] = set()
    for (table, column), values in candidates.items():
        hits: Counter[str] = Counter()
        for _, seizure_id, value in values:
            for target_table in tables_by_seizure.get(seizure_id, ()):
                if target_table != table and value in keys[(seizure_id, target_table)]:
                    hits[target_table] += 1
        if not hits:
            continue
        target_table, count = hits.most_common(1)[0]
        if count < MIN_HITS or count < MIN_HIT_SHARE * len(values):
            continue
        followed = 0
        for record_id, seizure_id, value in values:
            target = keys[(seizure_id, target_table)].get(value)
            if target is None:
                continue
            targets.add(target)
            found.edges.append((record_id, target, PROBABILITY))
            followed += 1
        found.columns[f"{table}.{column} -> {target_table}"] = followed
    if not found.edges:
        return found
    # Names of the referenced records (one query for all of them), then drop references between different people.
    wanted = [t for t in targets if t not in names]
    for start in range(0, len(wanted), 5000):
        chunk = wanted[start : start + 5000]
        for record_id, fields in session.execute(
            select(SourceRecord.id, SourceRecord.fields).where(SourceRecord.id.in_(chunk))
        ):
            names[record_id] = reference_name(fields or {})
    kept = []
    for a, b, p in found.edges:
        if names_compatible(names.get(a), names.get(b)):
            kept.append((a, b, p))
        else:
            found.name_conflicts += 1
    found.edges = kept
    return found


def references_in(con: duckdb.DuckDBPyConnection) -> References:
    """`find_references` over the tables `keys` and `key_values` (prepare.KEY_COLUMNS, KEY_VALUE_COLUMNS) in
    `con`; the edges are left in table `reference_edges` (record_a, record_b, probability)."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE keyed AS
        SELECT seizure_id, source_table, record_key, any_value(record_id) AS record_id
        FROM keys WHERE record_key IS NOT NULL AND record_key <> ''
        GROUP BY ALL HAVING count(*) = 1
        """
    )
    # Ties between target tables go to the one hit first, as Counter.most_common does in the twin.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE followed AS
        WITH table_order AS (
            SELECT seizure_id, source_table, min(record_id) AS first_record
            FROM keys WHERE record_key IS NOT NULL AND record_key <> '' GROUP BY ALL
        ), hits AS (
            SELECT v.source_table, v.column_name, k.source_table AS target, count(*) AS hits,
                   min(v.position) AS first_hit, min(t.first_record) AS table_rank
            FROM key_values v
            JOIN keyed k ON k.seizure_id = v.seizure_id AND k.record_key = v.value AND k.source_table <> v.source_table
            JOIN table_order t ON t.seizure_id = k.seizure_id AND t.source_table = k.source_table
            GROUP BY ALL
        ), totals AS (
            SELECT source_table, column_name, count(*) AS n FROM key_values GROUP BY ALL
        ), ranked AS (
            SELECT h.*, row_number() OVER (
                PARTITION BY source_table, column_name ORDER BY hits DESC, first_hit, table_rank) AS rank
            FROM hits h
        )
        SELECT r.source_table, r.column_name, r.target, r.hits
        FROM ranked r JOIN totals t USING (source_table, column_name)
        WHERE r.rank = 1 AND r.hits >= {MIN_HITS} AND r.hits >= {MIN_HIT_SHARE} * t.n
        """
    )
    found = References()
    for table, column, target, hits in con.execute(
        "SELECT source_table, column_name, target, hits FROM followed ORDER BY source_table, column_name"
    ).fetchall():
        found.columns[f"{table}.{column} -> {target}"] = int(hits)
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE reference_candidates AS
        SELECT v.record_id AS record_a, k.record_id AS record_b, na.name AS name_a, nb.name AS name_b
        FROM key_values v
        JOIN followed f USING (source_table, column_name)
        JOIN keyed k ON k.seizure_id = v.seizure_id AND k.source_table = f.target AND k.record_key = v.value
        JOIN keys na ON na.record_id = v.record_id
        JOIN keys nb ON nb.record_id = k.record_id
        """
    )
    differing = con.execute(
        """
        SELECT DISTINCT name_a, name_b FROM reference_candidates
        WHERE name_a IS NOT NULL AND name_b IS NOT NULL AND name_a <> '' AND name_b <> '' AND name_a <> name_b
        """
    ).fetchall()
    conflicts = [(a, b) for a, b in differing if not names_compatible(a, b)]
    con.register(
        "name_conflict",
        pa.table(
            {
                "name_a": pa.array([a for a, _ in conflicts], pa.string()),
                "name_b": pa.array([b for _, b in conflicts], pa.string()),
            }
        ),
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE reference_edges AS
        SELECT c.record_a, c.record_b, {PROBABILITY}::DOUBLE AS probability
        FROM reference_candidates c ANTI JOIN name_conflict n ON n.name_a = c.name_a AND n.name_b = c.name_b
        """
    )
    ((total,),) = con.execute("SELECT count(*) FROM reference_candidates").fetchall()
    ((kept,),) = con.execute("SELECT count(*) FROM reference_edges").fetchall()
    con.unregister("name_conflict")
    found.edge_count = int(kept)
    found.name_conflicts = int(total) - int(kept)
    return found
