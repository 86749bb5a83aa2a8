"""Alembic environment. Threadline runs migrations itself (`threadline init`, or on first use), handing
Alembic an open connection; `alembic` on the command line works too, with THREADLINE_DATABASE_URL set."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from threadline.core.settings import load_settings
from threadline.model import Base

config = context.config
target_metadata = Base.metadata


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    engine = create_engine(load_settings().url)
    with engine.connect() as conn:
        run_on(conn)


if context.is_offline_mode():
    context.configure(url=load_settings().url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
