"""Scoring a ranking against a synthetic seizure's ground truth (`truth/people.csv`, `truth/records.csv`).

A subject stands for the person most of its records belong to. A person "at risk" has access to children or
produced material (uploads). The measures, for the benchmark and the tests:

- `recall_signal`: of the subjects whose own records carry the person's signal (a record with their occupation
  for access to children; their username, which names their upload folder, for producers), the share in High or
  Very High. This is what ranking controls: the goal is 100%.
- `recall_primary`: of the at-risk people, the share whose main subject (the one with most of their records) is
  High or Very High. It also counts people whose records never state their occupation (the generator leaves it
  out of some rows), which no ranking can see, and resolution errors.
- `recall_fragments`: of every subject whose person is at risk, the share in High or Very High (a person split
  by resolution leaves fragments without the signal).
- `neither_high`: of the subjects whose person has neither signal, the share in High or Very High (goal <= 20%).
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.model import RiskAssessment, SourceRecord, Subject, SubjectMember
from threadline.resolve.truth import truth_people

HIGH = ("very_high", "high")


@dataclass(frozen=True)
class Person:
    person_id: str
    occupation: str
    access_to_children: bool
    producer: bool
    username: str


@dataclass
class RankScore:
    subjects: int
    at_risk_people: int
    signal_subjects: int
    recall_signal: float
    recall_primary: float
    recall_fragments: float
    neither_subjects: int
    neither_high: float
    missed_signal: list[dict[str, Any]]
    tiers: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["missed_signal"] = self.missed_signal[:20]
        for key in ("recall_signal", "recall_primary", "recall_fragments", "neither_high"):
            out[key] = round(out[key], 4)
        return out


def read_people(truth_dir: Path) -> dict[str, Person]:
    with (truth_dir / "people.csv").open(encoding="utf-8", newline="") as handle:
        return {
            row["person_id"]: Person(
                row["person_id"],
                row["occupation"],
                row["access_to_children"] == "1",
                row["producer"] == "1",
                row["username"].casefold(),
            )
            for row in csv.DictReader(handle)
        }


def _share(hits: int, total: int) -> float:
    return hits / total if total else 1.0


def score_ranking(session: Session, truth_dir: Path) -> RankScore:
    people = read_people(truth_dir)
    record_person = truth_people(session, truth_dir / "records.csv")
    tiers: dict[int, str] = {s: t for s, t in session.execute(select(RiskAssessment.subject_id, RiskAssessment.tier))}
    members: dict[int, list[int]] = defaultdict(list)
    active = select(Subject.id).where(Subject.status == "active")
    for record, subject in session.execute(
        select(SubjectMember.record_id, SubjectMember.subject_id).where(SubjectMember.subject_id.in_(active))
    ):
        members[subject].append(record)
    fields: dict[int, dict[str, Any]] = {
        r: f
        for r, f in session.execute(
            select(SourceRecord.id, SourceRecord.fields).where(SourceRecord.id.in_(select(SubjectMember.record_id)))
        )
    }
    owner: dict[int, str] = {}
    size: Counter[tuple[str, int]] = Counter()
    for subject, records in members.items():
        persons = Counter(record_person[r] for r in records if r in record_person)
        if persons:
            owner[subject] = persons.most_common(1)[0][0]
            for person, n in persons.items():
                size[(person, subject)] += n
    primary: dict[str, tuple[int, int]] = {}
    for (person, subject), n in size.items():
        if person not in primary or (n, -subject) > (primary[person][1], -primary[person][0]):
            primary[person] = (subject, n)

    def signal(subject: int, person: Person) -> bool:
        for r in members[subject]:
            if record_person.get(r) != person.person_id:
                continue
            f = fields.get(r) or {}
            if person.access_to_children and person.occupation and f.get("occupation") == person.occupation:
                return True
            if person.producer and str(f.get("username") or "").casefold() == person.username:
                return True
        return False

    at_risk = {pid for pid, p in people.items() if p.access_to_children or p.producer}
    signal_subjects = [s for s, pid in owner.items() if pid in at_risk and signal(s, people[pid])]
    fragments = [s for s, pid in owner.items() if pid in at_risk]
    neither = [s for s, pid in owner.items() if pid not in at_risk]
    primaries = [primary[pid][0] for pid in at_risk if pid in primary]
    missed = [
        {"subject_id": s, "person_id": owner[s], "occupation": people[owner[s]].occupation, "tier": tiers.get(s)}
        for s in signal_subjects
        if tiers.get(s) not in HIGH
    ]
    return RankScore(
        subjects=len(owner),
        at_risk_people=len(at_risk),
        signal_subjects=len(signal_subjects),
        recall_signal=_share(sum(tiers.get(s) in HIGH for s in signal_subjects), len(signal_subjects)),
        recall_primary=_share(sum(tiers.get(s) in HIGH for s in primaries), len(at_risk)),
        recall_fragments=_share(sum(tiers.get(s) in HIGH for s in fragments), len(fragments)),
        neither_subjects=len(neither),
        neither_high=_share(sum(tiers.get(s) in HIGH for s in neither), len(neither)) if neither else 0.0,
        missed_signal=missed,
        tiers=dict(Counter(tiers.get(s, "unranked") for s in owner)),
    )
