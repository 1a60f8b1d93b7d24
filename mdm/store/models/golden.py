"""Golden records, links to source records, lifted relations, history and overrides."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, BigId, JsonType, utcnow

if TYPE_CHECKING:  # pragma: no cover
    from .source import SourceRecord


class GoldenRecord(Base):
    """The mastered view of one real-world person or organisation.

    ``id`` is opaque and never reused. A merged golden record keeps its row with
    ``status = "merged"`` and ``redirect_to`` naming the survivor; an emptied
    one is ``retired``. ``attributes`` maps each attribute to its surviving
    value and provenance: ``{"value": ..., "source": ..., "source_record_id":
    ..., "rule": ...}``.
    """

    __tablename__ = "golden_record"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="person")
    status: Mapped[str] = mapped_column(String(20), default="active", index=True)
    redirect_to: Mapped[Optional[str]] = mapped_column(ForeignKey("golden_record.id"))
    attributes: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    # "type:value" of every identifier of its records when last reconciled: the
    # next run diffs against it to write identifier-added/removed history.
    identifier_set: Mapped[Optional[list[str]]] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_run_id: Mapped[Optional[int]] = mapped_column(ForeignKey("reconciliation_run.id"))

    links: Mapped[list[GoldenLink]] = relationship(back_populates="golden", lazy="raise")


class GoldenLink(Base):
    """Which golden record a source record belongs to (one link per record)."""

    __tablename__ = "golden_link"

    source_record_id: Mapped[int] = mapped_column(
        ForeignKey("source_record.id", ondelete="CASCADE"), primary_key=True
    )
    golden_id: Mapped[str] = mapped_column(ForeignKey("golden_record.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="auto")  # auto | steward | rule
    score: Mapped[Optional[float]]
    # Per-comparison match weights of the strongest edge that put the record here.
    explanation: Mapped[Optional[dict[str, Any]]] = mapped_column(JsonType)
    since: Mapped[datetime] = mapped_column(default=utcnow)
    run_id: Mapped[Optional[int]] = mapped_column(ForeignKey("reconciliation_run.id"))

    golden: Mapped[GoldenRecord] = relationship(back_populates="links", lazy="raise")
    source_record: Mapped[SourceRecord] = relationship(back_populates="link", lazy="raise")


class GoldenRelation(Base):
    """A source relation lifted to golden records (guardian-of, member-of, role-in)."""

    __tablename__ = "golden_relation"
    __table_args__ = (UniqueConstraint("type", "subject_golden_id", "object_golden_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    type: Mapped[str] = mapped_column(String(30))
    subject_golden_id: Mapped[str] = mapped_column(ForeignKey("golden_record.id"), index=True)
    object_golden_id: Mapped[str] = mapped_column(ForeignKey("golden_record.id"), index=True)
    label: Mapped[Optional[str]] = mapped_column(String(100))
    sources: Mapped[Optional[dict[str, Any]]] = mapped_column(JsonType)
    since: Mapped[datetime] = mapped_column(default=utcnow)


class GoldenHistory(Base):
    """One change of one golden record, with the run or steward action behind it."""

    __tablename__ = "golden_history"
    __table_args__ = (Index("ix_golden_history_golden_id_id", "golden_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    golden_id: Mapped[str] = mapped_column(ForeignKey("golden_record.id"))
    event_type: Mapped[str] = mapped_column(String(40))
    details: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    run_id: Mapped[Optional[int]] = mapped_column(ForeignKey("reconciliation_run.id"))
    actor: Mapped[Optional[str]] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChangeEvent(Base):
    """The outbox: every golden change, in order. ``cursor`` only grows."""

    __tablename__ = "change_event"

    cursor: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    golden_id: Mapped[str] = mapped_column(String(40), index=True)
    event_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    run_id: Mapped[Optional[int]] = mapped_column(ForeignKey("reconciliation_run.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AttributeOverride(Base):
    """A steward's value for one attribute; it wins until removed."""

    __tablename__ = "attribute_override"

    id: Mapped[int] = mapped_column(primary_key=True)
    golden_id: Mapped[str] = mapped_column(ForeignKey("golden_record.id"), index=True)
    attribute: Mapped[str] = mapped_column(String(60))
    value: Mapped[Any] = mapped_column(JsonType)
    reason: Mapped[Optional[str]] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[Optional[datetime]]
    removed_by: Mapped[Optional[str]] = mapped_column(String(100))
