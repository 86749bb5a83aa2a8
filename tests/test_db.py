"""The store: migrations from empty, the schema matching the models, SQLite safety settings."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from threadline.core.db import Store, alembic_config, current_revision, head_revision, make_engine, migrate, open_store
from threadline.core.errors import StoreError
from threadline.core.settings import Settings
from threadline.model import Base, Operation, Seizure


def test_migrations_run_from_empty_to_head(db_url: str) -> None:
    engine = make_engine(db_url)
    assert current_revision(engine) is None
    assert migrate(engine) is True
    assert current_revision(engine) == head_revision()
    tables = set(inspect(engine).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    assert migrate(engine) is False  # already at head: nothing to do
    engine.dispose()


def test_migrated_schema_matches_the_models(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], f"models and migrations disagree; add a migration: {diff}"


def test_downgrade_to_base_and_up_again(store: Store) -> None:
    cfg = alembic_config()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert "agency" not in inspect(store.engine).get_table_names()
    assert migrate(store.engine) is True
    assert "agency" in inspect(store.engine).get_table_names()


def test_open_store_applies_migrations_on_first_use(settings: Settings) -> None:
    store = open_store(settings)
    assert current_revision(store.engine) == head_revision()
    store.dispose()


def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises(IntegrityError), store.session() as session:
        session.add(Seizure(operation_id=999_999, label="x", source_path="/nowhere"))
        session.flush()


def test_sqlite_runs_in_wal_mode(settings: Settings) -> None:
    if not settings.is_sqlite:
        pytest.skip("SQLite only")
    store = open_store(settings)
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    store.dispose()


def test_session_rolls_back_on_error(store: Store) -> None:
    with pytest.raises(RuntimeError), store.session() as session:
        session.add(Operation(name="Rolled back"))
        session.flush()
        raise RuntimeError("boom")
    with store.session() as session:
        assert session.query(Operation).count() == 0


def test_unreachable_database_is_a_clear_error(tmp_path: object) -> None:
    settings = Settings(database_url="postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(StoreError, match="cannot open the database at postgresql"):
        open_store(settings)
