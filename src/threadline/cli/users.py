"""`threadline users …`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from threadline.cli.common import (
    DbOption,
    HomeOption,
    JsonOption,
    ThreadlineGroup,
    actor,
    console,
    print_json,
    store_from,
)
from threadline.model import ROLES

app = typer.Typer(cls=ThreadlineGroup, no_args_is_help=True)


@app.command("add")
def add(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Sign-in name (lower case letters, digits, . _ @ -).")],
    agency: Annotated[str, typer.Option("--agency", "-a", help="Agency code, e.g. FR or FR-OCRVP.")],
    role: Annotated[list[str], typer.Option("--role", "-r", help=f"Role, repeatable: {', '.join(ROLES)}.")],
    name: Annotated[str | None, typer.Option("--name", help="Display name.")] = None,
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="Asked for when not given.")
    ] = "",
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Add a user belonging to one agency."""
    from threadline.directory import add_user, seed_national_agencies

    store = store_from(ctx, home, db)
    with store.session() as session:
        seed_national_agencies(session, actor=actor())
        user = add_user(
            session, username=username, agency=agency, roles=role, password=password, display_name=name, actor=actor()
        )
        result = {"username": user.username, "agency": user.agency.code, "roles": user.roles}
    if json:
        print_json(result)
        return
    console.print(f"Added {result['username']} ({', '.join(result['roles'])}) at {result['agency']}")


@app.command("list")
def list_(
    ctx: typer.Context,
    agency: Annotated[str | None, typer.Option("--agency", "-a", help="Only users of this agency.")] = None,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """List users."""
    from threadline.directory import list_users

    store = store_from(ctx, home, db)
    with store.session() as session:
        rows: list[dict[str, Any]] = [
            {
                "username": u.username,
                "name": u.display_name,
                "agency": u.agency.code,
                "roles": u.roles,
                "disabled": u.disabled,
                "created_at": u.created_at.isoformat(),
            }
            for u in list_users(session, agency=agency)
        ]
    if json:
        print_json(rows)
        return
    table = Table("username", "name", "agency", "roles", "status")
    for r in rows:
        table.add_row(
            r["username"],
            r["name"] or "",
            r["agency"],
            ", ".join(r["roles"]),
            "disabled" if r["disabled"] else "active",
        )
    console.print(table)


@app.command("disable")
def disable(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The user to disable (users are never deleted).")],
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Disable a user: they can no longer sign in; their history stays."""
    from threadline.directory import disable_user

    store = store_from(ctx, home, db)
    with store.session() as session:
        user = disable_user(session, username, actor=actor())
        result = {"username": user.username, "disabled": user.disabled}
    if json:
        print_json(result)
        return
    console.print(f"Disabled {result['username']}")


@app.command("token")
def token(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The user the token acts as (with that user's permissions).")],
    name: Annotated[str, typer.Option("--name", help="What the token is for, e.g. the client using it.")] = "api",
    days: Annotated[int | None, typer.Option("--days", min=1, max=3650, help="Days until it expires.")] = None,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Mint an API token for /api/v1 (shown once; only its hash is kept)."""
    from threadline.web.auth import mint_token

    store = store_from(ctx, home, db)
    with store.session() as session:
        secret, row = mint_token(session, username, name, actor=actor(), days=days)
        result = {
            "token": secret,
            "id": row.id,
            "prefix": row.prefix,
            "username": username.strip().lower(),
            "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        }
    if json:
        print_json(result)
        return
    console.print(f"Token for {result['username']} (shown once, keep it safe):")
    console.print(secret, markup=False)
