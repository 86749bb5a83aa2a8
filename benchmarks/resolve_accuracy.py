"""Resolution accuracy on synthetic seizures: pairwise precision, recall and F1 against the truth, for Threadline's
resolver and two baselines measured in the same run: exact name + date of birth, and generic Splink (names, date
of birth, e-mail, postcode; stock comparisons and default training).

    uv run python benchmarks/resolve_accuracy.py --people 10000 100000

Prepared seizures and ingested databases are cached under /tmp/threadline-bench (synth + ingest of 100k people
take a few minutes). Payments are ingested with a mapping for payer_name / payer_email (see the report)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import select

from threadline.core.db import Store, open_store
from threadline.core.settings import Settings
from threadline.ingest.pipeline import ingest
from threadline.model import SubjectMember
from threadline.resolve import ResolveSettings, resolve
from threadline.resolve.engine import duckdb_api
from threadline.resolve.prepare import iter_records, record_row
from threadline.resolve.spec import generic_settings
from threadline.resolve.truth import pairwise_score, truth_people
from threadline.synth.generate import generate

CACHE = Path("/tmp/threadline-bench")
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


def generic_splink(store: Store, seed: int) -> tuple[dict[int, Any], float]:
    from splink import Linker, block_on

    started = time.perf_counter()
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
    table = pa.Table.from_pylist(rows)
    api = duckdb_api()
    frame = api.register(table, table_name="generic")
    linker = Linker(frame, generic_settings(), log_level=None)
    linker.training.estimate_probability_two_random_records_match([block_on("given", "family", "dob")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=seed)
    for rule in (block_on("given", "family"), block_on("dob")):
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(rule, max_pairs=1.5e6)
        except ValueError as exc:  # EM degeneration, as Splink reports it
            print(f"  generic Splink EM on {rule}: {exc}", file=sys.stderr)
    predictions = linker.inference.predict(threshold_match_probability=0.9, warning_mode="never")
    clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, 0.9)
    result = api.duckdb_con.sql(f"SELECT unique_id, cluster_id FROM {clustered.physical_name}").fetchall()
    return {int(a): b for a, b in result}, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, nargs="+", default=[10000])
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
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
        exact = pairwise_score(exact_baseline(store), truth)
        print(f"{people:,} people: exact name+DOB {exact.to_dict()}", flush=True)
        generic_clusters, generic_seconds = generic_splink(store, args.seed)
        generic = pairwise_score(generic_clusters, truth)
        row = {
            "people": people,
            "records": report.records,
            "compared_records": report.compared_records,
            "blocked_pairs": report.blocked_pairs,
            "threadline": {**threadline.to_dict(), "seconds": round(seconds, 1)},
            "exact_name_dob": exact.to_dict(),
            "generic_splink": {**generic.to_dict(), "seconds": round(generic_seconds, 1)},
            "f1_margin_over_generic": round(threadline.f1 - generic.f1, 4),
            "training": report.training,
        }
        results.append(row)
        print(json.dumps(row, indent=2), flush=True)
        store.dispose()
    for r in results:
        print(
            f"{r['people']:>7,} people {r['records']:>8,} records | Threadline F1 {r['threadline']['f1']:.4f} "
            f"(P {r['threadline']['precision']:.4f} R {r['threadline']['recall']:.4f}, {r['threadline']['seconds']} s)"
            f" | exact name+DOB F1 {r['exact_name_dob']['f1']:.4f} | generic Splink F1 {r['generic_splink']['f1']:.4f}"
            f" | margin {r['f1_margin_over_generic']:+.4f}"
        )


if __name__ == "__main__":
    main()
