"""The seizure's own keys join records: an order's customer number, a payment's order number, a refund sheet
keyed by order number; a reference inside one table, or between different people, joins nothing."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from threadline.core.db import Store
from threadline.ingest.pipeline import ingest
from threadline.model import SourceRecord, SubjectMember
from threadline.resolve import ResolveSettings, resolve
from threadline.resolve.engine import work_connection
from threadline.resolve.prepare import PERSON_TYPES, read_records
from threadline.resolve.references import find_references, names_compatible, references_in

CUSTOMERS = """customer_id,first_name,last_name,email,referred_by
C1,Marta,Kowalczyk,marta.k@example.org,
C2,Jonas,Lindqvist,j.lindqvist@example.net,C1
C3,Aiko,Tanabe,aiko.t@example.com,C2
C4,Pieter,Hendriks,pieter@example.nl,C3
"""
# Orders carry no e-mail and no address: only the customer number says whose they are.
ORDERS = """order_id,customer_id,ship_name,amount
O1,C1,Marta Kowalczyk,10.00
O2,C1,M. Kowalczyk,12.50
O3,C2,Jonas Lindqvist,9.99
O4,C3,Aiko Tanabe,20.00
O5,C4,Pieter Hendriks,5.00
"""
# A partner pays for O3: a reference between two different people.
PAYMENTS = """payment_id,order_id,payer_name,amount
P1,O1,Marta Kowalczyk,10.00
P2,O3,Greta Lindqvist,9.99
P3,O4,Aiko Tanabe,20.00
"""


def _seizure(folder: Path) -> Path:
    folder.mkdir()
    (folder / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
    (folder / "orders.csv").write_text(ORDERS, encoding="utf-8")
    (folder / "payments.csv").write_text(PAYMENTS, encoding="utf-8")
    return folder


def _subject_of(store: Store) -> dict[str, int]:
    with store.session() as session:
        rows = session.execute(
            select(SourceRecord.record_key, SubjectMember.subject_id).join(
                SubjectMember, SubjectMember.record_id == SourceRecord.id
            )
        ).all()
    return {key: subject for key, subject in rows}


def test_orders_payments_join_their_customer_but_not_a_paying_partner(store: Store, tmp_path: Path) -> None:
    ingest(store, _seizure(tmp_path / "seizure"))
    with store.session() as session:
        found = find_references(session, PERSON_TYPES)
        tables = read_records(session)
    assert found.columns == {"orders.csv.customer_id -> customers.csv": 5, "payments.csv.order_id -> orders.csv": 3}
    assert found.name_conflicts == 1  # Greta pays Jonas's order
    con = work_connection()
    con.register("keys", tables.keys)
    con.register("key_values", tables.key_values)
    fast = references_in(con)  # the path resolve runs, held to the twin above
    assert (fast.columns, fast.name_conflicts) == (found.columns, found.name_conflicts)
    assert sorted(con.execute("SELECT * FROM reference_edges").fetchall()) == sorted(found.edges)
    con.close()
    report = resolve(store, ResolveSettings())
    assert report.references["edges"] == 7
    subject = _subject_of(store)
    assert subject["C1"] == subject["O1"] == subject["O2"] == subject["P1"]
    assert subject["C3"] == subject["O4"] == subject["P3"]
    assert subject["C2"] == subject["O3"] != subject["P2"]
    # referred_by points inside the customer table: it names somebody else and joins nothing.
    assert len({subject["C1"], subject["C2"], subject["C3"], subject["C4"]}) == 4


def test_a_column_that_rarely_hits_keys_is_not_a_reference(store: Store, tmp_path: Path) -> None:
    folder = _seizure(tmp_path / "seizure")
    (folder / "orders.csv").write_text(
        "order_id,voucher,ship_name\nO1,C1,Marta Kowalczyk\nO2,X9,Jonas Lindqvist\nO3,X8,Aiko Tanabe\n"
        "O4,X7,Pieter Hendriks\nO5,X6,Someone Else\n",
        encoding="utf-8",
    )
    ingest(store, folder)
    with store.session() as session:
        found = find_references(session, PERSON_TYPES)
    assert "orders.csv.voucher -> customers.csv" not in found.columns


def test_name_compatibility() -> None:
    assert names_compatible("kowalczyk marta", "kowalczyk marta")
    assert names_compatible("kowalczyk marta", "kowalcyzk marta")  # a typo
    assert names_compatible(None, "anything")
    assert not names_compatible("greta lindqvist", "jonas lindqvist")


@given(st.text(alphabet="abcdefghij ", max_size=20), st.text(alphabet="abcdefghij ", max_size=20))
def test_name_compatibility_is_symmetric_and_reflexive(a: str, b: str) -> None:
    assert names_compatible(a, a)
    assert names_compatible(a, b) == names_compatible(b, a)
