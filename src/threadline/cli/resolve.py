"""`threadline resolve`, `threadline subjects show|explain`, `threadline review`."""

from __future__ import annotations

from enum import StrEnum
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


class Engine(StrEnum):
    duckdb = "duckdb"
    spark = "spark"


class Decision(StrEnum):
    same = "same"
    not_same = "not_same"


def run_resolve(
    store: Store, engine: str = "duckdb", threshold: float = 0.9, retrain: bool = False, full: bool = False
) -> Any:
    from threadline.resolve import ResolveSettings, resolve

    settings = ResolveSettings(engine=engine, threshold=threshold, retrain=retrain, full=full)
    with console.status("resolving", spinner="dots") if console.is_terminal else _nothing() as status:

        def say(message: str) -> None:
            if status is not None:
                status.update(f"resolve: {message}")

        return resolve(store, settings, actor=actor(), progress=say)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: object) -> None:
        return None


def resolve_summary(report: Any) -> str:
    return (
        f"Resolve ({report.mode}, {report.engine}, threshold {report.threshold}): {report.records:,} records → "
        f"{report.subjects:,} subjects ({report.singletons:,} alone, {report.insufficient:,} with too little to "
        f"match); {report.blocked_pairs:,} pairs compared, {report.review_queue:,} to review "
        f"(`threadline review`), {report.links:,} links; model v{report.model_version}"
        f"{' (trained now)' if report.trained else ''}; {report.seconds:.1f} s"
    )


