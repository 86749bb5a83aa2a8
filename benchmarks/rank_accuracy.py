"""Rank accuracy on synthetic seizures: are people with access to children or who produce material in High or Very
High, and how many of everyone else are? Threadline's default rules against a baseline measured in the same run:
"severity and volume only", the same rules with the person factors (access to children, production) turned off,
which is how Project Spade's customers were graded (by what and how much they bought).

    uv run python benchmarks/rank_accuracy.py --people 2000 10000

Each size runs synth (with media) → ingest → media scan, known-set import, triage → resolve → rank; the prepared
store is cached under /tmp/threadline-bench. Measures (see src/threadline/rank/truth.py):
  recall_signal    at-risk subjects whose records carry the signal, in High/Very High   goal 100%
  recall_primary   at-risk people whose main subject is High/Very High (includes people whose records never
                   state their occupation, which no ranking can see)
  neither_high     subjects with neither signal in High/Very High                         goal <= 20%
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import yaml

from threadline.core.db import Store, open_store
from threadline.core.settings import Settings
from threadline.ingest.pipeline import ingest
from threadline.media import import_hashes, scan, triage
from threadline.rank import RankSettings, default_rules_text, rank
from threadline.rank.truth import score_ranking
from threadline.resolve import ResolveSettings, resolve
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


def baseline_rules() -> str:
    """The default rules with access to children and production weighing nothing and lifting no tier."""
    data = yaml.safe_load(default_rules_text())
    data["name"] = "Severity and volume only (Project Spade practice)"
    access = data["factors"]["access_to_children"]
    access["points"], access["floor"] = 0, None
    production = data["factors"]["production"]
    production["floor"], production["max"] = None, 0
    for part in ("novel", "unconfirmed", "sent_media"):
        production[part] = {"points": 0, "each_more": 0}
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def prepared_store(people: int, seed: int) -> tuple[Path, Path, dict[str, float]]:
    """(seizure folder, home with the ingested, triaged and resolved store, seconds per stage), cached."""
    base = CACHE / f"rank-people-{people}-seed-{seed}"
    seizure, home = base / "synth", base / "resolved"
    timings: dict[str, float] = {}
    if not (seizure / "truth" / "summary.json").exists():
        shutil.rmtree(seizure, ignore_errors=True)
        started = time.perf_counter()
        generate(seizure, people, seed=seed)
        timings["synth"] = time.perf_counter() - started
    if not (home / "done").exists():
        shutil.rmtree(home, ignore_errors=True)
        (base / "mapping.yaml").write_text(MAPPING, encoding="utf-8")
        store = open_store(Settings(home=home))
        for stage, work in (
            ("ingest", lambda: ingest(store, seizure / "seizure", mapping_path=base / "mapping.yaml")),
            ("media scan", lambda: scan(store, seizure / "seizure" / "media")),
            (
                "known sets",
                lambda: [
                    import_hashes(store, seizure / "known" / name, name=f"bench-{name.split('.')[0]}")
                    for name in ("vics.json", "pdq.txt")
                ],
            ),
            ("triage", lambda: triage(store)),
            ("resolve", lambda: resolve(store, ResolveSettings(), actor="benchmark")),
        ):
            started = time.perf_counter()
            work()
            timings[stage] = time.perf_counter() - started
        store.dispose()
        (home / "done").write_text("ok")
    return seizure, home, timings


def fresh_copy(home: Path) -> Store:
    work = home.parent / "rank-accuracy"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(home, work)
    return open_store(Settings(home=work))


def measure(store: Store, seizure: Path, rules: Path | None) -> dict[str, Any]:
    started = time.perf_counter()
    report = rank(store, RankSettings(rules=rules), actor="benchmark")
    seconds = time.perf_counter() - started
    with store.session() as session:
        score = score_ranking(session, seizure / "truth")
    return {**score.to_dict(), "rank_seconds": round(seconds, 2), "rules_version": report.rules_version}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, nargs="+", default=[2000])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rows = []
    for people in args.people:
        seizure, home, timings = prepared_store(people, args.seed)
        store = fresh_copy(home)
        ours = measure(store, seizure, None)
        baseline_file = home.parent / "baseline-rules.yaml"
        baseline_file.write_text(baseline_rules(), encoding="utf-8")
        baseline = measure(store, seizure, baseline_file)
        store.dispose()
        row = {"people": people, "prepare_seconds": {k: round(v, 1) for k, v in timings.items()}}
        row |= {"threadline": ours, "severity_and_volume_only": baseline}
        rows.append(row)
        print(json.dumps(row, indent=2, ensure_ascii=False), flush=True)
    print()
    for r in rows:
        t, b = r["threadline"], r["severity_and_volume_only"]
        ratio = t["recall_signal"] / b["recall_signal"] if b["recall_signal"] else float("inf")
        print(
            f"{r['people']:>7,} people, {t['subjects']:,} subjects, {t['at_risk_people']:,} at risk | "
            f"Threadline: recall {t['recall_signal']:.1%} (signal), {t['recall_primary']:.1%} (people), "
            f"neither in High+ {t['neither_high']:.1%}, {t['rank_seconds']} s | severity and volume only: recall "
            f"{b['recall_signal']:.1%} (signal), {b['recall_primary']:.1%} (people), neither in High+ "
            f"{b['neither_high']:.1%} | recall ratio {ratio:.1f}x"
        )


if __name__ == "__main__":
    main()
