"""`threadline track …` and `threadline report operation` through Typer's runner."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from threadline.cli.app import app
from threadline.core.db import open_store
from threadline.core.settings import Settings
from track_builder import T0, build_world, make_lead

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _seed(db_url: str, tmp_path: Path) -> tuple[str, str]:
    store = open_store(Settings(home=tmp_path / "home", database_url=db_url))
    try:
        with store.session() as session:
            world = build_world(session)
            return make_lead(session, world).uid, make_lead(session, world, "DE").uid
    finally:
        store.dispose()


def test_the_lifecycle_verbs(db_url: str, tmp_path: Path) -> None:
    db = ["--db", db_url]
    first, second = _seed(db_url, tmp_path)
    code, out, err = invoke("track", "list", "--json", *db)
    assert code == 0, err
    assert [(r["lead_id"], r["status"]) for r in json.loads(out)] == [(first, "sent"), (second, "sent")]
    code, out, err = invoke("track", "ack", first[:8], "--notes", "read", "--json", *db)
    assert code == 0, err
    assert json.loads(out)["status"] == "acknowledged"
    code, out, err = invoke("track", "ack", first, *db)
    assert code == 1 and err.startswith("error: lead ") and "is acknowledged; it cannot become acknowledged" in err
    assert len(err.strip().splitlines()) == 1
    code, out, err = invoke("track", "assign", first, "DE-BY", *db)
    assert code == 1 and "agency DE-BY is not below FR" in err
    code, out, err = invoke("track", "assign", first, "FR-IDF", "--json", *db)
    assert code == 0, err
    hop = json.loads(out)["hop"]
    assert invoke("track", "ack", hop, "--as", "FR-IDF", *db)[0] == 0
    assert invoke("track", "investigate", hop, *db)[0] == 0
    assert invoke("track", "action", hop, "search executed", *db)[0] == 0
    code, out, err = invoke("track", "outcome", hop, "arrested", "--arrests", "1", "--children", "2", *db)
    assert code == 0, err
    assert "1 arrests" in out
    assert invoke("track", "outcome", hop, "jailed", *db)[0] == 1
    assert invoke("track", "outcome", hop, "charged", "--charges", "-1", *db)[0] == 2  # misuse: below the minimum
    assert invoke("track", "close", hop, *db)[0] == 0
    assert invoke("track", "note", hop, "filed", *db)[0] == 0
    code, out, err = invoke("track", "show", first, "--json", *db)
    assert code == 0, err
    view = json.loads(out)
    assert view["lead"]["status"] == "assigned" and [h["status"] for h in view["hops"]] == ["closed"]
    assert view["rollup"]["arrests"] == 1 and view["rollup"]["children_safeguarded"] == 2
    expected = ["start_investigation", "record_action", "record_outcome", "close", "recall", "add_note"]
    assert view["allowed_actions"] == expected
    code, out, err = invoke("track", "show", first, *db)
    assert code == 0 and "hop 1:" in out and "search executed" not in out and "by cli:" in out
    code, out, err = invoke("track", "recall", second, "--notes", "wrong country", "--json", *db)
    assert code == 0 and json.loads(out)["reached"] == [second]
    assert invoke("track", "show", "nope-nope", *db)[0] == 1
    code, out, _ = invoke("track", "list", "--status", "recalled", "--json", *db)
    assert [r["lead_id"] for r in json.loads(out)] == [second]
    assert invoke("track", "list", "--status", "lost", *db)[0] == 1


def test_sweep_list_overdue_and_report(db_url: str, tmp_path: Path) -> None:
    db = ["--db", db_url]
    _seed(db_url, tmp_path)
    code, out, err = invoke("track", "sweep", "--now", (T0 + timedelta(hours=37)).isoformat(), "--json", *db)
    assert code == 0, err
    assert json.loads(out)["escalations"] == {"level_1": 2, "level_2": 2, "level_3": 0}
    code, out, _ = invoke("track", "sweep", "--now", "2026-03-03T22:00", *db)
    assert code == 0 and "0 leads escalated" in out and "2 open leads past their clock" in out
    assert invoke("track", "sweep", "--now", "yesterday", *db)[0] == 1
    code, out, _ = invoke("track", "list", "--overdue", "--json", *db)
    assert len(json.loads(out)) == 2 and all(r["escalation_level"] == 2 for r in json.loads(out))
    code, out, err = invoke("report", "operation", "Operation Lantern", "--format", "json", "--now", "2026-03-03T22:00",
                            *db)  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["total"]["escalated"] == 2
    page, chart = tmp_path / "out" / "report.html", tmp_path / "out" / "chart.png"
    code, out, err = invoke("report", "operation", "--format", "html", "-o", str(page), "--chart", str(chart), *db)
    assert code == 0, err
    assert "Wrote" in out
    assert "<svg" in page.read_text() and chart.read_bytes().startswith(b"\x89PNG")
    code, out, _ = invoke("report", "operation", "Operation Lantern", *db)
    assert code == 0 and "By country" in out and "France" in out
    assert invoke("report", "operation", "--chart", str(tmp_path / "c.gif"), *db)[0] == 1
    assert invoke("report", "operation", "No such", *db)[0] == 1


def test_import_refuses_a_file_that_is_not_a_status_file(db_url: str, tmp_path: Path) -> None:
    _seed(db_url, tmp_path)
    junk = tmp_path / "junk.json"
    junk.write_text('{"hello": 1}')
    code, _, err = invoke("track", "import", str(junk), "--db", db_url)
    assert code == 1 and "junk.json: not a status file" in err


def test_package_status_then_track_import(db_url: str, tmp_path: Path) -> None:
    """The receiver writes a status file with `package status`; the originator applies it with `track import`."""
    from threadline.refer.keys import export_keys, generate_keys, import_keys
    from track_builder import agency, receive_copy

    origin_home, fr_home = tmp_path / "ca-home", tmp_path / "fr-home"
    fr_db = f"sqlite:///{tmp_path / 'fr.db'}"
    origin = open_store(Settings(home=origin_home, database_url=db_url))
    receiver = open_store(Settings(home=fr_home, database_url=fr_db))
    try:
        with origin.session() as session:
            world = build_world(session, regions=False)
            sent = make_lead(session, world, at=T0)
            _ = list(sent.events)
            generate_keys(origin.settings, session, agency(session, "CA"), actor="t")
            (tmp_path / "ca.pub").write_text(export_keys(session, agency(session, "CA")))
        with receiver.session() as session:
            world = build_world(session)
            receive_copy(session, world, sent)
            generate_keys(receiver.settings, session, agency(session, "FR"), actor="t")
            (tmp_path / "fr.pub").write_text(export_keys(session, agency(session, "FR")))
            import_keys(session, agency(session, "CA"), tmp_path / "ca.pub", actor="t")
        with origin.session() as session:
            import_keys(session, agency(session, "FR"), tmp_path / "fr.pub", actor="t")
    finally:
        origin.dispose()
        receiver.dispose()
    fr = ["--db", fr_db, "--home", str(fr_home)]
    ca = ["--db", db_url, "--home", str(origin_home)]
    assert invoke("track", "ack", sent.uid, *fr)[0] == 0
    code, out, err = invoke("track", "assign", sent.uid, "FR-IDF", "--json", *fr)
    assert code == 0, err
    hop = json.loads(out)["hop"]
    status = tmp_path / "to-ca" / "fr-status.json"
    code, out, err = invoke("package", "status", "--to", "CA", "--out", str(status), "--json", *fr)
    assert code == 0, err
    written = json.loads(out)
    assert (written["sender"], written["events"], written["hop_leads"]) == ("FR", 4, 1)
    code, out, err = invoke("track", "import", str(status), *ca)
    assert code == 0, err
    assert "4 of 4 events applied" in out and "1 new hops" in out
    code, out, err = invoke("track", "import", str(status), "--json", *ca)
    assert code == 0 and json.loads(out)["replay"] is True
    code, out, _ = invoke("track", "show", sent.uid, "--json", *ca)
    assert [h["lead_id"] for h in json.loads(out)["hops"]] == [hop]
    code, out, err = invoke("package", "status", "--to", "CA", "--out", str(status), "--agency", "DE", *fr)
    assert code == 1 and "holds no signing key for agency DE" in err
