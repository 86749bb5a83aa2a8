"""`threadline locate`, `jurisdiction set|clear|show`, `unplaced` and `routing load|show`."""

from __future__ import annotations

from pathlib import Path
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
from threadline.core.db import Store
from threadline.locate import LocateReport, LocateSettings
from threadline.locate.decide import DEFAULT_MIN_CONFIDENCE
from threadline.locate.ipgeo import MMDB_ENV

OperationOption = Annotated[
    str | None, typer.Option("--operation", help="Only subjects with records in this operation.", show_default=False)
]
SubjectArgument = Annotated[int, typer.Argument(help="Subject id.")]


def run_locate(
    store: Store,
    *,
    operation: str | None = None,
    mmdb: Path | None = None,
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
    full: bool = False,
) -> LocateReport:
    """The locate stage with a spinner on a terminal (what `threadline locate` and the pipeline call)."""
    from threadline.locate import locate as run

    settings = LocateSettings(mmdb=mmdb, min_confidence=min_confidence, operation=operation, full=full)
    if not console.is_terminal:
        return run(store, settings, actor=actor())
    with console.status("locating", spinner="dots") as status:
        return run(store, settings, actor=actor(), progress=lambda m: status.update(f"locate: {m}"))


def locate_summary(report: LocateReport) -> str:
    """One paragraph of what a locate run did, for the CLI and the pipeline summary."""
    if report.mode == "unchanged":
        head = "Locate: nothing changed since the last run"
    else:
        sources = ", ".join(f"{k} {v:,}" for k, v in sorted(report.claims_by_source.items())) or "none"
        head = f"Locate: {report.records:,} records → {report.claims:,} claims ({sources})"
    ip = (
        f"; IP database {report.mmdb} ({report.ip_lookups:,} lookups)"
        if report.mmdb
        else (
            f"; {report.ips_without_database:,} IP addresses unused (no IP database: --mmdb or {MMDB_ENV})"
            if report.ips_without_database
            else ""
        )
    )
    return (
        f"{head}; {report.subjects:,} subjects: {report.placed:,} placed in {report.countries:,} countries "
        f"({report.placed_high:,} with high confidence, {report.with_region:,} with a region, "
        f"{report.disagreeing:,} with disagreeing evidence, {report.manual:,} by hand), {report.unplaced:,} unplaced "
        f"({report.unplaced_no_evidence:,} without any evidence; see `threadline unplaced`); "
        f"{report.decisions_changed:,} decisions changed{ip}; {report.seconds:.1f} s"
    )


