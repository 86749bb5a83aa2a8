"""One data model for every stage: SQLAlchemy 2 typed ORM, migrated with Alembic.

Each module holds one area of the schema. Later stages add theirs here (resolve: Subject, SubjectMember,
Judgement, Identifier; media: HashSet, KnownHash, MediaVerdict; locate/rank: JurisdictionClaim,
RiskAssessment; refer/track: Lead, LeadEvent, ReferralPackage), import them below and add a migration.
"""

from threadline.model.audit import AuditEvent, AuditHead
from threadline.model.base import Base, utcnow
from threadline.model.directory import AGENCY_KINDS, ROLES, Agency, User
from threadline.model.media import MediaItem
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
    "RECORD_TYPES",
    "ROLES",
    "Agency",
    "AuditEvent",
    "AuditHead",
    "Base",
    "Identifier",
    "MediaItem",
    "Operation",
    "QuarantinedRow",
    "Seizure",
    "SourceFile",
    "SourceRecord",
    "User",
    "utcnow",
]
