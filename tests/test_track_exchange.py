"""End to end across two installations with the real refer stage: CA refers, DE opens the package, works the
leads (acknowledge, a hop to a region, outcome), reports back with a signed status file; CA's report then shows
DE's results; CA's recall travels to DE and reaches the regional hop."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from refer_builder import T0, Person, agency, build_operation, second_store
from threadline.core.db import Store
from threadline.directory import seed_national_agencies
from threadline.model import Agency, Lead
from threadline.refer import ReferSettings, open_package, refer
from threadline.refer.keys import export_keys, generate_keys, import_keys
from threadline.track import lifecycle
from threadline.track.report import operation_report
from threadline.track.status import import_status, write_status_file

H = timedelta(hours=1)
PEOPLE = [
    Person("Ada", "Brandt", "DE", tier="very_high", score=91, emails=["ada@example.invalid"]),
    Person("Bert", "Kohl", "DE", tier="medium", score=40, emails=["bert@example.invalid"]),
]


def _keys(source: Store, code: str, target: Store, tmp: Path) -> None:
    with source.session() as session:
        seed_national_agencies(session)
        generate_keys(source.settings, session, agency(session, code), actor="test")
        path = tmp / f"{code}.pub"
        path.write_text(export_keys(session, agency(session, code)))
    with target.session() as session:
        seed_national_agencies(session)
        import_keys(session, agency(session, code), path, actor="test")


def _lead(session: object, uid: str) -> Lead:
    return session.scalars(select(Lead).where(Lead.uid == uid)).one()  # type: ignore[attr-defined, no-any-return]


def test_refer_open_work_report_back_and_recall(store: Store, db_url: str, tmp_path: Path) -> None:
    with second_store(db_url, tmp_path / "de-home") as receiver:
        _keys(store, "CA", receiver, tmp_path)
        _keys(receiver, "DE", store, tmp_path)
        with store.session() as session:
            build_operation(session, PEOPLE)
        report = refer(store, ReferSettings(actor="analyst", now=T0, out=tmp_path / "outbox"))
        (package,) = [p.path for p in report.packages]
        opened = open_package(receiver, package, actor="de-clerk")
        assert opened.leads_new == 2
        with receiver.session() as session:
            bavaria = Agency(code="DE-BY", name="Bavarian LKA", kind="regional", country="DE", region="DE-BY",
                             parent=agency(session, "DE"))  # fmt: skip
            session.add(bavaria)
            session.flush()
            ada, bert = sorted(
                session.scalars(select(Lead).where(Lead.direction == "incoming")), key=lambda lead: -lead.score
            )
            assert ada.status == "sent" and ada.originating_agency_id == agency(session, "CA").id
            lifecycle.acknowledge(session, ada, actor="de:anna", at=T0 + 2 * H)
            hop = lifecycle.assign(session, ada, bavaria, actor="de:anna", at=T0 + 3 * H)
            lifecycle.acknowledge(session, hop, actor="by:max", at=T0 + 5 * H)
            lifecycle.record_outcome(session, hop, "arrested", arrests=1, charges=2, children_safeguarded=3,
                                     actor="by:max", at=T0 + 50 * H)  # fmt: skip
            lifecycle.acknowledge(session, bert, actor="de:anna", at=T0 + 30 * H)
            ada_uid, bert_uid, hop_uid = ada.uid, bert.uid, hop.uid
            write_status_file(session, receiver.settings, agency=agency(session, "DE"), to=agency(session, "CA"),
                              out=tmp_path / "de-status.json", actor="de:anna")  # fmt: skip
        applied = import_status(store, tmp_path / "de-status.json", actor="ca:chris")
        assert (applied.applied, applied.not_applied, applied.hop_leads_created) == (7, [], 1)
        with store.session() as session:
            figures = operation_report(session, None, now=T0 + 60 * H).to_dict()
            assert [(r["key"], r["leads"], r["acknowledged"], r["arrests"], r["children_safeguarded"])
                    for r in figures["agencies"]] == [("DE", 2, 2, 0, 0), ("DE-BY", 1, 1, 1, 3)]  # fmt: skip
            assert figures["total"]["median_hours_to_acknowledge"] == 2.0  # 2 h, 2 h (the hop), 30 h
            assert _lead(session, hop_uid).parent_id == _lead(session, ada_uid).id
            lifecycle.recall(session, _lead(session, ada_uid), actor="ca:chris", at=T0 + 70 * H)
            write_status_file(session, store.settings, agency=agency(session, "CA"), to=agency(session, "DE"),
                              out=tmp_path / "ca-status.json", actor="ca:chris")  # fmt: skip
        back = import_status(receiver, tmp_path / "ca-status.json", actor="de-clerk")
        assert back.applied == 2  # the lead and the hop CA knew of
        with receiver.session() as session:
            assert [_lead(session, u).status for u in (ada_uid, hop_uid, bert_uid)] == [
                "recalled",
                "recalled",
                "acknowledged",
            ]
