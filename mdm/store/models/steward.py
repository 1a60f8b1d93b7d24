"""Review tasks and steward decisions (must-link / cannot-link)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, JsonType, utcnow


class ReviewTask(Base):
    """A pair a steward has to decide on: review-band score or a rule conflict.

    Pairs are stored with ``left_record_id < right_record_id`` so one pair has
    one open task.
    """

    __tablename__ = "review_task"
    __table_args__ = (
        Index("ix_review_task_status_score", "status", "score"),
        Index("ix_review_task_pair", "left_record_id", "right_record_id"),
        CheckConstraint("left_record_id < right_record_id", name="ordered_pair"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    left_record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id", ondelete="CASCADE"))
    right_record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id", ondelete="CASCADE"))
    score: Mapped[Optional[float]]  # match probability
    match_weight: Mapped[Optional[float]]
    band: Mapped[str] = mapped_column(String(20), default="review")
    reason: Mapped[str] = mapped_column(String(40), default="review_band")
    explanation: Mapped[Optional[dict[str, Any]]] = mapped_column(JsonType)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open|decided|skipped|obsolete
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    run_id: Mapped[Optional[int]] = mapped_column(ForeignKey("reconciliation_run.id"))
    decided_at: Mapped[Optional[datetime]]
    decided_by: Mapped[Optional[str]] = mapped_column(String(100))
    decision: Mapped[Optional[str]] = mapped_column(String(20))  # same | different | skip
    comment: Mapped[Optional[str]] = mapped_column(Text)


class StewardDecision(Base):
    """A steward's ruling on two source records; it beats every automatic rule."""

    __tablename__ = "steward_decision"
    __table_args__ = (
        Index("ix_steward_decision_pair", "left_record_id", "right_record_id"),
        CheckConstraint("left_record_id < right_record_id", name="ordered_pair"),
        CheckConstraint("kind IN ('must_link', 'cannot_link')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    left_record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id", ondelete="CASCADE"))
    right_record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100))
    comment: Mapped[Optional[str]] = mapped_column(Text)
    review_task_id: Mapped[Optional[int]] = mapped_column(ForeignKey("review_task.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[Optional[datetime]]
    revoked_by: Mapped[Optional[str]] = mapped_column(String(100))
