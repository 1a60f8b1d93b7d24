"""Operations: reconciliation runs, audit, access log, users and API clients."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, JsonType, utcnow


class ReconciliationRun(Base):
    """One run of ``mdm reconcile`` / ``mdm pull`` / ``mdm train`` and its report."""

    __tablename__ = "reconciliation_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="reconcile")
    status: Mapped[str] = mapped_column(String(20), default="running")  # running|succeeded|failed
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[Optional[datetime]]
    report: Mapped[Optional[dict[str, Any]]] = mapped_column(JsonType)
    error: Mapped[Optional[str]] = mapped_column(Text)


class AuditEvent(Base):
    """A steward or admin action (decisions, merges, overrides, HETU reveals, user admin)."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    actor: Mapped[str] = mapped_column(String(100), index=True)
    action: Mapped[str] = mapped_column(String(40), index=True)
    target_type: Mapped[Optional[str]] = mapped_column(String(40))
    target_id: Mapped[Optional[str]] = mapped_column(String(100))
    details: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AccessLogEntry(Base):
    """Who looked up whom, through which client, for what purpose.

    The looked-up identifier is never stored in clear: ``identifier_digest`` is
    a keyed hash, enough to answer "was this person looked up" for an auditor
    who holds the key.
    """

    __tablename__ = "access_log"
    __table_args__ = (Index("ix_access_log_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    client_name: Mapped[Optional[str]] = mapped_column(String(100), index=True)
    username: Mapped[Optional[str]] = mapped_column(String(100))
    endpoint: Mapped[str] = mapped_column(String(100))
    purpose: Mapped[Optional[str]] = mapped_column(String(200))
    identifier_type: Mapped[Optional[str]] = mapped_column(String(30))
    identifier_digest: Mapped[Optional[str]] = mapped_column(String(64))
    golden_ids: Mapped[list[str]] = mapped_column(JsonType, default=list)
    status_code: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AppUser(Base):
    """A person using the steward UI: viewer, steward or admin."""

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(20))  # viewer | steward | admin
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[Optional[datetime]]


class ApiClient(Base):
    """A source system calling the REST API. Only a hash of its key is stored."""

    __tablename__ = "api_client"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # The first characters of the key, to find the row without scanning hashes.
    key_prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    source_system_id: Mapped[Optional[int]] = mapped_column(ForeignKey("source_system.id"))
    rate_limit_per_minute: Mapped[int] = mapped_column(default=6000)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[Optional[datetime]]
