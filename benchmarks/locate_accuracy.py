"""Locate accuracy on synthetic seizures: synth → ingest → resolve → locate, scored against the truth.

    uv run python benchmarks/locate_accuracy.py --people 2000 [--seed 7] [--mmdb FILE]

A subject's true country is the country of the person behind most of its records (truth/records.csv and
truth/people.csv); subjects made only of records the truth gives to nobody (the distributor's business contacts),
and subjects in which resolve merged different people in equal numbers, are left out (counted as not scored).
Printed for Threadline and, measured in the same run, the named baseline "address country field only" (the most
frequent country field of the subject's customer and contact records; a tie or no field is unplaced):

- placed in the true country (goal: at least 98% of subjects),
- unplaced (sent to the coordinator's queue),
- placed in a wrong country, and how many of those with high confidence (goal: none),
- for Threadline, how many placements name a region and how many of those regions are right.

Seizures and ingested, resolved databases are cached under /tmp/threadline-bench (shared with
resolve_accuracy.py)."""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from resolve_accuracy import prepared_store

from threadline.core.db import Store, open_store
from threadline.core.settings import Settings
from threadline.locate import HIGH_CONFIDENCE, LocateSettings, locate
from threadline.locate.places import ancestors
from threadline.model import JurisdictionClaim, SourceRecord, SubjectJurisdiction, SubjectMember
from threadline.resolve import ResolveSettings, resolve
from threadline.resolve.truth import truth_people

ADDRESS_TYPES = ("customer", "contact", "account")


def resolved_store(people: int, seed: int) -> tuple[Path, Path]:
    seizure, home = prepared_store(people, seed)
    resolved = home.parent / "resolved"
    if not (resolved / "done").exists():
        shutil.rmtree(resolved, ignore_errors=True)
        shutil.copytree(home, resolved)
        (resolved / "done").unlink(missing_ok=True)
        store = open_store(Settings(home=resolved))
        resolve(store, ResolveSettings(), actor="benchmark")
        store.dispose()
        (resolved / "done").write_text("ok")
    return seizure, resolved


def fresh(home: Path, name: str) -> Store:
    work = home.parent / name
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(home, work)
    return open_store(Settings(home=work))


def truth_subjects(store: Store, seizure: Path) -> tuple[dict[int, dict[str, str]], dict[int, list[int]]]:
    """Subject → its majority person's row of people.csv; and subject → member record ids."""
    people = {row["person_id"]: row for row in csv.DictReader((seizure / "truth" / "people.csv").open())}
    with store.session() as session:
        truth = truth_people(session, seizure / "truth" / "records.csv")
        members = session.execute(select(SubjectMember.record_id, SubjectMember.subject_id)).all()
    votes: dict[int, Counter[str]] = defaultdict(Counter)
    records: dict[int, list[int]] = defaultdict(list)
    for record_id, subject_id in members:
        records[subject_id].append(record_id)
        if record_id in truth:
            votes[subject_id][truth[record_id]] += 1
    out = {}
    for subject_id, counter in votes.items():
        ranked = counter.most_common(2)
        if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
            continue  # resolve merged different people equally: no one person to score against
        out[subject_id] = people[ranked[0][0]]
    return out, records


def address_field_baseline(store: Store, records: dict[int, list[int]]) -> dict[int, tuple[str, str | None, float]]:
    """Subject → (status, country, confidence) from the country fields of its customer and contact records."""
    with store.session() as session:
        countries = {
            rid: (rtype, fields.get("country"))
            for rid, rtype, fields in session.execute(
                select(SourceRecord.id, SourceRecord.record_type, SourceRecord.fields)
            )
        }
    out: dict[int, tuple[str, str | None, float]] = {}
    for subject_id, rids in records.items():
        votes = Counter(
            countries[r][1] for r in rids if countries.get(r, ("", None))[0] in ADDRESS_TYPES and countries[r][1]
        )
        ranked = votes.most_common(2)
        if not ranked or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
            out[subject_id] = ("unplaced", None, 0.0)
        else:
            out[subject_id] = ("placed", ranked[0][0], ranked[0][1] / sum(votes.values()))
    return out