def locate(
    ctx: typer.Context,
    operation: OperationOption = None,
    mmdb: Annotated[
        Path | None,
        typer.Option("--mmdb", help=f"MaxMind-format IP database (.mmdb) [env {MMDB_ENV}].", show_default=False),
    ] = None,
    min_confidence: Annotated[
        float,
        typer.Option("--min-confidence", min=0.0, max=1.0, help="Below this a subject goes to the unplaced queue."),
    ] = DEFAULT_MIN_CONFIDENCE,
    full: Annotated[bool, typer.Option("--full", help="Recompute even when nothing changed.")] = False,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Place every subject in a country (and region) from its records' evidence; the rest go to the unplaced queue."""
    store = store_from(ctx, home, db)
    report = run_locate(store, operation=operation, mmdb=mmdb, min_confidence=min_confidence, full=full)
    if json:
        print_json(report.to_dict())
        return
    console.print(locate_summary(report), markup=False)
    top = list(report.to_dict()["placed_by_country"].items())[:10]
    if top:
        console.print("Most subjects: " + ", ".join(f"{c} {n:,}" for c, n in top), markup=False)


jurisdiction_app = typer.Typer(cls=ThreadlineGroup, no_args_is_help=True)


@jurisdiction_app.command("set")
def jurisdiction_set(
    ctx: typer.Context,
    subject_id: SubjectArgument,
    country: Annotated[str, typer.Argument(help="ISO 3166-1 code or English name.")],
    reason: Annotated[str, typer.Option("--reason", help="Why: kept with the decision and in the audit trail.")],
    region: Annotated[
        str | None, typer.Option("--region", help="ISO 3166-2 code, e.g. DE-BY.", show_default=False)
    ] = None,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Place a subject by hand. Later `threadline locate` runs keep this decision."""
    from threadline.locate import set_jurisdiction

    store = store_from(ctx, home, db)
    with store.session() as session:
        decision = set_jurisdiction(session, subject_id, country, region=region, reason=reason, actor=actor())
        out: dict[str, Any] = {
            "subject_id": subject_id,
            "status": decision.status,
            "country": decision.country,
            "region": decision.region,
            "agency_id": decision.agency_id,
            "decided_by": decision.decided_by,
        }
    if json:
        print_json(out)
        return
    where = str(out["country"]) + (f" ({out['region']})" if out["region"] else "")
    console.print(f"Subject {subject_id} placed in {where} by hand; locate runs will keep this.", markup=False)


@jurisdiction_app.command("clear")
def jurisdiction_clear(
    ctx: typer.Context,
    subject_id: SubjectArgument,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Undo a placement by hand: the subject is decided from its evidence again."""
    from threadline.locate import clear_jurisdiction

    store = store_from(ctx, home, db)
    with store.session() as session:
        decision = clear_jurisdiction(session, subject_id, actor=actor())
        out = {"subject_id": subject_id, "status": decision.status, "country": decision.country}
    if json:
        print_json(out)
        return
    console.print(
        f"Subject {subject_id} is decided from its evidence again: {out['status']}"
        + (f" in {out['country']}" if out["country"] else ""),
        markup=False,
    )


@jurisdiction_app.command("show")
def jurisdiction_show(
    ctx: typer.Context,
    subject_id: SubjectArgument,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """A subject's jurisdiction and every claim with the record it came from. The view is audited."""
    from threadline.core import audit
    from threadline.locate import jurisdiction_view

    store = store_from(ctx, home, db)
    with store.session() as session:
        view = jurisdiction_view(session, subject_id)
        audit.record(session, actor=actor(), action="jurisdiction.view", object_type="subject", object_id=subject_id)
    if json:
        print_json(view)
        return
    print_jurisdiction(view)


def print_jurisdiction(view: dict[str, Any]) -> None:
    """The "Jurisdiction" section of a subject: the decision, then every claim with its record's provenance."""
    decision = view.get("decision")
    console.print("[bold]Jurisdiction[/]", markup=True)
    if decision is None:
        console.print("  not located yet: run `threadline locate`", markup=False)
    elif decision["status"] == "placed":
        region = f", {decision['region']} ({decision['region_name']})" if decision["region"] else ""
        agency = decision["agency"]["name"] if decision["agency"] else "no agency"
        by = f"; placed by hand by {decision['decided_by']}: {decision['reason']}" if decision["decided_by"] else ""
        console.print(
            f"  {decision['country']} ({decision['country_name']}){region}, confidence {decision['confidence']:.3f}"
            f" → {agency}{by}",
            markup=False,
        )
    else:
        console.print(f"  unplaced: {decision['reason']}", markup=False)
    if decision and decision["disagreements"] and decision["status"] == "placed":
        other = ", ".join(f"{d['country']} {d['confidence']:.2f}" for d in decision["disagreements"])
        console.print(f"  disagreeing evidence points to: {other}", markup=False)
    if not view["claims"]:
        return
    table = Table("source", "value", "place", "weight", "record (file:row)", "note")
    for claim in view["claims"]:
        record = claim["record"]
        where = f"{record['record_id']} ({record['file']}:{record['row']})" if record else ""
        table.add_row(
            claim["source"],
            claim["value"],
            claim["country"] + (f" {claim['region']}" if claim["region"] else ""),
            f"{claim['weight']:.2f}",
            where,
            ("ambiguous; " if claim["ambiguous"] else "") + (claim["note"] or ""),
        )
    console.print(table)


def unplaced(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many subjects.")] = 100,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Subjects locate could not place: the coordinator's queue (`threadline jurisdiction set` places one)."""
    from threadline.locate import unplaced_count, unplaced_queue

    store = store_from(ctx, home, db)
    with store.session() as session:
        rows = unplaced_queue(session, limit=limit, actor=actor())
        total = unplaced_count(session)
    if json:
        print_json({"total": total, "subjects": rows})
        return
    if not rows:
        console.print("No unplaced subjects.")
        return
    table = Table("subject", "name", "records", "claims", "best", "reason", title=f"Unplaced: {total:,} subjects")
    for row in rows:
        best = ", ".join(f"{c['country']} {c['confidence']:.2f}" for c in row["candidates"])
        table.add_row(
            str(row["subject_id"]),
            row["name"] or "",
            str(row["records"]),
            str(row["claims"]),
            best,
            row["reason"] or "",
        )
    console.print(table)
    if total > len(rows):
        console.print(f"{total - len(rows):,} more; use --limit to see them.")


routing_app = typer.Typer(cls=ThreadlineGroup, no_args_is_help=True)


@routing_app.command("load")
def routing_load(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Routing rules (YAML).")],
    operation: Annotated[
        str | None,
        typer.Option("--operation", help="The operation the rules are for (default: operations without their own)."),
    ] = None,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Load routing rules: which agency below the national one a lead is sent on to. A bad file changes nothing."""
    from threadline.locate import load_routing

    store = store_from(ctx, home, db)
    with store.session() as session:
        loaded = load_routing(session, file, operation=operation, actor=actor())
    if json:
        print_json(loaded.to_dict())
        return
    if loaded.unchanged:
        console.print(f"Routing rules for {loaded.scope} unchanged (version {loaded.version}).", markup=False)
    else:
        console.print(
            f"Routing rules for {loaded.scope}: version {loaded.version}, {loaded.routes} routes, now in force.",
            markup=False,
        )


@routing_app.command("show")
def routing_show(
    ctx: typer.Context,
    operation: Annotated[str | None, typer.Option("--operation", help="The operation (default: global rules).")] = None,
    country: Annotated[
        str | None, typer.Option("--country", help="Show the hops for this country.", show_default=False)
    ] = None,
    region: Annotated[
        str | None, typer.Option("--region", help="… and this ISO 3166-2 region.", show_default=False)
    ] = None,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """The routing rules in force for an operation, or the hops a lead would take for a country and region."""
    from threadline.core.geo import require_country, require_region
    from threadline.locate import active_routing, route

    store = store_from(ctx, home, db)
    with store.session() as session:
        rules = active_routing(session, operation)
        out: dict[str, Any] = {
            "operation": operation,
            "scope": rules.scope if rules else None,
            "version": rules.version if rules else None,
            "source_path": rules.source_path if rules else None,
            "routes": rules.content.get("routes", []) if rules else [],
        }
        if country:
            code = require_country(country)
            area = require_region(region, code) if region else None
            out["hops"] = [
                {"code": a.code, "name": a.name, "kind": a.kind, "region": a.region}
                for a in route(session, operation, code, area)
            ]
    if json:
        print_json(out)
        return
    if rules is None:
        console.print("No routing rules: every lead goes to the national agency of its country.")
    else:
        console.print(f"Routing rules {out['scope']} v{out['version']} ({out['source_path']}):", markup=False)
        table = Table("line", "country", "region", "agency", "note")
        for r in out["routes"]:
            table.add_row(str(r["line"]), r["country"], r.get("region") or "", r["agency"], r.get("note") or "")
        console.print(table)
    if "hops" in out:
        console.print("Hops: " + " → ".join(f"{h['name']} ({h['code']})" for h in out["hops"]), markup=False)
