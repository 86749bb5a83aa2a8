"""The package's pages for people: `index.html` and one `leads/<lead uid>.html` per lead.

The Jinja2 templates in `templates/` are the readable specification of these pages; the functions here write the
same bytes in plain Python (`render_lead_page_jinja` / `render_index_jinja` render the templates). A package has
one page per lead and Jinja2 spent ~1 ms on each (an attribute lookup, an escape and a Markup object per value:
hundreds per page), most of the time of sealing at 100k leads; these take a small fraction of that. The tests hold
both renderings byte-equal over varied leads: a change to a page goes into the template and here, together.

Semantics kept from the templates (autoescape on, trim_blocks, lstrip_blocks): every value is HTML-escaped as
markupsafe does (& < > " '), None prints "None", a missing key prints nothing, `x or ""` prints nothing for a
false value."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

import jinja2


def when(value: str | None) -> str:
    """An ISO time as people read it: "2026-03-03 09:00 UTC" (the templates' `when` filter)."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;").replace("'", "&#39;").replace('"', "&#34;")
    )


try:  # markupsafe's own C escaping, without the Markup object around the result (the tests hold it to escape())
    from markupsafe._speedups import _escape_inner as esc  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - markupsafe without its C speedups
    esc = _escape


def _s(value: Any) -> str:
    """`{{ value }}`: str() of it, escaped."""
    return esc(value if value.__class__ is str else str(value))


def _k(mapping: Mapping[str, Any], key: str) -> str:
    """`{{ mapping.key }}`: a missing key prints nothing (Jinja's Undefined), None prints "None"."""
    value = mapping.get(key, "")
    return esc(value if value.__class__ is str else str(value))


def _or(mapping: Mapping[str, Any], key: str, default: str = "") -> str:
    """`{{ mapping.key or default }}` (default already escaped)."""
    value = mapping.get(key)
    if not value:
        return default
    return esc(value if value.__class__ is str else str(value))


def _fmt(spec: str, value: Any) -> str:
    """`{{ spec|format(value) }}`: printf-style, as Jinja's format filter does it."""
    return esc(spec % (value,))


def _joined(value: Any) -> str:
    """`{{ value|join("; ") if value is iterable and value is not string else value }}`."""
    if value.__class__ is str or isinstance(value, str):
        return esc(value)
    try:
        items = iter(value)
    except TypeError:
        return esc(str(value))
    return esc("; ".join(map(str, items)))


@cache
def style() -> str:
    """`{% include "_style.html" %}` as the templates render it (the file's final newline dropped)."""
    text = (resources.files("threadline.refer") / "templates" / "_style.html").read_text(encoding="utf-8")
    return text[:-1] if text.endswith("\n") else text


_NAME_FACTS = ("full_name", "given_name", "family_name", "date_of_birth")


class _Times:
    """`|when` for the few distinct times of a package (sent, and the clocks per tier), each worked out once."""

    def __init__(self) -> None:
        self.seen: dict[Any, str] = {}

    def __call__(self, value: Any) -> str:
        out = self.seen.get(value)
        if out is None:
            out = self.seen[value] = esc(when(value))
        return out


def _route(lead: Mapping[str, Any], recipient_code: str) -> str:
    route = lead.get("route")
    if not route:
        return ""
    hops = " → ".join(f"{_k(a, 'name')} ({_k(a, 'code')})" for a in route)
    return f"<p>Suggested next hop{'s' if len(route) > 1 else ''} below {recipient_code}: {hops}.</p>\n"


def _identifiers(identifiers: list[dict[str, Any]]) -> str:
    if not identifiers:
        return '<p class="muted">No identifiers.</p>'
    out = ["<table>\n<tr><th>Kind</th><th>Value</th><th>Found in (seized file, row)</th></tr>\n"]
    for ident in identifiers:
        sources = "<br>".join(
            f"{_k(s, 'file')}, row {_k(s, 'row')}"
            + (f' <span class="muted">({_s(s["seizure"])})</span>' if s.get("seizure") else "")
            for s in ident.get("sources", ())
        )
        out.append(
            f"<tr><td>{_k(ident, 'kind')}</td><td><code>{_k(ident, 'value')}</code></td><td>{sources}</td></tr>\n"
        )
    out.append("</table>\n")
    return "".join(out)


