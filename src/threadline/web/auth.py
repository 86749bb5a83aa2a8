"""Signing in and staying signed in: server-side sessions, lockout and rate limits, TOTP, API tokens.

Sessions live in the database (`WebSession`), not in a signed cookie: the cookie carries a random token whose
SHA-256 is looked up, so sign-out, a password change, an expired idle time or a disabled user end the session on
the next request, on every web worker. Passwords are checked with argon2 by `directory.users.authenticate`.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, joinedload

from threadline.core import audit
from threadline.core.errors import InputError, NotFoundError
from threadline.directory.users import authenticate, check_password_strength, get_user, hash_password
from threadline.model import ApiToken, LoginAttempt, User, WebSession, utcnow
from threadline.web.config import WebSettings

TOKEN_PREFIX = "tl_"
# last_seen_at is written at most this often per session, so browsing is not a stream of writes.
TOUCH_EVERY = timedelta(seconds=60)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# ------------------------------------------------------------------------------------------------- sessions


def new_session(
    db: Session, user: User, settings: WebSettings, *, ip: str | None = None, user_agent: str | None = None
) -> tuple[str, WebSession]:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = WebSession(
        token_hash=digest(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        ip=ip,
        user_agent=(user_agent or "")[:300] or None,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=settings.session_max_hours),
    )
    db.add(row)
    db.flush()
    return token, row


def load_session(db: Session, token: str, settings: WebSettings, *, now: datetime | None = None) -> WebSession | None:
    """The live session for a cookie token, or None when it is unknown, revoked, expired or idle too long, or
    its user is disabled."""
    now = now or utcnow()
    # One query for the session, its user and the user's agency (what every page needs).
    row = db.scalars(
        select(WebSession)
        .options(joinedload(WebSession.user).joinedload(User.agency))
        .where(WebSession.token_hash == digest(token))
    ).first()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if now - row.last_seen_at > timedelta(minutes=settings.session_idle_minutes):
        return None
    if row.user.disabled:
        return None
    if now - row.last_seen_at > TOUCH_EVERY:
        row.last_seen_at = now
    return row


def revoke_session(db: Session, row: WebSession) -> None:
    row.revoked_at = utcnow()


def revoke_user_sessions(db: Session, user_id: int, *, keep: int | None = None) -> None:
    query = update(WebSession).where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
    if keep is not None:
        query = query.where(WebSession.id != keep)
    db.execute(query.values(revoked_at=utcnow()))


# -------------------------------------------------------------------------------------------------- sign-in


@dataclass(frozen=True)
class SignIn:
    """What a sign-in attempt came to. `user` is set only on success; `message` is what the page says."""

    result: str  # ok | bad_password | bad_code | locked | rate_limited
    user: User | None = None
    retry_after_s: int = 0

    @property
    def message(self) -> str:
        if self.result == "locked":
            minutes = max(1, (self.retry_after_s + 59) // 60)
            return f"Too many failed sign-ins for this account: try again in {minutes} minute(s)."
        if self.result == "rate_limited":
            return "Too many failed sign-ins from this address: wait a while and try again."
        if self.result == "bad_code":
            return "The one-time code is missing or wrong: enter the 6 digits your authenticator shows."
        return "Wrong username or password."


def _failures_since(db: Session, since: datetime, *, username: str | None = None, ip: str | None = None) -> int:
    query = select(func.count()).select_from(LoginAttempt).where(LoginAttempt.at >= since, ~LoginAttempt.success)
    if username is not None:
        query = query.where(LoginAttempt.username == username)
    if ip is not None:
        query = query.where(LoginAttempt.ip == ip)
    return int(db.scalar(query) or 0)


def lockout_remaining(db: Session, username: str, settings: WebSettings, *, now: datetime | None = None) -> int:
    """Seconds the username stays locked (0 when it is not). Counting restarts after a successful sign-in."""
    now = now or utcnow()
    window = timedelta(minutes=settings.lockout_minutes)
    last_ok = db.scalar(
        select(func.max(LoginAttempt.at)).where(LoginAttempt.username == username, LoginAttempt.success)
    )
    since = max(now - window, last_ok) if last_ok is not None else now - window
    failures = list(
        db.scalars(
            select(LoginAttempt.at)
            .where(
                LoginAttempt.username == username,
                ~LoginAttempt.success,
                LoginAttempt.at >= since,
                LoginAttempt.result.in_(("bad_password", "bad_code")),
            )
            .order_by(LoginAttempt.at.desc())
            .limit(settings.lockout_failures)
        )
    )
    if len(failures) < settings.lockout_failures:
        return 0
    unlock = failures[-1] + window
    return max(0, int((unlock - now).total_seconds()))


def sign_in(db: Session, username: str, password: str, code: str | None, settings: WebSettings, *, ip: str) -> SignIn:
    """Check a sign-in and record the attempt (and an audit event) whatever its result."""
    name = username.strip().lower()[:100]
    now = utcnow()
    outcome: SignIn
    if _failures_since(db, now - timedelta(minutes=settings.lockout_minutes), ip=ip) >= settings.ip_failures:
        outcome = SignIn("rate_limited")
    elif (wait := lockout_remaining(db, name, settings, now=now)) > 0:
        outcome = SignIn("locked", retry_after_s=wait)
    else:
        user = authenticate(db, name, password)
        if user is None:
            outcome = SignIn("bad_password")
        elif user.totp_secret and not verify_code(user.totp_secret, code):
            outcome = SignIn("bad_code")
        else:
            outcome = SignIn("ok", user=user)
    db.add(LoginAttempt(username=name, ip=ip[:64], at=now, success=outcome.result == "ok", result=outcome.result))
    audit.record(
        db,
        actor=f"web:{name}",
        action="web.signin" if outcome.user else "web.signin_failed",
        object_type="user",
        object_id=name,
        agency_id=outcome.user.agency_id if outcome.user else None,
        details={"result": outcome.result, "ip": ip},
    )
    return outcome


def change_password(db: Session, user: User, current: str, new: str, repeat: str, *, keep_session: int | None) -> None:
    if authenticate(db, user.username, current) is None:
        raise InputError("the current password is wrong")
    if new != repeat:
        raise InputError("the two new passwords differ: type the same one twice")
    if new == current:
        raise InputError("the new password is the same as the current one")
    check_password_strength(new)
    user.password_hash = hash_password(new)
    revoke_user_sessions(db, user.id, keep=keep_session)
    audit.record(
        db,
        actor=f"web:{user.username}",
        action="user.password",
        object_type="user",
        object_id=user.username,
        agency_id=user.agency_id,
    )


# ----------------------------------------------------------------------------------------------------- TOTP


def verify_code(secret: str, code: str | None) -> bool:
    if not code:
        return False
    digits = "".join(ch for ch in code if ch.isdigit())
    return len(digits) == 6 and pyotp.TOTP(secret).verify(digits, valid_window=1)


def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name="Threadline")


# ----------------------------------------------------------------------------------------------- API tokens


def mint_token(db: Session, username: str, name: str, *, actor: str, days: int | None = None) -> tuple[str, ApiToken]:
    """A new bearer token for a user; the token itself is returned once and only its hash is kept."""
    user = get_user(db, username)
    if user.disabled:
        raise InputError(f"user {user.username!r} is disabled: tokens act as a user, enable another user instead")
    label = name.strip()
    if not label or len(label) > 100:
        raise InputError("token name: give 1-100 characters, e.g. the client that will use it")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        name=label,
        token_hash=digest(token),
        prefix=token[:10],
        created_by=actor,
        expires_at=utcnow() + timedelta(days=days) if days else None,
    )
    db.add(row)
    db.flush()
    audit.record(
        db,
        actor=actor,
        action="token.mint",
        object_type="api_token",
        object_id=row.id,
        agency_id=user.agency_id,
        details={"user": user.username, "name": label, "prefix": row.prefix},
    )
    return token, row


def revoke_token(db: Session, token_id: int, *, actor: str) -> ApiToken:
    row = db.get(ApiToken, token_id)
    if row is None:
        raise NotFoundError(f"no API token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(
            db,
            actor=actor,
            action="token.revoke",
            object_type="api_token",
            object_id=row.id,
            agency_id=row.user.agency_id,
            details={"user": row.user.username, "prefix": row.prefix},
        )
    return row


def token_user(db: Session, token: str, *, now: datetime | None = None) -> User | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    now = now or utcnow()
    row = db.scalars(
        select(ApiToken)
        .options(joinedload(ApiToken.user).joinedload(User.agency))
        .where(ApiToken.token_hash == digest(token))
    ).first()
    if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    if row.user.disabled:
        return None
    if row.last_used_at is None or now - row.last_used_at > TOUCH_EVERY:
        row.last_used_at = now
    return row.user
