"""What every verb shares: store options, consoles, the acting user, JSON output and error handling."""

from __future__ import annotations

import getpass
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from threadline.core.db import Store, open_store
from threadline.core.errors import ThreadlineError
from threadline.core.settings import load_settings

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home", help="Threadline home folder [env THREADLINE_HOME; default ./.threadline]", show_default=False
    ),
]
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL, e.g. postgresql://user@host/db [env THREADLINE_DATABASE_URL; default SQLite in the home]",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]


@dataclass
class RootOptions:
    home: Path | None = None
    db: str | None = None


def store_from(ctx: typer.Context, home: Path | None, db: str | None) -> Store:
    """Open the store; options given on the verb win over those given before it (`threadline --db URL verb`)."""
    root = ctx.find_root().obj
    root_home = root.home if isinstance(root, RootOptions) else None
    root_db = root.db if isinstance(root, RootOptions) else None
    settings = load_settings(home=home or root_home, database_url=db or root_db)
    store = open_store(settings)
    ctx.call_on_close(store.dispose)
    return store


def actor() -> str:
    """Who is acting on the command line, as the audit trail names them."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def say(text: str) -> None:
    """Print plain text (paths and codes are not Rich markup) without wrapping it mid-line."""
    console.print(text, markup=False, soft_wrap=True)


class ThreadlineGroup(TyperGroup):
    """Turns a ThreadlineError raised anywhere below into one line on stderr and exit code 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ThreadlineError as exc:
            err_console.print(f"error: {exc.one_line()}", markup=False, soft_wrap=True)
            raise typer.Exit(1) from None
