"""The resolve stage: records -> subjects, with the model, the review queue and the links, in one transaction.

Everything that takes long (reading records, training, scoring, clustering) happens before the write
transaction opens; the write replaces the previous state at once, so an interrupted run leaves the previous
subjects exactly as they were and a rerun starts again from them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import orjson
import pyarrow as pa  # type: ignore[import-untyped]
from splink import DuckDBAPI
from splink.internals.splink_dataframe import SplinkDataFrame
from sqlalchemy import bindparam, delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from threadline.core import audit
from threadline.core.bulk import collector_paused, insert_tuples
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
from threadline.resolve.clusters import cluster_in
from threadline.resolve.links import subject_links_in
from threadline.resolve.mentions import find_mentions
from threadline.resolve.prepare import prepare_tables, read_records
from threadline.resolve.references import references_in
from threadline.resolve.subjects import SUBJECT_COLUMNS, canonical_json_in
from threadline.resolve.training import linker_for, model_settings, train
from threadline.resolve.usernames import find_username_cards

Progress = Callable[[str], None]
# Pairs scored at or above this go to the review queue when they fall short of the threshold.
REVIEW_FLOOR = 0.5
REVIEW_LIMIT = 20000
# Rows per executemany when writing subjects and members.
_BATCH = 20000
_SUBJECT_INSERT = (
    "id",
    "status",
    "insufficient",
    "member_count",
    *SUBJECT_COLUMNS,
    "attributes",
    "identifiers",
    "created_run_id",
    "updated_run_id",
    "created_at",
    "updated_at",
)


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
    # Blocking key values held by more than spec.BLOCK_CAP records, left out of blocking (the giant-block guard).
    capped_blocking_keys: dict[str, int] = field(default_factory=dict)
    model_version: int | None = None
    trained: bool = False
    training: dict[str, Any] = field(default_factory=dict)
    run_id: int | None = None
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["seconds"] = round(self.seconds, 2)
        return out


@dataclass
class _State:
    previous: pa.Table  # record_id, subject_id, probability: the memberships now stored
    model: ResolveModel | None
    apart: set[tuple[int, int]]
    together: set[tuple[int, int]]
    last_judgement: int
    last_run: ResolveRun | None


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def _load_state(session: Session) -> _State:
    rows = session.connection().execute(
        select(SubjectMember.record_id, SubjectMember.subject_id, SubjectMember.match_probability)
    )
    records, subjects, probabilities = [], [], []
    for record, subject, probability in rows:
        records.append(record)
        subjects.append(subject)
        probabilities.append(probability)
    previous = pa.table(
        {
            "record_id": pa.array(records, pa.int64()),
            "subject_id": pa.array(subjects, pa.int64()),
            "probability": pa.array(probabilities, pa.float64()),
        }
    )
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
    return _State(previous, model, apart, together, last_judgement, last_run)


def _pairs_table(pairs: set[tuple[int, int]]) -> pa.Table:
    ordered = sorted(pairs)
    return pa.table(
        {
            "record_a": pa.array([a for a, _ in ordered], pa.int64()),
            "record_b": pa.array([b for _, b in ordered], pa.int64()),
        }
    )


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    rows = con.execute(sql).fetchall()
    row = rows[0] if rows else None
    return int(row[0]) if row and row[0] is not None else 0


class _Clock:
    """Seconds per phase for the report, and the progress line as each phase starts."""

    def __init__(self, say: Progress) -> None:
        self.say = say
        self.seconds: dict[str, float] = {}
        self.current: str | None = None
        self.started = time.perf_counter()

    def phase(self, name: str, message: str | None = None) -> None:
        now = time.perf_counter()
        if self.current is not None:
            self.seconds[self.current] = round(self.seconds.get(self.current, 0.0) + now - self.started, 2)
        self.current, self.started = name, now
        if message:
            self.say(message)

    def stop(self) -> dict[str, float]:
        self.phase("", None)
        self.current = None
        return self.seconds


def _frame(api: Any, con: duckdb.DuckDBPyConnection, table: str, name: str) -> SplinkDataFrame:
    """A table of the work connection as an input Splink reads (itself for DuckDB, a copy for Spark)."""
    if isinstance(api, DuckDBAPI) and api.duckdb_con is con:
        return api.register(table, table_name=name)
    return engines.register(api, con.table(table).to_arrow_table(), name)


def _gamma_column(frame: SplinkDataFrame) -> str:
    # Some of Splink's incremental outputs arrive without a comparison's gamma column (seen with predict_between
    # on a model whose EM blocks degenerated): then the household rule cannot be applied to those pairs.
    api = frame.db_api
    if isinstance(api, DuckDBAPI):
        present = set(api.duckdb_con.sql(f"SELECT * FROM {frame.physical_name} LIMIT 0").columns)
    else:
        present = set(frame.as_spark_dataframe().columns)
    return "gamma_name" if "gamma_name" in present else "CAST(NULL AS INTEGER) AS gamma_name"


def _keep_scored(con: duckdb.DuckDBPyConnection, frame: SplinkDataFrame, floor: float) -> None:
    """Append a Splink result's pairs at or above `floor` to table `scored`."""
    columns = (
        "unique_id_l AS record_a, unique_id_r AS record_b, match_probability AS probability, "
        f"match_weight AS weight, {_gamma_column(frame)}"
    )
    where = f"match_probability >= {floor!r}"
    api = frame.db_api
    if isinstance(api, DuckDBAPI) and api.duckdb_con is con:
        con.execute(f"INSERT INTO scored SELECT {columns} FROM {frame.physical_name} WHERE {where}")
        return
    if isinstance(api, DuckDBAPI):
        arrow = api.duckdb_con.sql(f"SELECT {columns} FROM {frame.physical_name} WHERE {where}").to_arrow_table()
    else:
        arrow = frame.as_spark_dataframe().where(where).selectExpr(*columns.split(", ")).toArrow()
    con.register("scored_in", arrow)
    con.execute("INSERT INTO scored SELECT * FROM scored_in")
    con.unregister("scored_in")


