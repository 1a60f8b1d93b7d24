"""``mdm steward ...``: the steward actions of the UI, from the command line."""
from __future__ import annotations

import getpass
import json
from typing import Any

import click
from sqlalchemy import select

from ..errors import MdmError
from ..services import stewardship as svc
from ..store import models as m
from . import main
from ._options import open_store, with_config


def _default_actor() -> str:
    # The audit trail names who ran the command; the OS user is the best we know.
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "cli"


actor_option = click.option("--actor", default=_default_actor, show_default="cli:<user>",
                            help="Who does this (written to the audit trail).")
comment_option = click.option("--comment", default=None, help="Why (kept with the decision).")


def _record_id(s: Any, ref: str) -> int:
    """A source record by row id, or by ``SOURCE:SOURCE_ID``."""
    if ref.isdigit():
        return int(ref)
    source, sep, sid = ref.partition(":")
    rid = s.scalar(select(m.SourceRecord.id).join(m.SourceSystem)
                   .where(m.SourceSystem.name == source, m.SourceRecord.source_id == sid)) if sep else None
    if rid is None:
        raise MdmError(f"no source record {ref!r} (give a record id or SOURCE:SOURCE_ID)")
    return int(rid)


@main.group()
def steward() -> None:
    """Review decisions, merges, splits and overrides of golden records."""


@steward.command("tasks")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
@with_config
def tasks(config, limit: int) -> None:  # type: ignore[no-untyped-def]
    """List open review tasks, highest score first."""
    store = open_store(config)
    with store.session() as s:
        for t in s.scalars(select(m.ReviewTask).where(m.ReviewTask.status == "open")
                           .order_by(m.ReviewTask.score.desc(), m.ReviewTask.id).limit(limit)):
            score = "-" if t.score is None else f"{t.score:.3f}"
            click.echo(f"{t.id}\t{score}\t{t.reason}\trecords {t.left_record_id} / {t.right_record_id}")


@steward.command("decide")
@click.argument("task_id", type=int)
@click.argument("decision", type=click.Choice(sorted(svc.DECISIONS)))
@actor_option
@comment_option
@with_config
def decide(config, task_id: int, decision: str, actor: str, comment: str | None) -> None:  # type: ignore[no-untyped-def]
    """Decide a review task: same, different or skip (applied at the next reconcile)."""
    store = open_store(config)
    with store.session() as s:
        svc.decide_review_task(s, task_id, decision, actor, comment)
    click.echo(f"review task {task_id}: {decision}")


@steward.command("merge")
@click.argument("survivor_id")
@click.argument("other_id")
@actor_option
@comment_option
@with_config
def merge(config, survivor_id: str, other_id: str, actor: str, comment: str | None) -> None:  # type: ignore[no-untyped-def]
    """Merge OTHER_ID into SURVIVOR_ID now."""
    store = open_store(config)
    with store.session() as s:
        svc.merge_golden(s, survivor_id, other_id, actor, comment)
    click.echo(f"{other_id} merged into {survivor_id}")


@steward.command("split")
@click.argument("golden_id")
@click.argument("records", nargs=-1, required=True)
@actor_option
@comment_option
@with_config
def split(config, golden_id: str, records: tuple[str, ...], actor: str, comment: str | None) -> None:  # type: ignore[no-untyped-def]
    """Move RECORDS (ids or SOURCE:SOURCE_ID) of GOLDEN_ID to a new golden record."""
    store = open_store(config)
    with store.session() as s:
        new_id = svc.split_golden(s, golden_id, [_record_id(s, r) for r in records], actor, comment)
    click.echo(f"{len(records)} record(s) of {golden_id} moved to the new golden record {new_id}")


@steward.command("override")
@click.argument("golden_id")
@click.argument("attribute")
@click.argument("value")
@actor_option
@click.option("--reason", default=None)
@with_config
def override(config, golden_id: str, attribute: str, value: str, actor: str, reason: str | None) -> None:  # type: ignore[no-untyped-def]
    """Set ATTRIBUTE of GOLDEN_ID to VALUE (true/false for flags, a JSON object for the address)."""
    parsed: Any = value
    if attribute in ("turvakielto", "deceased") or value.lstrip().startswith("{"):
        # Flags are true/false and an address is a JSON object; everything else is text.
        try:
            parsed = json.loads(value)
        except ValueError:
            raise MdmError(f"{attribute}: {value!r} is not valid JSON") from None
    store = open_store(config)
    with store.session() as s:
        oid = svc.set_override(s, golden_id, attribute, parsed, actor, reason)
    click.echo(f"override {oid}: {attribute} of {golden_id} set")


@steward.command("remove-override")
@click.argument("override_id", type=int)
@actor_option
@with_config
def remove_override(config, override_id: int, actor: str) -> None:  # type: ignore[no-untyped-def]
    """End an attribute override."""
    store = open_store(config)
    with store.session() as s:
        gid = svc.remove_override(s, override_id, actor)
    click.echo(f"override {override_id} of {gid} removed")


@steward.command("resolve")
@click.argument("golden_id")
@with_config
def resolve(config, golden_id: str) -> None:  # type: ignore[no-untyped-def]
    """Print the golden id GOLDEN_ID ends at after merges."""
    store = open_store(config)
    with store.session() as s:
        final, redirected = svc.resolve_golden_id(s, golden_id)
    click.echo(final + ("" if not redirected else f"\t(redirected from {golden_id})"))
