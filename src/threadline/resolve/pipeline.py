"""The resolve stage: records -> subjects, with the model, the review queue and the links, in one transaction.

Everything that takes long (reading records, training, scoring, clustering) happens before the write
transaction opens; the write replaces the previous state at once, so an interrupted run leaves the previous
subjects exactly as they were and a rerun starts again from them."""

from __future__ import annotations

import itertools
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
from splink import DuckDBAPI
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from threadline.core import audit
from threadline.core.db import Store
from threadline.core.errors import InputError
from threadline.model import (
    Judgement,
    ResolveModel,
    ResolveRun,
    ReviewPair,
    Subject,
    SubjectLink,
    SubjectMember,
    utcnow,
)
from threadline.resolve import engine as engines
from threadline.resolve import spec
from threadline.resolve.clusters import Edge, cluster
from threadline.resolve.links import subject_links
from threadline.resolve.prepare import PERSON_TYPES, Prepared, iter_records, prepare, to_arrow
from threadline.resolve.references import find_references
from threadline.resolve.subjects import canonical_attributes
from threadline.resolve.training import linker_for, model_settings, train

Progress = Callable[[str], None]
# Pairs scored at or above this go to the review queue when they fall short of the threshold.
REVIEW_FLOOR = 0.5
REVIEW_LIMIT = 20000


@dataclass
class ResolveSettings:
    engine: str = "duckdb"
    threshold: float = 0.9
    review_floor: float = REVIEW_FLOOR
    retrain: bool = False
    full: bool = False
    seed: int = 42


@dataclass
class ResolveReport:
    mode: str = "full"  # full | incremental | unchanged
    engine: str = "duckdb"
    threshold: float = 0.9
    records: int = 0
    records_by_type: dict[str, int] = field(default_factory=dict)
    new_records: int = 0
    compared_records: int = 0
    identical_records: int = 0
    blocked_pairs: int = 0
    matches: int = 0
    subjects: int = 0
    singletons: int = 0
    insufficient: int = 0
    subjects_created: int = 0
    subjects_changed: int = 0
    subjects_retired: int = 0
    review_queue: int = 0
    judgements_applied: int = 0
    links: int = 0
    references: dict[str, Any] = field(default_factory=dict)
    skipped_values: dict[str, int] = field(default_factory=dict)
    shared_identifiers: dict[str, int] = field(default_factory=dict)
    model_version: int | None = None
    trained: bool = False
    training: dict[str, Any] = field(default_factory=dict)
    run_id: int | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["seconds"] = round(self.seconds, 2)
        return out


@dataclass
class _State:
    members: dict[int, tuple[int, float | None]]  # record -> (subject, probability)
    model: ResolveModel | None
    apart: set[tuple[int, int]]
    together: set[tuple[int, int]]
    last_judgement: int
    last_run: ResolveRun | None


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def _load_state(session: Session) -> _State:
    members = {
        r: (s, p)
        for r, s, p in session.execute(
            select(SubjectMember.record_id, SubjectMember.subject_id, SubjectMember.match_probability)
        )
    }
    model = session.scalars(select(ResolveModel).order_by(ResolveModel.version.desc()).limit(1)).first()
    latest: dict[tuple[int, int], str] = {}
    last_judgement = 0
    for jid, a, b, decision in session.execute(
        select(Judgement.id, Judgement.record_a_id, Judgement.record_b_id, Judgement.decision).order_by(Judgement.id)
    ):
        latest[_pair(a, b)] = decision
        last_judgement = jid
    apart = {p for p, d in latest.items() if d == "not_same"}
    together = {p for p, d in latest.items() if d == "same"}
    last_run = session.scalars(
        select(ResolveRun).where(ResolveRun.mode != "failed").order_by(ResolveRun.id.desc()).limit(1)
    ).first()
    return _State(members, model, apart, together, last_judgement, last_run)