def _count(frame: SplinkDataFrame) -> int:
    api = frame.db_api
    if isinstance(api, DuckDBAPI):
        return int(api.duckdb_con.sql(f"SELECT count(*) FROM {frame.physical_name}").fetchall()[0][0])
    return int(frame.as_spark_dataframe().count())


def _score(api: Any, con: duckdb.DuckDBPyConnection, settings: dict[str, Any], incremental: bool, floor: float) -> int:
    """Score the blocked pairs of table `records` into table `scored` (pairs at or above `floor`); returns how
    many pairs blocking produced. Incremental: only pairs that involve a new record (Splink's predict_between
    for new against existing, predict_within for new)."""
    con.execute(
        "CREATE OR REPLACE TABLE scored (record_a BIGINT, record_b BIGINT, probability DOUBLE, weight DOUBLE, "
        "gamma_name INTEGER)"
    )
    frame = _frame(api, con, "records", "records_in")
    linker = linker_for(frame, model_settings(settings))
    if not incremental:
        blocked = _count(linker.inference.compute_blocked_pairs_for_predict())
        scored = linker.inference.predict(threshold_match_probability=floor, warning_mode="never")
        _keep_scored(con, scored, floor)
        return blocked
    for table, join in (("records_new", "SEMI"), ("records_old", "ANTI")):
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM records {join} JOIN new_records ON unique_id = record_id"
        )
    new_frame = _frame(api, con, "records_new", "records_new_in")
    for column in ("name_sorted", "family"):
        linker.table_management.compute_tf_table(column)
    scored = linker.inference.predict_within(new_frame, warning_mode="never")
    blocked = _count(scored)
    _keep_scored(con, scored, floor)
    if _one(con, "SELECT count(*) FROM records_old"):
        old_frame = _frame(api, con, "records_old", "records_old_in")
        between = linker.inference.predict_between(new_frame, old_frame, warning_mode="never")
        blocked += _count(between)
        _keep_scored(con, between, floor)
    return blocked


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
    con = engines.work_connection()
    try:
        # The cycle collector's full passes over millions of live rows and edges took most of the time (39 -> 14 s
        # at 70k records); nothing resolve builds holds a cycle for long.
        with collector_paused():
            return _resolve(store, settings, con, actor, progress or (lambda _message: None))
    finally:
        con.close()


