"""resolve: subjects, members, judgements, review queue, links between subjects, trained models and runs

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import threadline.model.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = threadline.model.base.UTCDateTime(timezone=True)
JSON = threadline.model.base.JSONType


def upgrade() -> None:
    op.create_table(
        "resolve_model",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("spec_version", sa.String(length=20), nullable=False),
        sa.Column("engine", sa.String(length=20), nullable=False),
        sa.Column("settings", JSON, nullable=False),
        sa.Column("training", JSON, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resolve_model")),
        sa.UniqueConstraint("version", name=op.f("uq_resolve_model_version")),
    )
    op.create_table(
        "resolve_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("engine", sa.String(length=20), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("report", JSON, nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("started_at", UTC, nullable=False),
        sa.Column("finished_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(["model_id"], ["resolve_model.id"], name=op.f("fk_resolve_run_model_id_resolve_model")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resolve_run")),
    )
    op.create_table(
        "subject",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.Column("insufficient", sa.Boolean(), nullable=False),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("given_name", sa.String(length=200), nullable=True),
        sa.Column("family_name", sa.String(length=200), nullable=True),
        sa.Column("full_name", sa.String(length=400), nullable=True),
        sa.Column("date_of_birth", sa.String(length=10), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("attributes", JSON, nullable=False),
        sa.Column("identifiers", JSON, nullable=False),
        sa.Column("created_run_id", sa.Integer(), nullable=True),
        sa.Column("updated_run_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["created_run_id"], ["resolve_run.id"], name=op.f("fk_subject_created_run_id_resolve_run")
        ),
        sa.ForeignKeyConstraint(["merged_into_id"], ["subject.id"], name=op.f("fk_subject_merged_into_id_subject")),
        sa.ForeignKeyConstraint(
            ["updated_run_id"], ["resolve_run.id"], name=op.f("fk_subject_updated_run_id_resolve_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject")),
    )
    with op.batch_alter_table("subject", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subject_status"), ["status"], unique=False)

    op.create_table(
        "subject_member",
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("match_probability", sa.Float(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["source_record.id"],
            name=op.f("fk_subject_member_record_id_source_record"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["run_id"], ["resolve_run.id"], name=op.f("fk_subject_member_run_id_resolve_run")),
        sa.ForeignKeyConstraint(["subject_id"], ["subject.id"], name=op.f("fk_subject_member_subject_id_subject")),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_subject_member")),
    )
    with op.batch_alter_table("subject_member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subject_member_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "judgement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_a_id", sa.Integer(), nullable=False),
        sa.Column("record_b_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["record_a_id"],
            ["source_record.id"],
            name=op.f("fk_judgement_record_a_id_source_record"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["record_b_id"],
            ["source_record.id"],
            name=op.f("fk_judgement_record_b_id_source_record"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_judgement")),
    )
    with op.batch_alter_table("judgement", schema=None) as batch_op:
        batch_op.create_index("ix_judgement_pair", ["record_a_id", "record_b_id"], unique=False)

    op.create_table(
        "review_pair",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_a_id", sa.Integer(), nullable=False),
        sa.Column("record_b_id", sa.Integer(), nullable=False),
        sa.Column("match_probability", sa.Float(), nullable=False),
        sa.Column("match_weight", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["record_a_id"],
            ["source_record.id"],
            name=op.f("fk_review_pair_record_a_id_source_record"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["record_b_id"],
            ["source_record.id"],
            name=op.f("fk_review_pair_record_b_id_source_record"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["run_id"], ["resolve_run.id"], name=op.f("fk_review_pair_run_id_resolve_run")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_pair")),
        sa.UniqueConstraint("record_a_id", "record_b_id", name="uq_review_pair_records"),
    )
    with op.batch_alter_table("review_pair", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_pair_status"), ["status"], unique=False)

    op.create_table(
        "subject_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_a_id", sa.Integer(), nullable=False),
        sa.Column("subject_b_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("record_ids", JSON, nullable=False),
        sa.Column("evidence_count", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["resolve_run.id"], name=op.f("fk_subject_link_run_id_resolve_run")),
        sa.ForeignKeyConstraint(["subject_a_id"], ["subject.id"], name=op.f("fk_subject_link_subject_a_id_subject")),
        sa.ForeignKeyConstraint(["subject_b_id"], ["subject.id"], name=op.f("fk_subject_link_subject_b_id_subject")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_link")),
        sa.UniqueConstraint("subject_a_id", "subject_b_id", "kind", "value", name="uq_subject_link_edge"),
    )
    with op.batch_alter_table("subject_link", schema=None) as batch_op:
        batch_op.create_index("ix_subject_link_subject_b_id", ["subject_b_id"], unique=False)


def downgrade() -> None:
    op.drop_table("subject_link")
    op.drop_table("review_pair")
    op.drop_table("judgement")
    op.drop_table("subject_member")
    op.drop_table("subject")
    op.drop_table("resolve_run")
    op.drop_table("resolve_model")
