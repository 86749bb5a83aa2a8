"""Scoring resolution against a synthetic seizure's ground truth (`truth/records.csv`).

The truth names records by file and locator in the generator's conventions; ingest names them by its own.
`truth_people` is the one place that translates between them (the benchmark and the tests both use it):

| file          | truth locator                       | ingest locator                                 |
|---------------|-------------------------------------|------------------------------------------------|
| .csv / .tsv   | data row, header excluded (1-based) | physical line (header is line 1): truth + 1    |
| .xlsx         | `Sheet!row` (header is row 1)       | the same                                       |
| .jsonl        | line (1-based)                      | the same                                       |
| .vcf          | card number (1-based)               | `card N`                                       |
| .mbox         | message number (1-based)            | `message N` (not a person) and `message N <role> K` |

For mail the truth names the customer of a message; that is the participant (contact record) whose address is not
the distributor's own (the domain of the Message-ID)."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadline.model import SourceFile, SourceRecord


def ingest_locators(file: str, locator: str) -> str:
    """The ingest locator of a truth row (for mbox, the message's own locator)."""
    suffix = Path(file).suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return str(int(locator) + 1)
    if suffix == ".vcf":
        return f"card {locator}"
    if suffix == ".mbox":
        return f"message {locator}"
    return locator


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip(" <>").lower()


def truth_people(session: Session, truth_csv: Path) -> dict[int, str]:
    """SourceRecord id -> person id, for every record the truth assigns to a person."""
    by_file: dict[str, dict[str, str]] = defaultdict(dict)
    with truth_csv.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["person_id"]:
                by_file[row["file"]][ingest_locators(row["file"], row["locator"])] = row["person_id"]
    out: dict[int, str] = {}
    query = select(
        SourceRecord.id, SourceRecord.locator, SourceRecord.record_type, SourceRecord.fields, SourceFile.path
    )
    query = query.join(SourceFile, SourceRecord.source_file_id == SourceFile.id)
    for record_id, locator, record_type, fields, path in session.execute(query.execution_options(yield_per=20000)):
        people = by_file.get(path)
        if not people:
            continue
        if path.lower().endswith(".mbox"):
            if record_type != "contact":
                continue
            message = " ".join(locator.split()[:2])
            person = people.get(message)
            own = _domain(str(fields.get("message_id") or ""))
            emails = fields.get("email_canonical") or fields.get("email") or []
            if person and emails and own and all(_domain(e) != own for e in emails):
                out[record_id] = person
            continue
        person = people.get(locator)
        if person is not None:
            out[record_id] = person
    return out


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


@dataclass(frozen=True)
class PairScore:
    precision: float
    recall: float
    f1: float
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "true_pairs": self.true_pairs,
            "predicted_pairs": self.predicted_pairs,
            "correct_pairs": self.correct_pairs,
        }


def pairwise_score(clusters: Mapping[int, Any], truth: Mapping[int, str]) -> PairScore:
    """Pairwise precision and recall of a clustering (record -> cluster key) over the records the truth knows."""
    by_cluster: Counter[Any] = Counter()
    by_both: Counter[tuple[Any, str]] = Counter()
    by_person: Counter[str] = Counter()
    for record_id, person in truth.items():
        cluster = clusters.get(record_id, ("alone", record_id))
        by_cluster[cluster] += 1
        by_both[(cluster, person)] += 1
        by_person[person] += 1
    predicted = sum(_pairs(n) for n in by_cluster.values())
    true = sum(_pairs(n) for n in by_person.values())
    correct = sum(_pairs(n) for n in by_both.values())
    precision = correct / predicted if predicted else 1.0
    recall = correct / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PairScore(precision, recall, f1, true, predicted, correct)


def pair_recall(pairs: Iterable[tuple[int, int]], truth: Mapping[int, str]) -> float:
    """Share of true pairs present in `pairs` (for blocking: which true pairs were ever compared)."""
    found = sum(1 for a, b in pairs if a in truth and truth.get(a) == truth.get(b))
    true = sum(_pairs(n) for n in Counter(truth.values()).values())
    return found / true if true else 1.0
