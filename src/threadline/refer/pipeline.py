"""The refer stage: a lead per placed, ranked subject and destination agency; a package per agency.

`refer(store, settings)` works in two steps, each committed on its own so a rerun picks up where one stopped:

1. Leads. For every active subject of the operation that locate placed and rank assessed, the route (national →
   regional → local, from locate's `route()`, else the subject's national agency) gives the destination: the first
   agency. A lead to it is created once per subject, agency and operation; the rest of the route travels with the
   lead (`subject_snapshot["route"]`) so the receiving agency can forward it on. Unplaced, unlocated and unranked
   subjects get no lead and are counted.
2. Packages. Every agency with leads not yet sent gets one package with all of them (`package.write_package`),
   each in its own transaction; an agency without an age key here gets none and is listed in the report, and
   its leads wait, unsent, for the next run.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import uuid
from collections import Counter, deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from threadline.core import audit
from threadline.core.bulk import refresh_statistics
from threadline.core.db import Store
from threadline.core.errors import ConflictError, InputError, NotFoundError
from threadline.directory import find_agency, national_agency
from threadline.locate import route as locate_route
from threadline.model import (
    HANDLING_CODES,
    TIERS,
    Agency,
    Lead,
    Operation,
    RiskAssessment,
    Seizure,
    SourceFile,
    SourceRecord,
    Subject,
    SubjectJurisdiction,
    SubjectMember,
    utcnow,
)
from threadline.refer.clocks import agency_clocks
from threadline.refer.events import create_leads_bulk
from threadline.refer.keys import age_recipients, signing_key
from threadline.refer.package import (
    PreparedPackage,
    SealedPackage,
    WrittenPackage,
    agency_ref,
    finish_package,
    prepare_package,
    seal_package,
)

BATCH = 2000
PARALLEL_MIN_LEADS = 2000  # below this, starting worker processes costs more than it saves


@dataclass(frozen=True)
class ReferSettings:
    """What `refer` does. `operation` None: the only operation there is. `out` None:
    ``THREADLINE_HOME/outbox/<operation>/``. `originator`: the agency that signs, when the operation names none."""

    operation: str | None = None
    out: Path | None = None
    handling: str = "H0"
    handling_note: str | None = None
    originator: str | None = None
    packages: bool = True
    actor: str = "system"
    now: datetime | None = None
    # Processes sealing packages (render, sign, zip, encrypt) while the next agency's are read: None picks one
    # per core (at most four) when there are at least PARALLEL_MIN_LEADS leads to send, else none.
    workers: int | None = None


@dataclass
class ReferReport:
    operation: str
    originator: str
    subjects: int = 0
    unlocated: int = 0
    unplaced: int = 0
    unranked: int = 0
    leads_new: int = 0
    leads_existing: int = 0
    leads_by_tier: dict[str, int] = field(default_factory=dict)
    leads_by_agency: dict[str, int] = field(default_factory=dict)
    packages: list[WrittenPackage] = field(default_factory=list)
    leads_sent: int = 0
    # Agencies that have leads waiting but no age key here: no package was written for them.
    agencies_without_keys: dict[str, int] = field(default_factory=dict)
    out: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "originator": self.originator,
            "subjects": self.subjects,
            "unlocated": self.unlocated,
            "unplaced": self.unplaced,
            "unranked": self.unranked,
            "leads_new": self.leads_new,
            "leads_existing": self.leads_existing,
            "leads_by_tier": self.leads_by_tier,
            "leads_by_agency": self.leads_by_agency,
            "packages": [p.to_dict() for p in self.packages],
            "leads_sent": self.leads_sent,
            "agencies_without_keys": self.agencies_without_keys,
            "out": self.out,
            "seconds": round(self.seconds, 3),
        }


def find_operation(session: Session, name: str | None) -> Operation:
    """The named operation, or the only one there is."""
    if name is not None:
        operation = session.scalars(select(Operation).where(Operation.name == name)).first()
        if operation is None:
            known = ", ".join(session.scalars(select(Operation.name).order_by(Operation.name))) or "none yet"
            raise NotFoundError(f"unknown operation {name!r} (known: {known})")
        return operation
    operations = list(session.scalars(select(Operation).order_by(Operation.name)))
    if not operations:
        raise NotFoundError("no operation yet: ingest a seizure first (`threadline ingest DIR --operation NAME`)")
    if len(operations) > 1:
        names = ", ".join(o.name for o in operations)
        raise InputError(f"there are several operations ({names}): name one with --operation")
    return operations[0]


def originating_agency(session: Session, operation: Operation, code: str | None, *, actor: str) -> Agency:
    """The operation's originating agency; `code` sets it when the operation has none (audited)."""
    if operation.originating_agency_id is not None:
        agency = session.get(Agency, operation.originating_agency_id)
        assert agency is not None
        if code is not None and find_agency(session, code).id != agency.id:
            raise ConflictError(f"operation {operation.name} is led by {agency.code}, not {code}")
        return agency
    if code is None:
        raise InputError(
            f"operation {operation.name} has no originating agency: give --originator CODE "
            "(the agency that signs the packages)"
        )
    agency = find_agency(session, code)
    operation.originating_agency_id = agency.id
    audit.record(
        session,
        actor=actor,
        action="operation.originator",
        object_type="operation",
        object_id=operation.name,
        agency_id=agency.id,
        details={"agency": agency.code},
    )
    return agency


