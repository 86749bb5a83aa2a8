"""The root of the `threadline` command."""

from __future__ import annotations

from typing import Annotated

import typer

from threadline import __version__
from threadline.cli import agencies, audit, demo, export, ingest, init, run, synth, users
from threadline.cli import keys as keys_cli
from threadline.cli import locate as locate_cli
from threadline.cli import media as media_cli
from threadline.cli import package as package_cli
from threadline.cli import rank as rank_cli
from threadline.cli import refer as refer_cli
from threadline.cli import report as report_cli
from threadline.cli import resolve as resolve_cli
from threadline.cli import serve as serve_cli
from threadline.cli import track as track_cli
from threadline.cli.common import DbOption, HomeOption, RootOptions, ThreadlineGroup

app = typer.Typer(
    cls=ThreadlineGroup,
    name="threadline",
    help="Threadline: from a seized distributor's records to tracked referrals for police in every country.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"threadline {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    home: HomeOption = None,
    db: DbOption = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    ctx.obj = RootOptions(home=home, db=db)


app.command("init", help="Create or upgrade the store and the default agency directory.")(init.init)
app.command("synth", help="Write a synthetic seizure with ground truth (invented people, benign images).")(synth.synth)
app.command("demo", help="A synthetic seizure through every stage, a summary, then the web app with demo users.")(
    demo.demo
)
app.command("ingest", help="Read a seizure folder into records with provenance; bad rows are quarantined.")(
    ingest.ingest
)
app.command("run", help="Every stage on a seizure folder, ingest to referral packages; resumable.")(run.run)
app.add_typer(media_cli.media_app, name="media", help="Seized media: hash a folder (nothing is viewed or kept).")
app.add_typer(media_cli.hashes_app, name="hashes", help="Known-hash sets: import, list, remove.")
app.command("triage", help="Triage every media item against the known-hash sets.")(media_cli.triage)
app.add_typer(ingest.quarantine_app, name="quarantine", help="Rows that could not be read: list and show.")
app.command("resolve", help="Resolve records into subjects (people) with Splink.")(resolve_cli.resolve)
app.add_typer(resolve_cli.subjects_app, name="subjects", help="Subjects: show one with its records, explain a match.")
app.command("review", help="Review uncertain pairs: same / not same / skip.")(resolve_cli.review)
app.command("locate", help="Place every subject in a country and region; the rest go to the unplaced queue.")(
    locate_cli.locate
)
app.add_typer(locate_cli.jurisdiction_app, name="jurisdiction", help="A subject's jurisdiction: set, clear, show.")
app.command("unplaced", help="The subjects locate could not place: the coordinator's queue.")(locate_cli.unplaced)
app.add_typer(locate_cli.routing_app, name="routing", help="Routing rules: which agency below the national one.")
app.command("rank", help="Rank every subject: tier and score from versioned rules, with evidence.")(rank_cli.rank)
app.add_typer(rank_cli.rules_app, name="rules", help="Rank rules: show, export, load (validated, versioned), history.")
app.add_typer(export.app, name="export", help="Export records, subjects, media and leads as CSV or JSON.")
app.add_typer(agencies.app, name="agencies", help="The agency directory: list and import agencies.")
app.add_typer(users.app, name="users", help="Users: add, list and disable.")
app.command("serve", help="Serve the web pages and the JSON API.")(serve_cli.serve)
app.add_typer(audit.app, name="audit", help="The audit trail: verify the hash chain and read events.")
app.add_typer(track_cli.app, name="track", help="Follow leads: list, show, acknowledge, assign, outcomes, sweep.")
app.add_typer(report_cli.app, name="report", help="Reports: an operation's leads and outcomes by country and agency.")
app.command("refer", help="Leads per placed, ranked subject and agency; a signed, encrypted package per agency.")(
    refer_cli.refer_command
)
app.add_typer(keys_cli.app, name="keys", help="Agency keys: generate, import, export and list (Ed25519 and age).")
app.add_typer(package_cli.package_app, name="package", help="Referral packages received: verify and open.")


def main() -> None:
    app()
