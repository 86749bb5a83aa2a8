"""The distributor's own keys: an order names its customer number, a payment its order number, a refund its order.

An analyst rebuilding a customer database by hand follows these first; Splink cannot see them, because a foreign
key is a value in one record equal to another record's id, not a field two records share. References are found
from the data, not from column names: a column kept in `extra` is a reference to another record type of the same
seizure when at least `MIN_HIT_SHARE` of its values are that type's record keys (keys must be unique within the
seizure and table). Only references from one table to another are followed (a "referred by" customer number in
the customer table names somebody else; a refund sheet naming an order of the orders sheet is the same buyer), and
only when the two records' names are compatible: a partner paying for an order is a
household member, not the customer, and stays apart for Splink and the review queue to judge.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

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

    def to_dict(self) -> dict[str, Any]:
        return {"edges": len(self.edges), "columns": dict(self.columns), "name_conflicts": self.name_conflicts}


def _name(fields: dict[str, Any]) -> str | None:
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
    # A table is a file, or a sheet of a workbook ("Orders!12" locates row 12 of sheet Orders).
    keys: dict[tuple[int, str], dict[str, int]] = defaultdict(dict)
    repeated: set[tuple[int, str, str]] = set()
    names: dict[int, str | None] = {}
    candidates: dict[tuple[str, str], list[tuple[int, int, str]]] = defaultdict(list)
    for record_id, seizure_id, path, locator, record_key, fields in rows:
        fields = fields or {}
        table = f"{path}!{locator.split('!', 1)[0]}" if "!" in locator else path
        if record_key:
            by_key = keys[(seizure_id, table)]
            if record_key in by_key:
                repeated.add((seizure_id, table, record_key))
            by_key[record_key] = record_id
        # A record's own key can name a record of another table too (a refund sheet keyed by order number).
        extra = {**(fields.get("extra") or {}), "record_id": record_key} if record_key else fields.get("extra")
        if isinstance(extra, dict) and extra:
            names[record_id] = _name(fields)
            for column, value in extra.items():
                if isinstance(value, str | int) and str(value).strip():
                    candidates[(table, column)].append((record_id, seizure_id, str(value).strip()))
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
            names[record_id] = _name(fields or {})
    kept = []
    for a, b, p in found.edges:
        if names_compatible(names.get(a), names.get(b)):
            kept.append((a, b, p))
        else:
            found.name_conflicts += 1
    found.edges = kept
    return found
