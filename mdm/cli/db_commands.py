"""``mdm db ...`` and ``mdm status``."""
from __future__ import annotations

import click
from sqlalchemy import func, select

from ..store import models as m
from . import main
from ._options import open_store, with_config

STATUS_TABLES = [
    ("source systems", m.SourceSystem),
    ("source records", m.SourceRecord),
    ("record versions", m.SourceRecordVersion),
    ("identifiers", m.Identifier),
    ("source relations", m.SourceRelation),
    ("quarantined rows", m.QuarantinedRow),
    ("golden records", m.GoldenRecord),
    ("golden links", m.GoldenLink),
    ("golden relations", m.GoldenRelation),
    ("review tasks", m.ReviewTask),
    ("steward decisions", m.StewardDecision),
    ("attribute overrides", m.AttributeOverride),
    ("history rows", m.GoldenHistory),
    ("change events", m.ChangeEvent),
    ("runs", m.ReconciliationRun),
    ("audit events", m.AuditEvent),
    ("access log entries", m.AccessLogEntry),
    ("users", m.AppUser),
    ("API clients", m.ApiClient),
]


@main.group()
def db() -> None:
    """Database schema management."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@with_config
def db_upgrade(config, revision: str) -> None:  # type: ignore[no-untyped-def]
    """Create or upgrade the schema."""
    store = open_store(config, check=False)
    store.upgrade(revision)
    click.echo(f"database at revision {store.current_revision()} ({store.engine.url.render_as_string()})")


@db.command("downgrade")
@click.option("--revision", default="base", show_default=True)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_config
def db_downgrade(config, revision: str, yes: bool) -> None:  # type: ignore[no-untyped-def]
    """Downgrade the schema (base drops every table)."""
    if not yes:
        click.confirm(f"Downgrade {config.database_url} to {revision}?", abort=True)
    store = open_store(config, check=False)
    store.downgrade(revision)
    click.echo(f"database at revision {store.current_revision() or 'base'}")


@main.command()
@with_config
def status(config) -> None:  # type: ignore[no-untyped-def]
    """Counts per table and the last run."""
    store = open_store(config)
    with store.session() as s:
        click.echo(f"database: {store.engine.url.render_as_string()} (revision {store.current_revision()})")
        for label, model in STATUS_TABLES:
            count = s.scalar(select(func.count()).select_from(model))
            click.echo(f"  {label:<22} {count:>10}")
        by_status = s.execute(
            select(m.GoldenRecord.status, func.count()).group_by(m.GoldenRecord.status)
        ).all()
        if by_status:
            click.echo("  golden by status: " + ", ".join(f"{k} {v}" for k, v in sorted(by_status)))
        last = s.scalars(select(m.ReconciliationRun).order_by(m.ReconciliationRun.id.desc()).limit(1)).first()
        if last is None:
            click.echo("last run: none")
        else:
            click.echo(
                f"last run: #{last.id} {last.kind} {last.status}, started {last.started_at:%Y-%m-%d %H:%M:%S}"
                + (f", finished {last.finished_at:%Y-%m-%d %H:%M:%S}" if last.finished_at else "")
            )
