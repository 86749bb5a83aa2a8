"""Resolve's parts without a database: matching forms, the shared-identifier guard against giant blocks, the
constrained clustering against a naive twin, the truth locators."""

from __future__ import annotations

import random
from collections import Counter
from itertools import combinations

from hypothesis import given, settings
from hypothesis import strategies as st

from threadline.resolve import spec
from threadline.resolve.clusters import cluster
from threadline.resolve.engine import duckdb_api, make_api, register, work_connection
from threadline.resolve.prepare import nicknames, prepare, prepare_tables, record_row, record_tables, to_arrow
from threadline.resolve.training import linker_for
from threadline.resolve.truth import ingest_locators, pairwise_score


def _fields(given: str, family: str, **extra: object) -> dict[str, object]:
    return {"given_name_key": given, "family_name_key": family, **extra}


def test_record_row_builds_matching_forms_and_counts_bad_values() -> None:
    skipped: Counter[str] = Counter()
    row = record_row(
        1,
        "customer",
        _fields(
            "bob",
            "smith",
            date_of_birth="1980-03-07",
            email_canonical=["bob@example.com", "not-an-email"],
            phone=["+441632960001", "12"],
            postal_code="sw1a 1aa",
            street="10 Downing Street",
        ),
        skipped,
    )
    assert row["given_canon"] == "robert" and row["name_sorted"] == "bob smith"
    assert row["dob_swapped"] == "1980-07-03" and row["dob_year"] == "1980"
    assert row["emails"] == ["bob@example.com"] and row["phones"] == ["+441632960001"]
    assert row["phone_tails"] == ["2960001"] and row["postal_code"] == "SW1A1AA"
    assert "downing" in row["street_tokens"]
    assert skipped == {"email": 1, "phone": 1}
    encoded = record_row(2, "contact", {"full_name": "=?utf-8?q?Ren=C3=A9_Dupont?="}, Counter())
    assert encoded["name_sorted"] == "dupont rene"


def test_nicknames_fold_to_one_given_name() -> None:
    table = nicknames()
    assert table["bill"] == table["william"] == "william"
    assert table["sasha"] == "alexander"


def test_a_first_name_alone_is_insufficient() -> None:
    prepared = prepare([(1, "contact", {"given_name_key": "anna"}), (2, "contact", _fields("anna", "berg"))])
    assert prepared.insufficient == [1]
    assert [r["unique_id"] for r in prepared.rows] == [2]


def test_a_shared_office_mailbox_does_not_explode_blocking() -> None:
    rng = random.Random(5)
    records = []
    for i in range(3000):
        fields = _fields(
            rng.choice(["anna", "ben", "carl", "dora", "emil", "fay"]) + str(i % 400),
            f"family{i % 700}",
            email_canonical=["info@office.example"],
        )
        records.append((i + 1, "contact", fields))
    prepared = prepare(records)
    assert prepared.shared_identifiers["emails"] == 1
    assert all(r["emails"] is None for r in prepared.rows)
    api = duckdb_api()
    frame = register(api, to_arrow(prepared.rows), "records")
    blocked = linker_for(frame, spec.settings()).inference.predict(warning_mode="never")
    pairs = api.duckdb_con.sql(f"SELECT count(*) FROM {blocked.physical_name}").fetchall()[0][0]
    assert pairs < 20000  # all pairs would be 4.5 million


def test_a_family_mailbox_is_not_shared() -> None:
    records = [
        (i, "customer", _fields(given, "berg", email_canonical=["berg@example.com"]))
        for i, given in enumerate(["anna", "anna", "ola", "ola", "per", "per"], start=1)
    ]
    assert prepare(records).shared_identifiers["emails"] == 0


def _naive_components(nodes: list[int], edges: list[tuple[int, int, float]], threshold: float) -> dict[int, int]:
    group = {n: {n} for n in nodes}
    for a, b, p in edges:
        if p >= threshold and group[a] is not group[b]:
            merged = group[a] | group[b]
            for n in merged:
                group[n] = merged
    return {n: min(g) for n, g in group.items()}


def test_clustering_matches_naive_components_and_obeys_not_same() -> None:
    rng = random.Random(3)
    nodes = list(range(1, 200))
    edges = [(a, b, rng.random()) for a, b in combinations(nodes, 2) if rng.random() < 0.01]
    assert cluster(nodes, edges, 0.8, set()) == _naive_components(nodes, edges, 0.8)
    chain = [(1, 2, 0.99), (2, 3, 0.95), (3, 4, 0.97)]
    split = cluster([1, 2, 3, 4], chain, 0.9, {(4, 1)})
    assert split[1] != split[4]
    assert split[1] == split[2] and split[3] == split[4]  # the weakest link gave way


def test_pairwise_score_counts_pairs() -> None:
    truth = {1: "p", 2: "p", 3: "p", 4: "q"}
    score = pairwise_score({1: 10, 2: 10, 3: 11, 4: 10}, truth)
    assert (score.true_pairs, score.predicted_pairs, score.correct_pairs) == (3, 3, 1)


def test_truth_locators_follow_each_format() -> None:
    assert ingest_locators("customers.csv", "1") == "2"
    assert ingest_locators("customers_apac.tsv", "7") == "8"
    assert ingest_locators("orders.xlsx", "Orders!2") == "Orders!2"
    assert ingest_locators("payments.jsonl", "3") == "3"
    assert ingest_locators("contacts.vcf", "4") == "card 4"
    assert ingest_locators("mail.mbox", "5") == "message 5"


