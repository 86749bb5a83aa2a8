"""Bulk reads and writes on the database driver's own cursor, for the stages that touch every record.

SQLAlchemy's per-row result and parameter handling (type processors, row objects, parameter dictionaries) cost
more than the database itself when a stage reads 800k records and writes a million claims; these helpers hand
the driver plain SQL and plain tuples. Values come back as the driver gives them, except the JSON columns named,
which are decoded as the engine would (SQLite hands back text; psycopg has decoded them already)."""

from __future__ import annotations

import contextlib
import gc
import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson
from sqlalchemy import ClauseElement, text
from sqlalchemy.orm import Session

from threadline.core.db import Store, driver_insert

_FETCH = 20000
_names = itertools.count()


def driver_rows(
    session: Session, query: ClauseElement, json_columns: Iterable[int] = (), batch: int = _FETCH
) -> Iterator[tuple[Any, ...]]:
    """The rows of `query` as the driver's tuples (JSON columns decoded), fetched `batch` at a time; on
    PostgreSQL through a server-side cursor, so the client holds one batch at a time."""
    connection = session.connection()
    sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    driver: Any = connection.connection.driver_connection
    postgres = connection.dialect.name == "postgresql"
    cursor = driver.cursor(name=f"threadline_rows_{next(_names)}") if postgres else driver.cursor()
    decode = tuple(json_columns)
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(batch):
            if not decode:
                yield from rows
                continue
            for row in rows:
                values = list(row)
                for i in decode:
                    value = values[i]
                    if isinstance(value, str | bytes):
                        values[i] = orjson.loads(value)
                yield tuple(values)
    finally:
        cursor.close()


def insert_tuples(session: Session, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """Rows already in the driver's terms (JSON as text, timestamps bound) to its executemany."""
    if rows:
        connection = session.connection()
        connection.exec_driver_sql(driver_insert(connection, table, columns), list(rows))


def bound(session: Session, column: Any, value: Any) -> Any:
    """`value` as SQLAlchemy would bind it to `column` on this session's database (a UTC timestamp on SQLite is
    text without its offset)."""
    connection = session.connection()
    process = column.type.dialect_impl(connection.dialect).bind_processor(connection.dialect)
    return process(value) if process else value


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off while a stage builds its hundreds of thousands of small live objects (rows,
    claims, factors): its full passes rescan all of them, again and again as the heap grows; nothing built here
    holds a cycle for long. Back on (as it was) afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def refresh_statistics(store: Store) -> None:
    """After a stage has bulk-written, on PostgreSQL: the planner works from table statistics that autovacuum
    refreshes only some time later, and without them it planned refer's IN-list reads (500 subjects at a time) as
    hash joins over all 800k records, each. ANALYZE samples every table (seconds at Project Spade scale). SQLite
    plans from its indexes and needs nothing."""
    if store.engine.dialect.name != "postgresql":
        return
    with store.engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()
