"""The locate stage: every active subject's records → claims → one decision, written in one transaction.

A run is a `StageRun` (stage "locate"): its row is committed first with status "running"; the claims and decisions
are replaced in a second transaction that also marks the run done, so a run killed half-way leaves the previous
claims and decisions exactly as they were. Decisions that come out the same are not rewritten (they keep the run
and time that first made them); decisions a coordinator made by hand are never touched. When nothing the stage
reads has changed since the last run, the run reports "unchanged" and writes nothing else."""

from __future__ import annotations

import itertools
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from threadline.core import audit
from threadline.core.bulk import bound, collector_paused, driver_rows, insert_tuples
from threadline.core.db import Store, json_dumps
from threadline.core.errors import NotFoundError
from threadline.directory import seed_national_agencies
from threadline.ingest.readers.mail import message_locator
from threadline.locate.decide import DEFAULT_MIN_CONFIDENCE, HIGH_CONFIDENCE, Decision, decide
from threadline.locate.evidence import (
    WEIGHTS,
    Evidence,
    clock_claims,
    clock_offset,
    record_evidence,
    sent_mail_evidence,
)
from threadline.locate.ipgeo import IPLocator, mmdb_path
from threadline.model import (
    Agency,
    JurisdictionClaim,
    Operation,
    Seizure,
    SourceFile,
    SourceRecord,
    StageRun,
    Subject,
    SubjectJurisdiction,
    SubjectMember,
    utcnow,
)

# Bump when evidence or scoring changes, so the next run recomputes instead of reporting "unchanged".
LOCATE_VERSION = "2"
_BATCH = 10000
Progress = Callable[[str], None]


@dataclass
class LocateSettings:
    mmdb: Path | None = None  # None: THREADLINE_MMDB, else no IP evidence
    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    operation: str | None = None  # only subjects with records in this operation's seizures
    full: bool = False  # recompute even when nothing changed


@dataclass
class LocateReport:
    mode: str = "full"  # full | unchanged
    operation: str | None = None
    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    subjects: int = 0
    records: int = 0
    claims: int = 0
    claims_by_source: dict[str, int] = field(default_factory=dict)
    placed: int = 0
    placed_high: int = 0
    with_region: int = 0
    unplaced: int = 0
    unplaced_no_evidence: int = 0
    manual: int = 0
    disagreeing: int = 0
    decisions_changed: int = 0
    countries: int = 0
    placed_by_country: dict[str, int] = field(default_factory=dict)
    mmdb: str | None = None
    ip_lookups: int = 0
    ips_without_database: int = 0
    run_id: int | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["seconds"] = round(self.seconds, 2)
        out["claims_by_source"] = dict(sorted(self.claims_by_source.items()))
        out["placed_by_country"] = dict(sorted(self.placed_by_country.items(), key=lambda kv: (-kv[1], kv[0])))
        return out


def locate(
    store: Store, settings: LocateSettings | None = None, *, actor: str = "system", progress: Progress | None = None
) -> LocateReport:
    """Place every active subject (or those of one operation) in a country, or in the unplaced queue."""
    settings = settings or LocateSettings()
    started = time.perf_counter()
    say = progress or (lambda _message: None)
    path = mmdb_path(settings.mmdb)
    locator = IPLocator(path) if path is not None else None
    try:
        with store.session() as session:
            seed_national_agencies(session, actor=actor)
            operation = _operation(session, settings.operation)
            inputs = _inputs(session, settings, locator)
            last = session.scalars(
                select(StageRun)
                .where(StageRun.stage == "locate", StageRun.status == "done")
                .where(StageRun.operation_id == (operation.id if operation else None))
                .order_by(StageRun.id.desc())
                .limit(1)
            ).first()
            unchanged = last is not None and last.inputs == inputs and not settings.full
            run = StageRun(stage="locate", operation_id=operation.id if operation else None, inputs=inputs, actor=actor)
            session.add(run)
            session.flush()
            run_id = run.id
        try:
            with store.session() as session:
                report = LocateReport(
                    operation=settings.operation,
                    min_confidence=settings.min_confidence,
                    mmdb=str(path) if path else None,
                    run_id=run_id,
                )
                scope = _scope(operation)
                if unchanged:
                    report.mode = "unchanged"
                    say("inputs unchanged since the last run")
                else:
                    _replace(session, report, scope, settings, locator, run_id, say)
                    report.ip_lookups = locator.lookups if locator else 0
                _count(session, report, scope)
                report.seconds = time.perf_counter() - started
                finished = session.get(StageRun, run_id)
                assert finished is not None
                finished.status = "done"
                finished.report = report.to_dict()
                finished.finished_at = utcnow()
                audit.record(
                    session,
                    actor=actor,
                    action="locate.run",
                    object_type="stage_run",
                    object_id=run_id,
                    details={
                        k: report.to_dict()[k]
                        for k in ("mode", "operation", "subjects", "placed", "unplaced", "manual", "claims")
                    },
                )
        except BaseException as exc:
            with store.session() as session:
                failed = session.get(StageRun, run_id)
                if failed is not None:
                    failed.status = "failed"
                    failed.error = f"{type(exc).__name__}: {exc}"[:4000]
                    failed.finished_at = utcnow()
            raise
    finally:
        if locator is not None:
            locator.close()
    return report


