"""The shop's mailbox (mail.mbox): order confirmations, payment reminders and customers' own messages.

Bodies are dull business text. Some mention a phone number or a second e-mail address, which links records that
share nothing else; display names vary the way people's mail clients vary them.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from email.header import Header
from email.utils import format_datetime, formataddr
from pathlib import Path

from threadline.synth.distributor import DOMAIN, ORDERS_ADDRESS, SHOP_NAME, STAFF, SUPPORT_ADDRESS
from threadline.synth.noise import Noise
from threadline.synth.orders import Order
from threadline.synth.people import Person
from threadline.synth.truth import RecordLog

_UTC_OFFSET = {
    "US": -5,
    "CA": -5,
    "MX": -6,
    "BR": -3,
    "AR": -3,
    "CL": -4,
    "CO": -5,
    "GB": 0,
    "IE": 0,
    "PT": 0,
    "IS": 0,
    "RU": 3,
    "TR": 2,
    "UA": 2,
    "GR": 2,
    "BG": 2,
    "RO": 2,
    "FI": 2,
    "IL": 2,
    "EE": 2,
    "LT": 2,
    "LV": 2,
    "CY": 2,
    "EG": 2,
    "SA": 3,
    "IR": 3,
    "AM": 4,
    "GE": 4,
    "AZ": 4,
    "IN": 5,
    "BD": 6,
    "TH": 7,
    "VN": 7,
    "ID": 7,
    "CN": 8,
    "TW": 8,
    "PH": 8,
    "AU": 10,
    "JP": 9,
    "KR": 9,
    "NZ": 12,
    "NG": 1,
    "KE": 3,
}
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_CUSTOMER_SUBJECTS = (
    "Question about my order",
    "Change of delivery address",
    "Payment sent",
    "Please send the files",
    "Invoice request",
    "Re: your order",
    "Tracking number?",
    "Update my account details",
)
_CUSTOMER_BODIES = (
    "Hello,\n\nI placed an order last week and have not received a shipping confirmation yet. Could you check?",
    "Hi,\n\nplease send the files to the address below when they are ready. Thank you.",
    "Good day,\n\nI have sent the payment by bank transfer this morning. Please confirm when it arrives.",
    "Hello,\n\nmy delivery address has changed. Please update it for future orders.",
    "Dear team,\n\ncould you send me an invoice for my last order? I need it for my records.",
    "Hi,\n\nthe parcel arrived but one item was missing. Can you check the packing list?",
)
_REMINDER_BODY = (
    "Dear customer,\n\nour records show that payment for order {order} ({amount} {currency}) has not yet been\n"
    "received. Please pay within 14 days using the details on your invoice.\n\nKind regards,\n{shop} accounts"
)
_CONFIRMATION_BODY = (
    "Dear {name},\n\nthank you for your order {order} placed on {date}.\n\nItems: {items}\nTotal: {amount} "
    "{currency}\n\nShipping to:\n{name}\n{street}\n{postcode} {city}\n\nWe will e-mail you when your parcel has "
    "been dispatched.\n\n{shop} customer service"
)


def _from_line(addr: str, when: dt.datetime) -> str:
    u = when.astimezone(dt.UTC)
    return f"From {addr} {_DAYS[u.weekday()]} {_MONTHS[u.month - 1]} {u.day:2d} {u:%H:%M:%S} {u.year}"


def _subject(text: str) -> str:
    return text if text.isascii() else Header(text, "utf-8").encode()


def _message(
    sender: str,
    from_hdr: str,
    to_hdr: str,
    subject: str,
    when: dt.datetime,
    msg_id: str,
    body: str,
    extra: list[tuple[str, str]] | None = None,
    date_hdr: str | None = None,
) -> str:
    headers = [
        ("From", from_hdr),
        ("To", to_hdr),
        *(extra or []),
        ("Subject", _subject(subject)),
        ("Date", date_hdr or format_datetime(when)),
        ("Message-ID", msg_id),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Transfer-Encoding", "8bit"),
    ]
    lines = [">" + ln if ln.startswith(("From ", ">From ")) else ln for ln in body.split("\n")]
    return "\n".join([_from_line(sender, when), *(f"{k}: {v}" for k, v in headers), "", *lines, "", ""])


def write_mail(
    path: Path,
    people: list[Person],
    orders: list[Order],
    seed: int,
    log: RecordLog,
    progress: Callable[[str, int, int], None] | None = None,
) -> None:
    """Plan every message, sort by date, then render and write them in order (the mbox is chronological)."""
    rng = random.Random(f"{seed}:mail")
    noise = Noise(rng)
    plan: list[tuple[dt.datetime, str, Person, Order | None]] = []
    seen: dict[str, int] = {}
    for o in orders:
        pid = o.person.person_id
        k = seen.get(pid, 0)
        if (k == 0 and rng.random() < 0.85) or (0 < k < 5 and rng.random() < 0.08):
            plan.append((o.placed + dt.timedelta(minutes=rng.randrange(1, 30)), "confirmation", o.person, o))
        if rng.random() < 0.01:
            plan.append((o.placed + dt.timedelta(days=rng.randrange(15, 30)), "reminder", o.person, o))
        seen[pid] = k + 1
    for p in people:
        if rng.random() < 0.12:
            for _ in range(rng.randrange(1, 4)):
                d = p.registered + dt.timedelta(days=rng.randrange(0, 1500))
                d = min(d, dt.date(2013, 12, 20))
                when = dt.datetime(d.year, d.month, d.day, rng.randrange(7, 23), rng.randrange(60), rng.randrange(60))
                plan.append((when, "customer", p, None))
    n_bad = 1 + len(plan) // 3000
    for _ in range(n_bad):
        p = rng.choice(people)
        when = dt.datetime(2012, rng.randrange(1, 13), rng.randrange(1, 29), 12, 0, 0)
        plan.append((when, "malformed", p, None))
    plan.sort(key=lambda m: (m[0], m[2].person_id, m[1]))

    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for i, (naive, kind, p, order) in enumerate(plan, start=1):
            tz = dt.timezone(dt.timedelta(hours=_UTC_OFFSET.get(p.country.alpha2, 1)))
            when = naive.replace(tzinfo=tz)
            msg_id = f"<{naive:%Y%m%d%H%M%S}.{rng.getrandbits(48):012x}@{DOMAIN}>"
            script = p.country.script
            latin = script != "Latin" and rng.random() < 0.5
            display = f"{noise.given(p.given, script, latin)} {noise.family(p.family, script, latin)}"
            addr = noise.email(p.email, p.alt_email, p.office_email)
            if kind == "confirmation" and order is not None:
                body = _CONFIRMATION_BODY.format(
                    name=display,
                    order=order.order_id,
                    date=f"{order.placed:%Y-%m-%d}",
                    items=order.items,
                    amount=order.amount,
                    currency=order.currency,
                    street=noise.street(p.address.street),
                    postcode=p.address.postcode,
                    city=p.address.city,
                    shop=SHOP_NAME,
                )
                text = _message(
                    ORDERS_ADDRESS,
                    formataddr((SHOP_NAME, ORDERS_ADDRESS)),
                    formataddr((display, addr), charset="utf-8"),
                    f"Your order {order.order_id} is confirmed",
                    when,
                    msg_id,
                    body,
                )
            elif kind == "reminder" and order is not None:
                body = _REMINDER_BODY.format(
                    order=order.order_id, amount=order.amount, currency=order.currency, shop=SHOP_NAME
                )
                text = _message(
                    ORDERS_ADDRESS,
                    formataddr((f"{SHOP_NAME} Accounts", ORDERS_ADDRESS)),
                    formataddr((display, addr), charset="utf-8"),
                    f"Payment reminder for order {order.order_id}",
                    when,
                    msg_id,
                    body,
                )
            else:
                body = rng.choice(_CUSTOMER_BODIES)
                if rng.random() < 0.5:
                    body += f"\n\nYou can reach me on {noise.phone(p.phone, 'international')}."
                if p.alt_email and rng.random() < 0.5:
                    body += f"\nPlease use my other address {p.alt_email} from now on."
                body += f"\n\nRegards,\n{display}"
                extra: list[tuple[str, str]] = []
                if rng.random() < 0.3:
                    extra.append(("Cc", formataddr(rng.choice(STAFF))))
                if p.alt_email and rng.random() < 0.3:
                    extra.append(("Reply-To", formataddr((display, p.alt_email), charset="utf-8")))
                date_hdr = None
                if kind == "malformed":
                    date_hdr = rng.choice(("Mon, 32 Foo 2012 25:61:00 +9900", "yesterday", "2012-02-30T12:00"))
                text = _message(
                    addr,
                    formataddr((display, addr), charset="utf-8"),
                    formataddr(("Customer Service", SUPPORT_ADDRESS)),
                    rng.choice(_CUSTOMER_SUBJECTS),
                    when,
                    msg_id,
                    body,
                    extra,
                    date_hdr,
                )
            fh.write(text)
            if kind == "malformed":
                log.add("mail.mbox", i, msg_id, "", "invalid_date")
            else:
                log.add("mail.mbox", i, msg_id, p.person_id)
            if progress is not None and i % 50000 == 0:
                progress("mail", i, len(plan))
