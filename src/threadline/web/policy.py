"""The one authorisation policy: who may see and do what. Every page and every API route names a permission from
`PERMISSIONS` (through `deps.Need`), and the same functions filter every list, so a page and its API twin can
never disagree.

The rules, in the investigator's terms:
- A user sees the leads addressed to their agency and to the agencies below it (a national bureau supervises its
  regions); coordinators and analysts also see the leads of the operations their agency originated.
- Personal data on a lead (names, identifiers, records) is shown only to the agency the lead is addressed to, to an
  agency that forwarded it down (it held the lead before), and to the originator. An agency above that never held
  the lead sees its tier, status and clocks, not the person.
- The agency a lead is addressed to acts on it (investigators and supervisors); a supervisor assigns it to an agency
  below; the originating coordinator recalls it.
- Auditors read the audit trail; admins manage agencies, users and keys (and see no leads for that).
Objects a user may not see answer 404, as if they did not exist; role refusals answer 403.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.orm import Session

from threadline.model import (
    Agency,
    Lead,
    Operation,
    ReviewPair,
    Seizure,
    SourceFile,
    SourceRecord,
    Subject,
    SubjectMember,
    User,
)

LEAD_ROLES = frozenset({"coordinator", "analyst", "investigator", "supervisor"})
ORIGINATOR_ROLES = frozenset({"coordinator", "analyst"})
RECEIVER_ROLES = frozenset({"investigator", "supervisor"})


@dataclass(frozen=True)
class Principal:
    """The signed-in user as the policy sees them: agency, roles and the agencies below (the scope)."""

    user_id: int
    username: str
    display_name: str | None
    agency_id: int
    agency_code: str
    roles: frozenset[str]
    scope: frozenset[int]
    via: str = "session"  # session | token
    csrf_token: str | None = field(default=None, compare=False)
    session_id: int | None = field(default=None, compare=False)
    has_totp: bool = False

    @property
    def actor(self) -> str:
        """How the audit trail and lead events name this user."""
        return f"web:{self.username}"

    def has(self, roles: frozenset[str]) -> bool:
        return bool(self.roles & roles)


def agency_scope(session: Session, agency_id: int) -> frozenset[int]:
    """The agency and every agency below it, in one recursive query (UNION, so a cycle cannot loop)."""
    tree = select(Agency.id).where(Agency.id == agency_id).cte("scope_tree", recursive=True)
    tree = tree.union(select(Agency.id).join(tree, Agency.parent_id == tree.c.id))
    return frozenset(session.scalars(select(tree.c.id))) | {agency_id}


def principal_for(
    session: Session,
    user: User,
    *,
    via: str = "session",
    csrf_token: str | None = None,
    session_id: int | None = None,
    scope: frozenset[int] | None = None,
) -> Principal:
    """The policy's view of `user`; `scope` is the agency's subtree when the caller already has it (a cache)."""
    return Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        agency_id=user.agency_id,
        agency_code=user.agency.code,
        roles=frozenset(user.roles),
        scope=scope if scope is not None else agency_scope(session, user.agency_id),
        via=via,
        csrf_token=csrf_token,
        session_id=session_id,
        has_totp=bool(user.totp_secret),
    )


# ---------------------------------------------------------------------------------------------------- leads


def originator_of(session: Session, lead: Lead) -> int | None:
    if lead.originating_agency_id is not None:
        return lead.originating_agency_id
    if lead.operation_id is not None:
        return session.scalar(select(Operation.originating_agency_id).where(Operation.id == lead.operation_id))
    return None


def is_originator(session: Session, p: Principal, lead: Lead) -> bool:
    return p.has(ORIGINATOR_ROLES) and originator_of(session, lead) == p.agency_id


def can_view_lead(session: Session, p: Principal, lead: Lead) -> bool:
    if not p.has(LEAD_ROLES):
        return False
    return lead.agency_id in p.scope or is_originator(session, p, lead)


def held_by_ancestor(session: Session, lead: Lead, agency_id: int) -> bool:
    """Whether the lead came down through `agency_id` (a hop above it was addressed there)."""
    parent_id = lead.parent_id
    seen: set[int] = set()
    while parent_id is not None and parent_id not in seen:
        seen.add(parent_id)
        row = session.execute(select(Lead.agency_id, Lead.parent_id).where(Lead.id == parent_id)).first()
        if row is None:
            return False
        if row.agency_id == agency_id:
            return True
        parent_id = row.parent_id
    return False


def can_see_personal_data(session: Session, p: Principal, lead: Lead) -> bool:
    if not can_view_lead(session, p, lead):
        return False
    if lead.agency_id == p.agency_id:
        return True
    if p.has(LEAD_ROLES) and originator_of(session, lead) == p.agency_id:
        return True
    return held_by_ancestor(session, lead, p.agency_id)


def can_act_on_lead(session: Session, p: Principal, lead: Lead) -> bool:
    return p.has(RECEIVER_ROLES) and lead.agency_id == p.agency_id


def can_assign_lead(session: Session, p: Principal, lead: Lead) -> bool:
    return "supervisor" in p.roles and lead.agency_id == p.agency_id


def can_recall_lead(session: Session, p: Principal, lead: Lead) -> bool:
    return "coordinator" in p.roles and originator_of(session, lead) == p.agency_id


def can_close_lead(session: Session, p: Principal, lead: Lead) -> bool:
    return can_assign_lead(session, p, lead) or can_recall_lead(session, p, lead)


def received_leads_clause(p: Principal) -> ColumnElement[bool]:
    """Leads addressed to the user's agency or below."""
    if not p.has(LEAD_ROLES):
        return false()
    return Lead.agency_id.in_(sorted(p.scope))