def _operation(session: Session, name: str | None) -> Operation | None:
    if name is None:
        return None
    operation = session.scalars(select(Operation).where(Operation.name == name)).first()
    if operation is None:
        raise NotFoundError(f"no operation named {name!r}: operations are named by `threadline ingest --operation`")
    return operation


def _inputs(session: Session, settings: LocateSettings, locator: IPLocator | None) -> dict[str, Any]:
    """What the stage reads, summarised so that any change to it shows."""
    return {
        "version": LOCATE_VERSION,
        "operation": settings.operation,
        "min_confidence": settings.min_confidence,
        "mmdb": locator.sha256() if locator else None,
        "active_subjects": session.scalar(select(func.count()).select_from(Subject).where(Subject.status == "active")),
        "subject_run": session.scalar(select(func.max(Subject.updated_run_id))),
        "members": session.scalar(select(func.count()).select_from(SubjectMember)),
        "member_run": session.scalar(select(func.max(SubjectMember.run_id))),
        "max_record": session.scalar(select(func.max(SourceRecord.id))),
    }


def _scope(operation: Operation | None) -> Any:
    """The subjects a run places: every active one, or those with a record in one operation's seizures."""
    query = select(Subject.id).where(Subject.status == "active")
    if operation is not None:
        in_operation = (
            select(SubjectMember.subject_id)
            .join(SourceRecord, SourceRecord.id == SubjectMember.record_id)
            .join(SourceFile, SourceFile.id == SourceRecord.source_file_id)
            .join(Seizure, Seizure.id == SourceFile.seizure_id)
            .where(Seizure.operation_id == operation.id)
        )
        query = query.where(Subject.id.in_(in_operation))
    return query


def _national_agencies(session: Session) -> dict[str, int]:
    rows = session.execute(select(Agency.country, Agency.id).where(Agency.kind == "national").order_by(Agency.id))
    out: dict[str, int] = {}
    for country, agency_id in rows:
        out.setdefault(country, agency_id)
    return out


def _members(session: Session, scope: Any) -> Iterator[tuple[int, list[tuple[Any, ...]]]]:
    query = (
        select(
            SubjectMember.subject_id,
            SubjectMember.record_id,
            SubjectMember.match_probability,
            SourceRecord.record_type,
            SourceRecord.fields,
            SourceRecord.raw,
            SourceRecord.source_file_id,
            SourceRecord.record_key,
            SourceRecord.locator,
        )
        .join(SourceRecord, SourceRecord.id == SubjectMember.record_id)
        .where(SubjectMember.subject_id.in_(scope))
        .order_by(SubjectMember.subject_id, SubjectMember.record_id)
    )
    # The driver's tuples, not SQLAlchemy rows: 800k records with their fields and verbatim rows.
    rows = driver_rows(session, query, json_columns=(4, 5))
    for subject_id, group in itertools.groupby(rows, key=lambda r: r[0]):
        yield subject_id, list(group)


