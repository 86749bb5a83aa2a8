"""Fixtures that build real stores: every database test runs on SQLite and, when a URL is given, PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from threadline.core.db import Store, open_store
from threadline.core.settings import Settings, normalise_database_url

PG_URL = os.environ.get("THREADLINE_TEST_DATABASE_URL")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's own THREADLINE_* settings or writes into the working tree."""
    monkeypatch.delenv("THREADLINE_DATABASE_URL", raising=False)
    monkeypatch.setenv("THREADLINE_HOME", str(tmp_path / "default-home"))


@pytest.fixture(scope="session")
def pg_admin_url() -> str | None:
    return normalise_database_url(PG_URL) if PG_URL else None


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, pg_admin_url: str | None) -> Iterator[str]:
    """A fresh, empty database: an SQLite file, or a new PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'threadline.db'}"
        return
    if pg_admin_url is None:
        pytest.skip("THREADLINE_TEST_DATABASE_URL is not set")
    name = f"threadline_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", database_url=db_url)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = open_store(settings)
    yield opened
    opened.dispose()