def score(
    decisions: dict[int, tuple[str, str | None, float]],
    truth: dict[int, dict[str, str]],
    evidenced: set[int],
    regions: dict[int, str | None] | None = None,
) -> dict[str, Any]:
    n = len(truth)
    right = unplaced = wrong = wrong_high = with_region = region_right = evidenced_right = 0
    for subject_id, person in truth.items():
        status, country, confidence = decisions.get(subject_id, ("unplaced", None, 0.0))
        if status != "placed" or country is None:
            unplaced += 1
        elif country == person["country"]:
            right += 1
            evidenced_right += subject_id in evidenced
            region = (regions or {}).get(subject_id)
            if region:
                with_region += 1
                region_right += bool(person["region"]) and region in ancestors(person["region"])
        else:
            wrong += 1
            wrong_high += confidence >= HIGH_CONFIDENCE
    out: dict[str, Any] = {
        "subjects": n,
        "true_country": right,
        "true_country_pct": round(100 * right / n, 2) if n else 0.0,
        "unplaced": unplaced,
        "unplaced_pct": round(100 * unplaced / n, 2) if n else 0.0,
        "wrong_country": wrong,
        "wrong_country_high_confidence": wrong_high,
        # Subjects whose records hold any locating evidence at all (Threadline made at least one claim).
        "with_evidence": len(evidenced & truth.keys()),
        "true_country_pct_of_with_evidence": round(100 * evidenced_right / len(evidenced & truth.keys()), 2)
        if evidenced & truth.keys()
        else 0.0,
    }
    if regions is not None:
        out["placed_with_region"] = with_region
        out["region_right_pct"] = round(100 * region_right / with_region, 2) if with_region else 0.0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, nargs="+", default=[2000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--mmdb", type=Path, default=None, help="a MaxMind-format IP database to use as evidence")
    args = parser.parse_args()
    rows = []
    for people in args.people:
        seizure, resolved = resolved_store(people, args.seed)
        store = fresh(resolved, "locate-accuracy")
        started = time.perf_counter()
        report = locate(store, LocateSettings(mmdb=args.mmdb), actor="benchmark")
        seconds = time.perf_counter() - started
        truth, records = truth_subjects(store, seizure)
        with store.session() as session:
            decided = {
                d.subject_id: ((d.status, d.country, d.confidence), d.region)
                for d in session.scalars(select(SubjectJurisdiction))
            }
            leading = {
                d.subject_id: d.disagreements[0]["country"]
                for d in session.scalars(select(SubjectJurisdiction).where(SubjectJurisdiction.status == "unplaced"))
                if d.disagreements
            }
            evidenced = set(session.scalars(select(JurisdictionClaim.subject_id).distinct()))
        threadline = score(
            {k: v[0] for k, v in decided.items()}, truth, evidenced, {k: v[1] for k, v in decided.items()}
        )
        baseline = score(address_field_baseline(store, records), truth, evidenced)
        # What the coordinator's queue shows first for an unplaced subject: is it the true country?
        threadline["unplaced_leading_candidate_true"] = sum(
            1 for s, c in leading.items() if s in truth and truth[s]["country"] == c
        )
        threadline["unplaced_with_a_candidate"] = sum(1 for s in leading if s in truth)
        store.dispose()
        row = {
            "people": people,
            "seed": args.seed,
            "subjects_not_scored": report.subjects - len(truth),
            "threadline": {**threadline, "seconds": round(seconds, 2)},
            "baseline_address_country_field_only": baseline,
            "true_country_ratio_vs_baseline": round(threadline["true_country"] / max(baseline["true_country"], 1), 3),
            "claims_by_source": report.claims_by_source,
            "high_confidence": HIGH_CONFIDENCE,
            "min_confidence": report.min_confidence,
        }
        rows.append(row)
        print(json.dumps(row, indent=2), flush=True)
    for r in rows:
        t, b = r["threadline"], r["baseline_address_country_field_only"]
        print(
            f"{r['people']:,} people, {t['subjects']:,} subjects ({t['with_evidence']:,} with any locating "
            f"evidence) | Threadline: true country {t['true_country_pct']}% ({t['true_country_pct_of_with_evidence']}%"
            f" of those with evidence), unplaced {t['unplaced_pct']}%, wrong {t['wrong_country']} "
            f"({t['wrong_country_high_confidence']} with high confidence), region named for "
            f"{t['placed_with_region']:,} ({t['region_right_pct']}% right) | address country field only: true country "
            f"{b['true_country_pct']}% ({b['true_country_pct_of_with_evidence']}% of those with evidence), unplaced "
            f"{b['unplaced_pct']}%, wrong {b['wrong_country']} | ratio {r['true_country_ratio_vs_baseline']}x"
        )


if __name__ == "__main__":
    main()
