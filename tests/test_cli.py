"""The command line, through Typer's runner, and one real subprocess run of `threadline demo`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from threadline.cli.app import app

runner = CliRunner()


def invoke(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def test_help_lists_every_verb_group() -> None:
    code, out, _ = invoke("--help")
    assert code == 0
    for verb in ("init", "synth", "demo", "agencies", "users", "audit"):
        assert verb in out


def test_misuse_exits_2() -> None:
    assert invoke("users", "list", "--no-such-flag")[0] == 2
    assert invoke("no-such-verb")[0] == 2


def test_init_with_db_on_the_verb_and_before_it(db_url: str, tmp_path: Path) -> None:
    code, out, _ = invoke("init", "--db", db_url, "--home", str(tmp_path / "h"), "--json")
    assert code == 0, out
    first = json.loads(out)
    assert first["agencies"] == 249 and first["agencies_created"] == 249
    code, out, _ = invoke("--db", db_url, "init", "--json")
    assert code == 0 and json.loads(out)["agencies_created"] == 0


def test_users_and_audit_round_trip(db_url: str) -> None:
    db = ["--db", db_url]
    code, out, err = invoke(
        "users", "add", "erin", "-a", "NL", "-r", "coordinator", "--password", "a good passphrase", *db
    )
    assert code == 0, err
    code, out, _ = invoke("users", "list", "--json", *db)
    assert [u["username"] for u in json.loads(out)] == ["erin"]
    assert invoke("users", "disable", "erin", *db)[0] == 0
    code, out, _ = invoke("users", "list", "--json", *db)
    assert json.loads(out)[0]["disabled"] is True
    code, out, _ = invoke("audit", "log", "--json", *db)
    assert [e["action"] for e in json.loads(out)][:2] == ["user.disable", "user.add"]
    code, out, _ = invoke("audit", "verify", *db)
    assert code == 0 and out.startswith("OK: 3 events")


def test_password_is_prompted_when_not_given(db_url: str) -> None:
    code, out, err = invoke(
        "users", "add", "frank", "-a", "IT", "-r", "analyst", "--db", db_url, input="a good passphrase\n" * 2
    )
    assert code == 0, err
    assert "a good passphrase" not in out


def test_user_error_is_one_line_and_exit_1(db_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "agencies.csv"
    bad.write_text("name,country\nLKA,DE\nNowhere PD,Atlantis\n", encoding="utf-8")
    code, out, err = invoke("agencies", "import", str(bad), "--db", db_url)
    assert code == 1
    assert err.strip() == f"error: {bad}:3: unknown country 'Atlantis': use an ISO 3166-1 code such as FR or FRA"
    code, out, _ = invoke("agencies", "list", "--country", "DE", "--json", "--db", db_url)
    assert [a["code"] for a in json.loads(out)] == ["DE"]  # nothing half-imported
    code, _, err = invoke(
        "users", "add", "gina", "-a", "XX", "-r", "analyst", "--password", "a good passphrase", "--db", db_url
    )
    assert code == 1 and err.count("\n") == 1 and "unknown" in err


def test_agencies_import_and_list(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "agencies.yaml"
    path.write_text("- name: Politie Eenheid Amsterdam\n  country: NL\n  region: NL-NH\n", encoding="utf-8")
    code, out, _ = invoke("agencies", "import", str(path), "--db", db_url, "--json")
    assert code == 0 and json.loads(out)["created"] == ["NL-POLITIE-EENHEID-AMSTERDAM"]
    code, out, _ = invoke("agencies", "list", "--country", "Netherlands", "--json", "--db", db_url)
    rows = json.loads(out)
    assert [r["code"] for r in rows] == ["NL", "NL-POLITIE-EENHEID-AMSTERDAM"]
    assert rows[1]["parent"] == "NL"


def test_audit_verify_fails_on_tampering(db_url: str) -> None:
    invoke("init", "--db", db_url)
    invoke("users", "add", "hana", "-a", "JP", "-r", "auditor", "--password", "a good passphrase", "--db", db_url)
    engine = create_engine(db_url)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only"))
        else:
            conn.execute(text("DROP TRIGGER audit_event_no_update"))
        conn.execute(text("UPDATE audit_event SET actor = 'nobody' WHERE seq = 1"))
    engine.dispose()
    code, out, _ = invoke("audit", "verify", "--db", db_url)
    assert code == 1 and out.startswith("BROKEN at event 1")
    code, out, _ = invoke("audit", "verify", "--db", db_url, "--json")
    assert code == 1 and json.loads(out)["broken_seq"] == 1


def test_synth_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    code, _, err = invoke("synth", str(tmp_path / "x"), "--people", "5")
    assert code == 1 and "not empty" in err
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"


def _threadline_command() -> list[str]:
    script = Path(sys.executable).parent / "threadline"
    return [str(script)] if script.exists() else [sys.executable, "-m", "threadline"]


@pytest.mark.slow
def test_demo_runs_as_a_real_process(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    env["THREADLINE_HOME"] = str(tmp_path / "home")
    command = [*_threadline_command(), "demo", "--people", "80", "--no-serve"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Operation Demo" in done.stdout and "Summary" in done.stdout
    assert "Audit chain" in done.stdout and "OK" in done.stdout
    assert (tmp_path / "home" / "threadline.db").exists()
    again = subprocess.run([*command, "--json"], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert result["audit_chain_ok"] is True and result["agencies"] >= 249  # + a regional agency for the demo users
    assert result["synth"]["people"] == 80
    stages = {s["stage"]: s for s in result["pipeline"]["stages"]}
    assert all(s["status"] == "skipped" for s in stages.values())  # the rerun found nothing changed
    summary = result["pipeline"]["summary"]
    assert summary["records"] > 80 and summary["subjects"] > 0
    assert sum(summary["leads_by_tier"].values()) > 0 and summary["packages"] > 0
    assert {u["username"] for u in result["users"]} >= {"demo-coordinator", "demo-investigator"}


def test_ingest_quarantine_and_export_through_the_cli(db_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "seizure"
    folder.mkdir()
    (folder / "customers.csv").write_text(
        "id,first name,last name,e-mail\n1,Ann,Example,ann@example.com\n2,broken\n3,Bo,Sample,bo@example.com\n",
        encoding="utf-8",
    )
    code, out, err = invoke("ingest", str(folder), "--db", db_url, "--home", str(tmp_path / "h"), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["totals"]["records"] == 2 and report["totals"]["quarantined"] == 1
    code, out, _ = invoke("quarantine", "list", "--db", db_url, "--json")
    (row,) = json.loads(out)
    assert row["file"] == "customers.csv" and row["locator"] == "3" and "2 fields" in row["reason"]
    code, out, _ = invoke("quarantine", "show", str(row["id"]), "--db", db_url, "--json")
    assert json.loads(out)["raw_text"] == "2,broken\n"
    assert invoke("quarantine", "show", "999", "--db", db_url)[0] == 1
    target = tmp_path / "records.csv"
    code, out, _ = invoke("export", "records", "--format", "csv", "-o", str(target), "--db", db_url)
    assert code == 0
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("source_record_id,record_type,source_file,source_row")
    assert len(lines) == 3 and "ann@example.com" in lines[1]
    code, _, _ = invoke("export", "records", "--format", "json", "-o", str(tmp_path / "r.json"), "--db", db_url)
    exported = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert [r["given_name"] for r in exported] == ["Ann", "Bo"]
    code, out, _ = invoke("audit", "log", "--action", "export.records", "--json", "--db", db_url)
    assert [e["details"]["rows"] for e in json.loads(out)] == [2, 2]  # exports of personal data are audited
    code, out, _ = invoke(
        "run", str(folder), "--until", "rank", "--db", db_url, "--home", str(tmp_path / "h"), "--json"
    )
    ingest_stage = json.loads(out)["stages"][0]
    assert code == 0 and ingest_stage["stage"] == "ingest" and ingest_stage["report"]["totals"]["unchanged"] == 1
    # Refer needs the agency that signs: without one the run stops there, saying so, with every stage before done.
    code, _, err = invoke("run", str(folder), "--db", db_url, "--home", str(tmp_path / "h"))
    assert code == 1 and "no originating agency" in err and "--originator" in err


def test_ingest_missing_folder_is_exit_1(tmp_path: Path) -> None:
    code, _, err = invoke("ingest", str(tmp_path / "nope"), "--home", str(tmp_path / "h"))
    assert code == 1 and err.startswith("error: ") and "folder not found" in err
