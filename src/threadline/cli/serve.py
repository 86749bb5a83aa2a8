"""`threadline serve`: the web application."""

from __future__ import annotations

from typing import Annotated

import typer

from threadline.cli.common import DbOption, HomeOption, RootOptions, console
from threadline.core.db import open_store
from threadline.core.settings import load_settings


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.", min=1, max=65535)] = 8000,
    sweep: Annotated[
        int | None,
        typer.Option(
            "--sweep",
            help="Seconds between clock sweeps (escalations); 0 off [env THREADLINE_WEB_SWEEP_INTERVAL_S].",
            min=0,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Worker processes (uvicorn); default one per CPU core [env THREADLINE_WEB_WORKERS].",
            min=1,
            max=64,
        ),
    ] = None,
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """Serve the web pages and the /api/v1 JSON API (sign in with a user from `threadline users add`)."""
    from threadline.web import WebSettings
    from threadline.web import serve as run_server
    from threadline.web.app import default_workers

    root = ctx.find_root().obj
    settings = load_settings(
        home=home or (root.home if isinstance(root, RootOptions) else None),
        database_url=db or (root.db if isinstance(root, RootOptions) else None),
    )
    open_store(settings).dispose()  # migrate first, so a bad URL is one line, not a server traceback
    web = WebSettings() if sweep is None else WebSettings(sweep_interval_s=sweep)
    count = workers or web.workers or default_workers()
    console.print(f"Threadline on http://{host}:{port}/  ({count} worker{'s' if count > 1 else ''}; Ctrl-C to stop)")
    run_server(settings, host, port, web, workers=count)
