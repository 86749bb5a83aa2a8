"""The rank stage: one `RiskAssessment` per active subject, written in one transaction.

Reading and scoring happen before the write transaction opens; the write replaces the scope's assessments at once
(and sets the owners of media it linked), so an interrupted run leaves the previous ranking whole. The same
inputs and rules always give the same assessments: "now" for recency is the latest activity in the data (or
`as_of`), never the wall clock."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from threadline.core import audit
from threadline.core.bulk import bound, collector_paused, insert_tuples
from threadline.core.db import Store, json_dumps
from threadline.model import TIERS, MediaItem, RiskAssessment, StageRun, Subject, utcnow
from threadline.rank import gather
from threadline.rank.rules import compiled, load_rules, rules_in_force
from threadline.rank.score import Partial, Scorer, finish

Progress = Callable[[str], None]


@dataclass
class RankSettings:
    rules: Path | None = None  # load this rules file first (validated; refused files change nothing)
    operation: str | None = None  # rank the subjects of one operation, with its own rules if it has them
    as_of: date | None = None  # "now" for recency; default: the latest activity in the data


@dataclass
class RankReport:
    operation: str | None = None
    subjects: int = 0
    tiers: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TIERS, 0))
    factors: dict[str, int] = field(default_factory=dict)
    lifted_by_floor: int = 0
    removed: int = 0
    media_linked: int = 0
    media_owners_set: int = 0
    media_ambiguous: int = 0
    unconverted_currencies: dict[str, int] = field(default_factory=dict)
    as_of: str | None = None
    rules_version: int | None = None
    rules_scope: str | None = None
    rules_sha256: str | None = None
    rules_loaded: bool = False
    run_id: int | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["seconds"] = round(self.seconds, 2)
        return out


@dataclass
class _Ranked:
    subject_id: int
    tier: str
    score: float
    factors: list[dict[str, Any]]
    summary: str


def rank(
    store: Store,
    settings: RankSettings | None = None,
    *,
    actor: str = "system",
    progress: Progress | None = None,
) -> RankReport:
    """Rank every active subject (of the operation, when one is named) by the rules in force."""
    settings = settings or RankSettings()
    started = time.perf_counter()
    say = progress or (lambda _message: None)
    report = RankReport(operation=settings.operation)

    with store.session() as session:
        if settings.rules is not None:
            loaded = load_rules(session, settings.rules, operation=settings.operation, actor=actor)
            report.rules_loaded = loaded.created
        rule_set = rules_in_force(session, settings.operation, actor=actor)
        rules = compiled(rule_set)
        report.rules_version, report.rules_scope, report.rules_sha256 = (
            rule_set.version,
            rule_set.scope,
            rule_set.sha256,
        )
        run = StageRun(
            stage="rank",
            status="running",
            inputs={"rules_version": rule_set.version, "rules_scope": rule_set.scope, "rules_sha256": rule_set.sha256},
            actor=actor,
        )
        session.add(run)
        session.flush()
        run_id, rule_set_id = run.id, rule_set.id
    report.run_id = run_id

    try:
        say("reading subjects and media")
        with store.session() as session, collector_paused():
            ctx = gather.load_context(session, settings.operation)
            gather.link_media(session, ctx, rules.production.upload_folders)
            gather.find_sightings(session, ctx, rules.earlier.identifiers, rules.earlier.max_shared)
            scorer = Scorer(rules, ctx)
            partials: list[Partial] = []
            read: dict[tuple[int, str], gather.Record | None] = {}
            for n, chunk in enumerate(gather.chunks(ctx.subject_ids)):
                say(f"scoring subjects {n * gather.CHUNK + 1:,}-{n * gather.CHUNK + len(chunk):,}")
                records = gather.member_records(session, chunk)
                messages = gather.messages_for(session, records, read)
                partials.extend(scorer.partial(s, records.get(s, []), messages) for s in chunk)
        as_of = settings.as_of or max((p.last_activity for p in partials if p.last_activity), default=None)
        report.as_of = as_of.isoformat() if as_of else None
        ranked = []
        factor_counts: Counter[str] = Counter()
        for partial in partials:
            tier, score, factors, summary, lifted = finish(rules, partial, as_of)
            ranked.append(_Ranked(partial.subject_id, tier, score, [f.to_dict() for f in factors], summary))
            report.tiers[tier] += 1
            report.lifted_by_floor += int(lifted)
            factor_counts.update(f.factor for f in factors)
        report.factors = dict(sorted(factor_counts.items()))
        report.subjects = len(ranked)
        report.media_linked = len({m.id for media in ctx.media.values() for m in media})
        report.media_owners_set = len(ctx.owners)
        report.media_ambiguous = ctx.ambiguous_media
        report.unconverted_currencies = dict(sorted(scorer.unconverted.items()))

        say("writing assessments")
        with store.session() as session:
            report.removed = _write(session, ranked, ctx, rule_set_id, run_id, settings.operation is None)
            report.seconds = time.perf_counter() - started
            done = session.get(StageRun, run_id)
            assert done is not None
            done.status, done.report, done.finished_at = "done", report.to_dict(), utcnow()
            done.inputs = {**done.inputs, "subjects": report.subjects, "as_of": report.as_of}
            if ctx.operation_id is not None:
                done.operation_id = ctx.operation_id
            audit.record(
                session,
                actor=actor,
                action="rank.run",
                object_type="stage_run",
                object_id=run_id,
                details={k: report.to_dict()[k] for k in ("operation", "subjects", "tiers", "rules_version", "as_of")},
            )
    except BaseException as exc:
        with store.session() as session:
            failed = session.get(StageRun, run_id)
            if failed is not None:
                failed.status, failed.error, failed.finished_at = "failed", str(exc)[:2000], utcnow()
        raise
    return report


def _write(
    session: Session, ranked: list[_Ranked], ctx: gather.Context, rule_set_id: int, run_id: int, everything: bool
) -> int:
    """Replace the scope's assessments (and, in a full run, drop those of subjects no longer active).
    Returns how many subjects lost their assessment (retired, merged or emptied since the last run)."""
    existing = set(session.scalars(select(RiskAssessment.subject_id)))
    if everything:
        stale = existing
    else:
        inactive = set(session.scalars(select(Subject.id).where(Subject.status != "active")))
        stale = existing & (set(ctx.subject_ids) | inactive)
    for chunk in gather.chunks(sorted(stale), 5000):
        session.execute(delete(RiskAssessment).where(RiskAssessment.subject_id.in_(chunk)))
    # Tuples to the driver's executemany (factors as JSON text, the timestamp bound as SQLAlchemy would).
    now = bound(session, RiskAssessment.__table__.c.assessed_at, utcnow())
    columns = ("subject_id", "rule_set_id", "tier", "score", "factors", "summary", "run_id", "assessed_at")
    rows = [(r.subject_id, rule_set_id, r.tier, r.score, json_dumps(r.factors), r.summary, run_id, now) for r in ranked]
    for start in range(0, len(rows), 5000):
        insert_tuples(session, RiskAssessment.__tablename__, columns, rows[start : start + 5000])
    if ctx.owners:
        session.execute(
            update(MediaItem),
            [{"id": item, "owner_subject_id": owner} for item, owner in sorted(ctx.owners.items())],
        )
    return len(stale - {r.subject_id for r in ranked})