def resolve(
    ctx: typer.Context,
    engine: Annotated[Engine, typer.Option("--engine", help="Where Splink runs: duckdb (default) or spark.")] = (
        Engine.duckdb
    ),
    threshold: Annotated[
        float, typer.Option("--threshold", "-t", help="Match probability at which records join a subject.")
    ] = 0.9,
    retrain: Annotated[bool, typer.Option("--retrain", help="Train the model again instead of reusing it.")] = False,
    full: Annotated[bool, typer.Option("--full", help="Compare every record again, not only new ones.")] = False,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Resolve records into subjects (people) with Splink."""
    store = store_from(ctx, home, db)
    report = run_resolve(store, engine.value, threshold, retrain, full)
    if json:
        print_json(report.to_dict())
        return
    console.print(resolve_summary(report))
    if report.skipped_values:
        skipped = ", ".join(f"{k} {v:,}" for k, v in sorted(report.skipped_values.items()))
        console.print(f"Values that could not be used and were skipped: {skipped}")
    shared = {k: v for k, v in report.shared_identifiers.items() if v}
    if shared:
        console.print(
            "Shared identifiers kept out of matching (used by many different names): "
            + ", ".join(f"{k} {v}" for k, v in shared.items())
        )


subjects_app = typer.Typer(cls=ThreadlineGroup, no_args_is_help=True)


@subjects_app.command("show")
def subjects_show(
    ctx: typer.Context,
    subject_id: Annotated[int, typer.Argument(help="Subject id (from `threadline export subjects`).")],
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """A subject's attributes and member records with provenance (file, row). The view is audited."""
    from threadline.cli.locate import print_jurisdiction
    from threadline.cli.rank import print_ranking
    from threadline.locate import jurisdiction_view
    from threadline.rank import assessment_view
    from threadline.resolve.review import subject_view

    store = store_from(ctx, home, db)
    with store.session() as session:
        view = subject_view(session, subject_id, actor=actor())
        view["jurisdiction"] = jurisdiction_view(session, subject_id)
        view["ranking"] = assessment_view(session, subject_id)
    if json:
        print_json(view)
        return
    console.print(
        f"[bold]Subject {view['subject_id']}[/] ({view['status']}{', insufficient' if view['insufficient'] else ''})",
        markup=True,
    )
    if view["merged_into"]:
        console.print(f"merged into subject {view['merged_into']}")
    for key, value in view["attributes"].items():
        console.print(f"  {key}: {value}", markup=False)
    for kind, values in view["identifiers"].items():
        console.print(f"  {kind}: {', '.join(values)}", markup=False)
    table = Table("record", "type", "file", "row", "locator", "probability", "name", "e-mail", "date of birth")
    for m in view["members"]:
        p = m["match_probability"]
        table.add_row(
            str(m["record_id"]),
            m["record_type"],
            m["file"],
            str(m["row"]),
            m["locator"],
            "" if p is None else f"{p:.3f}",
            str(m.get("full_name") or ""),
            "; ".join(m.get("email") or []) if isinstance(m.get("email"), list) else str(m.get("email") or ""),
            str(m.get("date_of_birth") or ""),
        )
    console.print(table)
    print_jurisdiction(view["jurisdiction"])
    print_ranking(view["ranking"])


@subjects_app.command("explain")
def subjects_explain(
    ctx: typer.Context,
    record_a: Annotated[int, typer.Argument(help="First record id.")],
    record_b: Annotated[int, typer.Argument(help="Second record id.")],
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """How each comparison moves the match weight of two records (Splink's waterfall, as text)."""
    from threadline.core import audit
    from threadline.resolve.review import explain

    store = store_from(ctx, home, db)
    with store.session() as session:
        result = explain(session, record_a, record_b)
        audit.record(
            session,
            actor=actor(),
            action="resolve.explain",
            object_type="record_pair",
            object_id=f"{record_a},{record_b}",
        )
    if json:
        print_json(result.to_dict())
        return
    table = Table("comparison", "level", "record " + str(record_a), "record " + str(record_b), "weight", "running")
    running = 0.0
    for step in result.steps:
        weight = step["match_weight"] or 0.0
        if step["comparison"] == "Final score":
            continue
        if step["comparison"].startswith("tf_") and not weight:
            continue
        running += weight
        table.add_row(
            step["comparison"],
            str(step["level"]),
            str(step["left"] or ""),
            str(step["right"] or ""),
            f"{weight:+.2f}",
            f"{running:+.2f}",
        )
    console.print(table)
    console.print(f"Match weight {result.match_weight:+.2f} → probability {result.match_probability:.4f}")


def review(
    ctx: typer.Context,
    decide: Annotated[
        tuple[int, int, Decision] | None,
        typer.Option("--decide", help="Record a judgement without prompting: RECORD_A RECORD_B same|not_same."),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many pairs in one session.")] = 20,
    note: Annotated[str | None, typer.Option(help="A note stored with the judgement.")] = None,
    home: HomeOption = None,
    db: DbOption = None,
    json: JsonOption = False,
) -> None:
    """Review uncertain pairs side by side: same / not same / skip. Decisions are obeyed by the next resolve."""
    from threadline.resolve.review import judge, next_pairs, record_view, skip

    store = store_from(ctx, home, db)
    if decide is not None:
        a, b, decision = decide
        with store.session() as session:
            judgement = judge(session, a, b, decision.value, actor=actor(), note=note)
            out = {"judgement_id": judgement.id, "record_a": a, "record_b": b, "decision": decision.value}
        if json:
            print_json(out)
        else:
            console.print(
                f"Judgement {out['judgement_id']}: records {a} and {b} are {decision.value.replace('_', ' ')}"
                "; run `threadline resolve` to apply it"
            )
        return
    with store.session() as session:
        pairs = [(p.id, p.record_a_id, p.record_b_id, p.match_probability) for p in next_pairs(session, limit)]
    if json:
        print_json([{"pair_id": i, "record_a": a, "record_b": b, "match_probability": p} for i, a, b, p in pairs])
        return
    if not pairs:
        console.print("Nothing to review.")
        return
    decided = 0
    for pair_id, a, b, p in pairs:
        with store.session() as session:
            left, right = record_view(session, a), record_view(session, b)
            from threadline.core import audit

            audit.record(
                session, actor=actor(), action="resolve.review_view", object_type="review_pair", object_id=pair_id
            )
        table = Table("", f"record {a}", f"record {b}", title=f"Pair {pair_id}: match probability {p:.3f}")
        for key in sorted(set(left) | set(right), key=lambda k: (k not in ("file", "row", "record_type"), k)):
            if key in ("record_id",):
                continue
            table.add_row(key, _shown(left.get(key)), _shown(right.get(key)))
        console.print(table)
        answer = typer.prompt("same (s) / not same (n) / skip (k) / quit (q)", default="k").strip().lower()
        if answer in ("q", "quit"):
            break
        with store.session() as session:
            if answer in ("s", "same"):
                judge(session, a, b, "same", actor=actor(), note=note)
                decided += 1
            elif answer in ("n", "not same", "not_same"):
                judge(session, a, b, "not_same", actor=actor(), note=note)
                decided += 1
            elif answer in ("k", "skip"):
                skip(session, pair_id)
            else:
                raise InputError(f"answer {answer!r}: type s, n, k or q")
    console.print(f"{decided} judgements recorded; run `threadline resolve` to apply them")


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)