class _Router:
    """Routes per (country, region), asked once each: locate's `route()` (the operation's routing rules), else the
    subject's national agency (and a regional agency of its region below it when the directory has one)."""

    def __init__(self, session: Session, operation: str) -> None:
        self.session = session
        self.operation = operation
        self.cache: dict[tuple[str, str | None, int | None], list[Agency]] = {}

    def __call__(self, country: str, region: str | None, agency_id: int | None) -> list[Agency]:
        key = (country, region, agency_id)
        if key not in self.cache:
            route = list(locate_route(self.session, self.operation, country, region))
            if not route:
                route = self._fallback(country, region, agency_id)
            self.cache[key] = route
        return self.cache[key]

    def _fallback(self, country: str, region: str | None, agency_id: int | None) -> list[Agency]:
        first = self.session.get(Agency, agency_id) if agency_id is not None else None
        route = [first or national_agency(self.session, country)]
        if region:
            below = self.session.scalars(
                select(Agency)
                .where(Agency.country == country, Agency.region == region, Agency.kind == "regional")
                .where(Agency.parent_id == route[0].id)
                .order_by(Agency.id)
            ).first()
            if below is not None:
                route.append(below)
        return route


@dataclass(frozen=True)
class _Candidate:
    subject_id: int
    placement: str | None  # None: not located yet
    country: str | None
    region: str | None
    agency_id: int | None
    tier: str | None  # None: not ranked yet
    score: float | None


def _candidates(session: Session, operation: Operation) -> list[_Candidate]:
    """The operation's active subjects with their placement and ranking (columns only: no JSON to parse)."""
    in_operation = (
        select(SubjectMember.subject_id)
        .join(SourceRecord, SourceRecord.id == SubjectMember.record_id)
        .join(SourceFile, SourceFile.id == SourceRecord.source_file_id)
        .join(Seizure, Seizure.id == SourceFile.seizure_id)
        .where(Seizure.operation_id == operation.id)
        .distinct()
    )
    rows = session.execute(
        select(
            Subject.id,
            SubjectJurisdiction.status,
            SubjectJurisdiction.country,
            SubjectJurisdiction.region,
            SubjectJurisdiction.agency_id,
            RiskAssessment.tier,
            RiskAssessment.score,
        )
        .outerjoin(SubjectJurisdiction, SubjectJurisdiction.subject_id == Subject.id)
        .outerjoin(RiskAssessment, RiskAssessment.subject_id == Subject.id)
        .where(Subject.status == "active", Subject.id.in_(in_operation))
        .order_by(Subject.id)
    )
    return [_Candidate(*row) for row in rows]


