"""Resolution accuracy on synthetic seizures: pairwise precision, recall and F1 against the truth, for Threadline's
resolver and two baselines measured in the same run: exact name + date of birth, and generic Splink (names, date
of birth, e-mail, postcode; stock comparisons, default training, blocking on the same e-mail, family name +
postcode, given name + date of birth, whole name). Also blocking: comparisons per record and the share of true
pairs the candidates keep (see `blocking_recall`).

    uv run python benchmarks/resolve_accuracy.py --people 10000 100000

Prepared seizures and ingested databases are cached under /tmp/threadline-bench (synth + ingest of 100k people
take a few minutes). Payments are ingested with a mapping for payer_name / payer_email (see the report).
Generic Splink runs in a child process held to GENERIC_MEMORY (address space) and a DuckDB memory limit, so a
baseline that outgrows the machine is reported as such instead of taking the machine down."""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy import select

from threadline.core.db import Store, open_store
from threadline.core.settings import Settings
from threadline.ingest.pipeline import ingest
from threadline.model import SubjectMember
from threadline.resolve import ResolveSettings, resolve, spec
from threadline.resolve.clusters import cluster_in
from threadline.resolve.engine import make_api, work_connection
from threadline.resolve.prepare import iter_records, prepare_tables, read_records, record_row
from threadline.resolve.references import references_in
from threadline.resolve.training import linker_for
from threadline.resolve.truth import pairwise_score, truth_people
from threadline.synth.generate import generate

CACHE = Path("/tmp/threadline-bench")
# Generic Splink's child process: address space and DuckDB memory. Past them it stops with "out of memory".
GENERIC_MEMORY = 8 << 30
GENERIC_DUCKDB_MEMORY = "4GB"
# What a careful Splink user does after looking at the blocking counts: an e-mail or a whole name held by more
# records than this (the shop's own mailbox and display name, 8,000 records at 10k people) is treated as missing.
GENERIC_FREQUENT = 1000
MAPPING = """files:
  "payments*.jsonl":
    record_type: payment
    columns:
      record_id: payment_id
      full_name: payer_name
      email: payer_email
      country: payer_country
      ip: ip
      date: paid_at
      amount: amount
      currency: currency
      counterparty: counterparty
"""


def prepared_store(people: int, seed: int = 7) -> tuple[Path, Path]:
    """(seizure folder, ingested database home) for `people`, built once and cached."""
    base = CACHE / f"people-{people}-seed-{seed}"
    seizure, home = base / "synth", base / "ingested"
    if not (seizure / "truth" / "summary.json").exists():
        shutil.rmtree(seizure, ignore_errors=True)
        generate(seizure, people, seed=seed, media=0)
    if not (home / "done").exists():
        shutil.rmtree(home, ignore_errors=True)
        (base / "mapping.yaml").write_text(MAPPING, encoding="utf-8")
        store = open_store(Settings(home=home))
        ingest(store, seizure / "seizure", mapping_path=base / "mapping.yaml", exclude=("media*",))
        store.dispose()
        (home / "done").write_text("ok")
    return seizure, home


def fresh_copy(home: Path, name: str) -> Store:
    work = home.parent / name
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(home, work)
    return open_store(Settings(home=work))


def exact_baseline(store: Store) -> dict[int, Any]:
    clusters: dict[int, Any] = {}
    with store.session() as session:
        for record_id, _record_type, fields in iter_records(session):
            given, family, dob = (
                fields.get("given_name_key"),
                fields.get("family_name_key"),
                fields.get("date_of_birth"),
            )
            clusters[record_id] = (given, family, dob) if given and family and dob else ("alone", record_id)
    return clusters


def _truth_table(truth: dict[int, str]) -> pa.Table:
    return pa.table({"record_id": pa.array(list(truth), pa.int64()), "person": pa.array(list(truth.values()))})


