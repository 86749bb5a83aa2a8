"""Run the stages in order, skip the ones whose inputs have not changed since they last finished, and report.

Each stage's run is a `StageRun` row (stage "run.<name>") holding a fingerprint of what the stage reads. A stage is
skipped when its last finished run saw the same fingerprint; a stage that crashed left a "running" or "failed" row,
so the next run does it again. Every stage is idempotent on its own (ingest resumes from its checkpoint, scan skips
unchanged files, resolve recognises unchanged records), so rerunning a stage is always safe; skipping only saves time.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threadline.core import audit
from threadline.core.bulk import refresh_statistics
from threadline.core.db import Store
from threadline.core.errors import InputError
from threadline.model import (
    AgencyKey,
    HashSet,
    Judgement,
    Lead,
    MediaItem,
    MediaVerdict,
    ResolveRun,
    RiskAssessment,
    RuleSet,
    SourceRecord,
    StageRun,
    Subject,
    SubjectJurisdiction,
    utcnow,
)

Say = Callable[[str, str], None]


@dataclass
class PipelineOptions:
    directory: Path
    mapping: Path | None = None
    operation: str = "default"
    from_stage: str | None = None
    until_stage: str | None = None
    force: bool = False
    engine: str = "duckdb"
    threshold: float = 0.9
    distance: int = 31
    quality: int = 50
    known: tuple[Path, ...] = ()
    mmdb: Path | None = None
    min_confidence: float | None = None
    rules: Path | None = None
    originator: str | None = None
    handling: str = "H0"
    out: Path | None = None


@dataclass
class StageOutcome:
    stage: str
    status: str  # ran | skipped | failed
    seconds: float = 0.0
    reason: str | None = None
    report: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "status": self.status,
            "seconds": round(self.seconds, 2),
            "reason": self.reason,
            "report": self.report,
        }


@dataclass
class PipelineReport:
    operation: str
    directory: str
    stages: list[StageOutcome] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def outcome(self, stage: str) -> StageOutcome | None:
        return next((s for s in self.stages if s.stage == stage), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "directory": self.directory,
            "seconds": round(self.seconds, 2),
            "stages": [s.to_dict() for s in self.stages],
            "summary": self.summary,
        }


@dataclass
class Stage:
    name: str
    fingerprint: Callable[[Store, PipelineOptions], dict[str, Any]]
    execute: Callable[[Store, PipelineOptions, str, Callable[[str], None]], Any]


def _listing(directory: Path) -> str:
    """A digest of every file's path, size and modification time under the seizure folder."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            try:
                st = path.stat()
            except OSError:
                continue
            digest.update(f"{path.relative_to(directory)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _file_digest(path: Path | None) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path is not None and path.is_file() else None


def _scalar(session: Session, statement: Any) -> Any:
    value = session.scalar(statement)
    return value.isoformat() if hasattr(value, "isoformat") else value


# --- ingest -------------------------------------------------------------------------------------------------------


def _ingest_fingerprint(store: Store, options: PipelineOptions) -> dict[str, Any]:
    return {
        "directory": str(options.directory.resolve()),
        "files": _listing(options.directory),
        "mapping": _file_digest(options.mapping),
        "operation": options.operation,
    }


def _ingest(store: Store, options: PipelineOptions, actor: str, say: Callable[[str], None]) -> Any:
    from threadline.ingest.pipeline import ingest

    return ingest(
        store,
        options.directory,
        mapping_path=options.mapping,
        operation=options.operation,
        actor=actor,
        progress=lambda path, rows: say(f"{path}: {rows:,} rows"),
    )


# --- media --------------------------------------------------------------------------------------------------------


def _active_sets(session: Session) -> list[list[Any]]:
    rows = session.execute(select(HashSet.name, HashSet.version).where(HashSet.status == "active")).all()
    return sorted([name, version] for name, version in rows)


def _media_fingerprint(store: Store, options: PipelineOptions) -> dict[str, Any]:
    with store.session() as session:
        return {
            "files": _listing(options.directory),
            "known": [_file_digest(p) for p in options.known],
            "sets": _active_sets(session),
            "listed": _scalar(session, select(func.count()).select_from(MediaItem).where(MediaItem.origin == "list")),
            "distance": options.distance,
            "quality": options.quality,
        }


def _media(store: Store, options: PipelineOptions, actor: str, say: Callable[[str], None]) -> Any:
    from threadline.media import import_hashes, scan, triage

    imported = [import_hashes(store, path, actor=actor).to_dict() for path in options.known]
    scanned = scan(
        store,
        options.directory,
        operation=options.operation,
        actor=actor,
        only_media=True,
        progress=lambda done, total, _bytes: say(f"hashing {done:,}/{total:,} files"),
    )
    say("triage against the known-hash sets")
    triaged = triage(store, max_distance=options.distance, min_quality=options.quality, actor=actor)
    return {"imported": imported, "scan": scanned.to_dict(), "triage": triaged.to_dict()}


# --- resolve ------------------------------------------------------------------------------------------------------


def _resolve_fingerprint(store: Store, options: PipelineOptions) -> dict[str, Any]:
    with store.session() as session:
        return {
            "records": _scalar(session, select(func.count()).select_from(SourceRecord)),
            "last_record": _scalar(session, select(func.max(SourceRecord.id))),
            "judgements": _scalar(session, select(func.max(Judgement.id))),
            "engine": options.engine,
            "threshold": options.threshold,
        }


def _resolve(store: Store, options: PipelineOptions, actor: str, say: Callable[[str], None]) -> Any:
    from threadline.resolve import ResolveSettings, resolve

    settings = ResolveSettings(engine=options.engine, threshold=options.threshold)
    return resolve(store, settings, actor=actor, progress=say)


def _downstream_of_resolve(session: Session) -> dict[str, Any]:
    """What every stage after resolve reads: the subjects (as of the last resolve run) and the media verdicts."""
    return {
        "resolve_run": _scalar(session, select(func.max(ResolveRun.id))),
        "subjects": _scalar(session, select(func.count()).select_from(Subject).where(Subject.status == "active")),
        "verdicts": _scalar(session, select(func.max(MediaVerdict.decided_at))),
    }


def _rules(session: Session, kind: str) -> list[int]:
    return sorted(session.scalars(select(RuleSet.id).where(RuleSet.kind == kind, RuleSet.active.is_(True))).all())


# --- locate -------------------------------------------------------------------------------------------------------


def _locate_fingerprint(store: Store, options: PipelineOptions) -> dict[str, Any]:
    from threadline.locate.ipgeo import mmdb_path

    mmdb = mmdb_path(options.mmdb)
    with store.session() as session:
        return {
            **_downstream_of_resolve(session),
            "mmdb": [str(mmdb), mmdb.stat().st_mtime_ns] if mmdb is not None and mmdb.exists() else None,
            "routing": _rules(session, "routing"),
            "min_confidence": options.min_confidence,
        }


def _locate(store: Store, options: PipelineOptions, actor: str, say: Callable[[str], None]) -> Any:
    from threadline.locate import LocateSettings, locate
    from threadline.locate.decide import DEFAULT_MIN_CONFIDENCE

    confidence = DEFAULT_MIN_CONFIDENCE if options.min_confidence is None else options.min_confidence
    settings = LocateSettings(mmdb=options.mmdb, min_confidence=confidence)
    return locate(store, settings, actor=actor, progress=say)


# --- rank ---------------------------------------------------------------------------------------------------------


def _rank_fingerprint(store: Store, options: PipelineOptions) -> dict[str, Any]:
    with store.session() as session:
        return {
            **_downstream_of_resolve(session),
            "rules_file": _file_digest(options.rules),
            "rules": _rules(session, "rank"),
        }


def _rank(store: Store, options: PipelineOptions, actor: str, say: Callable[[str], None]) -> Any:
    from threadline.rank import RankSettings, rank

    return rank(store, RankSettings(rules=options.rules), actor=actor, progress=say)


# --- refer --------------------------------------------------------------------------------------------------------


def _refer_fingerprint(store: Store, options: PipelineOptions) -> dict[str, Any]:
    with store.session() as session:
        return {
            "assessed": _scalar(session, select(func.max(RiskAssessment.assessed_at))),
            "placed": _scalar(session, select(func.max(SubjectJurisdiction.decided_at))),
            "keys": _scalar(session, select(func.max(AgencyKey.id))),
            "leads": _scalar(session, select(func.count()).select_from(Lead)),
            "unsent": _scalar(session, select(func.count()).select_from(Lead).where(Lead.status == "created")),
            "operation": options.operation,
            "originator": options.originator,
            "handling": options.handling,
        }


def _refer(store: Store, options: PipelineOptions, actor: str, say: Callable[[str], None]) -> Any:
    from threadline.refer import ReferSettings, refer

    say("writing leads and referral packages")
    settings = ReferSettings(
        operation=options.operation,
        out=options.out,
        handling=options.handling,
        originator=options.originator,
        actor=actor,
    )
    return refer(store, settings)


STAGE_LIST: list[Stage] = [
    Stage("ingest", _ingest_fingerprint, _ingest),
    Stage("media", _media_fingerprint, _media),
    Stage("resolve", _resolve_fingerprint, _resolve),
    Stage("locate", _locate_fingerprint, _locate),
    Stage("rank", _rank_fingerprint, _rank),
    Stage("refer", _refer_fingerprint, _refer),
]
STAGES = tuple(s.name for s in STAGE_LIST)


def _selected(options: PipelineOptions) -> list[Stage]:
    names = list(STAGES)
    for option, value in (("--from", options.from_stage), ("--until", options.until_stage)):
        if value is not None and value not in names:
            raise InputError(f"{option} {value}: unknown stage; the stages are {', '.join(names)}")
    start = names.index(options.from_stage) if options.from_stage else 0
    end = names.index(options.until_stage) if options.until_stage else len(names) - 1
    if start > end:
        raise InputError(f"--from {options.from_stage} comes after --until {options.until_stage}")
    return STAGE_LIST[start : end + 1]


def _canonical(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _last_done(session: Session, stage: str) -> StageRun | None:
    return session.scalars(
        select(StageRun)
        .where(StageRun.stage == f"run.{stage}", StageRun.status == "done")
        .order_by(StageRun.id.desc())
        .limit(1)
    ).first()


def _report_dict(result: Any) -> dict[str, Any]:
    if hasattr(result, "to_dict"):
        return dict(result.to_dict())
    return dict(result)


def run_pipeline(
    store: Store,
    options: PipelineOptions,
    *,
    actor: str = "system",
    progress: Say | None = None,
) -> PipelineReport:
    """Run the selected stages in order; stop at the first failure (recorded, then raised)."""
    if not options.directory.is_dir():
        raise InputError("is not a folder: give the folder holding the seized files", file=options.directory)
    started = time.monotonic()
    report = PipelineReport(operation=options.operation, directory=str(options.directory))
    say_stage: Say = progress or (lambda _stage, _message: None)
    for stage in _selected(options):
        say_stage(stage.name, "checking what changed")
        inputs = stage.fingerprint(store, options)
        with store.session() as session:
            last = _last_done(session, stage.name)
            if last is not None and not options.force and _canonical(last.inputs) == _canonical(inputs):
                report.stages.append(
                    StageOutcome(stage.name, "skipped", reason=f"inputs unchanged since run {last.id}")
                )
                continue
            run = StageRun(
                stage=f"run.{stage.name}",
                status="running",
                inputs=inputs,
                report={},
                actor=actor,
                started_at=utcnow(),
            )
            session.add(run)
            session.flush()
            run_id = run.id
        began = time.monotonic()

        def say(message: str, name: str = stage.name) -> None:
            say_stage(name, message)

        try:
            result = stage.execute(store, options, actor, say)
            refresh_statistics(store)
        except BaseException as exc:
            with store.session() as session:
                failed = session.get(StageRun, run_id)
                if failed is not None:
                    failed.status = "failed"
                    failed.error = str(exc)[:2000] or type(exc).__name__
                    failed.finished_at = utcnow()
            raise
        outcome = StageOutcome(stage.name, "ran", seconds=time.monotonic() - began, report=_report_dict(result))
        # The inputs as the stage left them (the media stage imports the known sets it then reads).
        inputs = stage.fingerprint(store, options)
        with store.session() as session:
            done = session.get(StageRun, run_id)
            if done is not None:
                done.status = "done"
                done.inputs = inputs
                done.report = outcome.report
                done.finished_at = utcnow()
        report.stages.append(outcome)
    with store.session() as session:
        report.summary = summarise(session, options.operation)
        report.seconds = time.monotonic() - started
        audit.record(
            session,
            actor=actor,
            action="pipeline.run",
            object_type="operation",
            object_id=options.operation,
            details={
                "directory": str(options.directory),
                "stages": {s.stage: s.status for s in report.stages},
                "seconds": round(report.seconds, 1),
            },
        )
    return report


def summarise(session: Session, operation: str | None = None) -> dict[str, Any]:
    """The numbers an analyst wants at the end of a run, read from the store (not from the stage reports), so a
    run that skipped every stage still prints the truth."""
    from threadline.model import Operation, ReferralPackage

    verdicts = dict(session.execute(select(MediaVerdict.verdict, func.count()).group_by(MediaVerdict.verdict)).all())
    placement = dict(
        session.execute(
            select(SubjectJurisdiction.status, func.count())
            .join(Subject, Subject.id == SubjectJurisdiction.subject_id)
            .where(Subject.status == "active")
            .group_by(SubjectJurisdiction.status)
        ).all()
    )
    leads = select(Lead).where(Lead.direction == "outgoing", Lead.parent_id.is_(None))
    op = session.scalar(select(Operation).where(Operation.name == operation)) if operation else None
    if op is not None:
        leads = leads.where(Lead.operation_id == op.id)
    sub = leads.subquery()
    by_tier: dict[str, int] = dict(session.execute(select(sub.c.tier, func.count()).group_by(sub.c.tier)).all())
    by_country: dict[str | None, int] = dict(
        session.execute(
            select(sub.c.country, func.count()).group_by(sub.c.country).order_by(func.count().desc(), sub.c.country)
        ).all()
    )
    packages = select(func.count()).select_from(ReferralPackage).where(ReferralPackage.direction == "outgoing")
    if op is not None:
        packages = packages.where(ReferralPackage.operation_id == op.id)
    return {
        "records": _scalar(session, select(func.count()).select_from(SourceRecord)),
        "subjects": _scalar(session, select(func.count()).select_from(Subject).where(Subject.status == "active")),
        "placed": placement.get("placed", 0),
        "unplaced": placement.get("unplaced", 0),
        "leads_by_tier": {tier: by_tier[tier] for tier in ("very_high", "high", "medium", "low") if tier in by_tier},
        "leads_by_country": {str(k): v for k, v in by_country.items()},
        "packages": _scalar(session, packages),
        "media_items": _scalar(session, select(func.count()).select_from(MediaItem)),
        "media_verdicts": verdicts,
    }