def _resolve(
    store: Store, settings: ResolveSettings, con: duckdb.DuckDBPyConnection, actor: str, say: Progress
) -> ResolveReport:
    started = time.perf_counter()
    clock = _Clock(say)
    report = ResolveReport(engine=settings.engine, threshold=settings.threshold)

    clock.phase("read", "reading records")
    with store.session() as session:
        state = _load_state(session)
        tables = read_records(session)
    clock.phase("prepare")
    prepared = prepare_tables(con, tables)
    con.register("canonical", tables.canonical)
    con.register("keys", tables.keys)
    con.register("key_values", tables.key_values)
    con.register("previous", state.previous)
    clock.phase("references")
    references = references_in(con)
    with store.session() as session:
        mentions = find_mentions(session)
        cards = find_username_cards(session)
    for name, found in (("mention_edges", mentions.edges), ("card_edges", cards.edges)):
        if not found:
            continue
        con.register(
            name,
            pa.table(
                {
                    "record_a": pa.array([a for a, _, _ in found], pa.int64()),
                    "record_b": pa.array([b for _, b, _ in found], pa.int64()),
                    "probability": pa.array([p for _, _, p in found], pa.float64()),
                }
            ),
        )
        con.execute(f"INSERT INTO reference_edges SELECT record_a, record_b, probability FROM {name}")
        con.unregister(name)
    con.unregister("key_values")

    report.records = prepared.records
    report.records_by_type = dict(sorted(prepared.by_type.items()))
    report.compared_records = prepared.compared
    report.identical_records = prepared.duplicates
    report.insufficient = len(prepared.insufficient)
    report.skipped_values = dict(prepared.skipped_values)
    report.shared_identifiers = prepared.shared_identifiers
    report.capped_blocking_keys = {k: v for k, v in prepared.capped_keys.items() if v}
    con.execute(
        "CREATE OR REPLACE TABLE new_records AS SELECT record_id FROM all_records ANTI JOIN previous USING (record_id)"
    )
    report.new_records = _one(con, "SELECT count(*) FROM new_records")
    gone = _one(con, "SELECT count(*) FROM previous ANTI JOIN all_records USING (record_id)")

    model = state.model
    need_training = (
        settings.retrain
        or model is None
        or model.spec_version != spec.SPEC_VERSION
        or bool((model.training or {}).get("skipped"))
    )
    too_few = prepared.compared < 2  # nothing to learn from or compare: every record is its own subject
    last = state.last_run.report if state.last_run is not None else {}
    judgements_changed = state.last_judgement != last.get("last_judgement", 0)
    threshold_changed = state.last_run is not None and state.last_run.threshold != settings.threshold
    has_members = state.previous.num_rows > 0
    if has_members and not (need_training or settings.full or judgements_changed or threshold_changed or gone):
        report.mode = "incremental" if report.new_records else "unchanged"
    else:
        report.mode = "full"

    if report.mode == "unchanged":
        with store.session() as session:
            report.model_version = model.version if model else None
            report.timings = clock.stop()
            _finish(session, report, settings, model, state, actor, started)
        return report

    api = engines.make_api(settings.engine, con)
    training: dict[str, Any] | None = None
    if need_training and too_few:
        frame = _frame(api, con, "records", "training_records")
        model_json = linker_for(frame, spec.settings()).misc.save_model_to_json()
        training = {"skipped": "fewer than two records to learn from; the model is trained on the next run"}
        report.training = training
    elif need_training:
        clock.phase("train", "training the model")
        frame = _frame(api, con, "records", "training_records")
        trained = train(api, frame, seed=settings.seed)
        training = trained.to_dict()
        model_json = trained.settings
        report.trained = True
        report.training = training
    else:
        assert model is not None
        model_json = model.settings

    clock.phase("score", "scoring pairs")
    incremental = report.mode == "incremental"
    compared_new = _one(con, "SELECT count(*) FROM records SEMI JOIN new_records ON unique_id = record_id")
    if too_few or (incremental and not compared_new):
        con.execute(
            "CREATE OR REPLACE TABLE scored (record_a BIGINT, record_b BIGINT, probability DOUBLE, weight DOUBLE, "
            "gamma_name INTEGER)"
        )
        report.blocked_pairs = 0
    else:
        report.blocked_pairs = _score(api, con, model_json, incremental, settings.review_floor)

    clock.phase("cluster", "clustering")
    report.judgements_applied = len(state.apart) + len(state.together)
    _edges(con, settings, state, prepared.insufficient, incremental)
    report.references = references.to_dict() | {"mentions": mentions.to_dict(), "usernames": cards.to_dict()}
    report.matches = _one(con, f"SELECT count(*) FROM edges WHERE probability >= {settings.threshold!r}")
    con.execute(
        """
        CREATE OR REPLACE TABLE matchable AS
        SELECT record_id FROM all_records ANTI JOIN insufficient USING (record_id)
        UNION SELECT record_a FROM edges UNION SELECT record_b FROM edges
        """
    )
    cluster_in(con, "matchable", "edges", settings.threshold, state.apart)
    # Records with too little to match on, joined by no reference or judgement: a subject each.
    con.execute(
        "INSERT INTO clusters SELECT record_id, record_id FROM all_records ANTI JOIN clusters USING (record_id)"
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE membership AS
        WITH strongest AS (
            SELECT record_id, max(probability) AS probability FROM (
                SELECT e.record_a AS record_id, e.probability FROM edges e
                JOIN clusters ca ON ca.record_id = e.record_a JOIN clusters cb ON cb.record_id = e.record_b
                WHERE e.probability >= {settings.threshold!r} AND ca.cluster_key = cb.cluster_key
                UNION ALL
                SELECT e.record_b, e.probability FROM edges e
                JOIN clusters ca ON ca.record_id = e.record_a JOIN clusters cb ON cb.record_id = e.record_b
                WHERE e.probability >= {settings.threshold!r} AND ca.cluster_key = cb.cluster_key
            ) GROUP BY record_id
        )
        SELECT c.record_id, c.cluster_key, s.probability FROM clusters c LEFT JOIN strongest s USING (record_id)
        """
    )

    clock.phase("write", "writing subjects")
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
        _write_subjects(session, con, report, run.id)
        report.review_queue = _write_review(session, con, run.id)
        clock.phase("links")
        report.links = subject_links_in(session, con, "final_members", run.id)
        report.timings = clock.stop()
        _finish(session, report, settings, model, state, actor, started, run)
    return report


def _edges(
    con: duckdb.DuckDBPyConnection,
    settings: ResolveSettings,
    state: _State,
    insufficient: list[int],
    incremental: bool,
) -> None:
    """Table `edges` (record_a, record_b, probability): what may join records; table `review`: the uncertain
    pairs for the queue.

    A pair whose names agree only on the family name is a household (or a relative) far more often than one
    person: it never joins records by itself, whatever the address or a shared family mailbox says; above the
    threshold it goes to review instead. Identical rows join their representative, "same" judgements and (when
    linking new records) the existing subjects are edges of probability 1, the seizure's own keys edges of
    `references.PROBABILITY`; a pair judged "not same" is never an edge."""
    household = spec.household_gamma()
    threshold, floor = settings.threshold, settings.review_floor
    con.register("apart_in", _pairs_table(state.apart))
    con.register("together_in", _pairs_table(state.together))
    con.register("insufficient_in", pa.table({"record_id": pa.array(insufficient, pa.int64())}))
    con.execute("CREATE OR REPLACE TABLE insufficient AS SELECT * FROM insufficient_in")
    con.execute(
        """
        CREATE OR REPLACE TABLE judged AS
        SELECT record_a, record_b FROM apart_in UNION SELECT record_a, record_b FROM together_in
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE review AS
        SELECT least(s.record_a, s.record_b) AS record_a, greatest(s.record_a, s.record_b) AS record_b,
               s.probability, s.weight
        FROM scored s
        ANTI JOIN judged j
          ON j.record_a = least(s.record_a, s.record_b) AND j.record_b = greatest(s.record_a, s.record_b)
        WHERE (s.gamma_name = {household} AND s.probability >= {threshold!r})
           OR (s.gamma_name IS DISTINCT FROM {household}
               AND s.probability >= {floor!r} AND s.probability < {threshold!r})
        """
    )
    chains = (
        """
        UNION ALL
        SELECT record_id, next_record, 1.0 FROM (
            SELECT record_id, lead(record_id) OVER (PARTITION BY subject_id ORDER BY record_id) AS next_record
            FROM previous
        ) WHERE next_record IS NOT NULL
        """
        if incremental
        else ""
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE edges AS
        SELECT record_a, record_b, probability FROM scored WHERE gamma_name IS DISTINCT FROM {household}
        UNION ALL
        SELECT representative, record_id, 1.0 FROM duplicates
        UNION ALL
        SELECT t.record_a, t.record_b, 1.0 FROM together_in t
        SEMI JOIN all_records a ON a.record_id = t.record_a SEMI JOIN all_records b ON b.record_id = t.record_b
        UNION ALL
        SELECT r.record_a, r.record_b, r.probability FROM reference_edges r
        ANTI JOIN apart_in j
          ON j.record_a = least(r.record_a, r.record_b) AND j.record_b = greatest(r.record_a, r.record_b)
        {chains}
        """
    )
    for name in ("apart_in", "together_in", "insufficient_in"):
        con.unregister(name)