def blocking_recall(store: Store, truth: dict[int, str]) -> dict[str, Any]:
    """How many pairs blocking produces and how many true pairs it keeps, on the table resolve compares.

    - `compared`: true pairs that are scored at all: both records in one group of identical rows (compared once,
      joined with probability 1), or their representatives a blocked pair. Classic pair completeness.
    - `reachable`: true pairs connected by candidates between records of the same person: blocked pairs,
      identical rows and the seizure's own keys (references), closed transitively. Clustering joins connected
      components, so this is the most recall any scoring of these candidates can give; it is the figure the
      99.5 % goal is read against (the buyer of 300 orders is one connected group, not 45,000 direct pairs).
    Per rule: the pairs each blocking rule adds after the rules before it, and how many of them are true."""
    with store.session() as session:
        tables = read_records(session)
    con = work_connection()
    try:
        prepared = prepare_tables(con, tables)
        con.register("keys", tables.keys)
        con.register("key_values", tables.key_values)
        references_in(con)
        api = make_api("duckdb", con)
        linker = linker_for(api.register("records", table_name="records_in"), spec.settings())
        blocked = linker.inference.compute_blocked_pairs_for_predict().physical_name
        con.register("truth_in", _truth_table(truth))
        con.execute(
            """
            CREATE TEMP TABLE rep AS
            SELECT a.record_id, coalesce(d.representative, a.record_id) AS rep, t.person
            FROM all_records a LEFT JOIN duplicates d USING (record_id) JOIN truth_in t USING (record_id)
            """
        )
        con.execute("CREATE TEMP TABLE rep_person AS SELECT rep, person, count(*) AS n FROM rep GROUP BY ALL")

        def one(sql: str) -> int:
            return int(con.execute(sql).fetchall()[0][0] or 0)

        true_pairs = one("SELECT sum(n * (n - 1) // 2) FROM (SELECT count(*) AS n FROM truth_in GROUP BY person)")
        identical = one("SELECT sum(n * (n - 1) // 2) FROM rep_person")
        per_rule = con.execute(
            f"""
            WITH found AS (
                SELECT b.match_key, sum(x.n * y.n) AS true_pairs FROM {blocked} b
                JOIN rep_person x ON x.rep = b.join_key_l
                JOIN rep_person y ON y.rep = b.join_key_r AND y.person = x.person
                GROUP BY ALL
            ), counted AS (SELECT match_key, count(*) AS pairs FROM {blocked} GROUP BY ALL)
            SELECT c.match_key, c.pairs, coalesce(f.true_pairs, 0)
            FROM counted c LEFT JOIN found f USING (match_key) ORDER BY c.match_key::INTEGER
            """
        ).fetchall()
        compared = identical + sum(int(t) for _, _, t in per_rule)
        blocked_pairs = sum(int(p) for _, p, _ in per_rule)
        con.execute(
            f"""
            CREATE TEMP TABLE true_edges AS
            SELECT b.join_key_l AS record_a, b.join_key_r AS record_b, 1.0 AS probability FROM {blocked} b
            JOIN truth_in ta ON ta.record_id = b.join_key_l JOIN truth_in tb ON tb.record_id = b.join_key_r
            WHERE ta.person = tb.person
            UNION ALL
            SELECT d.record_id, d.representative, 1.0 FROM duplicates d
            JOIN truth_in ta ON ta.record_id = d.record_id JOIN truth_in tb ON tb.record_id = d.representative
            WHERE ta.person = tb.person
            UNION ALL
            SELECT r.record_a, r.record_b, 1.0 FROM reference_edges r
            JOIN truth_in ta ON ta.record_id = r.record_a JOIN truth_in tb ON tb.record_id = r.record_b
            WHERE ta.person = tb.person
            """
        )
        con.execute("CREATE TEMP TABLE truth_nodes AS SELECT record_id FROM truth_in")
        cluster_in(con, "truth_nodes", "true_edges", 0.5, set())
        reachable = one(
            """
            SELECT sum(n * (n - 1) // 2) FROM (
                SELECT count(*) AS n FROM clusters JOIN truth_in USING (record_id) GROUP BY cluster_key, person)
            """
        )
        rules = [r.get_blocking_rule("duckdb").blocking_rule_sql for r in spec.prediction_blocking_rules()]
        return {
            "records": prepared.records,
            "compared_records": prepared.compared,
            "blocked_pairs": blocked_pairs,
            "comparisons_per_record": round(blocked_pairs / max(prepared.records, 1), 2),
            "comparisons_per_compared_record": round(blocked_pairs / max(prepared.compared, 1), 2),
            "true_pairs": true_pairs,
            "recall_compared": round(compared / true_pairs, 5) if true_pairs else 1.0,
            "recall_reachable": round(reachable / true_pairs, 5) if true_pairs else 1.0,
            "per_rule": [
                {"rule": rules[int(key)], "pairs": int(pairs), "true_pairs": int(found)}
                for key, pairs, found in per_rule
            ],
        }
    finally:
        con.close()


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (GENERIC_MEMORY, GENERIC_MEMORY))


