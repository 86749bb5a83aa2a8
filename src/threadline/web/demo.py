"""Demo users for `threadline demo`: one per kind of person who uses Threadline, with fresh random passwords."""

from __future__ import annotations

import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pycountry
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threadline.core import audit
from threadline.directory import add_user, import_agencies, national_agency, seed_national_agencies
from threadline.directory.users import hash_password
from threadline.model import Agency, Lead, Operation, User


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    roles: tuple[str, ...]
    agency: str
    what: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "password": self.password,
            "roles": list(self.roles),
            "agency": self.agency,
            "what": self.what,
        }


def _originator(session: Session, code: str | None) -> Agency:
    if code:
        return national_agency(session, code) if len(code) == 2 else _by_code(session, code)
    found = session.scalar(
        select(Agency).join(Operation, Operation.originating_agency_id == Agency.id).order_by(Operation.id).limit(1)
    )
    return found or national_agency(session, "CA")


def _by_code(session: Session, code: str) -> Agency:
    from threadline.directory import find_agency

    return find_agency(session, code)


def _receiver(session: Session, originator: Agency, country: str | None) -> Agency:
    if country:
        return national_agency(session, country.upper())
    busiest = session.execute(
        select(Lead.country, func.count())
        .where(Lead.hop == 0, Lead.country.is_not(None), Lead.country != originator.country)
        .group_by(Lead.country)
        .order_by(func.count().desc(), Lead.country)
        .limit(1)
    ).first()
    return national_agency(session, str(busiest[0]) if busiest else "FR")


def _regional(session: Session, national: Agency, actor: str) -> Agency:
    child = session.scalar(select(Agency).where(Agency.parent_id == national.id).order_by(Agency.id).limit(1))
    if child is not None:
        return child
    found = pycountry.subdivisions.get(country_code=national.country)  # type: ignore[no-untyped-call]
    subdivisions = sorted(found or [], key=lambda s: s.code)
    row: dict[str, Any] = {
        "name": f"Regional Police — {national.country} (demo)",
        "country": national.country,
        "kind": "regional",
        "parent": national.code,
    }
    if subdivisions:
        row["region"] = subdivisions[0].code
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "demo-agencies.yaml"
        path.write_text(yaml.safe_dump({"agencies": [row]}, allow_unicode=True), encoding="utf-8")
        report = import_agencies(session, path, actor=actor)
    code = (report.created or report.updated or report.unchanged)[0]
    return _by_code(session, code)


def demo_users(
    session: Session,
    *,
    originating_agency: str | None = None,
    receiving_country: str | None = None,
    actor: str = "demo",
) -> list[DemoUser]:
    """Create (or give new passwords to) the demo users and return their credentials:
    a coordinator at the originating agency, an investigator and a supervisor at the receiving national agency
    (the country with most leads), an investigator at a regional agency below it, an auditor and an admin."""
    seed_national_agencies(session, actor=actor)
    origin = _originator(session, originating_agency)
    national = _receiver(session, origin, receiving_country)
    regional = _regional(session, national, actor)
    plan = [
        ("coordinator", ("coordinator", "analyst"), origin, "coordinator at the originating agency"),
        ("investigator", ("investigator",), national, "investigator at the receiving national agency"),
        ("supervisor", ("supervisor",), national, "supervisor at the receiving national agency"),
        ("regional", ("investigator", "supervisor"), regional, "investigator at a regional agency below it"),
        ("auditor", ("auditor",), origin, "auditor"),
        ("admin", ("admin",), origin, "administrator"),
    ]
    out = []
    for name, roles, agency, what in plan:
        username = f"demo-{name}"
        password = secrets.token_urlsafe(12)
        existing = session.scalar(select(User).where(User.username == username))
        if existing is None:
            add_user(
                session,
                username=username,
                agency=agency.code,
                roles=roles,
                password=password,
                display_name=f"Demo {name}",
                actor=actor,
            )
        else:
            existing.password_hash = hash_password(password)
            existing.agency_id = agency.id
            existing.roles = list(roles)
            existing.disabled = False
            existing.totp_secret = None
            audit.record(
                session,
                actor=actor,
                action="user.reset",
                object_type="user",
                object_id=username,
                agency_id=agency.id,
                details={"roles": list(roles)},
            )
        out.append(DemoUser(username, password, roles, agency.code, what))
    session.flush()
    return out
