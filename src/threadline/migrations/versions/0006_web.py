"""web: server-side sessions, sign-in attempts, API tokens, inbox indexes on leads

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import threadline.model.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = threadline.model.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "login_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("result", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempt")),
    )
    op.create_index("ix_login_attempt_ip_at", "login_attempt", ["ip", "at"], unique=False)
    op.create_index("ix_login_attempt_username_at", "login_attempt", ["username", "at"], unique=False)
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=True),
        sa.Column("last_used_at", UTC, nullable=True),
        sa.Column("revoked_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name=op.f("fk_api_token_user_id_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    op.create_index(op.f("ix_api_token_user_id"), "api_token", ["user_id"], unique=False)
    op.create_table(
        "web_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("totp_pending", sa.String(length=64), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("last_seen_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("revoked_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name=op.f("fk_web_session_user_id_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_session_token_hash")),
    )
    op.create_index(op.f("ix_web_session_user_id"), "web_session", ["user_id"], unique=False)
    op.create_index("ix_lead_agency_due", "lead", ["agency_id", "due_at"], unique=False)
    op.create_index("ix_lead_agency_score", "lead", ["agency_id", "score"], unique=False)
    op.create_index("ix_lead_originating_score", "lead", ["originating_agency_id", "score"], unique=False)
    op.create_index("ix_lead_agency_tier_score", "lead", ["agency_id", "tier", "score"], unique=False)
    op.create_index("ix_lead_originating_tier_score", "lead", ["originating_agency_id", "tier", "score"], unique=False)
    op.create_index("ix_lead_originating_due", "lead", ["originating_agency_id", "due_at"], unique=False)
    op.create_index("ix_lead_agency_updated", "lead", ["agency_id", "updated_at"], unique=False)
    op.create_index("ix_lead_originating_updated", "lead", ["originating_agency_id", "updated_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_lead_originating_updated", table_name="lead")
    op.drop_index("ix_lead_agency_updated", table_name="lead")
    op.drop_index("ix_lead_originating_due", table_name="lead")
    op.drop_index("ix_lead_originating_tier_score", table_name="lead")
    op.drop_index("ix_lead_agency_tier_score", table_name="lead")
    op.drop_index("ix_lead_originating_score", table_name="lead")
    op.drop_index("ix_lead_agency_score", table_name="lead")
    op.drop_index("ix_lead_agency_due", table_name="lead")
    op.drop_index(op.f("ix_web_session_user_id"), table_name="web_session")
    op.drop_table("web_session")
    op.drop_index(op.f("ix_api_token_user_id"), table_name="api_token")
    op.drop_table("api_token")
    op.drop_index("ix_login_attempt_username_at", table_name="login_attempt")
    op.drop_index("ix_login_attempt_ip_at", table_name="login_attempt")
    op.drop_table("login_attempt")