def _edges_table(frame: Any) -> pa.Table:
    # Some of Splink's incremental outputs arrive without a comparison's gamma column (seen with predict_between
    # on a model whose EM blocks degenerated): then the household rule cannot be applied to those pairs.
    api = frame.db_api
    if isinstance(api, DuckDBAPI):
        present = set(api.duckdb_con.sql(f"SELECT * FROM {frame.physical_name} LIMIT 0").columns)
    else:
        present = set(frame.as_spark_dataframe().columns)
    gamma = "gamma_name" if "gamma_name" in present else "CAST(NULL AS INTEGER) AS gamma_name"
    columns = f"unique_id_l, unique_id_r, match_probability, match_weight, {gamma}"
    if isinstance(api, DuckDBAPI):
        return api.duckdb_con.sql(f"SELECT {columns} FROM {frame.physical_name}").to_arrow_table()
    return frame.as_spark_dataframe().selectExpr(*columns.split(", ")).toArrow()


def _count(frame: Any) -> int:
    api = frame.db_api
    if isinstance(api, DuckDBAPI):
        return int(api.duckdb_con.sql(f"SELECT count(*) FROM {frame.physical_name}").fetchall()[0][0])
    return int(frame.as_spark_dataframe().count())


def _score(
    api: Any, prepared: Prepared, settings: dict[str, Any], new_ids: set[int] | None, floor: float
) -> tuple[pa.Table, int]:
    """Scored pairs at or above `floor` and the number of pairs blocking produced. With `new_ids`, only pairs
    that involve a new record (Splink's predict_between for new against existing, predict_within for new)."""
    table = prepared.table()
    frame = engines.register(api, table, "records")
    linker = linker_for(frame, model_settings(settings))
    if new_ids is None:
        scored = linker.inference.predict(warning_mode="never")
        blocked = _count(scored)
        edges = _edges_table(scored).filter(pa.compute.greater_equal(pa.compute.field("match_probability"), floor))
        return edges, blocked
    is_new = pa.array([uid in new_ids for uid in table.column("unique_id").to_pylist()])
    new_frame = engines.register(api, table.filter(is_new), "records_new")
    old_frame = engines.register(api, table.filter(pa.compute.invert(is_new)), "records_existing")
    for column in ("name_sorted", "family"):
        linker.table_management.compute_tf_table(column)
    parts: list[pa.Table] = []
    blocked = 0
    scored = linker.inference.predict_within(new_frame, warning_mode="never")
    blocked += _count(scored)
    parts.append(_edges_table(scored))
    if old_frame.db_api is not None and table.num_rows - sum(is_new.to_pylist()):
        between = linker.inference.predict_between(new_frame, old_frame, warning_mode="never")
        blocked += _count(between)
        parts.append(_edges_table(between))
    edges = pa.concat_tables(parts)
    return edges.filter(pa.compute.greater_equal(pa.compute.field("match_probability"), floor)), blocked


