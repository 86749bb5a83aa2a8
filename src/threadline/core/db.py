"""Opening the store: one engine per database URL, SQLite tuned for safety, migrations applied on first use."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from threadline.core.errors import StoreError
from threadline.core.settings import Settings

# Any constant will do: it only has to be the same for every Threadline process sharing a server.
_PG_MIGRATION_LOCK = 0x7468_7264


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the web app read while a pipeline stage writes; foreign keys are off in SQLite unless asked.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def json_dumps(value: Any) -> str:
    # orjson: several times faster than json on the millions of record rows ingest writes.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode("utf-8")


def driver_insert(connection: Connection, table: str, columns: Sequence[str]) -> str:
    """An INSERT of `columns` in the driver's own parameter style, for `exec_driver_sql` with a list of tuples:
    at a million rows SQLAlchemy's per-row parameter handling costs more than the insert itself."""
    style = connection.dialect.paramstyle
    if style not in ("qmark", "format", "pyformat"):
        raise RuntimeError(f"unsupported database driver parameter style {style!r}")
    marks = ", ".join("?" if style == "qmark" else "%s" for _ in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


def make_engine(url: str) -> Engine:
    """An engine for `url`; for SQLite the parent folder is created and safety pragmas set per connection."""
    parsed = make_url(url)
    json_options: dict[str, Any] = {"json_serializer": json_dumps, "json_deserializer": orjson.loads}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **json_options)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **json_options)


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("threadline") / "migrations"))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine) -> bool:
    """Bring the schema to the newest revision. Returns whether anything was applied.

    On PostgreSQL an advisory lock keeps two processes starting at once from migrating together."""
    try:
        if current_revision(engine) == head_revision():
            return False
        cfg = alembic_config()
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        return True
    except OperationalError as exc:
        raise StoreError(
            f"cannot open the database at {redact(str(engine.url))}: {exc.orig}; check THREADLINE_DATABASE_URL or --db"
        ) from exc


@dataclass
class Store:
    """An open database: the engine and a session factory. Stages receive sessions made here."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed if the block finishes, rolled back if it raises."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def open_store(settings: Settings, *, apply_migrations: bool = True) -> Store:
    """Open (and on first use create) the store named by `settings`."""
    if settings.is_sqlite and settings.database_url is None:
        settings.ensure_home()
    engine = make_engine(settings.url)
    if apply_migrations:
        migrate(engine)
    return Store(settings=settings, engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))