def generic_splink_child(home: Path, seed: int, out: Path) -> dict[str, Any]:
    """Generic Splink on the store at `home`; writes (record_id, cluster) to `out` (parquet)."""
    from splink import DuckDBAPI, Linker, block_on

    started = time.perf_counter()
    store = open_store(Settings(home=home))
    rows = []
    with store.session() as session:
        for record_id, record_type, fields in iter_records(session):
            row = record_row(record_id, record_type, fields, defaultdict(int))  # type: ignore[arg-type]
            emails = row["emails"] or [None]
            rows.append(
                {
                    "unique_id": record_id,
                    "given": row["given"],
                    "family": row["family"],
                    "dob": row["dob"],
                    "email": emails[0],
                    "postal_code": row["postal_code"],
                }
            )
    store.dispose()
    api = DuckDBAPI(connection=work_connection(memory_limit=GENERIC_DUCKDB_MEMORY))
    con = api.duckdb_con
    con.register("generic_in", pa.Table.from_pylist(rows))
    del rows
    con.execute(
        f"""
        CREATE TABLE generic AS
        WITH emails AS (SELECT email FROM generic_in GROUP BY ALL HAVING count(*) > {GENERIC_FREQUENT}),
             names AS (SELECT given, family FROM generic_in GROUP BY ALL HAVING count(*) > {GENERIC_FREQUENT})
        SELECT g.unique_id,
               CASE WHEN n.given IS NULL THEN g.given END AS given,
               CASE WHEN n.given IS NULL THEN g.family END AS family,
               g.dob,
               CASE WHEN e.email IS NULL THEN g.email END AS email,
               g.postal_code
        FROM generic_in g
        LEFT JOIN emails e ON e.email = g.email
        LEFT JOIN names n ON n.given = g.given AND n.family = g.family
        ORDER BY g.unique_id
        """
    )
    con.unregister("generic_in")
    frame = api.register("generic", table_name="generic_records")
    linker = Linker(frame, spec.generic_settings(), log_level=None)
    linker.training.estimate_probability_two_random_records_match([block_on("given", "family", "dob")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=seed)
    for rule in (block_on("given", "family"), block_on("dob")):
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(rule, max_pairs=1.5e6)
        except ValueError as exc:  # EM degeneration, as Splink reports it
            print(f"  generic Splink EM on {rule}: {exc}", file=sys.stderr)
    blocked = linker.inference.compute_blocked_pairs_for_predict()
    blocked_pairs = int(api.duckdb_con.execute(f"SELECT count(*) FROM {blocked.physical_name}").fetchall()[0][0])
    predictions = linker.inference.predict(threshold_match_probability=0.9, warning_mode="never")
    clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, 0.9)
    api.duckdb_con.execute(
        f"COPY (SELECT unique_id AS record_id, cluster_id FROM {clustered.physical_name}) TO '{out}' (FORMAT parquet)"
    )
    return {"seconds": round(time.perf_counter() - started, 1), "blocked_pairs": blocked_pairs}


