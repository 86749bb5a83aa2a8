"""`threadline rank` and `threadline rules show|export|load|history`: risk ranking by versioned rules."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
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
from threadline.core.errors import InputError
from threadline.model import TIER_LABELS, TIERS

OperationOption = Annotated[
    str | None,
    typer.Option("--operation", help="An operation's name: its subjects, ranked by its own rules if it has them."),
]


@contextmanager
def _status(label: str) -> Iterator[Any]:
    if not console.is_terminal:
        yield lambda _message: None
        return
    with console.status(label, spinner="dots") as status:
        yield lambda message: status.update(f"{label}: {message}")


def run_rank(store: Store, rules: Path | None = None, operation: str | None = None, as_of: date | None = None) -> Any:
    """Rank every active subject (the pipeline and the CLI both call this)."""
    from threadline.rank import RankSettings, rank

    with _status("ranking") as say:
        return rank(store, RankSettings(rules=rules, operation=operation, as_of=as_of), actor=actor(), progress=say)


def rank_summary(report: Any) -> str:
    tiers = ", ".join(f"{TIER_LABELS[t]} {report.tiers.get(t, 0):,}" for t in TIERS)
    fired = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in report.factors.items()) or "none"
    line = (
        f"Rank ({'operation ' + repr(report.operation) if report.operation else 'all subjects'}, rules "
        f"{report.rules_scope} v{report.rules_version}{', just loaded' if report.rules_loaded else ''}): "
        f"{report.subjects:,} subjects → {tiers}; factors fired: {fired}; "
        f"{report.lifted_by_floor:,} lifted by a floor; {report.media_linked:,} media items linked to subjects"
        f"{f' ({report.media_ambiguous:,} to several)' if report.media_ambiguous else ''}; "
        f"as of {report.as_of or '-'}; {report.seconds:.1f} s"
    )
    if report.unconverted_currencies:
        missing = ", ".join(f"{k or '?'} {v:,}" for k, v in report.unconverted_currencies.items())
        line += f". Amounts not counted (no exchange rate in the rules): {missing}"
    return line


def _as_of(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"--as-of {value!r} is not a date like 2013-12-31") from None


def rank(
    ctx: typer.Context,
    rules: Annotated[
        Path | None, typer.Option("--rules", help="Load this rules file first (validated; see `threadline rules`).")
    ] = None,
    operation: OperationOption = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="'Now' for recency (YYYY-MM-DD); default: the latest activity.")
    ] = None,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Rank every active subject: a tier and score from the rules, each factor with its evidence."""
    store = store_from(ctx, home, db)
    report = run_rank(store, rules, operation, _as_of(as_of))
    if json:
        print_json(report.to_dict())
        return
    console.print(rank_summary(report), markup=False)


def print_ranking(ranking: dict[str, Any] | None) -> None:
    """The "Ranking" section of `threadline subjects show`."""
    if ranking is None:
        console.print("Ranking: not ranked yet (`threadline rank`)")
        return
    rules = ranking["rules"]
    console.print(
        f"[bold]Ranking[/]: {ranking['tier_label']}, score {ranking['score']:g} "
        f"(rules {rules['scope']} v{rules['version']}, {ranking['assessed_at'][:19]})",
        markup=True,
    )
    if not ranking["factors"]:
        console.print("  no factor fired")
    for factor in ranking["factors"]:
        floor = f", at least {TIER_LABELS.get(factor['floor'], factor['floor'])}" if factor.get("floor") else ""
        console.print(f"  {factor['label']}: +{factor['points']:g}{floor} — {factor['detail']}", markup=False)
        table = Table("evidence", "file / media", "row", "what", box=None, pad_edge=False, padding=(0, 2))
        for ev in factor["evidence"]:
            if "record_id" in ev:
                table.add_row(
                    f"record {ev['record_id']}", str(ev.get("file") or ""), str(ev.get("row") or ""), ev["text"]
                )
            else:
                table.add_row(f"media {ev.get('media_item_id')}", str(ev.get("path") or ""), "", ev["text"])
        more = factor["evidence_total"] - len(factor["evidence"])
        if more > 0:
            table.add_row("", f"… and {more:,} more", "", "")
        console.print(table)