def _records(records: list[dict[str, Any]]) -> str:
    out = []
    for r in records:
        fields = "<br>".join(
            f'<span class="muted">{_s(k)}:</span> {_joined(v)}' for k, v in r.get("fields", {}).items()
        )
        out.append(
            f"<tr><td>{_k(r, 'record_type')} {_or(r, 'record_key')}</td><td>{_k(r, 'file')}<br>"
            f'<span class="muted">SHA-256 <code>{_k(r, "file_sha256")}</code></span></td><td>{_k(r, "row")}</td>\n'
            f"<td>{fields}</td></tr>\n"
        )
    return "".join(out)


def _jurisdiction(j: Mapping[str, Any]) -> str:
    out = ["<p>"]
    if j.get("country"):
        out.append(f"Placed in <strong>{_s(j['country'])}")
        if j.get("region"):
            out.append(f" ({_s(j['region'])})")
        out.append(f"</strong>, confidence {_fmt('%.2f', j.get('confidence') or 0)}")
        if j.get("decided_by"):
            out.append(f", decided by {_s(j['decided_by'])}")
        out.append(".")
    else:
        out.append(_k(j, "status"))
    if j.get("reason"):
        out.append(f" {_s(j['reason'])}")
    out.append("</p>\n")
    claims = j.get("claims")
    if claims:
        out.append(
            "<table>\n<tr><th>Evidence</th><th>Value</th><th>Points to</th><th>Weight</th><th>Read from</th></tr>\n"
        )
        for c in claims:
            out.append(
                f"<tr><td>{_k(c, 'source')}"
                + (' <span class="muted">(ambiguous)</span>' if c.get("ambiguous") else "")
                + f"</td><td>{_k(c, 'value')}</td><td>{_k(c, 'country')}"
                + (f" {_s(c['region'])}" if c.get("region") else "")
                + f"</td><td>{_k(c, 'weight')}</td><td>"
                + (f"{_s(c['file'])}, row {_k(c, 'row')}" if c.get("file") else "")
                + (f' <span class="muted">{_s(c["note"])}</span>' if c.get("note") else "")
                + "</td></tr>\n"
            )
        out.append("</table>\n")
    disagreements = j.get("disagreements")
    if disagreements:
        listed = ", ".join(_k(d, "country") if isinstance(d, Mapping) else _s(d) for d in disagreements)
        out.append(f'<p class="muted">Disagreeing evidence: {listed}</p>')
    return "".join(out)


def _risk(risk: Mapping[str, Any] | None) -> str:
    if not risk:
        return '<p class="muted">Not ranked.</p>'
    out = [f"<p>{_k(risk, 'tier_label')}, score {_fmt('%.1f', risk['score'])}."]
    if risk.get("summary"):
        out.append(f" {_s(risk['summary'])}")
    out.append("</p>\n<table>\n<tr><th>Factor</th><th>Points</th><th>Detail</th><th>Evidence</th></tr>\n")
    for f in risk.get("factors", ()):
        points, detail = f.get("points", ""), f.get("detail", "")
        evidence = "<br>".join(
            _or(e, "text")
            + (f' <span class="muted">({_s(e["file"])}, row {_k(e, "row")})</span>' if e.get("file") else "")
            for e in f.get("evidence", ())
        )
        out.append(
            f"<tr><td>{_k(f, 'label')}</td><td>{_s(points) if points is not None else ''}</td>"
            f"<td>{_s(detail) if detail is not None else ''}</td>\n<td>{evidence}</td></tr>\n"
        )
    out.append("</table>\n")
    return "".join(out)


