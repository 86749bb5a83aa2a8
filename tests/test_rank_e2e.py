"""Rank end to end on a small synthetic seizure (ingest → media → resolve → rank), scored against the truth, and
the command line on the same store: rank, subjects show, rules show/export/load (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from threadline.cli.app import app
from threadline.core.db import Store
from threadline.ingest.pipeline import ingest
from threadline.media import import_hashes, scan, triage
from threadline.model import MediaItem, RiskAssessment
from threadline.rank import RankSettings, default_rules_text, rank
from threadline.rank.truth import score_ranking
from threadline.resolve import ResolveSettings, resolve
from threadline.synth.generate import generate

MAPPING = """files:
  "payments*.jsonl":
    record_type: payment
    columns:
      record_id: payment_id
      full_name: payer_name
      email: payer_email
      country: payer_country
      date: paid_at
      amount: amount
      currency: currency
"""
runner = CliRunner()


@pytest.fixture(scope="module")
def seizure(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rank") / "synth"
    generate(out, 200, seed=11)
    (out / "mapping.yaml").write_text(MAPPING, encoding="utf-8")
    return out


def cli(store: Store, *args: str) -> tuple[int, str, str]:
    options = ["--home", str(store.settings.home), "--db", store.settings.url]
    result = runner.invoke(app, [*args, *options])
    return result.exit_code, result.stdout, result.stderr


def test_rank_puts_every_person_with_access_to_children_or_production_in_high(store: Store, seizure: Path) -> None:
    ingest(store, seizure / "seizure", mapping_path=seizure / "mapping.yaml")
    scan(store, seizure / "seizure" / "media")
    for name in ("vics.json", "pdq.txt"):
        import_hashes(store, seizure / "known" / name, name=name)
    triage(store)
    resolve(store, ResolveSettings(), actor="test")

    report = rank(store, RankSettings(), actor="test")
    assert report.subjects > 150 and report.factors["access_to_children"] > 5
    assert report.factors["production"] >= 1 and report.media_linked >= 2 and report.as_of == "2013-12-31"
    with store.session() as session:
        score = score_ranking(session, seizure / "truth")
        owned = session.scalar(
            select(func.count()).select_from(MediaItem).where(MediaItem.owner_subject_id.is_not(None))
        )
    assert score.signal_subjects >= 10
    assert score.recall_signal == 1.0, score.missed_signal
    assert score.neither_high <= 0.2
    assert owned == report.media_linked  # every upload now names its owner for `export media`

    code, out, err = cli(store, "rank", "--json")
    assert code == 0, err
    again = json.loads(out)
    assert again["tiers"] == report.tiers and again["rules_version"] == 1  # the same inputs, the same ranking

    with store.session() as session:
        top = session.scalars(
            select(RiskAssessment).order_by(RiskAssessment.score.desc(), RiskAssessment.subject_id).limit(1)
        ).one()
    code, out, err = cli(store, "subjects", "show", str(top.subject_id), "--json")
    assert code == 0, err
    ranking = json.loads(out)["ranking"]
    assert ranking["tier"] == top.tier and ranking["factors"] == top.factors
    assert all("record_id" in e or "media_item_id" in e for f in ranking["factors"] for e in f["evidence"])
    code, out, _ = cli(store, "subjects", "show", str(top.subject_id))
    assert code == 0 and "Ranking" in out and ranking["tier_label"] in out


def test_rules_on_the_command_line(store: Store, tmp_path: Path) -> None:
    code, out, _ = cli(store, "rules", "show")
    assert code == 0 and out.startswith("# shipped default") and out.split("\n", 1)[1] == default_rules_text()
    exported = tmp_path / "rules.yaml"
    code, out, _ = cli(store, "rules", "export", "-o", str(exported))
    assert code == 0 and exported.read_text(encoding="utf-8").startswith("# Threadline risk-ranking rules")

    edited = exported.read_text(encoding="utf-8").replace("  high: 50\n", "  high: 55\n")
    exported.write_text(edited, encoding="utf-8")
    code, out, _ = cli(store, "rules", "load", str(exported), "--json")
    assert code == 0 and json.loads(out)["version"] == 1 and json.loads(out)["created"]

    bad = tmp_path / "bad.yaml"
    bad.write_text(edited.replace("    points: 60\n", "    points: sixty\n"), encoding="utf-8")
    line = edited[: edited.index("    points: 60\n")].count("\n") + 1
    code, out, err = cli(store, "rules", "load", str(bad))
    assert code == 1 and f"error: {bad}:{line}: factors.access_to_children.points: weight 'sixty'" in err
    code, out, err = cli(store, "rank", "--rules", str(bad))
    assert code == 1 and "weight 'sixty'" in err
    code, out, _ = cli(store, "rules", "history", "--json")
    assert [(r["version"], r["active"]) for r in json.loads(out)] == [(1, True)]
    code, out, _ = cli(store, "rules", "show", "--json")
    assert json.loads(out)["version"] == 1 and "  high: 55\n" in json.loads(out)["text"]
    shipped = tmp_path / "shipped.yaml"
    assert cli(store, "rules", "export", "--default", "-o", str(shipped))[0] == 0
    assert shipped.read_text(encoding="utf-8") == default_rules_text()
    code, _, err = cli(store, "rules", "show", "--operation", "Nope")
    assert code == 1 and "no operation 'Nope'" in err
    code, _, err = cli(store, "rank", "--as-of", "yesterday")
    assert code == 1 and "--as-of 'yesterday'" in err