def _siblings(session: Session) -> dict[tuple[int, str, str], list[tuple[int, str, dict[str, Any], dict[str, Any]]]]:
    """Records that share a file, a record type and a record key: one order's row and its refund's row name the
    same order, so the order's shipping address locates whoever the refund is for."""
    # Grouped here, not by a GROUP BY joined back to the table: record_key has no index, and SQLite's plan for
    # that join grew with the square of the records (minutes at 800k). Keys first, then the few rows that share one.
    groups: dict[tuple[int, str, str], list[int]] = {}
    for file_id, key, record_type, record_id in driver_rows(
        session,
        select(SourceRecord.source_file_id, SourceRecord.record_key, SourceRecord.record_type, SourceRecord.id).where(
            SourceRecord.record_key.is_not(None)
        ),
        batch=50000,
    ):
        groups.setdefault((file_id, str(key), record_type), []).append(record_id)
    wanted = {record_id: slot for slot, ids in groups.items() if len(ids) > 1 for record_id in ids}
    del groups
    out: dict[tuple[int, str, str], list[tuple[int, str, dict[str, Any], dict[str, Any]]]] = {}
    ids = sorted(wanted)
    for start in range(0, len(ids), 900):
        for record_id, record_type, fields, raw in driver_rows(
            session,
            select(SourceRecord.id, SourceRecord.record_type, SourceRecord.fields, SourceRecord.raw).where(
                SourceRecord.id.in_(ids[start : start + 900])
            ),
            json_columns=(2, 3),
        ):
            out.setdefault(wanted[record_id], []).append((record_id, record_type, fields, raw))
    for group in out.values():
        group.sort(key=lambda r: r[0])
    return out


# An address taking part in at least this many of a mailbox's messages, and this share of them, is the mailbox's
# own (the shop's orders@, support@, a member of staff on copy) or a bulk sender: what its mails' bodies name is
# about the people it writes to, and the order numbers in their subjects are not its orders.
OWN_MIN_MESSAGES = 20
OWN_SHARE = 0.05
# A word of a subject line that may be a record's key: four characters or more, a digit among them (the rule of
# resolve's mentions, which joins participants to the record when the names agree).
_SUBJECT_TOKEN = re.compile(r"[0-9A-Za-z][0-9A-Za-z_\-/.]*[0-9A-Za-z]")


def _subject_tokens(subject: Any) -> set[str]:
    text = subject if isinstance(subject, str) else ""
    return {t for t in _SUBJECT_TOKEN.findall(text) if len(t) >= 4 and any(c.isdigit() for c in t)}


@dataclass(frozen=True)
class _Mail:
    """What locate reads of one message for its participants."""

    record_id: int
    locator: str
    own_sender: bool  # sent by the mailbox's own address (or a bulk sender)
    body: tuple[Evidence, ...]  # from its body, for its sender (see `sent_mail_evidence`)
    clock: tuple[int, int] | None  # its Date header's (UTC offset, year)
    mentions: tuple[int, ...]  # records named by key in its subject line


@dataclass
class _MailContext:
    mails: dict[tuple[int, str], _Mail] = field(default_factory=dict)
    own: dict[int, set[str]] = field(default_factory=dict)  # file → the mailbox's own addresses
    named: dict[int, tuple[str, str, list[Evidence]]] = field(default_factory=dict)  # record → type, key, evidence


def _addresses(fields: dict[str, Any], *names: str) -> list[str]:
    out: list[str] = []
    for name in names:
        value = fields.get(name)
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, str) and v.strip():
                out.append(v.strip().lower())
    return out


