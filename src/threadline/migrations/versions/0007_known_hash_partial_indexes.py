"""known_hash: partial exact-hash indexes (only rows that have the hash)

A PDQ list's rows have no MD5, SHA-1 or SHA-256; full indexes on those columns took one entry per row each and
made a ten-million-line import twice as slow. Equality on the column implies IS NOT NULL, so exact matching
still uses these indexes on SQLite and PostgreSQL.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("md5", "sha1", "sha256")


def upgrade() -> None:
    for kind in KINDS:
        op.drop_index(f"ix_known_hash_{kind}", table_name="known_hash")
        where = sa.text(f"{kind} IS NOT NULL")
        op.create_index(
            f"ix_known_hash_{kind}", "known_hash", [kind], unique=False, sqlite_where=where, postgresql_where=where
        )


def downgrade() -> None:
    for kind in KINDS:
        op.drop_index(f"ix_known_hash_{kind}", table_name="known_hash")
        op.create_index(f"ix_known_hash_{kind}", "known_hash", [kind], unique=False)