def _assign_subjects(con: duckdb.DuckDBPyConnection) -> tuple[dict[int, int], dict[int, int]]:
    """Which existing subject each new group continues: the one it shares most records with, each subject once.
    Returns group -> subject (groups continuing no subject are left out) and retired subject -> the group that
    took most of it (-1: none)."""
    overlap = con.execute(
        """
        SELECT m.cluster_key, p.subject_id, count(*) AS n FROM membership m JOIN previous p USING (record_id)
        GROUP BY ALL ORDER BY n DESC, p.subject_id, m.cluster_key
        """
    ).fetchall()
    taken_groups: dict[int, int] = {}
    taken_subjects: set[int] = set()
    successor: dict[int, tuple[int, int]] = {}
    for key, subject, count in overlap:
        if subject not in successor:
            successor[subject] = (key, count)  # rows come largest first
        if key in taken_groups or subject in taken_subjects:
            continue
        taken_groups[key] = subject
        taken_subjects.add(subject)
    retired: dict[int, int] = {}
    for (subject,) in con.execute("SELECT DISTINCT subject_id FROM previous").fetchall():
        if subject not in taken_subjects:
            retired[subject] = successor[subject][0] if subject in successor else -1
    return taken_groups, retired


def _write_subjects(session: Session, con: duckdb.DuckDBPyConnection, report: ResolveReport, run_id: int) -> None:
    """Subjects, members and retirements from table `membership` (record_id, cluster_key, probability) against
    table `previous`; leaves table `final_members` (record_id, subject_id, probability)."""
    assignment, retired = _assign_subjects(con)
    con.register(
        "continued",
        pa.table(
            {
                "cluster_key": pa.array(list(assignment), pa.int64()),
                "subject_id": pa.array(list(assignment.values()), pa.int64()),
            }
        ),
    )
    # A group is unchanged when it continues a subject whose members are exactly its records.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE changed_keys AS
        WITH groups AS (
            SELECT m.cluster_key, c.subject_id, count(*) AS n,
                   count(*) FILTER (WHERE p.subject_id = c.subject_id) AS kept
            FROM membership m LEFT JOIN continued c USING (cluster_key) LEFT JOIN previous p USING (record_id)
            GROUP BY ALL
        ), before AS (SELECT subject_id, count(*) AS n FROM previous GROUP BY ALL)
        SELECT g.cluster_key, g.subject_id, g.n FROM groups g LEFT JOIN before b USING (subject_id)
        WHERE g.subject_id IS NULL OR g.kept <> g.n OR b.n IS DISTINCT FROM g.n
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE changed_groups AS
        SELECT record_id, cluster_key AS group_key FROM membership SEMI JOIN changed_keys USING (cluster_key)
        """
    )
    canonical_json_in(con, "changed_groups")
    changed = con.execute(
        """
        SELECT c.cluster_key, c.subject_id, c.n, c.n = 1 AND i.record_id IS NOT NULL AS insufficient,
               left(j.given_name, 200), left(j.family_name, 200), left(j.full_name, 400),
               left(j.date_of_birth, 10), left(j.country, 2), j.attributes, j.identifiers
        FROM changed_keys c JOIN canonical_json j ON j.group_key = c.cluster_key
        LEFT JOIN insufficient i ON i.record_id = c.cluster_key
        ORDER BY c.cluster_key
        """
    ).fetchall()
    now = utcnow()
    connection = session.connection()
    stamp = Subject.__table__.c.created_at.type.dialect_impl(connection.dialect).bind_processor(connection.dialect)
    now_value = stamp(now) if stamp else now
    new_keys = [row[0] for row in changed if row[1] is None]
    if new_keys:
        # Ids are given here rather than returned by the database: INSERT ... RETURNING in bulk grew
        # quadratically in SQLAlchemy's result splicing (18 s for 12k subjects, hours at a million records).
        first_id = (session.scalar(select(func.max(Subject.id))) or 0) + 1
        inserts = []
        for offset, (key, _, n, alone, *values, attributes, identifiers) in enumerate(
            r for r in changed if r[1] is None
        ):
            assignment[key] = first_id + offset
            row = (first_id + offset, "active", bool(alone), n, *values, attributes, identifiers)
            inserts.append((*row, run_id, run_id, now_value, now_value))
        _insert_rows(session, "subject", _SUBJECT_INSERT, inserts)
        if session.get_bind().dialect.name == "postgresql":
            session.execute(
                text("SELECT setval(pg_get_serial_sequence('subject', 'id'), :last)"),
                {"last": first_id + len(inserts) - 1},
            )
    updates = [
        {
            "b_id": subject,
            "status": "active",
            "merged_into_id": None,
            "insufficient": bool(alone),
            "member_count": n,
            **dict(zip(SUBJECT_COLUMNS, values, strict=True)),
            "attributes": orjson.loads(attributes),
            "identifiers": orjson.loads(identifiers),
            "updated_run_id": run_id,
            "updated_at": now,
        }
        for _, subject, n, alone, *values, attributes, identifiers in changed
        if subject is not None
    ]
    if updates:
        statement = update(Subject).where(Subject.id == bindparam("b_id"))
        for start in range(0, len(updates), _BATCH):
            connection.execute(statement, updates[start : start + _BATCH])
    report.subjects_created = len(new_keys)
    report.subjects_changed = len(changed) - len(new_keys)
    con.unregister("continued")
    con.register(
        "assigned",
        pa.table(
            {
                "cluster_key": pa.array(list(assignment), pa.int64()),
                "subject_id": pa.array(list(assignment.values()), pa.int64()),
            }
        ),
    )
    # Members: only rows whose subject or probability changed are written.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE final_members AS
        SELECT m.record_id, a.subject_id, m.probability FROM membership m JOIN assigned a USING (cluster_key)
        """
    )
    removals = [
        r for (r,) in con.execute("SELECT record_id FROM previous ANTI JOIN final_members USING (record_id)").fetchall()
    ]
    for start in range(0, len(removals), _BATCH):
        connection.execute(delete(SubjectMember).where(SubjectMember.record_id.in_(removals[start : start + _BATCH])))
    changes = [
        {"b_record_id": r, "subject_id": s, "match_probability": p, "run_id": run_id}
        for r, s, p in con.execute(
            """
            SELECT f.record_id, f.subject_id, f.probability FROM final_members f JOIN previous p USING (record_id)
            WHERE p.subject_id <> f.subject_id OR p.probability IS DISTINCT FROM f.probability
            """
        ).fetchall()
    ]
    if changes:
        statement = update(SubjectMember).where(SubjectMember.record_id == bindparam("b_record_id"))
        for start in range(0, len(changes), _BATCH):
            connection.execute(statement, changes[start : start + _BATCH])
    inserts = con.execute(
        f"""
        SELECT record_id, subject_id, probability, {int(run_id)} FROM final_members ANTI JOIN previous USING (record_id)
        ORDER BY record_id
        """
    ).fetchall()
    _insert_rows(session, "subject_member", ("record_id", "subject_id", "match_probability", "run_id"), inserts)
    if retired:
        statement = update(Subject).where(Subject.id == bindparam("b_id"))
        connection.execute(
            statement,
            [
                {
                    "b_id": subject,
                    "status": "retired",
                    "merged_into_id": assignment.get(successor) if successor >= 0 else None,
                    "member_count": 0,
                    "updated_run_id": run_id,
                    "updated_at": now,
                }
                for subject, successor in retired.items()
            ],
        )
    con.unregister("assigned")
    report.subjects_retired = len(retired)
    report.subjects = _one(con, "SELECT count(DISTINCT cluster_key) FROM membership")
    report.singletons = _one(
        con, "SELECT count(*) FROM (SELECT cluster_key FROM membership GROUP BY ALL HAVING count(*) = 1)"
    )


