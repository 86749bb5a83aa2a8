"""One data model for every stage: SQLAlchemy 2 typed ORM, migrated with Alembic.

Each module holds one area of the schema (seizure, directory, audit, media, resolve). Later stages add theirs
here (locate/rank: JurisdictionClaim, RiskAssessment; refer/track: Lead, LeadEvent, ReferralPackage), import them
below and add a migration.
"""

from threadline.model.audit import AuditEvent, AuditHead
from threadline.model.base import Base, utcnow
from threadline.model.directory import AGENCY_KINDS, ROLES, Agency, User
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

__all__ = [
    "AGENCY_KINDS",
    "CANONICAL_FIELDS",
    "IDENTIFIER_KINDS",
    "JUDGEMENT_DECISIONS",
    "MEDIA_KINDS",
    "MEDIA_ORIGINS",
    "RECORD_TYPES",
    "ROLES",
    "VERDICTS",
    "Agency",
    "AuditEvent",
    "AuditHead",
    "Base",
    "HashSet",
    "Identifier",
    "Judgement",
    "KnownHash",
    "MediaItem",
    "MediaVerdict",
    "Operation",
    "QuarantinedHash",
    "QuarantinedRow",
    "ResolveModel",
    "ResolveRun",
    "ReviewPair",
    "Seizure",
    "SourceFile",
    "SourceRecord",
    "Subject",
    "SubjectLink",
    "SubjectMember",
    "User",
    "utcnow",
]
