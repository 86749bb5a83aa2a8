"""Locate end to end on a small synthetic seizure: synth → ingest → resolve → locate, against the truth."""

from __future__ import annotations

import csv
import shutil
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from sqlalchemy import select

from threadline.core.db import Store
from threadline.ingest.pipeline import ingest
from threadline.locate import HIGH_CONFIDENCE, LocateSettings, locate
from threadline.locate.places import ancestors
from threadline.model import JurisdictionClaim, SubjectJurisdiction, SubjectMember
from threadline.resolve import ResolveSettings, resolve
from threadline.resolve.truth import truth_people
from threadline.synth.generate import generate


@pytest.fixture(scope="module")
def seizure(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("locate") / "synth"
    generate(out, 200, seed=5, media=0)
    shutil.rmtree(out / "seizure" / "media", ignore_errors=True)
    (out / "seizure" / "media_hashes.csv").unlink(missing_ok=True)
    return out


def test_synthetic_people_land_in_their_true_country(store: Store, seizure: Path) -> None:
    ingest(store, seizure / "seizure")
    resolve(store, ResolveSettings(), actor="test")
    report = locate(store, LocateSettings(), actor="test")
    people = {row["person_id"]: row for row in csv.DictReader((seizure / "truth" / "people.csv").open())}
    with store.session() as session:
        truth = truth_people(session, seizure / "truth" / "records.csv")
        votes: dict[int, Counter[str]] = defaultdict(Counter)
        for record_id, subject_id in session.execute(select(SubjectMember.record_id, SubjectMember.subject_id)):
            if record_id in truth:
                votes[subject_id][truth[record_id]] += 1
        decisions = {d.subject_id: d for d in session.scalars(select(SubjectJurisdiction))}
        with_claims = {s for (s,) in session.execute(select(JurisdictionClaim.subject_id).distinct())}
    assert report.subjects == len(decisions) and report.placed + report.unplaced == report.subjects
    right = wrong = wrong_high = regions = regions_right = evidenced = evidenced_right = scored = 0
    for subject_id, counter in votes.items():
        ranked = counter.most_common(2)
        if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
            continue  # resolve merged different people equally: the truth names no one person to score against
        person = people[ranked[0][0]]
        scored += 1
        decision = decisions[subject_id]  # every subject has a decision: none is dropped
        placed_right = decision.status == "placed" and decision.country == person["country"]
        if subject_id in with_claims:
            evidenced += 1
            evidenced_right += placed_right
        if decision.status != "placed":
            assert decision.country is None and decision.reason
            continue
        if placed_right:
            right += 1
            if decision.region:
                regions += 1
                regions_right += decision.region in ancestors(person["region"])
        else:
            wrong += 1
            wrong_high += decision.confidence >= HIGH_CONFIDENCE
    # Subjects without any locating evidence (mail participants resolve could not join to a customer) stay
    # unplaced; of the rest nearly all land in the true country, and none in a wrong one with high confidence.
    assert wrong_high == 0
    assert evidenced_right >= 0.95 * evidenced, (evidenced_right, evidenced)
    assert right >= 0.75 * scored, (right, scored)  # at 2,000 people: 91% (benchmarks/locate_accuracy.py)
    assert regions >= 0.3 * right and regions_right >= 0.8 * regions, (regions, regions_right)

    again = locate(store, LocateSettings(), actor="test")
    assert again.mode == "unchanged" and (again.placed, again.unplaced) == (report.placed, report.unplaced)