def _insert_rows(session: Session, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Rows already in the driver's terms (JSON as text, timestamps bound) straight to its executemany:
    SQLAlchemy's per-row parameter handling cost more than the insert itself at a million members."""
    for start in range(0, len(rows), _BATCH):
        insert_tuples(session, table, columns, rows[start : start + _BATCH])


def _write_review(session: Session, con: duckdb.DuckDBPyConnection, run_id: int) -> int:
    """Replace the pending queue with this run's uncertain pairs (decided and skipped ones stay)."""
    session.execute(delete(ReviewPair).where(ReviewPair.status == "pending"))
    kept = session.execute(select(ReviewPair.record_a_id, ReviewPair.record_b_id)).all()
    con.register("kept_pairs", _pairs_table({_pair(a, b) for a, b in kept}))
    fresh = con.execute(
        f"""
        SELECT r.record_a, r.record_b, r.probability, r.weight FROM review r
        ANTI JOIN kept_pairs k ON k.record_a = r.record_a AND k.record_b = r.record_b
        ORDER BY r.probability DESC, r.record_a, r.record_b LIMIT {REVIEW_LIMIT}
        """
    ).fetchall()
    con.unregister("kept_pairs")
    if fresh:
        now = utcnow()
        session.connection().execute(
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


__all__ = ["ResolveReport", "ResolveSettings", "resolve"]
