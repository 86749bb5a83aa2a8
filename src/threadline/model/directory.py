"""Who receives leads and who uses the system: agencies (national, regional, local) and their users."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from threadline.model.base import Base, JSONType, UTCDateTime, utcnow

AGENCY_KINDS = ("national", "regional", "local", "international")
ROLES = ("admin", "coordinator", "analyst", "investigator", "supervisor", "auditor")


class Agency(Base):
    """A police agency that can receive leads. Every country has a national point of contact;
    regional and local agencies hang below it, so a lead can travel hop by hop."""

    __tablename__ = "agency"
    __table_args__ = (
        UniqueConstraint("country", "name", name="uq_agency_country_name"),
        Index("ix_agency_country_kind", "country", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(10))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"))
    contact: Mapped[str | None] = mapped_column(Text)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    # Response clocks and handling preferences; filled by the Refer stage when an agency states them.
    sla_policy: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    parent: Mapped[Agency | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Agency]] = relationship(back_populates="parent")
    users: Mapped[list[User]] = relationship(back_populates="agency")

    def __repr__(self) -> str:
        return f"Agency({self.code!r}, {self.name!r})"


class User(Base):
    """A person who signs in. Belongs to exactly one agency; roles decide what they may do."""

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    roles: Mapped[list[str]] = mapped_column(JSONType)
    password_hash: Mapped[str] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    agency: Mapped[Agency] = relationship(back_populates="users")

    def __repr__(self) -> str:
        return f"User({self.username!r})"
