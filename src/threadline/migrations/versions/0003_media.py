"""media: hash sets, known hashes, media verdicts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import threadline.model.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("media_item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("origin", sa.String(length=10), server_default="list", nullable=False))
        batch_op.add_column(sa.Column("kind", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("mtime_ns", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("pdq_skipped", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("owner_subject_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("hashed_at", threadline.model.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_media_item_owner_subject_id"), ["owner_subject_id"], unique=False)

    op.create_table(
        "hash_set",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("is_allow", sa.Boolean(), nullable=False),
        sa.Column("category", sa.String(length=60), nullable=True),
        sa.Column("source_path", sa.Text(), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("source_size", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("hashes", sa.Integer(), nullable=False),
        sa.Column("quarantined", sa.Integer(), nullable=False),
        sa.Column("imported_at", threadline.model.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", threadline.model.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hash_set")),
        sa.UniqueConstraint("name", "version", name="uq_hash_set_name_version"),
    )
    with op.batch_alter_table("hash_set", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hash_set_name"), ["name"], unique=False)

    op.create_table(
        "known_hash",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hash_set_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.String(length=100), nullable=True),
        sa.Column("md5", sa.String(length=32), nullable=True),
        sa.Column("sha1", sa.String(length=40), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("pdq", sa.String(length=64), nullable=True),
        sa.Column("pdq_quality", sa.Integer(), nullable=True),
        sa.Column("category", sa.String(length=60), nullable=True),
        sa.Column("series", sa.String(length=200), nullable=True),
        sa.Column("victim_identified", sa.Boolean(), nullable=True),
        sa.Column("offender_identified", sa.Boolean(), nullable=True),
        sa.Column("photodna", sa.Text(), nullable=True),
        sa.Column("details", threadline.model.base.JSONType, nullable=True),
        sa.ForeignKeyConstraint(
            ["hash_set_id"], ["hash_set.id"], name=op.f("fk_known_hash_hash_set_id_hash_set"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_known_hash")),
    )
    with op.batch_alter_table("known_hash", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_known_hash_hash_set_id"), ["hash_set_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_known_hash_md5"), ["md5"], unique=False)
        batch_op.create_index(batch_op.f("ix_known_hash_sha1"), ["sha1"], unique=False)
        batch_op.create_index(batch_op.f("ix_known_hash_sha256"), ["sha256"], unique=False)

    op.create_table(
        "quarantined_hash",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hash_set_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("raw_text", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["hash_set_id"],
            ["hash_set.id"],
            name=op.f("fk_quarantined_hash_hash_set_id_hash_set"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantined_hash")),
    )
    with op.batch_alter_table("quarantined_hash", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quarantined_hash_hash_set_id"), ["hash_set_id"], unique=False)

    op.create_table(
        "media_verdict",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("media_item_id", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(length=20), nullable=False),
        sa.Column("matched_by", sa.String(length=10), nullable=True),
        sa.Column("distance", sa.Integer(), nullable=True),
        sa.Column("known_hash_id", sa.Integer(), nullable=True),
        sa.Column("hash_set_id", sa.Integer(), nullable=True),
        sa.Column("hashset", sa.String(length=200), nullable=True),
        sa.Column("category", sa.String(length=60), nullable=True),
        sa.Column("series", sa.String(length=200), nullable=True),
        sa.Column("victim_identified", sa.Boolean(), nullable=True),
        sa.Column("matched_pdq", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("max_distance", sa.Integer(), nullable=False),
        sa.Column("min_quality", sa.Integer(), nullable=False),
        sa.Column("decided_at", threadline.model.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["hash_set_id"], ["hash_set.id"], name=op.f("fk_media_verdict_hash_set_id_hash_set"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["known_hash_id"],
            ["known_hash.id"],
            name=op.f("fk_media_verdict_known_hash_id_known_hash"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["media_item_id"],
            ["media_item.id"],
            name=op.f("fk_media_verdict_media_item_id_media_item"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_verdict")),
        sa.UniqueConstraint("media_item_id", name=op.f("uq_media_verdict_media_item_id")),
    )
    with op.batch_alter_table("media_verdict", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_media_verdict_known_hash_id"), ["known_hash_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_media_verdict_verdict"), ["verdict"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("media_verdict", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_media_verdict_verdict"))
        batch_op.drop_index(batch_op.f("ix_media_verdict_known_hash_id"))
    op.drop_table("media_verdict")

    with op.batch_alter_table("quarantined_hash", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quarantined_hash_hash_set_id"))
    op.drop_table("quarantined_hash")

    with op.batch_alter_table("known_hash", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_known_hash_sha256"))
        batch_op.drop_index(batch_op.f("ix_known_hash_sha1"))
        batch_op.drop_index(batch_op.f("ix_known_hash_md5"))
        batch_op.drop_index(batch_op.f("ix_known_hash_hash_set_id"))
    op.drop_table("known_hash")

    with op.batch_alter_table("hash_set", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hash_set_name"))
    op.drop_table("hash_set")

    with op.batch_alter_table("media_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_media_item_owner_subject_id"))
        batch_op.drop_column("hashed_at")
        batch_op.drop_column("owner_subject_id")
        batch_op.drop_column("pdq_skipped")
        batch_op.drop_column("error")
        batch_op.drop_column("mtime_ns")
        batch_op.drop_column("kind")
        batch_op.drop_column("origin")