def resolve(
    store: Store,
    settings: ResolveSettings | None = None,
    *,
    actor: str = "system",
    progress: Progress | None = None,
) -> ResolveReport:
    """Resolve every person-like record into subjects. See the module docstring for the transaction rule."""
    settings = settings or ResolveSettings()
    if not 0.0 < settings.threshold < 1.0:
        raise InputError(f"threshold {settings.threshold} must be between 0 and 1 (e.g. 0.9)")
    if settings.engine not in engines.ENGINES:
        raise InputError(f"unknown engine {settings.engine!r}: use one of {', '.join(engines.ENGINES)}")
    started = time.perf_counter()
    say = progress or (lambda _message: None)
    report = ResolveReport(engine=settings.engine, threshold=settings.threshold)

    say("reading records")
    with store.session() as session:
        state = _load_state(session)
        prepared = prepare(iter_records(session))
        references = find_references(session, PERSON_TYPES)
    all_ids = {r["unique_id"] for r in prepared.rows} | set(prepared.insufficient) | set(prepared.duplicates)
    report.records = len(all_ids)
    report.records_by_type = dict(sorted(prepared.by_type.items()))
    report.compared_records = len(prepared.rows)
    report.identical_records = len(prepared.duplicates)
    report.insufficient = len(prepared.insufficient)
    report.skipped_values = dict(prepared.skipped_values)
    report.shared_identifiers = prepared.shared_identifiers
    new_ids = all_ids - set(state.members)
    report.new_records = len(new_ids)
    gone = set(state.members) - all_ids

    model = state.model
    need_training = (
        settings.retrain
        or model is None
        or model.spec_version != spec.SPEC_VERSION
        or bool((model.training or {}).get("skipped"))
    )
    too_few = len(prepared.rows) < 2  # nothing to learn from or compare: every record is its own subject
    last = state.last_run.report if state.last_run is not None else {}
    judgements_changed = state.last_judgement != last.get("last_judgement", 0)
    threshold_changed = state.last_run is not None and state.last_run.threshold != settings.threshold
    if state.members and not (need_training or settings.full or judgements_changed or threshold_changed or gone):
        report.mode = "incremental" if new_ids else "unchanged"
    else:
        report.mode = "full"

    if report.mode == "unchanged":
        with store.session() as session:
            report.model_version = model.version if model else None
            _finish(session, report, settings, model, state, actor, started)
        return report

    api = engines.make_api(settings.engine)
    training: dict[str, Any] | None = None
    if need_training and too_few:
        frame = engines.register(api, prepared.table(), "training_records")
        model_json = linker_for(frame, spec.settings()).misc.save_model_to_json()
        training = {"skipped": "fewer than two records to learn from; the model is trained on the next run"}
        report.training = training
    elif need_training:
        say("training the model")
        frame = engines.register(api, prepared.table(), "training_records")
        trained = train(api, frame, seed=settings.seed)
        training = trained.to_dict()
        model_json = trained.settings
        report.trained = True
        report.training = training
    else:
        assert model is not None
        model_json = model.settings

    say("scoring pairs")
    compared_new = {r["unique_id"] for r in prepared.rows if r["unique_id"] in new_ids}
    if too_few or (report.mode == "incremental" and not compared_new):
        edges_table, blocked = pa.table({"unique_id_l": pa.array([], pa.int64())}), 0
    else:
        edges_table, blocked = _score(
            api, prepared, model_json, compared_new if report.mode == "incremental" else None, settings.review_floor
        )
    report.blocked_pairs = blocked

    say("clustering")
    edges, review = _edges_for_clustering(edges_table, settings, state)
    for record, representative in prepared.duplicates.items():
        edges.append((representative, record, 1.0))
    for a, b in state.together:
        if a in all_ids and b in all_ids:
            edges.append((a, b, 1.0))
    if report.mode == "incremental":
        edges.extend(_existing_chains(state.members))
    # The seizure's own keys (an order's customer number): a record with too little to match on still joins the
    # record it names.
    referenced: set[int] = set()
    for a, b, p in references.edges:
        if a in all_ids and b in all_ids and _pair(a, b) not in state.apart:
            edges.append((a, b, p))
            referenced.update((a, b))
    report.references = references.to_dict()
    report.matches = sum(1 for e in edges if e[2] >= settings.threshold)
    report.judgements_applied = len(state.apart) + len(state.together)
    matchable = (all_ids - set(prepared.insufficient)) | referenced
    clusters = cluster(matchable, edges, settings.threshold, state.apart)
    for record in prepared.insufficient:
        if record not in referenced:
            clusters[record] = record
    probability = _member_probability(clusters, edges, settings.threshold)

    say("writing subjects")
    with store.session() as session:
        run = ResolveRun(
            model_id=None,
            mode=report.mode,
            engine=settings.engine,
            threshold=settings.threshold,
            report={},
            actor=actor,
        )
        session.add(run)
        if training is not None:
            version = (session.scalar(select(func.max(ResolveModel.version))) or 0) + 1
            model = ResolveModel(
                version=version,
                spec_version=spec.SPEC_VERSION,
                engine=settings.engine,
                settings=model_json,
                training=training,
            )
            session.add(model)
        session.flush()
        assert model is not None
        run.model_id = model.id
        report.model_version = model.version
        report.run_id = run.id
        _write_subjects(session, report, run.id, clusters, probability, set(prepared.insufficient), state)
        report.review_queue = _write_review(session, run.id, review, state)
        report.links = subject_links(session, run.id)
        _finish(session, report, settings, model, state, actor, started, run)
    return report