def sent_leads_clause(p: Principal) -> ColumnElement[bool]:
    """Leads of the operations the user's agency originated (coordinators and analysts)."""
    if not p.has(ORIGINATOR_ROLES):
        return false()
    return Lead.originating_agency_id == p.agency_id


def visible_leads_clause(p: Principal) -> ColumnElement[bool]:
    return or_(received_leads_clause(p), sent_leads_clause(p))


def personal_search_clause(p: Principal) -> ColumnElement[bool]:
    """Leads whose person may be searched by name: addressed to the user's own agency, or originated by it."""
    if not p.has(LEAD_ROLES):
        return false()
    own = Lead.agency_id == p.agency_id
    if p.has(ORIGINATOR_ROLES):
        return or_(own, Lead.originating_agency_id == p.agency_id)
    return own


# ------------------------------------------------------------------------------------------------- subjects


def _subject_operation_agencies(session: Session, subject_id: int) -> set[int]:
    rows = session.scalars(
        select(Operation.originating_agency_id)
        .distinct()
        .join(Seizure, Seizure.operation_id == Operation.id)
        .join(SourceFile, SourceFile.seizure_id == Seizure.id)
        .join(SourceRecord, SourceRecord.source_file_id == SourceFile.id)
        .join(SubjectMember, SubjectMember.record_id == SourceRecord.id)
        .where(SubjectMember.subject_id == subject_id)
    )
    return {r for r in rows if r is not None}


def can_view_subject(session: Session, p: Principal, subject: Subject) -> bool:
    """Personal data of a person: the originator of an operation holding their records, or an agency that was
    addressed a lead about them."""
    if not p.has(LEAD_ROLES):
        return False
    held: ColumnElement[bool] = Lead.agency_id == p.agency_id
    if p.has(ORIGINATOR_ROLES):
        held = or_(held, Lead.originating_agency_id == p.agency_id)
    addressed = session.scalar(select(Lead.id).where(Lead.subject_id == subject.id, held).limit(1))
    if addressed is not None:
        return True
    return p.has(ORIGINATOR_ROLES) and p.agency_id in _subject_operation_agencies(session, subject.id)


# --------------------------------------------------------------------------------------- operations, review


def can_view_operation(session: Session, p: Principal, operation: Operation) -> bool:
    return p.has(ORIGINATOR_ROLES) and operation.originating_agency_id == p.agency_id


def operations_clause(p: Principal) -> ColumnElement[bool]:
    if not p.has(ORIGINATOR_ROLES):
        return false()
    return Operation.originating_agency_id == p.agency_id


def review_pairs_clause(p: Principal) -> ColumnElement[bool]:
    """Review pairs whose first record belongs to an operation the user's agency originated."""
    if not p.has(ORIGINATOR_ROLES):
        return false()
    own_records = (
        select(SourceRecord.id)
        .join(SourceFile, SourceFile.id == SourceRecord.source_file_id)
        .join(Seizure, Seizure.id == SourceFile.seizure_id)
        .join(Operation, Operation.id == Seizure.operation_id)
        .where(Operation.originating_agency_id == p.agency_id)
    )
    return ReviewPair.record_a_id.in_(own_records)


