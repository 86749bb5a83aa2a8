"""From stored records to the flat table Splink compares: one row per person-like record, matching forms only.

Messages are not people (their participants are contact records of their own); media rows are not either.
Everything here is deterministic, so the same records always give the same table.

Two paths give the same table. `read_records` + `prepare_tables` is the one resolve runs: one pass over the
store in Python (each record's matching forms, its values for canonical attributes and its keys for references,
collected column by column into Arrow), then the work over the whole set (shared identifiers, identical rows) in
DuckDB. `prepare` does the same a row at a time, in plain Python: the obviously-correct twin the tests hold the
fast path to."""

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

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.ingest.normalise import name_key
from threadline.model import SourceFile, SourceRecord
from threadline.resolve import spec
from threadline.resolve.references import reference_name
from threadline.resolve.subjects import CANONICAL_FIELDS, IDENTIFIER_FIELDS, first_value, values

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
    capped_keys: dict[str, int] = field(default_factory=dict)

    def table(self) -> pa.Table:
        return to_arrow(self.rows)


BLOCK_COLUMNS: dict[str, pa.DataType] = {
    name: pa.list_(pa.string()) if exploded else pa.string() for name, (_, exploded) in spec.BLOCKING_KEYS.items()
}


def to_arrow(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows as the table Splink compares (block keys as None where `add_block_keys` did not run)."""
    kinds = {**COLUMNS, **BLOCK_COLUMNS}
    return pa.table({name: pa.array([r.get(name) for r in rows], type=kind) for name, kind in kinds.items()})


def add_block_keys(rows: list[dict[str, Any]]) -> dict[str, int]:
    """The blocking keys of spec.BLOCKING_KEYS on each row, values held by more than spec.BLOCK_CAP rows left out.
    Returns how many values each key left out."""
    capped: dict[str, int] = {}
    for name, (columns, exploded) in spec.BLOCKING_KEYS.items():
        if exploded:
            held = Counter(value for row in rows for value in row[columns[0]] or ())
            frequent = {value for value, n in held.items() if n > spec.BLOCK_CAP}
            for row in rows:
                values = row[columns[0]]
                row[name] = [v for v in values if v not in frequent] or None if values else None
        else:
            keys = [
                "|".join(row[c] for c in columns) if all(row[c] is not None for c in columns) else None for row in rows
            ]
            counted = Counter(key for key in keys if key is not None)
            frequent = {key for key, n in counted.items() if n > spec.BLOCK_CAP}
            for row, key in zip(rows, keys, strict=True):
                row[name] = key if key is not None and key not in frequent else None
        capped[name] = len(frequent)
    return capped


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if value.__class__ is str:
        return value.strip() or None
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


@lru_cache(maxsize=1 << 18)
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
    capped = add_block_keys(rows)
    return Prepared(rows, insufficient, duplicates, skipped, shared, by_type, capped)


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


# ------------------------------------------------------------------------------------------------ the fast path

_CHUNK = 50_000
CANONICAL_COLUMNS: dict[str, pa.DataType] = {
    "record_id": pa.int64(),
    "stamp": pa.string(),
    **{name: pa.string() for name in CANONICAL_FIELDS},
    **{kind: pa.list_(pa.string()) for kind in IDENTIFIER_FIELDS},
}
KEY_COLUMNS: dict[str, pa.DataType] = {
    "record_id": pa.int64(),
    "seizure_id": pa.int64(),
    "source_table": pa.string(),
    "record_key": pa.string(),
    "name": pa.string(),
}
KEY_VALUE_COLUMNS: dict[str, pa.DataType] = {
    "position": pa.int64(),
    "record_id": pa.int64(),
    "seizure_id": pa.int64(),
    "source_table": pa.string(),
    "column_name": pa.string(),
    "value": pa.string(),
}


@dataclass
class RecordTables:
    """What resolve needs from every person-like record, read in one pass over the store: matching forms (with
    `sufficient`), the values canonical attributes are chosen from, and the keys and key-like values references
    are found in (see references.py)."""

    forms: pa.Table
    canonical: pa.Table
    keys: pa.Table
    key_values: pa.Table
    skipped_values: Counter[str] = field(default_factory=Counter)
    by_type: Counter[str] = field(default_factory=Counter)


class _Columns:
    """Arrow columns built a chunk at a time, so the Python objects of a million rows never live at once."""

    def __init__(self, types: dict[str, pa.DataType]) -> None:
        self.types = types
        self.lists: list[list[Any]] = [[] for _ in types]
        self.batches: list[pa.RecordBatch] = []

    def flush(self) -> None:
        if self.lists[0]:
            arrays = [pa.array(values, type=kind) for values, kind in zip(self.lists, self.types.values(), strict=True)]
            self.batches.append(pa.RecordBatch.from_arrays(arrays, names=list(self.types)))
            for values in self.lists:
                values.clear()

    def table(self) -> pa.Table:
        self.flush()
        schema = pa.schema(list(self.types.items()))
        return pa.Table.from_batches(self.batches, schema=schema)


def source_table(path: str, locator: str) -> str:
    """A table of the seizure: a file, or a sheet of a workbook ("Orders!12" locates row 12 of sheet Orders)."""
    return f"{path}!{locator.split('!', 1)[0]}" if "!" in locator else path


def reference_values(fields: dict[str, Any], record_key: str | None) -> list[tuple[str, str]]:
    """(column, value) pairs of a record that may name another record: its `extra` columns and its own key (a
    refund sheet keyed by order number names the order)."""
    extra = fields.get("extra")
    found = dict(extra) if isinstance(extra, dict) else {}
    if record_key:
        found["record_id"] = record_key
    return [
        (column, str(value).strip())
        for column, value in found.items()
        if isinstance(value, str | int) and str(value).strip()
    ]


Row = tuple[int, str, dict[str, Any] | None, int, str, str, str | None]


def read_records(session: Session) -> RecordTables:
    """One pass over the person-like records (ordered by id) into Arrow tables."""
    query = (
        select(
            SourceRecord.id,
            SourceRecord.record_type,
            SourceRecord.fields,
            SourceFile.seizure_id,
            SourceFile.path,
            SourceRecord.locator,
            SourceRecord.record_key,
        )
        .join(SourceFile, SourceRecord.source_file_id == SourceFile.id)
        .where(SourceRecord.record_type.in_(PERSON_TYPES))
        .order_by(SourceRecord.id)
        .execution_options(yield_per=_CHUNK)
    )
    return record_tables(session.connection().execute(query))


def record_tables(rows: Iterable[Row]) -> RecordTables:
    """Rows (id, record type, fields, seizure id, file path, locator, record key), in id order, into Arrow
    tables: the loop of `read_records`, without the store."""
    skipped: Counter[str] = Counter()
    by_type: Counter[str] = Counter()
    forms = _Columns({**COLUMNS, "sufficient": pa.bool_()})
    canonical = _Columns(CANONICAL_COLUMNS)
    keys = _Columns(KEY_COLUMNS)
    key_values = _Columns(KEY_VALUE_COLUMNS)
    form_names = list(COLUMNS)
    form_lists = forms.lists
    sufficient_list = form_lists[-1]
    canonical_lists = list(zip(CANONICAL_FIELDS, canonical.lists[2 : 2 + len(CANONICAL_FIELDS)], strict=True))
    identifier_lists = list(zip(IDENTIFIER_FIELDS.values(), canonical.lists[2 + len(CANONICAL_FIELDS) :], strict=True))
    ids, stamps = canonical.lists[0], canonical.lists[1]
    position = 0
    for count, (record_id, record_type, fields, seizure_id, path, locator, record_key) in enumerate(rows, 1):
        fields = fields or {}
        get = fields.get
        by_type[record_type] += 1
        row = record_row(record_id, record_type, fields, skipped)
        for column, name in zip(form_lists, form_names, strict=False):
            column.append(row[name])
        sufficient_list.append(sufficient(row))
        ids.append(record_id)
        stamps.append(f"{get('date') or ''}#{record_id:012d}")
        # The common cases inline (absent, a plain string); anything else through the same helpers.
        for name, column in canonical_lists:
            value = get(name)
            if value is None:
                column.append(None)
            elif value.__class__ is str:
                column.append(value.strip() or None)
            else:
                column.append(first_value(value))
        for source, column in identifier_lists:
            value = get(source)
            column.append(None if value is None else values(value) or None)
        table = source_table(path, locator)
        key_row: tuple[Any, ...] = (record_id, seizure_id, table, record_key, reference_name(fields))
        for column, item in zip(keys.lists, key_row, strict=True):
            column.append(item)
        if record_key or "extra" in fields:
            for column_name, found in reference_values(fields, record_key):
                value_row: tuple[Any, ...] = (position, record_id, seizure_id, table, column_name, found)
                for column, item in zip(key_values.lists, value_row, strict=True):
                    column.append(item)
                position += 1
        if count % _CHUNK == 0:
            for columns_ in (forms, canonical, keys, key_values):
                columns_.flush()
    return RecordTables(forms.table(), canonical.table(), keys.table(), key_values.table(), skipped, by_type)


@dataclass
class PreparedTables:
    """The outcome of `prepare_tables`: in its DuckDB connection, `records` (the table Splink compares, one
    representative per group of identical rows, ordered by id), `duplicates` (record -> its representative)
    and `all_records` (every person-like record id); here, the counts for the report."""

    compared: int
    insufficient: list[int]
    duplicates: int
    records: int
    skipped_values: Counter[str]
    shared_identifiers: dict[str, int]
    by_type: Counter[str]
    capped_keys: dict[str, int] = field(default_factory=dict)


_FORM_COLUMNS = ", ".join(COLUMNS)
_MATCH_LIST = ", ".join(_MATCH_COLUMNS)
_EVIDENCE = (
    "(emails IS NOT NULL OR phones IS NOT NULL OR username IS NOT NULL OR national_id IS NOT NULL"
    " OR dob IS NOT NULL OR (postal_code IS NOT NULL AND street_tokens IS NOT NULL))"
)


def _kept(column: str, shared: str) -> str:
    kept = f"list_filter({column}, lambda v: NOT list_contains({shared}, v))"
    return f"CASE WHEN len({kept}) = 0 THEN NULL ELSE {kept} END"


def _block_keys(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """`add_block_keys` in SQL: table `records` from `representatives`, ordered by id."""
    frequent = []
    keys = []
    for name, (columns, exploded) in spec.BLOCKING_KEYS.items():
        if exploded:
            frequent.append(
                f"""SELECT '{name}' AS name, value FROM (SELECT unnest({columns[0]}) AS value FROM representatives)
                    GROUP BY ALL HAVING count(*) > {spec.BLOCK_CAP}"""
            )
        else:
            present = " AND ".join(f"{c} IS NOT NULL" for c in columns)
            key = f"CASE WHEN {present} THEN concat_ws('|', {', '.join(columns)}) END"
            keys.append(f"{key} AS {name}")
            frequent.append(
                f"""SELECT '{name}', {name} FROM (SELECT {key} AS {name} FROM representatives)
                    WHERE {name} IS NOT NULL GROUP BY ALL HAVING count(*) > {spec.BLOCK_CAP}"""
            )
    con.execute(f"CREATE OR REPLACE TEMP TABLE frequent_keys AS {' UNION ALL '.join(frequent)}")
    selected = []
    for name, (columns, exploded) in spec.BLOCKING_KEYS.items():
        if exploded:
            kept = _kept(columns[0], f"f.{name}")
            selected.append(
                f"CASE WHEN list_has_any({columns[0]}, f.{name}) THEN {kept} ELSE {columns[0]} END AS {name}"
            )
        else:
            capped = f"(SELECT value FROM frequent_keys WHERE name = '{name}')"
            selected.append(f"CASE WHEN {name} IN {capped} THEN NULL ELSE {name} END AS {name}")
    lists = ", ".join(
        f"coalesce(list(value) FILTER (WHERE name = '{name}'), []) AS {name}"
        for name, (_, exploded) in spec.BLOCKING_KEYS.items()
        if exploded
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE records AS
        WITH f AS (SELECT {lists} FROM frequent_keys),
             keyed AS (SELECT *, {", ".join(keys)} FROM representatives)
        SELECT {_FORM_COLUMNS}, {", ".join(selected)} FROM keyed, f ORDER BY unique_id
        """
    )
    con.execute("DROP TABLE representatives")
    counted = dict.fromkeys(spec.BLOCKING_KEYS, 0)
    counted.update(dict(con.execute("SELECT name, count(*) FROM frequent_keys GROUP BY name").fetchall()))
    return counted


