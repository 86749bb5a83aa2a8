"""`threadline run`: every stage in order, skipping what has not changed, resuming after a failure."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from threadline.cli.demo import generate_demo_keys
from threadline.core.db import Store
from threadline.core.errors import InputError
from threadline.directory import seed_national_agencies
from threadline.model import StageRun
from threadline.pipeline import PipelineOptions, run_pipeline
from threadline.pipeline import runner as runner_module
from threadline.synth.generate import generate


@pytest.fixture(scope="module")
def seizure(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pipeline") / "synth"
    generate(out, 60, seed=5, media=12)
    return out


def _statuses(report: object) -> dict[str, str]:
    return {s.stage: s.status for s in report.stages}  # type: ignore[attr-defined]


def test_run_then_rerun_skips_every_unchanged_stage(store: Store, seizure: Path, tmp_path: Path) -> None:
    with store.session() as session:
        seed_national_agencies(session)
    generate_demo_keys(store)
    options = PipelineOptions(
        directory=seizure / "seizure",
        operation="Spade",
        known=(seizure / "known" / "vics.json",),
        originator="CA",
        out=tmp_path / "outbox",
    )
    first = run_pipeline(store, options)
    assert set(_statuses(first).values()) == {"ran"}
    summary = first.summary
    assert summary["records"] > 60 and summary["subjects"] > 0
    assert sum(summary["media_verdicts"].values()) == summary["media_items"]
    assert summary["placed"] + summary["unplaced"] == summary["subjects"]
    leads = sum(summary["leads_by_tier"].values())
    assert leads == sum(summary["leads_by_country"].values()) > 0
    packages = sorted((tmp_path / "outbox").rglob("*"))
    assert summary["packages"] == len([p for p in packages if p.is_file()]) == len(summary["leads_by_country"])
    if store.engine.dialect.name == "postgresql":  # statistics refreshed after the bulk writes, for the planner
        with store.engine.connect() as connection:
            analysed = connection.exec_driver_sql(
                "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL"
            ).scalars()
            assert {"source_record", "subject_member", "jurisdiction_claim", "lead"} <= set(analysed)
    second = run_pipeline(store, options)
    assert set(_statuses(second).values()) == {"skipped"}
    assert second.summary == first.summary
    forced = run_pipeline(store, PipelineOptions(**{**options.__dict__, "force": True, "until_stage": "ingest"}))
    assert _statuses(forced) == {"ingest": "ran"}
    totals = forced.stages[0].report["totals"]
    assert totals["ingested"] == 0 and totals["unchanged"] > 0  # every file already ingested: nothing new


def test_a_changed_seizure_reruns_from_ingest(store: Store, seizure: Path, tmp_path: Path) -> None:
    folder = tmp_path / "seizure"
    shutil.copytree(seizure / "seizure", folder)
    options = PipelineOptions(directory=folder, until_stage="resolve")
    run_pipeline(store, options)
    extra = folder / "late_customers.csv"
    extra.write_text("customer_id,first_name,last_name,email\nL1,Late,Comer,late.comer@example.org\n", "utf-8")
    again = run_pipeline(store, options)
    assert _statuses(again)["ingest"] == "ran" and _statuses(again)["resolve"] == "ran"
    assert again.stages[0].report["totals"]["ingested"] == 1


def test_a_failed_stage_is_recorded_and_the_next_run_resumes_there(
    store: Store, seizure: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = PipelineOptions(directory=seizure / "seizure", until_stage="resolve")

    def broken(*_args: object) -> None:
        raise RuntimeError("resolve crashed half way")

    stages = list(runner_module.STAGE_LIST)
    patched = [runner_module.Stage(s.name, s.fingerprint, broken) if s.name == "resolve" else s for s in stages]
    monkeypatch.setattr(runner_module, "STAGE_LIST", patched)
    with pytest.raises(RuntimeError):
        run_pipeline(store, options)
    with store.session() as session:
        failed = session.scalars(select(StageRun).where(StageRun.stage == "run.resolve")).one()
        assert failed.status == "failed" and "half way" in (failed.error or "")
    monkeypatch.setattr(runner_module, "STAGE_LIST", stages)
    resumed = run_pipeline(store, options)
    assert _statuses(resumed) == {"ingest": "skipped", "media": "skipped", "resolve": "ran"}


def test_bad_stage_names_are_refused(store: Store, seizure: Path) -> None:
    with pytest.raises(InputError, match="unknown stage"):
        run_pipeline(store, PipelineOptions(directory=seizure / "seizure", until_stage="nonsense"))
    with pytest.raises(InputError, match="comes after"):
        run_pipeline(store, PipelineOptions(directory=seizure / "seizure", from_stage="resolve", until_stage="ingest"))
    with pytest.raises(InputError, match="not a folder"):
        run_pipeline(store, PipelineOptions(directory=seizure / "missing"))