def generic_splink(home: Path, seed: int) -> tuple[dict[int, Any] | None, dict[str, Any]]:
    """Generic Splink in a child process under GENERIC_MEMORY: (record -> cluster, figures), or (None, why)."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "clusters.parquet"
        done = subprocess.run(
            [sys.executable, __file__, "--generic-child", str(home), str(seed), str(out)],
            capture_output=True,
            text=True,
            preexec_fn=_limit_memory,
            check=False,
        )
        if done.returncode != 0 or not out.exists():
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return None, {"failed": f"exit {done.returncode}: {tail}"}
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        clusters = dict(duckdb.sql(f"SELECT record_id, cluster_id FROM '{out}'").fetchall())
    return clusters, figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, nargs="+", default=[10000])
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--generic-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generic_child:
        home, seed, out = args.generic_child
        print(json.dumps(generic_splink_child(Path(home), int(seed), Path(out))))
        return
    results = []
    for people in args.people:
        seizure, home = prepared_store(people, args.seed)
        store = fresh_copy(home, "resolve-accuracy")
        started = time.perf_counter()
        report = resolve(store, ResolveSettings(threshold=args.threshold), actor="benchmark")
        seconds = time.perf_counter() - started
        with store.session() as session:
            truth = truth_people(session, seizure / "truth" / "records.csv")
            ours = dict(session.execute(select(SubjectMember.record_id, SubjectMember.subject_id)).all())
        threadline = pairwise_score(ours, truth)
        # Ours first, so a baseline that runs out of memory at scale does not take the figures with it.
        print(f"{people:,} people: Threadline {threadline.to_dict()} in {seconds:.0f} s", flush=True)
        blocking = blocking_recall(store, truth)
        print(f"{people:,} people: blocking {json.dumps(blocking)}", flush=True)
        exact = pairwise_score(exact_baseline(store), truth)
        print(f"{people:,} people: exact name+DOB {exact.to_dict()}", flush=True)
        generic_clusters, generic_figures = generic_splink(Path(store.settings.home), args.seed)
        generic = pairwise_score(generic_clusters, truth).to_dict() if generic_clusters is not None else {}
        print(f"{people:,} people: generic Splink {generic} {generic_figures}", flush=True)
        row = {
            "people": people,
            "records": report.records,
            "compared_records": report.compared_records,
            "blocked_pairs": report.blocked_pairs,
            "threadline": {**threadline.to_dict(), "seconds": round(seconds, 1), "timings": report.timings},
            "blocking": blocking,
            "exact_name_dob": exact.to_dict(),
            "generic_splink": {**generic, **generic_figures},
            "f1_margin_over_generic": round(threadline.f1 - generic["f1"], 4) if generic else None,
            "training": report.training,
        }
        results.append(row)
        print(json.dumps(row, indent=2), flush=True)
        store.dispose()
    for r in results:
        generic_f1 = r["generic_splink"].get("f1")
        margin = r["f1_margin_over_generic"]
        print(
            f"{r['people']:>7,} people {r['records']:>8,} records | Threadline F1 {r['threadline']['f1']:.4f} "
            f"(P {r['threadline']['precision']:.4f} R {r['threadline']['recall']:.4f}, {r['threadline']['seconds']} s)"
            f" | exact name+DOB F1 {r['exact_name_dob']['f1']:.4f}"
            f" | generic Splink F1 {generic_f1 if generic_f1 is not None else 'failed'}"
            f" | margin {margin if margin is not None else 'n/a'}"
            f" | blocking: {r['blocking']['comparisons_per_record']} comparisons/record, recall "
            f"{r['blocking']['recall_compared']:.4f} compared, {r['blocking']['recall_reachable']:.4f} reachable"
        )


if __name__ == "__main__":
    main()