def can_review_pair(session: Session, p: Principal, pair: ReviewPair) -> bool:
    if not p.has(ORIGINATOR_ROLES):
        return False
    found = session.scalar(select(ReviewPair.id).where(ReviewPair.id == pair.id, review_pairs_clause(p)))
    return found is not None


def seizures_clause(p: Principal) -> ColumnElement[bool]:
    if not p.has(ORIGINATOR_ROLES):
        return false()
    return Seizure.operation_id.in_(select(Operation.id).where(Operation.originating_agency_id == p.agency_id))


# ------------------------------------------------------------------------------------------ the permissions


@dataclass(frozen=True)
class Permission:
    """A decision a route asks for: a role test, and for routes about one object, a test on that object.
    `kind` names the object ("lead", "subject"...) that `deps.Need` loads from the route's path parameter."""

    name: str
    description: str
    roles: frozenset[str] | None  # None: any signed-in user; empty: nobody needs to sign in (public)
    kind: str | None = None
    check: Callable[[Session, Principal, Any], bool] | None = None

    @property
    def public(self) -> bool:
        return self.roles is not None and not self.roles

    def allows_role(self, p: Principal) -> bool:
        return self.roles is None or self.public or p.has(self.roles)


ANY = None
_ALL_ROLES = frozenset({"admin", "coordinator", "analyst", "investigator", "supervisor", "auditor"})

PERMISSIONS: dict[str, Permission] = {
    p.name: p
    for p in (
        Permission("public", "no sign-in (sign-in page, static files, health)", frozenset()),
        Permission("signed_in", "any signed-in user (home, own account, sign-out)", ANY),
        Permission("directory.read", "the agency directory (names and codes; no personal data)", ANY),
        Permission("inbox.view", "lists of leads, filtered to what the user may see", LEAD_ROLES),
        Permission("lead.view", "one lead (personal data only where allowed)", LEAD_ROLES, "lead", can_view_lead),
        Permission(
            "lead.act", "acknowledge, investigate, record actions and outcomes", RECEIVER_ROLES, "lead", can_act_on_lead
        ),
        Permission("lead.assign", "assign to an agency below", frozenset({"supervisor"}), "lead", can_assign_lead),
        Permission("lead.recall", "recall a lead (originator)", frozenset({"coordinator"}), "lead", can_recall_lead),
        Permission("lead.close", "close a lead", frozenset({"supervisor", "coordinator"}), "lead", can_close_lead),
        Permission("lead.note", "add a note", LEAD_ROLES, "lead", can_see_personal_data),
        Permission("subject.view", "a person's records and links", LEAD_ROLES, "subject", can_view_subject),
        Permission("operation.list", "the operations the user's agency originated", ORIGINATOR_ROLES),
        Permission("operation.view", "an operation's dashboard", ORIGINATOR_ROLES, "operation", can_view_operation),
        Permission("review.view", "the review queue of the user's operations", ORIGINATOR_ROLES),
        Permission("review.decide", "judge a pair same / not same", ORIGINATOR_ROLES, "review_pair", can_review_pair),
        Permission("media.view", "hash sets and triage summaries", ORIGINATOR_ROLES),
        Permission("audit.view", "the audit trail and its verification", frozenset({"auditor"})),
        Permission("admin.manage", "agencies, users, keys and API tokens", frozenset({"admin"})),
    )
}


def role_allowed(permission: str, p: Principal) -> bool:
    return PERMISSIONS[permission].allows_role(p)


def allowed(session: Session, p: Principal, permission: str, obj: Any = None) -> bool:
    """The single decision function: may `p` do `permission` (on `obj`)?"""
    perm = PERMISSIONS[permission]
    if not perm.allows_role(p):
        return False
    if perm.check is not None:
        return obj is not None and perm.check(session, p, obj)
    return True


def lead_permissions(session: Session, p: Principal, lead: Lead) -> dict[str, bool]:
    """Which lead actions to offer on the page (the routes check again)."""
    return {
        name: allowed(session, p, name, lead)
        for name in ("lead.act", "lead.assign", "lead.recall", "lead.close", "lead.note")
    }