def _mail_context(session: Session, lookup: Any) -> _MailContext:
    """Every message's facts for its participants: whose mailbox it is, its body's evidence, its clock, and the
    records its subject names (a key of one file of the same seizure, other than the mailbox)."""
    context = _MailContext()
    rows = list(
        driver_rows(
            session,
            select(SourceRecord.id, SourceRecord.source_file_id, SourceRecord.locator)
            .add_columns(SourceRecord.fields, SourceRecord.raw)
            .where(SourceRecord.record_type == "message"),
            json_columns=(3, 4),
        )
    )
    if not rows:
        return context
    seen_in: dict[int, Counter[str]] = {}
    messages: Counter[int] = Counter()
    for _id, file_id, _locator, fields, _raw in rows:
        messages[file_id] += 1
        seen_in.setdefault(file_id, Counter()).update(set(_addresses(fields, "sender", "recipients", "reply_to")))
    for file_id, counts in seen_in.items():
        floor = max(OWN_MIN_MESSAGES, OWN_SHARE * messages[file_id])
        context.own[file_id] = {address for address, n in counts.items() if n >= floor}
    wanted: dict[tuple[int, str], set[str]] = {}
    for record_id, file_id, locator, fields, raw in rows:
        own = context.own.get(file_id, set())
        own_sender = any(a in own for a in _addresses(fields, "sender"))
        date = raw.get("Date") if isinstance(raw, dict) else None
        context.mails[(file_id, locator)] = _Mail(
            record_id=record_id,
            locator=locator,
            own_sender=own_sender,
            body=() if own_sender else tuple(sent_mail_evidence(fields)),
            clock=None if own_sender else clock_offset(date if isinstance(date, str) else None),
            mentions=(),
        )
        if tokens := _subject_tokens(fields.get("subject")):
            wanted[(file_id, locator)] = tokens
    if not wanted:
        return context
    # The records the tokens name: one pass over the keys (record_key has no index), then those rows by id.
    seizure_of: dict[int, int] = {f: s for f, s in session.execute(select(SourceFile.id, SourceFile.seizure_id))}
    all_tokens = set().union(*wanted.values())
    keyed: dict[tuple[int, str], list[tuple[int, int]]] = {}
    for record_id, file_id, key in driver_rows(
        session,
        select(SourceRecord.id, SourceRecord.source_file_id, SourceRecord.record_key).where(
            SourceRecord.record_key.is_not(None)
        ),
        batch=50000,
    ):
        if key in all_tokens:
            keyed.setdefault((seizure_of.get(file_id, -1), str(key)), []).append((record_id, file_id))
    targets: set[int] = set()
    for (file_id, locator), tokens in wanted.items():
        named: list[int] = []
        for token in sorted(tokens):
            found = keyed.get((seizure_of.get(file_id, -1), token), [])
            files = {f for _, f in found}
            # The key names records of one file (an order and its refund), not the mailbox itself.
            if len(files) == 1 and file_id not in files:
                named.extend(r for r, _ in found)
        if named:
            context.mails[(file_id, locator)] = replace(context.mails[(file_id, locator)], mentions=tuple(named))
            targets.update(named)
    ids = sorted(targets)
    for start in range(0, len(ids), 900):
        for record_id, record_type, key, fields, raw in driver_rows(
            session,
            select(SourceRecord.id, SourceRecord.record_type, SourceRecord.record_key)
            .add_columns(SourceRecord.fields, SourceRecord.raw)
            .where(SourceRecord.id.in_(ids[start : start + 900])),
            json_columns=(3, 4),
        ):
            found_evidence = record_evidence(record_type, fields, raw, ip_lookup=lookup)
            context.named[record_id] = (record_type, str(key), found_evidence)
    return context


def _mail_evidence(
    context: _MailContext, file_id: int, locator: str, fields: dict[str, Any], own_records: set[int]
) -> tuple[list[tuple[int, Evidence]], tuple[int, int, int] | None]:
    """A mail participant's claims from its message: the records its subject names (any participant but the
    mailbox's own), and for the sender (or its Reply-To) the body's evidence; also its clock (message id, offset,
    year), weighed once the subject's other evidence is known."""
    message = message_locator(locator)
    mail = context.mails.get((file_id, message)) if message else None
    if mail is None:
        return [], None
    own = context.own.get(file_id, set())
    if any(a in own for a in _addresses(fields, "email")):
        return [], None
    out: list[tuple[int, Evidence]] = []
    for target in mail.mentions:
        if target in own_records or target not in context.named:
            continue
        target_type, key, found = context.named[target]
        for e in found:
            note = f"{e.source} of the {target_type} {key} named in the subject of {mail.locator}"
            note += f"; {e.note}" if e.note else ""
            weight = round(e.weight * WEIGHTS["mention"], 4)
            out.append((target, Evidence("mention", e.value, e.country, e.region, weight, e.ambiguous, note)))
    role = locator.split()[2]
    clock = None
    if role in ("sender", "reply_to") and not mail.own_sender:
        out.extend((mail.record_id, e) for e in mail.body)
        if mail.clock is not None:
            clock = (mail.record_id, *mail.clock)
    return out, clock


_DECISION_FIELDS = ("status", "country", "region", "confidence", "agency_id", "reason", "disagreements", "claims")
_DECISION_INSERT = ("subject_id", *_DECISION_FIELDS, "decided_by", "run_id", "decided_at")
_CLAIM_COLUMNS = (
    "subject_id",
    "record_id",
    "source",
    "value",
    "country",
    "region",
    "weight",
    "ambiguous",
    "note",
    "run_id",
)