rules_app = typer.Typer(cls=ThreadlineGroup, no_args_is_help=True)


@rules_app.command("show")
def rules_show(
    ctx: typer.Context,
    operation: OperationOption = None,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """The rank rules in force (the operation's own, else the global ones, else the shipped default)."""
    from threadline.rank import shown_rules

    store = store_from(ctx, home, db)
    with store.session() as session:
        rule_set, text = shown_rules(session, operation)
        header = _describe(rule_set)
    if json:
        print_json({**header, "text": text})
        return
    # Plain text, never wrapped: what is shown must load back unchanged.
    typer.echo(f"# {header['description']}")
    typer.echo(text, nl=False)


def _describe(rule_set: Any) -> dict[str, Any]:
    if rule_set is None:
        return {"scope": "global", "version": None, "sha256": None, "description": "shipped default (not loaded yet)"}
    from threadline.rank import default_rules_text, parse_rules

    newer = ""
    if rule_set.source_path is None and parse_rules(default_rules_text()).sha256 != rule_set.sha256:
        newer = "; this installation ships newer default rules (`threadline rules export --default -o FILE`)"
    return {
        "scope": rule_set.scope,
        "version": rule_set.version,
        "sha256": rule_set.sha256,
        "description": f"rules {rule_set.scope} v{rule_set.version}, sha256 {rule_set.sha256}, "
        f"loaded by {rule_set.actor} {rule_set.created_at:%Y-%m-%d %H:%M} UTC from {rule_set.source_path or 'default'}"
        + newer,
    }


@rules_app.command("export")
def rules_export(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write the rules to (YAML).")],
    operation: OperationOption = None,
    default: Annotated[
        bool, typer.Option("--default", help="Write the rules this installation ships instead of those in force.")
    ] = False,
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """Write the rules in force to a file to review or edit, then `threadline rules load` it."""
    from threadline.core import audit
    from threadline.rank import default_rules_text, shown_rules

    store = store_from(ctx, home, db)
    with store.session() as session:
        rule_set, text = (None, default_rules_text()) if default else shown_rules(session, operation)
        header = _describe(rule_set)
        audit.record(session, actor=actor(), action="rules.export", object_type="rule_set", object_id=header["version"])
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write the rules: {exc.strerror or exc}", file=output) from None
    what = "the shipped default rules" if default else header["description"]
    console.print(f"Wrote {what} to {output}", markup=False)


@rules_app.command("load")
def rules_load(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A rules file (YAML), e.g. from `threadline rules export`.")],
    operation: OperationOption = None,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Validate a rules file and make it the rules in force (a new version). A refused file changes nothing."""
    from threadline.rank import load_rules

    store = store_from(ctx, home, db)
    with store.session() as session:
        result = load_rules(session, file, operation=operation, actor=actor())
        out = result.to_dict()
    if json:
        print_json(out)
        return
    if out["created"]:
        console.print(f"Loaded {file} as rules {out['scope']} v{out['version']} (sha256 {out['sha256']})", markup=False)
    else:
        console.print(f"{file} is already rules {out['scope']} v{out['version']}; nothing changed", markup=False)
    console.print("Run `threadline rank` to rank with them.")


@rules_app.command("history")
def rules_history(
    ctx: typer.Context,
    operation: OperationOption = None,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Every version of the rank rules loaded (for the operation, or global), oldest first."""
    from threadline.rank import history

    store = store_from(ctx, home, db)
    with store.session() as session:
        rows: list[dict[str, Any]] = [
            {
                "version": r.version,
                "active": r.active,
                "sha256": r.sha256,
                "source_path": r.source_path,
                "actor": r.actor,
                "created_at": r.created_at.isoformat(),
            }
            for r in history(session, operation)
        ]
    if json:
        print_json(rows)
        return
    if not rows:
        console.print("No rules loaded yet: rank uses the shipped default (`threadline rules show`).")
        return
    table = Table("version", "active", "sha256", "from", "by", "loaded")
    for r in rows:
        table.add_row(
            str(r["version"]),
            "yes" if r["active"] else "",
            r["sha256"][:16],
            r["source_path"] or "default",
            r["actor"],
            r["created_at"][:19],
        )
    console.print(table)
