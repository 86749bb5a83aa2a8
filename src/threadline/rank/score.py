"""Factors for one subject from the facts `gather.py` read, by the rules; then the score and the tier.

Each factor keeps the evidence that triggered it (records with file and row, media items with path), so an
investigator can check every point."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from threadline.ingest.readers.mail import message_locator
from threadline.model import TIER_LABELS, TIERS
from threadline.rank.gather import KNOWN, UNCONFIRMED, Context, Media, Record
from threadline.rank.keywords import normalise
from threadline.rank.rules import AccessRules, Rules, _key, step_points, within_points

EVIDENCE_LIMIT = 25
_PRIORITY = {"allow-listed": 0, "known-exact": 1, "known-near": 1, "novel": 2, "low-quality": 3, "unhashable": 3}


@dataclass
class Factor:
    factor: str
    label: str
    points: float
    detail: str
    evidence: list[dict[str, Any]] = field(default_factory=list)
    floor: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "factor": self.factor,
            "label": self.label,
            "points": round(self.points, 2),
            "detail": self.detail,
            "evidence": self.evidence[:EVIDENCE_LIMIT],
            "evidence_total": len(self.evidence),
        }
        if self.floor:
            out["floor"] = self.floor
        return out


@dataclass
class Partial:
    """A subject's factors before recency, which needs the seizure's "now" (the latest activity of all)."""

    subject_id: int
    factors: list[Factor]
    last_activity: date | None
    last_evidence: dict[str, Any] | None


def _values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v not in (None, "")]
    text = str(value).strip()
    return [text] if text else []


def _date(value: Any) -> date | None:
    text = str(value or "")[:10]
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


_ORDER_REFERENCES = {"orderid", "order", "orderno", "ordernumber", "ordernr", "invoice", "invoiceid", "invoiceno"}


def _order_reference(record: Record) -> str | None:
    """The order a payment pays, when the payment file names it (an unmapped column such as order_id)."""
    extra = record.fields.get("extra")
    if isinstance(extra, dict):
        for key, value in extra.items():
            if _key(str(key)) in _ORDER_REFERENCES and value not in (None, ""):
                return str(value)
    return None


def _transaction(record: Record) -> str:
    f = record.fields
    return " ".join(str(x) for x in (record.record_type, f.get("date"), f.get("amount"), f.get("currency")) if x)


def _amount(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


class AccessMatcher:
    """Keyword hits per normalised text, cached: a seizure repeats the same occupations thousands of times."""

    def __init__(self, rules: AccessRules) -> None:
        self.rules = rules
        self._role: dict[str, list[tuple[int, list[str]]]] = {}
        self._employer: dict[str, list[tuple[int, list[str]]]] = {}
        self._unless: dict[str, set[int]] = {}

    def _hits(self, text: str, role: bool) -> list[tuple[int, list[str]]]:
        cache = self._role if role else self._employer
        if text not in cache:
            found = []
            for i, group in enumerate(self.rules.groups):
                words = (group.keywords.find(text) if role else []) + group.employers.find(text)
                if words:
                    found.append((i, list(dict.fromkeys(words))))
            cache[text] = found
        return cache[text]

    def _suppressed(self, text: str) -> set[int]:
        if text not in self._unless:
            self._unless[text] = {i for i, g in enumerate(self.rules.groups) if g.unless.find(text)}
        return self._unless[text]

    def texts(self, record: Record) -> list[tuple[str, str, bool]]:
        """(field, value, is a role field) for every field of the record that the rules look at."""
        out = [(f, v, True) for f in self.rules.role_fields for v in _values(record.fields.get(f))]
        extra = record.fields.get("extra")
        if isinstance(extra, dict) and self.rules.extra_fields:
            for key, value in extra.items():
                if _key(str(key)) in self.rules.extra_fields:
                    out.extend((f"extra.{key}", v, True) for v in _values(value))
        out.extend((f, v, False) for f in self.rules.employer_fields for v in _values(record.fields.get(f)))
        return out

    def record_hits(self, record: Record) -> list[tuple[str, str, int, list[str]]]:
        texts = [(f, v, role, normalise(v)) for f, v, role in self.texts(record)]
        suppressed: set[int] = set()
        for _, _, _, n in texts:
            suppressed |= self._suppressed(n)
        return [(f, v, i, words) for f, v, role, n in texts for i, words in self._hits(n, role) if i not in suppressed]


@dataclass
class Scorer:
    rules: Rules
    ctx: Context
    matcher: AccessMatcher = field(init=False)
    unconverted: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.matcher = AccessMatcher(self.rules.access)

    def _ev(self, record: Record, text: str) -> dict[str, Any]:
        return record.evidence(self.ctx.files, text)

    # -- factors ---------------------------------------------------------------------------------------------

    def access(self, records: list[Record]) -> Factor | None:
        rules = self.rules.access
        evidence, groups = [], []
        for record in records:
            for field_name, value, i, words in self.matcher.record_hits(record):
                group = rules.groups[i]
                groups.append(group.label)
                evidence.append(self._ev(record, f"{field_name} {value!r}: {group.label} ({', '.join(words[:3])})"))
        if not evidence or (rules.points <= 0 and rules.floor is None):
            return None
        named = ", ".join(dict.fromkeys(groups))
        return Factor("access_to_children", rules.label, rules.points, named, evidence, rules.floor)

    def _attachments(
        self, records: list[Record], messages: dict[tuple[int, str], Record]
    ) -> tuple[list[tuple[Media | None, dict[str, Any], Record]], list[Record]]:
        """Attachments the subject sent (media type per the rules) with the seized media they match, and every
        message the subject took part in."""
        types = self.rules.production.attachment_types
        sent: list[tuple[Media | None, dict[str, Any], Record]] = []
        taken: dict[int, Record] = {}
        for r in records:
            if r.record_type != "contact" or not r.fields.get("message_id"):
                continue
            locator = message_locator(r.locator)
            message = messages.get((r.file_id, locator)) if locator else None
            if message is None or message.fields.get("message_id") != r.fields.get("message_id"):
                continue
            taken[message.id] = message
            if r.fields.get("role") != "sender":
                continue
            for attachment in message.fields.get("attachments") or []:
                kind = str(attachment.get("content_type") or "").casefold()
                if not any(kind == t or (t.endswith("/*") and kind.startswith(t[:-1])) for t in types):
                    continue
                media = self.ctx.media_by_sha256(str(attachment.get("sha256") or ""))
                sent.append((media, attachment, message))
        return sent, list(taken.values())

    def media_and_sent(
        self, subject: int, records: list[Record], messages: dict[tuple[int, str], Record]
    ) -> tuple[list[Factor], list[Record], set[str]]:
        rules = self.rules.production
        best: dict[str, Media] = {}
        for m in self.ctx.media.get(subject, []):
            seen = best.get(m.content)
            if seen is None or _PRIORITY.get(m.verdict or "", 4) < _PRIORITY.get(seen.verdict or "", 4):
                best[m.content] = m
        sent, message_records = self._attachments(records, messages)
        novel, unconfirmed, known, sent_other = [], [], [], []
        for m in best.values():
            if m.verdict == "novel":
                novel.append(m.evidence(f"novel (in no known set); theirs by {m.linked_by}"))
            elif m.verdict in KNOWN:
                known.append(
                    (
                        m,
                        m.evidence(
                            f"{m.verdict} in {m.hashset}, category {m.category or '-'}; theirs by {m.linked_by}"
                        ),
                    )
                )
            elif m.verdict in UNCONFIRMED or m.verdict is None:
                why = "not triaged yet (run `threadline triage`)" if m.verdict is None else m.verdict
                unconfirmed.append(m.evidence(f"{why}; theirs by {m.linked_by}"))
        seen_content = set(best)
        for media, attachment, message in sent:
            name = attachment.get("filename") or attachment.get("sha256", "")[:12]
            if media is not None and media.content in seen_content:
                continue
            if media is not None:
                seen_content.add(media.content)
            ev = self._ev(message, f"sent attachment {name!r} ({attachment.get('content_type')})")
            verdict = media.verdict if media is not None else None
            if verdict == "novel":
                novel.append({**ev, "media_item_id": media.id if media else None, "text": ev["text"] + ": novel"})
            elif verdict in KNOWN and media is not None:
                known.append((media, {**ev, "media_item_id": media.id, "text": ev["text"] + f": {verdict}"}))
            elif verdict != "allow-listed":
                sent_other.append(ev)
        factors = []
        points = min(
            rules.max,
            rules.novel.score(len(novel))
            + rules.unconfirmed.score(len(unconfirmed))
            + rules.sent_media.score(len(sent_other)),
        )
        if novel or unconfirmed or sent_other:
            parts = [
                f"{n} {what}"
                for n, what in (
                    (len(novel), "novel media"),
                    (len(unconfirmed), "media triage could not call known or novel"),
                    (len(sent_other), "attachments sent, not in any known set"),
                )
                if n
            ]
            factors.append(
                Factor(
                    "production", rules.label, points, "; ".join(parts), novel + unconfirmed + sent_other, rules.floor
                )
            )
        severity = self.severity(known)
        if severity is not None:
            factors.append(severity)
        return factors, message_records, {m.series for m, _ in known if m.series}

    def severity(self, known: list[tuple[Media, dict[str, Any]]]) -> Factor | None:
        rules = self.rules.severity
        if not known:
            return None
        category_points, worst = max(
            ((rules.categories.get((m.category or "").strip().casefold(), 0.0), m.category) for m, _ in known),
            key=lambda pair: pair[0],
        )
        points = min(rules.max, category_points + step_points(rules.known_items, len(known)))
        detail = f"{len(known)} known item(s); most severe category {worst or 'none given'}"
        return Factor("severity", rules.label, points, detail, [ev for _, ev in known], rules.floor)

    def volume(
        self, records: list[Record], messages: list[Record], series: int
    ) -> tuple[Factor | None, date | None, dict[str, Any] | None]:
        rules = self.rules.volume
        orders = [r for r in records if r.record_type == "order"]
        order_ids = {str(r.fields.get("record_id")) for r in orders if r.fields.get("record_id")}
        payments = [r for r in records if r.record_type == "payment" and _order_reference(r) not in order_ids]
        transactions = orders + payments
        spend = 0.0
        for r in transactions:
            amount = _amount(r.fields.get("amount"))
            if amount is None:
                continue
            currency = str(r.fields.get("currency") or "").upper() or rules.currency
            rate = rules.exchange_rates.get(currency)
            if rate is None:
                self.unconverted[currency] = self.unconverted.get(currency, 0) + 1
                continue
            spend += amount * rate
        dated = [(d, r) for r in transactions + messages if (d := _date(r.fields.get("date"))) is not None]
        first = min(dated, key=lambda x: (x[0], x[1].id)) if dated else None
        last = max(dated, key=lambda x: (x[0], x[1].id)) if dated else None
        years = (last[0] - first[0]).days / 365.25 if first and last else 0.0
        points = min(
            rules.max,
            step_points(rules.orders, len(transactions))
            + step_points(rules.spend, spend)
            + step_points(rules.years_active, years)
            + step_points(rules.series, series),
        )
        last_ev = self._ev(last[1], f"last activity {last[0].isoformat()}") if last else None
        if points <= 0:
            return None, last[0] if last else None, last_ev
        detail = (
            f"{len(transactions)} order(s) and unmatched payment(s), {spend:,.2f} {rules.currency}, "
            f"active {years:.1f} year(s), {series} known series"
        )
        evidence = [self._ev(r, _transaction(r)) for r in transactions]
        return Factor("volume", rules.label, points, detail, evidence, rules.floor), last[0] if last else None, last_ev

    def earlier(self, subject: int, records: list[Record]) -> Factor | None:
        rules = self.rules.earlier
        ctx = self.ctx
        seen: dict[int, list[tuple[Record, str]]] = {}
        for r in records:
            info = ctx.files.get(r.file_id)
            if info is not None:
                seen.setdefault(info.operation_id, []).append((r, "record of theirs"))
        for s in ctx.sightings.get(subject, []):
            if s.record.id not in {r.id for r, _ in seen.get(s.operation_id, [])}:
                seen.setdefault(s.operation_id, []).append((s.record, s.how))
        if len(seen) < 2:
            return None
        current = ctx.operation_id
        if current is None or current not in seen:
            own = {ctx.files[r.file_id].operation_id for r in records if r.file_id in ctx.files}
            current = max(own or seen, key=lambda o: (ctx.operations[o][1], o))
        others = sorted((o for o in seen if o != current), key=lambda o: ctx.operations[o][1])
        points = min(rules.max, rules.points * len(others))
        if points <= 0 and rules.floor is None:
            return None
        names = ", ".join(f"{ctx.operations[o][0]!r} ({ctx.operations[o][1]:%Y-%m-%d})" for o in others)
        evidence = [self._ev(r, f"operation {ctx.operations[o][0]!r}: {how}") for o in others for r, how in seen[o]]
        return Factor(
            "earlier_operations",
            rules.label,
            points,
            f"seen in {len(others)} other operation(s): {names}",
            evidence,
            rules.floor,
        )

    # -- one subject -----------------------------------------------------------------------------------------

    def partial(self, subject: int, records: list[Record], messages: dict[tuple[int, str], Record]) -> Partial:
        factors: list[Factor] = []
        access = self.access(records)
        if access is not None:
            factors.append(access)
        media_factors, message_records, series = self.media_and_sent(subject, records, messages)
        factors.extend(media_factors)
        volume, last, last_ev = self.volume(records, message_records, len(series))
        if volume is not None:
            factors.append(volume)
        earlier = self.earlier(subject, records)
        if earlier is not None:
            factors.append(earlier)
        return Partial(subject, factors, last, last_ev)


def finish(rules: Rules, partial: Partial, as_of: date | None) -> tuple[str, float, list[Factor], str, bool]:
    """Recency, the score, the tier (lifted by factor floors) and a one-line summary. Returns
    (tier, score, factors, summary, lifted by a floor)."""
    factors = list(partial.factors)
    if as_of is not None and partial.last_activity is not None:
        days = (as_of - partial.last_activity).days
        points = within_points(rules.recency.within_days, max(days, 0))
        if points > 0 or (rules.recency.floor and days <= rules.recency.within_days[-1].threshold):
            evidence = [partial.last_evidence] if partial.last_evidence else []
            detail = f"last activity {partial.last_activity.isoformat()}, {days} day(s) before {as_of.isoformat()}"
            factors.append(Factor("recency", rules.recency.label, points, detail, evidence, rules.recency.floor))
    order = {
        "access_to_children": 0,
        "production": 1,
        "severity": 2,
        "volume": 3,
        "recency": 4,
        "earlier_operations": 5,
    }
    factors.sort(key=lambda f: order.get(f.factor, 9))
    score = round(sum(f.points for f in factors), 2)
    by_score = rules.tier_for(score)
    tier = by_score
    for f in factors:
        if f.floor is not None and TIERS.index(f.floor) < TIERS.index(tier):
            tier = f.floor
    lifted = tier != by_score
    parts = [f"{f.label} +{f.points:g}" for f in factors if f.points]
    summary = f"{TIER_LABELS[tier]} (score {score:g})"
    if parts:
        summary += ": " + "; ".join(parts)
    if lifted:
        lifters = [f.label for f in factors if f.floor is not None and TIERS.index(f.floor) <= TIERS.index(tier)]
        summary += f". At least {TIER_LABELS[tier]} because of {', '.join(lifters)}"
    return tier, score, factors, summary, lifted