def _fast_prepare(
    records: list[tuple[int, str, dict[str, object]]],
) -> tuple[object, list[dict[str, object]], dict[int, int]]:
    tables = record_tables((rid, kind, fields, 1, "seizure.csv", str(rid + 1), None) for rid, kind, fields in records)
    con = work_connection()
    prepared = prepare_tables(con, tables)
    rows = con.sql("SELECT * FROM records ORDER BY unique_id").to_arrow_table().to_pylist()
    duplicates = dict(con.execute("SELECT record_id, representative FROM duplicates").fetchall())
    con.close()
    return prepared, rows, duplicates


def _messy_records(rng: random.Random, count: int) -> list[tuple[int, str, dict[str, object]]]:
    """Few distinct values, so identical rows, shared mailboxes and households all occur."""
    givens = ["anna", "bob", "robert", "carl", "dora", " eve ", "=?utf-8?q?Ren=C3=A9?=", ""]
    families = ["berg", "smith", "nowak", "o'brien", "müller", ""]
    records = []
    for rid in range(1, count + 1):
        fields: dict[str, object] = {}
        if rng.random() < 0.9:
            fields["given_name_key"] = rng.choice(givens)
        if rng.random() < 0.85:
            fields["family_name_key"] = rng.choice(families)
        if rng.random() < 0.1:
            fields["full_name"] = rng.choice(["Anna Berg", "=?utf-8?b?QW5uYQ==?=", "Solo"])
        if rng.random() < 0.5:
            fields["date_of_birth"] = rng.choice(["1980-03-07", "1980-07-03", "1980-13-01", "07/03/1980", "1991-12-12"])
        if rng.random() < 0.6:
            fields["email_canonical"] = rng.sample(["info@office.example", "a@x.example", "bad", "b@y.example"], 2)
        if rng.random() < 0.4:
            fields["phone"] = rng.choice([["+441632960001"], ["+441632960001", "12"], "+33123456789", []])
        if rng.random() < 0.4:
            fields["postal_code"] = rng.choice(["sw1a 1aa", "75001", " "])
            fields["street"] = rng.choice(["10 Downing Street", "Rue de la Paix 3", None])
        if rng.random() < 0.1:
            fields["username"] = rng.choice(["Bobby", "anna_b"])
        if rng.random() < 0.05:
            fields["ip"] = ["10.0.0.1", "10.0.0.1"]
        records.append((rid, rng.choice(["customer", "order", "contact"]), fields))
    # An office mailbox: ten different people, each writing twice.
    for i in range(20):
        fields = _fields(f"clerk{i // 2}", "office", email_canonical=["desk@office.example"])
        records.append((count + 1 + i, "contact", fields))
    return records


def test_the_fast_preparation_equals_the_row_by_row_twin() -> None:
    records = _messy_records(random.Random(8), 3000)
    prepared, rows, duplicates = _fast_prepare(records)
    twin = prepare(records)
    assert prepared.insufficient == twin.insufficient
    assert prepared.shared_identifiers == twin.shared_identifiers and twin.shared_identifiers["emails"] >= 1
    assert rows == sorted(twin.rows, key=lambda r: r["unique_id"])
    assert duplicates == twin.duplicates and len(duplicates) > 100
    assert prepared.skipped_values == twin.skipped_values


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=60), st.integers(min_value=0, max_value=10_000))
def test_the_fast_preparation_equals_the_twin_on_small_sets(count: int, seed: int) -> None:
    records = _messy_records(random.Random(seed), count)
    prepared, rows, duplicates = _fast_prepare(records)
    twin = prepare(records)
    assert prepared.insufficient == twin.insufficient
    assert rows == sorted(twin.rows, key=lambda r: r["unique_id"])
    assert duplicates == twin.duplicates


def test_a_placeholder_email_and_a_very_common_name_block_nothing() -> None:
    # 1,500 walk-in customers given the same placeholder address (each under their own name, so it is not a
    # "shared" mailbox), and 1,200 different John Smiths: blocks of 1.1M and 0.7M pairs without the cap.
    records = [
        (i + 1, "customer", _fields(f"given{i}", f"family{i}", email_canonical=["none@placeholder.example"]))
        for i in range(1500)
    ]
    records += [
        (
            2000 + i,
            "customer",
            _fields("john", "smith", date_of_birth=f"19{50 + i % 50}-01-{1 + i % 28:02d}", postal_code=f"{10000 + i}"),
        )
        for i in range(1200)
    ]
    tables = record_tables((rid, kind, fields, 1, "customers.csv", str(rid), None) for rid, kind, fields in records)
    con = work_connection()
    prepared = prepare_tables(con, tables)
    assert prepared.capped_keys["block_email"] == 1 and prepared.capped_keys["block_name"] == 1
    frame = make_api("duckdb", con).register("records", table_name="records_in")
    blocked = linker_for(frame, spec.settings()).inference.compute_blocked_pairs_for_predict()
    pairs = con.execute(f"SELECT count(*) FROM {blocked.physical_name}").fetchall()[0][0]
    assert pairs < 20000
    fast = con.sql("SELECT * FROM records ORDER BY unique_id").to_arrow_table().to_pylist()
    assert fast == sorted(prepare(records).rows, key=lambda r: r["unique_id"])
    con.close()