def _replace(
    session: Session,
    report: LocateReport,
    scope: Any,
    settings: LocateSettings,
    locator: IPLocator | None,
    run_id: int,
    say: Progress,
) -> None:
    national = _national_agencies(session)
    subject_ids = list(session.scalars(scope.order_by(Subject.id)))
    columns = [getattr(SubjectJurisdiction, k) for k in (*_DECISION_FIELDS, "decided_by")]
    existing: dict[int, dict[str, Any]] = {}
    for subject_id, *values in session.execute(
        select(SubjectJurisdiction.subject_id, *columns).where(SubjectJurisdiction.subject_id.in_(scope))
    ):
        existing[subject_id] = dict(zip((*_DECISION_FIELDS, "decided_by"), values, strict=True))

    say(f"replacing the claims of {len(subject_ids):,} subjects")
    session.execute(
        delete(JurisdictionClaim).where(JurisdictionClaim.source != "manual", JurisdictionClaim.subject_id.in_(scope))
    )
    if settings.operation is None:
        # Subjects resolve has retired: their automatic claims and decisions go; manual ones stay as history.
        retired = select(Subject.id).where(Subject.status != "active")
        session.execute(
            delete(JurisdictionClaim).where(
                JurisdictionClaim.source != "manual", JurisdictionClaim.subject_id.in_(retired)
            )
        )
        session.execute(
            delete(SubjectJurisdiction).where(
                SubjectJurisdiction.decided_by.is_(None), SubjectJurisdiction.subject_id.in_(retired)
            )
        )

    claims: list[tuple[Any, ...]] = []
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    by_source: Counter[str] = Counter()
    lookup = locator.lookup if locator is not None else None
    seen: set[int] = set()
    decided_at = SubjectJurisdiction.__table__.c.decided_at

    def flush(final: bool = False) -> None:
        if claims and (final or len(claims) >= _BATCH):
            # The driver's executemany on tuples: SQLAlchemy's per-row parameter handling cost more than the insert.
            insert_tuples(session, JurisdictionClaim.__tablename__, _CLAIM_COLUMNS, claims)
            claims.clear()
        if inserts and (final or len(inserts) >= _BATCH):
            rows = [
                (
                    *(json_dumps(row[k]) if k == "disagreements" else row[k] for k in _DECISION_INSERT[:-1]),
                    bound(session, decided_at, row["decided_at"]),
                )
                for row in inserts
            ]
            insert_tuples(session, SubjectJurisdiction.__tablename__, _DECISION_INSERT, rows)
            inserts.clear()
        if updates and (final or len(updates) >= _BATCH):
            session.execute(update(SubjectJurisdiction), updates)
            updates.clear()

    def place(subject_id: int, evidence: list[tuple[int, Evidence]]) -> None:
        for record_id, e in evidence:
            by_source[e.source] += 1
            claims.append(
                (
                    subject_id,
                    record_id,
                    e.source,
                    e.value[:400],
                    e.country,
                    e.region,
                    e.weight,
                    e.ambiguous,
                    e.note,
                    run_id,
                )
            )
        decision = decide([e for _, e in evidence], settings.min_confidence)
        _write_decision(subject_id, decision, existing.get(subject_id), national, run_id, report, inserts, updates)
        flush()

    with collector_paused():
        _place_all(session, report, scope, subject_ids, lookup, seen, place, say)
    flush(final=True)
    report.claims_by_source = dict(by_source)
    report.claims = sum(by_source.values())


def _weighted(e: Evidence, factor: float) -> Evidence:
    """The claim scaled by its record's match probability (`dataclasses.replace`, without its overhead)."""
    return Evidence(e.source, e.value, e.country, e.region, round(e.weight * factor, 4), e.ambiguous, e.note)


