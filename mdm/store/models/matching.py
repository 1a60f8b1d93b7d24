"""What matching keeps between runs: the trained model, scored pairs and per-record state."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, JsonType, utcnow


class MatchingModel(Base):
    """A trained model: dialect-free parameters and frozen term frequencies, as one JSON document."""

    __tablename__ = "matching_model"

    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Hash of the comparison structure: a model trained for other comparisons is not reused.
    settings_fingerprint: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict[str, Any]] = mapped_column(JsonType)
    active: Mapped[bool] = mapped_column(default=True)


class MatchEdge(Base):
    """A scored pair worth keeping (review band or better), or an identity-rule pair.

    Edges between two records whose matching features did not change are kept
    from run to run; that is what lets a nightly run score only what changed.
    """

    __tablename__ = "match_edge"
    __table_args__ = (
        CheckConstraint("left_record_id < right_record_id", name="ordered_pair"),
        Index("ix_match_edge_right_record_id", "right_record_id"),
    )

    left_record_id: Mapped[int] = mapped_column(
        ForeignKey("source_record.id", ondelete="CASCADE"), primary_key=True
    )
    right_record_id: Mapped[int] = mapped_column(
        ForeignKey("source_record.id", ondelete="CASCADE"), primary_key=True
    )
    match_weight: Mapped[float]
    match_probability: Mapped[float]
    # Per comparison: [label, weight] — the data of a waterfall chart.
    explanation: Mapped[dict[str, Any]] = mapped_column(JsonType)
    model_version: Mapped[int]
    run_id: Mapped[Optional[int]] = mapped_column(ForeignKey("reconciliation_run.id"))


class MatchState(Base):
    """The matching features of a record as last scored (a hash), and the model that scored it."""

    __tablename__ = "match_state"

    source_record_id: Mapped[int] = mapped_column(
        ForeignKey("source_record.id", ondelete="CASCADE"), primary_key=True
    )
    feature_hash: Mapped[str] = mapped_column(String(32))
    model_version: Mapped[int]


class MatchFeature(Base):
    """A record's matching features (holder counts included), as last scored.

    Match-on-entry finds its candidates here through the indexed blocking
    columns, the same blocking the batch uses, without rebuilding features.
    """

    __tablename__ = "match_feature"
    __table_args__ = (
        Index("ix_match_feature_names", "first_given", "surname"),
        Index("ix_match_feature_postcode_surname", "postcode", "surname"),
    )

    source_record_id: Mapped[int] = mapped_column(
        ForeignKey("source_record.id", ondelete="CASCADE"), primary_key=True
    )
    features: Mapped[dict[str, Any]] = mapped_column(JsonType)
    hetu_any: Mapped[Optional[str]] = mapped_column(String(20), index=True)
    birth_date: Mapped[Optional[str]] = mapped_column(String(10), index=True)
    first_given: Mapped[Optional[str]] = mapped_column(String(100))
    surname: Mapped[Optional[str]] = mapped_column(String(200))
    phone_block: Mapped[Optional[str]] = mapped_column(String(32), index=True)
    email_block: Mapped[Optional[str]] = mapped_column(String(320), index=True)
    other_id: Mapped[Optional[str]] = mapped_column(String(100), index=True)
    postcode: Mapped[Optional[str]] = mapped_column(String(20))