def prepare_tables(con: duckdb.DuckDBPyConnection, tables: RecordTables) -> PreparedTables:
    """`prepare` over the whole set in DuckDB: shared e-mails and phones dropped, identical rows collapsed."""
    con.register("forms", tables.forms)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE shared_values AS
        WITH named AS (
            SELECT 'emails' AS kind, unnest(emails) AS value, coalesce(name_sorted, '') AS name
            FROM forms WHERE sufficient
            UNION ALL
            SELECT 'phones', unnest(phones), coalesce(name_sorted, '') FROM forms WHERE sufficient
        ), repeated AS (
            SELECT kind, value, name FROM named GROUP BY ALL HAVING count(*) >= 2
        )
        SELECT kind, value FROM repeated GROUP BY ALL HAVING count(*) >= {SHARED_NAMES}
        """
    )
    shared = dict.fromkeys(("emails", "phones"), 0)
    shared.update(dict(con.execute("SELECT kind, count(*) FROM shared_values GROUP BY kind").fetchall()))
    kept_phones = _kept("f.phones", "s.phones")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE matchable AS
        WITH s AS (
            SELECT coalesce(list(value) FILTER (WHERE kind = 'emails'), []) AS emails,
                   coalesce(list(value) FILTER (WHERE kind = 'phones'), []) AS phones
            FROM shared_values
        ), cleaned AS (
            SELECT f.* EXCLUDE (sufficient) REPLACE (
                CASE WHEN list_has_any(f.emails, s.emails) THEN {_kept("f.emails", "s.emails")}
                     ELSE f.emails END AS emails,
                CASE WHEN list_has_any(f.phones, s.phones) THEN {kept_phones} ELSE f.phones END AS phones,
                CASE WHEN list_has_any(f.phones, s.phones)
                     THEN list_sort(list_distinct(list_transform({kept_phones}, lambda p: right(p, 7))))
                     ELSE f.phone_tails END AS phone_tails
            )
            FROM forms f, s
            WHERE f.sufficient
        )
        SELECT *, CASE WHEN {_EVIDENCE} THEN min(unique_id) OVER (PARTITION BY {_MATCH_LIST})
                       ELSE unique_id END AS representative
        FROM cleaned
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE representatives AS
        SELECT {_FORM_COLUMNS} FROM matchable WHERE representative = unique_id
        """
    )
    capped = _block_keys(con)
    con.execute(
        """
        CREATE OR REPLACE TABLE duplicates AS
        SELECT unique_id AS record_id, representative FROM matchable WHERE representative <> unique_id
        """
    )
    con.execute("CREATE OR REPLACE TABLE all_records AS SELECT unique_id AS record_id FROM forms")
    con.execute("DROP TABLE matchable")
    insufficient = [r for (r,) in con.execute("SELECT unique_id FROM forms WHERE NOT sufficient ORDER BY 1").fetchall()]
    con.unregister("forms")
    ((compared,),) = con.execute("SELECT count(*) FROM records").fetchall()
    ((duplicates,),) = con.execute("SELECT count(*) FROM duplicates").fetchall()
    return PreparedTables(
        compared=int(compared),
        insufficient=insufficient,
        duplicates=int(duplicates),
        records=tables.forms.num_rows,
        skipped_values=tables.skipped_values,
        shared_identifiers=shared,
        by_type=tables.by_type,
        capped_keys=capped,
    )