def _place_all(
    session: Session,
    report: LocateReport,
    scope: Any,
    subject_ids: list[int],
    lookup: Any,
    seen: set[int],
    place: Callable[[int, list[tuple[int, Evidence]]], None],
    say: Progress,
) -> None:
    """Every subject's claims from its records (and their siblings, mails and named records), then `place`."""
    siblings = _siblings(session)
    mail = _mail_context(session, lookup)
    for subject_id, rows in _members(session, scope):
        seen.add(subject_id)
        evidence: list[tuple[int, Evidence]] = []
        own = {r[1] for r in rows}
        clocks: dict[int, tuple[int, int, float]] = {}
        mailed: set[tuple[int, str, str, str]] = set()
        for _subject, record_id, probability, record_type, fields, raw, file_id, key, place_in_file in rows:
            report.records += 1
            if lookup is None and fields.get("ip"):
                report.ips_without_database += len(fields["ip"]) if isinstance(fields["ip"], list) else 1
            factor = 1.0 if probability is None else float(probability)
            found = [(record_id, e) for e in record_evidence(record_type, fields, raw, ip_lookup=lookup)]
            for other_id, other_type, other_fields, other_raw in siblings.get((file_id, key, record_type), []):
                if other_id in own:
                    continue
                note = f"from {other_type} record {other_id} with the same key {key} in the same file"
                found.extend(
                    (other_id, replace(e, note=f"{note}; {e.note}" if e.note else note))
                    for e in record_evidence(other_type, other_fields, other_raw, ip_lookup=lookup)
                )
            if record_type == "contact" and mail.mails:
                from_mail, clock = _mail_evidence(mail, file_id, place_in_file, fields, own)
                for source_record, e in from_mail:
                    # The same message or named order reached through two participants (From and Reply-To) counts once.
                    slot = (source_record, e.source, e.value, e.country)
                    if slot not in mailed:
                        mailed.add(slot)
                        found.append((source_record, e))
                if clock is not None:
                    clocks[clock[0]] = (clock[1], clock[2], max(factor, clocks.get(clock[0], (0, 0, 0.0))[2]))
            for source_record, e in found:
                evidence.append((source_record, e if factor == 1.0 else _weighted(e, factor)))
        if clocks:
            candidates = {e.country for _, e in evidence if e.weight > 0}
            for message_id, (offset, year, factor) in sorted(clocks.items()):
                for e in clock_claims(offset, year, candidates):
                    evidence.append((message_id, e if factor == 1.0 else _weighted(e, factor)))
        place(subject_id, evidence)
        if len(seen) % 20000 == 0:
            say(f"{len(seen):,} of {len(subject_ids):,} subjects placed or queued")
    for subject_id in subject_ids:
        if subject_id not in seen:
            place(subject_id, [])


def _write_decision(
    subject_id: int,
    decision: Decision,
    previous: dict[str, Any] | None,
    national: dict[str, int],
    run_id: int,
    report: LocateReport,
    inserts: list[dict[str, Any]],
    updates: list[dict[str, Any]],
) -> None:
    if previous is not None and previous["decided_by"]:
        return  # a coordinator's decision stands
    row = {
        "status": decision.status,
        "country": decision.country,
        "region": decision.region,
        "confidence": decision.confidence,
        "agency_id": national.get(decision.country) if decision.country else None,
        "reason": decision.reason,
        "disagreements": decision.disagreements,
        "claims": decision.claims,
    }
    if previous is not None and all(previous[k] == row[k] for k in _DECISION_FIELDS):
        return
    report.decisions_changed += 1
    full = {"subject_id": subject_id, **row, "decided_by": None, "run_id": run_id, "decided_at": utcnow()}
    (updates if previous is not None else inserts).append(full)


def _count(session: Session, report: LocateReport, scope: Any) -> None:
    """The figures of the decisions now in force for the run's subjects (manual ones included)."""
    rows = driver_rows(
        session,
        select(
            SubjectJurisdiction.status,
            SubjectJurisdiction.country,
            SubjectJurisdiction.region,
            SubjectJurisdiction.confidence,
            SubjectJurisdiction.decided_by,
            SubjectJurisdiction.claims,
            SubjectJurisdiction.disagreements,
        ).where(SubjectJurisdiction.subject_id.in_(scope)),
        json_columns=(6,),
    )
    by_country: Counter[str] = Counter()
    report.subjects = report.placed = report.placed_high = report.with_region = 0
    report.unplaced = report.unplaced_no_evidence = report.manual = report.disagreeing = 0
    for status, country, region, confidence, decided_by, claims, disagreements in rows:
        report.subjects += 1
        if decided_by:
            report.manual += 1
        if status == "placed" and country:
            report.placed += 1
            by_country[country] += 1
            report.placed_high += confidence >= HIGH_CONFIDENCE
            report.with_region += region is not None
            report.disagreeing += bool(disagreements)
        else:
            report.unplaced += 1
            report.unplaced_no_evidence += claims == 0
    report.placed_by_country = dict(by_country)
    report.countries = len(by_country)
    if report.mode == "unchanged":
        report.claims_by_source = dict(
            session.execute(
                select(JurisdictionClaim.source, func.count())
                .where(JurisdictionClaim.subject_id.in_(scope))
                .group_by(JurisdictionClaim.source)
            ).all()
        )
        report.claims = sum(report.claims_by_source.values())
