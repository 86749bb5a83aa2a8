"""One data model for every stage: SQLAlchemy 2 typed ORM, migrated with Alembic.

Each module holds one area of the schema (seizure, directory, audit, media, resolve, locate, rank, lead, run).
A new table goes in the module of its area, is imported below and gets a migration.
"""

from threadline.model.audit import AuditEvent, AuditHead
from threadline.model.base import Base, utcnow
from threadline.model.directory import AGENCY_KINDS, ROLES, Agency, User
from threadline.model.lead import (
    HANDLING_CODES,
    KEY_KINDS,
    LEAD_EVENT_KINDS,
    LEAD_STATUSES,
    LEAD_TRANSITIONS,
    OUTCOMES,
    TERMINAL_STATUSES,
    AgencyKey,
    Lead,
    LeadEvent,
    ReferralPackage,
    StatusExchange,
)
from threadline.model.locate import CLAIM_SOURCES, JurisdictionClaim, SubjectJurisdiction
from threadline.model.media import (
    MEDIA_KINDS,
    MEDIA_ORIGINS,
    VERDICTS,
    HashSet,
    KnownHash,
    MediaItem,
    MediaVerdict,
    QuarantinedHash,
)
from threadline.model.rank import TIER_LABELS, TIERS, RiskAssessment, RuleSet
from threadline.model.resolve import (
    JUDGEMENT_DECISIONS,
    Judgement,
    ResolveModel,
    ResolveRun,
    ReviewPair,
    Subject,
    SubjectLink,
    SubjectMember,
)
from threadline.model.run import StageRun
from threadline.model.seizure import (
    CANONICAL_FIELDS,
    IDENTIFIER_KINDS,
    RECORD_TYPES,
    Identifier,
    Operation,
    QuarantinedRow,
    Seizure,
    SourceFile,
    SourceRecord,
)
from threadline.model.web import ApiToken, LoginAttempt, WebSession

__all__ = [
    "AGENCY_KINDS",
    "CANONICAL_FIELDS",
    "CLAIM_SOURCES",
    "HANDLING_CODES",
    "IDENTIFIER_KINDS",
    "JUDGEMENT_DECISIONS",
    "KEY_KINDS",
    "LEAD_EVENT_KINDS",
    "LEAD_STATUSES",
    "LEAD_TRANSITIONS",
    "MEDIA_KINDS",
    "MEDIA_ORIGINS",
    "OUTCOMES",
    "RECORD_TYPES",
    "ROLES",
    "TERMINAL_STATUSES",
    "TIERS",
    "TIER_LABELS",
    "VERDICTS",
    "Agency",
    "AgencyKey",
    "ApiToken",
    "AuditEvent",
    "AuditHead",
    "Base",
    "HashSet",
    "Identifier",
    "Judgement",
    "JurisdictionClaim",
    "KnownHash",
    "Lead",
    "LeadEvent",
    "LoginAttempt",
    "MediaItem",
    "MediaVerdict",
    "Operation",
    "QuarantinedHash",
    "QuarantinedRow",
    "ReferralPackage",
    "ResolveModel",
    "ResolveRun",
    "ReviewPair",
    "RiskAssessment",
    "RuleSet",
    "Seizure",
    "SourceFile",
    "SourceRecord",
    "StageRun",
    "StatusExchange",
    "Subject",
    "SubjectJurisdiction",
    "SubjectLink",
    "SubjectMember",
    "User",
    "WebSession",
    "utcnow",
]
