from __future__ import annotations

import pytest
from sqlalchemy import select

from threadline.core import audit
from threadline.core.db import Store
from threadline.core.errors import ConflictError, InputError, NotFoundError
from threadline.directory import add_user, authenticate, disable_user, list_users, seed_national_agencies
from threadline.model import User

PASSWORD = "long enough passphrase"


@pytest.fixture
def directory(store: Store) -> Store:
    with store.session() as session:
        seed_national_agencies(session, actor="test")
    return store


def test_add_user_hashes_password_with_argon2(directory: Store) -> None:
    with directory.session() as session:
        add_user(
            session, username="Alice", agency="FR", roles=["investigator", "analyst"], password=PASSWORD, actor="t"
        )
    with directory.session() as session:
        user = session.scalars(select(User)).one()
        assert user.username == "alice"
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
        assert user.roles == ["analyst", "investigator"]
        assert user.agency.code == "FR"
        assert authenticate(session, "ALICE", PASSWORD) is not None
        assert authenticate(session, "alice", PASSWORD + "x") is None
        assert authenticate(session, "nobody", PASSWORD) is None
        assert audit.verify(session).ok


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"roles": ["wizard"]}, InputError, "unknown role 'wizard'"),
        ({"roles": []}, InputError, "no role given"),
        ({"agency": "XX-NOPE"}, NotFoundError, "unknown agency"),
        ({"password": "short"}, InputError, "password too short"),
        ({"username": "bad name!"}, InputError, "invalid username"),
    ],
)
def test_bad_input_is_refused(
    directory: Store, kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    args: dict[str, object] = {"username": "bob", "agency": "DE", "roles": ["analyst"], "password": PASSWORD}
    args.update(kwargs)
    with pytest.raises(error, match=message), directory.session() as session:
        add_user(session, actor="t", **args)  # type: ignore[arg-type]
    with directory.session() as session:
        assert list_users(session) == []


def test_duplicate_username_is_refused(directory: Store) -> None:
    with directory.session() as session:
        add_user(session, username="carol", agency="DE", roles=["analyst"], password=PASSWORD, actor="t")
    with pytest.raises(ConflictError, match="username 'carol' is taken"), directory.session() as session:
        add_user(session, username="CAROL", agency="FR", roles=["auditor"], password=PASSWORD, actor="t")


def test_disabled_user_cannot_sign_in_but_is_kept(directory: Store) -> None:
    with directory.session() as session:
        add_user(session, username="dave", agency="DE", roles=["supervisor"], password=PASSWORD, actor="t")
        disable_user(session, "dave", actor="t")
    with directory.session() as session:
        assert authenticate(session, "dave", PASSWORD) is None
        (user,) = list_users(session)
        assert user.disabled and user.disabled_at is not None
        assert list_users(session, include_disabled=False) == []
        assert list_users(session, agency="DE") == [user]
        actions = [e.action for e in session.scalars(select(audit.AuditEvent).order_by(audit.AuditEvent.seq))]
        assert actions[-2:] == ["user.add", "user.disable"]