def _media(media: Mapping[str, Any]) -> str:
    items = media.get("items", "")
    verdicts = media.get("verdicts")
    listed = (": " + ", ".join(f"{_s(n)} {_s(v)}" for v, n in verdicts.items())) if verdicts else ""
    return (
        f"<p>{_s(items)} media item{'s' if items != 1 else ''} attributed to this subject{listed}. No media, path or "
        "hash is included in this package; the originator holds the evidence.</p>\n"
    )


class LeadPages:
    """The pages of one package: what every lead page shares worked out once, then `page(lead)` per lead."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self.times = _Times()
        sender, recipient, operation = document["sender"], document["recipient"], document["operation"]
        self.recipient_code = _k(recipient, "code")
        self.handling_codes = document.get("handling_codes", {})
        self.head = '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Lead '
        self.top = (
            f"</title>\n{style()}</head>\n<body>\n"
            f'<p class="muted"><a href="../index.html">All leads in this package</a> · {_k(operation, "name")} · '
            f"from {_k(sender, 'name')} ({_k(sender, 'code')}) to {_k(recipient, 'name')} ({self.recipient_code})"
            "</p>\n"
        )
        self.foot = (
            f'<p class="muted">Package {_k(document, "package_uid")} · written {self.times(document.get("created_at"))}'
            f" · leads.json schema {_k(document, 'schema_version')}. Check the package with <code>threadline package "
            "verify</code> before relying on this page.</p>\n</body>\n</html>"
        )

    def page(self, lead: Mapping[str, Any]) -> str:
        subject = lead["subject"]
        times = self.times
        uid = _k(lead, "uid")
        name = _or(subject, "full_name", "(no name)")
        origin = lead.get("originating_agency", {})
        hop = (
            f" · hop {_k(lead, 'hop')}, forwarded from lead <code>{_k(lead, 'parent_uid')}</code>"
            if lead.get("hop")
            else ""
        )
        code = lead.get("handling_code", "")
        code_text = self.handling_codes.get(code, "") if isinstance(code, str) else ""
        note = f"<br>{_s(lead['handling_note'])}" if lead.get("handling_note") else ""
        attributes = "".join(
            f"<tr><th>{esc(key.replace('_', ' ').capitalize())}</th><td>{_joined(value)}</td></tr>\n"
            for key, value in subject.get("attributes", {}).items()
            if key not in _NAME_FACTS
        )
        history = "".join(
            f"<tr><td>{times(e.get('at'))}</td><td>{_k(e, 'kind')}</td><td>{_k(e, 'actor')}"
            + (f" ({_s(e['agency'])})" if e.get("agency") else "")
            + "</td></tr>"
            for e in lead.get("events", ())
        )
        return "".join(
            (
                self.head,
                uid,
                " — ",
                name,
                self.top,
                f'<h1>{name} <span class="tier {_k(lead, "tier")}">{_k(lead, "tier_label")}</span></h1>\n'
                f'<p class="muted">Lead <code>{uid}</code>{hop} · score {_fmt("%.1f", lead["score"])} · originated by '
                f"{_k(origin, 'name')} ({_k(origin, 'code')})</p>\n\n"
                f'<div class="handling"><strong>Handling code {_s(code)}:</strong> {_s(code_text)}{note}</div>\n\n'
                '<h2>Response clocks</h2>\n<table class="clocks">\n'
                f"<tr><td>Sent</td><td>{times(lead.get('sent_at'))}</td></tr>\n"
                f"<tr><td>Acknowledge by</td><td><strong>{times(lead.get('ack_due_at'))}</strong></td></tr>\n"
                "<tr><td>Record an action or outcome by</td><td><strong>"
                f"{times(lead.get('action_due_at'))}</strong></td></tr>\n</table>\n",
                _route(lead, self.recipient_code),
                '\n<h2>Subject</h2>\n<table class="facts">\n'
                f"<tr><th>Full name</th><td>{_or(subject, 'full_name')}</td></tr>\n"
                f"<tr><th>Given name</th><td>{_or(subject, 'given_name')}</td></tr>\n"
                f"<tr><th>Family name</th><td>{_or(subject, 'family_name')}</td></tr>\n"
                f"<tr><th>Date of birth</th><td>{_or(subject, 'date_of_birth')}</td></tr>\n",
                attributes,
                "</table>\n\n<h2>Identifiers and where they were found</h2>\n",
                _identifiers(subject.get("identifiers")),
                "\n<h2>Records</h2>\n<table>\n"
                "<tr><th>Record</th><th>Seized file</th><th>Row</th><th>Fields</th></tr>\n",
                _records(subject.get("records", ())),
                "</table>\n\n<h2>Jurisdiction</h2>\n",
                _jurisdiction(subject.get("jurisdiction", {})),
                "\n<h2>Why this tier</h2>\n",
                _risk(subject.get("risk")),
                "\n<h2>Media (counts only)</h2>\n",
                _media(subject.get("media", {})),
                "\n<h2>History</h2>\n<table>\n<tr><th>When</th><th>What</th><th>Who</th></tr>\n",
                history,
                "</table>\n",
                self.foot,
            )
        )

    def index(self) -> str:
        document, times = self.document, self.times
        leads = document["leads"]
        sender, recipient, operation = document["sender"], document["recipient"], document["operation"]
        rows = "".join(
            f'<tr><td><a href="leads/{_k(lead, "uid")}.html">{_or(lead["subject"], "full_name", "(no name)")}</a></td>'
            f'<td><span class="tier {_k(lead, "tier")}">{_k(lead, "tier_label")}</span></td>'
            f"<td>{_fmt('%.1f', lead['score'])}</td>\n<td>{_k(lead, 'country')}"
            + (f" {_s(lead['region'])}" if lead.get("region") else "")
            + f"</td><td>{_k(lead, 'handling_code')}</td><td>{times(lead.get('ack_due_at'))}</td>"
            f"<td>{times(lead.get('action_due_at'))}</td></tr>\n"
            for lead in leads
        )
        codes = "".join(f"<tr><th>{_s(c)}</th><td>{_s(t)}</td></tr>" for c, t in self.handling_codes.items())
        return (
            '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>Referral package {_k(document, 'package_uid')} — {_k(recipient, 'name')}</title>\n"
            f"{style()}</head>\n<body>\n"
            f"<h1>{len(leads)} lead{'s' if len(leads) != 1 else ''} for {_k(recipient, 'name')} "
            f"({self.recipient_code})</h1>\n"
            f'<p class="muted">{_k(operation, "name")} · from {_k(sender, "name")} ({_k(sender, "code")}) · package '
            f"<code>{_k(document, 'package_uid')}</code> · written {times(document.get('created_at'))}</p>\n<table>\n"
            "<tr><th>Subject</th><th>Tier</th><th>Score</th><th>Place</th><th>Handling</th><th>Acknowledge by</th>"
            f"<th>Act by</th></tr>\n{rows}</table>\n<h2>Handling codes</h2>\n<table>{codes}</table>\n</body>\n</html>"
        )


def render_lead_page(document: Mapping[str, Any], lead: Mapping[str, Any]) -> str:
    """One lead's page (for many leads of one document, make one `LeadPages` and call `page`)."""
    return LeadPages(document).page(lead)


def render_index(document: Mapping[str, Any]) -> str:
    return LeadPages(document).index()


# The reference: the templates rendered by Jinja2 (the tests hold the functions above to them).


@cache
def templates() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("threadline.refer", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = when
    return environment


def render_lead_page_jinja(document: Mapping[str, Any], lead: Mapping[str, Any]) -> str:
    return templates().get_template("lead.html").render(doc=document, lead=lead, subject=lead["subject"])


def render_index_jinja(document: Mapping[str, Any]) -> str:
    return templates().get_template("index.html").render(doc=document)


Renderer = Callable[[Mapping[str, Any], Mapping[str, Any]], str]
