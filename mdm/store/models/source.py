"""Source systems, their records (with versions), identifiers, relations, quarantine."""
from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Optional

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, BigId, JsonType, utcnow

if TYPE_CHECKING:  # pragma: no cover
    from .golden import GoldenLink


class SourceSystem(Base):
    """One configured source (``[[sources]]`` in the config), e.g. ``library``."""

    __tablename__ = "source_system"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    connector: Mapped[str] = mapped_column(String(50))
    # Why the city holds this data (shown to auditors; health data has its own controller).
    purpose: Mapped[Optional[str]] = mapped_column(String(300))
    # Incremental connectors resume from here (max updated-at seen).
    watermark: Mapped[Optional[str]] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_pulled_at: Mapped[Optional[datetime]]

    records: Mapped[list[SourceRecord]] = relationship(back_populates="source_system", lazy="raise")


class SourceRecord(Base):
    """The current version of one record of one source.

    Never removed: a record missing from a full export gets ``deleted_at``.
    Earlier versions live in :class:`SourceRecordVersion`.
    """

    __tablename__ = "source_record"
    __table_args__ = (
        UniqueConstraint("source_system_id", "source_id"),
        # What a pull reads of every stored record, answered from the index alone
        # (in SQLite these columns sit behind the JSON ones, in overflow pages).
        Index("ix_source_record_pull_state", "source_system_id", "source_id", "raw_hash", "deleted_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_system_id: Mapped[int] = mapped_column(ForeignKey("source_system.id"), index=True)
    source_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="person")
    standardised: Mapped[dict[str, Any]] = mapped_column(JsonType)
    raw: Mapped[dict[str, Any]] = mapped_column(JsonType)
    content_hash: Mapped[str] = mapped_column(String(64))
    # Hash of the raw payload: an unchanged row is recognised without standardising it again.
    raw_hash: Mapped[Optional[str]] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(default=1)
    source_updated_at: Mapped[Optional[datetime]]
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    # Not rewritten on every nightly pull of a full-export source: the source's
    # last_pulled_at says it for all its records; read it with pull.last_seen_of().
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    # The run that last changed the record: matching scores only what changed.
    changed_run_id: Mapped[Optional[int]] = mapped_column(ForeignKey("reconciliation_run.id"), index=True)
    deleted_at: Mapped[Optional[datetime]] = mapped_column(index=True)

    source_system: Mapped[SourceSystem] = relationship(back_populates="records", lazy="raise")
    identifiers: Mapped[list[Identifier]] = relationship(
        back_populates="source_record", lazy="raise", cascade="all, delete-orphan"
    )
    versions: Mapped[list[SourceRecordVersion]] = relationship(
        back_populates="source_record", lazy="raise", cascade="all, delete-orphan"
    )
    link: Mapped[Optional[GoldenLink]] = relationship(back_populates="source_record", lazy="raise")


class SourceRecordVersion(Base):
    """An earlier (superseded) version of a source record, kept for history."""

    __tablename__ = "source_record_version"
    __table_args__ = (UniqueConstraint("source_record_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id", ondelete="CASCADE"))
    version: Mapped[int]
    content_hash: Mapped[str] = mapped_column(String(64))
    standardised: Mapped[dict[str, Any]] = mapped_column(JsonType)
    raw: Mapped[dict[str, Any]] = mapped_column(JsonType)
    valid_from: Mapped[datetime]
    valid_to: Mapped[datetime] = mapped_column(default=utcnow)
    run_id: Mapped[Optional[int]] = mapped_column(ForeignKey("reconciliation_run.id"))

    source_record: Mapped[SourceRecord] = relationship(back_populates="versions", lazy="raise")


class Identifier(Base):
    """An identifier held by the current version of a source record.

    ``value`` is the normal form (rules/), ``raw_value`` what the source wrote.
    ``quality`` is valid / invalid / temporary; only valid, non-temporary
    values may be used as strong evidence.
    """

    __tablename__ = "identifier"
    __table_args__ = (Index("ix_identifier_type_value", "type", "value"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_record_id: Mapped[int] = mapped_column(
        ForeignKey("source_record.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(30))
    value: Mapped[Optional[str]] = mapped_column(String(320))
    raw_value: Mapped[Optional[str]] = mapped_column(String(320))
    quality: Mapped[str] = mapped_column(String(20), default="valid")
    error: Mapped[Optional[str]] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(20), default="active")
    valid_from: Mapped[Optional[date]]
    valid_to: Mapped[Optional[date]]

    source_record: Mapped[SourceRecord] = relationship(back_populates="identifiers", lazy="raise")


class SourceRelation(Base):
    """A relation stated by one source between two of its records.

    Endpoints are kept as source ids too, because the other record may arrive
    later (or never); the record ids are filled in when both are known.
    """

    __tablename__ = "source_relation"
    __table_args__ = (
        UniqueConstraint("source_system_id", "type", "subject_source_id", "object_source_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_system_id: Mapped[int] = mapped_column(ForeignKey("source_system.id"))
    type: Mapped[str] = mapped_column(String(30))  # guardian_of | member_of | role_in
    subject_source_id: Mapped[str] = mapped_column(String(200))
    object_source_id: Mapped[str] = mapped_column(String(200))
    subject_record_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("source_record.id", ondelete="SET NULL"), index=True
    )
    object_record_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("source_record.id", ondelete="SET NULL"), index=True
    )
    # The record whose row stated the relation; the relation goes when it changes.
    asserted_by_record_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("source_record.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[Optional[str]] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class QuarantinedRow(Base):
    """A row a connector or the pull could not accept, with the reason."""

    __tablename__ = "quarantined_row"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_system_id: Mapped[int] = mapped_column(ForeignKey("source_system.id"), index=True)
    run_id: Mapped[Optional[int]] = mapped_column(ForeignKey("reconciliation_run.id"), index=True)
    row_ref: Mapped[str] = mapped_column(String(300))
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[Optional[str]] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
