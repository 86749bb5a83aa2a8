"""Orders and refunds, as the shop system exported them to Excel.

Order volumes are heavy-tailed across 2009-2013: most customers order once or twice, a few order every month.
The workbook is written by xlsx.FastWorkbook: openpyxl-built package, streamed rows, fixed timestamps.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from threadline.synth.countries import country_name
from threadline.synth.noise import Noise
from threadline.synth.people import FIRST_ORDER_DATE, REFERENCE_DATE, Person
from threadline.synth.truth import RecordLog
from threadline.synth.xlsx import FastWorkbook


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    person: Person
    customer_id: str
    placed: dt.datetime
    amount: float
    currency: str
    items: str


def build_orders(people: list[Person], seed: int) -> list[Order]:
    """Every person's orders, dated between their registration and the seizure, numbered by date."""
    rng = random.Random(f"{seed}:orders")
    drafts: list[tuple[dt.datetime, Person, str, float, str, str]] = []
    for p in people:
        if p.order_count == 0:
            continue
        start = max(p.registered, FIRST_ORDER_DATE)
        span = (REFERENCE_DATE - start).days
        dates = sorted(start + dt.timedelta(days=rng.randrange(span + 1)) for _ in range(p.order_count))
        p.first_order_year, p.last_order_year = dates[0].year, dates[-1].year
        currency = p.country.currency if rng.random() < 0.8 else rng.choice(("USD", "EUR"))
        for d in dates:
            placed = dt.datetime(d.year, d.month, d.day, rng.randrange(24), rng.randrange(60), rng.randrange(60))
            n_items = rng.choices((1, 2, 3, 4, 6), weights=(50, 25, 12, 8, 5))[0]
            items = "; ".join(f"SKU-{rng.randrange(100, 2400):04d} x{rng.choice((1, 1, 1, 2))}" for _ in range(n_items))
            amount = round(n_items * rng.uniform(9.5, 49.0), 2)
            drafts.append((placed, p, rng.choice(p.accounts), amount, currency, items))
    drafts.sort(key=lambda d: (d[0], d[1].person_id))
    return [
        Order(f"O{i + 1:08d}", p, acc, placed, amount, cur, items)
        for i, (placed, p, acc, amount, cur, items) in enumerate(drafts)
    ]


ORDER_HEADERS = (
    "order_id",
    "customer_id",
    "order_date",
    "amount",
    "currency",
    "items",
    "ship_name",
    "ship_street",
    "ship_city",
    "ship_postcode",
    "ship_country",
)
REFUND_HEADERS = ("refund_id", "order_id", "customer_name", "amount", "currency", "refunded_at", "reason")
_REASONS = ("damaged in transit", "not delivered", "duplicate charge", "wrong item shipped", "customer cancelled")


def write_orders(
    path: Path,
    orders: list[Order],
    seed: int,
    log: RecordLog,
    progress: Callable[[str, int, int], None] | None = None,
) -> None:
    """orders.xlsx: sheet Orders (one row per order) and sheet Refunds; both logged in truth."""
    rng = random.Random(f"{seed}:orders.xlsx")
    noise = Noise(rng)
    n_bad = 2 + len(orders) // 3000
    bad_at = set(rng.sample(range(len(orders) + n_bad), n_bad))
    it = iter(orders)
    refunds: list[Order] = []
    kinds = ("invalid_date", "column_count", "truncated")
    bad_no = 0
    with FastWorkbook(path, ["Orders", "Refunds"]) as wb:
        ws = wb.sheets["Orders"]
        ws.append(ORDER_HEADERS)
        for i in range(len(orders) + n_bad):
            if i in bad_at:
                kind = kinds[bad_no % len(kinds)]
                bad_no += 1
                rid = f"OX{i + 2:07d}"
                if kind == "invalid_date":
                    row_no = ws.append([rid, "", rng.choice(("2011-02-30", "31/04/2012", "n/a")), 0])
                elif kind == "column_count":
                    row_no = ws.append([rid, *[""] * 11, "#REF!", "#REF!"])
                else:
                    row_no = ws.append([rid, "C"])
                log.add("orders.xlsx", f"Orders!{row_no}", rid, "", kind)
                continue
            o = next(it)
            p = o.person
            script = p.country.script
            latin = script != "Latin" and rng.random() < 0.5
            ship_name = f"{noise.given(p.given, script, latin)} {noise.family(p.family, script, latin)}"
            row_no = ws.append(
                [
                    o.order_id,
                    o.customer_id,
                    o.placed,
                    o.amount,
                    o.currency,
                    o.items,
                    ship_name,
                    noise.street(p.address.street),
                    p.address.city,
                    p.address.postcode,
                    country_name(p.country.alpha2) if rng.random() < 0.7 else p.country.alpha2,
                ]
            )
            log.add("orders.xlsx", f"Orders!{row_no}", o.order_id, p.person_id)
            if rng.random() < 0.02:
                refunds.append(o)
            if progress is not None and i % 50000 == 0:
                progress("orders", i, len(orders))
        rs = wb.sheets["Refunds"]
        rs.append(REFUND_HEADERS)
        for j, o in enumerate(refunds):
            p = o.person
            rid = f"R{j + 1:06d}"
            when = o.placed + dt.timedelta(days=rng.randrange(2, 40))
            given = noise.given(p.given, p.country.script, True)
            name = f"{noise.family(p.family, p.country.script, True).upper()}, {given}"
            row_no = rs.append(
                [rid, o.order_id, name, o.amount, o.currency, when.strftime("%d/%m/%Y"), rng.choice(_REASONS)]
            )
            log.add("orders.xlsx", f"Refunds!{row_no}", rid, p.person_id)