def create_leads(session: Session, operation: Operation, originator: Agency, settings: ReferSettings) -> ReferReport:
    """Step 1: the leads that do not exist yet. Idempotent per subject, agency and operation."""
    if settings.handling not in HANDLING_CODES:
        raise InputError(f"unknown handling code {settings.handling!r}; expected one of {', '.join(HANDLING_CODES)}")
    report = ReferReport(operation=operation.name, originator=originator.code)
    now = settings.now or utcnow()
    existing: set[tuple[int | None, int]] = {
        (subject_id, agency_id)
        for subject_id, agency_id in session.execute(
            select(Lead.subject_id, Lead.agency_id).where(
                Lead.operation_id == operation.id, Lead.direction == "outgoing", Lead.parent_id.is_(None)
            )
        )
    }
    router = _Router(session, operation.name)
    clocks: dict[int, Any] = {}
    tiers: Counter[str] = Counter()
    agencies: Counter[str] = Counter()
    pending: list[dict[str, Any]] = []
    pending_details: list[dict[str, Any]] = []

    def flush() -> None:
        create_leads_bulk(
            session, pending, actor=settings.actor, agency_id=originator.id, at=now, details=pending_details
        )
        pending.clear()
        pending_details.clear()

    for candidate in _candidates(session, operation):
        report.subjects += 1
        if candidate.placement is None:
            report.unlocated += 1
            continue
        if candidate.placement != "placed" or not candidate.country:
            report.unplaced += 1
            continue
        if candidate.tier is None or candidate.score is None:
            report.unranked += 1
            continue
        route = router(candidate.country, candidate.region, candidate.agency_id)
        destination = route[0]
        if (candidate.subject_id, destination.id) in existing:
            report.leads_existing += 1
            continue
        if destination.id not in clocks:
            clocks[destination.id] = agency_clocks(destination)
        if candidate.tier not in TIERS:
            raise ConflictError(
                f"subject {candidate.subject_id} has an unknown tier {candidate.tier!r}; rerun `threadline rank`"
            )
        ack_due, action_due = clocks[destination.id][candidate.tier].due(now)
        pending.append(
            {
                "uid": str(uuid.uuid4()),
                "direction": "outgoing",
                "operation_id": operation.id,
                "subject_id": candidate.subject_id,
                "subject_snapshot": {"route": [agency_ref(a) for a in route[1:]]},
                "agency_id": destination.id,
                "originating_agency_id": originator.id,
                "hop": 0,
                "country": candidate.country,
                "region": candidate.region,
                "tier": candidate.tier,
                "score": float(candidate.score),
                "handling_code": settings.handling,
                "handling_note": settings.handling_note,
                "ack_due_at": ack_due,
                "action_due_at": action_due,
            }
        )
        pending_details.append({"operation": operation.name, "route": [a.code for a in route]})
        existing.add((candidate.subject_id, destination.id))
        report.leads_new += 1
        tiers[candidate.tier] += 1
        agencies[destination.code] += 1
        if len(pending) >= BATCH:
            flush()
    flush()
    report.leads_by_tier = {t: tiers[t] for t in TIERS if tiers[t]}
    report.leads_by_agency = dict(sorted(agencies.items()))
    audit.record(
        session,
        actor=settings.actor,
        action="refer.leads",
        object_type="operation",
        object_id=operation.name,
        agency_id=originator.id,
        details={
            "new": report.leads_new,
            "existing": report.leads_existing,
            "unplaced": report.unplaced,
            "unlocated": report.unlocated,
            "unranked": report.unranked,
        },
    )
    return report


def outbox(store: Store, operation: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in operation) or "operation"
    return store.settings.ensure_home() / "outbox" / safe


def refer(store: Store, settings: ReferSettings) -> ReferReport:
    """Create the leads that are due and write a package for every agency with leads waiting."""
    started = time.perf_counter()
    with store.session() as session:
        operation = find_operation(session, settings.operation)
        originator = originating_agency(session, operation, settings.originator, actor=settings.actor)
        if settings.packages:
            signing_key(store.settings, session, originator)  # no key, no work: say so before anything changes
        report = create_leads(session, operation, originator, settings)
        operation_id, operation_name, originator_id = operation.id, operation.name, originator.id
    if settings.packages:
        refresh_statistics(store)  # the stages before, and the leads just made, were bulk writes (PostgreSQL)
        out_dir = settings.out or outbox(store, operation_name)
        report.out = str(out_dir)
        _write_packages(store, settings, operation_id, originator_id, out_dir, report)
    report.seconds = time.perf_counter() - started
    return report


def _waiting_agencies(store: Store, operation_id: int) -> list[tuple[int, int]]:
    """(agency id, leads waiting) for every agency with leads not sent yet, by agency code."""
    with store.session() as session:
        rows = session.execute(
            select(Lead.agency_id, Agency.code, func.count())
            .join(Agency, Agency.id == Lead.agency_id)
            .where(
                Lead.operation_id == operation_id,
                Lead.direction == "outgoing",
                Lead.status == "created",
                Lead.package_id.is_(None),
            )
            .group_by(Lead.agency_id, Agency.code)
            .order_by(Agency.code)
        )
        return [(agency_id, int(count)) for agency_id, _, count in rows]


def _workers(settings: ReferSettings, agencies: int, leads: int) -> int:
    if settings.workers is not None:
        return max(0, min(settings.workers, agencies))
    if leads < PARALLEL_MIN_LEADS or agencies < 2:
        return 0
    return max(0, min(os.cpu_count() or 1, 4, agencies))


