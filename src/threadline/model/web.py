"""What the web application keeps: server-side sessions, sign-in attempts (for rate limits and lockout) and API
tokens for machine clients. Secrets are never stored, only their SHA-256: a stolen database opens no session."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from threadline.model.base import Base, UTCDateTime, utcnow
from threadline.model.directory import User
from threadline.model.lead import Lead


class WebSession(Base):
    """One signed-in browser. The cookie holds a random token; this row holds its hash, the CSRF token of the
    session, and when it was last used, so sign-out, a password change or disabling the user ends it at once."""

    __tablename__ = "web_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    # A TOTP secret being set up, kept here until the user proves it works with a code.
    totp_pending: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class LoginAttempt(Base):
    """One sign-in attempt, kept to slow down guessing: failures per username lock it for a while, failures per
    address are rate-limited."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_username_at", "username", "at"),
        Index("ix_login_attempt_ip_at", "ip", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    success: Mapped[bool] = mapped_column(Boolean, default=False)
    # bad_password | bad_code | locked | rate_limited | ok
    result: Mapped[str] = mapped_column(String(20))


class ApiToken(Base):
    """A bearer token for a machine client, acting as one user with that user's permissions."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the token, shown in lists so a holder can tell which token is which.
    prefix: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


# Inbox orderings for both boxes (addressed to an agency; originated by it): by score, by score within a tier (the
# tier filter), by running clock and by last change, so a page of an inbox of a million leads is an index range
# scan, not a sort (a tier filter over the score index alone read 0.3-1.4 s at 1M leads; see benchmarks/web_load.py).
_c = Lead.__table__.c
LEAD_INBOX_INDEXES = (
    Index("ix_lead_agency_score", _c.agency_id, _c.score),
    Index("ix_lead_agency_due", _c.agency_id, _c.due_at),
    Index("ix_lead_originating_score", _c.originating_agency_id, _c.score),
    Index("ix_lead_agency_tier_score", _c.agency_id, _c.tier, _c.score),
    Index("ix_lead_originating_tier_score", _c.originating_agency_id, _c.tier, _c.score),
    Index("ix_lead_originating_due", _c.originating_agency_id, _c.due_at),
    Index("ix_lead_agency_updated", _c.agency_id, _c.updated_at),
    Index("ix_lead_originating_updated", _c.originating_agency_id, _c.updated_at),
)