def _edges_for_clustering(
    table: pa.Table, settings: ResolveSettings, state: _State
) -> tuple[list[Edge], list[tuple[int, int, float, float]]]:
    """Edges that may join records, and the uncertain pairs for review.

    A pair whose names agree only on the family name is a household (or a relative) far more often than one
    person: it never joins records by itself, whatever the address or a shared family mailbox says; above the
    threshold it goes to review instead."""
    if table.num_rows == 0 or "match_probability" not in table.column_names:
        return [], []
    household = spec.household_gamma()
    judged = state.apart | state.together
    edges: list[Edge] = []
    review: list[tuple[int, int, float, float]] = []
    columns = [table.column(c).to_pylist() for c in table.column_names]
    index = {c: i for i, c in enumerate(table.column_names)}
    for row in zip(*columns, strict=True):
        a, b = int(row[index["unique_id_l"]]), int(row[index["unique_id_r"]])
        p, w, gamma = (
            float(row[index["match_probability"]]),
            float(row[index["match_weight"]]),
            row[index["gamma_name"]],
        )
        if gamma == household:
            if p >= settings.threshold and _pair(a, b) not in judged:
                review.append((*_pair(a, b), p, w))
            continue
        edges.append((a, b, p))
        if settings.review_floor <= p < settings.threshold and _pair(a, b) not in judged:
            review.append((*_pair(a, b), p, w))
    return edges, review


def _existing_chains(members: dict[int, tuple[int, float | None]]) -> list[Edge]:
    """Existing subjects as edges of probability 1 (a chain through their members), so new records join them."""
    by_subject: dict[int, list[int]] = defaultdict(list)
    for record, (subject, _) in members.items():
        by_subject[subject].append(record)
    chains: list[Edge] = []
    for records in by_subject.values():
        records.sort()
        chains.extend((a, b, 1.0) for a, b in itertools.pairwise(records))
    return chains


def _member_probability(clusters: dict[int, int], edges: list[Edge], threshold: float) -> dict[int, float]:
    """Each record's strongest link to another record of its group (how it came to belong)."""
    best: dict[int, float] = {}
    for a, b, p in edges:
        if p >= threshold and clusters.get(a) == clusters.get(b) and a in clusters:
            if p > best.get(a, -1.0):
                best[a] = p
            if p > best.get(b, -1.0):
                best[b] = p
    return best


def _assign_subjects(
    groups: dict[int, list[int]], old: dict[int, tuple[int, float | None]]
) -> tuple[dict[int, int | None], dict[int, int]]:
    """Which existing subject each new group continues: the one it shares most records with, each subject once.
    Returns group -> subject (None: a new subject) and retired subject -> the subject that took most of it."""
    overlap: Counter[tuple[int, int]] = Counter()
    for key, records in groups.items():
        for record in records:
            if record in old:
                overlap[(key, old[record][0])] += 1
    taken_groups: dict[int, int | None] = {}
    taken_subjects: set[int] = set()
    for (key, subject), _count in sorted(overlap.items(), key=lambda kv: (-kv[1], kv[0][1], kv[0][0])):
        if key in taken_groups or subject in taken_subjects:
            continue
        taken_groups[key] = subject
        taken_subjects.add(subject)
    for key in groups:
        taken_groups.setdefault(key, None)
    retired: dict[int, int] = {}
    successor: dict[int, tuple[int, int]] = {}
    for (key, subject), count in overlap.items():
        if subject not in taken_subjects and count > successor.get(subject, (0, 0))[1]:
            successor[subject] = (key, count)
    for subject in {s for s, _ in old.values()} - taken_subjects:
        retired[subject] = successor[subject][0] if subject in successor else -1
    return taken_groups, retired


