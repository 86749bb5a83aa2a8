"""The same model on Splink's Spark backend in local mode (skipped without pyspark or Java)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from threadline.core.db import open_store
from threadline.core.settings import Settings
from threadline.ingest.pipeline import ingest
from threadline.model import SubjectMember
from threadline.resolve import ResolveSettings, resolve
from threadline.resolve.truth import pairwise_score, truth_people
from threadline.synth.generate import generate

pytest.importorskip("pyspark")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java", allow_module_level=True)

PAYMENTS = """files:
  "payments*.jsonl":
    record_type: payment
    columns: {record_id: payment_id, full_name: payer_name, email: payer_email, country: payer_country, ip: ip}
"""


@pytest.mark.slow
def test_spark_engine_resolves_like_duckdb(tmp_path: Path) -> None:
    out = tmp_path / "synth"
    generate(out, 150, seed=5, media=0)
    (tmp_path / "mapping.yaml").write_text(PAYMENTS, encoding="utf-8")
    clusters = {}
    for engine in ("duckdb", "spark"):
        store = open_store(Settings(home=tmp_path / engine))
        ingest(store, out / "seizure", mapping_path=tmp_path / "mapping.yaml", exclude=("media*",))
        report = resolve(store, ResolveSettings(engine=engine), actor="test")
        assert report.engine == engine and report.subjects > 0
        with store.session() as session:
            truth = truth_people(session, out / "truth" / "records.csv")
            clusters[engine] = dict(session.execute(select(SubjectMember.record_id, SubjectMember.subject_id)).all())
        store.dispose()
    duck, spark = (pairwise_score(clusters[e], truth) for e in ("duckdb", "spark"))
    assert spark.precision >= 0.9
    assert abs(spark.f1 - duck.f1) < 0.05  # trained separately (sampling differs by engine), same design