def _write_packages(
    store: Store, settings: ReferSettings, operation_id: int, originator_id: int, out_dir: Path, report: ReferReport
) -> None:
    """One package per agency with leads waiting: each prepared from the database, sealed (in worker processes
    when there is enough to do, while the main process prepares the next agency's), then written and committed
    in its own transaction, so a failure keeps every package finished before it."""
    waiting = _waiting_agencies(store, operation_id)
    workers = _workers(settings, len(waiting), sum(n for _, n in waiting))

    def finish(prepared: PreparedPackage, sealed: SealedPackage) -> None:
        written = _finish_one(store, settings, prepared, sealed, out_dir)
        report.packages.append(written)
        report.leads_sent += written.leads

    if workers < 1:
        for agency_id, _ in waiting:
            prepared = _prepare_one(store, settings, operation_id, originator_id, agency_id, report)
            if prepared is not None:
                finish(prepared, seal_package(*prepared.seal_args()))
        return
    # "spawn": a worker starts clean (no copy of this process's database connections or threads); it imports the
    # caller's main module, so a script calling `refer` must guard its top level (the CLI does).
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            in_flight: deque[tuple[Future[SealedPackage], PreparedPackage]] = deque()
            for agency_id, _ in waiting:
                prepared = _prepare_one(store, settings, operation_id, originator_id, agency_id, report)
                if prepared is None:
                    continue
                in_flight.append((pool.submit(seal_package, *prepared.seal_args()), prepared))
                while len(in_flight) > workers:  # at most one document waiting per worker: memory stays bounded
                    future, done = in_flight.popleft()
                    finish(done, future.result())
            while in_flight:
                future, done = in_flight.popleft()
                finish(done, future.result())
    except BrokenProcessPool as exc:
        raise ConflictError(
            f"a worker process sealing packages stopped; {len(report.packages)} package(s) were written and the "
            "rest of the leads are still waiting. Run `threadline refer` again; a Python script calling refer() "
            'must guard its top level with `if __name__ == "__main__":` (or set ReferSettings.workers=0)'
        ) from exc


def _prepare_one(
    store: Store,
    settings: ReferSettings,
    operation_id: int,
    originator_id: int,
    agency_id: int,
    report: ReferReport,
) -> PreparedPackage | None:
    """The package for one agency, read in a transaction of its own (None when the agency has no key here)."""
    with store.session() as session:
        recipient = session.get(Agency, agency_id)
        sender = session.get(Agency, originator_id)
        operation = session.get(Operation, operation_id)
        assert recipient is not None and sender is not None
        leads = list(
            session.scalars(
                select(Lead)
                .where(
                    Lead.operation_id == operation_id,
                    Lead.agency_id == agency_id,
                    Lead.direction == "outgoing",
                    Lead.status == "created",
                    Lead.package_id.is_(None),
                )
                .order_by(Lead.score.desc(), Lead.id)
            )
        )
        if not age_recipients(session, recipient):
            report.agencies_without_keys[recipient.code] = len(leads)
            return None
        return prepare_package(
            store.settings,
            session,
            leads,
            sender=sender,
            recipient=recipient,
            operation=operation,
            actor=settings.actor,
            now=settings.now,
        )


def _finish_one(
    store: Store, settings: ReferSettings, prepared: PreparedPackage, sealed: SealedPackage, out_dir: Path
) -> WrittenPackage:
    written: WrittenPackage | None = None
    try:
        with store.session() as session:
            written = finish_package(session, prepared, sealed, out_dir=out_dir, actor=settings.actor)
    except BaseException:
        if written is not None:
            written.path.unlink(missing_ok=True)
        raise
    return written


def missing_keys_message(report: ReferReport) -> str | None:
    """The one-line error for agencies that got no package, naming them and what to do."""
    if not report.agencies_without_keys:
        return None
    listed = ", ".join(f"{code} ({n} lead{'s' if n != 1 else ''})" for code, n in report.agencies_without_keys.items())
    first = next(iter(report.agencies_without_keys))
    count = len(report.agencies_without_keys)
    return (
        f"no package for {count} agenc{'y' if count == 1 else 'ies'}"
        f" without an age key here: {listed}; import each one's public keys with "
        f"`threadline keys import --agency {first} FILE` (or `threadline keys generate --agency {first}` if this "
        "installation acts for it), then run `threadline refer` again; nothing was sent unencrypted"
    )