def _write_subjects(
    session: Session,
    report: ResolveReport,
    run_id: int,
    clusters: dict[int, int],
    probability: dict[int, float],
    insufficient: set[int],
    state: _State,
) -> None:
    groups: dict[int, list[int]] = defaultdict(list)
    for record, key in clusters.items():
        groups[key].append(record)
    assignment, retired = _assign_subjects(groups, state.members)
    old_sets: dict[int, set[int]] = defaultdict(set)
    for record, (subject, _) in state.members.items():
        old_sets[subject].add(record)
    changed_keys = [
        key
        for key, records in groups.items()
        if assignment[key] is None or old_sets.get(assignment[key] or -1) != set(records)
    ]
    attributes = canonical_attributes(session, {key: groups[key] for key in changed_keys})
    now = utcnow()
    new_keys = [key for key in changed_keys if assignment[key] is None]
    if new_keys:
        # Ids are given here rather than returned by the database: INSERT ... RETURNING in bulk grew
        # quadratically in SQLAlchemy's result splicing (18 s for 12k subjects, hours at a million records).
        first_id = (session.scalar(select(func.max(Subject.id))) or 0) + 1
        rows = []
        for offset, key in enumerate(new_keys):
            assignment[key] = first_id + offset
            row = _subject_row(groups[key], attributes[key], key in insufficient, run_id, now)
            rows.append({"id": first_id + offset, **row})
        for start in range(0, len(rows), 10000):
            session.execute(insert(Subject), rows[start : start + 10000])
        if session.get_bind().dialect.name == "postgresql":
            session.execute(
                text("SELECT setval(pg_get_serial_sequence('subject', 'id'), :last)"),
                {"last": first_id + len(rows) - 1},
            )
    updates = []
    for key in changed_keys:
        existing = assignment[key]
        if key in new_keys or existing is None:
            continue
        row = _subject_row(groups[key], attributes[key], key in insufficient, run_id, now)
        row.pop("created_run_id")
        row.pop("created_at")
        updates.append({"id": existing, "status": "active", "merged_into_id": None, **row})
    if updates:
        session.execute(update(Subject), updates)
    report.subjects_created = len(new_keys)
    report.subjects_changed = len(changed_keys) - len(new_keys)
    # Members: only rows whose subject or probability changed are written.
    inserts, changes, removals = [], [], []
    final: dict[int, tuple[int, float | None]] = {}
    for key, records in groups.items():
        assigned = assignment[key]
        assert assigned is not None
        subject_id: int = assigned
        for record in records:
            p = probability.get(record)
            final[record] = (subject_id, p)
            previous = state.members.get(record)
            if previous is None:
                inserts.append(
                    {"record_id": record, "subject_id": subject_id, "match_probability": p, "run_id": run_id}
                )
            elif previous[0] != subject_id or previous[1] != p:
                changes.append(
                    {"record_id": record, "subject_id": subject_id, "match_probability": p, "run_id": run_id}
                )
    removals = [r for r in state.members if r not in final]
    if removals:
        session.execute(delete(SubjectMember).where(SubjectMember.record_id.in_(removals)))
    if changes:
        session.execute(update(SubjectMember), changes)
    if inserts:
        session.execute(insert(SubjectMember), inserts)
    if retired:
        key_to_subject = {key: assignment[key] for key in groups}
        session.execute(
            update(Subject),
            [
                {
                    "id": subject,
                    "status": "retired",
                    "merged_into_id": key_to_subject.get(successor) if successor >= 0 else None,
                    "member_count": 0,
                    "updated_run_id": run_id,
                    "updated_at": now,
                }
                for subject, successor in retired.items()
            ],
        )
    report.subjects_retired = len(retired)
    report.subjects = len(groups)
    report.singletons = sum(1 for records in groups.values() if len(records) == 1)


