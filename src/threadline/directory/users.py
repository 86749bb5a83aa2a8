"""Users: one agency each, one or more roles, argon2 password hashes. Users are disabled, never deleted,
so the audit trail always names someone who existed."""

from __future__ import annotations

import re
from collections.abc import Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.core import audit
from threadline.core.errors import ConflictError, InputError, NotFoundError
from threadline.directory.agencies import find_agency
from threadline.model import ROLES, User, utcnow

MIN_PASSWORD_LENGTH = 10
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,99}$")
_hasher = PasswordHasher()


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(f"password too short: use at least {MIN_PASSWORD_LENGTH} characters")
    if password.strip() != password:
        raise InputError("password starts or ends with a space: remove it")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def add_user(
    session: Session,
    *,
    username: str,
    agency: str,
    roles: Sequence[str],
    password: str,
    display_name: str | None = None,
    actor: str,
) -> User:
    name = username.strip().lower()
    if not _USERNAME.match(name):
        raise InputError(
            f"invalid username {username!r}: use 2-100 letters, digits, '.', '_', '@' or '-', starting with a "
            "letter or digit"
        )
    wanted = [r.strip().lower() for r in roles if r.strip()]
    if not wanted:
        raise InputError(f"no role given: use one or more of {', '.join(ROLES)}")
    unknown = [r for r in wanted if r not in ROLES]
    if unknown:
        raise InputError(f"unknown role {unknown[0]!r}: use one or more of {', '.join(ROLES)}")
    if session.scalars(select(User).where(User.username == name)).first() is not None:
        raise ConflictError(f"username {name!r} is taken: choose another")
    check_password_strength(password)
    home = find_agency(session, agency)
    user = User(
        username=name,
        display_name=display_name,
        agency_id=home.id,
        roles=sorted(set(wanted), key=ROLES.index),
        password_hash=hash_password(password),
        disabled=False,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="user.add",
        object_type="user",
        object_id=name,
        agency_id=home.id,
        details={"roles": user.roles},
    )
    return user


def get_user(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username.strip().lower())).first()
    if user is None:
        raise NotFoundError(f"unknown user {username!r}: see `threadline users list`")
    return user


def list_users(session: Session, *, agency: str | None = None, include_disabled: bool = True) -> list[User]:
    query = select(User).order_by(User.username)
    if agency is not None:
        query = query.where(User.agency_id == find_agency(session, agency).id)
    if not include_disabled:
        query = query.where(User.disabled.is_(False))
    return list(session.scalars(query))


def disable_user(session: Session, username: str, *, actor: str) -> User:
    user = get_user(session, username)
    if user.disabled:
        return user
    user.disabled = True
    user.disabled_at = utcnow()
    audit.record(
        session,
        actor=actor,
        action="user.disable",
        object_type="user",
        object_id=user.username,
        agency_id=user.agency_id,
    )
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The user if the password is right and the account active; None otherwise (no hint which)."""
    user = session.scalars(select(User).where(User.username == username.strip().lower())).first()
    if user is None:
        _hasher.hash(password)  # spend the same time as a real check, so timing does not reveal usernames
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if user.disabled:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user
