"""The canonical store: SQLAlchemy 2.0 typed models.

Imported as ``mdm.store.models``; the tables are grouped by what they serve.
"""
from .base import Base, NAMING_CONVENTION, utcnow
from .golden import (
    AttributeOverride,
    ChangeEvent,
    GoldenHistory,
    GoldenLink,
    GoldenRecord,
    GoldenRelation,
)
from .matching import MatchEdge, MatchFeature, MatchingModel, MatchState
from .ops import AccessLogEntry, ApiClient, AppUser, AuditEvent, ReconciliationRun
from .source import (
    Identifier,
    QuarantinedRow,
    SourceRecord,
    SourceRecordVersion,
    SourceRelation,
    SourceSystem,
)
from .steward import ReviewTask, StewardDecision

__all__ = [
    "AccessLogEntry", "ApiClient", "AppUser", "AttributeOverride", "AuditEvent", "Base",
    "ChangeEvent", "GoldenHistory", "GoldenLink", "GoldenRecord", "GoldenRelation",
    "Identifier", "MatchEdge", "MatchFeature", "MatchState", "MatchingModel", "NAMING_CONVENTION", "QuarantinedRow", "ReconciliationRun", "ReviewTask",
    "SourceRecord", "SourceRecordVersion", "SourceRelation", "SourceSystem",
    "StewardDecision", "utcnow",
]