def _subject_row(
    records: list[int], attributes: dict[str, Any], insufficient: bool, run_id: int, now: Any
) -> dict[str, Any]:
    canonical = attributes["attributes"]
    return {
        "status": "active",
        "insufficient": insufficient and len(records) == 1,
        "member_count": len(records),
        "given_name": _clip(canonical.get("given_name"), 200),
        "family_name": _clip(canonical.get("family_name"), 200),
        "full_name": _clip(canonical.get("full_name"), 400),
        "date_of_birth": _clip(canonical.get("date_of_birth"), 10),
        "country": _clip(canonical.get("country"), 2),
        "attributes": canonical,
        "identifiers": attributes["identifiers"],
        "created_run_id": run_id,
        "updated_run_id": run_id,
        "created_at": now,
        "updated_at": now,
    }


def _clip(value: Any, size: int) -> str | None:
    if value is None:
        return None
    return str(value)[:size]


def _write_review(session: Session, run_id: int, review: list[tuple[int, int, float, float]], state: _State) -> int:
    """Replace the pending queue with this run's uncertain pairs (decided and skipped ones stay)."""
    session.execute(delete(ReviewPair).where(ReviewPair.status == "pending"))
    kept = {_pair(a, b) for a, b in session.execute(select(ReviewPair.record_a_id, ReviewPair.record_b_id))}
    fresh = [r for r in sorted(review, key=lambda r: (-r[2], r[0], r[1])) if (r[0], r[1]) not in kept]
    fresh = fresh[:REVIEW_LIMIT]
    if fresh:
        now = utcnow()
        session.execute(
            insert(ReviewPair),
            [
                {
                    "record_a_id": a,
                    "record_b_id": b,
                    "match_probability": p,
                    "match_weight": w,
                    "status": "pending",
                    "run_id": run_id,
                    "created_at": now,
                }
                for a, b, p, w in fresh
            ],
        )
    return len(fresh)


def _finish(
    session: Session,
    report: ResolveReport,
    settings: ResolveSettings,
    model: ResolveModel | None,
    state: _State,
    actor: str,
    started: float,
    run: ResolveRun | None = None,
) -> None:
    if report.mode == "unchanged":
        report.subjects = (
            session.scalar(select(func.count()).select_from(Subject).where(Subject.status == "active")) or 0
        )
        report.singletons = (
            session.scalar(
                select(func.count()).select_from(Subject).where(Subject.status == "active", Subject.member_count == 1)
            )
            or 0
        )
        report.review_queue = (
            session.scalar(select(func.count()).select_from(ReviewPair).where(ReviewPair.status == "pending")) or 0
        )
        report.links = session.scalar(select(func.count()).select_from(SubjectLink)) or 0
    if run is None:
        run = ResolveRun(
            model_id=model.id if model else None,
            mode=report.mode,
            engine=settings.engine,
            threshold=settings.threshold,
            report={},
            actor=actor,
        )
        session.add(run)
        session.flush()
        report.run_id = run.id
    report.seconds = time.perf_counter() - started
    run.report = {**report.to_dict(), "last_judgement": state.last_judgement}
    run.finished_at = utcnow()
    audit.record(
        session,
        actor=actor,
        action="resolve.run",
        object_type="resolve_run",
        object_id=run.id,
        details={
            "mode": report.mode,
            "engine": report.engine,
            "threshold": report.threshold,
            "records": report.records,
            "subjects": report.subjects,
            "model_version": report.model_version,
            "trained": report.trained,
        },
    )


__all__ = ["ResolveReport", "ResolveSettings", "resolve", "to_arrow"]
